//! The client against a scripted tokio-tungstenite server on loopback:
//! kills and restarts, a fresh token per attempt, refusals that give up,
//! and server-advised delays.

mod common;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use common::*;
use futures_util::{SinkExt, StreamExt};
use keepalive::adapter::{Cause, Exit, Message, Notice, Options};
use keepalive::{Backoff, Config};
use keepalive_tokio::ClientEvent;
use tokio::net::TcpSocket;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{self, client::IntoClientRequest};

/// What the scripted server does with the next upgrades.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Mode {
    /// Upgrade, echo text as `echo …`.
    Accept,
    /// Answer the upgrade with this status and `Retry-After` (once, then accept).
    Refuse(u16, Option<u64>),
    /// Upgrade, then close at once with this code and reason (once, then accept).
    CloseWith(u16, &'static str),
}

#[derive(Default)]
struct Seen {
    /// Every upgrade request: when, and its bearer token.
    attempts: Vec<(Instant, String)>,
    open: usize,
    max_open: usize,
    received: Vec<String>,
}

struct Scripted {
    addr: SocketAddr,
    mode: Arc<Mutex<Mode>>,
    seen: Arc<Mutex<Seen>>,
    tasks: JoinSet<()>,
}

impl Scripted {
    async fn start(mode: Mode) -> Scripted {
        let mut server = Scripted {
            addr: "127.0.0.1:0".parse().unwrap(),
            mode: Arc::new(Mutex::new(mode)),
            seen: Arc::default(),
            tasks: JoinSet::new(),
        };
        server.restart().await;
        server
    }

    /// A crash: the listener and every socket go away at once.
    fn kill(&mut self) {
        self.tasks.abort_all();
    }

    /// Listens again on the same port.
    async fn restart(&mut self) {
        let socket = TcpSocket::new_v4().unwrap();
        socket.set_reuseaddr(true).unwrap();
        socket.bind(self.addr).unwrap();
        let listener = socket.listen(64).unwrap();
        self.addr = listener.local_addr().unwrap();
        let (mode, seen) = (self.mode.clone(), self.seen.clone());
        self.tasks.spawn(async move {
            // Dropped, and so aborted, with the accept loop.
            let mut conns = JoinSet::new();
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                conns.spawn(serve(stream, mode.clone(), seen.clone()));
            }
        });
    }

    fn seen<T>(&self, f: impl FnOnce(&Seen) -> T) -> T {
        f(&self.seen.lock().unwrap())
    }
}

async fn serve(stream: tokio::net::TcpStream, mode: Arc<Mutex<Mode>>, seen: Arc<Mutex<Seen>>) {
    let now = Instant::now();
    let current = *mode.lock().unwrap();
    #[allow(clippy::result_large_err)] // tungstenite's own `ErrorResponse`
    let callback = |request: &Request, response: Response| {
        let token = request
            .headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        seen.lock().unwrap().attempts.push((now, token));
        match current {
            Mode::Refuse(status, retry) => {
                *mode.lock().unwrap() = Mode::Accept;
                let mut error = ErrorResponse::new(None);
                *error.status_mut() = status.try_into().unwrap();
                if let Some(secs) = retry {
                    error.headers_mut().insert("retry-after", secs.into());
                }
                Err(error)
            }
            _ => Ok(response),
        }
    };
    let Ok(mut socket) = tokio_tungstenite::accept_hdr_async(stream, callback).await else {
        return;
    };
    let _open = Open::count(&seen);
    if let Mode::CloseWith(code, reason) = current {
        *mode.lock().unwrap() = Mode::Accept;
        let frame = CloseFrame {
            code: code.into(),
            reason: reason.into(),
        };
        let _ = socket.close(Some(frame)).await;
        while socket.next().await.is_some() {}
    } else {
        while let Some(Ok(frame)) = socket.next().await {
            if let tungstenite::Message::Text(text) = frame {
                seen.lock().unwrap().received.push(text.as_str().to_owned());
                let _ = socket
                    .send(tungstenite::Message::text(format!("echo {text}")))
                    .await;
            }
        }
    }
}

