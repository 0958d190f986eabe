//! A WebSocket server that keeps its clients alive and tracks presence, on
//! `keepalive-tokio`.
//!
//! ```text
//! cargo run --example server -- --addr 127.0.0.1:9001 --timeout-ms 3000 \
//!     --heartbeat-text 心跳测试 --refuse revoked-token [--run-for-ms 60000]
//! ```
//!
//! - Every connection is pinged after `--timeout-ms / 2` of silence and
//!   closed when the ping goes unanswered as long again: a silent client is
//!   offline `--timeout-ms` after its last frame. The article's text
//!   heartbeat is answered with the same text; other text gets `echo …`.
//! - Who connects: the `X-Client-Id` header (a browser offers `id.<name>` as
//!   a subprotocol), else a `guest-N`. A token in `Authorization: Bearer …`
//!   (or an `auth.<token>` subprotocol), never the URL; a `--refuse`d token
//!   gets HTTP 401, and the keepalive client gives up.
//! - Presence is per client across its connections: `… is ONLINE` at the
//!   first, `… is OFFLINE (…)` after the last.
//! - `--redis URL --node NAME` joins a fleet through `keepalive-redis`: this
//!   node's clients are mirrored into Redis, and the changes of every other
//!   node are logged (`fleet  bob is ONLINE on node-b`).
//!
//! Try it with `cargo run --example client -- --id alice`, or any client:
//! `websocat -H 'X-Client-Id: me' ws://127.0.0.1:9001/`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use futures_util::StreamExt;
use keepalive::adapter::Message;
use keepalive::{FleetConfig, OfflineReason, PresenceConfig, ServerHeartbeat};
use keepalive_redis::{FeedConfig, FleetChange, FleetFeed, FleetNode, Runner};
use keepalive_tokio::server::{PresenceChange, Refusal, Server, ServerConfig, subprotocol};
use tokio::net::TcpListener;
use tokio::sync::broadcast::error::RecvError;

