//! Presence scenarios as exact-time transcripts: each test drives a
//! `Presence` with the server's clock, snapshots a readable
//! `t=…  call → result` trace, and asserts the key times by hand so a wrong
//! snapshot cannot be accepted silently.
#![cfg(feature = "std")]

use std::collections::HashMap;
use std::fmt::Write as _;
use std::time::Duration;

use keepalive::{Change, Instant, Presence, PresenceConfig, PresenceError, Status};

const SEC: Duration = Duration::from_secs(1);

fn at(secs: f64) -> Instant {
    Instant::from_nanos((secs * 1e9).round() as u64)
}

/// A tracker plus its transcript.
struct Script {
    p: Presence<String>,
    log: String,
}

impl Script {
    fn new(config: PresenceConfig) -> Script {
        let mut s = Script {
            p: Presence::new(config).expect("valid config"),
            log: String::new(),
        };
        let c = s.p.config();
        let (t, f, n) = (c.timeout(), c.forget_after(), c.capacity());
        s.line(
            Instant::ZERO,
            "config",
            format!("timeout={t:?} forget_after={f:?} capacity={n}"),
        );
        s
    }

    fn line(&mut self, t: Instant, call: &str, result: impl std::fmt::Display) {
        let (t, result) = (t.to_string(), result.to_string());
        let (online, len) = (self.p.online_count(), self.p.len());
        let _ = writeln!(
            self.log,
            "t={t:<10} {call:<18}→ {result:<40} online={online} len={len}"
        );
    }

    fn check_in(&mut self, t: Instant, id: &str) -> Result<Change, PresenceError> {
        let r = self.p.check_in(id, t);
        let shown = match r {
            Ok(change) => format!("{change:?}"),
            Err(e) => format!("Err({e:?})"),
        };
        self.line(t, &format!("check_in({id})"), shown);
        r
    }

    fn check_out(&mut self, t: Instant, id: &str) -> Status {
        let before = self.p.check_out(id, t);
        self.line(t, &format!("check_out({id})"), format!("was {before}"));
        before
    }

    fn status(&mut self, t: Instant, id: &str) -> Status {
        let s = self.p.status(id, t);
        self.line(t, &format!("status({id})"), s);
        s
    }

    /// Drains `poll_expired(t)`, one line per id (or one `None` line).
    fn poll(&mut self, t: Instant) -> Vec<String> {
        let mut gone = Vec::new();
        while let Some(id) = self.p.poll_expired(t) {
            self.line(t, "poll_expired", format!("{id} went offline"));
            gone.push(id);
        }
        if gone.is_empty() {
            self.line(t, "poll_expired", "None");
        }
        gone
    }

    /// Logs `poll_timeout()` as of `t` (the last call's time).
    fn timeout(&mut self, t: Instant) -> Option<Instant> {
        let next = self.p.poll_timeout();
        let shown = next.map_or("None".to_string(), |n| n.to_string());
        self.line(t, "poll_timeout", shown);
        next
    }

    /// A server's timer loop from `from` to `until`: sleep to each
    /// `poll_timeout`, drain. Only lines with reports are logged.
    fn run_until(&mut self, until: Instant) -> Vec<(Instant, String)> {
        let mut out = Vec::new();
        while let Some(next) = self.p.poll_timeout() {
            if next > until {
                break;
            }
            while let Some(id) = self.p.poll_expired(next) {
                self.line(next, "poll_expired", format!("{id} went offline"));
                out.push((next, id));
            }
        }
        out
    }
}

fn online(since: f64, last_seen: f64) -> Status {
    Status::Online {
        since: at(since),
        last_seen: at(last_seen),
    }
}

fn offline(last_seen: f64) -> Status {
    Status::Offline {
        last_seen: at(last_seen),
    }
}

#[test]
fn online_refreshed_offline_at_exactly_the_timeout_then_back() {
    let mut s = Script::new(PresenceConfig::new().with_timeout(90 * SEC));
    assert_eq!(s.check_in(at(0.0), "a"), Ok(Change::CameOnline));
    assert_eq!(s.check_in(at(30.0), "a"), Ok(Change::Refreshed));
    assert_eq!(s.check_in(at(60.0), "a"), Ok(Change::Refreshed));
    // A lower bound of the deadline (a bucket start), never after it.
    // Here it is still the first deadline's bucket (90 s): check-ins do not
    // touch the wheel. Polling there re-files a under its real deadline.
    let hint = s.timeout(at(60.0)).unwrap();
    assert!(hint <= at(90.0));
    assert!(s.poll(hint).is_empty());
    assert!(s.timeout(hint).unwrap() <= at(150.0));
    assert_eq!(s.status(at(149.999), "a"), online(0.0, 60.0));
    assert!(s.poll(at(149.999)).is_empty());
    // The bucket holding 150 s is sorted by now: the hint is exact.
    assert_eq!(s.timeout(at(149.999)), Some(at(150.0)));
    assert_eq!(s.status(at(150.0), "a"), offline(60.0));
    assert_eq!(s.poll(at(150.0)), ["a"]);
    assert!(s.poll(at(150.0)).is_empty()); // reported once
    assert_eq!(s.check_in(at(200.0), "a"), Ok(Change::CameOnline));
    assert_eq!(s.status(at(200.0), "a"), online(200.0, 200.0));
    assert_eq!(s.run_until(at(1000.0)), [(at(290.0), "a".to_string())]);
    insta::assert_snapshot!(s.log);
}

