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
//!
//! Try it with `cargo run --example client -- --id alice`, or any client:
//! `websocat -H 'X-Client-Id: me' ws://127.0.0.1:9001/`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use keepalive::adapter::Message;
use keepalive::{OfflineReason, ServerHeartbeat};
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

    let mut changes = server.changes();
    let clock = server.clock();
    tokio::spawn(async move {
        loop {
            match changes.recv().await {
                Ok(PresenceChange::Online(id)) => {
                    println!("t={}  server  {id} is ONLINE", clock.now())
                }
                Ok(PresenceChange::Offline(id, why)) => {
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

fn usage(problem: &str) -> ! {
    eprintln!(
        "{problem}\nusage: server [--addr IP:PORT] [--timeout-ms N] [--heartbeat-text TEXT | --no-heartbeat-text] \
         [--refuse TOKEN]... [--run-for-ms N]"
    );
    std::process::exit(if problem.is_empty() { 0 } else { 2 });
}
