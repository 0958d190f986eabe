//! `Presence` against a naive reference: a `HashMap` of last-seen times and a
//! full scan. Both are driven with the same random operations (check-ins,
//! check-outs, status queries, drained `poll_expired`, time steps of zero,
//! small, exact-timeout, huge and backwards sizes, starting at zero or near
//! the end of time) and must agree on every status, every set of ids that
//! went offline, `len`, `online_count` and the online ids; `poll_timeout` must
//! never be later than the model's next event.
//!
//! Runs 256 cases by default; set `PROPTEST_CASES` for more.
#![cfg(feature = "std")]

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use keepalive::{Instant, Presence, PresenceConfig};
use proptest::prelude::*;

// The reference model is the one the `presence` fuzz target uses, included
// by path: a dev-dependency on testkit's `std` feature would switch `std` on
// for every test build, including `cargo test --no-default-features`.
#[allow(dead_code)]
#[path = "../testkit/src/bytes.rs"]
mod bytes;
#[allow(dead_code)]
#[path = "../testkit/src/presence.rs"]
mod reference;

use reference::{IDS, Model};

/// A step of the caller's clock, relative to the configured timeout `T`.
#[derive(Clone, Copy, Debug)]
enum Step {
    Zero,
    /// `T * permille / 1000`, possibly more than `T`.
    Part(u16),
    ExactTimeout,
    TimeoutMinusOne,
    /// Nanoseconds, unrelated to `T`.
    Nanos(u64),
    /// Up to ~3 hours: past every timeout and forget_after.
    Huge(u64),
}

#[derive(Clone, Copy, Debug)]
enum Op {
    CheckIn(u8),
    CheckOut(u8),
    Status(u8),
    Drain,
    Forward(Step),
    Backward(Step),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        2 => Just(Step::Zero),
        6 => (0u16..2500).prop_map(Step::Part),
        2 => Just(Step::ExactTimeout),
        1 => Just(Step::TimeoutMinusOne),
        2 => (0u64..5_000_000).prop_map(Step::Nanos),
        1 => (0u64..10_000_000_000_000).prop_map(Step::Huge),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => (0..IDS).prop_map(Op::CheckIn),
        2 => (0..IDS).prop_map(Op::CheckOut),
        2 => (0..IDS).prop_map(Op::Status),
        4 => Just(Op::Drain),
        6 => step().prop_map(Op::Forward),
        1 => step().prop_map(Op::Backward),
    ]
}

#[derive(Clone, Copy, Debug)]
struct Setup {
    timeout_ms: u64,
    forget_ms: u64,
    capacity: usize,
    start: u64,
}

fn setup() -> impl Strategy<Value = Setup> {
    (
        1u64..3000,
        prop_oneof![Just(0u64), 1u64..200, 200u64..6000],
        1usize..7,
        prop_oneof![
            3 => Just(0u64),
            1 => Just(u64::MAX - 20_000_000_000_000),
            1 => Just(u64::MAX - 5_000_000_000),
        ],
    )
        .prop_map(|(timeout_ms, forget_ms, capacity, start)| Setup {
            timeout_ms,
            forget_ms,
            capacity,
            start,
        })
}

