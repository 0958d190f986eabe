//! `Fleet` against an in-memory store with virtual time (TTLs included).

use super::*;
use crate::{PresenceConfig, PresenceConfigError, Rng};
use core::time::Duration;
use std::boxed::Box;
use std::cell::RefCell;
use std::collections::HashMap;
use std::collections::HashSet;
use std::rc::Rc;
use std::string::ToString;
use std::vec;
use std::vec::Vec;

const T: Duration = Duration::from_secs(30);

fn at(secs: u64) -> Instant {
    Instant::from_secs(secs)
}

fn ms(millis: u64) -> Instant {
    Instant::from_millis(millis)
}

#[derive(Default)]
struct Inner {
    /// The store's own clock, in ns.
    now: u64,
    /// key → (value, expires at ns)
    map: HashMap<String, (String, u64)>,
    sets: usize,
    deletes: usize,
    reads: usize,
    fail: bool,
}

/// A shared in-memory store whose keys expire on a virtual clock.
#[derive(Clone, Default)]
struct Mem(Rc<RefCell<Inner>>);

impl Mem {
    fn at(&self, now: Instant) -> &Self {
        self.0.borrow_mut().now = now.as_nanos();
        self
    }

    fn live(&self, key: &str) -> Option<String> {
        let inner = RefCell::borrow(&self.0);
        inner
            .map
            .get(key)
            .filter(|(_, expires)| inner.now < *expires)
            .map(|(v, _)| v.clone())
    }

    fn expires(&self, key: &str) -> Option<Instant> {
        RefCell::borrow(&self.0)
            .map
            .get(key)
            .map(|(_, e)| Instant::from_nanos(*e))
    }

    fn sets(&self) -> usize {
        RefCell::borrow(&self.0).sets
    }

    fn fail(&self, fail: bool) {
        self.0.borrow_mut().fail = fail;
    }
}

impl PresenceStore for Mem {
    type Error = &'static str;

    fn set(&mut self, key: &str, value: &str, ttl: Duration) -> Result<(), Self::Error> {
        let mut inner = self.0.borrow_mut();
        if inner.fail {
            return Err("store down");
        }
        let expires = inner.now + ttl.as_nanos() as u64;
        inner.map.insert(key.into(), (value.into(), expires));
        inner.sets += 1;
        Ok(())
    }

    fn delete_owned(&mut self, key: &str, owner: &str) -> Result<bool, Self::Error> {
        if RefCell::borrow(&self.0).fail {
            return Err("store down");
        }
        let mine = self.live(key).is_some_and(|v| v.starts_with(owner));
        let mut inner = self.0.borrow_mut();
        if mine {
            inner.map.remove(key);
            inner.deletes += 1;
        }
        Ok(mine)
    }

    fn get_many(&mut self, keys: &[String]) -> Result<Vec<Option<String>>, Self::Error> {
        if RefCell::borrow(&self.0).fail {
            return Err("store down");
        }
        self.0.borrow_mut().reads += 1;
        Ok(keys.iter().map(|k| self.live(k)).collect())
    }
}

fn config(node: &str, epoch: u64) -> FleetConfig {
    FleetConfig::new(node, epoch).with_presence(PresenceConfig::new().with_timeout(T))
}

fn node(name: &str, epoch: u64, store: &Mem) -> BlockingFleet<String, Mem> {
    BlockingFleet::new(config(name, epoch), store.clone()).unwrap()
}

/// Checks `id` in at `now` with the store's clock at `now`; returns the op.
fn check_in(fleet: &mut BlockingFleet<String, Mem>, id: &str, now: Instant) -> StoreOp {
    fleet.store().at(now);
    fleet.check_in(id, now).unwrap().store.unwrap()
}

#[test]
fn keys_are_prefixed_and_escaped_injectively() {
    let store = Mem::default();
    let fleet = node("a", 1, &store);
    assert_eq!(fleet.key("alice"), "keepalive:presence:alice");
    assert_eq!(fleet.key("user:42"), "keepalive:presence:user%3A42");
    assert_eq!(fleet.key("a%3Ab"), "keepalive:presence:a%253Ab");
    assert_eq!(
        fleet.key("é {x}*"),
        "keepalive:presence:%C3%A9%20%7Bx%7D%2A"
    );
    assert_eq!(fleet.key(&42u64), "keepalive:presence:42");
    assert_eq!(fleet.key("A-Z.a_z~09"), "keepalive:presence:A-Z.a_z~09");
    let ids = [
        "", "a", "a:b", "a%3Ab", "a%b", "%", "%25", ":", "a b", "a+b", "é", "%C3%A9", "a/b",
    ];
    let keys: HashSet<String> = ids.iter().map(|id| fleet.key(*id)).collect();
    assert_eq!(keys.len(), ids.len());
    let other =
        BlockingFleet::<String, Mem>::new(config("a", 1).with_prefix("app1:"), store).unwrap();
    assert_eq!(other.key("x:y"), "app1:x%3Ay");
}

