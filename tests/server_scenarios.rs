//! The server machine (`Sessions`) as exact-time transcripts: each test
//! drives it with the server's clock, snapshots a readable
//! `t=…  input → result` trace, and asserts the key times by hand so a
//! wrong snapshot cannot be accepted silently.
#![cfg(feature = "std")]

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use keepalive::{
    ClientStatus, ConnId, Instant, OfflineReason, ServerAction, ServerHeartbeat, Sessions,
    SessionsConfig, SessionsError,
};

const SEC: Duration = Duration::from_secs(1);

fn at(secs: f64) -> Instant {
    Instant::from_nanos((secs * 1e9).round() as u64)
}

/// A machine, the names of its connections, and the transcript.
struct Script {
    s: Sessions<String>,
    names: BTreeMap<ConnId, String>,
    ids: BTreeMap<String, ConnId>,
    log: String,
    /// Every action polled, with its time.
    actions: Vec<(Instant, String)>,
}

impl Script {
    fn new(config: SessionsConfig) -> Script {
        let hb = config.heartbeat();
        let mode = if hb.is_ping() { "ping" } else { "passive" };
        let mut s = Script {
            s: Sessions::new(config).expect("valid config"),
            names: BTreeMap::new(),
            ids: BTreeMap::new(),
            log: String::new(),
            actions: Vec::new(),
        };
        let line = format!(
            "{mode} interval={:?} timeout={:?} close_timeout={:?} linger={:?} capacity={} max_per_id={}",
            hb.interval(),
            hb.timeout(),
            config.close_timeout(),
            config.linger(),
            config.capacity(),
            config.max_per_id()
        );
        s.line(Instant::ZERO, "config", line);
        s
    }

    fn line(&mut self, t: Instant, input: &str, result: impl std::fmt::Display) {
        let (t, result) = (t.to_string(), result.to_string());
        let (conns, online) = (self.s.len(), self.s.online_count());
        let _ = writeln!(
            self.log,
            "t={t:<10} {input:<22}→ {result:<34} conns={conns} online={online}"
        );
    }

    fn conn(&self, name: &str) -> ConnId {
        self.ids[name]
    }

    /// Opens connection `name` of client `id`.
    fn open(&mut self, t: Instant, name: &str, id: &str) -> Result<ConnId, SessionsError> {
        let r = self.s.open(id, t);
        let shown = match r {
            Ok(c) => {
                self.names.insert(c, name.into());
                self.ids.insert(name.into(), c);
                name.to_string()
            }
            Err(e) => format!("Err({e:?})"),
        };
        self.line(t, &format!("open({id})"), shown);
        self.drain(t);
        r
    }

    fn frame(&mut self, t: Instant, name: &str) {
        self.s.received(self.conn(name), t);
        self.line(t, &format!("frame({name})"), "");
    }

    fn pong(&mut self, t: Instant, name: &str) {
        self.s.pong(self.conn(name), t);
        let rtt = self.s.rtt(self.conn(name));
        self.line(t, &format!("pong({name})"), format!("rtt={rtt:?}"));
    }

    fn ended(&mut self, t: Instant, name: &str) {
        self.s.ended(self.conn(name), t);
        self.line(t, &format!("ended({name})"), "");
        self.drain(t);
    }

    fn close(&mut self, t: Instant, name: &str) -> bool {
        let live = self.s.close(self.conn(name), t);
        self.line(t, &format!("close({name})"), format!("was live: {live}"));
        self.drain(t);
        live
    }

    fn status(&mut self, t: Instant, id: &str) -> ClientStatus {
        let st = self.s.status(id);
        let shown = match st {
            ClientStatus::Online { since, connections } => {
                format!("online since {since}, {connections} conns")
            }
            ClientStatus::Offline { since, reason } => format!("offline since {since}, {reason}"),
            ClientStatus::Unknown => "unknown".into(),
        };
        self.line(t, &format!("status({id})"), shown);
        st
    }

    fn show(&self, action: &ServerAction<String>) -> String {
        let name = |c: &ConnId| self.names.get(c).cloned().unwrap_or(format!("{c}"));
        match action {
            ServerAction::Ping(c) => format!("Ping({})", name(c)),
            ServerAction::Close(c) => format!("Close({})", name(c)),
            ServerAction::Abort(c) => format!("Abort({})", name(c)),
            ServerAction::Online(id) => format!("Online({id})"),
            ServerAction::Offline(id, why) => format!("Offline({id}, {why:?})"),
        }
    }

