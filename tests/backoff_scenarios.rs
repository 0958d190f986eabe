//! Scenario transcripts of reconnecting: backoff sequences, attempt
//! counting (`min_uptime`, `max_attempts`), final rejections and
//! `connect()` during the backoff. Same harness and conventions as
//! `scenarios.rs`.

mod trace;

use std::fmt::Write as _;
use std::time::Duration;

use keepalive::{Action, Backoff, Config, Event, Jitter, State};
use keepalive_testkit::PHOENIX_STEPS;
use trace::*;

/// Every backoff policy's delay sequence for attempts 1..=10, two seeds each.
#[test]
fn backoff_delay_sequences() {
    let exp = Backoff::exponential(SEC, 30 * SEC);
    let policies = [
        ("fixed 2s (article)", Backoff::fixed(2 * SEC)),
        ("exponential 1s..30s", exp),
        (
            "exponential gRPC 1s x1.6..120s",
            Backoff::exponential(SEC, 120 * SEC).with_factor(1.6),
        ),
        ("exponential full jitter", exp.with_jitter(Jitter::Full)),
        ("exponential equal jitter", exp.with_jitter(Jitter::Equal)),
        (
            "exponential decorrelated",
            exp.with_jitter(Jitter::Decorrelated),
        ),
        ("steps (Phoenix)", Backoff::steps(&PHOENIX_STEPS)),
    ];
    let mut log = String::new();
    for (name, backoff) in policies {
        for seed in [1, 2] {
            // Drive a real connection whose every connect fails.
            let mut t = Trace::new(Config::default().with_backoff(backoff).with_seed(seed));
            t.connect(secs(0));
            t.event(secs(0), Event::Closed);
            t.run_with_server(secs(400), |_| false);
            let delays: Vec<Duration> = t
                .actions
                .iter()
                .filter_map(|(_, a)| match a {
                    Action::ScheduleReconnect { delay, .. } => Some(*delay),
                    _ => None,
                })
                .take(10)
                .collect();
            for (i, d) in delays.iter().enumerate() {
                let (lo, hi) = backoff.bounds(i as u32 + 1);
                assert!(lo <= *d && *d <= hi, "{name} attempt {}: {d:?}", i + 1);
            }
            let shown: Vec<String> = delays
                .iter()
                .map(|d| format!("{:.3}", d.as_secs_f64()))
                .collect();
            let _ = writeln!(log, "{name:<32} seed {seed}: {}", shown.join(" "));
        }
    }
    insta::assert_snapshot!(log);

    let mut rng = keepalive::Rng::new(1);
    assert_eq!(
        exp.delay(1, Duration::ZERO, &mut rng),
        SEC,
        "the first exponential delay is `initial`"
    );
    assert_eq!(exp.delay(6, Duration::ZERO, &mut rng), 30 * SEC);
    assert_eq!(
        Backoff::steps(&PHOENIX_STEPS).delay(20, Duration::ZERO, &mut rng),
        2 * SEC
    );
}

/// Rule 5: the attempt counter (and the backoff) restarts only after a
/// connection stayed open `min_uptime`; a flapping server keeps growing it.
#[test]
fn min_uptime_resets_the_attempt_counter() {
    let config = Config::default()
        .with_backoff(Backoff::exponential(SEC, 60 * SEC))
        .with_min_uptime(5 * SEC)
        .with_seed(1);
    let mut t = Trace::new(config);
    t.connect(secs(0));
    t.event(secs(0), Event::Closed); // attempt 1 in 1 s
    t.run_until(secs(1));
    t.event(secs(1), Event::Opened);
    t.event(secs(3), Event::Closed); // up 2 s only: attempt 2 in 2 s
    t.run_until(secs(5));
    t.event(secs(5), Event::Opened);
    t.event(secs(11), Event::Closed); // up 6 s: back to attempt 1 in 1 s
    t.run_until(secs(12));
    insta::assert_snapshot!(t.log);

    let attempts: Vec<(u32, Duration)> = t
        .actions
        .iter()
        .filter_map(|(_, a)| match a {
            Action::ScheduleReconnect { delay, attempt } => Some((*attempt, *delay)),
            _ => None,
        })
        .collect();
    assert_eq!(attempts, [(1, SEC), (2, 2 * SEC), (1, SEC)]);
}

/// socket.io's `reconnectionAttempts`: with 2, two reconnects are tried,
/// then `GiveUp`, `Failed`, and silence.
#[test]
fn max_attempts_gives_up_then_stays_silent() {
    let config = Config::article().with_max_attempts(2).with_seed(1);
    let mut t = Trace::new(config);
    t.connect(secs(0));
    t.event(secs(0), Event::Opened);
    t.event(secs(1), Event::Closed);
    t.run_with_server(secs(60), |_| false);
    t.event(secs(61), Event::Closed);
    t.event(secs(61), Event::Error);
    t.event(secs(62), Event::Tick);
    insta::assert_snapshot!(t.log);

    assert_eq!(t.count(is_reconnect), 2);
    assert_eq!(
        t.first(|a| matches!(a, Action::GiveUp { attempts: 2 })),
        Some(millis(5_020))
    );
    assert_eq!(t.conn.state(), State::Failed);
    assert_eq!(t.conn.poll_timeout(), None);
    assert_eq!(
        t.actions.last().map(|(t, _)| *t),
        Some(millis(5_020)),
        "nothing after giving up"
    );
}

/// A close the peer declares final (HTTP 401 on the upgrade) is not retried.
#[test]
fn rejected_gives_up_at_once() {
    let mut t = Trace::new(Config::article().with_seed(1));
    t.connect(secs(0));
    t.event(secs(0), Event::Closed);
    t.run_until(secs(2));
    t.event(millis(2_010), Event::Rejected);
    t.run_until(secs(60));
    insta::assert_snapshot!(t.log);
    assert_eq!(
        t.first(|a| matches!(a, Action::GiveUp { attempts: 1 })),
        Some(millis(2_010))
    );
    assert_eq!(t.conn.state(), State::Failed);
}

/// Rule 6: `connect()` during the backoff (the network came back)
/// reconnects at once and cancels the pending timer, without counting an
/// extra attempt.
#[test]
fn connect_during_backoff_reconnects_now() {
    let config = Config::default()
        .with_backoff(Backoff::exponential(SEC, 30 * SEC))
        .with_seed(1);
    let mut t = Trace::new(config);
    t.connect(secs(0));
    t.event(secs(0), Event::Closed);
    t.run_until(secs(1));
    t.event(millis(1_010), Event::Closed); // attempt 2 in 2 s, due at 3.010
    t.connect(millis(1_500));
    t.run_until(secs(5));
    t.event(secs(5), Event::Closed);
    insta::assert_snapshot!(t.log);

    assert_eq!(
        t.first(|a| matches!(a, Action::Connect { id } if id.get() == 3)),
        Some(millis(1_500))
    );
    assert_eq!(t.count(is_connect), 3, "the cancelled timer never fires");
    assert_eq!(
        t.actions.last(),
        Some(&(
            secs(5),
            Action::ScheduleReconnect {
                delay: 4 * SEC,
                attempt: 3
            }
        ))
    );
}
