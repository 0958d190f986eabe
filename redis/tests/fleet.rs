//! keepalive-redis against a real `redis-server` on a free loopback port:
//! pipelining, the change feed (announced, expired, two nodes), and a Redis
//! restart. Skipped with one line without redis-server; failed instead
//! under `KEEPALIVE_REQUIRE_SERVICES=1`.

use std::time::Duration;

use futures_util::StreamExt;
use keepalive::{FleetConfig, PresenceConfig, Status, StoreCommand};
use keepalive_redis::{FeedConfig, FleetChange, FleetFeed, FleetNode, OfflineCause, Runner};
use keepalive_testkit::redis_server::RedisServer;
use keepalive_testkit::services;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::{Instant, timeout};

/// Presence timeout 900 ms: keys written every 300 ms, TTL 1.2 s.
const T: Duration = Duration::from_millis(900);
const P: Duration = Duration::from_millis(300);
const TTL: Duration = Duration::from_millis(1200);
/// Scheduling slack on a loaded 2-core machine.
const SLACK: Duration = Duration::from_millis(700);

fn redis() -> Option<RedisServer> {
    if !services::needs("redis-server", "apt-get install redis-server") {
        return None;
    }
    Some(RedisServer::start().unwrap_or_else(|e| panic!("{e}")))
}

fn config(node: &str, prefix: &str) -> FleetConfig {
    FleetConfig::new(node, 1)
        .with_presence(PresenceConfig::new().with_timeout(T))
        .with_prefix(prefix)
}

async fn node(redis: &RedisServer, name: &str, prefix: &str) -> FleetNode<String> {
    let runner = Runner::connect(&redis.url(), prefix)
        .await
        .expect("connect");
    FleetNode::spawn(runner, config(name, prefix)).expect("valid config")
}

async fn feed(redis: &RedisServer, prefix: &str) -> FleetFeed {
    FleetFeed::subscribe(&redis.url(), FeedConfig::new(prefix, TTL))
        .await
        .expect("subscribe")
}