    /// Polls at `t` until `None`; returns what came out.
    fn drain(&mut self, t: Instant) -> Vec<String> {
        let mut out = Vec::new();
        while let Some(action) = self.s.poll(t) {
            let shown = self.show(&action);
            self.line(t, "poll", &shown);
            self.actions.push((t, shown.clone()));
            out.push(shown);
        }
        out
    }

    /// Sleeps from deadline to deadline up to `until`, as a server's timer
    /// loop does, polling at each; `react` answers each action.
    fn run(&mut self, until: Instant, mut react: impl FnMut(&mut Script, Instant, &str)) {
        while let Some(t) = self.s.poll_timeout().filter(|&t| t <= until) {
            for action in self.drain(t) {
                react(self, t, &action);
            }
        }
    }

    /// When `action` was polled (the first time).
    fn when(&self, action: &str) -> Instant {
        self.actions
            .iter()
            .find(|(_, a)| a == action)
            .unwrap_or_else(|| panic!("{action} never happened:\n{}", self.log))
            .0
    }

    fn count(&self, action: &str) -> usize {
        self.actions.iter().filter(|(_, a)| a == action).count()
    }
}

/// No reaction: the peer is dead.
fn ignore(_: &mut Script, _: Instant, _: &str) {}

/// Every close completes at once (the peer's TCP is still there).
fn closes_complete(s: &mut Script, t: Instant, action: &str) {
    if let Some(name) = action
        .strip_prefix("Close(")
        .and_then(|a| a.strip_suffix(')'))
    {
        s.ended(t, name);
    }
}

fn ping(interval: u32, timeout: u32) -> SessionsConfig {
    SessionsConfig::new().with_heartbeat(ServerHeartbeat::ping(interval * SEC, timeout * SEC))
}

#[test]
fn a_silent_connection_is_pinged_at_interval_and_closed_at_interval_plus_timeout() {
    let mut s = Script::new(ping(10, 5));
    s.open(at(0.0), "a1", "alice").unwrap();
    s.frame(at(3.0), "a1");
    s.run(at(30.0), ignore);
    insta::assert_snapshot!(s.log);
    // Last frame at 3 s: ping at 13 s, close at 18 s, abort 5 s later.
    assert_eq!(s.when("Ping(a1)"), at(13.0));
    assert_eq!(s.when("Close(a1)"), at(18.0));
    assert_eq!(s.when("Offline(alice, Silent)"), at(18.0));
    assert_eq!(s.when("Abort(a1)"), at(23.0));
    assert_eq!(s.count("Ping(a1)"), 1);
    assert!(s.s.is_empty());
}

#[test]
fn socket_io_cycle_a_pong_moves_the_next_ping() {
    let mut s = Script::new(SessionsConfig::new().with_heartbeat(ServerHeartbeat::socket_io()));
    s.open(at(0.0), "b1", "bob").unwrap();
    // Ping at 25 s, answered 80 ms later: the next ping is 25 s after the pong.
    s.run(at(25.0), ignore);
    s.pong(at(25.08), "b1");
    s.run(at(50.1), ignore);
    s.pong(at(50.2), "b1");
    // Then bob's network dies: the ping at 75.2 s is never answered.
    s.run(at(120.0), closes_complete);
    insta::assert_snapshot!(s.log);
    let pings: Vec<Instant> = s
        .actions
        .iter()
        .filter(|(_, a)| a == "Ping(b1)")
        .map(|(t, _)| *t)
        .collect();
    assert_eq!(pings, [at(25.0), at(50.08), at(75.2)]);
    assert_eq!(s.when("Close(b1)"), at(95.2));
    assert_eq!(s.when("Offline(bob, Silent)"), at(95.2));
    assert_eq!(s.count("Abort(b1)"), 0, "the close completed");
}

#[test]
fn a_chatty_client_is_never_pinged() {
    let mut s = Script::new(ping(25, 20));
    s.open(at(0.0), "c1", "carol").unwrap();
    for k in 1..=12 {
        let t = at(f64::from(k) * 10.0);
        s.run(t, ignore);
        s.frame(t, "c1");
    }
    s.run(at(120.0), ignore);
    insta::assert_snapshot!(s.log);
    assert!(!s.actions.iter().any(|(_, a)| a.starts_with("Ping")));
    // Still pinged on time once she stops: 25 s after her last frame.
    s.run(at(200.0), ignore);
    assert_eq!(s.when("Ping(c1)"), at(145.0));
}

