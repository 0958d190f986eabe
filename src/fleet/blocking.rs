//! [`BlockingFleet`]: a [`Fleet`] that runs its commands on a blocking
//! [`PresenceStore`] right after each input.

use core::borrow::Borrow;
use core::fmt;
use core::hash::{BuildHasher, Hash};
use std::borrow::ToOwned;
use std::collections::hash_map::RandomState;
use std::string::String;
use std::vec::Vec;

use super::{Fleet, FleetConfig, FleetConfigError, FleetRecord, PresenceStore, StoreCommand};
use crate::{Change, Instant, Presence, PresenceError, Status};

/// What a [`BlockingFleet`] did to the store for one input.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StoreOp {
    /// Nothing: a throttled refresh, or nothing to report.
    Nothing,
    /// The key was set with the [TTL](FleetConfig::ttl).
    Set,
    /// The key was deleted: this node, in this incarnation, wrote it last.
    Deleted,
    /// A delete was asked for but the key was left alone: another node or
    /// incarnation wrote it last (the client reconnected elsewhere), or it
    /// had expired already.
    NotOwner,
}

/// The local result of an input, and what became of its store command.
///
/// The local tracker always takes the input, even if the store fails: a
/// failed write is retried on the client's next check-in, a failed delete is
/// left to the key's TTL.
#[must_use = "the store result may hold an error"]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FleetOutcome<T, E> {
    /// What the local [`Presence`] returned.
    pub local: T,
    /// What was done to the store, or how it failed.
    pub store: Result<StoreOp, E>,
}

impl<T, E> FleetOutcome<T, E> {
    /// The local result if the store command succeeded, else its error.
    pub fn into_result(self) -> Result<T, E> {
        self.store.map(|_| self.local)
    }
}

/// A [`Fleet`] and a blocking [`PresenceStore`]: every input runs the
/// commands it queued at once and says what they did. For blocking
/// servers and tests; an async server drives [`Fleet`] itself and
/// pipelines the commands.
pub struct BlockingFleet<K, St, S = RandomState> {
    fleet: Fleet<K, S>,
    store: St,
}

impl<K, St> BlockingFleet<K, St, RandomState>
where
    K: Hash + Eq + Clone + fmt::Display,
    St: PresenceStore,
{
    /// A node with the default hasher; touches nothing in the store.
    ///
    /// # Errors
    ///
    /// The problem [`FleetConfig::validate`] finds.
    pub fn new(config: FleetConfig, store: St) -> Result<Self, FleetConfigError> {
        Ok(BlockingFleet {
            fleet: Fleet::new(config)?,
            store,
        })
    }
}