fn run(setup: Setup, ops: &[Op]) -> Result<(), TestCaseError> {
    let config = PresenceConfig::new()
        .with_timeout(Duration::from_millis(setup.timeout_ms))
        .with_forget_after(Duration::from_millis(setup.forget_ms))
        .with_capacity(setup.capacity);
    let mut real: Presence<u8> = Presence::new(config).unwrap();
    let timeout = setup.timeout_ms * 1_000_000;
    let mut model = Model::new(real.config());
    let mut now = setup.start;
    let span = |s: Step| match s {
        Step::Zero => 0,
        Step::Part(permille) => timeout / 1000 * u64::from(permille),
        Step::ExactTimeout => timeout,
        Step::TimeoutMinusOne => timeout - 1,
        Step::Nanos(n) | Step::Huge(n) => n,
    };
    for (n, &op) in ops.iter().enumerate() {
        let at = Instant::from_nanos(now);
        match op {
            Op::CheckIn(id) => {
                prop_assert_eq!(real.check_in(&id, at), model.check_in(id, now), "op {}", n);
            }
            Op::CheckOut(id) => {
                prop_assert_eq!(
                    real.check_out(&id, at),
                    model.check_out(id, now),
                    "op {}",
                    n
                );
            }
            Op::Status(id) => {
                prop_assert_eq!(real.status(&id, at), model.status(id, now), "op {}", n);
            }
            Op::Drain => {
                let mut got = Vec::new();
                while let Some(id) = real.poll_expired(at) {
                    // Exactly the status at this moment: never an online id.
                    prop_assert!(!real.status(&id, at).is_online());
                    got.push(id);
                }
                let want = model.drain(now);
                let want_ids: Vec<u8> = want.iter().map(|&(_, id)| id).collect();
                let mut sorted = got.clone();
                sorted.sort();
                let mut want_sorted = want_ids.clone();
                want_sorted.sort();
                prop_assert_eq!(&sorted, &want_sorted, "op {}: went offline", n);
                // Reported in order of deadline (ties in any order).
                let deadline: HashMap<u8, u64> = want.iter().map(|&(d, id)| (id, d)).collect();
                let order: Vec<u64> = got.iter().map(|id| deadline[id]).collect();
                prop_assert!(order.windows(2).all(|w| w[0] <= w[1]), "order {:?}", order);
                prop_assert_eq!(real.len(), model.len(), "op {}: len", n);
                prop_assert_eq!(real.online_count(), model.online().len());
                let online: BTreeSet<u8> = real.online().copied().collect();
                prop_assert_eq!(online, model.online());
                // Never late, never in the past.
                let t = model.now();
                match (real.poll_timeout(), model.next_event()) {
                    (Some(p), Some(m)) => {
                        prop_assert!(p.as_nanos() > t && p.as_nanos() <= m, "{:?} {} {}", p, t, m)
                    }
                    (None, Some(m)) => prop_assert!(false, "no poll_timeout, model at {}", m),
                    (Some(p), None) => prop_assert!(p.as_nanos() > t),
                    (None, None) => {}
                }
                // And nothing more is due right now.
                prop_assert_eq!(real.poll_expired(at), None);
            }
            Op::Forward(s) => now = now.saturating_add(span(s)),
            Op::Backward(s) => now = now.saturating_sub(span(s)),
        }
        // Statuses agree for every id after every operation.
        let at = Instant::from_nanos(now);
        for id in 0..IDS {
            prop_assert_eq!(
                real.status(&id, at),
                model.status(id, now),
                "op {} id {}",
                n,
                id
            );
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(256)
    ))]

    #[test]
    fn presence_agrees_with_a_naive_model(
        setup in setup(),
        ops in prop::collection::vec(op(), 1..160),
    ) {
        run(setup, &ops)?;
    }
}

/// A hand-picked sequence that crosses every branch at least once, so the
/// test means something even with `PROPTEST_CASES=1`.
#[test]
fn model_agrees_on_a_fixed_walk() {
    let setup = Setup {
        timeout_ms: 100,
        forget_ms: 50,
        capacity: 2,
        start: 0,
    };
    use Op::*;
    let ops = [
        CheckIn(1),
        CheckIn(2),
        CheckIn(3),
        Forward(Step::TimeoutMinusOne),
        CheckIn(1),
        Forward(Step::Nanos(1)),
        Drain,
        CheckOut(1),
        Backward(Step::ExactTimeout),
        CheckIn(2),
        Forward(Step::Part(1500)),
        Drain,
        CheckIn(3),
        Forward(Step::Huge(1 << 40)),
        Drain,
        Status(1),
    ];
    run(setup, &ops).unwrap();
}
