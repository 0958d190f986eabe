//! The sans-IO fleet machines on their own: commands as values, batched
//! per turn, failures retried, the connection-derived mirror, and one run
//! of the commands over an async store.
#![cfg(feature = "std")]

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use keepalive::{
    Fleet, FleetConfig, FleetMirror, Instant, PresenceConfig, ServerAction, ServerHeartbeat,
    Sessions, SessionsConfig, Status, StoreCommand,
};

const T: Duration = Duration::from_secs(30);

fn config(node: &str) -> FleetConfig {
    FleetConfig::new(node, 1).with_presence(PresenceConfig::new().with_timeout(T))
}

fn at(s: u64) -> Instant {
    Instant::from_secs(s)
}

/// Runs commands on a map, as a pipeline would, in order.
fn apply(store: &mut HashMap<String, String>, command: StoreCommand<String>) {
    match command {
        StoreCommand::Set {
            key, value, ttl, ..
        } => {
            assert_eq!(ttl, Duration::from_secs(40), "TTL = timeout + timeout / 3");
            store.insert(key, value);
        }
        StoreCommand::DeleteOwned { key, owner, .. } => {
            if store.get(&key).is_some_and(|v| v.starts_with(&owner)) {
                store.remove(&key);
            }
        }
    }
}

#[test]
fn a_turn_of_check_ins_is_one_batch_and_throttled() {
    let mut fleet: Fleet<String> = Fleet::new(config("a")).unwrap();
    for i in 0..100 {
        fleet.check_in(&format!("u{i}"), at(0)).unwrap();
    }
    // Every first check-in is due: 100 commands wait for one pipeline.
    assert_eq!(fleet.pending(), 100);
    let batch: Vec<_> = fleet.commands().collect();
    assert_eq!(batch.len(), 100);
    assert!(batch.iter().all(|c| matches!(c, StoreCommand::Set { .. })));
    assert_eq!(batch[7].id(), "u7");
    assert_eq!(batch[7].key(), "keepalive:presence:u7");
    // Refreshes inside the 10 s window queue nothing; the next window one each.
    for i in 0..100 {
        fleet.check_in(&format!("u{i}"), at(5)).unwrap();
    }
    assert_eq!(fleet.pending(), 0);
    for i in 0..100 {
        fleet.check_in(&format!("u{i}"), at(10)).unwrap();
    }
    assert_eq!(fleet.pending(), 100);
}

#[test]
fn a_failed_write_is_retried_on_the_next_check_in_not_a_window_later() {
    let mut fleet: Fleet<String> = Fleet::new(config("a")).unwrap();
    fleet.check_in("alice", at(0)).unwrap();
    let write = fleet.poll_command().unwrap();
    fleet.failed(&write);
    assert_eq!(fleet.failures(), 1);
    // Inside the same window: written again because the last write failed.
    fleet.check_in("alice", at(1)).unwrap();
    assert!(matches!(
        fleet.poll_command(),
        Some(StoreCommand::Set { .. })
    ));
    assert_eq!(fleet.failures(), 0, "a queued write leaves the retry set");
    // No failure reported: success, throttled again.
    fleet.check_in("alice", at(2)).unwrap();
    assert_eq!(fleet.poll_command(), None);
    // A failed delete needs nothing: the TTL removes the key.
    fleet.check_out("alice", at(3));
    let delete = fleet.poll_command().unwrap();
    assert!(matches!(delete, StoreCommand::DeleteOwned { .. }));
    fleet.failed(&delete);
    assert_eq!(fleet.failures(), 0);
}

#[test]
fn readers_on_another_node_judge_by_the_stored_record() {
    let mut store = HashMap::new();
    let mut a: Fleet<String> = Fleet::new(config("a")).unwrap();
    let b: Fleet<String> = Fleet::new(config("b")).unwrap();
    a.check_in("alice", at(0)).unwrap();
    for c in a.commands().collect::<Vec<_>>() {
        apply(&mut store, c);
    }
    let local = b.local_status("alice", at(1));
    assert_eq!(local, Status::Unknown);
    let stored = store.get(&b.key("alice")).map(String::as_str);
    assert_eq!(
        b.judge(local, stored),
        Status::Online {
            since: at(0),
            last_seen: at(0)
        }
    );
    // Node a ignores its own record for a client it no longer holds.
    a.check_out("alice", at(2));
    let local = a.local_status("alice", at(2));
    assert!(!a.judge(local, stored).is_online());
    // Once the delete ran, nobody sees alice.
    for c in a.commands().collect::<Vec<_>>() {
        apply(&mut store, c);
    }
    assert!(store.is_empty());
}

