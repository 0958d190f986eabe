//! The naive reference model of `Sessions`: a list of connections, a map
//! of clients, and a full scan for every deadline. Obviously correct, O(n)
//! everywhere.

use std::collections::BTreeMap;
use std::time::Duration;

use keepalive::{
    ClientStatus, Instant, OfflineReason, ServerHeartbeat, SessionsConfig, SessionsError,
};

const MS: u64 = 1_000_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Live,
    Closing,
    Gone,
}

#[derive(Clone, Debug)]
struct Conn {
    client: u8,
    last: u64,
    mark: u64,
    phase: Phase,
    ping: bool,
    pinged: bool,
    interval: u64,
    timeout: u64,
    srtt_us: u32,
}

impl Conn {
    fn deadline(&self, close_timeout: u64) -> Option<u64> {
        match self.phase {
            Phase::Gone => None,
            Phase::Closing => Some(self.mark.saturating_add(close_timeout)),
            Phase::Live if self.ping && self.pinged => Some(self.mark.saturating_add(self.timeout)),
            Phase::Live if self.ping => Some(self.last.saturating_add(self.interval)),
            Phase::Live => Some(self.last.saturating_add(self.interval + self.timeout)),
        }
    }
}

#[derive(Clone, Copy, Debug)]
enum Client {
    Online {
        since: u64,
    },
    Lingering {
        since: u64,
        until: u64,
        reason: OfflineReason,
        seq: u64,
    },
    Offline {
        since: u64,
        reason: OfflineReason,
    },
}

/// The reference: obviously correct, O(n) everywhere. Times in ns.
#[derive(Clone, Debug)]
pub struct Model {
    pub(super) t: u64,
    heartbeat: ServerHeartbeat,
    close_timeout: u64,
    linger: u64,
    forget: u64,
    capacity: usize,
    max_per_id: u32,
    conns: Vec<Conn>,
    clients: BTreeMap<u8, Client>,
    reports: Vec<Action>,
    seq: u64,
}

/// An action of either machine, with connections as indices into the list
/// of connections opened so far.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Action {
    /// `Ping`.
    Ping(usize),
    /// `Close`.
    Close(usize),
    /// `Abort`.
    Abort(usize),
    /// `Online`.
    Online(u8),
    /// `Offline`, with the reason's index.
    Offline(u8, u8),
}

pub(super) fn reason_code(r: OfflineReason) -> u8 {
    match r {
        OfflineReason::Ended => 0,
        OfflineReason::Silent => 1,
        _ => 2,
    }
}

pub(super) fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

impl Model {
    /// An empty machine with `config` (assumed valid).
    pub fn new(config: &SessionsConfig) -> Self {
        Model {
            t: 0,
            heartbeat: config.heartbeat(),
            close_timeout: nanos(config.close_timeout()),
            linger: nanos(config.linger()),
            forget: nanos(config.forget_after()),
            capacity: config.capacity(),
            max_per_id: config.max_per_id(),
            conns: Vec::new(),
            clients: BTreeMap::new(),
            reports: Vec::new(),
            seq: 0,
        }
    }

    fn clamp(&mut self, now: u64) -> u64 {
        self.t = self.t.max(now);
        self.t
    }

    fn live(&self, id: u8) -> usize {
        self.conns
            .iter()
            .filter(|c| c.client == id && c.phase == Phase::Live)
            .count()
    }

    /// The offline ids that went offline first (any of them may be
    /// forgotten early to make room).
    pub fn oldest_offline(&self) -> Vec<u8> {
        let offline: Vec<(u8, u64)> = self
            .clients
            .iter()
            .filter_map(|(&id, c)| match *c {
                Client::Offline { since, .. } => Some((id, since)),
                _ => None,
            })
            .collect();
        let min = offline.iter().map(|&(_, s)| s).min();
        offline
            .iter()
            .filter(|&&(_, s)| Some(s) == min)
            .map(|&(id, _)| id)
            .collect()
    }

