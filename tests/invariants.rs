//! Property tests: random input sequences against the invariant checker of
//! `keepalive-testkit` (shared with the fuzz targets), plus targeted
//! properties of the backoff and of dead-peer detection.
//!
//! 256 cases per property by default; `PROPTEST_CASES=2000` (CI) raises it.

use core::time::Duration;

use keepalive::{
    Action, Backoff, CloseReason, Config, Connection, Event, HeartbeatMode, Instant, Jitter,
};
use keepalive_testkit::{
    Bytes, InvariantChecker, Op, STEP_TABLES, Step, Whose, decode_ops, encode_ops, targets,
};
use proptest::prelude::*;
use proptest::sample::select;

const MS: Duration = Duration::from_millis(1);
const SEC: Duration = Duration::from_secs(1);

// ----- strategies -----

fn event() -> impl Strategy<Value = Event> {
    select(Event::ALL.to_vec())
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        1 => Just(Step::Zero),
        1 => (0u32..2_000_000).prop_map(Step::Nanos),
        4 => (0u32..100).prop_map(Step::Millis),
        2 => (0u32..100_000).prop_map(Step::Millis),
        1 => any::<u32>().prop_map(Step::Millis),
        4 => Just(Step::ToDeadline),
        2 => Just(Step::BeforeDeadline),
        2 => (0u32..50).prop_map(Step::PastDeadline),
        1 => (0u32..5_000).prop_map(Step::PastDeadline),
        1 => (0u32..200_000).prop_map(Step::PastDeadline),
        1 => (0u32..10_000).prop_map(Step::Back),
    ]
}

fn heartbeat_duration() -> impl Strategy<Value = Duration> {
    prop_oneof![
        4 => (1u64..200).prop_map(Duration::from_millis),
        1 => (1u64..120_000).prop_map(Duration::from_millis),
        1 => select(vec![
            Duration::ZERO,
            Duration::from_nanos(999_999),
            Duration::from_micros(1500),
            Duration::from_millis(u64::from(u32::MAX)),
            Duration::from_millis(u64::from(u32::MAX) + 1),
        ]),
    ]
}

fn whose() -> impl Strategy<Value = Whose> {
    prop_oneof![
        2 => Just(Whose::Current),
        2 => (1u8..=4).prop_map(Whose::Old),
        1 => Just(Whose::Future),
    ]
}

/// One op, or "advance to the deadline and tick" (the driver's usual move,
/// weighted so random sequences reach deep states).
fn op_group() -> impl Strategy<Value = Vec<Op>> {
    prop_oneof![
        3 => Just(vec![Op::Connect]),
        1 => Just(vec![Op::Close]),
        10 => event().prop_map(|e| vec![Op::Handle(e)]),
        4 => (whose(), event()).prop_map(|(w, e)| vec![Op::HandleFrom(w, e)]),
        6 => step().prop_map(|s| vec![Op::Advance(s)]),
        2 => prop_oneof![0u64..20_000, Just(3_600_000)]
            .prop_map(|ms| vec![Op::RetryAfter(Duration::from_millis(ms))]),
        1 => (heartbeat_duration(), heartbeat_duration())
            .prop_map(|(interval, timeout)| vec![Op::SetHeartbeat { interval, timeout }]),
        8 => Just(vec![Op::Advance(Step::ToDeadline), Op::Handle(Event::Tick)]),
    ]
}

fn ops(max: usize) -> impl Strategy<Value = Vec<Op>> {
    proptest::collection::vec(op_group(), 0..max)
        .prop_map(|groups| groups.into_iter().flatten().collect())
}

fn jitter() -> impl Strategy<Value = Jitter> {
    select(vec![
        Jitter::None,
        Jitter::Full,
        Jitter::Equal,
        Jitter::Decorrelated,
    ])
}

/// Millisecond timers, so a short sequence passes every deadline.
fn tiny(mode: HeartbeatMode, jitter: Jitter) -> Config {
    Config::default()
        .with_heartbeat_mode(mode)
        .with_heartbeat_interval(20 * MS)
        .with_heartbeat_timeout(10 * MS)
        .with_connect_timeout(15 * MS)
        .with_close_timeout(5 * MS)
        .with_backoff(Backoff::exponential(MS, 40 * MS).with_jitter(jitter))
        .with_min_uptime(30 * MS)
}

