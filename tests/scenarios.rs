//! Scenario transcripts of the connection rules: each test drives a
//! `Connection` in virtual time and snapshots a readable
//! `t=…  input → [actions]` trace, then asserts the key times by hand so a
//! wrong snapshot cannot be accepted silently. Backoff and attempt counting
//! are in `backoff_scenarios.rs`.

mod trace;

use std::fmt::Write as _;
use std::time::Duration;

use keepalive::{Action, CloseReason, Config, Event, HeartbeatMode, Instant, State, TransportId};
use trace::*;

/// The article's own timeline, with its parameters (60 s heartbeat, 60 s
/// timeout, fixed 2 s): a healthy connection heartbeats, the server is killed
/// (the browser fires `onerror` then `onclose`), the client retries every
/// 2 s while it is down, and comes back when it returns. The article's JS
/// would schedule twice (error and close) were it not for `lockReconnect`;
/// here one disconnect is one reconnect by construction.
#[test]
fn article_timeline_through_an_outage() {
    let mut t = Trace::new(Config::article().with_seed(1));
    t.connect(secs(0));
    t.event(millis(50), Event::Opened);
    t.event(secs(10), Event::Message); // a pushed business message
    t.run_until(secs(70));
    t.event(millis(70_020), Event::Message); // the server's heartbeat reply
    t.run_until(secs(140));
    // The server process is killed at 140 s.
    t.event(secs(140), Event::Error);
    t.event(secs(140), Event::Closed);
    // While it is down every connect attempt fails after 10 ms.
    t.run_with_server(secs(149), |_| false);
    // It is back at 149 s.
    t.run_with_server(secs(300), |_| true);
    insta::assert_snapshot!(t.log);

    assert_eq!(
        t.first(is_heartbeat),
        Some(secs(70)),
        "60 s after the last message"
    );
    assert_eq!(
        t.count(|a| matches!(
            a,
            Action::Close {
                reason: CloseReason::Error
            }
        )),
        1
    );
    let reconnects: Vec<Instant> = t.times(is_connect);
    // The first connect, then one every 2 s (+10 ms of failed connect).
    assert_eq!(
        reconnects[..4],
        [secs(0), millis(142_000), millis(144_010), millis(146_020)]
    );
    assert_eq!(t.conn.state(), State::Open);
    assert_eq!(t.conn.attempt(), 0, "reset after min_uptime");
}

/// Rule 1: a silent peer (half-open TCP, a dead proxy) is found exactly
/// `interval + timeout` after its last data.
#[test]
fn dead_peer_detected_at_interval_plus_timeout() {
    let config = Config::default()
        .with_heartbeat_interval(25 * SEC)
        .with_heartbeat_timeout(20 * SEC)
        .with_seed(1);
    let mut t = Trace::new(config);
    t.connect(secs(0));
    t.event(secs(1), Event::Opened);
    t.event(secs(3), Event::Message); // last data from the peer
    t.run_until(secs(48));
    t.event(secs(48), Event::Closed);
    insta::assert_snapshot!(t.log);

    assert_eq!(t.first(is_heartbeat), Some(secs(28)));
    assert_eq!(
        t.first(|a| matches!(
            a,
            Action::Close {
                reason: CloseReason::HeartbeatTimeout
            }
        )),
        Some(secs(48))
    );
    assert_eq!(
        t.first(is_reconnect),
        Some(secs(48)),
        "scheduled by Closed, not by the timeout"
    );
}

/// Any inbound data postpones the heartbeat; a busy connection never sends
/// one. An answered heartbeat gives an RTT sample.
#[test]
fn inbound_messages_postpone_the_heartbeat() {
    let mut t = Trace::article_open();
    for s in [30, 59, 100, 159] {
        t.run_until(secs(s));
        t.event(secs(s), Event::Message);
    }
    t.run_until(secs(219));
    t.event(millis(219_250), Event::Pong);
    t.run_until(secs(300));
    insta::assert_snapshot!(t.log);

    let beats: Vec<Instant> = t.times(is_heartbeat);
    // 60 s after the message at 159 s, then 60 s after the pong.
    assert_eq!(beats, [secs(219), millis(279_250)]);
    assert_eq!(t.conn.rtt(), Some(250 * MS));
    assert_eq!(
        t.conn.poll_timeout(),
        Some(millis(339_250)),
        "the second one times out then"
    );
}

/// Rule 3: `Error` and `Closed` of one disconnect, in either order, give
/// one `Close` at most and exactly one reconnect.
#[test]
fn error_and_closed_in_both_orders_reconnect_once() {
    let mut log = String::new();
    for order in [[Event::Error, Event::Closed], [Event::Closed, Event::Error]] {
        let mut t = Trace::article_open();
        t.event(secs(5), order[0]);
        t.event(secs(5), order[1]);
        t.event(secs(5), Event::Closed);
        t.run_until(secs(8));
        assert_eq!(t.count(is_reconnect), 1, "{order:?}");
        assert_eq!(t.count(is_connect), 2, "{order:?}");
        assert_eq!(
            t.first(|a| matches!(a, Action::Connect { id } if id.get() == 2)),
            Some(secs(7))
        );
        log.push_str(&t.log);
        log.push('\n');
    }
    insta::assert_snapshot!(log);
}

