//! Our client against our server: a graceful restart spreads the comeback,
//! shedding is honoured, and the article's text heartbeat works end to end.

mod common;

use std::sync::{Arc, Mutex};

use common::*;
use keepalive::adapter::{Heartbeat, Message, Notice, Options};
use keepalive::{Config, ServerHeartbeat, SessionsConfig};
use keepalive_tokio::server::{Server, ServerConfig};
use tokio::net::TcpListener;

fn client_config() -> Config {
    Config::default()
        .with_heartbeat_interval(ms(1000))
        .with_heartbeat_timeout(ms(1000))
}

/// `shutdown` closes everyone with 1012; each client waits at least 1 s
/// (the restart delay) plus its own jitter, so twenty clients come back
/// spread out, to the new server on the same port.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_graceful_restart_spreads_the_comeback() {
    let old = Server::builder(identify).build().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let serving = old.clone();
    tokio::spawn(async move { serving.listen(listener).await });
    let mut clients = Vec::new();
    for i in 0..20 {
        let request = move || request(addr, &format!("user-{i}"));
        clients
            .push(keepalive_tokio::connect(request, client_config(), Options::default()).unwrap());
    }
    until("20 online", ms(5000), || old.online_count() == 20).await;
    within("shutdown", ms(5000), old.shutdown()).await;
    let mut delays = Vec::new();
    for (_, events) in &mut clients {
        let delay = await_notice(events, "a reconnect", ms(5000), |e| match e {
            Notice::Reconnecting { delay, .. } => Some(delay),
            _ => None,
        })
        .await;
        delays.push(delay);
    }
    delays.sort();
    assert!(delays[0] >= ms(1000), "{delays:?}");
    assert!(delays[19] <= ms(1500), "{delays:?}");
    assert!(delays[19] - delays[0] >= ms(100), "spread: {delays:?}");
    // The new process takes the same port; everyone is back.
    let new = Server::builder(identify).build().unwrap();
    let listener = TcpListener::bind(addr).await.unwrap();
    let serving = new.clone();
    tokio::spawn(async move { serving.listen(listener).await });
    until("20 back", ms(5000), || new.online_count() == 20).await;
    for (handle, _) in &clients {
        handle.close();
    }
}

/// A full server refuses with 503 and a `Retry-After`; the refused client
/// waits at least that long, then gets in once there is room.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_server_sheds_and_the_client_comes_back_later() {
    let config = ServerConfig::default()
        .with_sessions(SessionsConfig::default().with_capacity(1))
        .with_retry_after(ms(1000));
    let server = Server::builder(identify).config(config).build().unwrap();
    let addr = listen(&server).await;
    let first = raw(addr, "first").await;
    let (handle, mut events) = keepalive_tokio::connect(
        move || request(addr, "second"),
        client_config(),
        Options::default(),
    )
    .unwrap();
    let delay = await_notice(&mut events, "a reconnect", ms(5000), |e| match e {
        Notice::Reconnecting { delay, .. } => Some(delay),
        _ => None,
    })
    .await;
    // Retry-After is 1 or 2 s; the client adds up to 50 %.
    assert!(delay >= ms(1000) && delay <= ms(3000), "{delay:?}");
    drop(first);
    await_notice(&mut events, "connected", ms(10_000), |e| {
        matches!(e, Notice::Connected { .. }).then_some(())
    })
    .await;
    assert!(server.status(&"second".to_owned()).is_online());
    handle.close();
}

/// The article's protocol end to end: the client heartbeats with the text
/// frame, the passive server answers it, both stay up through several
/// heartbeat periods, and application messages still get through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_articles_text_heartbeat_end_to_end() {
    let echoed = Arc::new(Mutex::new(Vec::new()));
    let config = ServerConfig::default()
        .with_heartbeat(ServerHeartbeat::passive(ms(300), ms(300)))
        .with_text_heartbeat("心跳测试", "心跳测试");
    let log = echoed.clone();
    let server = Server::builder(identify)
        .config(config)
        .on_message(move |m| log.lock().unwrap().push(m.message))
        .build()
        .unwrap();
    let addr = listen(&server).await;
    let client = Config::default()
        .with_heartbeat_interval(ms(200))
        .with_heartbeat_timeout(ms(200));
    let options = Options::default().with_heartbeat(Heartbeat::text("心跳测试"));
    let (handle, mut events) =
        keepalive_tokio::connect(move || request(addr, "article"), client, options).unwrap();
    let mut answered = 0;
    await_notice(
        &mut events,
        "five answered heartbeats",
        ms(5000),
        |e| match e {
            Notice::HeartbeatAnswered { .. } => {
                answered += 1;
                (answered == 5).then_some(())
            }
            Notice::Disconnected { .. } => panic!("dropped"),
            _ => None,
        },
    )
    .await;
    handle.send("hello").unwrap();
    until("the message", ms(2000), || {
        !echoed.lock().unwrap().is_empty()
    })
    .await;
    assert_eq!(
        *echoed.lock().unwrap(),
        [Message::text("hello")],
        "heartbeats kept out"
    );
    assert_eq!(
        server.connections_of(&"article".to_owned()),
        1,
        "never reconnected"
    );
    handle.close();
}

/// The application closes a connection with 1008 (its token was revoked):
/// our client gives up instead of reconnecting.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_close_with_1008_makes_the_client_give_up() {
    let conns = Arc::new(Mutex::new(Vec::new()));
    let seen = conns.clone();
    let server = Server::builder(identify)
        .on_message(move |m| seen.lock().unwrap().push(m.conn))
        .build()
        .unwrap();
    let addr = listen(&server).await;
    let (handle, mut events) = keepalive_tokio::connect(
        move || request(addr, "mallory"),
        client_config(),
        Options::default(),
    )
    .unwrap();
    handle.send("hi").unwrap();
    until("the message", ms(5000), || {
        !conns.lock().unwrap().is_empty()
    })
    .await;
    let conn = conns.lock().unwrap()[0];
    assert!(server.close(conn, 1008, format!("token {} revoked", 42)));
    let attempts = await_notice(&mut events, "give up", ms(5000), |e| match e {
        Notice::GaveUp { attempts } => Some(attempts),
        _ => None,
    })
    .await;
    assert_eq!(attempts, 0);
    until("gone", ms(5000), || server.connection_count() == 0).await;
    assert!(!server.close(conn, 1008, "again"), "no longer live");
}
