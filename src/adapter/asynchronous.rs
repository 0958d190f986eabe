//! The async driver: any executor, any async transport, no runtime named.
//!
//! Implement [`Transport`] for your async socket and [`Sleep`] for your
//! runtime's timer (a few lines: tokio, smol, async-std and embassy all have
//! a "sleep until" future), then await [`Client::run`]. The loop waits on
//! three things at once — the transport, the connection's next deadline,
//! and its [`Handle`] — with a small hand-written select, so `send` and
//! `close` from other tasks take effect at once.
//!
//! # Example: tokio and `tokio-tungstenite`
//!
//! ```no_run
//! use futures_util::{SinkExt, StreamExt};
//! use keepalive::adapter::asynchronous::{Client, Sleep, Transport};
//! use keepalive::adapter::{ConnectError, Message, Options, Recv};
//! use keepalive::{Clock, Config, Instant};
//! use tokio_tungstenite::tungstenite::{self as ws, client::IntoClientRequest};
//!
//! /// Time for the driver: tokio's timer, read through a `keepalive::Clock`.
//! struct Tokio(Clock);
//!
//! impl Sleep for Tokio {
//!     fn now(&self) -> Instant {
//!         self.0.now()
//!     }
//!     fn sleep_until(&self, deadline: Instant) -> impl Future<Output = ()> + Send {
//!         tokio::time::sleep_until(self.0.to_std(deadline).into())
//!     }
//! }
//!
//! type Socket = tokio_tungstenite::WebSocketStream<
//!     tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;
//!
//! struct Ws { url: String, client_id: String }
//!
//! impl Transport for Ws {
//!     type Socket = Socket;
//!     type Error = ws::Error;
//!
//!     async fn connect(&mut self) -> Result<Socket, ConnectError<ws::Error>> {
//!         let mut request = self.url.as_str().into_client_request().map_err(ConnectError::Failed)?;
//!         // The identity travels in a header, never in the URL.
//!         request.headers_mut().insert("x-client-id", self.client_id.parse().expect("header"));
//!         match tokio_tungstenite::connect_async(request).await {
//!             Ok((socket, _)) => Ok(socket),
//!             Err(ws::Error::Http(r)) if r.status() == 401 => Err(ConnectError::Rejected(ws::Error::Http(r))),
//!             Err(e) => Err(ConnectError::Failed(e)),
//!         }
//!     }
//!     async fn ping(&mut self, socket: &mut Socket) -> Result<(), ws::Error> {
//!         socket.send(ws::Message::Ping(Default::default())).await
//!     }
//!     async fn send(&mut self, socket: &mut Socket, message: &Message) -> Result<(), ws::Error> {
//!         socket.send(match message {
//!             Message::Text(text) => ws::Message::text(text.as_str()),
//!             Message::Binary(bytes) => ws::Message::binary(bytes.clone()),
//!         }).await
//!     }
//!     async fn close(&mut self, socket: &mut Socket) -> Result<(), ws::Error> {
//!         socket.close(None).await
//!     }
//!     async fn recv(&mut self, socket: &mut Socket) -> Recv<ws::Error> {
//!         match socket.next().await {  // `StreamExt::next` is cancel-safe
//!             Some(Ok(ws::Message::Text(text))) => Recv::Message(Message::text(text.as_str())),
//!             Some(Ok(ws::Message::Binary(bytes))) => Recv::Message(Message::Binary(bytes.to_vec())),
//!             Some(Ok(ws::Message::Pong(_))) => Recv::Pong,
//!             Some(Ok(_)) => Recv::Data,
//!             Some(Err(ws::Error::ConnectionClosed | ws::Error::AlreadyClosed)) | None => Recv::Closed,
//!             Some(Err(e)) => Recv::Error(e),
//!         }
//!     }
//! }
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let ws = Ws { url: "ws://127.0.0.1:9001/".into(), client_id: "client-1".into() };
//!     let client = Client::new(Config::default(), Options::default(), ws, Tokio(Clock::new()))?;
//!     let handle = client.handle();
//!     let task = tokio::spawn(client.run(|notice| println!("{notice}")));
//!     handle.send("hello")?;
//!     handle.close();
//!     let outcome = task.await?;
//!     println!("{:?}", outcome.exit);
//!     Ok(())
//! }
//! ```
//!
//! With smol, only [`Sleep`] changes:
//!
//! ```
//! # use keepalive::{Clock, Instant};
//! # use keepalive::adapter::asynchronous::Sleep;
//! struct Smol(Clock);
//!
//! impl Sleep for Smol {
//!     fn now(&self) -> Instant {
//!         self.0.now()
//!     }
//!     async fn sleep_until(&self, deadline: Instant) {
//!         smol::Timer::at(self.0.to_std(deadline)).await;
//!     }
//! }
//! ```

