//! The server on real sockets: pings and closes on time, presence across
//! connections, shedding, shutdown, slow consumers, and a thousand clients.

mod common;

use std::sync::{Arc, Mutex};

use common::*;
use futures_util::{SinkExt, StreamExt};
use keepalive::adapter::Message;
use keepalive::{ClientStatus, OfflineReason, ServerHeartbeat, SessionsConfig};
use keepalive_tokio::server::{PresenceChange, SendError, Server, ServerConfig};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::{self, Error, protocol::frame::coding::CloseCode};

fn server(config: ServerConfig) -> Server<String> {
    Server::builder(identify)
        .config(config)
        .build()
        .expect("server")
}

fn ping_mode(interval: u64, timeout: u64) -> ServerConfig {
    ServerConfig::default().with_sessions(
        SessionsConfig::default()
            .with_heartbeat(ServerHeartbeat::ping(ms(interval), ms(timeout)))
            .with_close_timeout(ms(300)),
    )
}

/// A raw client that sends one frame and then neither reads nor answers
/// (a frozen tab, a dead NAT entry) is pinged `interval` after that frame,
/// reported offline `interval + timeout` after it, and aborted when it does
/// not complete the close either.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_client_is_closed_at_interval_plus_timeout() {
    let server = server(ping_mode(300, 200));
    let addr = listen(&server).await;
    let mut changes = server.changes();
    let mut socket = raw(addr, "frozen").await;
    let online = within("online", ms(2000), changes.recv()).await.unwrap();
    assert_eq!(online, PresenceChange::Online("frozen".into()));
    socket
        .send(tungstenite::Message::text("last words"))
        .await
        .unwrap();
    let last_frame = Instant::now();
    // From now on nothing reads the socket: pings go unanswered.
    let offline = within("offline", ms(3000), changes.recv()).await.unwrap();
    let detected = last_frame.elapsed();
    assert_eq!(
        offline,
        PresenceChange::Offline("frozen".into(), OfflineReason::Silent)
    );
    assert!(
        detected >= ms(490) && detected <= ms(500 + 250),
        "closed {detected:?} after the last frame; bound 500 ms, scheduling slack 250 ms"
    );
    // The close is never answered: the connection is aborted 300 ms later.
    until("the abort", ms(2000), || server.connection_count() == 0).await;
    assert!(last_frame.elapsed() >= ms(800));
    assert!(matches!(
        server.status(&"frozen".to_owned()),
        ClientStatus::Offline {
            reason: OfflineReason::Silent,
            ..
        }
    ));
    drop(socket);
}

/// A client that answers pings (tungstenite does, while it reads) is never
/// closed; its RTT is measured.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_answers_pings_stays() {
    let server = server(ping_mode(100, 100));
    let addr = listen(&server).await;
    let mut socket = raw(addr, "alive").await;
    let reader = tokio::spawn(async move {
        let mut pings = 0;
        let until = Instant::now() + ms(800);
        while let Ok(Some(Ok(frame))) = tokio::time::timeout_at(until, socket.next()).await {
            pings += usize::from(frame.is_ping());
        }
        (pings, socket)
    });
    let (pings, socket) = reader.await.unwrap();
    assert!(
        (5..=9).contains(&pings),
        "{pings} pings in 800 ms at 100 ms"
    );
    assert!(server.status(&"alive".to_owned()).is_online());
    drop(socket);
}

/// Two tabs of one user: closing one leaves her online; closing the other
/// makes her offline, with one Online and one Offline in the feed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_connections_under_one_id() {
    let server = server(ping_mode(5000, 5000));
    let addr = listen(&server).await;
    let mut changes = server.changes();
    let alice = "alice".to_owned();
    let mut tab1 = raw(addr, "alice").await;
    let mut tab2 = raw(addr, "alice").await;
    until("two connections", ms(2000), || {
        server.connections_of(&alice) == 2
    })
    .await;
    tab1.close(None).await.unwrap();
    while tab1.next().await.is_some() {}
    until("one connection", ms(2000), || {
        server.connections_of(&alice) == 1
    })
    .await;
    assert!(
        server.status(&alice).is_online(),
        "one tab closed: still online"
    );
    tab2.close(None).await.unwrap();
    while tab2.next().await.is_some() {}
    until("offline", ms(2000), || !server.status(&alice).is_online()).await;
    let mut feed = Vec::new();
    while let Ok(change) = changes.try_recv() {
        feed.push(change);
    }
    assert_eq!(
        feed,
        [
            PresenceChange::Online(alice.clone()),
            PresenceChange::Offline(alice, OfflineReason::Ended)
        ]
    );
}

