//! The adapters end to end over real sockets on 127.0.0.1: a blocking test
//! server (tungstenite + `Presence`, which can be killed and frozen) against
//! the blocking driver (tungstenite) and the async driver on smol. The
//! async driver on tokio is `keepalive-tokio`'s client: its tests are in
//! `tokio/tests/`.
//!
//! Every wait is bounded; timings are asserted with generous margins and
//! printed (`cargo test --test adapter_e2e -- --nocapture`).
#![cfg(feature = "std")]

#[path = "support/mod.rs"]
mod support;

use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use keepalive::adapter::{
    Cause, Exit, Handle, Heartbeat, Message, Notice, Options, Outcome, SendError,
};
use keepalive::adapter::{asynchronous, blocking};
use keepalive::{Backoff, Clock, Config, Instant, Jitter};
use support::client::{BlockingWs, Endpoint, SmolSleep, SmolWs};
use support::server::{Server, ServerConfig, ServerEvent};

type WsNotice = Notice<tungstenite::Error>;

const INTERVAL: Duration = Duration::from_millis(200);
const TIMEOUT: Duration = Duration::from_millis(200);
/// Slack for scheduling on a loaded 2-core machine.
const MARGIN: Duration = Duration::from_millis(300);
const WAIT: Duration = Duration::from_secs(5);

fn config() -> Config {
    Config::default()
        .with_heartbeat_interval(INTERVAL)
        .with_heartbeat_timeout(TIMEOUT)
        .with_connect_timeout(Duration::from_secs(1))
        .with_close_timeout(Duration::from_millis(200))
        .with_backoff(
            Backoff::exponential(Duration::from_millis(50), Duration::from_millis(300))
                .with_jitter(Jitter::Full),
        )
        .with_min_uptime(Duration::from_millis(200))
}

fn options() -> Options {
    Options::default().with_read_slice(Duration::from_millis(20))
}

/// A server on `addr`, logging into `log`.
fn server_at(addr: SocketAddr, clock: Clock, log: &Arc<Mutex<Vec<ServerEvent>>>) -> Server {
    server_with(
        ServerConfig {
            addr,
            ..server_config()
        },
        clock,
        log,
    )
}

fn server_config() -> ServerConfig {
    ServerConfig {
        timeout: Duration::from_millis(1000),
        ..ServerConfig::loopback()
    }
}

/// A server that answers the token `revoked` with HTTP 401.
fn refusing_server(clock: Clock, log: &Arc<Mutex<Vec<ServerEvent>>>) -> Server {
    let config = ServerConfig {
        refuse: vec!["revoked".into()],
        ..server_config()
    };
    server_with(config, clock, log)
}

fn server_with(config: ServerConfig, clock: Clock, log: &Arc<Mutex<Vec<ServerEvent>>>) -> Server {
    let log = log.clone();
    Server::start(config, clock, move |event| log.lock().unwrap().push(event)).unwrap()
}

/// Timestamped notices from a run loop.
struct Notices {
    clock: Clock,
    rx: Receiver<(Instant, WsNotice)>,
    seen: Vec<(Instant, WsNotice)>,
}

impl Notices {
    fn new(clock: Clock) -> (Notices, impl FnMut(WsNotice) + Send + 'static) {
        let (tx, rx): (Sender<(Instant, WsNotice)>, _) = channel();
        let notify = move |notice| {
            let _ = tx.send((clock.now(), notice));
        };
        (
            Notices {
                clock,
                rx,
                seen: Vec::new(),
            },
            notify,
        )
    }

    /// Waits (at most [`WAIT`]) for a notice matching `pick`.
    fn wait(&mut self, what: &str, pick: impl Fn(&WsNotice) -> bool) -> Instant {
        let end = self.clock.now() + WAIT;
        loop {
            let left = end.saturating_duration_since(self.clock.now());
            match self.rx.recv_timeout(left) {
                Ok((t, notice)) => {
                    let hit = pick(&notice);
                    self.seen.push((t, notice));
                    if hit {
                        return t;
                    }
                }
                Err(_) => panic!("no {what} within {WAIT:?}; saw {:#?}", self.seen),
            }
        }
    }
}

