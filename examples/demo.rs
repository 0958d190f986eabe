//! The whole story in one process, on real sockets, in about ten seconds.
//!
//! ```text
//! cargo run --example demo
//! ```
//!
//! A `keepalive-tokio` server on 127.0.0.1 tracks presence; three clients
//! keep their connections alive with 300 ms heartbeats, through a TCP proxy:
//! one on the blocking driver (tungstenite), one on `keepalive-tokio` (with
//! the article's text heartbeat `心跳测试`), one on smol. Then the server is
//! killed: the clients notice, back off with jitter (not in lockstep), queue
//! what they send, and reconnect when it comes back on the same port, where
//! they show up online again. Finally the proxy freezes (sockets open,
//! nothing passes): the heartbeat timeout finds it. The demo checks the
//! recovery and exits non-zero if it did not happen.

mod common;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use common::client::{BlockingWs, Endpoint, SmolSleep, SmolWs};
use common::proxy::Proxy;
use keepalive::adapter::{Heartbeat, Message, Notice, Options, Outcome, asynchronous, blocking};
use keepalive::{Backoff, Clock, Config, Instant, Jitter, OfflineReason, ServerHeartbeat};
use keepalive_tokio::server::{PresenceChange, Refusal, Server, ServerConfig};
use tokio::net::TcpListener;
use tokio::runtime::Runtime;
use tokio::sync::broadcast::error::RecvError;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// What each client went through, for the final check.
#[derive(Default)]
struct Tally {
    connected_at: Vec<Instant>,
    heartbeats: usize,
    reconnects: usize,
    heartbeat_timeouts: usize,
}

type Tallies = Arc<Mutex<HashMap<&'static str, Tally>>>;

fn say(clock: Clock, who: &str, what: impl std::fmt::Display) {
    println!("t={:>7}  {who:<9} {what}", clock.now().to_string());
}

fn config(seed: u64) -> Config {
    Config::default()
        .with_heartbeat_interval(Duration::from_millis(300))
        .with_heartbeat_timeout(Duration::from_millis(300))
        .with_connect_timeout(Duration::from_secs(1))
        .with_close_timeout(Duration::from_millis(300))
        .with_backoff(
            Backoff::exponential(Duration::from_millis(200), Duration::from_millis(1500))
                .with_jitter(Jitter::Full),
        )
        .with_min_uptime(Duration::from_millis(500))
        .with_seed(seed)
}

/// Prints the notices worth reading, tallies all of them.
fn reporter(
    who: &'static str,
    clock: Clock,
    tallies: Tallies,
) -> impl FnMut(Notice<tungstenite::Error>) + Send + 'static {
    let mut answered_on_this_connection = 0;
    move |notice| {
        let mut tallies = tallies.lock().unwrap();
        let tally = tallies.entry(who).or_default();
        let show = match &notice {
            Notice::Connected { .. } => {
                tally.connected_at.push(clock.now());
                answered_on_this_connection = 0;
                true
            }
            Notice::HeartbeatAnswered { .. } => {
                tally.heartbeats += 1;
                answered_on_this_connection += 1;
                answered_on_this_connection == 1 // the first one per connection
            }
            Notice::Reconnecting { .. } => {
                tally.reconnects += 1;
                true
            }
            Notice::Disconnected { cause, .. } => {
                if *cause == keepalive::adapter::Cause::HeartbeatTimeout {
                    tally.heartbeat_timeouts += 1;
                }
                *cause != keepalive::adapter::Cause::ConnectFailed
            }
            Notice::Message(_) | Notice::GaveUp { .. } | Notice::Stopped => true,
            _ => false, // connecting, heartbeat sent, connect errors
        };
        if show {
            say(clock, who, &notice);
        }
    }
}

/// The server, in a runtime of its own: dropping the runtime is a crash
/// (every socket and the listener gone at once).
struct Node {
    runtime: Runtime,
    server: Server<String>,
    received: Arc<Mutex<Vec<(String, String)>>>,
}

