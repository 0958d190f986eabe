//! The model's expected state, transport, attempt and deadline.

use keepalive::{HeartbeatMode, State, TransportId};

use super::{InvariantChecker, Violation};

impl InvariantChecker {
    /// State, transport, attempt and deadline against the model.
    pub(super) fn check_state(&self) -> Result<(), Box<Violation>> {
        let state = self.conn.state();
        let poll = self.conn.poll_timeout();
        let now = self.seen;
        if self.conn.transport().map(TransportId::get) != self.live.map(|l| l.id) {
            return Err(self.fail(format!(
                "transport() is {:?}, the caller holds {:?}",
                self.conn.transport(),
                self.live.map(|l| l.id)
            )));
        }
        if state.has_transport() != self.live.is_some() {
            return Err(self.fail(format!(
                "{state:?} but transport {:?}",
                self.conn.transport()
            )));
        }
        let want_state = match self.live {
            Some(l) if l.close_at.is_some() => State::Closing,
            Some(l) if l.opened_at.is_some() => State::Open,
            Some(_) => State::Connecting,
            None if self.reconnect_at.is_some() => State::Waiting,
            None if self.user_stopped => State::Stopped,
            None if self.gave_up => State::Failed,
            None => State::Idle,
        };
        if state != want_state {
            return Err(self.fail(format!("state {state:?}, expected {want_state:?}")));
        }
        if self.conn.attempt() != self.attempt {
            return Err(self.fail(format!(
                "attempt() is {}, expected {}",
                self.conn.attempt(),
                self.attempt
            )));
        }
        if poll.is_some_and(|p| p < now) {
            return Err(self.fail(format!("poll_timeout {poll:?} before the latest now {now}")));
        }
        let interval = self.conn.heartbeat_interval();
        let timeout = self.conn.heartbeat_timeout();
        let deadline = match (self.live, self.conn.heartbeat_mode()) {
            (Some(l), _) if l.close_at.is_some() => l.close_at.map(|t| t + self.close_timeout),
            (Some(l), _) if l.opened_at.is_none() => Some(l.connect_at + self.connect_timeout),
            (Some(_), HeartbeatMode::Off) => None,
            (Some(l), mode) => match (l.awaiting, mode) {
                (Some(sent), _) => Some(sent + timeout),
                (None, HeartbeatMode::Idle) => Some(l.last_data + interval),
                (None, _) => match l.last_sent {
                    Some(sent) => Some(sent + interval),
                    // The first fixed-mode heartbeat is jittered: any deadline.
                    None => poll,
                },
            },
            (None, _) => self.reconnect_at,
        };
        let want = deadline.map(|d| d.max(now));
        if poll != want {
            return Err(self.fail(format!(
                "poll_timeout {poll:?}, expected {want:?} in {state:?}"
            )));
        }
        Ok(())
    }
}