#[test]
fn a_late_poll_reports_in_order_of_going_offline() {
    let mut s = Script::new(PresenceConfig::new().with_timeout(90 * SEC));
    s.check_in(at(0.0), "a").unwrap();
    s.check_in(at(5.0), "b").unwrap();
    s.check_in(at(2.5), "c").unwrap(); // clamped to 5 s: time never goes back
    assert_eq!(s.status(at(2.5), "c"), online(5.0, 5.0));
    s.check_in(at(20.0), "a").unwrap(); // a now expires last
    // The server stalled; its first poll comes long after all three.
    assert_eq!(s.poll(at(500.0)), ["b", "c", "a"]);
    assert_eq!(s.status(at(500.0), "c"), offline(5.0));
    assert_eq!(s.timeout(at(500.0)).map(|t| t >= at(500.0)), Some(true));
    insta::assert_snapshot!(s.log);
}

#[test]
fn check_out_is_its_own_report() {
    let mut s = Script::new(PresenceConfig::new().with_timeout(90 * SEC));
    s.check_in(at(0.0), "a").unwrap();
    s.check_in(at(0.0), "b").unwrap();
    assert_eq!(s.check_out(at(10.0), "a"), online(0.0, 0.0));
    assert_eq!(s.status(at(10.0), "a"), offline(0.0));
    assert_eq!(s.check_out(at(11.0), "a"), offline(0.0)); // no change
    assert_eq!(s.check_out(at(11.0), "zed"), Status::Unknown);
    // Only b's silence is reported; a's check-out was its report.
    assert_eq!(s.run_until(at(3000.0)), [(at(90.0), "b".to_string())]);
    assert_eq!(s.status(at(3000.0), "a"), offline(0.0));
    // a is forgotten forget_after (1 h) after its check-out.
    assert_eq!(s.status(at(3609.999), "a"), offline(0.0));
    assert_eq!(s.status(at(3610.0), "a"), Status::Unknown);
    insta::assert_snapshot!(s.log);
}

#[test]
fn unknown_is_not_offline() {
    let config = PresenceConfig::new()
        .with_timeout(60 * SEC)
        .with_forget_after(600 * SEC);
    let mut s = Script::new(config);
    assert_eq!(s.status(at(0.0), "never-seen"), Status::Unknown);
    s.check_in(at(0.0), "a").unwrap();
    assert_eq!(s.status(at(59.999), "a"), online(0.0, 0.0));
    assert_eq!(s.status(at(60.0), "a"), offline(0.0));
    assert_eq!(s.poll(at(60.0)), ["a"]);
    assert_eq!(s.status(at(659.999), "a"), offline(0.0));
    assert_eq!(s.status(at(660.0), "a"), Status::Unknown);
    assert_eq!(s.status(at(660.0), "never-seen"), Status::Unknown);
    assert!(s.poll(at(660.0)).is_empty()); // dropped silently
    assert!(s.p.is_empty());
    insta::assert_snapshot!(s.log);
}

