//! The transcript harness shared by the scenario tests: a `Connection`
//! driven in virtual time, every input and its actions written as a
//! `t=…  input → [actions]  State` line, and a scripted server.
#![allow(dead_code)] // each test file uses its own part of it

use std::fmt::Write as _;
use std::time::Duration;

use keepalive::{Action, Config, Connection, Event, Instant, State, TransportId};

pub const SEC: Duration = Duration::from_secs(1);
pub const MS: Duration = Duration::from_millis(1);

/// A connection plus its transcript.
pub struct Trace {
    pub conn: Connection,
    pub now: Instant,
    pub log: String,
    /// Every action with the time it was emitted.
    pub actions: Vec<(Instant, Action)>,
    /// How many actions the scripted server has seen (it answers each
    /// heartbeat once).
    pub answered: usize,
}

impl Trace {
    /// A connection with the article's settings, connected and opened at 0.
    pub fn article_open() -> Trace {
        let mut t = Trace::new(Config::article().with_seed(1));
        t.connect(secs(0));
        t.event(secs(0), Event::Opened);
        t
    }

    pub fn new(config: Config) -> Trace {
        Trace {
            conn: Connection::new(config).expect("valid config"),
            now: Instant::ZERO,
            log: String::new(),
            actions: Vec::new(),
            answered: 0,
        }
    }

    pub fn record(&mut self, at: Instant, input: &str, actions: keepalive::Actions) -> Vec<Action> {
        let (at_s, actions_s) = (at.to_string(), actions.to_string());
        let state = self.conn.state();
        let _ = writeln!(
            self.log,
            "t={at_s:<11}{input:<17}→ {actions_s:<38} {state:?}"
        );
        let list: Vec<Action> = actions.collect();
        self.actions.extend(list.iter().map(|a| (at, *a)));
        list
    }

    pub fn connect(&mut self, at: Instant) -> Vec<Action> {
        self.now = at;
        let actions = self.conn.connect(at);
        self.record(at, "connect()", actions)
    }

    pub fn close(&mut self, at: Instant) -> Vec<Action> {
        self.now = at;
        let actions = self.conn.close(at);
        self.record(at, "close()", actions)
    }

    /// A server-advised delay (`Retry-After`, close code 1013).
    pub fn retry_after(&mut self, at: Instant, delay: Duration) -> Vec<Action> {
        self.now = at;
        let actions = self.conn.retry_after(delay, at);
        self.record(at, &format!("retry after {delay:?}"), actions)
    }

    /// An event of the current transport.
    pub fn event(&mut self, at: Instant, event: Event) -> Vec<Action> {
        self.now = at;
        let actions = self.conn.handle(event, at);
        self.record(at, &event.to_string(), actions)
    }

    /// An event tagged with the transport it came from.
    pub fn event_from(&mut self, at: Instant, id: u32, event: Event) -> Vec<Action> {
        self.now = at;
        let actions = self.conn.handle_from(TransportId::from_u32(id), event, at);
        self.record(at, &format!("{event} from #{id}"), actions)
    }

    /// Ticks at every deadline up to and including `until`.
    pub fn run_until(&mut self, until: Instant) {
        while let Some(deadline) = self.conn.poll_timeout() {
            if deadline > until {
                break;
            }
            self.now = deadline;
            let actions = self.conn.handle(Event::Tick, deadline);
            self.record(deadline, "tick", actions);
        }
        self.now = self.now.max(until);
    }

    /// Runs to `until` against a scripted server: every `Close` is answered
    /// by `Closed` at once, every `Connect` by `Opened` (server `up`) or
    /// `Closed` (down) 10 ms later, every heartbeat by a message 20 ms later.
    pub fn run_with_server(&mut self, until: Instant, up: impl Fn(Instant) -> bool) {
        loop {
            let reply = match self.actions.last().copied() {
                Some((at, Action::Close { .. })) if self.conn.state() == State::Closing => {
                    Some((at, Event::Closed))
                }
                Some((at, Action::Connect { .. })) if self.conn.state() == State::Connecting => {
                    let t = at + 10 * MS;
                    Some((t, if up(t) { Event::Opened } else { Event::Closed }))
                }
                Some((at, Action::SendHeartbeat))
                    if up(at) && self.answered < self.actions.len() =>
                {
                    self.answered = self.actions.len();
                    Some((at + 20 * MS, Event::Message))
                }
                _ => None,
            };
            let deadline = self.conn.poll_timeout();
            match reply {
                Some((t, event)) if t <= until && deadline.is_none_or(|d| t <= d) => {
                    self.event(t, event);
                }
                _ => match deadline {
                    Some(d) if d <= until => {
                        self.now = d;
                        let actions = self.conn.handle(Event::Tick, d);
                        self.record(d, "tick", actions);
                    }
                    _ => return,
                },
            }
        }
    }

    /// The first time an action matching `f` was emitted.
    pub fn first(&self, f: impl Fn(&Action) -> bool) -> Option<Instant> {
        self.actions.iter().find(|(_, a)| f(a)).map(|(t, _)| *t)
    }

    /// Every time an action matching `f` was emitted.
    pub fn times(&self, f: impl Fn(&Action) -> bool) -> Vec<Instant> {
        self.actions
            .iter()
            .filter(|(_, a)| f(a))
            .map(|(t, _)| *t)
            .collect()
    }

    pub fn count(&self, f: impl Fn(&Action) -> bool) -> usize {
        self.actions.iter().filter(|(_, a)| f(a)).count()
    }
}

pub fn secs(s: u64) -> Instant {
    Instant::from_secs(s)
}

pub fn millis(ms: u64) -> Instant {
    Instant::from_millis(ms)
}

pub fn is_connect(a: &Action) -> bool {
    matches!(a, Action::Connect { .. })
}

pub fn is_reconnect(a: &Action) -> bool {
    matches!(a, Action::ScheduleReconnect { .. })
}

pub fn is_heartbeat(a: &Action) -> bool {
    matches!(a, Action::SendHeartbeat)
}
