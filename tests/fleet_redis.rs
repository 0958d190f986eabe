//! Presence shared by server nodes through a real `redis-server` on
//! 127.0.0.1 (started per test without persistence, killed at the end).
//!
//! Nodes are the example server with the fleet flag (blocking tungstenite,
//! `Fleet` over the `redis` crate); clients are the crate's blocking
//! adapter over tungstenite, or a raw tungstenite socket that goes silent.
//! Presence timeout `T` = 900 ms, so the throttle period `P` = 300 ms and
//! the key TTL = 1200 ms. Every wait is bounded; timings are printed
//! (`cargo test --test fleet_redis -- --nocapture`).
//!
//! Needs `redis-server` (Debian: `apt-get install redis-server`): without it
//! each test prints one `skipped:` line and passes, unless
//! `KEEPALIVE_REQUIRE_SERVICES=1` (set by `.ci/run`) makes it fail.

#![cfg(feature = "std")]

#[path = "support/mod.rs"]
mod support;

use std::collections::HashMap;
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant as WallClock};

use keepalive::adapter::{Handle, Options, Outcome, blocking};
use keepalive::{
    Backoff, BlockingFleet, Clock, Config, FleetConfig, Jitter, PresenceConfig, PresenceStore,
    Status, StoreOp,
};
use support::client::{BlockingWs, Endpoint};
use support::server::redis_store::{RedisServer, RedisStore};
use support::server::{Server, ServerConfig, ServerEvent};
use tungstenite::client::IntoClientRequest;

const T: Duration = Duration::from_millis(900);
const P: Duration = Duration::from_millis(300);
const TTL: Duration = Duration::from_millis(1200);
/// Slack for scheduling on a loaded 2-core machine.
const MARGIN: Duration = Duration::from_millis(1200);
const WAIT: Duration = Duration::from_secs(5);

/// A fresh redis-server, or `None` (after the skip line) when it is not
/// installed.
fn redis() -> Option<RedisServer> {
    if !keepalive_testkit::services::needs("redis-server", "apt-get install redis-server") {
        return None;
    }
    Some(RedisServer::start().unwrap_or_else(|e| panic!("cannot start redis-server: {e}")))
}

fn free_addr() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}

/// A fleet node named `node` on `addr`, sharing presence through `redis`.
fn node(redis: &RedisServer, name: &str, addr: SocketAddr, clock: Clock) -> Server {
    let log = Arc::new(Mutex::new(Vec::new()));
    node_with_log(redis, name, addr, clock, &log)
}

/// Nodes `a` (on a port kept for its restart) and `b`, sharing `redis`.
fn two_nodes(redis: &RedisServer, clock: Clock) -> (SocketAddr, Server, Server) {
    let addr_a = free_addr();
    let a = node(redis, "node-a", addr_a, clock);
    let b = node(redis, "node-b", free_addr(), clock);
    (addr_a, a, b)
}

fn node_with_log(
    redis: &RedisServer,
    name: &str,
    addr: SocketAddr,
    clock: Clock,
    log: &Arc<Mutex<Vec<ServerEvent>>>,
) -> Server {
    let config = ServerConfig {
        addr,
        timeout: T,
        redis: Some(redis.url()),
        node: name.into(),
        ..ServerConfig::loopback()
    };
    let log = log.clone();
    Server::start(config, clock, move |event| {
        if let ServerEvent::Store(e) = &event {
            eprintln!("store error: {e}");
        }
        log.lock().unwrap().push(event);
    })
    .unwrap()
}

/// A keepalive client: heartbeat after 200 ms of silence, reconnect with
/// backoff 50..300 ms.
struct Client {
    handle: Handle,
    thread: Option<JoinHandle<Outcome>>,
}

impl Client {
    fn connect(addr: SocketAddr, id: &str) -> Client {
        let config = Config::default()
            .with_heartbeat_interval(Duration::from_millis(200))
            .with_heartbeat_timeout(Duration::from_millis(200))
            .with_connect_timeout(Duration::from_secs(1))
            .with_close_timeout(Duration::from_millis(200))
            .with_backoff(
                Backoff::exponential(Duration::from_millis(50), Duration::from_millis(300))
                    .with_jitter(Jitter::Full),
            )
            .with_min_uptime(Duration::from_millis(200));
        let options = Options::default().with_read_slice(Duration::from_millis(20));
        let client =
            blocking::Client::new(config, options, BlockingWs(Endpoint::new(addr, id))).unwrap();
        let handle = client.handle();
        let thread = client.spawn(|_| {});
        Client {
            handle,
            thread: Some(thread),
        }
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        self.handle.close();
        if let Some(thread) = self.thread.take() {
            let start = WallClock::now();
            while !thread.is_finished() && start.elapsed() < WAIT {
                std::thread::sleep(Duration::from_millis(5));
            }
        }
    }
}