impl Node {
    fn start(addr: SocketAddr, clock: Clock, online: &Arc<Mutex<Vec<String>>>) -> Node {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("tokio runtime");
        let received: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
        let (log, online) = (received.clone(), online.clone());
        let server = runtime.block_on(async move {
            let this: Arc<OnceLock<Server<String>>> = Arc::default();
            let replies = this.clone();
            let config = ServerConfig::default()
                .with_heartbeat(ServerHeartbeat::ping(
                    Duration::from_millis(750),
                    Duration::from_millis(750),
                ))
                .with_text_heartbeat("心跳测试", "心跳测试");
            let server = Server::builder(|headers| {
                let id = headers.get("x-client-id").and_then(|v| v.to_str().ok());
                id.map(str::to_owned).ok_or(Refusal::Unauthorized)
            })
            .config(config)
            .on_message(move |m| {
                if let Message::Text(text) = &m.message {
                    say(clock, "server", format_args!("{} says {text:?}", m.client));
                    log.lock().unwrap().push((m.client.clone(), text.clone()));
                    if let Some(server) = replies.get() {
                        let _ = server.send(m.conn, format!("echo {text}"));
                    }
                }
            })
            .build()
            .expect("valid server config");
            let _ = this.set(server.clone());
            let listener = TcpListener::bind(addr)
                .await
                .unwrap_or_else(|e| fail(&format!("cannot listen on {addr}: {e}")));
            say(
                clock,
                "server",
                format_args!("listening on ws://{}", listener.local_addr().unwrap()),
            );
            let mut changes = server.changes();
            tokio::spawn(async move {
                loop {
                    match changes.recv().await {
                        Ok(PresenceChange::Online(id)) => {
                            say(clock, "server", format_args!("{id} is ONLINE"));
                            online.lock().unwrap().push(id);
                        }
                        Ok(PresenceChange::Offline(id, why)) => {
                            let why = match why {
                                OfflineReason::Silent => "silent past the timeout",
                                _ => "closed",
                            };
                            say(clock, "server", format_args!("{id} is OFFLINE ({why})"));
                        }
                        Err(RecvError::Lagged(_)) => {}
                        Err(RecvError::Closed) => return,
                    }
                }
            });
            let serving = server.clone();
            tokio::spawn(async move { serving.listen(listener).await });
            server
        });
        Node {
            runtime,
            server,
            received,
        }
    }

    fn online(&self) -> Vec<String> {
        let mut ids = self.server.online();
        ids.sort();
        ids
    }

    /// A crash, as far as the clients can tell.
    fn kill(self) {
        self.runtime.shutdown_background();
    }
}

fn fail(why: &str) -> ! {
    println!("\nFAILED: {why}");
    std::process::exit(1);
}

/// Binds a free loopback port and lets it go, for the server to take (and
/// take again after its restart).
fn free_addr() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().expect("its address")
}

fn main() {
    let clock = Clock::new();
    let tallies: Tallies = Arc::default();
    let online = Arc::new(Mutex::new(Vec::new()));
    println!(
        "keepalive demo: 1 server, 3 clients (blocking, tokio, smol) through a proxy, heartbeat 300 ms / timeout 300 ms\n"
    );

    let server_addr = free_addr();
    let server = Node::start(server_addr, clock, &online);
    // The network between clients and server (the tokio client runs here too).
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let proxy = runtime
        .block_on(Proxy::start(server_addr))
        .unwrap_or_else(|e| fail(&format!("cannot start the proxy: {e}")));
    let addr = proxy.addr;

    // client-1: the blocking driver, WebSocket pings.
    let c1 = blocking::Client::with_timer(
        config(1),
        Options::default(),
        BlockingWs(Endpoint::new(addr, "client-1")),
        blocking::StdTimer::with_clock(clock),
    )
    .expect("valid config");
    let h1 = c1.handle();
    let t1 = c1.spawn(reporter("client-1", clock, tallies.clone()));

    // client-2: keepalive-tokio, the article's text heartbeat.
    let request = move || {
        let mut request = format!("ws://{addr}/")
            .into_client_request()
            .expect("a valid URL");
        request
            .headers_mut()
            .insert("x-client-id", "client-2".parse().expect("a header"));
        request
    };
    let options = Options::default().with_heartbeat(Heartbeat::text("心跳测试"));
    let (h2, mut events2) = {
        let _inside = runtime.enter();
        keepalive_tokio::connect(request, config(2), options).expect("valid config")
    };
    let mut notify2 = reporter("client-2", clock, tallies.clone());
    let t2 = runtime.spawn(async move {
        use futures_util::StreamExt;
        while let Some(notice) = events2.next().await {
            notify2(notice);
        }
        events2.outcome().await
    });

    // client-3: smol.
    let c3 = asynchronous::Client::new(
        config(3),
        Options::default(),
        SmolWs(Endpoint::new(addr, "client-3")),
        SmolSleep(clock),
    )
    .expect("valid config");
    let h3 = c3.handle();
    let notify3 = reporter("client-3", clock, tallies.clone());
    let t3 = std::thread::spawn(move || smol::block_on(c3.run(notify3)));

    // Act 1: connected, heartbeats flowing, presence.
    std::thread::sleep(Duration::from_millis(1200));
    say(
        clock,
        "server",
        format_args!("online now: {:?}", server.online()),
    );
    h1.send("hello from client-1").ok();
    std::thread::sleep(Duration::from_millis(300));

    // Act 2: the server dies.
    println!();
    say(clock, "demo", "*** killing the server ***");
    server.kill();
    let killed_at = clock.now();
    std::thread::sleep(Duration::from_millis(400));
    match h2.send("sent during the outage") {
        Ok(()) => say(clock, "client-2", "queued \"sent during the outage\""),
        Err(e) => fail(&format!("client-2 could not queue: {e}")),
    }
    std::thread::sleep(Duration::from_millis(1800));

    // Act 3: it comes back on the same port.
    println!();
    say(
        clock,
        "demo",
        "*** restarting the server on the same port ***",
    );
    online.lock().unwrap().clear();
    let restarted_at = clock.now();
    let server = Node::start(server_addr, clock, &online);
    wait_until(Duration::from_secs(5), || online.lock().unwrap().len() == 3);
    say(
        clock,
        "server",
        format_args!("online now: {:?}", server.online()),
    );
    std::thread::sleep(Duration::from_millis(500));

    // Act 4: a silent proxy: sockets stay open, nothing passes.
    println!();
    say(
        clock,
        "demo",
        "*** the proxy freezes (sockets open, nothing passes) ***",
    );
    proxy.set_frozen(true);
    let frozen_at = clock.now();
    std::thread::sleep(Duration::from_millis(1000));
    say(clock, "demo", "*** the proxy thaws ***");
    proxy.set_frozen(false);
    wait_until(Duration::from_secs(5), || {
        let tallies = tallies.lock().unwrap();
        tallies
            .values()
            .all(|t| t.connected_at.last().is_some_and(|at| *at > frozen_at))
    });
    std::thread::sleep(Duration::from_millis(500));

    // The end: close everyone, check the story.
    println!();
    say(clock, "demo", "closing the clients");
    for handle in [&h1, &h2, &h3] {
        handle.close();
    }
    let outcomes: Vec<Outcome> = vec![
        t1.join().expect("client-1 panicked"),
        runtime.block_on(t2).expect("client-2 panicked"),
        t3.join().expect("client-3 panicked"),
    ];
    std::thread::sleep(Duration::from_millis(100));
    let received = server.received.lock().unwrap().clone();
    server.kill();
    runtime.shutdown_timeout(Duration::from_secs(1));

    summarize(
        clock,
        &tallies,
        &outcomes,
        &received,
        killed_at,
        restarted_at,
        frozen_at,
    );
}