#[test]
fn record_round_trips_and_rejects_garbage() {
    let record = FleetRecord {
        node: "node-a.eu_1".into(),
        epoch: u64::MAX,
        since: Instant::ZERO,
        last_seen: Instant::MAX,
    };
    let text = record.to_string();
    assert_eq!(FleetRecord::parse(&text), Some(record.clone()));
    assert_eq!(record.owner(), "node-a.eu_1/18446744073709551615/");
    assert!(text.starts_with(&record.owner()));
    for bad in [
        "",
        "a",
        "a/1/2",
        "a/1/2/3/4",
        "a/1/2/3/",
        "/1/2/3",
        "a b/1/2/3",
        "a/+1/2/3",
        "a/-1/2/3",
        "a/x/2/3",
        "a//2/3",
        "a/18446744073709551616/2/3",
        "online",
    ] {
        assert_eq!(FleetRecord::parse(bad), None, "{bad:?}");
    }
}

#[test]
fn config_defaults_and_validation() {
    let c = config("a", 7);
    assert_eq!(c.node(), "a");
    assert_eq!(c.epoch(), 7);
    assert_eq!(c.prefix(), FleetConfig::DEFAULT_PREFIX);
    assert_eq!(c.presence().timeout(), T);
    assert_eq!(c.write_every(), Duration::from_secs(10));
    assert_eq!(c.ttl(), Duration::from_secs(40));
    assert_eq!(c.owner(), "a/7/");
    assert_eq!(c.clone().without_throttling().ttl(), T);
    assert_eq!(c.validate(), Ok(()));
    let long = "n".repeat(FleetConfig::MAX_NODE_LEN);
    assert_eq!(FleetConfig::new(long.clone(), 0).validate(), Ok(()));
    for bad in ["", "a/b", "a b", "é", "a:b"] {
        let e = FleetConfig::new(bad, 0).validate();
        assert_eq!(e, Err(FleetConfigError::BadNode), "{bad:?}");
    }
    let too_long = FleetConfig::new(long + "n", 0).validate();
    assert_eq!(too_long, Err(FleetConfigError::BadNode));
    let slow = c.clone().with_write_every(T + Duration::from_nanos(1));
    assert_eq!(
        slow.validate(),
        Err(FleetConfigError::WriteEveryExceedsTimeout)
    );
    assert_eq!(c.clone().with_write_every(T).validate(), Ok(()));
    let bad_presence = c.with_presence(PresenceConfig::new().with_timeout(Duration::ZERO));
    let e = bad_presence.validate().unwrap_err();
    assert_eq!(
        e,
        FleetConfigError::Presence(PresenceConfigError::TimeoutTooShort)
    );
    assert!(core::error::Error::source(&e).is_some());
    assert!(BlockingFleet::<String, Mem>::new(bad_presence, Mem::default()).is_err());
    assert!(e.to_string().contains("timeout"));
    assert!(FleetConfigError::BadNode.to_string().contains("node"));
}

#[test]
fn came_online_writes_at_once_then_once_per_window() {
    let store = Mem::default();
    let mut a = node("a", 1, &store);
    let mut written = Vec::new();
    for s in 0..=60 {
        if check_in(&mut a, "alice", at(s)) == StoreOp::Set {
            written.push(s);
        }
    }
    // Windows of P = 10 s from since = 0: the first check-in of each.
    assert_eq!(written, [0, 10, 20, 30, 40, 50, 60]);
    assert_eq!(
        store.live("keepalive:presence:alice").as_deref(),
        Some("a/1/0/60000000000")
    );
    assert_eq!(store.expires("keepalive:presence:alice"), Some(at(100)));
    // A gap that skips windows: the next check-in writes.
    assert_eq!(check_in(&mut a, "alice", at(75)), StoreOp::Set);
    assert_eq!(check_in(&mut a, "alice", at(79)), StoreOp::Nothing);
    assert_eq!(check_in(&mut a, "alice", at(80)), StoreOp::Set);
    // Silent for T: a new session, written at once, windows restart.
    let came = a.check_in("alice", at(110)).unwrap();
    assert_eq!(
        (came.local, came.store),
        (Change::CameOnline, Ok(StoreOp::Set))
    );
    assert_eq!(check_in(&mut a, "alice", at(119)), StoreOp::Nothing);
    assert_eq!(check_in(&mut a, "alice", at(120)), StoreOp::Set);
}

