//! `keepalive`'s blocking [`PresenceStore`] for the `redis` crate (the few
//! lines a user of `BlockingFleet` writes), for the fleet benchmark. The
//! async, pipelined runner is `keepalive-redis`.

use std::time::Duration;

use keepalive::PresenceStore;
use keepalive_redis::DELETE_OWNED;

/// A blocking Redis connection as a presence store.
pub struct RedisStore(pub redis::Connection);

impl PresenceStore for RedisStore {
    type Error = redis::RedisError;

    fn set(&mut self, key: &str, value: &str, ttl: Duration) -> Result<(), Self::Error> {
        let ms = ttl.as_nanos().div_ceil(1_000_000) as u64; // round up, never down
        redis::cmd("SET")
            .arg(key)
            .arg(value)
            .arg("PX")
            .arg(ms)
            .query(&mut self.0)
    }

    fn delete_owned(&mut self, key: &str, owner: &str) -> Result<bool, Self::Error> {
        let n: i64 = redis::cmd("EVAL")
            .arg(DELETE_OWNED)
            .arg(1)
            .arg(key)
            .arg(owner)
            .query(&mut self.0)?;
        Ok(n == 1)
    }

    fn get_many(&mut self, keys: &[String]) -> Result<Vec<Option<String>>, Self::Error> {
        redis::cmd("MGET").arg(keys).query(&mut self.0)
    }
}

impl RedisStore {
    /// Connects to `url` (`redis://127.0.0.1:PORT`).
    pub fn connect(url: &str) -> redis::RedisResult<RedisStore> {
        let client = redis::Client::open(url)?;
        let conn = client.get_connection_with_timeout(Duration::from_secs(2))?;
        conn.set_read_timeout(Some(Duration::from_secs(2)))?;
        conn.set_write_timeout(Some(Duration::from_secs(2)))?;
        Ok(RedisStore(conn))
    }
}
