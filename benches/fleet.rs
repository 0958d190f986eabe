//! How many Redis commands a fleet node sends for 10k heartbeating clients,
//! with and without write throttling, and what a real `redis-server` makes
//! of them.
//!
//! 1. Virtual time, no I/O: 10 000 clients check in every second (spread
//!    over the second), presence timeout 30 s, 60 s simulated. Counts the
//!    store commands per simulated second with the default throttle
//!    (`P` = timeout / 3 = 10 s) and without it (a write per check-in), and
//!    the CPU cost of the fleet layer per check-in.
//! 2. If `redis-server` can be started (on a free 127.0.0.1 port, no
//!    persistence, killed at the end): the same runs against it, with the
//!    commands pipelined (1 000 per round trip) and, for the throttled run,
//!    one round trip per command. Skipped with a message otherwise.
//!
//! `cargo bench --bench fleet` (about 10 s). Without `--bench` (as in
//! `cargo test --benches`) a quick smoke run with 1 000 clients for 10 s.

fn main() {
    bench::main();
}

#[path = "support/redis_store.rs"]
#[allow(dead_code)]
mod redis_store;

mod bench {
    use std::hint::black_box;
    use std::time::{Duration, Instant as WallClock};

    use crate::redis_store::RedisStore;
    use keepalive::{BlockingFleet, FleetConfig, Instant, PresenceConfig, PresenceStore};
    use keepalive_testkit::redis_server::RedisServer;

    const INTERVAL: Duration = Duration::from_secs(1);
    const TIMEOUT: Duration = Duration::from_secs(30);

    /// Counts commands and does nothing else.
    #[derive(Default)]
    struct Null {
        commands: u64,
    }

    impl PresenceStore for Null {
        type Error = core::convert::Infallible;

        fn set(&mut self, _: &str, _: &str, _: Duration) -> Result<(), Self::Error> {
            self.commands += 1;
            Ok(())
        }

        fn delete_owned(&mut self, _: &str, _: &str) -> Result<bool, Self::Error> {
            self.commands += 1;
            Ok(true)
        }

        fn get_many(&mut self, keys: &[String]) -> Result<Vec<Option<String>>, Self::Error> {
            self.commands += 1;
            Ok(vec![None; keys.len()])
        }
    }

    /// Queues writes and sends them as one pipeline per `batch` commands: how
    /// an application batches a fleet node's writes.
    struct Pipelined {
        conn: RedisStore,
        pipe: redis::Pipeline,
        batch: usize,
        commands: u64,
    }

    impl Pipelined {
        fn flush(&mut self) -> redis::RedisResult<()> {
            if !self.pipe.is_empty() {
                self.pipe.exec(&mut self.conn.0)?;
                self.pipe.clear();
            }
            Ok(())
        }
    }

    impl PresenceStore for Pipelined {
        type Error = redis::RedisError;

        fn set(&mut self, key: &str, value: &str, ttl: Duration) -> Result<(), Self::Error> {
            let ms = ttl.as_nanos().div_ceil(1_000_000) as u64;
            self.pipe
                .cmd("SET")
                .arg(key)
                .arg(value)
                .arg("PX")
                .arg(ms)
                .ignore();
            self.commands += 1;
            if self.pipe.len() >= self.batch {
                self.flush()?;
            }
            Ok(())
        }

        fn delete_owned(&mut self, key: &str, owner: &str) -> Result<bool, Self::Error> {
            self.flush()?;
            self.commands += 1;
            self.conn.delete_owned(key, owner)
        }

        fn get_many(&mut self, keys: &[String]) -> Result<Vec<Option<String>>, Self::Error> {
            self.flush()?;
            self.commands += 1;
            self.conn.get_many(keys)
        }
    }

    /// One round trip per command.
    struct Direct {
        conn: RedisStore,
        commands: u64,
    }

    impl PresenceStore for Direct {
        type Error = redis::RedisError;

        fn set(&mut self, key: &str, value: &str, ttl: Duration) -> Result<(), Self::Error> {
            self.commands += 1;
            self.conn.set(key, value, ttl)
        }

        fn delete_owned(&mut self, key: &str, owner: &str) -> Result<bool, Self::Error> {
            self.commands += 1;
            self.conn.delete_owned(key, owner)
        }

        fn get_many(&mut self, keys: &[String]) -> Result<Vec<Option<String>>, Self::Error> {
            self.commands += 1;
            self.conn.get_many(keys)
        }
    }

    struct Run {
        commands: u64,
        wall: Duration,
    }

