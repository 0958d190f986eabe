//! What the checker keeps of each step, and the report of a broken rule.

use core::fmt;

use keepalive::{Actions, Config, Instant, State};

use super::InvariantChecker;
use crate::ops::Op;

#[derive(Clone, Copy, Debug)]
pub(super) struct Record {
    pub(super) op: Op,
    pub(super) clock: Instant,
    pub(super) actions: Actions,
    pub(super) state: State,
    pub(super) poll: Option<Instant>,
}

/// A broken rule, with everything needed to reproduce it.
#[derive(Clone, Debug)]
pub struct Violation {
    /// Which rule, and the values that broke it.
    pub message: String,
    /// The 1-based index of the op that broke it.
    pub step: usize,
    /// The connection's config.
    pub config: Config,
    /// Every op applied, the failing one last.
    pub ops: Vec<Op>,
    /// One line per step: `t=…  op → [actions]  state, poll`.
    pub trace: Vec<String>,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "invariant violated at step {}: {}",
            self.step, self.message
        )?;
        writeln!(f, "config: {:?}", self.config)?;
        writeln!(f, "trace (last {} steps):", self.trace.len())?;
        for line in &self.trace {
            writeln!(f, "  {line}")?;
        }
        write!(f, "ops: {:?}", self.ops)
    }
}

impl std::error::Error for Violation {}

impl InvariantChecker {
    pub(super) fn record(&mut self, op: Op, actions: Actions) {
        self.history.push(Record {
            op,
            clock: self.clock,
            actions,
            state: self.conn.state(),
            poll: self.conn.poll_timeout(),
        });
    }

    /// One line per step so far: `n t=…  op → [actions]  state, poll`.
    pub fn transcript(&self) -> Vec<String> {
        self.lines(0)
    }

    fn lines(&self, skip: usize) -> Vec<String> {
        self.history[skip..]
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let poll = r.poll.map_or("-".to_string(), |p| p.to_string());
                format!(
                    "{:>4} t={}  {} → {}  {:?}, poll {}",
                    skip + i + 1,
                    r.clock,
                    r.op,
                    r.actions,
                    r.state,
                    poll
                )
            })
            .collect()
    }

    pub(super) fn fail(&self, message: String) -> Box<Violation> {
        let trace = self.lines(self.history.len().saturating_sub(40));
        Box::new(Violation {
            message,
            step: self.history.len(),
            config: self.config,
            ops: self.history.iter().map(|r| r.op).collect(),
            trace,
        })
    }
}
