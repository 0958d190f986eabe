//! Presence writes on a real `redis-server`, in one run: check-ins through
//! `Fleet` + `keepalive-redis` (throttled, pipelined) against the article's
//! way (one `SET … PX` per heartbeat, awaited one by one) and against the
//! same writes pipelined without throttling; then the change feed's latency
//! from one node's publish to another node's subscriber.
//!
//! ```text
//! cargo bench -p keepalive-redis --bench pipeline              # 100,000 clients
//! cargo bench -p keepalive-redis --bench pipeline -- --smoke   # 5,000 (CI)
//! ```

use std::collections::HashMap;
use std::time::{Duration, Instant as WallClock};

use futures_util::StreamExt;
use keepalive::{Fleet, FleetConfig, Instant, PresenceConfig};
use keepalive_redis::{FeedConfig, FleetChange, FleetFeed, FleetNode, Runner};
use keepalive_testkit::redis_server::RedisServer;

const TIMEOUT: Duration = Duration::from_secs(30);

fn main() {
    let smoke = std::env::args().any(|a| a == "--smoke");
    let clients = if smoke { 5_000 } else { 100_000 };
    let Ok(redis) = RedisServer::start() else {
        println!("skipped: needs redis-server (apt-get install redis-server)");
        return;
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(run(&redis, clients, smoke));
}

async fn run(redis: &RedisServer, clients: usize, smoke: bool) {
    println!(
        "fleet: {clients} clients, each heartbeating every second, timeout {TIMEOUT:?} \
         (keys refreshed every {:?})\n",
        TIMEOUT / 3
    );
    let ids: Vec<String> = (0..clients).map(|i| format!("user-{i}")).collect();
    let rounds = if smoke { 5 } else { 20 };

    // (1) Fleet + keepalive-redis: every second of virtual time, every client
    // checks in; each chunk of check-ins is one pipeline.
    let mut runner = Runner::connect(&redis.url(), "b1:").await.expect("connect");
    let config = FleetConfig::new("bench", 1)
        .with_presence(PresenceConfig::new().with_timeout(TIMEOUT))
        .with_prefix("b1:");
    let mut fleet = Fleet::<String>::new(config).expect("config");
    let (start, mut writes) = (WallClock::now(), 0usize);
    for round in 0..rounds {
        let now = Instant::from_secs(round as u64);
        for chunk in ids.chunks(10_000) {
            for id in chunk {
                let _ = fleet.check_in(id.as_str(), now);
            }
            let commands: Vec<_> = fleet.commands().collect();
            writes += commands.len();
            let outcome = runner.run(&commands, &[]).await;
            for failed in &outcome.failed {
                fleet.failed(failed);
            }
        }
    }
    let ours = start.elapsed();
    let check_ins = clients * rounds;

    // (2) The article: SET key value PX ttl per heartbeat, one at a time.
    let sample = if smoke { 5_000 } else { 50_000 };
    let mut conn = runner.connection();
    let start = WallClock::now();
    for id in ids.iter().cycle().take(sample) {
        let _: redis::RedisResult<()> = redis::cmd("SET")
            .arg(format!("b2:{id}"))
            .arg("online")
            .arg("PX")
            .arg(TIMEOUT.as_millis() as u64)
            .query_async(&mut conn)
            .await;
    }
    let article = start.elapsed();

    // (3) The same writes, pipelined 10,000 at a time, no throttling.
    let start = WallClock::now();
    for _ in 0..rounds {
        for chunk in ids.chunks(10_000) {
            let mut pipe = redis::pipe();
            for id in chunk {
                pipe.cmd("SET")
                    .arg(format!("b3:{id}"))
                    .arg("online")
                    .arg("PX")
                    .arg(30_000)
                    .ignore();
            }
            let _: redis::RedisResult<()> = pipe.query_async(&mut conn).await;
        }
    }
    let eager = start.elapsed();

    let rate = |n: usize, d: Duration| n as f64 / d.as_secs_f64();
    println!(
        "{:<44} {:>14} {:>16}",
        "", "check-ins / s", "Redis cmds / s"
    );
    println!(
        "{:<44} {:>14.0} {:>16.0}",
        "Fleet + keepalive-redis (throttled, pipelined)",
        rate(check_ins, ours),
        rate(writes, ours)
    );
    println!(
        "{:<44} {:>14.0} {:>16.0}",
        "article: SET … PX per heartbeat, one by one",
        rate(sample, article),
        rate(sample, article)
    );
    println!(
        "{:<44} {:>14.0} {:>16.0}",
        "pipelined, not throttled",
        rate(check_ins, eager),
        rate(check_ins, eager)
    );
    println!(
        "\nFleet + keepalive-redis: {:.1}x the article's check-ins per second, {:.3} Redis commands per check-in \
         ({writes} writes for {check_ins} check-ins, {} round trips)",
        rate(check_ins, ours) / rate(sample, article),
        writes as f64 / check_ins as f64,
        runner.round_trips()
    );

    // (4) The change feed: node A announces, node B's subscriber hears.
    let mut feed = FleetFeed::subscribe(&redis.url(), FeedConfig::new("b4:", TIMEOUT))
        .await
        .expect("subscribe");
    let runner = Runner::connect(&redis.url(), "b4:").await.expect("connect");
    let config = FleetConfig::new("node-a", 1)
        .with_presence(PresenceConfig::new().with_timeout(TIMEOUT))
        .with_prefix("b4:");
    let node = FleetNode::<String>::spawn(runner, config).expect("config");
    let n = if smoke { 200 } else { 2_000 };
    let mut sent = HashMap::new();
    let mut latencies = Vec::with_capacity(n);
    for id in ids.iter().take(n) {
        sent.insert(id.clone(), WallClock::now());
        node.online(id.clone());
        let change = tokio::time::timeout(Duration::from_secs(5), feed.next()).await;
        if let Ok(Some(FleetChange::Online { client, .. })) = change
            && let Some(at) = sent.get(&client)
        {
            latencies.push(at.elapsed());
        }
    }
    latencies.sort();
    let pick = |q: f64| {
        latencies
            .get(((latencies.len().max(1) - 1) as f64 * q) as usize)
            .copied()
            .unwrap_or_default()
    };
    println!(
        "\nchange feed, publish on node A -> seen on node B ({} changes): median {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        latencies.len(),
        pick(0.5).as_secs_f64() * 1e3,
        pick(0.99).as_secs_f64() * 1e3,
        pick(1.0).as_secs_f64() * 1e3
    );
}
