//! The checker's rules for `Connection::retry_after` (server-advised delays).

use core::time::Duration;

use keepalive::{Action, Actions, Connection, State};

use super::{InvariantChecker, Violation, whole_ms};
use crate::ops::Op;

impl InvariantChecker {
    /// `retry_after`: remembered while a transport lives, moves a pending
    /// reconnect only later and only within `[advice, 1.5 × advice]`,
    /// ignored otherwise.
    pub(super) fn retry_after(
        &mut self,
        op: Op,
        delay: Duration,
    ) -> Result<Actions, Box<Violation>> {
        let state = self.conn.state();
        let now_in = self.clock;
        let actions = self.conn.retry_after(delay, now_in);
        self.record(op, actions);
        self.seen = self.seen.max(now_in);
        let now = self.seen;
        self.uptime_reset(state, now);
        let advice = whole_ms(delay.min(Connection::MAX_ADVISED_DELAY));
        let list: Vec<Action> = actions.collect();
        match (state, &list[..]) {
            (_, []) if advice.is_zero() => {}
            (State::Connecting | State::Open | State::Closing, []) => {
                self.advised = Some(self.advised.map_or(advice, |a| a.max(advice)));
            }
            (State::Waiting, []) => {
                if self.reconnect_at.is_none_or(|t| t < now + advice) {
                    return Err(self.fail(format!(
                        "advice {advice:?} ignored though the reconnect at {:?} is sooner",
                        self.reconnect_at
                    )));
                }
            }
            (State::Waiting, [Action::ScheduleReconnect { delay, attempt }])
                if !advice.is_zero() =>
            {
                let later = self.reconnect_at.is_some_and(|t| now + *delay > t);
                if *attempt != self.attempt || !later || !within_advice(*delay, advice) {
                    return Err(self.fail(format!(
                        "advice {advice:?} in Waiting rescheduled to {delay:?} (attempt {attempt})"
                    )));
                }
                self.reconnect_at = Some(now + *delay);
            }
            (State::Idle | State::Stopped | State::Failed, []) => {}
            _ => return Err(self.fail(format!("retry_after in {state:?} emitted {list:?}"))),
        }
        Ok(actions)
    }
}

/// Whether `delay` is a server-advised wait for `advice`: the advice plus
/// at most half of it on top.
pub(super) fn within_advice(delay: Duration, advice: Duration) -> bool {
    advice <= delay && delay <= advice + advice / 2
}