/// The named configs, each seeded by the test case.
fn config() -> impl Strategy<Value = Config> {
    let named = (0usize..14, jitter(), any::<u64>()).prop_map(|(i, jitter, seed)| {
        let idle = HeartbeatMode::Idle;
        let c = match i {
            0 => Config::article(),
            1 => Config::default(),
            2 => Config::default()
                .with_heartbeat_mode(HeartbeatMode::Fixed)
                .with_heartbeat_interval(30 * SEC)
                .with_heartbeat_timeout(10 * SEC),
            3 => Config::default().without_heartbeat(),
            4 => Config::default().with_max_attempts(2),
            5 => tiny(idle, jitter),
            6 => tiny(HeartbeatMode::Fixed, jitter),
            7 => tiny(HeartbeatMode::Off, jitter),
            8 => tiny(idle, jitter).with_max_attempts(3),
            9 => tiny(idle, jitter).with_min_uptime(Duration::ZERO),
            10 => {
                tiny(idle, jitter).with_backoff(Backoff::steps(STEP_TABLES[2]).with_jitter(jitter))
            }
            11 => tiny(idle, jitter).with_backoff(Backoff::fixed(2 * MS).with_jitter(jitter)),
            12 => tiny(HeartbeatMode::Fixed, jitter)
                .with_heartbeat_interval(MS)
                .with_heartbeat_timeout(MS)
                .with_connect_timeout(MS)
                .with_close_timeout(MS)
                .with_max_attempts(1),
            _ => tiny(idle, jitter).with_backoff(
                Backoff::exponential(MS, 30 * MS)
                    .with_factor(1.6)
                    .with_jitter(jitter),
            ),
        };
        c.with_seed(seed)
    });
    // And now and then any decoded config, valid or not.
    let decoded = proptest::collection::vec(any::<u8>(), 0..64)
        .prop_map(|bytes| keepalive_testkit::decode_config(&mut Bytes::new(&bytes)));
    prop_oneof![6 => named, 1 => decoded]
}

// ----- the invariants -----

