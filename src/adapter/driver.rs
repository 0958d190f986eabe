//! The runtime-independent half of both drivers.
//!
//! [`Driver`] wraps a [`Connection`] and is itself sans-IO: the run loops
//! (blocking, async) report what their transport did, and take [`Step`]s —
//! I/O to perform and notices to deliver — one at a time. Everything that
//! is not "how to wait" or "how to call the transport" lives here, once.

use core::time::Duration;
use std::collections::VecDeque;

use super::{
    Cause, ConnectError, Exit, Handle, Heartbeat, Message, Notice, Options, Outcome, Recv,
};
use crate::config::{Config, ConfigError};
use crate::connection::Connection;
use crate::event::{Action, Actions, Event, TransportId};
use crate::state::State;
use crate::time::Instant;

/// One thing for the run loop to do, in order.
#[derive(Debug)]
pub(crate) enum Step<E> {
    /// Open a transport for `id`, giving up after `timeout`.
    Connect { id: TransportId, timeout: Duration },
    /// Send the transport's ping on the open transport.
    Ping,
    /// Send this heartbeat frame on the open transport.
    Heartbeat(Message),
    /// Start closing the transport (or report it ended, if there is none).
    Close,
    /// Drop the transport without waiting.
    Drop,
    /// Tell the user.
    Notify(Notice<E>),
}

#[derive(Debug)]
pub(crate) struct Driver<E> {
    conn: Connection,
    heartbeat: Heartbeat,
    handle: Handle,
    steps: VecDeque<Step<E>>,
    /// The transport the run loop holds (or is opening).
    live: Option<TransportId>,
    /// The last transport whose loss was reported.
    reported: Option<TransportId>,
    /// Why we asked the live transport to close.
    close_cause: Option<Cause>,
    stopping: bool,
    exit: Option<Exit>,
}

impl<E> Driver<E> {
    pub(crate) fn new(config: Config, options: Options) -> Result<Self, ConfigError> {
        Ok(Driver {
            conn: Connection::new(config)?,
            handle: Handle::new(options.queue_capacity().get()),
            heartbeat: options.heartbeat,
            steps: VecDeque::new(),
            live: None,
            reported: None,
            close_cause: None,
            stopping: false,
            exit: None,
        })
    }

    pub(crate) fn handle(&self) -> &Handle {
        &self.handle
    }

    /// Connects (unless a close came first).
    pub(crate) fn start(&mut self, now: Instant) {
        self.check_stop(now);
        if self.exit.is_none() {
            let actions = self.conn.connect(now);
            self.apply(actions, now);
        }
    }

    // ----- what the run loop asks -----

    pub(crate) fn next_step(&mut self) -> Option<Step<E>> {
        self.steps.pop_front()
    }

    pub(crate) fn has_steps(&self) -> bool {
        !self.steps.is_empty()
    }

    /// The loop is done once it has performed every step.
    pub(crate) fn exit(&self) -> Option<Exit> {
        self.exit.filter(|_| self.steps.is_empty())
    }

    /// Ends the loop: marks the handle finished and hands back the queue.
    pub(crate) fn outcome(&self, exit: Exit) -> Outcome {
        Outcome {
            exit,
            unsent: self.handle.finish(),
        }
    }