#[tokio::main]
async fn main() {
    let (mut addr, mut timeout, mut text, mut refuse, mut run_for) = (
        "127.0.0.1:9001".to_string(),
        3000,
        Some("心跳测试".to_string()),
        Vec::new(),
        None,
    );
    let (mut redis, mut node) = (None, "node-1".to_string());
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || {
            args.next()
                .unwrap_or_else(|| usage(&format!("{flag} needs a value")))
        };
        match flag.as_str() {
            "--addr" => addr = value(),
            "--timeout-ms" => {
                timeout = value()
                    .parse()
                    .unwrap_or_else(|_| usage("bad --timeout-ms"))
            }
            "--heartbeat-text" => text = Some(value()),
            "--no-heartbeat-text" => text = None,
            "--refuse" => refuse.push(value()),
            "--redis" => redis = Some(value()),
            "--node" => node = value(),
            "--run-for-ms" => {
                run_for = Some(
                    value()
                        .parse()
                        .unwrap_or_else(|_| usage("bad --run-for-ms")),
                )
            }
            "-h" | "--help" => usage(""),
            other => usage(&format!("unknown argument {other}")),
        }
    }
    let half = Duration::from_millis(timeout / 2);
    let mut config = ServerConfig::default().with_heartbeat(ServerHeartbeat::ping(half, half));
    if let Some(text) = &text {
        config = config.with_text_heartbeat(text.clone(), text.clone());
    }
    let guests = AtomicU64::new(1);
    let this: Arc<OnceLock<Server<String>>> = Arc::default();
    let replies = this.clone();
    let server = Server::builder(move |headers| {
        let header = |name| headers.get(name).and_then(|v| v.to_str().ok());
        let token = header("authorization").and_then(|v| v.strip_prefix("Bearer "));
        if token
            .or(subprotocol(headers, "auth."))
            .is_some_and(|t| refuse.iter().any(|r| r == t))
        {
            println!(
                "{} refused: HTTP 401",
                header("x-client-id").unwrap_or("a client")
            );
            return Err(Refusal::Unauthorized);
        }
        let id = header("x-client-id").or(subprotocol(headers, "id."));
        Ok(id.map_or_else(
            || format!("guest-{}", guests.fetch_add(1, Ordering::Relaxed)),
            str::to_owned,
        ))
    })
    .config(config)
    .on_message(move |m| {
        if let (Message::Text(said), Some(server)) = (&m.message, replies.get()) {
            println!(
                "t={}  server  {} says {said:?}",
                server.clock().now(),
                m.client
            );
            let _ = server.send(m.conn, format!("echo {said}"));
        }
    })
    .build()
    .unwrap_or_else(|e| usage(&e.to_string()));
    let _ = this.set(server.clone());
    let listener = TcpListener::bind(&addr).await.unwrap_or_else(|e| {
        eprintln!("cannot start on {addr}: {e}");
        std::process::exit(1);
    });
    let local = listener.local_addr().expect("a bound address");
    println!("listening on ws://{local} (timeout {timeout} ms, text heartbeat {text:?})");

    let fleet = match redis {
        Some(url) => Some(join_fleet(&url, &node, Duration::from_millis(timeout)).await),
        None => None,
    };
    let mut changes = server.changes();
    let clock = server.clock();
    tokio::spawn(async move {
        loop {
            match changes.recv().await {
                Ok(PresenceChange::Online(id)) => {
                    println!("t={}  server  {id} is ONLINE", clock.now());
                    if let Some(fleet) = &fleet {
                        fleet.online(id);
                    }
                }
                Ok(PresenceChange::Offline(id, why)) => {
                    if let Some(fleet) = &fleet {
                        fleet.offline(id.clone());
                    }
                    let why = match why {
                        OfflineReason::Silent => "silent past the timeout",
                        OfflineReason::Ended => "closed",
                        _ => "closed by the server",
                    };
                    println!("t={}  server  {id} is OFFLINE ({why})", clock.now());
                }
                Err(RecvError::Lagged(missed)) => {
                    println!("t={}  server  ({missed} changes not logged)", clock.now())
                }
                Err(RecvError::Closed) => return,
            }
        }
    });
    let serving = server.clone();
    tokio::spawn(async move { serving.listen(listener).await });
    match run_for {
        Some(ms) => tokio::time::sleep(Duration::from_millis(ms)).await,
        None => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
    server.shutdown().await; // everyone gets 1012 and comes back, spread out
}

/// Mirrors this node's presence into the Redis at `url`, and logs what the
/// other nodes report.
async fn join_fleet(url: &str, node: &str, timeout: Duration) -> FleetNode<String> {
    let epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64); // a new incarnation per start
    let config =
        FleetConfig::new(node, epoch).with_presence(PresenceConfig::new().with_timeout(timeout));
    let fail =
        |e: &dyn std::fmt::Display| -> ! { usage(&format!("cannot join the fleet at {url}: {e}")) };
    let runner = Runner::connect(url, config.prefix())
        .await
        .unwrap_or_else(|e| fail(&e));
    let mut feed = FleetFeed::subscribe(url, FeedConfig::new(config.prefix(), config.ttl()))
        .await
        .unwrap_or_else(|e| fail(&e));
    println!("fleet node {node} sharing presence through {url}");
    let (me, clock) = (node.to_owned(), keepalive::Clock::new());
    tokio::spawn(async move {
        while let Some(change) = feed.next().await {
            match change {
                FleetChange::Online { client, node } if node != me => {
                    println!("t={}  fleet   {client} is ONLINE on {node}", clock.now())
                }
                FleetChange::Offline {
                    client,
                    node,
                    cause,
                } if node != me => {
                    println!(
                        "t={}  fleet   {client} is OFFLINE on {node} ({cause:?})",
                        clock.now()
                    )
                }
                _ => {}
            }
        }
    });
    FleetNode::spawn(runner, config).unwrap_or_else(|e| fail(&e))
}

fn usage(problem: &str) -> ! {
    eprintln!(
        "{problem}\nusage: server [--addr IP:PORT] [--timeout-ms N] [--heartbeat-text TEXT | --no-heartbeat-text] \
         [--refuse TOKEN]... [--run-for-ms N] [--redis redis://HOST:PORT [--node NAME]]"
    );
    std::process::exit(if problem.is_empty() { 0 } else { 2 });
}