/// Capacity + 1: the extra upgrade is refused with 503 and a jittered
/// `Retry-After` between 5 and 10 s, before any WebSocket exists; an
/// unknown client gets 401.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn beyond_capacity_the_upgrade_is_refused_with_503() {
    let config = ServerConfig::default().with_sessions(SessionsConfig::default().with_capacity(5));
    let server = server(config);
    let addr = listen(&server).await;
    let mut held = Vec::new();
    for i in 0..5 {
        held.push(raw(addr, &format!("c{i}")).await);
    }
    until("five connections", ms(2000), || {
        server.connection_count() == 5
    })
    .await;
    let mut delays = Vec::new();
    for _ in 0..20 {
        match tokio_tungstenite::connect_async(request(addr, "late")).await {
            Err(Error::Http(response)) => {
                assert_eq!(response.status(), 503);
                let secs: u64 = response.headers()["retry-after"]
                    .to_str()
                    .unwrap()
                    .parse()
                    .unwrap();
                delays.push(secs);
            }
            other => panic!("expected 503, got {other:?}"),
        }
    }
    assert!(delays.iter().all(|s| (5..=10).contains(s)), "{delays:?}");
    assert!(
        delays.iter().any(|&s| s != delays[0]),
        "jittered: {delays:?}"
    );
    assert_eq!(server.connection_count(), 5);
    match tokio_tungstenite::connect_async(request(addr, "nobody")).await {
        Err(Error::Http(response)) => assert_eq!(response.status(), 401),
        other => panic!("expected 401, got {other:?}"),
    }
}

/// Shutdown closes every connection with 1012 (Service Restart) and
/// returns once they are gone; upgrades meanwhile get 503.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_closes_everyone_with_1012() {
    let server = server(ping_mode(5000, 5000));
    let addr = listen(&server).await;
    let mut clients = Vec::new();
    for i in 0..10 {
        clients.push(raw(addr, &format!("u{i}")).await);
    }
    until("ten connections", ms(2000), || {
        server.connection_count() == 10
    })
    .await;
    let readers: Vec<_> = clients
        .into_iter()
        .map(|mut socket| {
            tokio::spawn(async move {
                let mut code = None;
                while let Some(Ok(frame)) = socket.next().await {
                    if let tungstenite::Message::Close(Some(close)) = frame {
                        code = Some(close.code);
                    }
                }
                code
            })
        })
        .collect();
    within("shutdown", ms(3000), server.shutdown()).await;
    assert_eq!(server.connection_count(), 0);
    for reader in readers {
        assert_eq!(reader.await.unwrap(), Some(CloseCode::Restart));
    }
    assert_eq!(server.online_count(), 0);
}

/// A client that never reads while the application keeps sending: the
/// bounded queue fills, the send reports a slow consumer, the connection is
/// dropped, and what the server accepted for it stayed bounded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_consumer_is_dropped_not_buffered() {
    let config = ping_mode(60_000, 60_000).with_outbound_queue(16);
    let conns = Arc::new(Mutex::new(Vec::new()));
    let seen = conns.clone();
    let server = Server::builder(identify)
        .config(config)
        .on_message(move |m| seen.lock().unwrap().push(m.conn))
        .build()
        .unwrap();
    let addr = listen(&server).await;
    let mut socket = raw(addr, "reader-that-never-reads").await;
    socket.send(tungstenite::Message::text("hi")).await.unwrap();
    until("the hello", ms(2000), || !conns.lock().unwrap().is_empty()).await;
    let conn = conns.lock().unwrap()[0];
    let chunk = Message::Binary(vec![7; 64 << 10]);
    let mut accepted = 0usize;
    let outcome = loop {
        match server.send(conn, chunk.clone()) {
            Ok(()) => accepted += 1,
            Err(e) => break e,
        }
        if accepted.is_multiple_of(16) {
            tokio::task::yield_now().await; // let the connection's task write
        }
        assert!(
            accepted < 4096,
            "256 MiB accepted for a client that does not read"
        );
    };
    assert!(
        matches!(outcome, SendError::SlowConsumer(_)),
        "{outcome} after {accepted} messages"
    );
    until("the drop", ms(2000), || server.connection_count() == 0).await;
    // Queue (16 × 64 KiB) + tungstenite's write buffer + the kernel's socket
    // buffers: a few MiB, whatever the application tried to send.
    let held = accepted * (64 << 10);
    assert!(held < 48 << 20, "accepted {} MiB", held >> 20);
    assert!(matches!(server.send(conn, "late"), Err(SendError::Gone(_))));
    drop(socket);
}