#[test]
fn passive_mode_with_the_article_s_60_s_and_60_s_never_pings() {
    let mut s = Script::new(SessionsConfig::new().with_heartbeat(ServerHeartbeat::article()));
    s.open(at(0.0), "d1", "dave").unwrap();
    // dave's client heartbeats after 60 s of silence; the server only watches.
    s.run(at(60.0), ignore);
    s.frame(at(60.0), "d1");
    s.run(at(120.0), ignore);
    s.frame(at(120.0), "d1");
    // Then nothing: closed 120 s after the last frame.
    s.run(at(300.0), closes_complete);
    insta::assert_snapshot!(s.log);
    assert!(!s.actions.iter().any(|(_, a)| a.starts_with("Ping")));
    assert_eq!(s.when("Close(d1)"), at(240.0));
    assert_eq!(s.when("Offline(dave, Silent)"), at(240.0));
}

#[test]
fn two_tabs_one_closes_still_online_the_last_closes_offline_once() {
    let mut s = Script::new(ping(25, 20));
    s.open(at(0.0), "tab1", "alice").unwrap();
    s.open(at(2.0), "tab2", "alice").unwrap();
    s.status(at(2.0), "alice");
    s.ended(at(10.0), "tab1");
    let still = s.status(at(10.0), "alice");
    s.ended(at(15.0), "tab2");
    let gone = s.status(at(15.0), "alice");
    insta::assert_snapshot!(s.log);
    assert_eq!(s.count("Online(alice)"), 1);
    assert_eq!(
        still,
        ClientStatus::Online {
            since: at(0.0),
            connections: 1
        }
    );
    assert_eq!(s.count("Offline(alice, Ended)"), 1);
    assert_eq!(s.when("Offline(alice, Ended)"), at(15.0));
    assert_eq!(
        gone,
        ClientStatus::Offline {
            since: at(15.0),
            reason: OfflineReason::Ended
        }
    );
}

#[test]
fn a_reconnect_that_overtakes_the_old_close_makes_no_flap() {
    let mut s = Script::new(ping(25, 20));
    s.open(at(0.0), "old", "erin").unwrap();
    // erin's network switched: her client reconnects at 30 s, long before
    // the server notices the old socket is dead (pinged at 25 s).
    s.run(at(30.0), ignore);
    s.open(at(30.0), "new", "erin").unwrap();
    s.run(at(60.0), |s, t, a| {
        if a == "Ping(new)" {
            s.pong(t + Duration::from_millis(50), "new");
        }
        closes_complete(s, t, a);
    });
    insta::assert_snapshot!(s.log);
    assert_eq!(s.when("Close(old)"), at(45.0));
    assert_eq!(s.count("Online(erin)"), 1);
    assert!(!s.actions.iter().any(|(_, a)| a.starts_with("Offline")));
    assert_eq!(s.s.connections("erin"), 1);
}

#[test]
fn linger_absorbs_a_quick_reconnect() {
    let mut s = Script::new(ping(25, 20).with_linger(3 * SEC));
    s.open(at(0.0), "r1", "frank").unwrap();
    // A page reload: the old tab's socket ends, the new one opens 1.5 s later.
    s.ended(at(10.0), "r1");
    let lingering = s.status(at(10.0), "frank");
    s.run(at(11.5), ignore);
    s.open(at(11.5), "r2", "frank").unwrap();
    s.run(at(14.0), ignore);
    // Then he closes the tab for good: offline 3 s later.
    s.ended(at(20.0), "r2");
    s.run(at(30.0), ignore);
    insta::assert_snapshot!(s.log);
    assert_eq!(
        lingering,
        ClientStatus::Online {
            since: at(0.0),
            connections: 0
        }
    );
    assert_eq!(s.count("Online(frank)"), 1);
    assert_eq!(s.count("Offline(frank, Ended)"), 1);
    assert_eq!(s.when("Offline(frank, Ended)"), at(23.0));
}

