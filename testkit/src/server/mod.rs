//! A naive reference model of the server machine `Sessions` (a list of
//! connections, a map of clients, and a full scan for every deadline), the
//! operations both are driven with, and the comparison that the `server`
//! fuzz target and `tests/server_model.rs` run: identical actions (as sets
//! per instant), statuses, counts and round-trip times, `poll_timeout`
//! never later than the model's next deadline, and the invariants of the
//! action stream.

mod model;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use keepalive::{
    ClientStatus, ConnId, Instant, ServerAction, ServerHeartbeat, Sessions, SessionsConfig,
};

pub use self::model::{Action, Model};
use self::model::{nanos, reason_code};
use crate::bytes::Bytes;

/// Client ids are few, so that connections of one id collide often.
pub const IDS: u8 = 4;

const MS: u64 = 1_000_000;

/// One operation on both machines. Connections are named by index into
/// the list of those opened so far (ended ones included: stale events).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServerOp {
    /// `open(id)`.
    Open(u8),
    /// `received(conn)`.
    Frame(u16),
    /// `pong(conn)`.
    Pong(u16),
    /// `close(conn)`.
    Close(u16),
    /// `ended(conn)`.
    Ended(u16),
    /// `set_heartbeat`: ping mode?, interval ms, timeout ms (maybe invalid).
    SetHeartbeat(bool, u32, u32),
    /// The clock moves forward, polling at every deadline on the way.
    Forward(u64),
    /// The clock the caller reads steps back (the machines clamp it).
    Backward(u64),
}

impl ServerOp {
    /// Reads one op; clock steps are relative to `interval` (ns) so they
    /// land on, just before and past deadlines.
    pub fn decode(b: &mut Bytes<'_>, interval: u64) -> ServerOp {
        let tag = b.u8();
        let arg = u16::from(tag >> 4);
        match tag % 16 {
            0..=2 => ServerOp::Open(b.below(IDS)),
            3..=5 => ServerOp::Frame(arg),
            6 => ServerOp::Pong(arg),
            7 => ServerOp::Close(arg),
            8 | 9 => ServerOp::Ended(arg),
            10 => ServerOp::SetHeartbeat(
                b.bool(),
                u32::from(b.u16() % 3000),
                u32::from(b.u16() % 3000),
            ),
            11..=14 => ServerOp::Forward(match b.u8() % 6 {
                0 => 0,
                1 => interval,
                2 => interval.saturating_sub(1),
                3 => interval / 1000 * u64::from(b.u16() % 3000),
                4 => u64::from(b.u32()),
                _ => u64::from(b.u16()) * MS * 10,
            }),
            _ => ServerOp::Backward(u64::from(b.u32())),
        }
    }
}

/// A config from bytes: mostly small valid durations, sometimes invalid.
pub fn decode_server_config(b: &mut Bytes<'_>) -> SessionsConfig {
    let ms = |n: u16| Duration::from_millis(u64::from(n));
    let interval = 1 + b.u16() % 3000;
    let timeout = 1 + b.u16() % 3000;
    let heartbeat = if b.bool() {
        ServerHeartbeat::ping(ms(interval.max(timeout)), ms(interval.min(timeout)))
    } else {
        ServerHeartbeat::passive(ms(interval), ms(timeout))
    };
    let maybe_zero = |b: &mut Bytes<'_>| if b.bool() { 0 } else { b.u16() % 3000 };
    let config = SessionsConfig::new()
        .with_heartbeat(heartbeat)
        .with_close_timeout(ms(1 + b.u16() % 2000))
        .with_linger(ms(maybe_zero(b)))
        .with_forget_after(ms(maybe_zero(b)))
        .with_capacity(usize::from(b.below(7)))
        .with_max_per_id(u32::from(b.below(4)));
    if b.u8().is_multiple_of(16) {
        config.with_heartbeat(ServerHeartbeat::ping(ms(5), ms(6)))
    } else {
        config
    }
}

/// Checks of the real machine's action stream alone.
#[derive(Default)]
struct Invariants {
    closed: BTreeSet<usize>,
    aborted: BTreeSet<usize>,
    online: BTreeMap<u8, bool>,
}