/// Counts an open socket until dropped (a kill aborts the task mid-way).
struct Open(Arc<Mutex<Seen>>);

impl Open {
    fn count(seen: &Arc<Mutex<Seen>>) -> Open {
        let mut s = seen.lock().unwrap();
        s.open += 1;
        s.max_open = s.max_open.max(s.open);
        Open(seen.clone())
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        self.0.lock().unwrap().open -= 1;
    }
}

/// Heartbeat 500 ms / 500 ms, backoff 50 ms × 2 up to 400 ms.
fn config() -> Config {
    Config::default()
        .with_heartbeat_interval(ms(500))
        .with_heartbeat_timeout(ms(500))
        .with_connect_timeout(ms(1000))
        .with_close_timeout(ms(500))
        .with_backoff(Backoff::exponential(ms(50), ms(400)))
        .with_min_uptime(ms(100))
}

/// A request function that puts a fresh token in every attempt.
fn fresh_tokens(addr: SocketAddr) -> impl FnMut() -> tungstenite::handshake::client::Request {
    let mut n = 0;
    move || {
        n += 1;
        let mut request = format!("ws://{addr}/").into_client_request().unwrap();
        let token = format!("Bearer token-{n:03}").parse().unwrap();
        request.headers_mut().insert("authorization", token);
        request
    }
}

/// Waits for the first event matching `want`, returning it.
async fn next_matching(
    events: &mut keepalive_tokio::Events,
    want: impl Fn(&ClientEvent) -> bool,
) -> ClientEvent {
    await_notice(events, "an event", ms(10_000), |e| want(&e).then_some(e)).await
}

fn connected(e: &ClientEvent) -> bool {
    matches!(e, Notice::Connected { .. })
}

/// Three crashes and restarts: the client comes back each time, never
/// holds two sockets, sends a fresh token every attempt, and the messages
/// sent while the server was down arrive in order after the reconnect.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnects_through_three_server_kills() {
    let mut server = Scripted::start(Mode::Accept).await;
    let (handle, mut events) =
        keepalive_tokio::connect(fresh_tokens(server.addr), config(), Options::default()).unwrap();
    next_matching(&mut events, connected).await;
    let mut sent = Vec::new();
    for kill in 1..=3 {
        server.kill();
        next_matching(&mut events, |e| matches!(e, Notice::Disconnected { .. })).await;
        for part in ["a", "b"] {
            let text = format!("while down {kill}{part}");
            handle.send(text.as_str()).unwrap();
            sent.push(text);
        }
        tokio::time::sleep(ms(300)).await;
        server.restart().await;
        next_matching(&mut events, connected).await;
        let want = sent.len();
        until("the queued messages", ms(5000), || {
            server.seen(|s| s.received.len()) == want
        })
        .await;
    }
    assert_eq!(
        server.seen(|s| s.received.clone()),
        sent,
        "in order, none lost"
    );
    assert_eq!(server.seen(|s| s.max_open), 1, "never two sockets at once");
    let tokens: Vec<String> = server.seen(|s| s.attempts.iter().map(|a| a.1.clone()).collect());
    assert_eq!(tokens.len(), 4, "{tokens:?}");
    assert!(
        tokens.windows(2).all(|w| w[0] < w[1]),
        "a fresh token each time: {tokens:?}"
    );
    handle.close();
    next_matching(&mut events, |e| matches!(e, Notice::Stopped)).await;
    assert_eq!(events.outcome().await.exit, Exit::Stopped);
}