/// A raw WebSocket that checks in once (the upgrade) and then stays silent
/// with its socket open.
fn silent_client(addr: SocketAddr, id: &str) -> tungstenite::WebSocket<TcpStream> {
    let mut request = format!("ws://{addr}/ws").into_client_request().unwrap();
    request
        .headers_mut()
        .insert("x-client-id", id.parse().unwrap());
    let stream = TcpStream::connect(addr).unwrap();
    let (ws, _) = tungstenite::client(request, stream).unwrap();
    ws
}

fn online(server: &Server, id: &str) -> bool {
    server.status(id).unwrap().is_online()
}

/// Polls `cond` every 5 ms for up to `within`.
fn eventually(what: &str, within: Duration, mut cond: impl FnMut() -> bool) -> WallClock {
    let start = WallClock::now();
    loop {
        if cond() {
            return WallClock::now();
        }
        assert!(start.elapsed() < within, "not within {within:?}: {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn ms(d: Duration) -> u128 {
    d.as_millis()
}

#[test]
fn a_client_of_one_node_is_seen_by_the_other_and_a_silent_one_goes_offline_everywhere() {
    let Some(redis) = redis() else { return };
    let clock = Clock::new();
    let a = node(&redis, "node-a", free_addr(), clock);
    let b = node(&redis, "node-b", free_addr(), clock);
    let _alice = Client::connect(a.addr(), "alice");
    let _carol = Client::connect(a.addr(), "carol");
    let _bob = Client::connect(b.addr(), "bob");

    eventually("all online through both nodes", WAIT, || {
        ["alice", "bob", "carol"]
            .iter()
            .all(|id| online(&a, id) && online(&b, id))
    });
    assert_eq!(a.online(), ["alice", "carol"]);
    assert_eq!(b.online(), ["bob"]);
    let record = b.lookup("alice").unwrap().unwrap();
    assert_eq!(record.node, "node-a");
    assert_eq!(b.lookup("bob").unwrap().unwrap().node, "node-b");
    assert_eq!(b.status("nobody").unwrap(), Status::Unknown);

    // dave checks in on node a once, then stays silent.
    let before = WallClock::now();
    let ws = silent_client(a.addr(), "dave");
    let connected = WallClock::now();
    eventually("dave online through b", WAIT, || online(&b, "dave"));
    // Online everywhere until T after his check-in, offline everywhere
    // within T + MARGIN: node a deletes the key when it times him out.
    let mut samples = 0;
    let gone = loop {
        let through_a = online(&a, "dave");
        let through_b = online(&b, "dave");
        let elapsed = before.elapsed();
        if elapsed < T.saturating_sub(Duration::from_millis(100)) {
            assert!(through_a && through_b, "dave offline early at {elapsed:?}");
        }
        if !through_a && !through_b {
            break elapsed;
        }
        assert!(
            connected.elapsed() < T + MARGIN,
            "dave still online {:?} after his check-in (through a: {through_a}, b: {through_b})",
            connected.elapsed()
        );
        // Everyone else stays online meanwhile.
        assert!(online(&b, "alice") && online(&a, "bob"));
        samples += 1;
        std::thread::sleep(Duration::from_millis(10));
    };
    assert!(gone >= T.saturating_sub(Duration::from_millis(100)));
    assert_eq!(b.lookup("dave").unwrap(), None, "the key was deleted");
    println!(
        "silent client offline everywhere {} ms after its check-in (T = {} ms, {samples} samples)",
        ms(gone),
        ms(T)
    );
    drop(ws);
}

#[test]
fn node_a_killed_then_restarted_over_websockets() {
    let Some(redis) = redis() else { return };
    let clock = Clock::new();
    let (addr_a, a, b) = two_nodes(&redis, clock);
    let _alice = Client::connect(addr_a, "alice");
    let _carol = Client::connect(addr_a, "carol");
    let _bob = Client::connect(b.addr(), "bob");
    let _erin = Client::connect(b.addr(), "erin");
    let of_a = ["alice", "carol"];
    let of_b = ["bob", "erin"];
    eventually("all online through b", WAIT, || {
        of_a.iter().chain(&of_b).all(|id| online(&b, id))
    });
    let epoch = b.lookup("alice").unwrap().unwrap().epoch;
    // Into the second throttle window: the last write lags the last
    // check-in, as it usually does.
    std::thread::sleep(P + P / 2);

    // Kill node a: nobody deletes its keys, they expire by themselves.
    a.kill();
    let killed = WallClock::now();
    let mut offline_at: HashMap<&str, Duration> = HashMap::new();
    while offline_at.len() < of_a.len() {
        let elapsed = killed.elapsed();
        for id in of_a {
            if !offline_at.contains_key(id) && !online(&b, id) {
                offline_at.insert(id, elapsed);
            }
        }
        for id in of_b {
            assert!(online(&b, id), "{id} (node b) offline at {elapsed:?}");
        }
        assert!(
            elapsed < TTL + MARGIN,
            "node a's clients still online {elapsed:?} after the kill: {offline_at:?}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    // Last check-in at most ~250 ms before the kill (heartbeat after 200 ms
    // of silence): the key lives more than T after it.
    let earliest = offline_at.values().min().unwrap();
    assert!(
        *earliest >= T - Duration::from_millis(350),
        "{offline_at:?}"
    );
    println!(
        "node a killed: its clients offline through node b after {:?} ms (TTL {} ms)",
        offline_at
            .iter()
            .map(|(id, d)| format!("{id} {}", ms(*d)))
            .collect::<Vec<_>>(),
        ms(TTL)
    );

    // Restart node a (a new incarnation, same name and address): its
    // clients come back, nobody is wrongly offline.
    let a = node(&redis, "node-a", addr_a, clock);
    let restarted = WallClock::now();
    let back = eventually("node a's clients back online", WAIT, || {
        of_a.iter().all(|id| online(&b, id) && online(&a, id))
    });
    println!(
        "node a restarted: its clients online again after {} ms",
        ms(back - restarted)
    );
    let record = b.lookup("alice").unwrap().unwrap();
    assert_eq!(record.node, "node-a");
    assert_ne!(record.epoch, epoch, "written by the new incarnation");
    // Longer than a TTL: everyone stays online through both nodes.
    let start = WallClock::now();
    while start.elapsed() < TTL + P {
        for id in of_a.iter().chain(&of_b) {
            assert!(online(&a, id), "{id} offline through a");
            assert!(online(&b, id), "{id} offline through b");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_quick_restart_keeps_returning_clients_online_throughout() {
    // The article's restart bug: here no client looks offline, anywhere.
    let Some(redis) = redis() else { return };
    let clock = Clock::new();
    let (addr_a, a, b) = two_nodes(&redis, clock);
    let _alice = Client::connect(addr_a, "alice");
    let _carol = Client::connect(addr_a, "carol");
    let _bob = Client::connect(b.addr(), "bob");
    let all = ["alice", "carol", "bob"];
    eventually("all online", WAIT, || all.iter().all(|id| online(&b, id)));
    let epoch = b.lookup("alice").unwrap().unwrap().epoch;

    a.kill();
    let killed = WallClock::now();
    let a = node(&redis, "node-a", addr_a, clock);
    let mut samples = 0;
    while killed.elapsed() < TTL + P {
        for id in all {
            assert!(
                online(&b, id),
                "{id} offline through b {:?} after the restart",
                killed.elapsed()
            );
        }
        samples += 1;
        std::thread::sleep(Duration::from_millis(10));
    }
    for id in ["alice", "carol"] {
        let record = a.lookup(id).unwrap().unwrap();
        assert_ne!(record.epoch, epoch, "{id} rewritten by the new incarnation");
        assert!(online(&a, id));
    }
    println!("quick restart: {samples} samples, nobody offline");
}

/// Counts the writes per key, passing every command on.
struct Counting {
    inner: RedisStore,
    sets: HashMap<String, usize>,
}

impl PresenceStore for Counting {
    type Error = redis::RedisError;

    fn set(&mut self, key: &str, value: &str, ttl: Duration) -> Result<(), Self::Error> {
        *self.sets.entry(key.into()).or_default() += 1;
        self.inner.set(key, value, ttl)
    }

    fn delete_owned(&mut self, key: &str, owner: &str) -> Result<bool, Self::Error> {
        self.inner.delete_owned(key, owner)
    }

    fn get_many(&mut self, keys: &[String]) -> Result<Vec<Option<String>>, Self::Error> {
        self.inner.get_many(keys)
    }
}

fn set_calls(conn: &mut RedisStore) -> usize {
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query(&mut conn.0)
        .unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix("cmdstat_set:calls="))
        .and_then(|rest| rest.split(',').next())
        .map_or(0, |n| n.parse().unwrap())
}

#[test]
fn writes_are_throttled_against_a_real_redis() {
    // 10 clients checking in every 100 ms for 3 s, T = 900 ms: at most
    // ⌈3000 / 300⌉ + 1 = 11 writes each (31 without throttling).
    let Some(redis) = redis() else { return };
    let clock = Clock::new();
    let presence = PresenceConfig::new().with_timeout(T);
    let counting = |redis: &RedisServer| Counting {
        inner: redis.connect(),
        sets: HashMap::new(),
    };
    let mut fleet: BlockingFleet<String, Counting> = BlockingFleet::new(
        FleetConfig::new("node-a", 1).with_presence(presence),
        counting(&redis),
    )
    .unwrap();
    let mut eager: BlockingFleet<String, Counting> = BlockingFleet::new(
        FleetConfig::new("node-e", 1)
            .with_presence(presence)
            .with_prefix("eager:")
            .without_throttling(),
        counting(&redis),
    )
    .unwrap();
    let mut reader = redis.connect();
    let clients: Vec<String> = (0..10).map(|i| format!("client-{i}")).collect();
    let keys: Vec<String> = clients.iter().map(|c| fleet.key(c.as_str())).collect();
    let start = WallClock::now();
    let mut checked = 0;
    for step in 0..=30u32 {
        let due = start + Duration::from_millis(100) * step;
        std::thread::sleep(due.saturating_duration_since(WallClock::now()));
        for c in &clients {
            let now = clock.now();
            fleet
                .check_in(c.as_str(), now)
                .unwrap()
                .into_result()
                .unwrap();
            eager
                .check_in(c.as_str(), now)
                .unwrap()
                .into_result()
                .unwrap();
        }
        // Every key is in Redis at every step.
        let values = reader.get_many(&keys).unwrap();
        assert!(
            values.iter().all(Option::is_some),
            "step {step}: {values:?}"
        );
        checked += 1;
    }
    let session = start.elapsed();
    let writes: Vec<usize> = keys.iter().map(|k| fleet.store().sets[k]).collect();
    let bound = (3000usize).div_ceil(300) + 1;
    println!(
        "{} check-ins per client over {} ms: {writes:?} writes throttled, {:?} without",
        checked,
        ms(session),
        eager.store().sets.values().collect::<Vec<_>>()
    );
    assert!(writes.iter().all(|&w| w <= bound), "{writes:?} > {bound}");
    assert!(eager.store().sets.values().all(|&w| w == 31));
    let sent: usize = writes.iter().sum::<usize>() + eager.store().sets.values().sum::<usize>();
    assert_eq!(
        set_calls(&mut reader),
        sent,
        "Redis received exactly these SETs"
    );

    // Silence. Node a (alive) deletes each key when it times the client
    // out; node e (as if crashed: it never polls) leaves its keys to the TTL.
    let silent = WallClock::now();
    let mut deleted = 0;
    while deleted < clients.len() {
        assert!(silent.elapsed() < T + MARGIN, "expiry too late");
        match fleet.poll_expired(clock.now()) {
            Some(out) => {
                assert_eq!(out.store.unwrap(), StoreOp::Deleted);
                deleted += 1;
            }
            None => std::thread::sleep(Duration::from_millis(5)),
        }
    }
    assert!(reader.get_many(&keys).unwrap().iter().all(Option::is_none));
    let eager_keys: Vec<String> = clients.iter().map(|c| eager.key(c.as_str())).collect();
    eventually("the unpolled keys expire", T + MARGIN, || {
        reader
            .get_many(&eager_keys)
            .unwrap()
            .iter()
            .all(Option::is_none)
    });
}
