//! A tokio client kept alive by `keepalive`: connects to `examples/server.rs`,
//! sends a line every few seconds, prints every state change, and survives
//! the server being killed and restarted.
//!
//! ```text
//! cargo run --example server                        # in one terminal
//! cargo run --example client -- --id alice          # in another
//! cargo run --example client -- --id bob --for-ms 20000 --text-heartbeat
//! ```
//!
//! The id goes in the `X-Client-Id` header and a token, if any, in
//! `Authorization: Bearer …`: never in the URL, where proxies and logs keep it.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::client::{Endpoint, TokioSleep, TokioWs};
use keepalive::adapter::{Heartbeat, Options, asynchronous};
use keepalive::{Clock, Config};

struct Args {
    addr: SocketAddr,
    id: String,
    token: Option<String>,
    run_for: Duration,
    text_heartbeat: bool,
}

fn args() -> Args {
    let mut out = Args {
        addr: ([127, 0, 0, 1], 9001).into(),
        id: "client".into(),
        token: None,
        run_for: Duration::from_secs(60),
        text_heartbeat: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || {
            args.next()
                .unwrap_or_else(|| usage(&format!("{flag} needs a value")))
        };
        match flag.as_str() {
            "--addr" => out.addr = value().parse().unwrap_or_else(|_| usage("bad --addr")),
            "--id" => out.id = value(),
            "--token" => out.token = Some(value()),
            "--for-ms" => {
                let ms = value().parse().unwrap_or_else(|_| usage("bad --for-ms"));
                out.run_for = Duration::from_millis(ms);
            }
            "--text-heartbeat" => out.text_heartbeat = true,
            "-h" | "--help" => usage(""),
            other => usage(&format!("unknown argument {other}")),
        }
    }
    out
}

fn usage(why: &str) -> ! {
    eprintln!(
        "{why}\nusage: client [--addr 127.0.0.1:9001] [--id NAME] [--token T] [--for-ms MS] [--text-heartbeat]"
    );
    std::process::exit(2)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args = args();
    let clock = Clock::new();
    // Short enough to watch: a heartbeat after 2 s of silence, 2 s to answer.
    let config = Config::default()
        .with_heartbeat_interval(Duration::from_secs(2))
        .with_heartbeat_timeout(Duration::from_secs(2));
    let heartbeat = match args.text_heartbeat {
        true => Heartbeat::text("心跳测试"),
        false => Heartbeat::Ping,
    };
    let mut endpoint = Endpoint::new(args.addr, &args.id);
    if let Some(token) = &args.token {
        endpoint = endpoint.with_token(token);
    }
    let client = asynchronous::Client::new(
        config,
        Options::default().with_heartbeat(heartbeat),
        TokioWs(endpoint),
        TokioSleep(clock),
    )
    .expect("valid config");
    let handle = client.handle();
    let id = args.id.clone();
    let run = tokio::spawn(client.run(move |notice| println!("t={}  {id}  {notice}", clock.now())));

    // The application: a line every 3 s. While disconnected the lines wait
    // in the adapter's queue and go out, in order, after the reconnect.
    let mut tick = tokio::time::interval(Duration::from_secs(3));
    let stop = tokio::time::sleep(args.run_for);
    tokio::pin!(stop);
    for n in 1.. {
        tokio::select! {
            _ = tick.tick() => {
                if let Err(refused) = handle.send(format!("{} says {n}", args.id)) {
                    println!("t={}  {}  not sent: {refused}", clock.now(), args.id);
                }
            }
            _ = &mut stop => break,
        }
    }
    handle.close();
    let outcome = run.await.expect("the run loop does not panic");
    println!(
        "t={}  {}  finished: {:?}",
        clock.now(),
        args.id,
        outcome.exit
    );
}