/// The article's protocol: passive mode, the client heartbeats in text and
/// the server answers it; heartbeats never reach the message handler.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_text_heartbeat_is_answered_and_not_delivered() {
    let messages = Arc::new(Mutex::new(Vec::new()));
    let seen = messages.clone();
    let config = ServerConfig::default()
        .with_heartbeat(ServerHeartbeat::passive(ms(200), ms(200)))
        .with_text_heartbeat("心跳测试", "心跳回复");
    let server = Server::builder(identify)
        .config(config)
        .on_message(move |m| seen.lock().unwrap().push(m.message))
        .build()
        .unwrap();
    let addr = listen(&server).await;
    let mut socket = raw(addr, "article").await;
    for _ in 0..6 {
        socket
            .send(tungstenite::Message::text("心跳测试"))
            .await
            .unwrap();
        let reply = within("reply", ms(1000), socket.next())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(reply.to_text().unwrap(), "心跳回复");
        tokio::time::sleep(ms(150)).await;
    }
    socket
        .send(tungstenite::Message::text("hello"))
        .await
        .unwrap();
    until("the message", ms(2000), || {
        !messages.lock().unwrap().is_empty()
    })
    .await;
    assert_eq!(*messages.lock().unwrap(), [Message::text("hello")]);
    // 900 ms in, beyond interval + timeout (400 ms): alive through heartbeats.
    assert!(server.status(&"article".to_owned()).is_online());
    // Silent now: passive mode closes it 400 ms after its last frame.
    let start = Instant::now();
    until("offline", ms(2000), || {
        !server.status(&"article".to_owned()).is_online()
    })
    .await;
    assert!(start.elapsed() >= ms(380), "{:?}", start.elapsed());
}

/// A thousand concurrent connections in one test: all online, all counted,
/// all gone after they close.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_connections() {
    let server = server(ping_mode(1000, 1000));
    let addr = listen(&server).await;
    // Each client keeps reading (so it answers the 1 s pings) from the moment
    // it is connected until told to close.
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let mut clients = Vec::new();
    for i in 0..1000 {
        let mut stopped = stopped.clone();
        clients.push(tokio::spawn(async move {
            let mut socket = raw(addr, &format!("user-{i}")).await;
            socket.send(tungstenite::Message::text("hi")).await.unwrap();
            loop {
                tokio::select! {
                    _ = stopped.wait_for(|stop| *stop) => break,
                    frame = socket.next() => if !matches!(frame, Some(Ok(_))) { break },
                }
            }
            socket.close(None).await.ok();
            while socket.next().await.is_some() {}
        }));
    }
    until("1000 online", ms(20_000), || server.online_count() == 1000).await;
    assert_eq!(server.connection_count(), 1000);
    // Two more ping periods: everyone answers, nobody is dropped.
    tokio::time::sleep(ms(2500)).await;
    assert_eq!(
        server.online_count(),
        1000,
        "nobody dropped while answering pings"
    );
    stop.send_replace(true);
    for client in clients {
        within("close", ms(10_000), client).await.unwrap();
    }
    until("all gone", ms(10_000), || server.connection_count() == 0).await;
    assert_eq!(server.online_count(), 0);
}
