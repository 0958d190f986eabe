//! [`FleetFeed`]: every node's presence changes, as one stream.

use std::collections::{BTreeSet, HashMap};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::{Stream, StreamExt};
use keepalive::FleetRecord;
use redis::aio::MultiplexedConnection;
use redis::{Client, RedisResult};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::announce::Announcement;

/// Why a client went offline in the fleet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OfflineCause {
    /// The last node that held it said so.
    Announced,
    /// Its key expired: every node holding it stopped refreshing it (a node
    /// that died without a word).
    Expired,
    /// Its key was gone at two sweeps in a row (missed events, a node that
    /// died while the client was also on another that later let it go).
    Vanished,
}

/// A change of a client's presence somewhere in the fleet.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum FleetChange {
    /// The client came online: on `node`, and on no other node before.
    Online {
        /// The client.
        client: String,
        /// Where.
        node: String,
    },
    /// The client is online nowhere any more; `node` held it last.
    Offline {
        /// The client.
        client: String,
        /// The node that held it last.
        node: String,
        /// How this was learnt.
        cause: OfflineCause,
    },
}

/// Subscriber settings.
#[derive(Clone, Debug)]
pub struct FeedConfig {
    prefix: String,
    sweep: Duration,
}

impl FeedConfig {
    /// The fleet's key prefix ([`FleetConfig::prefix`](keepalive::FleetConfig::prefix))
    /// and how often to resynchronise from the keys themselves: the bound
    /// for reporting what events missed (use the fleet's TTL).
    pub fn new(prefix: impl Into<String>, sweep: Duration) -> FeedConfig {
        FeedConfig {
            prefix: prefix.into(),
            sweep: sweep.max(Duration::from_millis(10)),
        }
    }
}

/// A [`Stream`] of [`FleetChange`]s, from every node.
///
/// Sources: the nodes' announcements (pub/sub on `<prefix>changes`), Redis'
/// notifications of expired keys (`notify-keyspace-events Ex`, which
/// [`subscribe`](FleetFeed::subscribe) turns on; if the server refuses
/// `CONFIG SET`, run `redis-cli config set notify-keyspace-events Ex`), and
/// a sweep of the keys every `sweep`, which catches anything the events
/// missed (a lost connection, notifications off).
///
/// # Guarantee
///
/// Per client, changes alternate: `Online`, `Offline`, `Online`, … never two
/// of a kind in a row, in the order Redis saw them. A client online on two
/// nodes goes offline when both have let it go. Nothing is lost: a change
/// the events missed is reported by the next sweeps (an offline within two
/// sweeps, an online within one), so a brief offline-and-back may be folded
/// away, never reported out of order. The feed starts from what the first
/// sweep finds (clients already online are reported `Online` once).
pub struct FleetFeed {
    rx: mpsc::UnboundedReceiver<FleetChange>,
    task: JoinHandle<()>,
}

impl Drop for FleetFeed {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Stream for FleetFeed {
    type Item = FleetChange;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<FleetChange>> {
        self.rx.poll_recv(cx)
    }
}

impl FleetFeed {
    /// Subscribes to the fleet at `url`; reconnects by itself.
    ///
    /// # Errors
    ///
    /// The URL is invalid or Redis could not be reached the first time.
    pub async fn subscribe(url: &str, config: FeedConfig) -> RedisResult<FleetFeed> {
        let client = Client::open(url)?;
        let first = Session::open(&client, &config).await?;
        let (tx, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(run(client, config, first, tx));
        Ok(FleetFeed { rx, task })
    }
}

/// One connection's worth: the subscription and a connection for sweeps.
struct Session {
    pubsub: redis::aio::PubSub,
    conn: MultiplexedConnection,
}

impl Session {
    async fn open(client: &Client, config: &FeedConfig) -> RedisResult<Session> {
        let mut conn = client.get_multiplexed_async_connection().await?;
        let _ = enable_expiry_events(&mut conn).await; // else the sweeps cover it
        let mut pubsub = client.get_async_pubsub().await?;
        pubsub.subscribe(crate::channel(&config.prefix)).await?;
        pubsub.psubscribe("__keyevent@*__:expired").await?;
        Ok(Session { pubsub, conn })
    }
}

/// Adds `E` and `x` to `notify-keyspace-events`, keeping what is set.
async fn enable_expiry_events(conn: &mut MultiplexedConnection) -> RedisResult<()> {
    let current: Vec<String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("notify-keyspace-events")
        .query_async(conn)
        .await?;
    let mut flags = current.get(1).cloned().unwrap_or_default();
    for flag in ['E', 'x'] {
        // `A` (all classes) includes `x` (expired).
        let set = flags.contains(flag) || (flag == 'x' && flags.contains('A'));
        if !set {
            flags.push(flag);
        }
    }
    redis::cmd("CONFIG")
        .arg("SET")
        .arg("notify-keyspace-events")
        .arg(flags)
        .query_async(conn)
        .await
}

/// Who holds a client, as far as this subscriber knows.
#[derive(Default)]
struct Held {
    nodes: BTreeSet<String>,
    last: String,
    /// Its key was missing at the last sweep.
    missing: bool,
}

struct State {
    prefix: String,
    held: HashMap<String, Held>,
    tx: mpsc::UnboundedSender<FleetChange>,
}

impl State {
    fn online(&mut self, client: &str, node: &str) {
        let held = self.held.entry(client.to_owned()).or_default();
        held.missing = false;
        held.last = node.to_owned();
        if held.nodes.is_empty() {
            let _ = self.tx.send(FleetChange::Online {
                client: client.to_owned(),
                node: node.to_owned(),
            });
        }
        held.nodes.insert(node.to_owned());
    }

