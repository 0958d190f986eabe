//! Unit tests for the tracker's edge cases (the wheel's own are in src/wheel.rs).

use super::*;
use core::time::Duration;
use std::string::String;
use std::vec;

fn tracker(timeout_ms: u64, forget_ms: u64, capacity: usize) -> Presence<u32> {
    let config = PresenceConfig::new()
        .with_timeout(Duration::from_millis(timeout_ms))
        .with_forget_after(Duration::from_millis(forget_ms))
        .with_capacity(capacity);
    Presence::new(config).unwrap()
}

fn drain<K: Hash + Eq + Clone, S: BuildHasher>(p: &mut Presence<K, S>, now: Instant) -> Vec<K> {
    core::iter::from_fn(|| p.poll_expired(now)).collect()
}

fn ms(n: u64) -> Instant {
    Instant::from_millis(n)
}

#[test]
fn invalid_config_is_an_error_not_a_panic() {
    let bad = PresenceConfig::new().with_capacity(0);
    assert_eq!(
        Presence::<u32>::new(bad).unwrap_err(),
        PresenceConfigError::ZeroCapacity
    );
}

#[test]
fn bucket_width_never_exceeds_timeout_or_forget_after() {
    for (t, f) in [
        (1, 0),
        (1, 1),
        (90_000, 3_600_000),
        (1000, 1),
        (365 * 86_400_000, 0),
    ] {
        let p = tracker(t, f, 1);
        let basis = if f == 0 { t } else { t.min(f) } * 1_000_000;
        assert!(p.wheel.width() <= basis / 64, "t={t} f={f}");
    }
}

#[test]
fn time_going_backwards_is_clamped() {
    let mut p = tracker(100, 1000, 8);
    p.check_in(&1, ms(500)).unwrap();
    // An earlier `now` counts as 500 ms: still online, last seen 500.
    assert_eq!(p.check_in(&1, ms(10)).unwrap(), Change::Refreshed);
    let online = Status::Online {
        since: ms(500),
        last_seen: ms(500),
    };
    assert_eq!(p.status(&1, ms(0)), online);
    assert!(drain(&mut p, ms(0)).is_empty());
    let next = p.poll_timeout().unwrap();
    assert!(ms(500) <= next && next <= ms(600), "{next}");
    assert_eq!(drain(&mut p, ms(600)), [1]);
    assert_eq!(
        p.check_out(&1, ms(1)),
        Status::Offline { last_seen: ms(500) }
    );
}

#[test]
fn instants_near_the_end_of_time_saturate() {
    let mut p = tracker(1, 1, 8);
    let end = Instant::MAX;
    let almost = Instant::from_nanos(u64::MAX - 10);
    assert_eq!(p.check_in(&1, almost).unwrap(), Change::CameOnline);
    // last_seen + timeout saturates at MAX: offline exactly at MAX.
    assert!(p.status(&1, Instant::from_nanos(u64::MAX - 1)).is_online());
    assert!(drain(&mut p, Instant::from_nanos(u64::MAX - 1)).is_empty());
    assert_eq!(p.poll_timeout(), Some(end));
    assert_eq!(drain(&mut p, end), [1]);
    // offline_at + forget_after saturates too: forgotten at once.
    assert_eq!(p.status(&1, end), Status::Unknown);
    assert_eq!(p.len(), 0);
    assert_eq!(p.check_in(&2, end).unwrap(), Change::CameOnline);
    assert_eq!(p.status(&2, end), Status::Unknown); // MAX >= MAX + 1ms
    assert_eq!(drain(&mut p, end), [2]);
    assert!(p.is_empty());
    assert_eq!(p.poll_timeout(), None);
}

#[test]
fn a_year_long_timeout_is_exact() {
    let year = PresenceConfig::MAX_DURATION;
    let config = PresenceConfig::new()
        .with_timeout(year)
        .with_forget_after(year);
    let mut p: Presence<u32> = Presence::new(config).unwrap();
    let t0 = Instant::from_secs(5);
    p.check_in(&9, t0).unwrap();
    let deadline = t0 + year;
    let mut now = t0;
    // Poll as a server would, at every poll_timeout, until the deadline.
    while let Some(next) = p.poll_timeout() {
        if next >= deadline {
            break;
        }
        now = next;
        assert!(drain(&mut p, now).is_empty(), "early at {now}");
    }
    assert!(now < deadline);
    assert!(drain(&mut p, Instant::from_nanos(deadline.as_nanos() - 1)).is_empty());
    assert_eq!(drain(&mut p, deadline), [9]);
    assert!(
        p.status(
            &9,
            (deadline + year).saturating_sub(Duration::from_nanos(1))
        )
        .is_offline()
    );
    assert!(p.status(&9, deadline + year).is_unknown());
    assert_eq!(drain(&mut p, deadline + year), Vec::<u32>::new());
    assert!(p.is_empty());
}

#[test]
fn full_refuses_new_ids_but_refreshes_known_ones() {
    let mut p = tracker(100, 50, 2);
    p.check_in(&1, ms(0)).unwrap();
    p.check_in(&2, ms(0)).unwrap();
    assert_eq!(p.check_in(&3, ms(10)), Err(PresenceError::Full));
    assert_eq!(p.check_in(&1, ms(10)), Ok(Change::Refreshed));
    assert_eq!(p.status(&3, ms(10)), Status::Unknown);
    assert_eq!(p.len(), 2);
    // 2 goes offline at 100 and is dropped at 150; then 3 fits.
    assert_eq!(drain(&mut p, ms(100)), [2]);
    assert_eq!(p.check_in(&3, ms(149)), Err(PresenceError::Full));
    assert_eq!(drain(&mut p, ms(150)), [1]); // refreshed at 10: offline at 110
    assert_eq!(p.len(), 1);
    assert_eq!(p.check_in(&3, ms(150)), Ok(Change::CameOnline));
    // The freed slot was reused: no growth.
    assert_eq!(p.slots.len(), 2);
}