fn connected(n: &WsNotice) -> bool {
    matches!(n, Notice::Connected { .. })
}

fn disconnected(n: &WsNotice) -> bool {
    matches!(n, Notice::Disconnected { .. })
}

/// Polls `cond` for up to [`WAIT`].
fn eventually(what: &str, cond: impl Fn() -> bool) {
    let start = std::time::Instant::now();
    while !cond() {
        assert!(start.elapsed() < WAIT, "not within {WAIT:?}: {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn join<T>(thread: std::thread::JoinHandle<T>) -> T {
    let start = std::time::Instant::now();
    while !thread.is_finished() {
        assert!(start.elapsed() < WAIT, "the run loop did not return");
        std::thread::sleep(Duration::from_millis(5));
    }
    thread.join().expect("the run loop panicked")
}

/// A blocking client for `endpoint` on its own thread: its handle, its
/// notices, and the thread to join for its outcome.
fn spawn_blocking(
    endpoint: Endpoint,
    config: Config,
    options: Options,
    clock: Clock,
) -> (Handle, Notices, std::thread::JoinHandle<Outcome>) {
    let client = blocking::Client::new(config, options, BlockingWs(endpoint)).unwrap();
    let handle = client.handle();
    let (notices, notify) = Notices::new(clock);
    (handle, notices, client.spawn(notify))
}

fn free_addr() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}

#[test]
fn blocking_heartbeats_presence_messages_and_clean_close() {
    let clock = Clock::new();
    let log = Arc::new(Mutex::new(Vec::new()));
    let server = server_at(free_addr(), clock, &log);
    let endpoint = Endpoint::new(server.addr(), "alice");
    let (handle, mut notices, thread) =
        spawn_blocking(endpoint.clone(), config(), options(), clock);

    notices.wait("connected", connected);
    eventually("alice online", || server.online() == ["alice"]);
    // A heartbeat goes out after INTERVAL of silence and is answered.
    let rtt = notices.wait("an answered heartbeat", |n| {
        matches!(n, Notice::HeartbeatAnswered { rtt: Some(_) })
    });
    println!("first heartbeat answered at {rtt}");
    handle.send("hi").unwrap();
    notices.wait(
        "the echo",
        |n| matches!(n, Notice::Message(m) if m.as_text() == Some("echo hi")),
    );
    // Pongs are never delivered as messages.
    assert!(
        notices
            .seen
            .iter()
            .all(|(_, n)| !matches!(n, Notice::Message(m) if *m != Message::text("echo hi")))
    );

    handle.close();
    let outcome = join(thread);
    assert_eq!(outcome.exit, Exit::Stopped);
    assert!(outcome.unsent.is_empty());
    assert_eq!(endpoint.open.load(Ordering::SeqCst), 0);
    eventually("the server saw the close", || {
        server.live_connections() == 0
    });
    let log = log.lock().unwrap().clone();
    assert!(log.contains(&ServerEvent::Online("alice".into())));
    assert!(log.contains(&ServerEvent::Offline {
        client: "alice".into(),
        why: "closed"
    }));
    assert!(matches!(handle.send("late"), Err(SendError::Closed(_))));
}

#[test]
fn blocking_detects_a_silent_server_within_interval_plus_timeout() {
    let clock = Clock::new();
    let log = Arc::new(Mutex::new(Vec::new()));
    let server = server_at(free_addr(), clock, &log);
    let endpoint = Endpoint::new(server.addr(), "bob");
    let (handle, mut notices, thread) =
        spawn_blocking(endpoint.clone(), config(), options(), clock);

    notices.wait("connected", connected);
    notices.wait("an answered heartbeat", |n| {
        matches!(n, Notice::HeartbeatAnswered { .. })
    });
    server.set_silent(true);
    let silent_at = clock.now();
    let lost_at = notices.wait("the heartbeat timeout", |n| {
        matches!(
            n,
            Notice::Disconnected {
                cause: Cause::HeartbeatTimeout,
                ..
            }
        )
    });
    // The last inbound data the driver saw.
    let last_data = notices
        .seen
        .iter()
        .filter(|(_, n)| {
            matches!(
                n,
                Notice::HeartbeatAnswered { .. } | Notice::Connected { .. }
            )
        })
        .map(|(t, _)| *t)
        .next_back()
        .unwrap();
    let after_data = lost_at.saturating_duration_since(last_data);
    let after_silence = lost_at.saturating_duration_since(silent_at);
    println!(
        "silent server detected {} ms after its last data, {} ms after it went silent \
         (configured interval + timeout = {} ms)",
        after_data.as_millis(),
        after_silence.as_millis(),
        (INTERVAL + TIMEOUT).as_millis()
    );
    assert!(after_data + Duration::from_millis(5) >= INTERVAL + TIMEOUT);
    assert!(after_silence <= INTERVAL + TIMEOUT + MARGIN);

    // The server never answers the close: the socket is dropped after the
    // close timeout and the client reconnects (the server accepts, then
    // stays silent).
    notices.wait("a reconnect", |n| matches!(n, Notice::Reconnecting { .. }));
    assert_eq!(endpoint.max_open.load(Ordering::SeqCst), 1);
    handle.close();
    let outcome = join(thread);
    assert_eq!(outcome.exit, Exit::Stopped);
    assert_eq!(endpoint.open.load(Ordering::SeqCst), 0);
    server.kill();
}

#[test]
fn blocking_survives_repeated_server_restarts_with_one_socket() {
    let clock = Clock::new();
    let log = Arc::new(Mutex::new(Vec::new()));
    let mut server = server_at(free_addr(), clock, &log);
    let addr = server.addr();
    let endpoint = Endpoint::new(addr, "carol");
    let (handle, mut notices, thread) =
        spawn_blocking(endpoint.clone(), config(), options(), clock);
    notices.wait("connected", connected);

    eventually("carol online", || server.online() == ["carol"]);
    for round in 1..=3 {
        assert_eq!(server.max_live_connections(), 1, "two sockets at once");
        server.kill();
        let killed_at = clock.now();
        let lost = notices.wait("the loss", disconnected);
        notices.wait("a reconnect scheduled", |n| {
            matches!(n, Notice::Reconnecting { .. })
        });
        std::thread::sleep(Duration::from_millis(150));
        server = server_at(addr, clock, &log);
        let back = notices.wait("connected again", connected);
        eventually("carol online again", || server.online() == ["carol"]);
        println!(
            "restart {round}: loss seen after {} ms, reconnected {} ms after the restart",
            lost.saturating_duration_since(killed_at).as_millis(),
            back.saturating_duration_since(killed_at).as_millis() - 150
        );
    }
    assert_eq!(
        endpoint.max_open.load(Ordering::SeqCst),
        1,
        "two sockets at once"
    );
    handle.close();
    let outcome = join(thread);
    assert_eq!(outcome.exit, Exit::Stopped);
    assert_eq!(endpoint.open.load(Ordering::SeqCst), 0);
    eventually("no server-side socket left", || {
        server.live_connections() == 0
    });
    server.kill();
}

#[test]
fn blocking_messages_sent_during_an_outage_arrive_in_order() {
    let clock = Clock::new();
    let log = Arc::new(Mutex::new(Vec::new()));
    let server = server_at(free_addr(), clock, &log);
    let addr = server.addr();
    let endpoint = Endpoint::new(addr, "dave");
    let options = options().with_queue_capacity(NonZeroUsize::new(4).unwrap());
    let (handle, mut notices, thread) = spawn_blocking(endpoint.clone(), config(), options, clock);
    notices.wait("connected", connected);
    handle.send("before").unwrap();
    eventually("the first message", || server.received().len() == 1);

    server.kill();
    notices.wait("the loss", disconnected);
    for text in ["m1", "m2", "m3", "m4"] {
        handle.send(text).unwrap();
    }
    // Full: the message comes back, nothing is dropped silently.
    assert_eq!(handle.send("m5"), Err(SendError::Full(Message::text("m5"))));

    let server = server_at(addr, clock, &log);
    eventually("the queued messages", || server.received().len() == 4);
    let texts: Vec<String> = server.received().into_iter().map(|(_, t)| t).collect();
    assert_eq!(texts, ["m1", "m2", "m3", "m4"]);
    handle.close();
    let outcome = join(thread);
    assert!(outcome.unsent.is_empty());
    server.kill();
}

#[test]
fn blocking_close_during_backoff_stops_everything() {
    let clock = Clock::new();
    let endpoint = Endpoint::new(free_addr(), "erin"); // nothing listens there
    let config = config().with_backoff(Backoff::fixed(Duration::from_secs(30)));
    let (handle, mut notices, thread) = spawn_blocking(endpoint.clone(), config, options(), clock);
    notices.wait("a 30 s backoff", |n| {
        matches!(n, Notice::Reconnecting { .. })
    });
    handle.send("queued").unwrap();
    let closed_at = clock.now();
    handle.close();
    let outcome = join(thread);
    let stopped_after = clock.now().saturating_duration_since(closed_at);
    println!(
        "close during backoff returned after {} ms",
        stopped_after.as_millis()
    );
    assert!(stopped_after < Duration::from_millis(500));
    assert_eq!(outcome.exit, Exit::Stopped);
    assert_eq!(outcome.unsent, [Message::text("queued")]);
    assert_eq!(endpoint.connects.load(Ordering::SeqCst), 1);
}

#[test]
fn blocking_gives_up_when_the_upgrade_is_refused_with_401() {
    let clock = Clock::new();
    let log = Arc::new(Mutex::new(Vec::new()));
    let server = refusing_server(clock, &log);
    let endpoint = Endpoint::new(server.addr(), "frank").with_token("revoked");
    let client = blocking::Client::new(config(), options(), BlockingWs(endpoint.clone())).unwrap();
    let (_notices, notify) = Notices::new(clock);
    let outcome = join(client.spawn(notify));
    assert_eq!(outcome.exit, Exit::GaveUp { attempts: 0 });
    assert_eq!(endpoint.connects.load(Ordering::SeqCst), 1);
    assert_eq!(
        log.lock().unwrap().as_slice(),
        [ServerEvent::Refused("frank".into())]
    );
    server.kill();
}

#[test]
fn server_reports_a_silent_client_offline_and_closes_it() {
    // A client whose heartbeats are far apart goes quiet for longer than
    // the server's timeout: the server reports it offline and closes it.
    let clock = Clock::new();
    let log = Arc::new(Mutex::new(Vec::new()));
    let server = server_with(
        ServerConfig {
            timeout: Duration::from_millis(300),
            ..server_config()
        },
        clock,
        &log,
    );
    let endpoint = Endpoint::new(server.addr(), "gina");
    let config = config()
        .with_heartbeat_interval(Duration::from_secs(5))
        .with_heartbeat_timeout(Duration::from_secs(1));
    let (handle, mut notices, thread) = spawn_blocking(endpoint, config, options(), clock);
    notices.wait("connected", connected);
    notices.wait("closed by the server", |n| {
        matches!(
            n,
            Notice::Disconnected {
                cause: Cause::PeerClosed,
                ..
            }
        )
    });
    assert!(log.lock().unwrap().contains(&ServerEvent::Offline {
        client: "gina".into(),
        why: "silent past the timeout"
    }));
    handle.close();
    let _ = join(thread);
    server.kill();
}

#[test]
fn a_browser_style_client_is_identified_by_its_subprotocols() {
    // Browsers cannot set headers on a WebSocket: the id and token travel as
    // subprotocols, and the server must echo back one the client offered.
    use tungstenite::client::IntoClientRequest;
    let clock = Clock::new();
    let log = Arc::new(Mutex::new(Vec::new()));
    let server = refusing_server(clock, &log);
    let connect = |protocols: &str| {
        let mut request = format!("ws://{}/ws", server.addr())
            .into_client_request()
            .unwrap();
        request
            .headers_mut()
            .insert("sec-websocket-protocol", protocols.parse().unwrap());
        let tcp = std::net::TcpStream::connect(server.addr()).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        tungstenite::client(request, tcp).map_err(|e| e.to_string())
    };
    let (mut ws, response) = connect("chat.v1, id.ivy, auth.secret").expect("accepted");
    assert_eq!(response.headers()["sec-websocket-protocol"], "chat.v1");
    eventually("ivy online", || server.online() == ["ivy"]);
    assert!(
        connect("chat.v1, id.mallory, auth.revoked").is_err(),
        "a refused token gets 401"
    );
    ws.close(None).unwrap();
    eventually("ivy offline", || server.online().is_empty());
    eventually("the refusal logged", || {
        log.lock()
            .unwrap()
            .contains(&ServerEvent::Refused("mallory".into()))
    });
    server.kill();
}

/// Runs the shared async scenario: heartbeat round trip, echo, a server
/// restart with messages queued during the outage, and a clean close.
fn async_scenario(
    name: &str,
    heartbeat: Heartbeat,
    spawn: impl FnOnce(
        Endpoint,
        Options,
        Clock,
        Box<dyn FnMut(WsNotice) + Send>,
    ) -> (Handle, Box<dyn FnOnce() -> keepalive::adapter::Outcome>),
) {
    let clock = Clock::new();
    let log = Arc::new(Mutex::new(Vec::new()));
    let server = server_at(free_addr(), clock, &log);
    let addr = server.addr();
    let endpoint = Endpoint::new(addr, name);
    let (mut notices, notify) = Notices::new(clock);
    let (handle, finish) = spawn(
        endpoint.clone(),
        options().with_heartbeat(heartbeat),
        clock,
        Box::new(notify),
    );

    notices.wait("connected", connected);
    notices.wait("an answered heartbeat", |n| {
        matches!(n, Notice::HeartbeatAnswered { rtt: Some(_) })
    });
    handle.send("hi").unwrap();
    notices.wait(
        "the echo",
        |n| matches!(n, Notice::Message(m) if m.as_text() == Some("echo hi")),
    );
    assert!(
        notices
            .seen
            .iter()
            .all(|(_, n)| !matches!(n, Notice::Message(m) if m.as_text() != Some("echo hi"))),
        "a heartbeat reply was delivered"
    );

    server.kill();
    notices.wait("the loss", disconnected);
    handle.send("during").unwrap();
    handle.send("outage").unwrap();
    let server = server_at(addr, clock, &log);
    notices.wait("connected again", connected);
    eventually("the queued messages", || server.received().len() == 2);
    let texts: Vec<String> = server.received().into_iter().map(|(_, t)| t).collect();
    assert_eq!(texts, ["during", "outage"]);

    handle.close();
    let outcome = finish();
    assert_eq!(outcome.exit, Exit::Stopped);
    assert_eq!(endpoint.open.load(Ordering::SeqCst), 0);
    assert_eq!(endpoint.max_open.load(Ordering::SeqCst), 1);
    eventually("no server-side socket left", || {
        server.live_connections() == 0
    });
    server.kill();
}

#[test]
fn smol_end_to_end() {
    async_scenario(
        "smol",
        Heartbeat::Ping,
        |endpoint, options, clock, notify| {
            let client =
                asynchronous::Client::new(config(), options, SmolWs(endpoint), SmolSleep(clock))
                    .unwrap();
            let handle = client.handle();
            let thread = std::thread::spawn(move || smol::block_on(client.run(notify)));
            (handle, Box::new(move || join(thread)))
        },
    );
}
