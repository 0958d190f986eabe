//! The invariant checker: a `Connection` plus a model of what its caller
//! holds (which transport is live, what was asked of it), judged after
//! every step.

use core::time::Duration;

use keepalive::{
    Action, Actions, CloseReason, Config, ConfigError, Connection, Event, HeartbeatMode, Instant,
    State, TransportId,
};

use crate::ops::{Op, Step, Whose};

mod advice;
mod report;
mod state;

use advice::within_advice;
use report::Record;
pub use report::Violation;

/// What should happen when the live transport ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Intent {
    /// A disconnect: exactly one `ScheduleReconnect` or `GiveUp`.
    Reconnect,
    /// The user closed: nothing.
    Stop,
    /// The user called `connect` while it was closing: one `Connect`.
    ConnectNow,
}

/// The caller's view of the transport it holds.
#[derive(Clone, Copy, Debug)]
struct Live {
    id: u32,
    connect_at: Instant,
    opened_at: Option<Instant>,
    close_at: Option<Instant>,
    intent: Intent,
    /// The open or the last inbound data (idle-mode heartbeats count from it).
    last_data: Instant,
    /// The last heartbeat sent (fixed-mode heartbeats count from it).
    last_sent: Option<Instant>,
    /// A heartbeat not answered yet: when it was sent.
    awaiting: Option<Instant>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum End {
    Closed,
    Rejected,
    Aborted,
}

/// Wraps a [`Connection`] and checks, after every [`Op`], the rules of the
/// contract (DESIGN.md, `Connection`'s docs), from the caller's side:
///
/// - never two live transports: no `Connect` until the previous one ended
///   (`Closed`/`Rejected` delivered for it, or `Abort`); `transport()` and
///   `state()` always agree with the transport the caller holds;
/// - at most one `Close` per transport; `Abort` only after that transport's
///   `Close`, on a tick at least `close_timeout` later;
/// - each transport end schedules exactly one `ScheduleReconnect` or
///   `GiveUp` (or one `Connect` if the user asked to connect meanwhile, or
///   nothing after a user close); neither appears without an end;
/// - attempt numbers run 1, 2, 3… and restart only after a connection was
///   open `min_uptime` or a `connect` from a stopped state; delays lie in
///   `Backoff::bounds(attempt)`; `GiveUp` only after `Rejected` or once
///   `max_attempts` reconnects were tried (and then it is required);
/// - `SendHeartbeat` only when open, not before its due time (idle:
///   `interval` after the last data; fixed: `interval` after the previous
///   heartbeat); a late one only as the probe of a tick more than `timeout`
///   past the heartbeat deadline; `Close(HeartbeatTimeout)` exactly within
///   `[sent + timeout, sent + 2·timeout]`; `Close(ConnectTimeout)` only
///   `connect_timeout` after the `Connect`;
/// - after a user `close`, nothing but the `Abort` of the closing transport
///   until `connect`; from `Idle`/`Stopped`/`Failed` nothing but `connect`
///   does anything;
/// - events of transports the caller does not hold change nothing;
/// - `poll_timeout()` is never before the latest `now`, equals the deadline
///   the model expects in every state, and a tick before it emits nothing; a
///   tick at or after it always makes progress (the next deadline is later);
/// - `set_heartbeat` accepts exactly what `Config::validate` accepts;
/// - `Actions::len() <= Actions::CAPACITY`.
#[derive(Clone, Debug)]
pub struct InvariantChecker {
    conn: Connection,
    config: Config,
    connect_timeout: Duration,
    close_timeout: Duration,
    min_uptime: Duration,
    /// The caller's clock: may go backwards.
    clock: Instant,
    /// The latest `now` handed to the connection.
    seen: Instant,
    /// The newest id a `Connect` carried (0 before any).
    last_id: u32,
    live: Option<Live>,
    /// `close()` was called and `connect()` not since.
    user_stopped: bool,
    /// `GiveUp` was emitted and `connect()` not called since.
    gave_up: bool,
    /// The pending reconnect's deadline (the model's `Waiting`).
    reconnect_at: Option<Instant>,
    /// The expected `attempt()`.
    attempt: u32,
    /// The server-advised floor for the next scheduled reconnect (capped).
    advised: Option<Duration>,
    history: Vec<Record>,
}

/// Milliseconds precision, as a `Config` keeps durations.
pub(super) fn whole_ms(d: Duration) -> Duration {
    Duration::from_millis(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl InvariantChecker {
    /// A checker around `Connection::new(config)`; the error is that of
    /// `Connection::new`.
    pub fn new(config: Config) -> Result<Self, ConfigError> {
        let conn = Connection::new(config)?;
        Ok(InvariantChecker {
            conn,
            config,
            connect_timeout: whole_ms(config.connect_timeout()),
            close_timeout: whole_ms(config.close_timeout()),
            min_uptime: whole_ms(config.min_uptime()),
            clock: Instant::ZERO,
            seen: Instant::ZERO,
            last_id: 0,
            live: None,
            user_stopped: false,
            gave_up: false,
            reconnect_at: None,
            attempt: 0,
            advised: None,
            history: Vec::new(),
        })
    }

    /// Runs `ops` on a fresh checker. `Ok(None)` if `config` is invalid
    /// (after checking that `Connection::new` and `Config::validate` agree).
    pub fn run(config: Config, ops: &[Op]) -> Result<Option<Self>, Box<Violation>> {
        let mut checker = match InvariantChecker::new(config) {
            Ok(checker) => checker,
            Err(err) => {
                if config.validate() != Err(err) {
                    return Err(Box::new(Violation {
                        message: format!(
                            "Connection::new returned {err:?} but Config::validate {:?}",
                            config.validate()
                        ),
                        step: 0,
                        config,
                        ops: Vec::new(),
                        trace: Vec::new(),
                    }));
                }
                return Ok(None);
            }
        };
        if let Err(err) = config.validate() {
            return Err(checker.fail(format!(
                "Connection::new accepted a config that validate() rejects: {err:?}"
            )));
        }
        for &op in ops {
            let _ = checker.apply(op)?;
        }
        Ok(Some(checker))
    }

    /// The connection under test.
    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    /// The caller's clock.
    pub fn clock(&self) -> Instant {
        self.clock
    }

    /// The config the connection was built from.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Applies `op` and checks every invariant.
    pub fn apply(&mut self, op: Op) -> Result<Actions, Box<Violation>> {
        let actions = match op {
            Op::Advance(step) => {
                self.move_clock(step);
                self.record(op, Actions::default());
                Actions::default()
            }
            Op::SetHeartbeat { interval, timeout } => {
                self.set_heartbeat(op, interval, timeout)?;
                Actions::default()
            }
            Op::RetryAfter(delay) => self.retry_after(op, delay)?,
            _ => self.input(op)?,
        };
        self.check_state()?;
        Ok(actions)
    }

    fn move_clock(&mut self, step: Step) {
        let poll = self.conn.poll_timeout();
        let ms = |n: u32| Duration::from_millis(u64::from(n));
        self.clock = match step {
            Step::Zero => self.clock,
            Step::Nanos(n) => self.clock + Duration::from_nanos(u64::from(n)),
            Step::Millis(n) => self.clock + ms(n),
            Step::ToDeadline => poll.unwrap_or(self.clock),
            Step::BeforeDeadline => poll.map_or(self.clock, |p| {
                Instant::from_nanos(p.as_nanos().saturating_sub(1))
            }),
            Step::PastDeadline(n) => poll.map_or(self.clock, |p| p + ms(n)),
            Step::Back(n) => self.clock.saturating_sub(ms(n)),
        };
    }

    /// The connection resets the counter at any input once open min_uptime.
    fn uptime_reset(&mut self, state: State, now: Instant) {
        if state == State::Open
            && let Some(opened) = self.live.and_then(|l| l.opened_at)
            && now.saturating_duration_since(opened) >= self.min_uptime
        {
            self.attempt = 0;
        }
    }

    fn set_heartbeat(
        &mut self,
        op: Op,
        interval: Duration,
        timeout: Duration,
    ) -> Result<(), Box<Violation>> {
        let old = (
            self.conn.heartbeat_interval(),
            self.conn.heartbeat_timeout(),
        );
        let poll_before = self.conn.poll_timeout();
        let got = self.conn.set_heartbeat(interval, timeout);
        self.record(op, Actions::default());
        let want = Config::default()
            .with_heartbeat_mode(self.conn.heartbeat_mode())
            .with_heartbeat_interval(interval)
            .with_heartbeat_timeout(timeout)
            .validate();
        if got != want {
            return Err(self.fail(format!(
                "set_heartbeat returned {got:?}, Config::validate says {want:?}"
            )));
        }
        let now = (
            self.conn.heartbeat_interval(),
            self.conn.heartbeat_timeout(),
        );
        if got.is_err() && (now != old || self.conn.poll_timeout() != poll_before) {
            return Err(self.fail("a refused set_heartbeat changed the connection".into()));
        }
        Ok(())
    }

    /// Which id an `Op::HandleFrom` names.
    fn resolve(&self, whose: Whose) -> TransportId {
        TransportId::from_u32(match whose {
            Whose::Current => self.last_id,
            Whose::Old(k) => self.last_id.saturating_sub(u32::from(k)),
            Whose::Future => self.last_id.wrapping_add(1),
        })
    }

    fn input(&mut self, op: Op) -> Result<Actions, Box<Violation>> {
        let state = self.conn.state();
        let poll = self.conn.poll_timeout();
        let now_in = self.clock;
        let (event, from) = match op {
            Op::Handle(event) => (Some(event), None),
            Op::HandleFrom(whose, event) => (Some(event), Some(self.resolve(whose))),
            _ => (None, None),
        };
        let actions = match (op, from) {
            (Op::Connect, _) => self.conn.connect(now_in),
            (Op::Close, _) => self.conn.close(now_in),
            (_, Some(id)) => self
                .conn
                .handle_from(id, event.unwrap_or(Event::Tick), now_in),
            _ => self.conn.handle(event.unwrap_or(Event::Tick), now_in),
        };
        self.record(op, actions);
        self.seen = self.seen.max(now_in);
        let now = self.seen;
        if actions.len() > Actions::CAPACITY {
            return Err(self.fail(format!("{} actions", actions.len())));
        }
        let is_tick = event == Some(Event::Tick);
        // Delivered: the event is about the transport the caller holds.
        let delivered = match (event, from) {
            (None | Some(Event::Tick), _) => false,
            (Some(_), None) => self.live.is_some(),
            (Some(_), Some(id)) => self.live.is_some_and(|l| l.id == id.get()),
        };

        self.uptime_reset(state, now);
        if matches!(state, State::Idle | State::Stopped | State::Failed)
            && op != Op::Connect
            && actions.len() != 0
        {
            return Err(self.fail(format!("{state:?} must ignore everything but connect")));
        }
        if is_tick && poll.is_none_or(|p| now < p) && actions.len() != 0 {
            return Err(self.fail(format!(
                "a tick at {now} before poll_timeout {poll:?} emitted actions"
            )));
        }

        // What the op itself means for the caller's transport.
        let mut ended: Option<(Live, End)> = None;
        match op {
            Op::Connect => {
                self.user_stopped = false;
                self.gave_up = false;
                if matches!(state, State::Idle | State::Stopped | State::Failed) {
                    self.attempt = 0;
                }
                if let Some(live) = &mut self.live
                    && live.close_at.is_some()
                {
                    live.intent = Intent::ConnectNow;
                }
                let want_connect = matches!(
                    state,
                    State::Idle | State::Stopped | State::Failed | State::Waiting
                );
                let mut it = actions;
                let ok = match want_connect {
                    true => matches!(it.next(), Some(Action::Connect { .. })) && it.len() == 0,
                    false => it.len() == 0,
                };
                if !ok {
                    return Err(self.fail(format!("connect() in {state:?} emitted {actions}")));
                }
            }
            Op::Close => {
                self.user_stopped = true;
                self.reconnect_at = None;
                self.advised = None;
                if let Some(live) = &mut self.live {
                    live.intent = Intent::Stop;
                }
                let want = match state {
                    State::Connecting | State::Open => vec![Action::Close {
                        reason: CloseReason::User,
                    }],
                    _ => vec![],
                };
                if actions.collect::<Vec<_>>() != want {
                    return Err(self.fail(format!("close() in {state:?} emitted {actions}")));
                }
            }
            _ if delivered => {
                let mode = self.conn.heartbeat_mode();
                let live = self.live.as_mut().expect("delivered implies live");
                match event {
                    Some(Event::Closed) => ended = Some((*live, End::Closed)),
                    Some(Event::Rejected) => ended = Some((*live, End::Rejected)),
                    Some(Event::Opened) if state == State::Connecting => {
                        live.opened_at = Some(now);
                        live.last_data = now;
                    }
                    Some(Event::Message | Event::Pong) if state == State::Open => {
                        let pong = event == Some(Event::Pong);
                        match mode {
                            HeartbeatMode::Idle => {
                                live.last_data = now;
                                live.awaiting = None;
                            }
                            HeartbeatMode::Fixed if pong => live.awaiting = None,
                            _ => {}
                        }
                    }
                    _ => {}
                }
                if ended.is_some() {
                    self.live = None;
                }
            }
            _ if !is_tick => {
                // Not the caller's transport: nothing may change.
                // (The deadline may only move up to the new `now`, by the clamp.)
                let poll_now = poll.map(|p| p.max(now));
                if actions.len() != 0
                    || self.conn.state() != state
                    || self.conn.poll_timeout() != poll_now
                {
                    return Err(self.fail(format!(
                        "an event of a transport the caller does not hold ({:?}, live {:?}) changed the connection",
                        from,
                        self.live.map(|l| l.id)
                    )));
                }
            }
            _ => {}
        }

        let mut followups = 0;
        for action in actions {
            let allowed_after_close = matches!(action, Action::Abort)
                || (op == Op::Close
                    && action
                        == Action::Close {
                            reason: CloseReason::User,
                        });
            if self.user_stopped && !allowed_after_close {
                return Err(self.fail(format!(
                    "{action} after a user close (only the closing transport's abort may follow)"
                )));
            }
            match action {
                Action::Connect { id } => {
                    if let Some(live) = self.live {
                        return Err(self.fail(format!(
                            "two live transports: connect {id} while #{} has not ended",
                            live.id
                        )));
                    }
                    let allowed = (op == Op::Connect
                        && matches!(
                            state,
                            State::Idle | State::Stopped | State::Failed | State::Waiting
                        ))
                        || (is_tick
                            && state == State::Waiting
                            && self.reconnect_at.is_some_and(|t| now >= t))
                        || ended.is_some_and(|(l, _)| l.intent == Intent::ConnectNow);
                    if !allowed {
                        return Err(self.fail(format!("unexpected connect {id}")));
                    }
                    if id.get() <= self.last_id && self.last_id != u32::MAX {
                        return Err(self.fail(format!(
                            "connect {id} reuses an id (newest was #{})",
                            self.last_id
                        )));
                    }
                    if ended.is_some() {
                        followups += 1;
                    }
                    self.last_id = id.get();
                    self.reconnect_at = None;
                    self.advised = None;
                    self.live = Some(Live {
                        id: id.get(),
                        connect_at: now,
                        opened_at: None,
                        close_at: None,
                        intent: Intent::Reconnect,
                        last_data: now,
                        last_sent: None,
                        awaiting: None,
                    });
                }
                Action::SendHeartbeat => self.on_heartbeat(now, is_tick, state)?,
                Action::Close { reason } => {
                    self.on_close(now, reason, state, is_tick, delivered, event, op)?
                }
                Action::Abort => {
                    let Some(live) = self.live else {
                        return Err(self.fail("abort without a live transport".into()));
                    };
                    let Some(close_at) = live.close_at else {
                        return Err(self.fail(format!("abort of #{} before its close", live.id)));
                    };
                    if !is_tick || now < close_at + self.close_timeout {
                        return Err(self.fail(format!(
                            "abort at {now}, close at {close_at}, close_timeout {:?}",
                            self.close_timeout
                        )));
                    }
                    ended = Some((live, End::Aborted));
                    self.live = None;
                }
                Action::ScheduleReconnect { delay, attempt } => {
                    let Some((live, end)) = ended else {
                        return Err(self.fail("reconnect scheduled without a disconnect".into()));
                    };
                    if live.intent != Intent::Reconnect || end == End::Rejected {
                        return Err(self.fail(format!(
                            "reconnect scheduled after {end:?} with intent {:?}",
                            live.intent
                        )));
                    }
                    followups += 1;
                    let want = self.attempt.saturating_add(1);
                    if attempt != want {
                        return Err(self.fail(format!(
                            "attempt {attempt}, expected {want} (consecutive since the last reset)"
                        )));
                    }
                    if let Some(max) = self.config.max_attempts()
                        && self.attempt >= max
                    {
                        return Err(self.fail(format!(
                            "attempt {attempt} scheduled beyond max_attempts {max}"
                        )));
                    }
                    let (lo, hi) = self.config.backoff().bounds(attempt);
                    let in_backoff = lo <= delay && delay <= hi;
                    let fits = match self.advised.take() {
                        None => in_backoff,
                        // max(backoff, advice): the advice wins or the backoff does.
                        Some(advice) => {
                            delay >= advice && (in_backoff || within_advice(delay, advice))
                        }
                    };
                    if !fits {
                        return Err(self.fail(format!(
                            "delay {delay:?} for attempt {attempt} outside bounds [{lo:?}, {hi:?}] (advice {:?})",
                            self.advised
                        )));
                    }
                    self.attempt = attempt;
                    self.reconnect_at = Some(now + delay);
                }
                Action::GiveUp { attempts } => {
                    let Some((live, end)) = ended else {
                        return Err(self.fail("give up without a disconnect".into()));
                    };
                    self.advised = None;
                    let limit = self.config.max_attempts();
                    let reached = limit.is_some_and(|m| self.attempt >= m);
                    if live.intent != Intent::Reconnect || !(end == End::Rejected || reached) {
                        return Err(self.fail(format!(
                            "give up after {end:?}, intent {:?}, attempt {} of {limit:?}",
                            live.intent, self.attempt
                        )));
                    }
                    if attempts != self.attempt {
                        return Err(self.fail(format!(
                            "give up reports {attempts} attempts, {} were made",
                            self.attempt
                        )));
                    }
                    followups += 1;
                    self.gave_up = true;
                }
            }
        }
        if let Some((live, end)) = ended {
            let want = match live.intent {
                Intent::Stop => 0,
                Intent::Reconnect | Intent::ConnectNow => 1,
            };
            if followups != want {
                return Err(self.fail(format!(
                    "transport #{} ended ({end:?}, intent {:?}): {followups} reconnect/give-up/connect actions, expected {want}",
                    live.id, live.intent
                )));
            }
        }
        if is_tick {
            let next = self.conn.poll_timeout();
            if now != Instant::MAX && next.is_some_and(|p| p <= now && p != Instant::MAX) {
                return Err(self.fail(format!(
                    "no progress: after a tick at {now} poll_timeout is still {next:?}"
                )));
            }
        }
        Ok(actions)
    }

    fn on_heartbeat(
        &mut self,
        now: Instant,
        is_tick: bool,
        state: State,
    ) -> Result<(), Box<Violation>> {
        let mode = self.conn.heartbeat_mode();
        let interval = self.conn.heartbeat_interval();
        let timeout = self.conn.heartbeat_timeout();
        let live = match self.live {
            Some(live) if is_tick && state == State::Open && mode != HeartbeatMode::Off => live,
            _ => {
                return Err(self.fail(format!(
                    "heartbeat in {state:?} (mode {mode:?}, tick: {is_tick})"
                )));
            }
        };
        let due = match (live.awaiting, mode) {
            // A probe: only when the tick is more than `timeout` late.
            (Some(sent), _) => Some(sent + timeout + timeout + Duration::from_nanos(1)),
            (None, HeartbeatMode::Idle) => Some(live.last_data + interval),
            (None, _) => live.last_sent.map(|sent| sent + interval),
        };
        if let Some(due) = due
            && now < due
        {
            return Err(self.fail(format!(
                "heartbeat at {now} before it is due at {due} (awaiting: {:?})",
                live.awaiting
            )));
        }
        if let Some(live) = &mut self.live {
            live.awaiting = Some(now);
            live.last_sent = Some(now);
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn on_close(
        &mut self,
        now: Instant,
        reason: CloseReason,
        state: State,
        is_tick: bool,
        delivered: bool,
        event: Option<Event>,
        op: Op,
    ) -> Result<(), Box<Violation>> {
        let Some(live) = self.live else {
            return Err(self.fail(format!("close ({reason}) without a live transport")));
        };
        if let Some(at) = live.close_at {
            return Err(self.fail(format!(
                "second close ({reason}) of #{} (first at {at})",
                live.id
            )));
        }
        let timeout = self.conn.heartbeat_timeout();
        let ok = match reason {
            CloseReason::User => op == Op::Close,
            CloseReason::Error => {
                delivered
                    && event == Some(Event::Error)
                    && matches!(state, State::Connecting | State::Open)
            }
            CloseReason::ConnectTimeout => {
                is_tick
                    && state == State::Connecting
                    && now >= live.connect_at + self.connect_timeout
            }
            CloseReason::HeartbeatTimeout => {
                is_tick
                    && state == State::Open
                    && live.awaiting.is_some_and(|sent| {
                        now >= sent + timeout && now <= sent + timeout + timeout
                    })
            }
        };
        if !ok {
            return Err(self.fail(format!(
                "close ({reason}) at {now} in {state:?}: connect at {}, heartbeat awaiting since {:?}",
                live.connect_at, live.awaiting
            )));
        }
        if let Some(live) = &mut self.live {
            live.close_at = Some(now);
        }
        Ok(())
    }
}