impl<K, St, S> BlockingFleet<K, St, S>
where
    K: Hash + Eq + Clone + fmt::Display,
    St: PresenceStore,
    S: BuildHasher,
{
    /// A node whose local tracker hashes ids with `hasher`.
    ///
    /// # Errors
    ///
    /// The problem [`FleetConfig::validate`] finds.
    pub fn with_hasher(
        config: FleetConfig,
        store: St,
        hasher: S,
    ) -> Result<Self, FleetConfigError> {
        Ok(BlockingFleet {
            fleet: Fleet::with_hasher(config, hasher)?,
            store,
        })
    }

    /// The sans-IO machine inside.
    pub fn fleet(&self) -> &Fleet<K, S> {
        &self.fleet
    }

    /// The configuration this node was built with.
    pub fn config(&self) -> &FleetConfig {
        self.fleet.config()
    }

    /// This node's own tracker.
    pub fn local(&self) -> &Presence<K, S> {
        self.fleet.local()
    }

    /// The store.
    pub fn store(&self) -> &St {
        &self.store
    }

    /// The store, mutably (to flush a queueing store, say).
    pub fn store_mut(&mut self) -> &mut St {
        &mut self.store
    }

    /// The key under which `id` is stored.
    pub fn key<Q: fmt::Display + ?Sized>(&self, id: &Q) -> String {
        self.fleet.key(id)
    }

    /// [`Fleet::check_in`], then its write if one was due.
    ///
    /// # Errors
    ///
    /// [`PresenceError::Full`] if the local tracker refused a new id. A
    /// store failure is in [`FleetOutcome::store`].
    pub fn check_in<Q>(
        &mut self,
        id: &Q,
        now: Instant,
    ) -> Result<FleetOutcome<Change, St::Error>, PresenceError>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + fmt::Display + ToOwned<Owned = K> + ?Sized,
    {
        let local = self.fleet.check_in(id, now)?;
        Ok(FleetOutcome {
            local,
            store: self.run(),
        })
    }

    /// [`Fleet::check_out`], then its delete if one was queued.
    pub fn check_out<Q>(&mut self, id: &Q, now: Instant) -> FleetOutcome<Status, St::Error>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + fmt::Display + ToOwned<Owned = K> + ?Sized,
    {
        let local = self.fleet.check_out(id, now);
        FleetOutcome {
            local,
            store: self.run(),
        }
    }

    /// [`Fleet::poll_expired`], then the expired id's delete.
    pub fn poll_expired(&mut self, now: Instant) -> Option<FleetOutcome<K, St::Error>> {
        let local = self.fleet.poll_expired(now)?;
        Some(FleetOutcome {
            local,
            store: self.run(),
        })
    }

    /// [`Fleet::poll_timeout`].
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.fleet.poll_timeout()
    }

    /// The status of `id` in the whole fleet at `now`: local if online
    /// here, else one `GET` (see [Reading](Fleet#reading)).
    pub fn status<Q>(&mut self, id: &Q, now: Instant) -> Result<Status, St::Error>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + fmt::Display + ?Sized,
    {
        let local = self.fleet.local_status(id, now);
        if local.is_online() {
            return Ok(local);
        }
        let value = self.store.get(&self.fleet.key(id))?;
        Ok(self.fleet.judge(local, value.as_deref()))
    }

    /// [`status`](Self::status) of several ids, in order, with one `MGET`
    /// for those not online here (none if all are).
    pub fn statuses<'q, Q>(
        &mut self,
        ids: impl IntoIterator<Item = &'q Q>,
        now: Instant,
    ) -> Result<Vec<Status>, St::Error>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + fmt::Display + ?Sized + 'q,
    {
        let mut out = Vec::new();
        let mut keys = Vec::new();
        for id in ids {
            let local = self.fleet.local_status(id, now);
            if !local.is_online() {
                keys.push(self.fleet.key(id));
            }
            out.push(local);
        }
        if keys.is_empty() {
            return Ok(out);
        }
        let mut values = self.store.get_many(&keys)?.into_iter();
        for status in out.iter_mut().filter(|s| !s.is_online()) {
            *status = self
                .fleet
                .judge(*status, values.next().flatten().as_deref());
        }
        Ok(out)
    }

    /// The record stored for `id`, whoever wrote it. `None` if the key is
    /// absent or its value is not a [`FleetRecord`].
    pub fn lookup<Q: fmt::Display + ?Sized>(
        &mut self,
        id: &Q,
    ) -> Result<Option<FleetRecord>, St::Error> {
        let value = self.store.get(&self.fleet.key(id))?;
        Ok(value.as_deref().and_then(FleetRecord::parse))
    }

    /// Runs what the last input queued (at most one command).
    fn run(&mut self) -> Result<StoreOp, St::Error> {
        let mut op = Ok(StoreOp::Nothing);
        while let Some(command) = self.fleet.poll_command() {
            op = match &command {
                StoreCommand::Set {
                    key, value, ttl, ..
                } => self.store.set(key, value, *ttl).map(|()| StoreOp::Set),
                StoreCommand::DeleteOwned { key, owner, .. } => {
                    self.store.delete_owned(key, owner).map(|deleted| {
                        if deleted {
                            StoreOp::Deleted
                        } else {
                            StoreOp::NotOwner
                        }
                    })
                }
            };
            if op.is_err() {
                self.fleet.failed(&command);
            }
        }
        op
    }
}

impl<K, St, S> fmt::Debug for BlockingFleet<K, St, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlockingFleet")
            .field("fleet", &self.fleet)
            .finish_non_exhaustive()
    }
}