#[test]
fn write_count_is_bounded_by_duration_over_period() {
    // The case: 10 clients every 100 ms for 3 s, timeout 900 ms.
    let store = Mem::default();
    let presence = PresenceConfig::new().with_timeout(Duration::from_millis(900));
    let mut a: BlockingFleet<String, Mem> = BlockingFleet::new(
        FleetConfig::new("a", 1).with_presence(presence),
        store.clone(),
    )
    .unwrap();
    let clients: Vec<String> = (0..10).map(|i| std::format!("c{i}")).collect();
    let mut writes = vec![0usize; clients.len()];
    for step in 0..=30u64 {
        for (i, c) in clients.iter().enumerate() {
            // Spread the clients within each 100 ms.
            let now = ms(step * 100 + i as u64 * 7);
            if check_in(&mut a, c, now) == StoreOp::Set {
                writes[i] += 1;
            }
        }
    }
    // ⌊3000 / 300⌋ + 1 = 11.
    assert!(writes.iter().all(|&w| w == 11), "{writes:?}");

    let store = Mem::default();
    let mut eager: BlockingFleet<String, Mem> = BlockingFleet::new(
        FleetConfig::new("a", 1)
            .with_presence(presence)
            .without_throttling(),
        store.clone(),
    )
    .unwrap();
    for step in 0..=30u64 {
        check_in(&mut eager, "c", ms(step * 100));
    }
    assert_eq!(store.sets(), 31);
}

#[test]
fn key_outlives_local_online_and_expires_within_ttl_after_the_last_check_in() {
    // Random check-in patterns, P = T/3 and other periods; the node never
    // polls (as if it crashed at any moment): the key alone must hold.
    for seed in 0..40u64 {
        let mut rng = Rng::new(seed);
        let timeout = Duration::from_millis(rng.between(3, 2_000));
        let period = match seed % 3 {
            0 => timeout / 3,
            1 => Duration::ZERO,
            _ => Duration::from_nanos(rng.between(1, timeout.as_nanos() as u64)),
        };
        let store = Mem::default();
        let config = FleetConfig::new("a", seed)
            .with_presence(PresenceConfig::new().with_timeout(timeout))
            .with_write_every(period);
        let mut a: BlockingFleet<u32, Mem> = BlockingFleet::new(config, store.clone()).unwrap();
        let key = a.key(&1u32);
        let t_ns = timeout.as_nanos() as u64;
        let mut now = 0u64;
        let mut last = 0u64;
        for _ in 0..200 {
            // Mostly within the timeout, sometimes past it.
            let gap = if rng.between(0, 9) == 0 {
                rng.between(t_ns, 2 * t_ns)
            } else {
                rng.between(0, t_ns - 1)
            };
            // Probe the store at a few instants inside the gap.
            for _ in 0..4 {
                let probe = now + rng.between(0, gap);
                store.at(Instant::from_nanos(probe));
                let local = a.local().status(&1, Instant::from_nanos(probe));
                if local.is_online() {
                    assert!(store.live(&key).is_some(), "seed {seed}: expired early");
                }
            }
            now += gap;
            store.at(Instant::from_nanos(now));
            a.check_in(&1, Instant::from_nanos(now))
                .unwrap()
                .store
                .unwrap();
            last = now;
        }
        let expires = store.expires(&key).unwrap().as_nanos();
        assert!(expires >= last + t_ns, "seed {seed}");
        assert!(period.is_zero() || expires > last + t_ns, "seed {seed}");
        assert!(
            expires <= last + t_ns + period.as_nanos() as u64,
            "seed {seed}"
        );
    }
}