impl Invariants {
    fn see(&mut self, a: Action) -> Result<(), String> {
        match a {
            Action::Ping(c) if self.closed.contains(&c) => {
                Err(format!("ping of {c} after its close"))
            }
            Action::Close(c) if !self.closed.insert(c) => Err(format!("second close of {c}")),
            Action::Abort(c) if !self.closed.contains(&c) => {
                Err(format!("abort of {c} before a close"))
            }
            Action::Abort(c) if !self.aborted.insert(c) => Err(format!("second abort of {c}")),
            Action::Online(id) if self.online.insert(id, true) == Some(true) => {
                Err(format!("{id} online twice in a row"))
            }
            Action::Offline(id, _) if self.online.insert(id, false) != Some(true) => {
                Err(format!("{id} offline without being online"))
            }
            _ => Ok(()),
        }
    }
}

/// Runs `ops` on `Sessions` and on [`Model`] from `start` (ns) and compares
/// them after every step.
pub fn run(config: SessionsConfig, start: u64, ops: &[ServerOp]) -> Result<(), String> {
    let mut real: Sessions<u8> = match Sessions::new(config) {
        Ok(real) => real,
        Err(err) => {
            return match config.validate() {
                Err(want) if want == err => Ok(()),
                other => Err(format!(
                    "Sessions::new = {err:?} but validate() = {other:?}"
                )),
            };
        }
    };
    let mut model = Model::new(&config);
    let mut handles: Vec<ConnId> = Vec::new();
    let mut index: HashMap<ConnId, usize> = HashMap::new();
    let mut inv = Invariants::default();
    let mut now = start;
    for (n, &op) in ops.iter().enumerate() {
        let t0 = now;
        let fail = |what: String| Err(format!("op {n} {op:?} at {t0}: {what} ({config:?})"));
        let at = Instant::from_nanos(now);
        let pick = |k: u16, n: usize| (n > 0).then(|| usize::from(k) % n);
        match op {
            ServerOp::Open(id) => {
                let before: Vec<u8> = model.oldest_offline();
                let got = real.open(&id, at);
                let evicted = before
                    .iter()
                    .copied()
                    .find(|&o| real.status(&o) == ClientStatus::Unknown);
                let want = model.open(id, now, evicted);
                match (got, want) {
                    (Ok(c), Ok(i)) => {
                        handles.push(c);
                        index.insert(c, i);
                    }
                    (Err(g), Err(w)) if g == w => {}
                    (g, w) => return fail(format!("open: {g:?}, model {w:?}")),
                }
            }
            ServerOp::Frame(k) | ServerOp::Pong(k) => {
                if let Some(i) = pick(k, handles.len()) {
                    let pong = matches!(op, ServerOp::Pong(_));
                    if pong {
                        real.pong(handles[i], at);
                    } else {
                        real.received(handles[i], at);
                    }
                    model.frame(i, now, pong);
                }
            }
            ServerOp::Close(k) => {
                if let Some(i) = pick(k, handles.len()) {
                    let (got, want) = (real.close(handles[i], at), model.close(i, now));
                    if got != want {
                        return fail(format!("close: {got}, model {want}"));
                    }
                    if got {
                        inv.closed.insert(i);
                    }
                }
            }
            ServerOp::Ended(k) => {
                if let Some(i) = pick(k, handles.len()) {
                    real.ended(handles[i], at);
                    model.ended(i, now);
                }
            }
            ServerOp::SetHeartbeat(ping, i, t) => {
                let ms = |v: u32| Duration::from_millis(u64::from(v));
                let hb = if ping {
                    ServerHeartbeat::ping(ms(i), ms(t))
                } else {
                    ServerHeartbeat::passive(ms(i), ms(t))
                };
                let got = real.set_heartbeat(hb);
                if got != hb.validate() {
                    return fail(format!(
                        "set_heartbeat {got:?}, validate {:?}",
                        hb.validate()
                    ));
                }
                if got.is_ok() {
                    model.set_heartbeat(hb);
                }
            }
            ServerOp::Forward(d) => {
                let target = now.saturating_add(d);
                // A server's timer loop: sleep to each deadline, poll there.
                while let Some(t) = real
                    .poll_timeout()
                    .map(Instant::as_nanos)
                    .filter(|&t| t <= target)
                {
                    if let Some(m) = model.next_deadline().filter(|&m| t > m) {
                        return fail(format!("poll_timeout {t} is later than the model's {m}"));
                    }
                    let got = drain(&mut real, Instant::from_nanos(t), &index, &mut inv)?;
                    let mut want = model.drain(t);
                    want.sort();
                    if got != want {
                        return fail(format!("at {t}: {got:?}, model {want:?}"));
                    }
                    now = now.max(t);
                }
                if let Some(m) = model.next_deadline().filter(|&m| m <= target) {
                    return fail(format!(
                        "model deadline {m} passed unpolled (target {target})"
                    ));
                }
                now = target;
            }
            ServerOp::Backward(d) => now = now.saturating_sub(d),
        }
        // After every op: reports queued by the op, then every query.
        let t = Instant::from_nanos(now);
        let got = drain(&mut real, t, &index, &mut inv)?;
        let mut want = model.drain(now);
        want.sort();
        if got != want {
            return fail(format!("after the op: {got:?}, model {want:?}"));
        }
        for id in 0..IDS {
            let (g, w) = (real.status(&id), model.status(id));
            if g != w {
                return fail(format!("status({id}) {g:?}, model {w:?}"));
            }
            if real.connections(&id) != w_connections(w) {
                return fail(format!("connections({id}) {}", real.connections(&id)));
            }
        }
        let counts = (real.len(), real.clients(), real.online_count());
        if counts != model.counts() || real.online().count() != counts.2 {
            return fail(format!("counts {counts:?}, model {:?}", model.counts()));
        }
        for (i, &c) in handles.iter().enumerate() {
            if real.rtt(c) != model.rtt(i) {
                return fail(format!(
                    "rtt of {i}: {:?}, model {:?}",
                    real.rtt(c),
                    model.rtt(i)
                ));
            }
        }
        if real.poll_timeout().is_some_and(|p| p.as_nanos() < model.t) {
            return fail(format!(
                "poll_timeout {:?} in the past",
                real.poll_timeout()
            ));
        }
    }
    Ok(())
}