    /// `clients` check in every second for `seconds` of virtual time (client
    /// `i` at `i / clients` into each second), polling expiry each second.
    fn simulate<St: PresenceStore>(
        store: St,
        throttled: bool,
        clients: u64,
        seconds: u64,
        count: impl Fn(&BlockingFleet<u64, St>) -> u64,
    ) -> Run
    where
        St::Error: std::fmt::Debug,
    {
        let presence = PresenceConfig::new().with_timeout(TIMEOUT);
        let mut config = FleetConfig::new("bench", 1).with_presence(presence);
        if !throttled {
            config = config.without_throttling();
        }
        let mut fleet: BlockingFleet<u64, St> = BlockingFleet::new(config, store).unwrap();
        let step = INTERVAL.as_nanos() as u64 / clients;
        let start = WallClock::now();
        for second in 0..seconds {
            let base = second * INTERVAL.as_nanos() as u64;
            for id in 0..clients {
                let now = Instant::from_nanos(base + id * step);
                let out = fleet.check_in(&id, now).unwrap();
                black_box(out.store.unwrap());
            }
            while let Some(out) =
                fleet.poll_expired(Instant::from_nanos(base + INTERVAL.as_nanos() as u64))
            {
                black_box(out.store.unwrap());
            }
        }
        let wall = start.elapsed();
        Run {
            commands: count(&fleet),
            wall,
        }
    }

    pub fn main() {
        let full = std::env::args().any(|a| a == "--bench");
        let (clients, seconds) = if full { (10_000, 60) } else { (1_000, 10) };
        println!(
            "fleet: {clients} clients, a check-in every {} s each, presence timeout {} s, \
         {seconds} s of virtual time{}",
            INTERVAL.as_secs(),
            TIMEOUT.as_secs(),
            if full {
                ""
            } else {
                " (smoke run; `cargo bench --bench fleet` for the full one)"
            }
        );
        let check_ins = clients * seconds;

        println!("\n1. store commands per simulated second (no I/O)");
        let mut per_second = [0.0; 2];
        for (i, throttled) in [true, false].into_iter().enumerate() {
            let run = simulate(Null::default(), throttled, clients, seconds, |f| {
                f.store().commands
            });
            per_second[i] = run.commands as f64 / seconds as f64;
            println!(
                "   {:<34} {:>8} commands = {:>8.0} /s   ({:.1} ns of fleet CPU per check-in)",
                label(throttled),
                run.commands,
                per_second[i],
                run.wall.as_nanos() as f64 / check_ins as f64
            );
        }
        println!(
            "   throttling sends {:.1}x fewer commands (P = {} s vs a {} s heartbeat)",
            per_second[1] / per_second[0],
            (TIMEOUT / 3).as_secs(),
            INTERVAL.as_secs()
        );

        println!("\n2. against a real redis-server on 127.0.0.1");
        let server = match RedisServer::start() {
            Ok(server) => server,
            Err(e) => {
                println!("   SKIPPED: {e}");
                return;
            }
        };
        for throttled in [true, false] {
            let store = Pipelined {
                conn: RedisStore::connect(&server.url())
                    .expect("connect to the bench's redis-server"),
                pipe: redis::pipe(),
                batch: 1_000,
                commands: 0,
            };
            let run = simulate(store, throttled, clients, seconds, |f| f.store().commands);
            report(
                &format!("{}, pipelined x1000", label(throttled)),
                &run,
                seconds,
            );
        }
        let store = Direct {
            conn: RedisStore::connect(&server.url()).expect("connect to the bench's redis-server"),
            commands: 0,
        };
        let run = simulate(store, true, clients, seconds, |f| f.store().commands);
        report(
            &format!("{}, a round trip each", label(true)),
            &run,
            seconds,
        );
        let mut conn =
            RedisStore::connect(&server.url()).expect("connect to the bench's redis-server");
        let keys: u64 = redis::cmd("DBSIZE").query(&mut conn.0).unwrap();
        println!("   ({keys} keys left in Redis, one per client)");
    }

    fn label(throttled: bool) -> &'static str {
        if throttled {
            "throttled (a write per 10 s)"
        } else {
            "unthrottled (a write per check-in)"
        }
    }

    fn report(what: &str, run: &Run, seconds: u64) {
        let rate = run.commands as f64 / run.wall.as_secs_f64();
        println!(
            "   {what:<50} {:>7} commands in {:>7.1} ms = {:>7.0} /s; the fleet's {:.0} /s use {:.2} % of it",
            run.commands,
            run.wall.as_secs_f64() * 1e3,
            rate,
            run.commands as f64 / seconds as f64,
            100.0 * (run.commands as f64 / seconds as f64) / rate
        );
    }
}
