//! [`Handle`]: the bounded outbound queue and the stop switch, shared
//! between a run loop and the threads or tasks that talk to it.

use core::fmt;
use core::task::{Context, Poll, Waker};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::Thread;
use std::vec::Vec;

use super::Message;

/// A cheap, cloneable remote control for a running driver: send messages,
/// stop it. `Send + Sync`; use it from any thread or task.
///
/// ```
/// use core::num::NonZeroUsize;
/// use keepalive::adapter::{blocking::Client, Options, SendError};
/// # use keepalive::adapter::{blocking::Transport, ConnectError, Message, Recv};
/// # use core::time::Duration;
/// # struct Never;
/// # impl Transport for Never {
/// #     type Socket = ();
/// #     type Error = &'static str;
/// #     fn connect(&mut self, _: Duration) -> Result<(), ConnectError<&'static str>> { Err(ConnectError::Failed("down")) }
/// #     fn ping(&mut self, _: &mut ()) -> Result<(), &'static str> { Ok(()) }
/// #     fn send(&mut self, _: &mut (), _: &Message) -> Result<(), &'static str> { Ok(()) }
/// #     fn close(&mut self, _: &mut ()) -> Result<(), &'static str> { Ok(()) }
/// #     fn recv(&mut self, _: &mut (), _: Duration) -> Recv<&'static str> { Recv::Closed }
/// # }
/// let options = Options::default().with_queue_capacity(NonZeroUsize::new(1).unwrap());
/// let client = Client::new(keepalive::Config::default(), options, Never)?;
/// let handle = client.handle();
/// handle.send("first")?;                       // queued until connected
/// match handle.send("second") {
///     Err(SendError::Full(message)) => assert_eq!(message.as_text(), Some("second")),
///     other => panic!("{other:?}"),
/// }
/// handle.close();                              // the run loop will return at once
/// let outcome = client.run(|_notice| {});
/// assert_eq!(outcome.unsent.len(), 1);         // handed back, not dropped
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct Handle {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    capacity: usize,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    queue: VecDeque<Message>,
    stop: bool,
    /// [`Handle::reconnect`] was called and the driver has not seen it yet.
    reconnect: bool,
    finished: bool,
    wake: Wake,
}

/// How to wake the run loop.
#[derive(Debug, Default)]
enum Wake {
    #[default]
    Nobody,
    Thread(Thread),
    Task(Waker),
}

impl Handle {
    pub(crate) fn new(capacity: usize) -> Handle {
        Handle {
            shared: Arc::new(Shared {
                capacity,
                inner: Mutex::new(Inner::default()),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Nothing panics while holding the lock; recover anyway.
        self.shared
            .inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues `message` for sending. It goes out as soon as the transport
    /// is open, after the messages queued before it (in order, across
    /// reconnects). A message the transport failed to take is retried on
    /// the next connection, so delivery is at least once.
    ///
    /// # Errors
    ///
    /// The message is handed back, never dropped:
    ///
    /// - [`SendError::Full`] when the queue holds its capacity
    ///   ([`Options::with_queue_capacity`](super::Options::with_queue_capacity));
    /// - [`SendError::Closed`] once the driver has stopped (closed or gave up).
    pub fn send(&self, message: impl Into<Message>) -> Result<(), SendError> {
        let message = message.into();
        let mut inner = self.lock();
        if inner.finished || inner.stop {
            return Err(SendError::Closed(message));
        }
        if inner.queue.len() >= self.shared.capacity {
            return Err(SendError::Full(message));
        }
        inner.queue.push_back(message);
        inner.wake();
        Ok(())
    }

    /// Stops the driver: it closes the transport (or cancels the pending
    /// reconnect), reports [`Notice::Stopped`](super::Notice::Stopped) and
    /// its run loop returns. Idempotent; later [`send`](Handle::send)s fail.
    pub fn close(&self) {
        let mut inner = self.lock();
        inner.stop = true;
        inner.wake();
    }

    /// Reconnects now if the driver is waiting out a backoff (or a
    /// server-advised delay): the network came back, or the user pressed
    /// "retry". The pending timer is cancelled and no attempt is counted
    /// twice ([`Connection::connect`](crate::Connection::connect) in
    /// `Waiting`). While connecting or connected it does nothing; after
    /// [`close`](Handle::close) nothing either.
    pub fn reconnect(&self) {
        let mut inner = self.lock();
        inner.reconnect = true;
        inner.wake();
    }

    /// Whether the run loop has returned.
    pub fn is_finished(&self) -> bool {
        self.lock().finished
    }

    /// Messages waiting in the outbound queue.
    pub fn queued(&self) -> usize {
        self.lock().queue.len()
    }

    /// The outbound queue's capacity.
    pub fn capacity(&self) -> usize {
        self.shared.capacity
    }

    // ----- for the drivers -----

    pub(crate) fn stop_requested(&self) -> bool {
        self.lock().stop
    }

    /// Takes a pending [`reconnect`](Handle::reconnect) request.
    pub(crate) fn take_reconnect(&self) -> bool {
        core::mem::take(&mut self.lock().reconnect)
    }

    pub(crate) fn pop(&self) -> Option<Message> {
        self.lock().queue.pop_front()
    }

    /// Puts back a message the transport did not take, ahead of the rest
    /// (it may exceed the capacity by the one message in flight).
    pub(crate) fn unpop(&self, message: Message) {
        self.lock().queue.push_front(message);
    }

    /// Marks the loop finished and takes what is left, atomically with
    /// respect to `send`.
    pub(crate) fn finish(&self) -> Vec<Message> {
        let mut inner = self.lock();
        inner.finished = true;
        inner.wake = Wake::Nobody;
        inner.queue.drain(..).collect()
    }

    /// Blocking driver: wake this thread (`unpark`) on `send` and `close`.
    pub(crate) fn register_thread(&self) {
        self.lock().wake = Wake::Thread(std::thread::current());
    }

    /// Async driver: ready when there is a stop to handle (if `want_stop`),
    /// a message to send (if `want_messages`) or a reconnect request;
    /// otherwise wake `cx` later.
    pub(crate) fn poll_signal(
        &self,
        cx: &mut Context<'_>,
        want_stop: bool,
        want_messages: bool,
    ) -> Poll<()> {
        let mut inner = self.lock();
        if (want_stop && inner.stop)
            || (want_messages && !inner.queue.is_empty())
            || inner.reconnect
        {
            return Poll::Ready(());
        }
        match &mut inner.wake {
            Wake::Task(waker) => waker.clone_from(cx.waker()),
            wake => *wake = Wake::Task(cx.waker().clone()),
        }
        Poll::Pending
    }
}

impl Inner {
    fn wake(&self) {
        match &self.wake {
            Wake::Nobody => {}
            Wake::Thread(thread) => thread.unpark(),
            Wake::Task(waker) => waker.wake_by_ref(),
        }
    }
}

/// Why [`Handle::send`] refused a message; it hands the message back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SendError {
    /// The outbound queue is full.
    Full(Message),
    /// The driver has stopped.
    Closed(Message),
}

impl SendError {
    /// The refused message.
    pub fn into_message(self) -> Message {
        match self {
            SendError::Full(message) | SendError::Closed(message) => message,
        }
    }
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SendError::Full(_) => "outbound queue full",
            SendError::Closed(_) => "connection closed",
        })
    }
}

impl std::error::Error for SendError {}
