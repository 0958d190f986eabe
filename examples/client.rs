//! A tokio client kept alive by `keepalive-tokio`: connects to
//! `examples/server.rs`, sends a line every few seconds, prints every state
//! change, and survives the server being killed and restarted.
//!
//! ```text
//! cargo run --example server                        # in one terminal
//! cargo run --example client -- --id alice          # in another
//! cargo run --example client -- --id bob --for-ms 20000 --text-heartbeat
//! ```
//!
//! The id goes in the `X-Client-Id` header and a token, if any, in
//! `Authorization: Bearer …`: never in the URL, where proxies and logs keep
//! it. The request is rebuilt before every attempt, so a real application
//! would fetch a fresh token there.

use std::time::Duration;

use futures_util::StreamExt;
use keepalive::adapter::{Heartbeat, Options};
use keepalive::{Clock, Config};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let (mut addr, mut id, mut token, mut run_for, mut text) = (
        "127.0.0.1:9001".to_string(),
        "client".to_string(),
        None,
        60_000,
        false,
    );
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || {
            args.next()
                .unwrap_or_else(|| usage(&format!("{flag} needs a value")))
        };
        match flag.as_str() {
            "--addr" => addr = value(),
            "--id" => id = value(),
            "--token" => token = Some(value()),
            "--for-ms" => run_for = value().parse().unwrap_or_else(|_| usage("bad --for-ms")),
            "--text-heartbeat" => text = true,
            "-h" | "--help" => usage(""),
            other => usage(&format!("unknown argument {other}")),
        }
    }
    let url = format!("ws://{addr}/");
    if url.as_str().into_client_request().is_err() {
        usage("bad --addr");
    }
    let who = id.clone();
    let request = move || {
        let mut request = url.as_str().into_client_request().expect("checked above");
        let headers = request.headers_mut();
        headers.insert("x-client-id", who.parse().expect("an id fit for a header"));
        if let Some(token) = &token {
            let bearer = format!("Bearer {token}")
                .parse()
                .expect("a token fit for a header");
            headers.insert("authorization", bearer);
        }
        request
    };
    // Short enough to watch: a heartbeat after 2 s of silence, 2 s to answer.
    let config = Config::default()
        .with_heartbeat_interval(Duration::from_secs(2))
        .with_heartbeat_timeout(Duration::from_secs(2));
    let heartbeat = if text {
        Heartbeat::text("心跳测试")
    } else {
        Heartbeat::Ping
    };
    let options = Options::default().with_heartbeat(heartbeat);
    let (handle, mut events) =
        keepalive_tokio::connect(request, config, options).expect("valid config");

    // The application: a line every 3 s. While disconnected the lines wait
    // in the client's queue and go out, in order, after the reconnect.
    let clock = Clock::new();
    let mut tick = tokio::time::interval(Duration::from_secs(3));
    let stop = tokio::time::sleep(Duration::from_millis(run_for));
    tokio::pin!(stop);
    let mut n = 0;
    loop {
        tokio::select! {
            _ = tick.tick() => {
                n += 1;
                if let Err(refused) = handle.send(format!("{id} says {n}")) {
                    println!("t={}  {id}  not sent: {refused}", clock.now());
                }
            }
            event = events.next() => match event {
                Some(event) => println!("t={}  {id}  {event}", clock.now()),
                None => break, // gave up
            },
            _ = &mut stop => break,
        }
    }
    handle.close();
    while let Some(event) = events.next().await {
        println!("t={}  {id}  {event}", clock.now());
    }
    println!(
        "t={}  {id}  finished: {:?}",
        clock.now(),
        events.outcome().await.exit
    );
}

fn usage(problem: &str) -> ! {
    eprintln!(
        "{problem}\nusage: client [--addr 127.0.0.1:9001] [--id NAME] [--token T] [--for-ms MS] [--text-heartbeat]"
    );
    std::process::exit(if problem.is_empty() { 0 } else { 2 });
}
