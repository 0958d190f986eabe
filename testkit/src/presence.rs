//! A naive reference model of `Presence` (a `HashMap` of last-seen times and
//! a full scan; the same semantics as the model in `tests/presence_model.rs`),
//! operations decoded from bytes, and the comparison the `presence` fuzz
//! target runs.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use keepalive::{Change, Instant, Presence, PresenceConfig, PresenceError, Status};

use crate::bytes::Bytes;

/// Ids are few, so that operations on one id collide often.
pub const IDS: u8 = 8;

#[derive(Clone, Copy, Debug)]
enum Entry {
    Online { since: u64, last: u64 },
    Offline { last: u64, off_at: u64 },
}

/// The reference: obviously correct, O(n) everywhere. Times in ns.
#[derive(Clone, Debug)]
pub struct Model {
    t: u64,
    timeout: u64,
    forget: u64,
    capacity: usize,
    map: HashMap<u8, Entry>,
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

impl Model {
    /// An empty tracker with `config` (assumed valid).
    pub fn new(config: &PresenceConfig) -> Self {
        Model {
            t: 0,
            timeout: nanos(config.timeout()),
            forget: nanos(config.forget_after()),
            capacity: config.capacity(),
            map: HashMap::new(),
        }
    }

    fn clamp(&mut self, now: u64) -> u64 {
        self.t = self.t.max(now);
        self.t
    }

    /// `Presence::status`.
    pub fn status(&self, id: u8, now: u64) -> Status {
        let now = now.max(self.t);
        let at = Instant::from_nanos;
        match self.map.get(&id) {
            None => Status::Unknown,
            Some(&Entry::Online { since, last }) => {
                let off_at = last.saturating_add(self.timeout);
                if now < off_at {
                    Status::Online {
                        since: at(since),
                        last_seen: at(last),
                    }
                } else if now < off_at.saturating_add(self.forget) {
                    Status::Offline {
                        last_seen: at(last),
                    }
                } else {
                    Status::Unknown
                }
            }
            Some(&Entry::Offline { last, off_at }) => {
                if now < off_at.saturating_add(self.forget) {
                    Status::Offline {
                        last_seen: at(last),
                    }
                } else {
                    Status::Unknown
                }
            }
        }
    }

    /// `Presence::check_in`.
    pub fn check_in(&mut self, id: u8, now: u64) -> Result<Change, PresenceError> {
        let t = self.clamp(now);
        let (timeout, full) = (self.timeout, self.map.len() >= self.capacity);
        match self.map.get_mut(&id) {
            Some(Entry::Online { last, .. }) if t < last.saturating_add(timeout) => {
                *last = t;
                Ok(Change::Refreshed)
            }
            Some(entry) => {
                *entry = Entry::Online { since: t, last: t };
                Ok(Change::CameOnline)
            }
            None if full => Err(PresenceError::Full),
            None => {
                self.map.insert(id, Entry::Online { since: t, last: t });
                Ok(Change::CameOnline)
            }
        }
    }

    /// `Presence::check_out`.
    pub fn check_out(&mut self, id: u8, now: u64) -> Status {
        let t = self.clamp(now);
        let before = self.status(id, t);
        if let Status::Online { last_seen, .. } = before {
            if self.forget == 0 {
                self.map.remove(&id);
            } else {
                let last = last_seen.as_nanos();
                self.map.insert(id, Entry::Offline { last, off_at: t });
            }
        }
        before
    }

    /// A full scan: every online id past its timeout goes offline (returned
    /// with its deadline, in deadline order), then every offline id past
    /// `forget_after` is forgotten.
    pub fn drain(&mut self, now: u64) -> Vec<(u64, u8)> {
        let t = self.clamp(now);
        let mut gone = Vec::new();
        for (&id, entry) in self.map.iter_mut() {
            if let Entry::Online { last, .. } = *entry {
                let off_at = last.saturating_add(self.timeout);
                if off_at <= t {
                    gone.push((off_at, id));
                    *entry = Entry::Offline { last, off_at };
                }
            }
        }
        let forget = self.forget;
        self.map.retain(|_, e| match *e {
            Entry::Offline { off_at, .. } => t < off_at.saturating_add(forget),
            Entry::Online { .. } => true,
        });
        gone.sort();
        gone
    }