proptest! {
    /// Every invariant of the checker holds after every step of a random
    /// input sequence.
    #[test]
    fn invariants_hold_for_random_inputs(config in config(), ops in ops(120)) {
        if let Err(violation) = InvariantChecker::run(config, &ops) {
            return Err(TestCaseError::fail(violation.to_string()));
        }
    }

    /// The fuzz targets' bodies on random bytes (the same decoding as
    /// `cargo fuzz run connection` / `config`).
    #[test]
    fn fuzz_target_bodies_hold_on_random_bytes(data in proptest::collection::vec(any::<u8>(), 0..600)) {
        if let Err(violation) = targets::connection(&data) {
            return Err(TestCaseError::fail(violation.to_string()));
        }
        targets::config(&data).map_err(TestCaseError::fail)?;
    }

    /// Seeds written as readable op lists decode back to the same ops.
    #[test]
    fn ops_encode_and_decode_back(ops in ops(60)) {
        prop_assert_eq!(decode_ops(&mut Bytes::new(&encode_ops(&ops))), ops);
    }

    /// Every policy's delays lie in `bounds(attempt)`, for any valid
    /// parameters, jitter and seed.
    #[test]
    fn delays_stay_within_bounds_for_every_policy(
        kind in 0u8..3,
        a in 1u64..100_000,
        b in 1u64..10_000_000,
        factor in 1.0f64..8.0,
        table in 1usize..4,
        jitter in jitter(),
        seed in any::<u64>(),
    ) {
        let backoff = match kind {
            0 => Backoff::fixed(Duration::from_millis(a)),
            1 => Backoff::exponential(Duration::from_millis(a.min(b)), Duration::from_millis(a.max(b)))
                .with_factor(factor),
            _ => Backoff::steps(STEP_TABLES[table]),
        }
        .with_jitter(jitter);
        prop_assert_eq!(backoff.validate(), Ok(()));
        keepalive_testkit::targets::check_backoff(backoff, seed).map_err(TestCaseError::fail)?;
    }

    /// Idle mode: with ticks delivered at `poll_timeout`, a peer that goes
    /// silent is closed exactly `interval + timeout` after its last data,
    /// and the heartbeat goes out exactly `interval` after it, whatever
    /// arrived before.
    #[test]
    fn dead_peer_found_exactly_interval_plus_timeout_after_last_data(
        interval_ms in 1u64..120_000,
        timeout_ms in 1u64..120_000,
        traffic in proptest::collection::vec((0u64..200_000, any::<bool>()), 0..20),
        seed in any::<u64>(),
    ) {
        let interval = Duration::from_millis(interval_ms);
        let timeout = Duration::from_millis(timeout_ms);
        let config = Config::default()
            .with_heartbeat_interval(interval)
            .with_heartbeat_timeout(timeout)
            .with_seed(seed);
        let mut conn = Connection::new(config).unwrap();
        let mut now = Instant::from_secs(1);
        assert!(matches!(conn.connect(now).next(), Some(Action::Connect { .. })));
        prop_assert_eq!(conn.handle(Event::Opened, now).len(), 0);
        let mut last_data = now;
        // Live traffic: messages and pongs at random gaps; ticks whenever
        // a deadline comes first (heartbeats then get answered).
        for (gap_ms, pong) in traffic {
            let at = now + Duration::from_millis(gap_ms);
            while let Some(deadline) = conn.poll_timeout().filter(|d| *d <= at) {
                now = deadline;
                let actions: Vec<Action> = conn.handle(Event::Tick, now).collect();
                prop_assert_eq!(actions, vec![Action::SendHeartbeat]);
                prop_assert_eq!(now, last_data + interval);
                // The peer answers at once.
                prop_assert_eq!(conn.handle(Event::Pong, now).len(), 0);
                last_data = now;
            }
            now = at;
            let event = if pong { Event::Pong } else { Event::Message };
            prop_assert_eq!(conn.handle(event, now).len(), 0);
            last_data = now;
        }
        // Silence.
        let mut heartbeat_at = None;
        loop {
            now = conn.poll_timeout().expect("open with heartbeats has a deadline");
            let actions: Vec<Action> = conn.handle(Event::Tick, now).collect();
            match actions[..] {
                [Action::SendHeartbeat] => heartbeat_at = Some(now),
                [Action::Close { reason: CloseReason::HeartbeatTimeout }] => break,
                _ => prop_assert!(false, "unexpected {:?} at {}", actions, now),
            }
        }
        prop_assert_eq!(heartbeat_at, Some(last_data + interval));
        prop_assert_eq!(now, last_data + interval + timeout);
    }

    /// A tick up to `timeout` past the heartbeat deadline closes; a later
    /// one (the process was suspended) probes with a fresh heartbeat.
    #[test]
    fn late_tick_closes_on_time_and_probes_when_later(
        interval_ms in 1u64..10_000,
        timeout_ms in 1u64..10_000,
        late_ns in prop_oneof![0u64..3, 0u64..30_000_000_000],
        fixed in any::<bool>(),
    ) {
        let mode = if fixed { HeartbeatMode::Fixed } else { HeartbeatMode::Idle };
        let timeout_ms = if fixed { timeout_ms.min(interval_ms) } else { timeout_ms };
        let timeout = Duration::from_millis(timeout_ms);
        let config = Config::default()
            .with_heartbeat_mode(mode)
            .with_heartbeat_interval(Duration::from_millis(interval_ms))
            .with_heartbeat_timeout(timeout)
            .with_seed(1);
        let mut conn = Connection::new(config).unwrap();
        let _ = conn.connect(Instant::ZERO);
        let _ = conn.handle(Event::Opened, Instant::ZERO);
        let sent = conn.poll_timeout().unwrap();
        prop_assert_eq!(conn.handle(Event::Tick, sent).collect::<Vec<_>>(), vec![Action::SendHeartbeat]);
        let deadline = conn.poll_timeout().unwrap();
        prop_assert_eq!(deadline, sent + timeout);
        // Exactly `timeout` late is still on time.
        let late_ns = if late_ns < 3 { timeout.as_nanos() as u64 - 1 + late_ns } else { late_ns };
        let at = deadline + Duration::from_nanos(late_ns);
        let got: Vec<Action> = conn.handle(Event::Tick, at).collect();
        if at <= deadline + timeout {
            prop_assert_eq!(got, vec![Action::Close { reason: CloseReason::HeartbeatTimeout }]);
        } else {
            prop_assert_eq!(got, vec![Action::SendHeartbeat]);
            prop_assert_eq!(conn.poll_timeout(), Some(at + timeout));
        }
    }

    /// Fixed mode: a peer that stops answering at a random time is closed
    /// within `(timeout, interval + timeout]` of going silent.
    #[test]
    fn fixed_mode_finds_a_dead_peer_within_interval_plus_timeout(
        interval_ms in 2u64..60_000,
        timeout_frac in 1u64..=100,
        silent_after_ms in 0u64..300_000,
        seed in any::<u64>(),
    ) {
        let interval = Duration::from_millis(interval_ms);
        let timeout = Duration::from_millis((interval_ms * timeout_frac / 100).max(1));
        let config = Config::default()
            .with_heartbeat_mode(HeartbeatMode::Fixed)
            .with_heartbeat_interval(interval)
            .with_heartbeat_timeout(timeout)
            .with_seed(seed);
        let mut conn = Connection::new(config).unwrap();
        let mut now = Instant::ZERO;
        let _ = conn.connect(now);
        let _ = conn.handle(Event::Opened, now);
        let silent_at = Instant::ZERO + Duration::from_millis(silent_after_ms);
        loop {
            now = conn.poll_timeout().unwrap();
            let actions: Vec<Action> = conn.handle(Event::Tick, now).collect();
            match actions[..] {
                [Action::SendHeartbeat] if now < silent_at => {
                    prop_assert_eq!(conn.handle(Event::Pong, now).len(), 0);
                }
                [Action::SendHeartbeat] => {}
                [Action::Close { reason: CloseReason::HeartbeatTimeout }] => break,
                _ => prop_assert!(false, "unexpected {:?} at {}", actions, now),
            }
        }
        prop_assert!(now >= silent_at + timeout, "closed at {} silent at {}", now, silent_at);
        prop_assert!(now <= silent_at + interval + timeout, "closed at {} silent at {}", now, silent_at);
    }
}