#[test]
fn going_offline_deletes_only_what_this_node_wrote_last() {
    let store = Mem::default();
    let mut a = node("a", 1, &store);
    let mut b = node("b", 1, &store);
    let key = "keepalive:presence:alice";
    // alice on a, then on b: b's record replaces a's.
    check_in(&mut a, "alice", at(0));
    check_in(&mut b, "alice", at(5));
    assert_eq!(store.live(key).unwrap(), "b/1/5000000000/5000000000");
    // a times her out: b's record stays.
    store.at(at(30));
    let out = a.poll_expired(at(30)).unwrap();
    assert_eq!(
        (out.local.as_str(), out.store),
        ("alice", Ok(StoreOp::NotOwner))
    );
    assert!(a.status("alice", at(30)).unwrap().is_online());
    // She leaves b: deleted.
    let out = b.check_out("alice", at(31));
    assert!(out.local.is_online());
    assert_eq!(out.store, Ok(StoreOp::Deleted));
    assert_eq!(store.live(key), None);
    assert_eq!(
        a.status("alice", at(31)),
        Ok(Status::Offline { last_seen: at(0) })
    );
    assert_eq!(
        b.status("alice", at(31)).unwrap(),
        Status::Offline { last_seen: at(5) }
    );
    // A second check-out, or one of an unknown id, does nothing.
    assert_eq!(b.check_out("alice", at(32)).store, Ok(StoreOp::Nothing));
    assert_eq!(b.check_out("zed", at(32)).store, Ok(StoreOp::Nothing));
    assert_eq!(a.poll_expired(at(1000)).map(|o| o.local), None);
}

#[test]
fn a_crashed_nodes_clients_expire_after_the_ttl_others_untouched() {
    let store = Mem::default();
    let mut a = node("a", 1, &store);
    let mut b = node("b", 1, &store);
    for s in 0..=12 {
        check_in(&mut a, "alice", at(s));
        check_in(&mut b, "bob", at(s));
    }
    drop(a); // crash: nobody deletes anything
    // alice last written at 10 (window 10..20): expires at 10 + T + P = 50.
    for s in [13, 30, 42, 49] {
        store.at(at(s));
        assert!(b.status("alice", at(s)).unwrap().is_online(), "at {s}");
        check_in(&mut b, "bob", at(s));
    }
    store.at(ms(49_999));
    assert!(b.status("alice", ms(49_999)).unwrap().is_online());
    store.at(at(50));
    assert_eq!(b.status("alice", at(50)), Ok(Status::Unknown));
    assert!(b.status("bob", at(50)).unwrap().is_online());
    // Between T and T + P after alice's last check-in (12 s).
    assert!(at(50) > at(12 + 30) && at(50) <= at(12 + 40));
}

#[test]
fn a_restarted_node_wipes_nothing_and_rewrites_returning_clients() {
    let store = Mem::default();
    let mut a1 = node("a", 1, &store);
    let mut b = node("b", 1, &store);
    check_in(&mut a1, "alice", at(0));
    check_in(&mut a1, "carol", at(0));
    check_in(&mut b, "bob", at(0));
    drop(a1);
    let sets = store.sets();
    let mut a2 = node("a", 2, &store);
    assert_eq!(store.sets(), sets, "a new node touches nothing");
    // Before anyone returns, everyone is still online through either node.
    store.at(at(3));
    let all = ["alice", "bob", "carol"];
    let before = a2.statuses(all, at(3)).unwrap();
    assert!(before.iter().all(Status::is_online), "{before:?}");
    // alice returns to a2: written at once, by the new incarnation.
    check_in(&mut a2, "alice", at(3));
    let record = b.lookup("alice").unwrap().unwrap();
    assert_eq!((record.node.as_str(), record.epoch), ("a", 2));
    assert_eq!(record.since, at(3));
    assert_eq!(a2.lookup("carol").unwrap().unwrap().epoch, 1);
    // carol never returns: her old key expires by itself (0 + T + P).
    store.at(at(39));
    check_in(&mut a2, "alice", at(39));
    check_in(&mut b, "bob", at(39));
    assert!(b.status("carol", at(39)).unwrap().is_online());
    store.at(at(40));
    let after = b.statuses(all, at(40)).unwrap();
    assert!(after[0].is_online() && after[1].is_online(), "{after:?}");
    assert_eq!(after[2], Status::Unknown);
}