    /// The earliest moment anything changes by itself.
    pub fn next_event(&self) -> Option<u64> {
        self.map
            .values()
            .map(|e| match *e {
                Entry::Online { last, .. } => last.saturating_add(self.timeout),
                Entry::Offline { off_at, .. } => off_at.saturating_add(self.forget),
            })
            .min()
    }

    /// Ids in the online state (silent ones not drained yet included).
    pub fn online(&self) -> BTreeSet<u8> {
        self.map
            .iter()
            .filter(|(_, e)| matches!(e, Entry::Online { .. }))
            .map(|(&id, _)| id)
            .collect()
    }

    /// Tracked ids.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether nothing is tracked.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// The latest `now` seen.
    pub fn now(&self) -> u64 {
        self.t
    }
}

/// One operation on both trackers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PresenceOp {
    /// `check_in(id)`.
    CheckIn(u8),
    /// `check_out(id)`.
    CheckOut(u8),
    /// `status(id)`.
    Status(u8),
    /// `poll_expired` until `None`.
    Drain,
    /// The clock moves forward by nanoseconds.
    Forward(u64),
    /// The clock moves backward by nanoseconds.
    Backward(u64),
}

/// A config from bytes: mostly small valid timeouts, sometimes an invalid
/// or extreme one; and a start time (0, or near the end of time).
pub fn decode_presence_config(b: &mut Bytes<'_>) -> (PresenceConfig, u64) {
    let ms = |n: u64| Duration::from_millis(n);
    let timeout = match b.u8() % 8 {
        0..=5 => ms(1 + u64::from(b.u16() % 3000)),
        6 => Duration::from_nanos(b.u64()),
        _ => [
            Duration::ZERO,
            Duration::from_nanos(999_999),
            PresenceConfig::MAX_DURATION,
            PresenceConfig::MAX_DURATION + Duration::from_nanos(1),
        ][usize::from(b.below(4))],
    };
    let forget = match b.u8() % 8 {
        0 | 1 => Duration::ZERO,
        2..=5 => ms(1 + u64::from(b.u16() % 6000)),
        6 => Duration::from_nanos(b.u64()),
        _ => [
            Duration::from_nanos(1),
            PresenceConfig::MAX_DURATION,
            Duration::MAX,
        ][usize::from(b.below(3))],
    };
    let capacity = match b.u8() % 8 {
        0..=6 => 1 + usize::from(b.below(IDS)),
        _ => [
            0,
            PresenceConfig::MAX_CAPACITY,
            PresenceConfig::MAX_CAPACITY + 1,
        ][usize::from(b.below(3))],
    };
    let start = match b.u8() % 4 {
        0 => u64::MAX - 20_000_000_000_000,
        1 => u64::MAX - 5_000_000_000,
        _ => 0,
    };
    let config = PresenceConfig::new()
        .with_timeout(timeout)
        .with_forget_after(forget)
        .with_capacity(capacity);
    (config, start)
}

impl PresenceOp {
    /// Reads one op; clock steps are relative to `timeout` (ns) so they
    /// land on, just before and past deadlines.
    pub fn decode(b: &mut Bytes<'_>, timeout: u64) -> PresenceOp {
        let tag = b.u8();
        let id = (tag >> 4) % IDS;
        match tag % 16 {
            0..=4 => PresenceOp::CheckIn(id),
            5 | 6 => PresenceOp::CheckOut(id),
            7 => PresenceOp::Status(id),
            8..=10 => PresenceOp::Drain,
            11..=14 => PresenceOp::Forward(Self::span(b, timeout)),
            _ => PresenceOp::Backward(Self::span(b, timeout)),
        }
    }

    fn span(b: &mut Bytes<'_>, timeout: u64) -> u64 {
        match b.u8() % 8 {
            0 => 0,
            1 => timeout,
            2 => timeout.saturating_sub(1),
            3 => timeout.saturating_add(1),
            4 | 5 => timeout / 1000 * u64::from(b.u16() % 2500),
            6 => u64::from(b.u32()),
            _ => b.u64() % 10_000_000_000_000,
        }
    }
}