    fn offline(&mut self, client: &str, node: Option<&str>, cause: OfflineCause) {
        let Some(held) = self.held.get_mut(client) else {
            return;
        };
        match node {
            Some(node) => {
                held.nodes.remove(node);
                held.last = node.to_owned();
            }
            None => held.nodes.clear(),
        }
        if held.nodes.is_empty()
            && let Some(held) = self.held.remove(client)
        {
            let _ = self.tx.send(FleetChange::Offline {
                client: client.to_owned(),
                node: held.last,
                cause,
            });
        }
    }

    fn message(&mut self, msg: &redis::Msg) {
        let Ok(payload) = msg.get_payload::<String>() else {
            return;
        };
        if msg.get_channel_name().ends_with(":expired") {
            if let Some(client) = payload.strip_prefix(self.prefix.as_str()) {
                let client = client.to_owned();
                self.offline(&client, None, OfflineCause::Expired);
            }
        } else if let Some(a) = Announcement::decode(&payload) {
            match a.online {
                true => self.online(&a.client, &a.node),
                false => self.offline(&a.client, Some(&a.node), OfflineCause::Announced),
            }
        }
    }

    /// Compares what is held with the keys in Redis.
    async fn sweep(&mut self, conn: &mut MultiplexedConnection) -> RedisResult<()> {
        let pattern = format!("{}*", glob_escape(&self.prefix));
        let mut keys: Vec<String> = Vec::new();
        let mut cursor = 0u64;
        loop {
            let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(1000)
                .query_async(conn)
                .await?;
            keys.extend(batch);
            cursor = next;
            if cursor == 0 {
                break;
            }
        }
        let mut present = HashMap::new();
        for chunk in keys.chunks(1000) {
            let values: Vec<Option<String>> =
                redis::cmd("MGET").arg(chunk).query_async(conn).await?;
            for (key, value) in chunk.iter().zip(values) {
                let record = value.as_deref().and_then(FleetRecord::parse);
                if let (Some(client), Some(record)) =
                    (key.strip_prefix(self.prefix.as_str()), record)
                {
                    present.insert(client.to_owned(), record.node);
                }
            }
        }
        for (client, node) in &present {
            if !self.held.contains_key(client) {
                self.online(client, node);
            } else if let Some(held) = self.held.get_mut(client) {
                held.missing = false;
            }
        }
        let gone: Vec<String> = self
            .held
            .iter_mut()
            .filter(|(client, _)| !present.contains_key(*client))
            .filter_map(|(client, held)| {
                let twice = held.missing;
                held.missing = true;
                twice.then(|| client.clone())
            })
            .collect();
        for client in gone {
            self.offline(&client, None, OfflineCause::Vanished);
        }
        Ok(())
    }
}

/// `*`, `?`, `[` and `\` taken literally in a SCAN pattern.
fn glob_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

async fn run(
    client: Client,
    config: FeedConfig,
    first: Session,
    tx: mpsc::UnboundedSender<FleetChange>,
) {
    let mut state = State {
        prefix: config.prefix.clone(),
        held: HashMap::new(),
        tx,
    };
    let mut session = Some(first);
    loop {
        let Some(Session {
            mut pubsub,
            mut conn,
        }) = session.take()
        else {
            tokio::time::sleep(Duration::from_millis(200)).await;
            session = Session::open(&client, &config).await.ok();
            continue;
        };
        let _ = state.sweep(&mut conn).await;
        let mut sweeps = tokio::time::interval(config.sweep);
        sweeps.tick().await;
        let mut messages = pubsub.on_message();
        loop {
            tokio::select! {
                msg = messages.next() => match msg {
                    Some(msg) => state.message(&msg),
                    None => break, // the connection dropped: resubscribe, resweep
                },
                _ = sweeps.tick() => {
                    if state.sweep(&mut conn).await.is_err() {
                        break;
                    }
                }
            }
            if state.tx.is_closed() {
                return;
            }
        }
    }
}