    /// `Sessions::open`; `evicted` is the id the real machine forgot to make
    /// room, if it had to (checked to be among [`oldest_offline`](Self::oldest_offline)).
    pub fn open(&mut self, id: u8, now: u64, evicted: Option<u8>) -> Result<usize, SessionsError> {
        let now = self.clamp(now);
        let open = self.conns.iter().filter(|c| c.phase != Phase::Gone).count();
        if open >= self.capacity {
            return Err(SessionsError::Full);
        }
        match self.clients.get(&id).copied() {
            Some(_) if self.live(id) >= self.max_per_id as usize => {
                return Err(SessionsError::TooManyForId);
            }
            Some(Client::Online { .. }) => {}
            Some(Client::Lingering { since, .. }) => {
                self.clients.insert(id, Client::Online { since });
            }
            Some(Client::Offline { .. }) => {
                self.clients.insert(id, Client::Online { since: now });
                self.reports.push(Action::Online(id));
            }
            None => {
                if self.clients.len() >= self.capacity {
                    match evicted {
                        Some(gone) if self.oldest_offline().contains(&gone) => {
                            self.clients.remove(&gone);
                        }
                        _ => return Err(SessionsError::Full),
                    }
                }
                self.clients.insert(id, Client::Online { since: now });
                self.reports.push(Action::Online(id));
            }
        }
        let hb = self.heartbeat;
        self.conns.push(Conn {
            client: id,
            last: now,
            mark: 0,
            phase: Phase::Live,
            ping: hb.is_ping(),
            pinged: false,
            interval: hb.interval().as_millis() as u64 * MS,
            timeout: hb.timeout().as_millis() as u64 * MS,
            srtt_us: 0,
        });
        Ok(self.conns.len() - 1)
    }

    /// `Sessions::received` (`pong: false`) or `Sessions::pong`.
    pub fn frame(&mut self, c: usize, now: u64, pong: bool) {
        let now = self.clamp(now);
        if let Some(conn) = self.conns.get_mut(c).filter(|c| c.phase == Phase::Live) {
            if pong && conn.pinged {
                let sample = u32::try_from((now - conn.mark) / 1000)
                    .unwrap_or(u32::MAX)
                    .max(1);
                conn.srtt_us = if conn.srtt_us == 0 {
                    sample
                } else {
                    ((u64::from(conn.srtt_us) * 7 + u64::from(sample)) / 8) as u32
                }
                .max(1);
            }
            conn.last = now;
            conn.pinged = false;
        }
    }

    /// `Sessions::close`.
    pub fn close(&mut self, c: usize, now: u64) -> bool {
        let now = self.clamp(now);
        match self.conns.get_mut(c) {
            Some(conn) if conn.phase == Phase::Live => {
                conn.phase = Phase::Closing;
                conn.mark = now;
                let id = conn.client;
                self.leave(id, now, OfflineReason::Closed);
                true
            }
            _ => false,
        }
    }

    /// `Sessions::ended`.
    pub fn ended(&mut self, c: usize, now: u64) {
        let now = self.clamp(now);
        let Some(conn) = self.conns.get_mut(c) else {
            return;
        };
        let was = conn.phase;
        conn.phase = Phase::Gone;
        if was == Phase::Live {
            let id = conn.client;
            self.leave(id, now, OfflineReason::Ended);
        }
    }

    fn leave(&mut self, id: u8, now: u64, reason: OfflineReason) {
        let Some(&Client::Online { since }) = self.clients.get(&id) else {
            return;
        };
        if self.live(id) > 0 {
            return;
        }
        self.seq += 1;
        if self.linger == 0 {
            self.clients
                .insert(id, Client::Offline { since: now, reason });
            self.reports.push(Action::Offline(id, reason_code(reason)));
        } else {
            let until = now.saturating_add(self.linger);
            let seq = self.seq;
            self.clients.insert(
                id,
                Client::Lingering {
                    since,
                    until,
                    reason,
                    seq,
                },
            );
        }
    }

    /// `Sessions::set_heartbeat` with a valid policy.
    pub fn set_heartbeat(&mut self, hb: ServerHeartbeat) {
        self.heartbeat = hb;
    }