    /// When to tick the connection, if ever.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.conn.poll_timeout()
    }

    /// Whether queued messages can go out now.
    pub(crate) fn is_open(&self) -> bool {
        self.conn.state() == State::Open
    }

    /// The next queued message to send, while the transport is open and
    /// nothing else is pending. Give it back with [`unsent`](Driver::unsent)
    /// if the transport does not take it.
    pub(crate) fn outbound(&mut self) -> Option<Message> {
        if self.steps.is_empty() && self.is_open() {
            self.handle.pop()
        } else {
            None
        }
    }

    pub(crate) fn unsent(&mut self, message: Message) {
        self.handle.unpop(message);
    }

    // ----- what the run loop reports -----

    /// Whether a [`Handle::close`] would still be news.
    pub(crate) fn awaits_stop(&self) -> bool {
        !self.stopping
    }

    /// Applies a [`Handle::close`] (once) and a [`Handle::reconnect`].
    pub(crate) fn check_stop(&mut self, now: Instant) {
        if !self.stopping && self.handle.stop_requested() {
            self.stopping = true;
            let actions = self.conn.close(now);
            self.apply(actions, now);
        }
        if self.handle.take_reconnect() && !self.stopping && self.conn.state() == State::Waiting {
            let actions = self.conn.connect(now);
            self.apply(actions, now);
        }
    }

    /// Ticks the connection if its deadline has come.
    pub(crate) fn tick(&mut self, now: Instant) {
        if self.deadline().is_some_and(|deadline| deadline <= now) {
            let actions = self.conn.handle(Event::Tick, now);
            self.apply(actions, now);
        }
    }

    /// Transport `id` opened. `false` if it is no longer wanted: drop it.
    pub(crate) fn opened(&mut self, id: TransportId, now: Instant) -> bool {
        self.feed(id, Event::Opened, now);
        let open = self.is_open() && self.conn.transport() == Some(id);
        if open {
            self.steps.push_back(Step::Notify(Notice::Connected { id }));
        }
        open
    }

    /// Opening transport `id` failed.
    pub(crate) fn connect_failed(&mut self, id: TransportId, error: ConnectError<E>, now: Instant) {
        let rejected = matches!(error, ConnectError::Rejected(_));
        if let ConnectError::RetryAfter(_, delay) = error {
            self.advise(id, delay, now);
        }
        self.steps
            .push_back(Step::Notify(Notice::Error(error.into_inner())));
        if rejected {
            self.ended(id, Cause::Rejected, Event::Rejected, now);
        } else {
            self.ended(id, Cause::ConnectFailed, Event::Closed, now);
        }
    }

    /// A receive on transport `id` returned. On `Closed` and `Rejected` the
    /// run loop has dropped the transport.
    pub(crate) fn received(&mut self, id: TransportId, recv: Recv<E>, now: Instant) {
        match recv {
            Recv::Message(message) if self.heartbeat.is_reply(&message) => self.answered(id, now),
            Recv::Message(message) => {
                self.feed(id, Event::Message, now);
                self.steps.push_back(Step::Notify(Notice::Message(message)));
            }
            Recv::Pong => self.answered(id, now),
            Recv::Data => self.feed(id, Event::Message, now),
            Recv::Closed => self.ended(id, Cause::PeerClosed, Event::Closed, now),
            Recv::Rejected => self.ended(id, Cause::Rejected, Event::Rejected, now),
            Recv::RetryAfter(delay) => {
                self.advise(id, delay, now);
                self.ended(id, Cause::PeerClosed, Event::Closed, now);
            }
            Recv::Timeout => self.tick(now),
            Recv::Error(error) => {
                self.steps.push_back(Step::Notify(Notice::Error(error)));
                self.feed(id, Event::Error, now);
            }
        }
    }

    /// A send, ping or close on transport `id` failed. After a failed
    /// close the run loop has dropped the transport.
    pub(crate) fn failed(&mut self, id: TransportId, error: E, closing: bool, now: Instant) {
        if closing {
            // Closing a broken socket fails: it has ended all the same.
            self.ended(id, Cause::Error, Event::Closed, now);
        } else {
            self.steps.push_back(Step::Notify(Notice::Error(error)));
            self.feed(id, Event::Error, now);
        }
    }

    /// The run loop was asked to close a transport it does not hold (a
    /// connect it abandoned): that transport has ended.
    pub(crate) fn closed_without_socket(&mut self, now: Instant) {
        if let Some(id) = self.live {
            self.ended(id, Cause::ConnectFailed, Event::Closed, now);
        }
    }

    // ----- inside -----

    /// Server advice about transport `id`, dropped if `id` is stale.
    fn advise(&mut self, id: TransportId, delay: Duration, now: Instant) {
        if self.conn.transport() == Some(id) {
            let actions = self.conn.retry_after(delay, now);
            self.apply(actions, now);
        }
    }

    fn answered(&mut self, id: TransportId, now: Instant) {
        self.feed(id, Event::Pong, now);
        let rtt = self.conn.rtt();
        self.steps
            .push_back(Step::Notify(Notice::HeartbeatAnswered { rtt }));
    }

    fn ended(&mut self, id: TransportId, unasked: Cause, event: Event, now: Instant) {
        if self.live == Some(id) {
            self.live = None;
            self.lost(id, self.close_cause.unwrap_or(unasked));
        }
        self.feed(id, event, now);
    }

    /// Reports the loss of `id`, once.
    fn lost(&mut self, id: TransportId, cause: Cause) {
        if self.reported != Some(id) {
            self.reported = Some(id);
            self.steps
                .push_back(Step::Notify(Notice::Disconnected { id, cause }));
        }
    }

    fn feed(&mut self, id: TransportId, event: Event, now: Instant) {
        let actions = self.conn.handle_from(id, event, now);
        self.apply(actions, now);
    }

    fn apply(&mut self, actions: Actions, now: Instant) {
        for action in actions {
            match action {
                Action::Connect { id } => {
                    self.live = Some(id);
                    self.close_cause = None;
                    self.steps.push_back(Step::Notify(Notice::Connecting {
                        id,
                        attempt: self.conn.attempt(),
                    }));
                    let timeout = self
                        .deadline()
                        .map_or(Duration::ZERO, |d| d.saturating_duration_since(now));
                    self.steps.push_back(Step::Connect { id, timeout });
                }
                Action::SendHeartbeat => {
                    self.steps.push_back(match &self.heartbeat {
                        Heartbeat::Ping => Step::Ping,
                        Heartbeat::Text { request, .. } => {
                            Step::Heartbeat(Message::Text(request.clone()))
                        }
                    });
                    self.steps.push_back(Step::Notify(Notice::HeartbeatSent));
                }
                Action::Close { reason } => {
                    let cause = Cause::from(reason);
                    self.close_cause = Some(cause);
                    if let Some(id) = self.live {
                        self.lost(id, cause);
                    }
                    self.steps.push_back(Step::Close);
                }
                Action::Abort => {
                    if let Some(id) = self.live.take() {
                        self.lost(id, self.close_cause.unwrap_or(Cause::PeerClosed));
                    }
                    self.steps.push_back(Step::Drop);
                }
                Action::ScheduleReconnect { delay, attempt } => {
                    self.steps
                        .push_back(Step::Notify(Notice::Reconnecting { delay, attempt }));
                }
                Action::GiveUp { attempts } => {
                    self.exit = Some(Exit::GaveUp { attempts });
                    self.steps
                        .push_back(Step::Notify(Notice::GaveUp { attempts }));
                }
            }
        }
        if self.exit.is_none() && self.conn.state() == State::Stopped {
            self.exit = Some(Exit::Stopped);
            self.steps.push_back(Step::Notify(Notice::Stopped));
        }
    }
}