/// The next change within `limit`, and how long it took.
async fn next(feed: &mut FleetFeed, limit: Duration) -> Option<(FleetChange, Duration)> {
    let start = Instant::now();
    let change = timeout(limit, feed.next()).await.ok()??;
    Some((change, start.elapsed()))
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A TCP proxy that holds every chunk 50 ms each way: one round trip costs
/// 100 ms, so round trips can be counted on a clock.
async fn slow_proxy(port: u16) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let front = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let Ok(server) = TcpStream::connect(("127.0.0.1", port)).await else {
                continue;
            };
            let (cr, cw) = client.into_split();
            let (sr, sw) = server.into_split();
            let pump = |mut from: tokio::net::tcp::OwnedReadHalf,
                        mut to: tokio::net::tcp::OwnedWriteHalf| async move {
                let mut buf = vec![0u8; 64 << 10];
                while let Ok(n) = from.read(&mut buf).await {
                    if n == 0 {
                        return;
                    }
                    tokio::time::sleep(ms(50)).await;
                    if to.write_all(&buf[..n]).await.is_err() {
                        return;
                    }
                }
            };
            tokio::spawn(pump(cr, sw));
            tokio::spawn(pump(sr, cw));
        }
    });
    front
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_turn_is_one_round_trip() {
    let Some(redis) = redis() else { return };
    let port = slow_proxy(redis.port()).await;
    let mut runner = Runner::connect(&format!("redis://127.0.0.1:{port}"), "rt:")
        .await
        .unwrap();
    let before = runner.round_trips();
    let mut fleet = keepalive::Fleet::<String>::new(config("a", "rt:")).unwrap();
    let now = keepalive::Instant::from_secs(1);
    for i in 0..500 {
        fleet.check_in(format!("user-{i}").as_str(), now).unwrap();
    }
    let commands: Vec<StoreCommand<String>> = fleet.commands().collect();
    assert_eq!(commands.len(), 500);
    let start = Instant::now();
    let outcome = runner.run(&commands, &[]).await;
    let took = start.elapsed();
    assert!(
        outcome.failed.is_empty() && outcome.error.is_none(),
        "{outcome:?}"
    );
    assert_eq!(runner.round_trips() - before, 1);
    // One round trip through the proxy is 100 ms; 500 would be 50 s.
    assert!(took < ms(600), "500 writes took {took:?}");
    // And Redis holds all 500, with their TTL.
    let mut conn = runner.connection();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("rt:*")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(keys.len(), 500);
    let ttl: i64 = redis::cmd("PTTL")
        .arg("rt:user-7")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(ttl > 0 && ttl <= TTL.as_millis() as i64, "{ttl}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_node_sees_a_client_come_and_go() {
    let Some(redis) = redis() else { return };
    let mut changes = feed(&redis, "cg:").await;
    let a = node(&redis, "node-a", "cg:").await;
    a.online("alice".to_owned());
    let (online, took) = next(&mut changes, SLACK).await.expect("online seen");
    assert_eq!(
        online,
        FleetChange::Online {
            client: "alice".into(),
            node: "node-a".into()
        }
    );
    assert!(took < SLACK, "{took:?}");
    let reader = node(&redis, "node-r", "cg:").await;
    assert!(
        reader
            .status(&"alice".to_owned())
            .await
            .unwrap()
            .is_online()
    );
    // Still online after several write periods: refreshed, not expired.
    assert!(
        next(&mut changes, TTL * 2).await.is_none(),
        "no flap while refreshed"
    );
    a.offline("alice".to_owned());
    let (offline, took) = next(&mut changes, SLACK).await.expect("offline seen");
    assert_eq!(
        offline,
        FleetChange::Offline {
            client: "alice".into(),
            node: "node-a".into(),
            cause: OfflineCause::Announced
        }
    );
    assert!(took < SLACK);
    assert!(!matches!(
        reader.status(&"alice".to_owned()).await.unwrap(),
        Status::Online { .. }
    ));
}

/// A node that dies without a word (its runtime dropped: no delete, no
/// announcement): its client's key expires, and the expiry is the offline.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_nodes_clients_go_offline_through_the_ttl() {
    let Some(redis) = redis() else { return };
    let mut changes = feed(&redis, "dn:").await;
    let survivor = node(&redis, "node-b", "dn:").await;
    survivor.online("carol".to_owned());
    let url = redis.url();
    let doomed = std::thread::spawn(move || {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        runtime.block_on(async {
            let runner = Runner::connect(&url, "dn:").await.unwrap();
            let a = FleetNode::spawn(runner, config("node-a", "dn:")).unwrap();
            a.online("bob".to_owned());
            tokio::time::sleep(ms(400)).await;
            std::mem::forget(a); // never says goodbye
        });
        runtime.shutdown_background(); // the process is gone
    });
    let mut seen = Vec::new();
    while seen.len() < 2 {
        seen.push(next(&mut changes, SLACK).await.expect("both online").0);
    }
    doomed.join().unwrap();
    let died = Instant::now();
    let (offline, _) = next(&mut changes, TTL + SLACK).await.expect("bob offline");
    assert_eq!(
        offline,
        FleetChange::Offline {
            client: "bob".into(),
            node: "node-a".into(),
            cause: OfflineCause::Expired
        }
    );
    assert!(died.elapsed() <= TTL + SLACK, "{:?}", died.elapsed());
    // The other node's client stays.
    assert!(next(&mut changes, TTL).await.is_none());
    let reader = node(&redis, "node-r", "dn:").await;
    assert!(
        reader
            .status(&"carol".to_owned())
            .await
            .unwrap()
            .is_online()
    );
    assert!(!reader.status(&"bob".to_owned()).await.unwrap().is_online());
}

