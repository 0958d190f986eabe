//! [`FleetMirror`]: a fleet node whose presence comes from a
//! [`Sessions`](crate::Sessions) (connections), not from check-ins.

use core::borrow::Borrow;
use core::fmt;
use core::hash::Hash;
use std::borrow::ToOwned;
use std::collections::{HashMap, VecDeque};
use std::string::String;

use super::command::Writer;
use super::{FleetConfig, FleetConfigError, StoreCommand};
use crate::{Instant, Status};

/// Mirrors the presence a [`Sessions`](crate::Sessions) derives from
/// connections into the shared store, for the other nodes.
///
/// Feed it the machine's reports: [`online`](Self::online) for
/// [`ServerAction::Online`](crate::ServerAction::Online) (the key is
/// written at once), [`offline`](Self::offline) for
/// [`ServerAction::Offline`](crate::ServerAction::Offline) (an
/// owner-checked delete). While an id stays online here its key is
/// rewritten every [`write_every`](FleetConfig::write_every) `P`, with TTL
/// `T + P`: if this node dies, the keys of its clients expire between `T`
/// and `T + P` after its last refresh, with nobody cleaning up. Frames cost
/// nothing here; refreshes are O(due) through a queue in due order (every
/// refresh is `P` after the previous one). Run the commands in order as
/// for [`Fleet`](super::Fleet#running-the-commands); failures need no
/// report: the next refresh rewrites the key, a failed delete is left to
/// the TTL.
///
/// ```
/// use core::time::Duration;
/// use keepalive::{FleetConfig, FleetMirror, Instant, PresenceConfig, StoreCommand};
///
/// let presence = PresenceConfig::new().with_timeout(Duration::from_secs(30));
/// let mut mirror: FleetMirror<String> = FleetMirror::new(FleetConfig::new("a", 1).with_presence(presence))?;
/// mirror.online("alice".to_string(), Instant::from_secs(0));
/// assert!(matches!(mirror.poll_command(), Some(StoreCommand::Set { .. })));
/// // Refreshed every timeout / 3.
/// assert_eq!(mirror.poll_timeout(), Some(Instant::from_secs(10)));
/// mirror.poll(Instant::from_secs(10));
/// assert!(matches!(mirror.poll_command(), Some(StoreCommand::Set { .. })));
/// mirror.offline("alice", Instant::from_secs(12));
/// assert!(matches!(mirror.poll_command(), Some(StoreCommand::DeleteOwned { .. })));
/// assert_eq!(mirror.poll_timeout(), None);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct FleetMirror<K> {
    writer: Writer<K>,
    /// Online here: since when, and the generation of its queue entry.
    online: HashMap<K, (Instant, u64)>,
    /// Refreshes in due order: (due ns, id, generation).
    due: VecDeque<(u64, K, u64)>,
    generation: u64,
    /// `write_every` in ns, at least 1.
    period: u64,
    now: u64,
}

impl<K: Hash + Eq + Clone + fmt::Display> FleetMirror<K> {
    /// A mirror for one node.
    ///
    /// # Errors
    ///
    /// The problem [`FleetConfig::validate`] finds.
    pub fn new(config: FleetConfig) -> Result<Self, FleetConfigError> {
        config.validate()?;
        Ok(FleetMirror {
            // Validated: at most the timeout, at most a year.
            period: (config.write_every().as_nanos() as u64).max(1),
            writer: Writer::new(config),
            online: HashMap::new(),
            due: VecDeque::new(),
            generation: 0,
            now: 0,
        })
    }

    /// The configuration this node was built with.
    pub fn config(&self) -> &FleetConfig {
        &self.writer.config
    }

    /// The key under which `id` is stored.
    pub fn key<Q: fmt::Display + ?Sized>(&self, id: &Q) -> String {
        self.writer.key(id)
    }

    /// `id` came online here at `now`: its key is written at once and then
    /// refreshed. A repeated call is ignored.
    pub fn online(&mut self, id: K, now: Instant) {
        let now = self.clamp(now);
        if self.online.contains_key(&id) {
            return;
        }
        self.generation += 1;
        let since = Instant::from_nanos(now);
        self.online.insert(id.clone(), (since, self.generation));
        self.due
            .push_back((now.saturating_add(self.period), id.clone(), self.generation));
        self.writer.set(id, since, now);
    }

    /// `id` went offline here at `now`: an owner-checked delete is queued
    /// (the key stays if another node wrote it last). Ignored if it was
    /// not online here.
    pub fn offline<Q>(&mut self, id: &Q, now: Instant)
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
    {
        self.clamp(now);
        if self.online.remove(id).is_some() {
            self.writer.delete(id.to_owned());
        }
    }

    /// Queues the refreshes due by `now`. O(due).
    pub fn poll(&mut self, now: Instant) {
        let now = self.clamp(now);
        while let Some(&(due, _, _)) = self.due.front() {
            if due > now {
                break;
            }
            let (_, id, generation) = self.due.pop_front().expect("peeked");
            let Some(&(since, current)) = self.online.get(&id) else {
                continue; // went offline
            };
            if current != generation {
                continue; // offline and back: a newer entry exists
            }
            self.due
                .push_back((now.saturating_add(self.period), id.clone(), generation));
            self.writer.set(id, since, now);
        }
    }

    /// When the next refresh is due (`None`: nobody online here).
    pub fn poll_timeout(&self) -> Option<Instant> {
        // Stale entries of ids gone offline may lead; a spurious poll is
        // harmless. Without anyone online there is nothing to refresh.
        if self.online.is_empty() {
            return None;
        }
        self.due
            .front()
            .map(|&(due, _, _)| Instant::from_nanos(due))
    }

    /// Ids online here.
    pub fn online_count(&self) -> usize {
        self.online.len()
    }

    /// The next queued store command, oldest first.
    pub fn poll_command(&mut self) -> Option<StoreCommand<K>> {
        self.writer.poll_command()
    }

    /// Takes every queued store command, oldest first: one pipeline.
    pub fn commands(&mut self) -> std::collections::vec_deque::Drain<'_, StoreCommand<K>> {
        self.writer.commands()
    }

    /// The fleet-wide status of an id not online here, from the value
    /// stored under its key: [`Status::Online`] if another node (or
    /// incarnation) holds it, else [`Status::Unknown`].
    pub fn judge(&self, stored: Option<&str>) -> Status {
        self.writer.judge(Status::Unknown, stored)
    }

    fn clamp(&mut self, now: Instant) -> u64 {
        self.now = self.now.max(now.as_nanos());
        self.now
    }
}

impl<K> fmt::Debug for FleetMirror<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FleetMirror")
            .field("config", &self.writer.config)
            .field("online", &self.online.len())
            .finish_non_exhaustive()
    }
}
