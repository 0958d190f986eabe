//! [`Link`]: the way from the server to one connection's task — a bounded
//! queue of frames to write, and a kill switch.
//!
//! A `VecDeque` behind a mutex and a `Notify`, rather than an mpsc channel:
//! it allocates nothing until something is queued, which matters when ten
//! thousand idle connections each hold one.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};

use tokio::sync::Notify;

use crate::socket::Outbound;

/// Why [`Link::push`] did not queue a frame; the frame is handed back.
pub(crate) enum Refused {
    /// The queue held its capacity: the connection was killed.
    Full(Outbound),
    /// The connection is gone (killed, or its task ended).
    Gone(Outbound),
}

pub(crate) struct Link {
    queue: Mutex<VecDeque<Outbound>>,
    capacity: usize,
    killed: AtomicBool,
    /// Wakes the connection's task: a frame queued, or the kill.
    wake: Notify,
}

impl Link {
    pub(crate) fn new(capacity: usize) -> Link {
        Link {
            queue: Mutex::new(VecDeque::new()),
            capacity,
            killed: AtomicBool::new(false),
            wake: Notify::new(),
        }
    }

    /// Queues a frame. A full queue means the client does not read: the
    /// connection is killed instead of buffering without limit.
    pub(crate) fn push(&self, frame: Outbound) -> Result<(), Refused> {
        if self.is_killed() {
            return Err(Refused::Gone(frame));
        }
        let mut queue = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
        if queue.len() >= self.capacity {
            drop(queue);
            self.kill();
            return Err(Refused::Full(frame));
        }
        queue.push_back(frame);
        drop(queue);
        self.wake.notify_one();
        Ok(())
    }

    /// Drops the connection: its task stops at its next await, even in the
    /// middle of a write that a peer not reading would block forever.
    pub(crate) fn kill(&self) {
        self.killed.store(true, Ordering::Release);
        self.wake.notify_one();
    }

    pub(crate) fn is_killed(&self) -> bool {
        self.killed.load(Ordering::Acquire)
    }

    /// The next queued frame (the connection's task).
    pub(crate) fn pop(&self) -> Option<Outbound> {
        let mut queue = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
        let frame = queue.pop_front();
        if queue.is_empty() && queue.capacity() > 16 {
            queue.shrink_to(4); // a burst is over: give its memory back
        }
        frame
    }

    /// Resolves when something was queued or the link was killed since the
    /// last call (a stored permit: nothing is missed between calls).
    pub(crate) async fn woken(&self) {
        self.wake.notified().await;
    }
}
