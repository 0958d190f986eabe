//! A WebSocket server that answers heartbeats and tracks presence.
//!
//! ```text
//! cargo run --example server -- --addr 127.0.0.1:9001 --timeout-ms 3000 \
//!     --heartbeat-text 心跳测试 --refuse revoked-token [--run-for-ms 60000] \
//!     [--redis redis://127.0.0.1:6379 --node node-a]
//! ```
//!
//! - WebSocket pings are answered with pongs, the text heartbeat with the
//!   same text (the article's browser client counts any message as the
//!   reply), other text messages with `echo …`.
//! - The client's id is its `X-Client-Id` header; a token comes in
//!   `Authorization: Bearer …` (never in the URL). A `--refuse`d token gets
//!   HTTP 401 on the upgrade, which makes the keepalive client give up.
//! - Online/offline transitions are logged from `Presence`: last-seen is the
//!   server's clock at receipt; clients silent past `--timeout-ms` are
//!   reported offline and closed.
//! - `--redis URL` joins a fleet: presence is mirrored into that Redis
//!   (keys `keepalive:presence:<id>` with a TTL of timeout × 4/3, written at
//!   most once per timeout / 3 per client), so every node started with the
//!   same URL and its own `--node NAME` sees the clients of all of them.
//!   Without it, presence stays in this process.
//!
//! Try it with `cargo run --example demo`, or any WebSocket client:
//! `websocat -H 'X-Client-Id: me' ws://127.0.0.1:9001/`.

mod common;

use std::time::Duration;

use common::server::{Server, ServerConfig};
use keepalive::Clock;

fn main() {
    let mut config = ServerConfig::loopback();
    config.addr = ([127, 0, 0, 1], 9001).into();
    let mut run_for = None;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || {
            args.next()
                .unwrap_or_else(|| usage(&format!("{flag} needs a value")))
        };
        match flag.as_str() {
            "--addr" => config.addr = value().parse().unwrap_or_else(|_| usage("bad --addr")),
            "--timeout-ms" => config.timeout = Duration::from_millis(number(&value())),
            "--heartbeat-text" => config.heartbeat_text = Some(value()),
            "--no-heartbeat-text" => config.heartbeat_text = None,
            "--refuse" => config.refuse.push(value()),
            "--run-for-ms" => run_for = Some(Duration::from_millis(number(&value()))),
            "--redis" => config.redis = Some(value()),
            "--node" => config.node = value(),
            "-h" | "--help" => usage(""),
            other => usage(&format!("unknown argument {other}")),
        }
    }
    let clock = Clock::new();
    let server = Server::start(config.clone(), clock, move |event| {
        println!("t={}  server  {event}", clock.now());
    })
    .unwrap_or_else(|e| {
        eprintln!("cannot start on {}: {e}", config.addr);
        std::process::exit(1);
    });
    println!(
        "listening on ws://{} (timeout {} ms, text heartbeat {:?}, refusing {:?})",
        server.addr(),
        config.timeout.as_millis(),
        config.heartbeat_text,
        config.refuse
    );
    if let Some(url) = &config.redis {
        println!("fleet node {} sharing presence through {url}", config.node);
    }
    match run_for {
        Some(d) => std::thread::sleep(d),
        None => loop {
            std::thread::park();
        },
    }
    server.kill();
}

fn number(s: &str) -> u64 {
    s.parse()
        .unwrap_or_else(|_| usage(&format!("not a number: {s}")))
}

fn usage(problem: &str) -> ! {
    if !problem.is_empty() {
        eprintln!("error: {problem}");
    }
    eprintln!(
        "usage: server [--addr IP:PORT] [--timeout-ms N] [--heartbeat-text TEXT | --no-heartbeat-text] \
         [--refuse TOKEN]... [--run-for-ms N] [--redis redis://HOST:PORT [--node NAME]]"
    );
    std::process::exit(if problem.is_empty() { 0 } else { 2 });
}
