//! Scenario transcripts of server-advised delays (`Connection::retry_after`:
//! HTTP 503/429 `Retry-After`, close code 1013): the advice is a floor under
//! the backoff, jittered 0–50 % on top, capped, and never stronger than the
//! user. Same harness and conventions as `scenarios.rs`.

mod trace;

use std::time::Duration;

use keepalive::{Action, Backoff, Config, Connection, Event, Instant, State};
use trace::*;

fn reconnect_delays(t: &Trace) -> Vec<Duration> {
    t.actions
        .iter()
        .filter_map(|(_, a)| match a {
            Action::ScheduleReconnect { delay, .. } => Some(*delay),
            _ => None,
        })
        .collect()
}

/// The upgrade is refused with `503 Retry-After: 10` twice, then the server
/// takes us. The article's fixed 2 s backoff would have come back five
/// times in those 10 s; the advice holds it off, and a failure without
/// advice falls back to the plain 2 s.
#[test]
fn retry_after_on_the_upgrade_is_a_floor_under_the_backoff() {
    let mut t = Trace::new(Config::article().with_seed(3));
    t.connect(secs(0));
    t.retry_after(millis(10), 10 * SEC);
    t.event(millis(10), Event::Closed);
    t.run_until(secs(16)); // the reconnect at 10.01 + jitter, Connecting
    let now = t.now;
    t.retry_after(now, 10 * SEC);
    t.event(now, Event::Closed);
    t.run_until(secs(40));
    // The third attempt gets no answer: the connect timeout closes it, and
    // without advice the plain 2 s follows.
    let now = t.now;
    t.event(now, Event::Closed);
    t.run_until(now + 2 * SEC);
    t.event(t.now, Event::Opened);
    insta::assert_snapshot!(t.log);

    let delays = reconnect_delays(&t);
    assert_eq!(delays.len(), 3);
    for advised in &delays[..2] {
        assert!(
            (10 * SEC..=15 * SEC).contains(advised),
            "advice 10 s, jitter 0-50 % on top: {advised:?}"
        );
    }
    assert_ne!(delays[0], delays[1], "jittered");
    assert_eq!(delays[2], 2 * SEC, "no advice: the plain backoff");
    assert_eq!(t.conn.attempt(), 3, "advised reconnects are counted");
    assert_eq!(t.conn.state(), State::Open);
}

/// Close code 1013 (Try Again Later) on an open connection: the client
/// passes the advice while the transport is still open, and the `Closed`
/// that ends it schedules the one reconnect (lock rule) at the advised time.
#[test]
fn close_1013_while_open_delays_the_one_reconnect() {
    let mut t = Trace::article_open();
    let actions = t.retry_after(secs(30), 4 * SEC);
    assert!(actions.is_empty(), "nothing to do until the transport ends");
    t.event(secs(30), Event::Error);
    t.event(secs(30), Event::Closed);
    t.event(secs(30), Event::Closed);
    t.run_until(secs(40));
    insta::assert_snapshot!(t.log);

    let delays = reconnect_delays(&t);
    assert_eq!(delays.len(), 1, "one disconnect, one reconnect");
    assert!((4 * SEC..=6 * SEC).contains(&delays[0]), "{delays:?}");
    let connects = t.times(is_connect);
    assert_eq!(connects.len(), 2);
    assert_eq!(connects[1], secs(30) + delays[0]);
}

/// Advice that arrives while already waiting moves the reconnect later,
/// never sooner; and a backoff longer than the advice wins.
#[test]
fn advice_while_waiting_only_moves_the_reconnect_later() {
    let backoff = Backoff::exponential(SEC, 60 * SEC); // 1, 2, 4, 8, 16 s, no jitter
    let mut t = Trace::new(Config::default().with_backoff(backoff).with_seed(5));
    t.connect(secs(0));
    t.event(secs(0), Event::Closed); // reconnect #1 in 1 s
    let later = t.retry_after(millis(100), 3 * SEC);
    let sooner = t.retry_after(millis(200), 2 * SEC);
    t.run_until(secs(20));
    insta::assert_snapshot!(t.log);

    let [Action::ScheduleReconnect { delay, attempt: 1 }] = later[..] else {
        panic!("{later:?}")
    };
    assert!((3 * SEC..=4500 * MS).contains(&delay));
    assert!(sooner.is_empty(), "an earlier end changes nothing");
    assert_eq!(t.times(is_connect)[1], millis(100) + delay);

    // Attempt 5's backoff (16 s) is longer than a 2 s advice: backoff wins.
    let mut t = Trace::new(Config::default().with_backoff(backoff).with_seed(5));
    t.connect(secs(0));
    for _ in 0..4 {
        t.event(t.now, Event::Closed);
        t.run_until(t.conn.poll_timeout().expect("waiting"));
    }
    t.retry_after(t.now, 2 * SEC);
    t.event(t.now, Event::Closed);
    assert_eq!(reconnect_delays(&t), [1, 2, 4, 8, 16].map(|s| s * SEC));
}

