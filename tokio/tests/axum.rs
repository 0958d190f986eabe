//! The server behind axum's `WebSocketUpgrade` (feature `axum`): the same
//! admission, keepalive and presence as with tokio-tungstenite.
#![cfg(feature = "axum")]

mod common;

use axum::extract::{State, WebSocketUpgrade};
use axum::http::HeaderMap;
use axum::response::Response;
use common::*;
use keepalive::adapter::{Message, Notice, Options};
use keepalive::{Config, OfflineReason, ServerHeartbeat};
use keepalive_tokio::server::{PresenceChange, Server, ServerConfig};
use std::sync::OnceLock;

async fn live(
    State(server): State<Server<String>>,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Response {
    server.upgrade(upgrade, &headers)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn axum_sockets_run_under_the_servers_keepalive() {
    // The message handler answers through the server, which it cannot hold
    // before it is built: a cell set right after.
    static SERVER: OnceLock<Server<String>> = OnceLock::new();
    let config = ServerConfig::default().with_heartbeat(ServerHeartbeat::ping(ms(200), ms(200)));
    let server = Server::builder(identify)
        .config(config)
        .on_message(|m| {
            if let (Some(server), Message::Text(text)) = (SERVER.get(), &m.message) {
                let _ = server.send(m.conn, format!("echo {text}"));
            }
        })
        .build()
        .unwrap();
    let _ = SERVER.set(server.clone());
    let app = axum::Router::new()
        .route("/", axum::routing::get(live))
        .with_state(server.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let mut changes = server.changes();

    // Two tabs of alice, kept alive by server pings across several periods.
    let tab = |_| {
        keepalive_tokio::connect(
            move || request(addr, "alice"),
            Config::default(),
            Options::default(),
        )
        .unwrap()
    };
    let (tab1, mut events1) = tab(1);
    let (tab2, _events2) = tab(2);
    until("two tabs", ms(5000), || {
        server.connections_of(&"alice".to_owned()) == 2
    })
    .await;
    tab1.send("hi").unwrap();
    let echo = await_notice(&mut events1, "the echo", ms(5000), |e| match e {
        Notice::Message(message) => Some(message),
        _ => None,
    })
    .await;
    assert_eq!(echo, Message::text("echo hi"));
    tokio::time::sleep(ms(1000)).await; // five ping periods, answered by the clients
    assert_eq!(server.connections_of(&"alice".to_owned()), 2);
    tab1.close();
    until("one tab", ms(5000), || {
        server.connections_of(&"alice".to_owned()) == 1
    })
    .await;
    assert!(server.status(&"alice".to_owned()).is_online());
    tab2.close();
    until("offline", ms(5000), || {
        !server.status(&"alice".to_owned()).is_online()
    })
    .await;
    assert_eq!(
        changes.recv().await.unwrap(),
        PresenceChange::Online("alice".into())
    );
    assert_eq!(
        changes.recv().await.unwrap(),
        PresenceChange::Offline("alice".into(), OfflineReason::Ended)
    );

    // Refused by identify: 401, and our client gives up.
    let (_handle, mut refused) = keepalive_tokio::connect(
        move || request(addr, "nobody"),
        Config::default(),
        Options::default(),
    )
    .unwrap();
    let gave_up = await_notice(&mut refused, "give up", ms(5000), |e| match e {
        Notice::GaveUp { attempts } => Some(attempts),
        _ => None,
    })
    .await;
    assert_eq!(gave_up, 0);
}