/// Rule 4 and `handle_from`: a late `Closed` of the replaced transport,
/// arriving after the reconnect, is ignored.
#[test]
fn late_closed_from_an_old_transport_is_ignored() {
    let mut t = Trace::new(Config::article().with_seed(1));
    t.connect(secs(0));
    t.event_from(secs(0), 1, Event::Opened);
    t.event_from(secs(10), 1, Event::Error);
    t.event_from(secs(10), 1, Event::Closed);
    t.run_until(secs(12));
    t.event_from(millis(12_100), 2, Event::Opened);
    t.event_from(secs(13), 1, Event::Closed); // the old socket's late close
    t.event_from(secs(13), 1, Event::Error);
    t.event_from(secs(14), 3, Event::Closed); // an id never handed out
    t.run_until(secs(20));
    insta::assert_snapshot!(t.log);

    assert_eq!(t.conn.state(), State::Open);
    assert_eq!(t.conn.transport(), Some(TransportId::from_u32(2)));
    assert_eq!(t.count(is_reconnect), 1);
}

/// Rule 2: a `Close` that never completes is escalated to `Abort` after the
/// close timeout, and the reconnect follows the abort.
#[test]
fn close_timeout_escalates_to_abort() {
    let config = Config::article().with_close_timeout(5 * SEC).with_seed(1);
    let mut t = Trace::new(config);
    t.connect(secs(0));
    t.event(secs(0), Event::Opened);
    t.run_until(secs(130)); // heartbeat at 60, close at 120, abort at 125
    t.event_from(secs(131), 1, Event::Closed); // too late: that transport is gone
    insta::assert_snapshot!(t.log);

    assert_eq!(
        t.first(|a| matches!(a, Action::Close { .. })),
        Some(secs(120))
    );
    assert_eq!(t.first(|a| matches!(a, Action::Abort)), Some(secs(125)));
    assert_eq!(t.first(is_reconnect), Some(secs(125)));
    assert_eq!(
        t.first(|a| matches!(a, Action::Connect { id } if id.get() == 2)),
        Some(secs(127))
    );
    assert_eq!(t.count(is_reconnect), 1);
}

/// A transport that never opens is closed after the connect timeout.
#[test]
fn connect_timeout_closes_the_attempt() {
    let config = Config::article().with_connect_timeout(4 * SEC).with_seed(1);
    let mut t = Trace::new(config);
    t.connect(secs(0));
    t.run_until(secs(4));
    t.event(millis(4_200), Event::Closed);
    t.run_until(millis(6_200));
    t.event(secs(7), Event::Opened);
    insta::assert_snapshot!(t.log);

    assert_eq!(
        t.first(|a| matches!(
            a,
            Action::Close {
                reason: CloseReason::ConnectTimeout
            }
        )),
        Some(secs(4))
    );
    assert_eq!(
        t.first(|a| matches!(a, Action::Connect { id } if id.get() == 2)),
        Some(millis(6_200))
    );
    assert_eq!(t.conn.state(), State::Open);
}

