//! [`Runner`]: a fleet machine's store commands on Redis, pipelined.

use std::time::Duration;

use keepalive::StoreCommand;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Client, RedisError, RedisResult, Value};

use crate::announce::Announcement;

/// The owner-checked delete as a Redis script: deletes `KEYS[1]` if its
/// value starts with `ARGV[1]`, atomically, so a node never deletes the
/// record another node wrote since. (For a blocking `PresenceStore` of your
/// own, `EVAL` this.)
pub const DELETE_OWNED: &str = "local v = redis.call('GET', KEYS[1]) \
    if v and string.sub(v, 1, #ARGV[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end \
    return 0";

/// What one [`Runner::run`] did.
#[derive(Debug)]
pub struct Outcome<K> {
    /// The `Set`s that did not happen. [`Fleet`](keepalive::Fleet) wants
    /// each reported with `failed` (it rewrites the key at the client's next
    /// check-in); [`FleetMirror`](keepalive::FleetMirror) needs nothing (its
    /// next refresh rewrites it).
    pub failed: Vec<StoreCommand<K>>,
    /// Whether the announcements were published.
    pub announced: bool,
    /// Owner-checked deletes that deleted (the others found another node's
    /// record, or none).
    pub deleted: usize,
    /// The connection error, if the round trip failed as a whole.
    pub error: Option<RedisError>,
}

/// Runs store commands on Redis: everything one turn of a fleet machine
/// produced goes out as **one pipeline, one round trip**. Owner-checked
/// deletes run a server-side script loaded once (reloaded by itself after
/// a Redis restart empties the script cache). The connection is redis-rs's
/// `ConnectionManager`, which reconnects by itself; while Redis is down a
/// run fails within the response timeout and reports what did not happen.
#[derive(Clone)]
pub struct Runner {
    conn: ConnectionManager,
    delete_sha: String,
    channel: String,
    round_trips: u64,
}

impl Runner {
    /// Connects to `url` (`redis://127.0.0.1:6379`); `prefix` is the fleet's
    /// key prefix ([`FleetConfig::prefix`](keepalive::FleetConfig::prefix)),
    /// under which changes are published.
    ///
    /// # Errors
    ///
    /// Redis could not be reached or refused the script.
    pub async fn connect(url: &str, prefix: &str) -> RedisResult<Runner> {
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(1)))
            .set_response_timeout(Some(Duration::from_secs(1)))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(500));
        let conn = ConnectionManager::new_with_config(Client::open(url)?, config).await?;
        let mut runner = Runner {
            conn,
            delete_sha: String::new(),
            channel: crate::channel(prefix),
            round_trips: 0,
        };
        runner.load_script().await?;
        Ok(runner)
    }

    async fn load_script(&mut self) -> RedisResult<()> {
        self.delete_sha = redis::cmd("SCRIPT")
            .arg("LOAD")
            .arg(DELETE_OWNED)
            .query_async(&mut self.conn)
            .await?;
        Ok(())
    }

    /// Round trips made so far (a pipeline is one).
    pub fn round_trips(&self) -> u64 {
        self.round_trips
    }

    /// A connection for reads (`GET`, `MGET`), sharing this one.
    pub fn connection(&self) -> ConnectionManager {
        self.conn.clone()
    }

    /// Runs `commands` in order, then publishes `announcements`, in one
    /// round trip.
    pub async fn run<K: Clone>(
        &mut self,
        commands: &[StoreCommand<K>],
        announcements: &[Announcement],
    ) -> Outcome<K> {
        if commands.is_empty() && announcements.is_empty() {
            return Outcome {
                failed: Vec::new(),
                announced: true,
                deleted: 0,
                error: None,
            };
        }
        let results = match self.pipeline(commands, announcements).await {
            Ok(results) => results,
            Err(error) => {
                return Outcome {
                    failed: sets(commands.iter()),
                    announced: false,
                    deleted: 0,
                    error: Some(error),
                };
            }
        };
        let mut failed = Vec::new();
        let mut deleted = 0;
        let mut retry = Vec::new();
        for (command, result) in commands.iter().zip(&results) {
            match (command, result) {
                (StoreCommand::Set { .. }, Err(_)) => failed.push(command.clone()),
                (StoreCommand::DeleteOwned { .. }, Err(e)) if e.code() == Some("NOSCRIPT") => {
                    retry.push(command.clone());
                }
                (StoreCommand::DeleteOwned { .. }, Ok(Value::Int(1))) => deleted += 1,
                _ => {}
            }
        }
        let announced = results[commands.len()..].iter().all(Result::is_ok);
        if !retry.is_empty() && self.load_script().await.is_ok() {
            // Redis restarted and forgot the script: once more, loaded.
            if let Ok(again) = self.pipeline(&retry, &[]).await {
                deleted += again
                    .iter()
                    .filter(|r| matches!(r, Ok(Value::Int(1))))
                    .count();
            }
        }
        Outcome {
            failed,
            announced,
            deleted,
            error: None,
        }
    }

    async fn pipeline<K>(
        &mut self,
        commands: &[StoreCommand<K>],
        announcements: &[Announcement],
    ) -> RedisResult<Vec<RedisResult<Value>>> {
        let mut pipe = redis::pipe();
        pipe.ignore_errors();
        for command in commands {
            match command {
                StoreCommand::Set {
                    key, value, ttl, ..
                } => {
                    let ms = ttl.as_nanos().div_ceil(1_000_000) as u64; // round up, never down
                    pipe.cmd("SET").arg(key).arg(value).arg("PX").arg(ms.max(1));
                }
                StoreCommand::DeleteOwned { key, owner, .. } => {
                    pipe.cmd("EVALSHA")
                        .arg(&self.delete_sha)
                        .arg(1)
                        .arg(key)
                        .arg(owner);
                }
            }
        }
        for announcement in announcements {
            pipe.cmd("PUBLISH")
                .arg(&self.channel)
                .arg(announcement.encode());
        }
        self.round_trips += 1;
        pipe.query_async(&mut self.conn).await
    }
}

fn sets<'a, K: Clone + 'a>(
    commands: impl Iterator<Item = &'a StoreCommand<K>>,
) -> Vec<StoreCommand<K>> {
    commands
        .filter(|c| matches!(c, StoreCommand::Set { .. }))
        .cloned()
        .collect()
}
