//! The store commands a fleet machine returns, and the writer both
//! machines share: keys, values, the outbox, failed writes, reading.

use core::fmt::{self, Write as _};
use core::hash::Hash;
use core::time::Duration;
use std::collections::{HashSet, VecDeque};
use std::string::String;

use super::config::FleetConfig;
use super::record::{self, FleetRecord};
use crate::{Instant, Status};

/// A command for the shared store, returned by a fleet machine for the
/// caller to run with any client, synchronously or asynchronously.
///
/// Run the commands of one drain in order (a Redis pipeline keeps order),
/// and each drain after the previous one: a write and a delete of one key
/// must not swap. Tell the machine about a failed
/// [`Set`](StoreCommand::Set) with its `failed` method, so that the write is
/// retried; nothing else needs an answer.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum StoreCommand<K> {
    /// Set `key` to `value`, to expire `ttl` from now on the store's own
    /// clock (Redis: `SET key value PX ms`, the TTL rounded up, never
    /// down).
    Set {
        /// The client the key is for.
        id: K,
        /// The key.
        key: String,
        /// A [`FleetRecord`] in its text form.
        value: String,
        /// The key's time to live: [`FleetConfig::ttl`].
        ttl: Duration,
    },
    /// Delete `key` if its value starts with `owner`, atomically (Redis: a
    /// Lua script that `GET`s, compares the prefix and `DEL`s). Whether it
    /// deleted is for logging only; a failed delete is left to the TTL.
    DeleteOwned {
        /// The client the key is for.
        id: K,
        /// The key.
        key: String,
        /// This node's [owner tag](FleetConfig::owner).
        owner: String,
    },
}

impl<K> StoreCommand<K> {
    /// The client the command is about.
    pub fn id(&self) -> &K {
        match self {
            StoreCommand::Set { id, .. } | StoreCommand::DeleteOwned { id, .. } => id,
        }
    }

    /// The key the command touches.
    pub fn key(&self) -> &str {
        match self {
            StoreCommand::Set { key, .. } | StoreCommand::DeleteOwned { key, .. } => key,
        }
    }
}

/// The store half of both fleet machines: what to write, the queue of
/// commands not yet taken, and the ids whose last write failed.
pub(super) struct Writer<K> {
    pub(super) config: FleetConfig,
    owner: String,
    ttl: Duration,
    outbox: VecDeque<StoreCommand<K>>,
    /// Ids whose latest write failed: rewritten at their next chance.
    retry: HashSet<K>,
}

impl<K: Hash + Eq + Clone + fmt::Display> Writer<K> {
    /// `config` is validated by the caller.
    pub(super) fn new(config: FleetConfig) -> Self {
        Writer {
            owner: config.owner(),
            ttl: config.ttl(),
            config,
            outbox: VecDeque::new(),
            retry: HashSet::new(),
        }
    }

    pub(super) fn key<Q: fmt::Display + ?Sized>(&self, id: &Q) -> String {
        let mut key = String::new();
        record::push_key(&mut key, self.config.prefix(), id);
        key
    }

    /// Queues a write of `id`'s record; it leaves the retry set (a failure
    /// puts it back).
    pub(super) fn set(&mut self, id: K, since: Instant, now: u64) {
        let key = self.key(&id);
        let mut value = String::with_capacity(self.owner.len() + 40);
        let _ = write!(value, "{}{}/{}", self.owner, since.as_nanos(), now);
        self.forget_failure(&id);
        self.outbox.push_back(StoreCommand::Set {
            id,
            key,
            value,
            ttl: self.ttl,
        });
    }

    /// Queues an owner-checked delete of `id`'s key.
    pub(super) fn delete(&mut self, id: K) {
        let key = self.key(&id);
        self.forget_failure(&id);
        self.outbox.push_back(StoreCommand::DeleteOwned {
            id,
            key,
            owner: self.owner.clone(),
        });
    }

    pub(super) fn has_failed<Q>(&self, id: &Q) -> bool
    where
        K: core::borrow::Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        !self.retry.is_empty() && self.retry.contains(id)
    }

    pub(super) fn forget_failure<Q>(&mut self, id: &Q)
    where
        K: core::borrow::Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        if !self.retry.is_empty() {
            self.retry.remove(id);
        }
    }

    /// A `Set` the caller ran failed. Returns whether it was one.
    pub(super) fn failed(&mut self, command: &StoreCommand<K>) -> bool {
        match command {
            StoreCommand::Set { id, .. } => {
                self.retry.insert(id.clone());
                true
            }
            StoreCommand::DeleteOwned { .. } => false,
        }
    }

    pub(super) fn failures(&self) -> usize {
        self.retry.len()
    }

    pub(super) fn poll_command(&mut self) -> Option<StoreCommand<K>> {
        self.outbox.pop_front()
    }

    pub(super) fn commands(&mut self) -> std::collections::vec_deque::Drain<'_, StoreCommand<K>> {
        self.outbox.drain(..)
    }

    pub(super) fn pending(&self) -> usize {
        self.outbox.len()
    }

    /// Combines the local status of an id not online here with its stored
    /// value (see `Fleet`'s "Reading").
    pub(super) fn judge(&self, local: Status, value: Option<&str>) -> Status {
        if local.is_online() {
            return local;
        }
        let Some(record) = value.and_then(FleetRecord::parse) else {
            return local;
        };
        if record.node == self.config.node() && record.epoch == self.config.epoch() {
            // Written here, for a client not online here: stale (its delete
            // failed, is still in the outbox, or awaits its expiry).
            return local;
        }
        Status::Online {
            since: record.since,
            last_seen: record.last_seen,
        }
    }
}
