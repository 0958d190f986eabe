//! An in-memory network in virtual time, with a scripted server, for
//! testing both adapter run loops without sockets or wall-clock time.
//!
//! `Net` holds the virtual clock, the server's mode over time, the frames in
//! flight and a transcript. The blocking side (`BlockingNet`, `NetTimer`)
//! advances time inside `recv` and `sleep_until`; the async side (`AsyncNet`,
//! `NetSleep`) runs under `block_on`, a tiny executor that advances time to
//! the next pending deadline whenever every future is pending.

#![allow(dead_code)]

use std::collections::VecDeque;
use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use keepalive::Instant;
use keepalive::adapter::{ConnectError, Handle, Message, Recv, asynchronous, blocking};

/// What the server does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Accepts, answers pings and text heartbeats, echoes messages.
    Up,
    /// Killed: refuses connects; open sockets are reset.
    Down,
    /// A silent proxy: open sockets stay open but nothing comes back;
    /// connects hang until the client's connect timeout.
    Silent,
    /// Refuses for good (HTTP 401).
    Reject,
    /// Overloaded: open sockets are closed with 1013 (Try Again Later) and
    /// connects refused with HTTP 503, both advising this many ms.
    Busy(u64),
}

/// Something scheduled at a virtual time.
pub enum Hook {
    Mode(Mode),
    Send(Handle, &'static str),
    Close(Handle),
    Reconnect(Handle),
}

pub struct Net {
    pub now: Instant,
    pub mode: Mode,
    pub rtt: Duration,
    /// A connect in `Silent` mode fails after this long.
    pub connect_timeout: Duration,
    /// Text heartbeat the server answers with the same text.
    pub heartbeat_text: Option<&'static str>,
    hooks: Vec<(Instant, Hook)>,
    /// Frames to the client: (due, socket, what).
    inbox: VecDeque<(Instant, u32, Recv<String>)>,
    next_socket: u32,
    pub open_sockets: usize,
    pub max_open_sockets: usize,
    /// Application messages the server received, in order.
    pub received: Vec<String>,
    pub connects: usize,
    pub log: Vec<String>,
    /// Deadlines pending futures wait for (async executor).
    timers: Vec<Instant>,
}

pub type Shared = Arc<Mutex<Net>>;

impl Net {
    pub fn new(rtt: Duration, connect_timeout: Duration) -> Shared {
        Arc::new(Mutex::new(Net {
            now: Instant::ZERO,
            mode: Mode::Up,
            rtt,
            connect_timeout,
            heartbeat_text: None,
            hooks: Vec::new(),
            inbox: VecDeque::new(),
            next_socket: 0,
            open_sockets: 0,
            max_open_sockets: 0,
            received: Vec::new(),
            connects: 0,
            log: Vec::new(),
            timers: Vec::new(),
        }))
    }

    pub fn at(&mut self, t: Duration, hook: Hook) {
        self.hooks.push((Instant::ZERO + t, hook));
        self.hooks.sort_by_key(|(at, _)| *at);
    }

    pub fn note(&mut self, what: impl std::fmt::Display) {
        let line = format!("{:>7}  {what}", self.now.to_string());
        self.log.push(line);
    }

    fn next_hook(&self) -> Option<Instant> {
        self.hooks.first().map(|(at, _)| *at)
    }

    /// Runs the hooks due by `self.now`; whether any ran.
    fn run_hooks(&mut self) -> bool {
        let mut ran = false;
        while self.next_hook().is_some_and(|at| at <= self.now) {
            let (_, hook) = self.hooks.remove(0);
            ran = true;
            match hook {
                Hook::Mode(mode) => {
                    self.note(format_args!("== server {mode:?}"));
                    self.mode = mode;
                    let end = match mode {
                        // Killed: every open socket is reset now.
                        Mode::Down => Some(Recv::Closed),
                        Mode::Busy(ms) => Some(Recv::RetryAfter(Duration::from_millis(ms))),
                        _ => None,
                    };
                    if let Some(end) = end {
                        let now = self.now;
                        self.inbox.clear();
                        for id in 1..=self.next_socket {
                            self.inbox.push_back((now, id, end.clone()));
                        }
                    }
                }
                Hook::Send(handle, text) => match handle.send(text) {
                    Ok(()) => self.note(format_args!("app   send {text:?}")),
                    Err(e) => self.note(format_args!("app   send {text:?} refused: {e}")),
                },
                Hook::Close(handle) => {
                    self.note("app   close");
                    handle.close();
                }
                Hook::Reconnect(handle) => {
                    self.note("app   reconnect");
                    handle.reconnect();
                }
            }
        }
        ran
    }

