//! `keepalive`'s [`PresenceStore`] for the `redis` crate (the few lines a
//! user writes), and a throwaway `redis-server` for the tests and the
//! benchmark.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use keepalive::PresenceStore;

/// Deletes `KEYS[1]` if its value starts with `ARGV[1]`, atomically.
const DELETE_OWNED: &str = "local v = redis.call('GET', KEYS[1]) \
    if v and string.sub(v, 1, #ARGV[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end \
    return 0";

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

/// A `redis-server` on a free loopback port, without persistence, killed
/// when dropped.
pub struct RedisServer {
    child: Child,
    port: u16,
}

impl RedisServer {
    /// Starts `redis-server` (or `$REDIS_SERVER`) and waits until it answers
    /// `PING` (at most 5 s).
    pub fn start() -> Result<RedisServer, String> {
        let program = std::env::var("REDIS_SERVER").unwrap_or_else(|_| "redis-server".into());
        let mut last = String::new();
        // A free port can be taken between the probe and the bind: retry.
        for _ in 0..3 {
            let port = TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .map_err(|e| format!("no free loopback port: {e}"))?
                .port();
            let child = Command::new(&program)
                .args(["--save", "", "--appendonly", "no"])
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .args(["--dir", &std::env::temp_dir().to_string_lossy()])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .map_err(|e| {
                    format!(
                        "cannot run {program}: {e} (install it: apt-get install -y redis-server)"
                    )
                })?;
            let mut server = RedisServer { child, port };
            match server.wait_ready(Duration::from_secs(5)) {
                Ok(()) => return Ok(server),
                Err(e) => last = e,
            }
        }
        Err(format!("{program} did not answer PING: {last}"))
    }

    fn wait_ready(&mut self, within: Duration) -> Result<(), String> {
        let start = Instant::now();
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("exited with {status}"));
            }
            let ping = RedisStore::connect(&self.url())
                .and_then(|mut s| redis::cmd("PING").query::<String>(&mut s.0));
            match ping {
                Ok(pong) if pong == "PONG" => return Ok(()),
                Ok(other) => return Err(format!("PING answered {other:?}")),
                Err(e) if start.elapsed() > within => return Err(e.to_string()),
                Err(_) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
    }

    /// `redis://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// A new connection to it.
    pub fn connect(&self) -> RedisStore {
        RedisStore::connect(&self.url()).expect("connect to the test redis-server")
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