/// Two tabs of dave on two nodes: offline only once both are gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_one_client_offline_when_both_let_go() {
    let Some(redis) = redis() else { return };
    let mut changes = feed(&redis, "tt:").await;
    let a = node(&redis, "node-a", "tt:").await;
    let b = node(&redis, "node-b", "tt:").await;
    a.online("dave".to_owned());
    tokio::time::sleep(ms(50)).await;
    b.online("dave".to_owned());
    let (online, _) = next(&mut changes, SLACK).await.unwrap();
    assert!(matches!(online, FleetChange::Online { ref node, .. } if node == "node-a"));
    // node-b has written (and so announced, in the same round trip) before
    // node-a lets go: on a loaded machine its first turn can lag the 50 ms.
    let mut conn = Runner::connect(&redis.url(), "tt:")
        .await
        .unwrap()
        .connection();
    let start = Instant::now();
    loop {
        let value: Option<String> = redis::cmd("GET")
            .arg("tt:dave")
            .query_async(&mut conn)
            .await
            .unwrap();
        let node = value
            .as_deref()
            .and_then(keepalive::FleetRecord::parse)
            .map(|r| r.node);
        if node.as_deref() == Some("node-b") {
            break;
        }
        assert!(start.elapsed() < SLACK, "node-b never wrote");
        tokio::time::sleep(ms(5)).await;
    }
    tokio::time::sleep(ms(100)).await;
    a.offline("dave".to_owned());
    // Two sweeps pass: still online through node-b.
    assert!(
        next(&mut changes, TTL * 2 + P).await.is_none(),
        "offline too early"
    );
    b.offline("dave".to_owned());
    let (offline, _) = next(&mut changes, SLACK).await.unwrap();
    assert!(
        matches!(offline, FleetChange::Offline { ref node, cause: OfflineCause::Announced, .. } if node == "node-b")
    );
}

/// Redis killed and restarted empty mid-run: nothing panics, the node
/// carries on, and within one write period of Redis coming back its client
/// is in the fleet again, and the feed knows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_restarted_mid_run() {
    let Some(mut redis) = redis() else { return };
    let mut changes = feed(&redis, "rr:").await;
    let a = node(&redis, "node-a", "rr:").await;
    a.online("erin".to_owned());
    assert!(matches!(
        next(&mut changes, SLACK).await.unwrap().0,
        FleetChange::Online { .. }
    ));
    let reader = node(&redis, "node-r", "rr:").await;
    redis.kill();
    assert!(
        reader.status(&"erin".to_owned()).await.is_err(),
        "reads fail while down"
    );
    assert!(
        a.status(&"erin".to_owned()).await.unwrap().is_online(),
        "local presence intact"
    );
    a.online("frank".to_owned()); // came online during the outage
    tokio::time::sleep(ms(500)).await;
    redis.restart().unwrap();
    let back = Instant::now();
    loop {
        let erin = reader.status(&"erin".to_owned()).await;
        let frank = reader.status(&"frank".to_owned()).await;
        if matches!((&erin, &frank), (Ok(e), Ok(f)) if e.is_online() && f.is_online()) {
            break;
        }
        assert!(
            back.elapsed() < P + SLACK * 2,
            "not back: {erin:?} {frank:?}"
        );
        tokio::time::sleep(ms(20)).await;
    }
    // The feed reconnected and resynchronised: frank is online, erin was
    // never reported offline out of order (at most offline then online).
    let mut saw_frank = false;
    while let Some((change, _)) = next(&mut changes, TTL * 2).await {
        if let FleetChange::Online { client, .. } = &change {
            saw_frank |= client == "frank";
        }
        if saw_frank {
            break;
        }
    }
    assert!(saw_frank, "the feed never reported frank");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_unreachable_at_connect_is_an_error() {
    let Some(redis) = redis() else { return };
    let url = format!("redis://127.0.0.1:{}", redis.port());
    drop(redis);
    assert!(Runner::connect(&url, "x:").await.is_err());
    assert!(
        FleetFeed::subscribe(&url, FeedConfig::new("x:", TTL))
            .await
            .is_err()
    );
}