/// The generators are worth something only if they reach every state and
/// every action: count them over a deterministic sample.
#[test]
fn random_inputs_reach_every_state_and_action() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    use std::collections::BTreeSet;

    let mut runner = TestRunner::deterministic();
    let strategy = (config(), ops(120));
    let mut seen = BTreeSet::new();
    for _ in 0..300 {
        let (config, ops) = strategy.new_tree(&mut runner).unwrap().current();
        let Ok(mut checker) = InvariantChecker::new(config) else {
            continue;
        };
        for op in ops {
            let actions = checker.apply(op).unwrap_or_else(|v| panic!("{v}"));
            seen.insert(format!("{:?}", checker.connection().state()));
            for action in actions {
                seen.insert(match action {
                    Action::Connect { .. } => "connect".to_string(),
                    Action::Close { reason } => format!("close ({reason})"),
                    Action::ScheduleReconnect { attempt, .. } => {
                        format!("reconnect #{}", attempt.min(3))
                    }
                    Action::GiveUp { .. } => "give up".to_string(),
                    other => other.to_string(),
                });
            }
        }
    }
    let want = [
        "Idle",
        "Connecting",
        "Open",
        "Closing",
        "Waiting",
        "Stopped",
        "Failed",
        "connect",
        "send heartbeat",
        "close (heartbeat timeout)",
        "close (connect timeout)",
        "close (error)",
        "close (user)",
        "abort",
        "reconnect #1",
        "reconnect #3",
        "give up",
    ];
    for w in want {
        assert!(seen.contains(w), "never reached {w:?}; reached {seen:?}");
    }
}

// ----- the fuzz corpus, also run on stable -----

fn corpus_dir(target: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target)
}

/// Every committed seed and corpus file (including any crash reproducer
/// added there) passes the fuzz targets' checks, without nightly.
#[test]
fn fuzz_seeds_and_corpus_pass() {
    let seeds = keepalive_testkit::seeds::connection();
    for (name, bytes) in &seeds {
        if let Err(violation) = targets::connection(bytes) {
            panic!("seed {name}: {violation}");
        }
    }
    for (name, bytes) in keepalive_testkit::seeds::config() {
        targets::config(&bytes).unwrap_or_else(|e| panic!("seed {name}: {e}"));
    }
    for target in ["connection", "config"] {
        let Ok(dir) = std::fs::read_dir(corpus_dir(target)) else {
            continue;
        };
        for entry in dir.flatten() {
            let bytes = std::fs::read(entry.path()).unwrap();
            let result = match target {
                "connection" => targets::connection(&bytes).map_err(|v| v.to_string()),
                _ => targets::config(&bytes),
            };
            if let Err(e) = result {
                panic!("{}: {e}", entry.path().display());
            }
        }
    }
}
