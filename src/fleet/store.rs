//! [`PresenceStore`]: what a [`Fleet`](crate::Fleet) needs from Redis.

use core::time::Duration;
use std::string::String;
use std::vec::Vec;

/// A shared key-value store with per-key TTLs: what a [`Fleet`](crate::Fleet) needs from
/// Redis (or any cache with expiring keys).
///
/// Synchronous and object-safe (`dyn PresenceStore<Error = E>` works). The
/// implementation for the `redis` crate is a few lines: see
/// `benches/support/redis_store.rs` (the async, pipelined runner is the
/// `keepalive-redis` crate):
///
/// ```no_run
/// # use core::time::Duration;
/// # use keepalive::PresenceStore;
/// # const DELETE_OWNED: &str = "local v = redis.call('GET', KEYS[1]) \
/// #     if v and string.sub(v, 1, #ARGV[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end \
/// #     return 0";
/// struct RedisStore(redis::Connection);
///
/// impl PresenceStore for RedisStore {
///     type Error = redis::RedisError;
///     fn set(&mut self, key: &str, value: &str, ttl: Duration) -> Result<(), Self::Error> {
///         let ms = ttl.as_nanos().div_ceil(1_000_000) as u64; // round up, never down
///         redis::cmd("SET").arg(key).arg(value).arg("PX").arg(ms).query(&mut self.0)
///     }
///     fn delete_owned(&mut self, key: &str, owner: &str) -> Result<bool, Self::Error> {
///         // GET + compare + DEL must be atomic: a Lua script.
///         let n: i64 = redis::cmd("EVAL").arg(DELETE_OWNED).arg(1).arg(key).arg(owner).query(&mut self.0)?;
///         Ok(n == 1)
///     }
///     fn get_many(&mut self, keys: &[String]) -> Result<Vec<Option<String>>, Self::Error> {
///         redis::cmd("MGET").arg(keys).query(&mut self.0)
///     }
/// }
/// ```
///
/// A store may also queue the commands and send them later as one pipeline
/// (the `fleet` benchmark does), returning `Ok` at once; reads must still
/// see the store's current contents.
pub trait PresenceStore {
    /// What the store's client fails with.
    type Error;

    /// Sets `key` to `value`, replacing any value, to expire `ttl` from now
    /// on the store's own clock (Redis: `SET key value PX ms`). A store with
    /// coarser TTLs must round up, never down.
    fn set(&mut self, key: &str, value: &str, ttl: Duration) -> Result<(), Self::Error>;

    /// Deletes `key` if its value starts with `owner`, atomically (no write
    /// may slip between the compare and the delete; Redis: a Lua script,
    /// `GET`, compare the prefix, `DEL`). Returns whether it deleted.
    fn delete_owned(&mut self, key: &str, owner: &str) -> Result<bool, Self::Error>;

    /// The values of `keys`, in order, `None` for a missing or expired key
    /// (Redis: `MGET`).
    fn get_many(&mut self, keys: &[String]) -> Result<Vec<Option<String>>, Self::Error>;

    /// The value of one key (Redis: `GET`). Defaults to
    /// [`get_many`](Self::get_many) with one key.
    fn get(&mut self, key: &str) -> Result<Option<String>, Self::Error> {
        let mut values = self.get_many(&[String::from(key)])?;
        Ok(values.pop().flatten())
    }
}

impl<T: PresenceStore + ?Sized> PresenceStore for &mut T {
    type Error = T::Error;

    fn set(&mut self, key: &str, value: &str, ttl: Duration) -> Result<(), Self::Error> {
        (**self).set(key, value, ttl)
    }

    fn delete_owned(&mut self, key: &str, owner: &str) -> Result<bool, Self::Error> {
        (**self).delete_owned(key, owner)
    }

    fn get_many(&mut self, keys: &[String]) -> Result<Vec<Option<String>>, Self::Error> {
        (**self).get_many(keys)
    }

    fn get(&mut self, key: &str) -> Result<Option<String>, Self::Error> {
        (**self).get(key)
    }
}

impl<T: PresenceStore + ?Sized> PresenceStore for std::boxed::Box<T> {
    type Error = T::Error;

    fn set(&mut self, key: &str, value: &str, ttl: Duration) -> Result<(), Self::Error> {
        (**self).set(key, value, ttl)
    }

    fn delete_owned(&mut self, key: &str, owner: &str) -> Result<bool, Self::Error> {
        (**self).delete_owned(key, owner)
    }

    fn get_many(&mut self, keys: &[String]) -> Result<Vec<Option<String>>, Self::Error> {
        (**self).get_many(keys)
    }

    fn get(&mut self, key: &str) -> Result<Option<String>, Self::Error> {
        (**self).get(key)
    }
}