use core::future::{Future, poll_fn};
use core::pin::{Pin, pin};
use core::task::Poll;

use super::driver::{Driver, Step};
use super::{ConnectError, Handle, Message, Notice, Options, Outcome, Recv};
use crate::config::{Config, ConfigError};
use crate::event::TransportId;
use crate::time::Instant;

/// An async transport: opens sockets and does I/O on them.
///
/// The driver calls it from its run loop only, one socket at a time. Write
/// the methods as `async fn`s; their futures must be `Send` (so that the
/// run loop can be spawned on a multi-threaded executor).
pub trait Transport {
    /// One open connection (for example a `tokio_tungstenite::WebSocketStream`).
    /// Dropping it must release the connection.
    type Socket;
    /// The transport's error, reported in [`Notice::Error`].
    type Error;

    /// Opens a connection. The driver abandons (drops) the future at the
    /// connect timeout or on [`Handle::close`].
    ///
    /// # Errors
    ///
    /// [`ConnectError::Failed`] to be retried after a backoff;
    /// [`ConnectError::Rejected`] when the peer refused us for good (HTTP
    /// 401 on the upgrade), which stops the driver.
    fn connect(
        &mut self,
    ) -> impl Future<Output = Result<Self::Socket, ConnectError<Self::Error>>> + Send;