/// Check-ins through the sans-IO `Fleet` and the runner: throttled to one
/// write per client per write period, and Redis' own `commandstats` agree
/// with what the runner sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_ins_are_throttled_as_redis_counts_them() {
    let Some(redis) = redis() else { return };
    let mut runner = Runner::connect(&redis.url(), "th:").await.unwrap();
    let mut conn = runner.connection();
    let _: () = redis::cmd("CONFIG")
        .arg("RESETSTAT")
        .query_async(&mut conn)
        .await
        .unwrap();
    let mut fleet = keepalive::Fleet::<String>::new(config("a", "th:")).unwrap();
    let clock = keepalive::Clock::new();
    let (mut sent, start) = (0usize, Instant::now());
    // 20 clients checking in every 30 ms for 1.5 s: 50 check-ins each.
    while start.elapsed() < ms(1500) {
        for i in 0..20 {
            fleet
                .check_in(format!("c{i}").as_str(), clock.now())
                .unwrap();
        }
        let commands: Vec<_> = fleet.commands().collect();
        sent += commands.len();
        let outcome = runner.run(&commands, &[]).await;
        for failed in &outcome.failed {
            fleet.failed(failed);
        }
        tokio::time::sleep(ms(30)).await;
    }
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(&mut conn)
        .await
        .unwrap();
    let calls: usize = info
        .lines()
        .find_map(|l| l.strip_prefix("cmdstat_set:calls="))
        .and_then(|l| l.split(',').next()?.parse().ok())
        .unwrap_or(0);
    assert_eq!(calls, sent, "Redis received exactly the SETs sent");
    // 1.5 s / 300 ms: at most 6 writes per client (plus the first), not 50.
    assert!(sent <= 20 * 7, "{sent} writes for 1000 check-ins");
    assert!(sent >= 20 * 4, "{sent}: refreshed while checking in");
}

/// A node restarting quickly (a deploy: a new incarnation of node-a takes
/// its clients back within a write period): nobody is ever offline.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quick_restart_shows_nobody_offline() {
    let Some(redis) = redis() else { return };
    let mut changes = feed(&redis, "qr:").await;
    let runner = Runner::connect(&redis.url(), "qr:").await.unwrap();
    let old = FleetNode::spawn(runner, config("node-a", "qr:")).unwrap();
    old.online("gina".to_owned());
    assert!(matches!(
        next(&mut changes, SLACK).await.unwrap().0,
        FleetChange::Online { .. }
    ));
    drop(old); // gone without deleting anything
    tokio::time::sleep(ms(200)).await;
    let runner = Runner::connect(&redis.url(), "qr:").await.unwrap();
    let new = FleetNode::spawn(
        runner,
        FleetConfig::new("node-a", 2)
            .with_presence(PresenceConfig::new().with_timeout(T))
            .with_prefix("qr:"),
    )
    .unwrap();
    new.online("gina".to_owned());
    assert!(
        next(&mut changes, TTL * 3).await.is_none(),
        "gina flapped offline"
    );
}

/// The whole path: a keepalive-tokio server mirrored into the fleet; a
/// client that goes silent there is closed at `interval + timeout` and the
/// subscriber on another node sees it offline.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_client_of_a_server_is_offline_everywhere() {
    use keepalive::ServerHeartbeat;
    use keepalive_tokio::server::{PresenceChange, Refusal, Server, ServerConfig};
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;

    let Some(redis) = redis() else { return };
    let mut changes = feed(&redis, "sc:").await;
    let fleet = node(&redis, "node-a", "sc:").await;
    let config = ServerConfig::default().with_heartbeat(ServerHeartbeat::ping(ms(300), ms(300)));
    let server = Server::builder(|headers| {
        let id = headers.get("x-client-id").and_then(|v| v.to_str().ok());
        id.map(str::to_owned).ok_or(Refusal::Unauthorized)
    })
    .config(config)
    .build()
    .unwrap();
    let mut presence = server.changes();
    tokio::spawn(async move {
        while let Ok(change) = presence.recv().await {
            match change {
                PresenceChange::Online(id) => fleet.online(id),
                PresenceChange::Offline(id, _) => fleet.offline(id),
            }
        }
    });
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let serving = server.clone();
    tokio::spawn(async move { serving.listen(listener).await });
    let mut request = format!("ws://{addr}/").into_client_request().unwrap();
    request
        .headers_mut()
        .insert("x-client-id", "hana".parse().unwrap());
    let (socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    // Connected, then never read again: pings go unanswered.
    let (online, _) = next(&mut changes, SLACK).await.unwrap();
    assert!(matches!(online, FleetChange::Online { ref client, .. } if client == "hana"));
    let silent = Instant::now();
    let (offline, _) = next(&mut changes, ms(600) + SLACK)
        .await
        .expect("offline everywhere");
    assert!(matches!(
        offline,
        FleetChange::Offline {
            cause: OfflineCause::Announced,
            ..
        }
    ));
    assert!(silent.elapsed() >= ms(550), "{:?}", silent.elapsed());
    drop(socket);
}