/// HTTP 401 on the upgrade: one attempt, then the client gives up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unauthorized_gives_up_after_one_attempt() {
    let server = Scripted::start(Mode::Refuse(401, None)).await;
    let (_handle, mut events) =
        keepalive_tokio::connect(fresh_tokens(server.addr), config(), Options::default()).unwrap();
    let gave_up = next_matching(&mut events, |e| matches!(e, Notice::GaveUp { .. })).await;
    assert!(matches!(gave_up, Notice::GaveUp { attempts: 0 }));
    assert!(events.next().await.is_none(), "the stream ends");
    tokio::time::sleep(ms(300)).await;
    assert_eq!(server.seen(|s| s.attempts.len()), 1);
}

/// Close code 1008 (Policy Violation) on an open connection: give up too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_1008_gives_up() {
    let server = Scripted::start(Mode::CloseWith(1008, "token revoked")).await;
    let (_handle, mut events) =
        keepalive_tokio::connect(fresh_tokens(server.addr), config(), Options::default()).unwrap();
    let lost = next_matching(&mut events, |e| matches!(e, Notice::Disconnected { .. })).await;
    assert!(matches!(
        lost,
        Notice::Disconnected {
            cause: Cause::Rejected,
            ..
        }
    ));
    next_matching(&mut events, |e| matches!(e, Notice::GaveUp { .. })).await;
    assert_eq!(events.outcome().await.exit, Exit::GaveUp { attempts: 0 });
}

/// `503` with `Retry-After: 1`: the next attempt comes no sooner than 1 s
/// later (the backoff alone would retry after 50 ms), jittered up to 1.5 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_unavailable_with_retry_after_is_honoured() {
    let server = Scripted::start(Mode::Refuse(503, Some(1))).await;
    let (handle, mut events) =
        keepalive_tokio::connect(fresh_tokens(server.addr), config(), Options::default()).unwrap();
    let scheduled = next_matching(&mut events, |e| matches!(e, Notice::Reconnecting { .. })).await;
    let Notice::Reconnecting { delay, attempt: 1 } = scheduled else {
        panic!("{scheduled}")
    };
    assert!((ms(1000)..=ms(1500)).contains(&delay), "{delay:?}");
    next_matching(&mut events, connected).await;
    let attempts = server.seen(|s| s.attempts.iter().map(|a| a.0).collect::<Vec<_>>());
    let gap = attempts[1] - attempts[0];
    assert!(gap >= ms(1000) && gap <= ms(1500 + 500), "{gap:?}");
    handle.close();
}

/// Close code 1013 (Try Again Later) with reason "1": likewise at least 1 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_1013_delays_the_reconnect() {
    let server = Scripted::start(Mode::CloseWith(1013, "1")).await;
    let (handle, mut events) =
        keepalive_tokio::connect(fresh_tokens(server.addr), config(), Options::default()).unwrap();
    next_matching(&mut events, connected).await;
    let scheduled = next_matching(&mut events, |e| matches!(e, Notice::Reconnecting { .. })).await;
    let Notice::Reconnecting { delay, .. } = scheduled else {
        panic!("{scheduled}")
    };
    assert!((ms(1000)..=ms(1500)).contains(&delay), "{delay:?}");
    next_matching(&mut events, connected).await;
    let attempts = server.seen(|s| s.attempts.iter().map(|a| a.0).collect::<Vec<_>>());
    assert!(attempts[1] - attempts[0] >= ms(1000));
    // And the echo works on the new connection.
    handle.send("hi").unwrap();
    let echo = next_matching(&mut events, |e| matches!(e, Notice::Message(_))).await;
    assert!(matches!(echo, Notice::Message(Message::Text(t)) if t == "echo hi"));
    handle.close();
}

/// Outside a runtime: a typed error, not a panic.
#[test]
fn connect_outside_a_runtime_is_an_error() {
    let result = keepalive_tokio::connect(
        || "ws://127.0.0.1:9/",
        Config::default(),
        Options::default(),
    );
    assert!(matches!(
        result,
        Err(keepalive_tokio::StartError::NoRuntime)
    ));
}