    fn deliver(&mut self, socket: u32, recv: Recv<String>) {
        let due = self.now + self.rtt;
        self.inbox.push_back((due, socket, recv));
        self.inbox.make_contiguous().sort_by_key(|(due, _, _)| *due);
    }

    /// The next frame due for `socket` by `self.now`.
    fn take_due(&mut self, socket: u32) -> Option<Recv<String>> {
        let i = self
            .inbox
            .iter()
            .position(|(due, id, _)| *id == socket && *due <= self.now)?;
        self.inbox.remove(i).map(|(_, _, recv)| recv)
    }

    fn next_due(&self, socket: u32) -> Option<Instant> {
        self.inbox
            .iter()
            .filter(|(_, id, _)| *id == socket)
            .map(|(due, _, _)| *due)
            .min()
    }

    // ----- the server's side of each transport call -----

    /// `Ok(Some(socket))`, `Ok(None)` to hang (silent), or an error.
    fn on_connect(net: &Shared) -> Result<Option<Socket>, ConnectError<String>> {
        let mut n = net.lock().unwrap();
        n.connects += 1;
        let mode = n.mode;
        n.note(format_args!("tx    connect ({mode:?})"));
        match mode {
            Mode::Up => {
                n.next_socket += 1;
                n.open_sockets += 1;
                n.max_open_sockets = n.max_open_sockets.max(n.open_sockets);
                Ok(Some(Socket {
                    id: n.next_socket,
                    net: net.clone(),
                }))
            }
            Mode::Down => Err(ConnectError::Failed("connection refused".into())),
            Mode::Reject => Err(ConnectError::Rejected("HTTP 401".into())),
            Mode::Busy(ms) => Err(ConnectError::RetryAfter(
                "HTTP 503".into(),
                Duration::from_millis(ms),
            )),
            Mode::Silent => Ok(None),
        }
    }

    fn on_ping(&mut self, socket: u32) {
        self.note("tx    ping");
        if self.mode == Mode::Up {
            self.deliver(socket, Recv::Pong);
        }
    }

    fn on_send(&mut self, socket: u32, message: &Message) {
        let text = message.as_text().unwrap_or("<binary>").to_owned();
        self.note(format_args!("tx    send {text:?}"));
        if self.mode != Mode::Up {
            return;
        }
        if Some(text.as_str()) == self.heartbeat_text {
            self.deliver(socket, Recv::Message(Message::text(text)));
        } else {
            self.deliver(socket, Recv::Message(Message::text(format!("echo {text}"))));
            self.received.push(text);
        }
    }

    fn on_close(&mut self, socket: u32) {
        self.note("tx    close");
        if self.mode == Mode::Up {
            self.deliver(socket, Recv::Closed);
        }
    }

    fn on_recv(&mut self, recv: &Recv<String>) {
        let what = match recv {
            Recv::Message(m) => format!("{:?}", m.as_text().unwrap_or("<binary>")),
            other => format!("{other:?}"),
        };
        self.note(format_args!("rx    {what}"));
    }
}

/// A client socket; dropping it closes it.
pub struct Socket {
    id: u32,
    net: Shared,
}

impl Drop for Socket {
    fn drop(&mut self) {
        let mut n = self.net.lock().unwrap();
        n.open_sockets -= 1;
        n.note("tx    (socket dropped)");
    }
}

// ----- blocking -----

pub struct BlockingNet(pub Shared);
pub struct NetTimer(pub Shared);

impl BlockingNet {
    fn lock(&self) -> MutexGuard<'_, Net> {
        self.0.lock().unwrap()
    }
}

impl blocking::Transport for BlockingNet {
    type Socket = Socket;
    type Error = String;

    fn connect(&mut self, timeout: Duration) -> Result<Socket, ConnectError<String>> {
        match Net::on_connect(&self.0)? {
            Some(socket) => {
                let mut n = self.lock();
                n.now = n.now + n.rtt; // the handshake
                Ok(socket)
            }
            None => {
                let mut n = self.lock();
                n.now = n.now + timeout;
                Err(ConnectError::Failed("connect timed out".into()))
            }
        }
    }

    fn ping(&mut self, socket: &mut Socket) -> Result<(), String> {
        self.lock().on_ping(socket.id);
        Ok(())
    }

    fn send(&mut self, socket: &mut Socket, message: &Message) -> Result<(), String> {
        self.lock().on_send(socket.id, message);
        Ok(())
    }