/// Polls the real machine at `t` until `None`, translating its actions to
/// model indices and checking each against the invariants; sorted.
fn drain(
    real: &mut Sessions<u8>,
    t: Instant,
    index: &HashMap<ConnId, usize>,
    inv: &mut Invariants,
) -> Result<Vec<Action>, String> {
    let mut got = Vec::new();
    while let Some(a) = real.poll(t) {
        let conn = |c: ConnId| index.get(&c).copied().ok_or(format!("{a:?}: never issued"));
        let a = match a {
            ServerAction::Ping(c) => Action::Ping(conn(c)?),
            ServerAction::Close(c) => Action::Close(conn(c)?),
            ServerAction::Abort(c) => Action::Abort(conn(c)?),
            ServerAction::Online(id) => Action::Online(id),
            ServerAction::Offline(id, r) => Action::Offline(id, reason_code(r)),
        };
        inv.see(a)?;
        got.push(a);
        if got.len() > 4 * index.len() + 2 * usize::from(IDS) + 8 {
            return Err(format!("poll does not stop: {got:?}"));
        }
    }
    got.sort();
    Ok(got)
}

fn w_connections(s: ClientStatus) -> usize {
    match s {
        ClientStatus::Online { connections, .. } => connections,
        _ => 0,
    }
}

/// The `server` fuzz target's body: bytes → config, start time and ops,
/// then [`run`].
pub fn check(data: &[u8]) -> Result<(), String> {
    let mut b = Bytes::new(data);
    let config = decode_server_config(&mut b);
    let start = if b.u8().is_multiple_of(4) {
        u64::MAX - 100_000_000_000
    } else {
        0
    };
    let interval = nanos(config.heartbeat().interval());
    let mut ops = Vec::new();
    while !b.is_empty() && ops.len() < 400 {
        ops.push(ServerOp::decode(&mut b, interval));
    }
    run(config, start, &ops)
}