#[test]
fn a_failed_write_is_retried_on_the_next_check_in() {
    let store = Mem::default();
    let mut a = node("a", 1, &store);
    check_in(&mut a, "alice", at(0));
    store.fail(true);
    let out = a.check_in("alice", at(10)).unwrap();
    assert_eq!(out.clone().into_result(), Err("store down"));
    assert_eq!(
        (out.local, out.store),
        (Change::Refreshed, Err("store down"))
    );
    assert!(a.local().status("alice", at(10)).is_online());
    store.fail(false);
    // Same window, but the last write failed: written now.
    assert_eq!(check_in(&mut a, "alice", at(11)), StoreOp::Set);
    assert_eq!(check_in(&mut a, "alice", at(12)), StoreOp::Nothing);
    // A failed first write is retried too.
    store.fail(true);
    assert!(a.check_in("bob", at(12)).unwrap().store.is_err());
    store.fail(false);
    assert_eq!(check_in(&mut a, "bob", at(13)), StoreOp::Set);
    // A failed delete leaves the key to its TTL; this node ignores it.
    store.fail(true);
    let out = a.check_out("bob", at(14));
    assert_eq!(out.store, Err("store down"));
    store.fail(false);
    assert!(store.live("keepalive:presence:bob").is_some());
    assert_eq!(
        a.status("bob", at(14)),
        Ok(Status::Offline { last_seen: at(13) })
    );
    // Status reads fail loudly.
    store.fail(true);
    assert_eq!(a.status("zed", at(14)), Err("store down"));
    assert_eq!(a.statuses(["zed"], at(14)), Err("store down"));
    assert_eq!(a.lookup("zed"), Err("store down"));
    // Online here: no read needed.
    assert!(a.status("alice", at(14)).unwrap().is_online());
}

#[test]
fn status_reads_the_store_only_for_ids_not_online_here() {
    let store = Mem::default();
    let mut a = node("a", 1, &store);
    let mut b = node("b", 1, &store);
    check_in(&mut a, "alice", at(0));
    check_in(&mut b, "bob", at(0));
    let reads = || RefCell::borrow(&store.0).reads;
    assert!(a.status("alice", at(1)).unwrap().is_online());
    assert_eq!(a.statuses(["alice"], at(1)).unwrap().len(), 1);
    assert_eq!(reads(), 0);
    let got = a.statuses(["bob", "alice", "zed", "bob"], at(1)).unwrap();
    assert_eq!(reads(), 1, "one MGET");
    assert_eq!(
        got,
        [
            Status::Online {
                since: at(0),
                last_seen: at(0)
            },
            Status::Online {
                since: at(0),
                last_seen: at(0)
            },
            Status::Unknown,
            Status::Online {
                since: at(0),
                last_seen: at(0)
            },
        ]
    );
    // A foreign value under the prefix is not a record.
    store
        .0
        .borrow_mut()
        .map
        .insert("keepalive:presence:zed".into(), ("yes".into(), u64::MAX));
    assert_eq!(a.status("zed", at(1)), Ok(Status::Unknown));
    assert_eq!(a.lookup("zed"), Ok(None));
}

#[test]
fn time_going_backwards_is_clamped() {
    let store = Mem::default();
    let mut a = node("a", 1, &store);
    check_in(&mut a, "alice", at(10));
    let out = a.check_in("alice", at(5)).unwrap();
    assert_eq!(
        (out.local, out.store),
        (Change::Refreshed, Ok(StoreOp::Nothing))
    );
    assert_eq!(a.poll_expired(at(0)).map(|o| o.local), None);
    assert!(a.status("alice", Instant::ZERO).unwrap().is_online());
    assert_eq!(a.poll_timeout().map(|t| t >= at(10)), Some(true));
    let gone = a.poll_expired(at(40)).unwrap();
    assert_eq!(gone.store, Ok(StoreOp::Deleted));
}

#[test]
fn a_full_local_tracker_refuses_and_writes_nothing() {
    let store = Mem::default();
    let presence = PresenceConfig::new().with_timeout(T).with_capacity(1);
    let mut a: BlockingFleet<String, Mem> = BlockingFleet::new(
        FleetConfig::new("a", 1).with_presence(presence),
        store.clone(),
    )
    .unwrap();
    check_in(&mut a, "alice", at(0));
    assert_eq!(a.check_in("bob", at(0)).err(), Some(PresenceError::Full));
    assert_eq!(store.sets(), 1);
}

#[test]
fn works_through_dyn_and_borrowed_stores() {
    let mut mem = Mem::default();
    {
        let borrowed: BlockingFleet<String, &mut Mem> =
            BlockingFleet::new(config("a", 1), &mut mem).unwrap();
        let mut borrowed = borrowed;
        borrowed.check_in("alice", at(0)).unwrap().store.unwrap();
        assert!(std::format!("{borrowed:?}").contains("Fleet"));
    }
    let boxed: Box<dyn PresenceStore<Error = &'static str>> = Box::new(mem.clone());
    let mut b: BlockingFleet<String, _> = BlockingFleet::new(config("b", 1), boxed).unwrap();
    assert!(b.status("alice", at(1)).unwrap().is_online());
    assert_eq!(b.store_mut().get("nothing"), Ok(None));
    assert_eq!(b.config().node(), "b");
}