    fn close(&mut self, socket: &mut Socket) -> Result<(), String> {
        self.lock().on_close(socket.id);
        Ok(())
    }

    fn recv(&mut self, socket: &mut Socket, timeout: Duration) -> Recv<String> {
        let mut n = self.lock();
        let deadline = n.now + timeout;
        loop {
            if let Some(recv) = n.take_due(socket.id) {
                n.on_recv(&recv);
                return recv;
            }
            let next = [n.next_due(socket.id), n.next_hook()]
                .into_iter()
                .flatten()
                .min();
            match next {
                Some(t) if t <= deadline => {
                    n.now = n.now.max(t);
                    if n.run_hooks() {
                        return Recv::Timeout; // let the loop see the handle
                    }
                }
                _ => {
                    n.now = n.now.max(deadline);
                    return Recv::Timeout;
                }
            }
        }
    }
}

impl blocking::Timer for NetTimer {
    fn now(&self) -> Instant {
        self.0.lock().unwrap().now
    }

    fn sleep_until(&mut self, deadline: Instant) {
        let mut n = self.0.lock().unwrap();
        match n.next_hook() {
            Some(t) if t <= deadline => {
                n.now = n.now.max(t);
                n.run_hooks();
            }
            _ => n.now = n.now.max(deadline),
        }
    }
}

// ----- async -----

pub struct AsyncNet(pub Shared);
pub struct NetSleep(pub Shared);

/// Completes once virtual time reaches `deadline`.
fn until(net: &Shared, deadline: Instant) -> impl Future<Output = ()> + Send + use<> {
    let net = net.clone();
    std::future::poll_fn(move |_| {
        let mut n = net.lock().unwrap();
        if n.now >= deadline {
            Poll::Ready(())
        } else {
            n.timers.push(deadline);
            Poll::Pending
        }
    })
}

impl asynchronous::Transport for AsyncNet {
    type Socket = Socket;
    type Error = String;

    async fn connect(&mut self) -> Result<Socket, ConnectError<String>> {
        match Net::on_connect(&self.0)? {
            Some(socket) => {
                let done = {
                    let n = self.0.lock().unwrap();
                    n.now + n.rtt
                };
                until(&self.0, done).await;
                Ok(socket)
            }
            None => std::future::pending().await, // the driver's timeout ends it
        }
    }

    async fn ping(&mut self, socket: &mut Socket) -> Result<(), String> {
        self.0.lock().unwrap().on_ping(socket.id);
        Ok(())
    }

    async fn send(&mut self, socket: &mut Socket, message: &Message) -> Result<(), String> {
        self.0.lock().unwrap().on_send(socket.id, message);
        Ok(())
    }

    async fn close(&mut self, socket: &mut Socket) -> Result<(), String> {
        self.0.lock().unwrap().on_close(socket.id);
        Ok(())
    }

    async fn recv(&mut self, socket: &mut Socket) -> Recv<String> {
        let net = self.0.clone();
        let id = socket.id;
        std::future::poll_fn(move |_| {
            let mut n = net.lock().unwrap();
            if let Some(recv) = n.take_due(id) {
                n.on_recv(&recv);
                return Poll::Ready(recv);
            }
            if let Some(due) = n.next_due(id) {
                n.timers.push(due);
            }
            Poll::Pending
        })
        .await
    }
}

impl asynchronous::Sleep for NetSleep {
    fn now(&self) -> Instant {
        self.0.lock().unwrap().now
    }

    fn sleep_until(&self, deadline: Instant) -> impl Future<Output = ()> + Send {
        until(&self.0, deadline)
    }
}

struct Flag(AtomicBool);

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// Runs `future` to completion in virtual time: whenever it is pending and
/// nothing woke it, time jumps to the earliest pending deadline or hook.
pub fn block_on<F: Future>(net: &Shared, future: F) -> F::Output {
    let flag = Arc::new(Flag(AtomicBool::new(false)));
    let waker = Waker::from(flag.clone());
    let mut cx = Context::from_waker(&waker);
    let mut future = pin!(future);
    for _ in 0..1_000_000 {
        net.lock().unwrap().timers.clear();
        flag.0.store(false, Ordering::SeqCst);
        if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
        if flag.0.load(Ordering::SeqCst) {
            continue;
        }
        let mut n = net.lock().unwrap();
        let next = n.timers.iter().copied().chain(n.next_hook()).min();
        let Some(next) = next else {
            panic!("deadlock at {}: nothing pending", n.now);
        };
        n.now = n.now.max(next);
        n.run_hooks();
    }
    panic!("the run loop did not finish");
}