#[test]
fn a_close_that_never_completes_is_aborted_and_offline_is_reported_once() {
    let mut s = Script::new(ping(10, 5).with_close_timeout(2 * SEC));
    s.open(at(0.0), "g1", "grace").unwrap();
    s.run(at(20.0), ignore);
    // A late end of the aborted connection changes nothing.
    s.ended(at(21.0), "g1");
    insta::assert_snapshot!(s.log);
    assert_eq!(s.when("Close(g1)"), at(15.0));
    assert_eq!(s.when("Abort(g1)"), at(17.0));
    assert_eq!(s.count("Offline(grace, Silent)"), 1);
    assert_eq!(s.count("Close(g1)") + s.count("Abort(g1)"), 2);
    assert!(s.s.is_empty());
}

#[test]
fn a_server_close_escalates_to_abort_and_counts_as_offline() {
    let mut s = Script::new(ping(10, 5).with_close_timeout(2 * SEC));
    s.open(at(0.0), "h1", "heidi").unwrap();
    s.close(at(4.0), "h1");
    let again = s.close(at(4.5), "h1");
    s.run(at(10.0), ignore);
    insta::assert_snapshot!(s.log);
    assert!(!again, "a second close is refused");
    assert_eq!(s.when("Offline(heidi, Closed)"), at(4.0));
    assert_eq!(s.when("Abort(h1)"), at(6.0));
    assert!(!s.actions.iter().any(|(_, a)| a.starts_with("Ping")));
}

#[test]
fn restart_nobody_is_offline_returning_clients_come_online() {
    // A fresh machine after a restart: clients reconnect over 10 s.
    let mut s = Script::new(ping(25, 20));
    let before = s.status(at(0.0), "ivan");
    for (k, id) in ["ivan", "judy", "mallory"].iter().enumerate() {
        let t = at(1.0 + 4.0 * k as f64);
        s.open(t, &format!("{id}1"), id).unwrap();
    }
    s.status(at(9.0), "zoe");
    insta::assert_snapshot!(s.log);
    assert_eq!(before, ClientStatus::Unknown);
    assert_eq!(s.s.status("zoe"), ClientStatus::Unknown);
    assert!(!s.actions.iter().any(|(_, a)| a.starts_with("Offline")));
    assert_eq!(s.when("Online(mallory)"), at(9.0));
    assert_eq!(s.s.online_count(), 3);
}

#[test]
fn capacity_and_per_id_caps_refuse_and_lose_nothing() {
    let mut s = Script::new(ping(25, 20).with_capacity(3).with_max_per_id(2));
    s.open(at(0.0), "k1", "kim").unwrap();
    s.open(at(0.0), "k2", "kim").unwrap();
    let third = s.open(at(1.0), "k3", "kim");
    s.open(at(1.0), "l1", "leo").unwrap();
    let full = s.open(at(2.0), "m1", "max");
    s.status(at(2.0), "kim");
    // Room comes back when a connection ends.
    s.ended(at(3.0), "l1");
    s.open(at(3.0), "m1", "max").unwrap();
    insta::assert_snapshot!(s.log);
    assert_eq!(third, Err(SessionsError::TooManyForId));
    assert_eq!(full, Err(SessionsError::Full));
    assert_eq!(s.s.connections("kim"), 2);
    assert_eq!(s.s.len(), 3);
    assert_eq!(s.count("Online(max)"), 1);
}

#[test]
fn stale_and_unknown_connections_and_time_going_backwards_are_harmless() {
    let mut s = Script::new(ping(10, 5));
    let old = s.open(at(0.0), "n1", "nina").unwrap();
    s.ended(at(1.0), "n1");
    let new = s.open(at(2.0), "n2", "nina").unwrap();
    // Events of the ended connection (its slot now serves n2) do nothing.
    s.s.received(old, at(2.0));
    s.s.ended(old, at(2.0));
    assert!(!s.s.close(old, at(2.0)));
    s.s.received(ConnId::from_u64(0xDEAD_BEEF), at(2.0));
    // A clock that steps back is clamped to 2 s: n2's ping stays at 12 s.
    s.s.received(new, at(0.5));
    s.run(at(13.0), ignore);
    insta::assert_snapshot!(s.log);
    assert!(s.s.is_live(new));
    assert!(!s.s.is_live(old));
    assert_eq!(s.when("Ping(n2)"), at(12.0));
    // Never in the past, never after the close that is due at 17 s.
    let next = s.s.poll_timeout().unwrap();
    assert!(next >= at(12.0) && next <= at(17.0), "{next}");
}