/// Rule 6: `close()` in every state stops for good; only the close
/// escalation can follow, and `poll_timeout` is `None` once it has ended.
#[test]
fn user_close_in_every_state() {
    let mut log = String::new();
    type Setup = (&'static str, fn(&mut Trace));
    let setups: [Setup; 7] = [
        ("idle", |_| {}),
        ("connecting", |t| {
            t.connect(secs(0));
        }),
        ("open", |t| {
            t.connect(secs(0));
            t.event(secs(0), Event::Opened);
        }),
        ("closing", |t| {
            t.connect(secs(0));
            t.event(secs(0), Event::Opened);
            t.event(secs(0), Event::Error);
        }),
        ("waiting", |t| {
            t.connect(secs(0));
            t.event(secs(0), Event::Closed);
        }),
        ("stopped", |t| {
            t.close(secs(0));
        }),
        ("failed", |t| {
            t.connect(secs(0));
            t.event(secs(0), Event::Rejected);
        }),
    ];
    for (name, setup) in setups {
        let mut t = Trace::new(Config::article().with_seed(1));
        setup(&mut t);
        let before = t.actions.len();
        let _ = writeln!(t.log, "-- close() while {name}");
        t.close(secs(1));
        t.run_until(secs(1_000));
        let after: Vec<Action> = t.actions[before..].iter().map(|(_, a)| *a).collect();
        assert!(
            after.iter().all(|a| matches!(
                a,
                Action::Close {
                    reason: CloseReason::User
                } | Action::Abort
            )),
            "{name}: {after:?}"
        );
        assert_eq!(t.conn.state(), State::Stopped, "{name}");
        assert_eq!(t.conn.poll_timeout(), None, "{name}");
        let _ = writeln!(log, "== {name}\n{}", t.log);
    }
    insta::assert_snapshot!(log);
}

/// Rule 6: `close()` followed by `Closed` ends everything; a later
/// `connect()` starts afresh with a new transport.
#[test]
fn close_then_connect_again() {
    let mut t = Trace::article_open();
    t.close(secs(5));
    t.connect(secs(6)); // while still closing: connects once the old one ended
    t.event(secs(7), Event::Closed);
    t.event(secs(7), Event::Opened);
    insta::assert_snapshot!(t.log);
    assert_eq!(
        t.first(|a| matches!(a, Action::Connect { id } if id.get() == 2)),
        Some(secs(7))
    );
    assert_eq!(t.conn.state(), State::Open);
}

/// Rule 7: a tick that arrives long after the heartbeat deadline (the laptop
/// slept) probes with a fresh heartbeat instead of closing on the spot.
#[test]
fn late_tick_probes_instead_of_closing() {
    let mut t = Trace::article_open();
    t.run_until(secs(60)); // heartbeat sent, answer due by 120 s
    t.event(secs(1_000), Event::Tick); // woke up after 16 minutes
    t.event(millis(1_000_080), Event::Pong); // the connection was fine
    t.run_until(secs(1_060));
    t.event(secs(1_200), Event::Tick); // slept again: the heartbeat due at 1 060.08 s goes out late
    t.run_until(secs(1_260)); // no answer this time: closed on time
    insta::assert_snapshot!(t.log);

    assert_eq!(t.count(|a| matches!(a, Action::Close { .. })), 1);
    assert_eq!(
        t.first(|a| matches!(a, Action::Close { .. })),
        Some(secs(1_260))
    );
    assert_eq!(t.conn.rtt(), Some(80 * MS));
}

/// Fixed mode (Phoenix/Discord): a heartbeat every interval whatever else
/// arrives, the first one jittered; only a pong answers; a missing pong
/// closes when the timeout expires.
#[test]
fn fixed_heartbeat_mode() {
    let config = Config::default()
        .with_heartbeat_mode(HeartbeatMode::Fixed)
        .with_heartbeat_interval(30 * SEC)
        .with_heartbeat_timeout(30 * SEC)
        .with_seed(3);
    let mut t = Trace::new(config);
    t.connect(secs(0));
    t.event(secs(0), Event::Opened);
    let first = t.conn.poll_timeout().unwrap();
    assert!(
        first > secs(0) && first <= secs(30),
        "first heartbeat jittered: {first}"
    );
    t.run_until(first);
    t.event(first + 40 * MS, Event::Pong);
    t.event(first + SEC, Event::Message); // does not move the schedule
    t.run_until(first + 30 * SEC);
    t.event(first + 30 * SEC + 50 * MS, Event::Message); // not a pong: no answer
    t.run_until(first + 61 * SEC);
    insta::assert_snapshot!(t.log);

    let beats: Vec<Instant> = t.times(is_heartbeat);
    assert_eq!(beats, [first, first + 30 * SEC]);
    assert_eq!(
        t.first(|a| matches!(
            a,
            Action::Close {
                reason: CloseReason::HeartbeatTimeout
            }
        )),
        Some(first + 60 * SEC)
    );
    assert_eq!(t.conn.rtt(), Some(40 * MS));
}

/// Heartbeat values changed on a live connection (a server handshake that
/// sends its own interval and timeout, as engine.io does).
#[test]
fn heartbeat_changed_on_a_live_connection() {
    let mut t = Trace::article_open();
    t.event(secs(1), Event::Message);
    t.conn.set_heartbeat(25 * SEC, 20 * SEC).unwrap();
    let _ = writeln!(t.log, "t=1.000s   set_heartbeat(25s, 20s)");
    t.run_until(secs(46));
    insta::assert_snapshot!(t.log);

    assert_eq!(t.first(is_heartbeat), Some(secs(26)));
    assert_eq!(
        t.first(|a| matches!(a, Action::Close { .. })),
        Some(secs(46))
    );
    assert!(t.conn.set_heartbeat(Duration::ZERO, SEC).is_err());
    assert_eq!(
        t.conn.heartbeat_interval(),
        25 * SEC,
        "an error changes nothing"
    );
}

/// Rule 8: `poll_timeout` is never before the latest `now`, an early tick
/// emits nothing, and time going backwards is clamped.
#[test]
fn deadlines_and_time_going_backwards() {
    let mut t = Trace::new(Config::article().with_seed(1));
    t.connect(secs(100));
    t.event(secs(100), Event::Opened);
    assert_eq!(t.conn.poll_timeout(), Some(secs(160)));
    assert!(
        t.event(secs(159), Event::Tick).is_empty(),
        "an early tick emits nothing"
    );
    assert!(
        t.event(secs(3), Event::Tick).is_empty(),
        "time went backwards: clamped to 159 s"
    );
    t.event(secs(5), Event::Message); // clamped: counts as 159 s
    assert_eq!(t.conn.poll_timeout(), Some(secs(219)));
    insta::assert_snapshot!(t.log);
}