    /// Everything due by `now`, in the order it falls due.
    pub fn drain(&mut self, now: u64) -> Vec<Action> {
        let now = self.clamp(now);
        let mut out = std::mem::take(&mut self.reports);
        loop {
            // (deadline, tie-break, what): forgets, lingers, connections.
            let mut best: Option<(u64, u64, usize, u8)> = None;
            let mut consider = |at: u64, tie: u64, what: usize, kind: u8| {
                if at <= now && best.is_none_or(|b| (at, tie) < (b.0, b.1)) {
                    best = Some((at, tie, what, kind));
                }
            };
            for (&id, c) in &self.clients {
                match *c {
                    Client::Offline { since, .. } => {
                        consider(since.saturating_add(self.forget), 0, usize::from(id), 0);
                    }
                    Client::Lingering { until, seq, .. } => {
                        consider(until, seq, usize::from(id), 1)
                    }
                    Client::Online { .. } => {}
                }
            }
            for (i, c) in self.conns.iter().enumerate() {
                if let Some(d) = c.deadline(self.close_timeout) {
                    consider(d, 0, i, 2);
                }
            }
            let Some((at, _, what, kind)) = best else {
                return out;
            };
            match kind {
                0 => {
                    self.clients.remove(&(what as u8));
                }
                1 => {
                    let id = what as u8;
                    if let Some(&Client::Lingering { reason, .. }) = self.clients.get(&id) {
                        self.clients
                            .insert(id, Client::Offline { since: at, reason });
                        out.push(Action::Offline(id, reason_code(reason)));
                    }
                }
                _ => {
                    let conn = &mut self.conns[what];
                    match conn.phase {
                        Phase::Closing => {
                            conn.phase = Phase::Gone;
                            out.push(Action::Abort(what));
                        }
                        Phase::Live if conn.ping && !conn.pinged => {
                            conn.mark = now;
                            conn.pinged = true;
                            out.push(Action::Ping(what));
                        }
                        _ => {
                            conn.phase = Phase::Closing;
                            conn.mark = now;
                            out.push(Action::Close(what));
                            let id = conn.client;
                            self.leave(id, now, OfflineReason::Silent);
                            out.append(&mut self.reports);
                        }
                    }
                }
            }
        }
    }

    /// The model's next deadline (exact), if any.
    pub fn next_deadline(&self) -> Option<u64> {
        if !self.reports.is_empty() {
            return Some(self.t);
        }
        let conns = self
            .conns
            .iter()
            .filter_map(|c| c.deadline(self.close_timeout));
        let clients = self.clients.values().filter_map(|c| match *c {
            Client::Offline { since, .. } => Some(since.saturating_add(self.forget)),
            Client::Lingering { until, .. } => Some(until),
            Client::Online { .. } => None,
        });
        conns.chain(clients).min().map(|d| d.max(self.t))
    }

    /// `Sessions::status`.
    pub fn status(&self, id: u8) -> ClientStatus {
        let at = Instant::from_nanos;
        match self.clients.get(&id) {
            None => ClientStatus::Unknown,
            Some(&Client::Online { since }) | Some(&Client::Lingering { since, .. }) => {
                ClientStatus::Online {
                    since: at(since),
                    connections: self.live(id),
                }
            }
            Some(&Client::Offline { since, reason }) => ClientStatus::Offline {
                since: at(since),
                reason,
            },
        }
    }

    /// `(Sessions::len, Sessions::clients, Sessions::online_count)`.
    pub fn counts(&self) -> (usize, usize, usize) {
        let open = self.conns.iter().filter(|c| c.phase != Phase::Gone).count();
        let online = self
            .clients
            .values()
            .filter(|c| !matches!(c, Client::Offline { .. }))
            .count();
        (open, self.clients.len(), online)
    }

    /// `Sessions::rtt` of connection `c`.
    pub fn rtt(&self, c: usize) -> Option<Duration> {
        let conn = self.conns.get(c).filter(|c| c.phase != Phase::Gone)?;
        (conn.srtt_us > 0).then(|| Duration::from_micros(u64::from(conn.srtt_us)))
    }
}