/// The article's server keeps last-seen times in a database across a
/// restart and judges `now - last_seen > limit` as offline: after downtime
/// every client looks offline. A fresh `Presence` has nothing stale to judge.
#[test]
fn restart_reports_returning_clients_online_and_nobody_offline() {
    let timeout = 90 * SEC;
    let mut before = Script::new(PresenceConfig::new().with_timeout(timeout));
    for id in ["a", "b", "c"] {
        before.check_in(at(100.0), id).unwrap();
    }
    // The article's store survives the restart (and the 5 minutes down).
    let mut article_db: HashMap<&str, Instant> = HashMap::new();
    for id in ["a", "b", "c"] {
        article_db.insert(id, at(100.0));
    }
    let back_up = at(400.0);
    let article_offline = |db: &HashMap<&str, Instant>, id: &str, now: Instant| {
        now.saturating_duration_since(db[id]) > timeout
    };

    // Restart: a fresh tracker (a new process; the same clock for clarity).
    let mut s = Script::new(PresenceConfig::new().with_timeout(timeout));
    for id in ["a", "b", "c"] {
        assert!(article_offline(&article_db, id, back_up));
        let stale = format!("offline (stale last-seen {})", article_db[id]);
        s.line(back_up, &format!("article_db({id})"), stale);
        assert_eq!(s.status(back_up, id), Status::Unknown);
    }
    assert!(s.poll(back_up).is_empty());
    assert_eq!(s.timeout(back_up), None);
    // a and b reconnect (the client side's reconnect) and check in.
    assert_eq!(s.check_in(at(402.0), "a"), Ok(Change::CameOnline));
    assert_eq!(s.check_in(at(403.5), "b"), Ok(Change::CameOnline));
    assert_eq!(s.status(at(403.5), "a"), online(402.0, 402.0));
    // c never comes back: unknown, and never reported offline.
    assert_eq!(s.status(at(403.5), "c"), Status::Unknown);
    s.check_in(at(450.0), "a").unwrap();
    s.check_in(at(450.0), "b").unwrap();
    assert!(s.poll(at(539.999)).is_empty());
    assert_eq!(s.status(at(539.999), "c"), Status::Unknown);
    assert_eq!(s.p.online_count(), 2);
    insta::assert_snapshot!(s.log);
}

#[test]
fn capacity_full_refuses_new_ids_only() {
    let config = PresenceConfig::new()
        .with_timeout(30 * SEC)
        .with_forget_after(60 * SEC)
        .with_capacity(2);
    let mut s = Script::new(config);
    s.check_in(at(0.0), "a").unwrap();
    s.check_in(at(1.0), "b").unwrap();
    assert_eq!(s.check_in(at(2.0), "c"), Err(PresenceError::Full));
    assert_eq!(s.status(at(2.0), "c"), Status::Unknown);
    assert_eq!(s.check_in(at(20.0), "a"), Ok(Change::Refreshed)); // known: fine
    assert_eq!(s.poll(at(31.0)), ["b"]);
    // b is offline but still held: no room until it is forgotten at 91 s.
    assert_eq!(s.check_in(at(31.0), "c"), Err(PresenceError::Full));
    assert_eq!(s.poll(at(50.0)), ["a"]);
    assert!(s.poll(at(91.0)).is_empty()); // drops b
    assert_eq!(s.status(at(91.0), "b"), Status::Unknown);
    assert_eq!(s.check_in(at(91.0), "c"), Ok(Change::CameOnline));
    assert_eq!(s.status(at(91.0), "a"), offline(20.0)); // nothing lost
    insta::assert_snapshot!(s.log);
}

#[test]
fn forget_after_drops_offline_ids() {
    let config = PresenceConfig::new()
        .with_timeout(10 * SEC)
        .with_forget_after(20 * SEC);
    let mut s = Script::new(config);
    s.check_in(at(0.0), "a").unwrap();
    s.check_in(at(5.0), "b").unwrap();
    assert_eq!(s.check_out(at(6.0), "b"), online(5.0, 5.0));
    // b: offline at 6, forgotten at 26; a: offline at 10, forgotten at 30.
    assert_eq!(s.poll(at(10.0)), ["a"]);
    assert_eq!(s.status(at(25.999), "b"), offline(5.0));
    assert!(s.poll(at(25.999)).is_empty());
    assert_eq!(s.p.len(), 2);
    // `status` judges lazily; the poll is what frees the memory.
    assert_eq!(s.status(at(26.0), "b"), Status::Unknown);
    assert!(s.poll(at(26.0)).is_empty());
    assert_eq!(s.p.len(), 1);
    assert_eq!(s.status(at(29.999), "a"), offline(0.0));
    assert!(s.poll(at(29.999)).is_empty());
    assert_eq!(s.timeout(at(29.999)), Some(at(30.0)));
    assert!(s.poll(at(30.0)).is_empty());
    assert_eq!(s.status(at(30.0), "a"), Status::Unknown);
    assert!(s.p.is_empty());
    assert_eq!(s.timeout(at(100.0)), None);
    // A forgotten id is simply new again.
    assert_eq!(s.check_in(at(100.0), "a"), Ok(Change::CameOnline));

    // forget_after zero: offline ids are dropped at once.
    let zero = PresenceConfig::new()
        .with_timeout(10 * SEC)
        .with_forget_after(Duration::ZERO);
    let mut z = Script::new(zero);
    z.check_in(at(0.0), "a").unwrap();
    assert_eq!(z.status(at(10.0), "a"), Status::Unknown);
    assert_eq!(z.poll(at(10.0)), ["a"]); // still reported, once
    assert!(z.p.is_empty());
    s.log.push_str("--- forget_after = 0 ---\n");
    s.log.push_str(&z.log);
    insta::assert_snapshot!(s.log);
}
