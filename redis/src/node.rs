//! [`FleetNode`]: one server node's presence, mirrored into Redis by a
//! background task.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::hash::Hash;
use std::sync::Mutex;

use keepalive::{Clock, FleetConfig, FleetConfigError, FleetMirror, Instant, Status};
use redis::aio::ConnectionManager;
use tokio::sync::mpsc;

use crate::announce::Announcement;
use crate::runner::Runner;

/// The most announcements kept while Redis is unreachable; beyond it the
/// oldest are dropped (subscribers resynchronise from the keys).
const ANNOUNCEMENTS_KEPT: usize = 65_536;

enum Input<K> {
    Online(K),
    Offline(K),
}

/// A node of the fleet. Tell it when a client comes online here and goes
/// offline here (for example from `keepalive_tokio::Server::changes`); its
/// task writes the client's key at once, refreshes it every
/// [`write_every`](FleetConfig::write_every) while the client stays, deletes
/// it (owner-checked) when the client leaves, and publishes each change for
/// the [`FleetFeed`](crate::FleetFeed)s of the other nodes. Everything one
/// turn produces goes out in one round trip.
///
/// # When Redis is down
///
/// Local presence is not touched: this only mirrors it. Writes that fail
/// are not queued: the next refresh of each client rewrites its key, so
/// within one `write_every` of Redis coming back the fleet view is whole
/// again. Announcements wait, at most 65,536 of them. Meanwhile a reader on
/// another node sees what Redis holds: clients written before the outage
/// stay online until their TTL runs out (a Redis that restarted empty shows
/// nobody), clients that came online here during the outage are unknown,
/// until the refreshes land.
pub struct FleetNode<K> {
    tx: mpsc::UnboundedSender<Input<K>>,
    /// Only for judging records and naming keys.
    judge: FleetMirror<K>,
    reads: ConnectionManager,
    /// Who is online here, since when: the records this node wrote are
    /// judged against it.
    local: Mutex<HashMap<K, Instant>>,
    clock: Clock,
}

impl<K> FleetNode<K>
where
    K: Hash + Eq + Clone + fmt::Display + Send + Sync + 'static,
{
    /// Starts the node's task on the current tokio runtime.
    ///
    /// # Errors
    ///
    /// The problem [`FleetConfig::validate`] finds.
    pub fn spawn(runner: Runner, config: FleetConfig) -> Result<FleetNode<K>, FleetConfigError> {
        let mirror = FleetMirror::new(config.clone())?;
        let judge = FleetMirror::new(config)?;
        let (tx, rx) = mpsc::unbounded_channel();
        let reads = runner.connection();
        tokio::spawn(drive(mirror, runner, rx));
        Ok(FleetNode {
            tx,
            judge,
            reads,
            local: Mutex::new(HashMap::new()),
            clock: Clock::new(),
        })
    }

    /// `id` came online on this node (its first connection here).
    pub fn online(&self, id: K) {
        let now = self.clock.now();
        self.lock().entry(id.clone()).or_insert(now);
        let _ = self.tx.send(Input::Online(id));
    }

    /// `id` went offline on this node (its last connection here ended).
    pub fn offline(&self, id: K) {
        self.lock().remove(&id);
        let _ = self.tx.send(Input::Offline(id));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<K, Instant>> {
        self.local
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// `id`'s presence in the whole fleet: online here, else what Redis
    /// holds.
    ///
    /// # Errors
    ///
    /// Redis could not be read (for a client not online here).
    pub async fn status(&self, id: &K) -> redis::RedisResult<Status> {
        if let Some(&since) = self.lock().get(id) {
            let last_seen = self.clock.now();
            return Ok(Status::Online { since, last_seen });
        }
        let key = self.judge.key(id);
        let value: Option<String> = redis::cmd("GET")
            .arg(key)
            .query_async(&mut self.reads.clone())
            .await?;
        Ok(self.judge.judge(value.as_deref()))
    }

    /// The key `id` is stored under.
    pub fn key(&self, id: &K) -> String {
        self.judge.key(id)
    }
}

async fn drive<K>(
    mut mirror: FleetMirror<K>,
    mut runner: Runner,
    mut rx: mpsc::UnboundedReceiver<Input<K>>,
) where
    K: Hash + Eq + Clone + fmt::Display,
{
    let clock = Clock::new();
    let node = mirror.config().node().to_owned();
    let mut announcements: VecDeque<Announcement> = VecDeque::new();
    let mut open = true;
    while open || !announcements.is_empty() {
        let deadline = mirror.poll_timeout();
        // Some(input): from a handle (None: every handle dropped); None: the timer.
        let woke = match deadline {
            Some(at) if open => tokio::select! {
                input = rx.recv() => Some(input),
                () = tokio::time::sleep_until(clock.to_std(at).into()) => None,
            },
            Some(at) => {
                tokio::time::sleep_until(clock.to_std(at).into()).await;
                None
            }
            None if open => Some(rx.recv().await),
            None => None,
        };
        let mut apply = |input: Input<K>, now| {
            let (online, id) = match input {
                Input::Online(id) => (true, id),
                Input::Offline(id) => (false, id),
            };
            if announcements.len() >= ANNOUNCEMENTS_KEPT {
                announcements.pop_front();
            }
            announcements.push_back(Announcement {
                online,
                node: node.clone(),
                client: id.to_string(),
            });
            match online {
                true => mirror.online(id, now),
                false => mirror.offline(&id, now),
            }
        };
        match woke {
            Some(Some(input)) => apply(input, clock.now()),
            Some(None) => open = false,
            None => {}
        }
        while let Ok(input) = rx.try_recv() {
            apply(input, clock.now());
        }
        mirror.poll(clock.now());
        let commands: Vec<_> = mirror.commands().collect();
        let outcome = runner.run(&commands, announcements.make_contiguous()).await;
        if outcome.announced {
            announcements.clear();
        } else if !open {
            return; // nobody left to tell, Redis unreachable: give up
        } else {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }
}