    /// Sends a ping ([`Heartbeat::Ping`](super::Heartbeat::Ping)); report
    /// its reply as [`Recv::Pong`]. Must complete in bounded time.
    ///
    /// # Errors
    ///
    /// Any write failure: the driver closes the socket and reconnects.
    fn ping(
        &mut self,
        socket: &mut Self::Socket,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send;

    /// Sends an application message (or a text heartbeat). Must complete in
    /// bounded time.
    ///
    /// # Errors
    ///
    /// Any write failure: the message goes back to the head of the queue
    /// and the driver reconnects.
    fn send(
        &mut self,
        socket: &mut Self::Socket,
        message: &Message,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send;

    /// Starts a graceful close (a WebSocket close frame). The driver keeps
    /// receiving until [`Recv::Closed`], and drops the socket if that takes
    /// longer than the close timeout.
    ///
    /// # Errors
    ///
    /// The socket is treated as ended and dropped.
    fn close(
        &mut self,
        socket: &mut Self::Socket,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send;

    /// Waits for something to arrive.
    ///
    /// **Cancel-safe**: the driver drops this future when a deadline or the
    /// [`Handle`] wakes it first, and calls `recv` again later; nothing may
    /// be lost in between (`StreamExt::next` on a WebSocket stream is).
    fn recv(&mut self, socket: &mut Self::Socket)
    -> impl Future<Output = Recv<Self::Error>> + Send;
}

/// The runtime's clock and timer: two methods, a few lines per runtime.
pub trait Sleep {
    /// The current time (use a [`Clock`](crate::Clock), or virtual time in
    /// tests).
    fn now(&self) -> Instant;

    /// Completes at `deadline` (or later; never much earlier). Dropped
    /// before completion when something else wakes the loop.
    fn sleep_until(&self, deadline: Instant) -> impl Future<Output = ()> + Send;
}

/// A kept-alive connection over an async [`Transport`]: build it, take a
/// [`Handle`], then await [`run`](Client::run) (or spawn it).
#[derive(Debug)]
pub struct Client<T: Transport, S> {
    transport: T,
    sleep: S,
    driver: Driver<T::Error>,
}

/// What woke a wait.
enum Woke<T> {
    Io(T),
    Timer,
    Signal,
}

impl<T: Transport, S: Sleep> Client<T, S> {
    /// A client over `transport`, timed by `sleep`.
    ///
    /// # Errors
    ///
    /// The first problem with `config`.
    pub fn new(
        config: Config,
        options: Options,
        transport: T,
        sleep: S,
    ) -> Result<Self, ConfigError> {
        Ok(Client {
            transport,
            sleep,
            driver: Driver::new(config, options)?,
        })
    }

    /// The remote control: send messages, close.
    pub fn handle(&self) -> Handle {
        self.driver.handle().clone()
    }

    /// Connects and keeps the connection alive until [`Handle::close`] or
    /// until the driver gives up, calling `notify` for every [`Notice`].
    /// Completes with no socket left open.
    pub async fn run(mut self, mut notify: impl FnMut(Notice<T::Error>)) -> Outcome {
        let mut socket: Option<(TransportId, T::Socket)> = None;
        self.driver.start(self.sleep.now());
        loop {
            while let Some(step) = self.driver.next_step() {
                self.perform(step, &mut socket, &mut notify).await;
            }
            if let Some(exit) = self.driver.exit() {
                return self.driver.outcome(exit);
            }
            self.driver.check_stop(self.sleep.now());
            if let Some((id, sock)) = socket.as_mut() {
                self.flush(*id, sock).await;
            }
            if self.driver.has_steps() {
                continue;
            }
            self.wait(&mut socket).await;
        }
    }

    async fn perform(
        &mut self,
        step: Step<T::Error>,
        socket: &mut Option<(TransportId, T::Socket)>,
        notify: &mut impl FnMut(Notice<T::Error>),
    ) {
        match step {
            Step::Notify(notice) => notify(notice),
            Step::Connect { id, .. } => self.connect(id, socket).await,
            Step::Ping | Step::Heartbeat(_) => {
                if let Some((id, sock)) = socket.as_mut() {
                    let sent = match &step {
                        Step::Heartbeat(frame) => self.transport.send(sock, frame).await,
                        _ => self.transport.ping(sock).await,
                    };
                    if let Err(error) = sent {
                        self.driver.failed(*id, error, false, self.sleep.now());
                    }
                }
            }
            Step::Close => match socket.as_mut() {
                Some((id, sock)) => {
                    if let Err(error) = self.transport.close(sock).await {
                        let id = *id;
                        *socket = None;
                        self.driver.failed(id, error, true, self.sleep.now());
                    }
                }
                None => self.driver.closed_without_socket(self.sleep.now()),
            },
            Step::Drop => *socket = None,
        }
    }

    /// Opens transport `id`, racing the connect timeout and the handle.
    async fn connect(&mut self, id: TransportId, socket: &mut Option<(TransportId, T::Socket)>) {
        let Client {
            transport,
            sleep,
            driver,
        } = self;
        let mut connecting = pin!(transport.connect());
        loop {
            let woke = select(
                connecting.as_mut(),
                sleep,
                driver.deadline(),
                driver.handle(),
                driver.awaits_stop(),
                false,
            )
            .await;
            let now = sleep.now();
            match woke {
                Woke::Io(Ok(sock)) => {
                    if driver.opened(id, now) {
                        *socket = Some((id, sock));
                    }
                    return;
                }
                Woke::Io(Err(error)) => return driver.connect_failed(id, error, now),
                Woke::Timer | Woke::Signal => {
                    driver.check_stop(now);
                    driver.tick(now);
                    // A close or the connect timeout: abandon the connect
                    // (the steps say what follows). Anything else was early.
                    if driver.has_steps() {
                        return;
                    }
                }
            }
        }
    }

    /// Sends queued messages, in order, while the transport takes them.
    async fn flush(&mut self, id: TransportId, sock: &mut T::Socket) {
        while let Some(message) = self.driver.outbound() {
            if let Err(error) = self.transport.send(sock, &message).await {
                self.driver.unsent(message);
                self.driver.failed(id, error, false, self.sleep.now());
                return;
            }
        }
    }

    /// Waits for the transport, the deadline or the handle.
    async fn wait(&mut self, socket: &mut Option<(TransportId, T::Socket)>) {
        let Client {
            transport,
            sleep,
            driver,
        } = self;
        let (deadline, awaits_stop, open) =
            (driver.deadline(), driver.awaits_stop(), driver.is_open());
        let woke = match socket.as_mut() {
            Some((id, sock)) => {
                let recv = pin!(transport.recv(sock));
                match select(recv, sleep, deadline, driver.handle(), awaits_stop, open).await {
                    Woke::Io(recv) => Some((*id, recv)),
                    Woke::Timer | Woke::Signal => None,
                }
            }
            None => {
                let never = pin!(core::future::pending::<()>());
                let _ = select(never, sleep, deadline, driver.handle(), awaits_stop, open).await;
                None
            }
        };
        let now = sleep.now();
        match woke {
            Some((id, recv)) => {
                if matches!(recv, Recv::Closed | Recv::Rejected | Recv::RetryAfter(_)) {
                    *socket = None;
                }
                driver.received(id, recv, now);
            }
            None => {
                driver.check_stop(now);
                driver.tick(now);
            }
        }
    }
}

/// Waits for the first of: `io`, the `deadline` (if any), and the handle
/// (a stop if `want_stop`, a queued message if `want_messages`).
async fn select<F: Future, S: Sleep>(
    mut io: Pin<&mut F>,
    sleep: &S,
    deadline: Option<Instant>,
    handle: &Handle,
    want_stop: bool,
    want_messages: bool,
) -> Woke<F::Output> {
    let mut timer = pin!(async {
        match deadline {
            Some(deadline) => sleep.sleep_until(deadline).await,
            None => core::future::pending().await,
        }
    });
    poll_fn(|cx| {
        if let Poll::Ready(out) = io.as_mut().poll(cx) {
            return Poll::Ready(Woke::Io(out));
        }
        if timer.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Woke::Timer);
        }
        if handle.poll_signal(cx, want_stop, want_messages).is_ready() {
            return Poll::Ready(Woke::Signal);
        }
        Poll::Pending
    })
    .await
}