/// The `presence` fuzz target's body: bytes → config + ops on `Presence`
/// and on [`Model`]; every status, every set of ids that went offline (and
/// their order), `len`, `online_count`, the online ids and `poll_timeout`
/// must agree.
pub fn check(data: &[u8]) -> Result<(), String> {
    let mut b = Bytes::new(data);
    let (config, start) = decode_presence_config(&mut b);
    let mut real: Presence<u8> = match Presence::new(config) {
        Ok(real) => real,
        Err(err) => {
            return match config.validate() {
                Err(want) if want == err => Ok(()),
                other => Err(format!(
                    "Presence::new = {err:?} but validate() = {other:?} for {config:?}"
                )),
            };
        }
    };
    if let Err(err) = config.validate() {
        return Err(format!("Presence::new accepted {config:?}: {err:?}"));
    }
    let mut model = Model::new(&config);
    let timeout = nanos(config.timeout());
    let mut now = start;
    let mut n = 0;
    while !b.is_empty() {
        n += 1;
        let op = PresenceOp::decode(&mut b, timeout);
        let at = Instant::from_nanos(now);
        let t0 = now;
        let fail = |what: String| Err(format!("op {n} {op:?} at {t0}: {what} ({config:?})"));
        match op {
            PresenceOp::CheckIn(id) => {
                let (got, want) = (real.check_in(&id, at), model.check_in(id, now));
                if got != want {
                    return fail(format!("check_in {got:?}, model {want:?}"));
                }
            }
            PresenceOp::CheckOut(id) => {
                let (got, want) = (real.check_out(&id, at), model.check_out(id, now));
                if got != want {
                    return fail(format!("check_out {got:?}, model {want:?}"));
                }
            }
            PresenceOp::Status(id) => {
                let (got, want) = (real.status(&id, at), model.status(id, now));
                if got != want {
                    return fail(format!("status {got:?}, model {want:?}"));
                }
            }
            PresenceOp::Drain => {
                let mut got = Vec::new();
                while let Some(id) = real.poll_expired(at) {
                    if real.status(&id, at).is_online() || got.len() > usize::from(IDS) {
                        return fail(format!("poll_expired returned {id}, which is online"));
                    }
                    got.push(id);
                }
                let want = model.drain(now);
                let mut got_set = got.clone();
                got_set.sort();
                let mut want_set: Vec<u8> = want.iter().map(|&(_, id)| id).collect();
                want_set.sort();
                if got_set != want_set {
                    return fail(format!("went offline {got:?}, model {want:?}"));
                }
                let deadline: HashMap<u8, u64> = want.iter().map(|&(d, id)| (id, d)).collect();
                if got.windows(2).any(|w| deadline[&w[0]] > deadline[&w[1]]) {
                    return fail(format!("went offline out of deadline order: {got:?}"));
                }
                let online: BTreeSet<u8> = real.online().copied().collect();
                if real.len() != model.len()
                    || real.online_count() != model.online().len()
                    || online != model.online()
                {
                    return fail(format!(
                        "len {} online {online:?}, model len {} online {:?}",
                        real.len(),
                        model.len(),
                        model.online()
                    ));
                }
                let t = model.now();
                let ok = match (real.poll_timeout(), model.next_event()) {
                    (Some(p), Some(m)) => p.as_nanos() > t && p.as_nanos() <= m,
                    (None, Some(_)) => false,
                    (Some(p), None) => p.as_nanos() > t,
                    (None, None) => true,
                };
                if !ok {
                    return fail(format!(
                        "poll_timeout {:?}, model's next event {:?}, now {t}",
                        real.poll_timeout(),
                        model.next_event()
                    ));
                }
                if let Some(id) = real.poll_expired(at) {
                    return fail(format!("poll_expired returned {id} after draining"));
                }
            }
            PresenceOp::Forward(d) => now = now.saturating_add(d),
            PresenceOp::Backward(d) => now = now.saturating_sub(d),
        }
        let at = Instant::from_nanos(now);
        for id in 0..IDS {
            let (got, want) = (real.status(&id, at), model.status(id, now));
            if got != want {
                return fail(format!("id {id}: status {got:?}, model {want:?}"));
            }
        }
    }
    Ok(())
}