/// Two tabs on `Sessions`, mirrored: one write at online, refreshes every
/// 10 s while any tab lives, one delete when the last tab goes.
#[test]
fn the_mirror_follows_sessions_reports() {
    let hb = ServerHeartbeat::passive(Duration::from_secs(20), Duration::from_secs(10));
    let mut server: Sessions<String> =
        Sessions::new(SessionsConfig::new().with_heartbeat(hb)).unwrap();
    let mut mirror: FleetMirror<String> = FleetMirror::new(config("a")).unwrap();
    let mut store = HashMap::new();
    let mut log = Vec::new();
    let tab1 = server.open("alice", at(0)).unwrap();
    let tab2 = server.open("alice", at(1)).unwrap();
    let mut t = 0;
    while t <= 60 {
        if t == 20 {
            server.ended(tab1, at(t));
        }
        if t < 40 {
            server.received(tab2, at(t));
        }
        while let Some(action) = server.poll(at(t)) {
            match action {
                ServerAction::Online(id) => mirror.online(id, at(t)),
                ServerAction::Offline(id, _) => mirror.offline(&id, at(t)),
                ServerAction::Close(c) => server.ended(c, at(t)),
                _ => {}
            }
        }
        if mirror.poll_timeout().is_some_and(|d| d <= at(t)) {
            mirror.poll(at(t));
        }
        for c in mirror.commands().collect::<Vec<_>>() {
            log.push((t, matches!(c, StoreCommand::Set { .. })));
            apply(&mut store, c);
        }
        t += 1;
    }
    // Written at 0, refreshed at 10, 20, 30, 40, 50 (tab 2's last frame at
    // 39 + 30 s of silence closes it at 69: still online at 60).
    assert_eq!(
        log,
        [
            (0, true),
            (10, true),
            (20, true),
            (30, true),
            (40, true),
            (50, true),
            (60, true)
        ]
    );
    assert_eq!(mirror.online_count(), 1);
    // The last tab goes: one delete, then nothing more to refresh.
    server.ended(tab2, at(61));
    while let Some(action) = server.poll(at(61)) {
        if let ServerAction::Offline(id, _) = action {
            mirror.offline(&id, at(61));
        }
    }
    let last: Vec<_> = mirror.commands().collect();
    assert!(matches!(
        last.as_slice(),
        [StoreCommand::DeleteOwned { .. }]
    ));
    for c in last {
        apply(&mut store, c);
    }
    assert!(store.is_empty());
    assert_eq!(mirror.poll_timeout(), None);
    assert_eq!(mirror.judge(None), Status::Unknown);
}

/// An async store: every batch runs as one task on a tokio runtime, with a
/// delay per round trip, while the machine goes on.
#[test]
fn commands_run_over_an_async_store() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    rt.block_on(async {
        let store = Arc::new(tokio::sync::Mutex::new(HashMap::new()));
        let trips = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let mut fleet: Fleet<String> = Fleet::new(config("a")).unwrap();
        let mut previous: Option<tokio::task::JoinHandle<()>> = None;
        for turn in 0..5u64 {
            for i in 0..50 {
                fleet.check_in(&format!("u{i}"), at(turn * 10)).unwrap();
            }
            if turn == 4 {
                fleet.check_out("u0", at(turn * 10));
            }
            let batch: Vec<_> = fleet.commands().collect();
            // Batches run one after the other, in order: chain on the last.
            let (store, trips, wait) = (store.clone(), trips.clone(), previous.take());
            previous = Some(tokio::spawn(async move {
                if let Some(wait) = wait {
                    wait.await.unwrap();
                }
                tokio::time::sleep(Duration::from_millis(2)).await; // one round trip
                trips.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let mut map = store.lock().await;
                for c in batch {
                    apply(&mut map, c);
                }
            }));
        }
        previous.unwrap().await.unwrap();
        assert_eq!(
            trips.load(std::sync::atomic::Ordering::Relaxed),
            5,
            "one round trip per turn"
        );
        let map = store.lock().await;
        assert_eq!(map.len(), 49, "u0 checked out and deleted after its writes");
        let record = keepalive::FleetRecord::parse(&map["keepalive:presence:u1"]).unwrap();
        assert_eq!((record.since, record.last_seen), (at(0), at(40)));
    });
}