fn wait_until(limit: Duration, cond: impl Fn() -> bool) {
    let start = std::time::Instant::now();
    while !cond() && start.elapsed() < limit {
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn summarize(
    clock: Clock,
    tallies: &Tallies,
    outcomes: &[Outcome],
    received: &[(String, String)],
    killed_at: Instant,
    restarted_at: Instant,
    frozen_at: Instant,
) {
    let tallies = tallies.lock().unwrap();
    println!("\nsummary after {}:", clock.now());
    let mut problems = Vec::new();
    for who in ["client-1", "client-2", "client-3"] {
        let Some(t) = tallies.get(who) else {
            problems.push(format!("{who} reported nothing"));
            continue;
        };
        let back = t.connected_at.iter().find(|at| **at >= restarted_at);
        println!(
            "  {who}: {} connections, {} heartbeats answered, {} reconnects scheduled, \
             {} heartbeat timeouts, back {} after the restart",
            t.connected_at.len(),
            t.heartbeats,
            t.reconnects,
            t.heartbeat_timeouts,
            back.map_or("never".into(), |at| format!(
                "{} ms",
                at.saturating_duration_since(restarted_at).as_millis()
            )),
        );
        if back.is_none() {
            problems.push(format!("{who} did not reconnect after the restart"));
        }
        if !t.connected_at.iter().any(|at| *at > frozen_at) {
            problems.push(format!("{who} did not recover from the frozen server"));
        }
        if t.connected_at.first().is_none_or(|at| *at > killed_at) {
            problems.push(format!("{who} never connected before the kill"));
        }
    }
    if tallies.values().all(|t| t.heartbeat_timeouts == 0) {
        problems.push("nobody detected the frozen server".into());
    }
    if !received
        .iter()
        .any(|(who, text)| who == "client-2" && text == "sent during the outage")
    {
        problems.push("the message queued during the outage never arrived".into());
    }
    for outcome in outcomes {
        if !outcome.unsent.is_empty() || outcome.exit != keepalive::adapter::Exit::Stopped {
            problems.push(format!("unexpected outcome {outcome:?}"));
        }
    }
    if problems.is_empty() {
        println!(
            "\nOK: every client came back after the restart and after the freeze; nothing was lost."
        );
    } else {
        fail(&problems.join("; "));
    }
}