#[test]
fn forget_after_zero_drops_at_once_even_inside_the_run() {
    let mut p = tracker(100, 0, 4);
    p.check_in(&1, ms(0)).unwrap();
    p.check_in(&2, ms(0)).unwrap();
    // Move their bucket into the run without anything being due yet (the
    // bucket holding 100 ms starts before it).
    let just_before = Instant::from_nanos(99_999_999);
    assert!(drain(&mut p, just_before).is_empty());
    assert!(p.slots.iter().all(|s| s.in_run()));
    // Checking out inside the run: gone from the index now (a zombie slot
    // until the run pops it).
    assert!(p.check_out(&1, just_before).is_online());
    assert_eq!(p.status(&1, just_before), Status::Unknown);
    assert_eq!(p.len(), 1);
    // The same id comes back at once: a new slot, a new session.
    assert_eq!(p.check_in(&1, just_before), Ok(Change::CameOnline));
    assert_eq!(drain(&mut p, ms(100)), [2]);
    assert_eq!(p.status(&2, ms(100)), Status::Unknown);
    assert!(drain(&mut p, ms(199)).is_empty());
    assert_eq!(drain(&mut p, just_before + Duration::from_millis(100)), [1]);
    assert!(p.is_empty());
    assert_eq!(p.online_count(), 0);
    // Zombie and forgotten slots went back to the free list.
    assert_eq!(p.slots.iter().filter(|s| s.prev == FREE).count(), 3);
}

#[test]
fn an_offline_id_that_returns_is_refiled_under_its_new_timeout() {
    // forget_after far longer than timeout: the id sits in the wheel under
    // its forget deadline; coming back must bring its expiry forward.
    let mut p = tracker(100, 1_000_000, 4);
    p.check_in(&1, ms(0)).unwrap();
    assert!(p.check_out(&1, ms(10)).is_online());
    assert_eq!(p.check_in(&1, ms(20)), Ok(Change::CameOnline));
    assert!(drain(&mut p, ms(119)).is_empty());
    assert_eq!(drain(&mut p, ms(120)), [1]);
}

#[test]
fn silent_id_checking_in_before_the_report_is_never_reported() {
    let mut p = tracker(100, 1000, 4);
    p.check_in(&1, ms(0)).unwrap();
    assert!(p.status(&1, ms(100)).is_offline());
    assert_eq!(p.check_in(&1, ms(150)), Ok(Change::CameOnline));
    assert_eq!(
        p.status(&1, ms(150)),
        Status::Online {
            since: ms(150),
            last_seen: ms(150)
        }
    );
    assert!(drain(&mut p, ms(249)).is_empty());
    assert_eq!(drain(&mut p, ms(250)), [1]);
}

#[test]
fn check_out_of_a_silent_id_leaves_its_report_to_poll_expired() {
    let mut p = tracker(100, 1000, 4);
    p.check_in(&1, ms(0)).unwrap();
    assert_eq!(
        p.check_out(&1, ms(100)),
        Status::Offline { last_seen: ms(0) }
    );
    assert_eq!(p.check_out(&7, ms(100)), Status::Unknown);
    assert_eq!(drain(&mut p, ms(100)), [1]);
    assert_eq!(
        p.check_out(&1, ms(100)),
        Status::Offline { last_seen: ms(0) }
    );
    assert!(drain(&mut p, ms(1099)).is_empty());
    assert_eq!(p.len(), 1);
    assert!(drain(&mut p, ms(1100)).is_empty());
    assert!(p.is_empty());
}

#[test]
fn string_ids_are_looked_up_by_str() {
    let mut p: Presence<String> = Presence::new(PresenceConfig::new()).unwrap();
    assert_eq!(p.check_in("alice", ms(0)), Ok(Change::CameOnline));
    assert_eq!(p.check_in("alice", ms(5)), Ok(Change::Refreshed));
    assert!(p.status("alice", ms(5)).is_online());
    assert_eq!(p.online().collect::<Vec<_>>(), [&String::from("alice")]);
    let later = ms(5) + Duration::from_secs(90);
    assert_eq!(drain(&mut p, later), [String::from("alice")]);
}

#[test]
fn many_ids_through_growth_and_reuse() {
    let mut p = tracker(1000, 500, 10_000);
    for round in 0..3u64 {
        let t0 = round * 10_000;
        for id in 0..5000u32 {
            p.check_in(&id, ms(t0 + u64::from(id % 1000))).unwrap();
        }
        assert_eq!(p.online_count(), 5000);
        let mut gone = drain(&mut p, ms(t0 + 1999));
        gone.sort();
        assert_eq!(gone, (0..5000).collect::<Vec<_>>());
        assert!(drain(&mut p, ms(t0 + 2499)).is_empty());
        assert!(p.is_empty(), "round {round}");
    }
    assert_eq!(p.slots.len(), 5000);
    let mut order = vec![];
    for id in 0..3u32 {
        p.check_in(&id, ms(100_000 + u64::from(2 - id))).unwrap();
    }
    while let Some(id) = p.poll_expired(ms(200_000)) {
        order.push(id);
    }
    assert_eq!(order, [2, 1, 0]); // deadline order
}