/// The user and the end of the road beat the advice: `connect()` while
/// waiting reconnects at once, `close()` stops, a rejection gives up,
/// `max_attempts` still counts; an hour of advice is capped at five
/// minutes; zero is no advice.
#[test]
fn advice_never_outranks_the_user_or_the_limits() {
    let mut t = Trace::article_open();
    t.retry_after(secs(1), 60 * SEC);
    t.event(secs(1), Event::Closed);
    t.connect(secs(2)); // the network came back
    assert_eq!(t.times(is_connect), [secs(0), secs(2)]);

    // close() forgets the advice; a later connect() starts clean.
    let mut t = Trace::article_open();
    t.retry_after(secs(1), 60 * SEC);
    t.close(secs(1));
    t.event(secs(1), Event::Closed);
    assert_eq!(t.conn.state(), State::Stopped);
    assert_eq!(t.conn.poll_timeout(), None);

    // A rejection after advice gives up.
    let mut t = Trace::article_open();
    t.retry_after(secs(1), 60 * SEC);
    let gave_up = t.event(secs(1), Event::Rejected);
    assert!(matches!(gave_up[..], [Action::GiveUp { attempts: 0 }]));

    // max_attempts 1: the advised reconnect is the one attempt.
    let mut t = Trace::new(Config::article().with_max_attempts(1).with_seed(1));
    t.connect(secs(0));
    t.retry_after(secs(0), 5 * SEC);
    t.event(secs(0), Event::Closed);
    t.run_until(secs(10));
    t.retry_after(t.now, 5 * SEC);
    let last = t.event(t.now, Event::Closed);
    assert!(matches!(last[..], [Action::GiveUp { attempts: 1 }]));

    // An hour is capped at five minutes (plus at most 50 %).
    let mut t = Trace::article_open();
    t.retry_after(secs(1), 3600 * SEC);
    t.event(secs(1), Event::Closed);
    let capped = reconnect_delays(&t)[0];
    assert!((300 * SEC..=450 * SEC).contains(&capped), "{capped:?}");
    assert_eq!(Connection::MAX_ADVISED_DELAY, 300 * SEC);

    // Zero is no advice; advice in Idle or Stopped does nothing.
    let mut t = Trace::article_open();
    t.retry_after(secs(1), Duration::ZERO);
    t.event(secs(1), Event::Closed);
    assert_eq!(reconnect_delays(&t), [2 * SEC]);
    let mut idle = Connection::new(Config::article()).expect("valid");
    assert_eq!(idle.retry_after(SEC, Instant::ZERO).len(), 0);
    assert_eq!(idle.poll_timeout(), None);
}

/// A thousand clients turned away with the same `Retry-After: 10` come back
/// spread over [10 s, 15 s], not in one burst.
#[test]
fn advised_comebacks_are_spread() {
    let mut delays: Vec<Duration> = (0..1000u64)
        .map(|seed| {
            let mut conn = Connection::new(Config::article().with_seed(seed)).expect("valid");
            let _ = conn.connect(Instant::ZERO);
            let _ = conn.retry_after(10 * SEC, Instant::ZERO);
            match conn.handle(Event::Closed, Instant::ZERO).next() {
                Some(Action::ScheduleReconnect { delay, .. }) => delay,
                other => panic!("{other:?}"),
            }
        })
        .collect();
    delays.sort();
    assert!(delays[0] >= 10 * SEC && delays[999] <= 15 * SEC);
    // Each half-second of the window gets a fair share (100 expected).
    let per_bucket = |k: u32| {
        let lo = 10 * SEC + k * 500 * MS;
        delays
            .iter()
            .filter(|d| (lo..lo + 500 * MS).contains(d))
            .count()
    };
    for k in 0..10 {
        let n = per_bucket(k);
        assert!((50..=150).contains(&n), "bucket {k}: {n}");
    }
}
