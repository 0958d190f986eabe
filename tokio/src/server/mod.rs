//! The server: every accepted WebSocket runs under one [`Sessions`]
//! machine, with one shared timer for all of them.
//!
//! Like quinn over quinn-proto, the machine decides and this shell moves
//! bytes: each connection's task reads its socket and reports frames to
//! the machine (one mutex, two writes per frame); one driver task sleeps
//! until the machine's [`poll_timeout`](Sessions::poll_timeout) and carries
//! out what it polls (ping, close, abort a connection; publish a client
//! going online or offline). No `Sleep` per connection, no sweep.

pub(crate) mod admit;
mod config;
mod conn;
mod driver;
mod link;

use std::collections::HashMap;
use std::fmt;
use std::hash::Hash;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use keepalive::adapter::Message;
use keepalive::{
    ClientStatus, Clock, ConnId, OfflineReason, Responder, Sessions, SessionsConfigError,
};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::{Notify, broadcast, watch};
use tokio_tungstenite::tungstenite::http::HeaderMap;

pub use admit::{AcceptError, Refusal, subprotocol};
pub use config::ServerConfig;

use crate::close::SERVICE_RESTART;
use crate::socket::Outbound;
use link::{Link, Refused};

/// A presence change, from [`Server::changes`].
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum PresenceChange<K> {
    /// The client's first live connection opened.
    Online(K),
    /// The client's last live connection went away (and `linger` passed).
    Offline(K, OfflineReason),
}

/// An application message a client sent, for the handler given to
/// [`Builder::on_message`]. Reply with [`Server::send`] to `conn`.
#[derive(Debug)]
pub struct Incoming<'a, K> {
    /// The connection it came on.
    pub conn: ConnId,
    /// The client, as identified at the upgrade.
    pub client: &'a K,
    /// The message.
    pub message: Message,
}

/// Why [`Server::send`] did not queue a message; the message is handed back.
#[derive(Debug, PartialEq, Eq)]
pub enum SendError {
    /// The connection has ended (or never existed).
    Gone(Message),
    /// The connection's outbound queue was full: the client does not read,
    /// so the connection was dropped.
    SlowConsumer(Message),
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SendError::Gone(_) => "the connection has ended",
            SendError::SlowConsumer(_) => "the client does not read: connection dropped",
        })
    }
}

impl std::error::Error for SendError {}

/// Why a server could not be built.
#[derive(Debug)]
#[non_exhaustive]
pub enum BuildError {
    /// The machine's settings are invalid.
    Config(SessionsConfigError),
    /// Not called from within a tokio runtime (the driver task is spawned).
    NoRuntime,
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildError::Config(e) => write!(f, "invalid server config: {e}"),
            BuildError::NoRuntime => f.write_str("must be built from within a tokio runtime"),
        }
    }
}

impl std::error::Error for BuildError {}

type Identify<K> = dyn Fn(&HeaderMap) -> Result<K, Refusal> + Send + Sync;
type OnMessage<K> = dyn Fn(Incoming<'_, K>) + Send + Sync;

/// Builds a [`Server`]: [`Server::builder`].
pub struct Builder<K> {
    pub(crate) config: ServerConfig,
    identify: Box<Identify<K>>,
    on_message: Box<OnMessage<K>>,
}

impl<K: Hash + Eq + Clone + Send + Sync + 'static> Builder<K> {
    /// The server's settings.
    pub fn config(mut self, config: ServerConfig) -> Self {
        self.config = config;
        self
    }

    /// Called with every application message (never heartbeats), on the
    /// connection's task: keep it short, and hand long work to a channel
    /// or a task of your own. By default messages are dropped.
    pub fn on_message(mut self, handler: impl Fn(Incoming<'_, K>) + Send + Sync + 'static) -> Self {
        self.on_message = Box::new(handler);
        self
    }

    /// Starts the server's driver task; connections come through
    /// [`Server::listen`], [`Server::accept`] or (feature `axum`)
    /// `Server::upgrade`.
    ///
    /// # Errors
    ///
    /// [`BuildError::Config`] for invalid machine settings,
    /// [`BuildError::NoRuntime`] outside a tokio runtime.
    pub fn build(self) -> Result<Server<K>, BuildError> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| BuildError::NoRuntime)?;
        let sessions = Sessions::new(*self.config.sessions()).map_err(BuildError::Config)?;
        let mut responder = Responder::new().without_pong_replies();
        if let Some((request, reply)) = self.config.text_heartbeat() {
            responder = responder.with_text_heartbeat(request.to_owned(), reply.to_owned());
        }
        let (changes, _) = broadcast::channel(self.config.change_buffer());
        let shared = Arc::new(Shared {
            inner: Mutex::new(Inner {
                sessions,
                peers: HashMap::new(),
                rng: admit::seed(),
            }),
            clock: Clock::new(),
            config: self.config,
            responder,
            identify: self.identify,
            on_message: self.on_message,
            changes,
            wake: Arc::new(Notify::new()),
            live: watch::Sender::new(0),
            stopping: watch::Sender::new(false),
        });
        runtime.spawn(driver::run(Arc::downgrade(&shared), shared.wake.clone()));
        Ok(Server { shared })
    }
}

/// A kept-alive WebSocket server: cheap to clone, every clone the same
/// server.
///
/// ```no_run
/// use keepalive::ServerHeartbeat;
/// use keepalive_tokio::server::{Refusal, Server, ServerConfig};
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let server = Server::builder(|headers| {
///     // Who is it? From a header (browsers: a subprotocol), never the URL.
///     let id = headers.get("x-client-id").and_then(|v| v.to_str().ok());
///     id.map(str::to_owned).ok_or(Refusal::Unauthorized)
/// })
/// .config(ServerConfig::default().with_heartbeat(ServerHeartbeat::socket_io()))
/// .on_message(|m| println!("{} says {:?}", m.client, m.message))
/// .build()?;
/// let mut changes = server.changes();
/// tokio::spawn(async move {
///     while let Ok(change) = changes.recv().await {
///         println!("{change:?}"); // Online("alice"), Offline("alice", Silent)
///     }
/// });
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:9001").await?;
/// server.listen(listener).await;
/// # Ok(()) }
/// ```
pub struct Server<K> {
    pub(crate) shared: Arc<Shared<K>>,
}

impl<K> Clone for Server<K> {
    fn clone(&self) -> Self {
        Server {
            shared: self.shared.clone(),
        }
    }
}

impl<K> fmt::Debug for Server<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("connections", &*self.shared.live.borrow())
            .finish_non_exhaustive()
    }
}

pub(crate) struct Shared<K> {
    inner: Mutex<Inner<K>>,
    clock: Clock,
    pub(crate) config: ServerConfig,
    responder: Responder,
    identify: Box<Identify<K>>,
    on_message: Box<OnMessage<K>>,
    changes: broadcast::Sender<PresenceChange<K>>,
    /// Wakes the driver: a connection opened or ended.
    wake: Arc<Notify>,
    /// Live connections (for shutdown to wait on).
    live: watch::Sender<usize>,
    /// Set by shutdown: refuse upgrades, stop listening.
    stopping: watch::Sender<bool>,
}

pub(crate) struct Inner<K> {
    sessions: Sessions<K>,
    /// Each live connection's queue and kill switch.
    peers: HashMap<ConnId, Arc<Link>>,
    rng: u64,
}

impl<K> Drop for Shared<K> {
    fn drop(&mut self) {
        // The driver holds only a weak reference: let it see we are gone.
        self.wake.notify_one();
    }
}

impl<K> Shared<K> {
    fn lock(&self) -> MutexGuard<'_, Inner<K>> {
        // Nothing panics while holding the lock; recover anyway.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl<K: Hash + Eq + Clone + Send + Sync + 'static> Server<K> {
    /// A server that identifies clients with `identify`, called with the
    /// upgrade request's headers: return the client's id, or refuse with
    /// HTTP 401/403. Browsers cannot set headers: their credentials come
    /// as a subprotocol (`Sec-WebSocket-Protocol: auth.<token>`), which the
    /// server echoes back as browsers require. Never read tokens from the
    /// URL: URLs end up in logs.
    pub fn builder(
        identify: impl Fn(&HeaderMap) -> Result<K, Refusal> + Send + Sync + 'static,
    ) -> Builder<K> {
        Builder {
            config: ServerConfig::default(),
            identify: Box::new(identify),
            on_message: Box::new(|_| {}),
        }
    }

    /// Accepts connections from `listener` until [`shutdown`](Self::shutdown),
    /// each on its own task. Accept errors (such as running out of file
    /// descriptors) pause accepting for 50 ms instead of spinning.
    pub async fn listen(&self, listener: TcpListener) {
        let mut stopping = self.shared.stopping.subscribe();
        let mut stopped = std::pin::pin!(async move {
            let _stop = stopping.wait_for(|stop| *stop).await.is_ok();
        });
        loop {
            tokio::select! {
                () = &mut stopped => return,
                accepted = listener.accept() => match accepted {
                    Ok((stream, _peer)) => {
                        let _ = stream.set_nodelay(true);
                        let server = self.clone();
                        tokio::spawn(async move { server.accept(stream).await });
                    }
                    Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
                },
            }
        }
    }

    /// Upgrades `stream` with tokio-tungstenite and serves it until it ends.
    /// The upgrade is refused (with 401/403 from `identify`, or 503/429 and
    /// a jittered `Retry-After` when full or shutting down) before any
    /// WebSocket exists.
    ///
    /// # Errors
    ///
    /// The upgrade failed or was refused; the reason is in the error.
    pub async fn accept<S>(&self, stream: S) -> Result<(), AcceptError>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let (socket, id) = admit::handshake(&self.shared, stream).await?;
        self.serve(socket, id).await
    }

    /// Serves an upgraded socket of client `id` until it ends.
    pub(crate) async fn serve(
        &self,
        socket: impl crate::socket::Socket,
        id: K,
    ) -> Result<(), AcceptError> {
        conn::serve(&self.shared, socket, id).await
    }

    /// Queues `message` for connection `conn`.
    ///
    /// # Errors
    ///
    /// The message is handed back: [`SendError::Gone`] if the connection
    /// has ended, [`SendError::SlowConsumer`] if its queue was full (the
    /// connection is dropped: a client that does not read is not buffered
    /// for without limit).
    pub fn send(&self, conn: ConnId, message: impl Into<Message>) -> Result<(), SendError> {
        let message = message.into();
        let inner = self.shared.lock();
        let Some(peer) = inner.peers.get(&conn) else {
            return Err(SendError::Gone(message));
        };
        match peer.push(Outbound::Message(message)) {
            Ok(()) => Ok(()),
            Err(Refused::Full(Outbound::Message(message))) => Err(SendError::SlowConsumer(message)),
            Err(Refused::Gone(Outbound::Message(message))) => Err(SendError::Gone(message)),
            Err(_) => Ok(()), // we pushed a message: it is what comes back
        }
    }

    /// Closes connection `conn` with `code` and `reason` (for example 1008
    /// when its token was revoked: our clients give up). Returns whether it
    /// was live. If the close does not complete within the close timeout,
    /// the connection is dropped.
    pub fn close(
        &self,
        conn: ConnId,
        code: u16,
        reason: impl Into<std::borrow::Cow<'static, str>>,
    ) -> bool {
        let now = self.shared.clock.now();
        let mut inner = self.shared.lock();
        if !inner.sessions.close(conn, now) {
            return false;
        }
        if let Some(peer) = inner.peers.get(&conn) {
            let _ = peer.push(Outbound::Close(code, reason.into()));
        }
        drop(inner);
        self.shared.wake.notify_one();
        true
    }

    /// A stream of clients coming online and going offline, across all
    /// their connections: a client with two tabs goes offline when the
    /// second closes, not the first. Each subscriber sees every change from
    /// now on, in order, unless it falls more than the change buffer behind
    /// ([`broadcast::error::RecvError::Lagged`] says how many it missed).
    pub fn changes(&self) -> broadcast::Receiver<PresenceChange<K>> {
        self.shared.changes.subscribe()
    }

    /// A client's presence. Clients not connected since this server started
    /// are [`ClientStatus::Unknown`], never offline.
    pub fn status(&self, id: &K) -> ClientStatus {
        self.shared.lock().sessions.status(id)
    }

    /// The live connections of client `id`.
    pub fn connections_of(&self, id: &K) -> usize {
        self.shared.lock().sessions.connections(id)
    }

    /// Clients online now.
    pub fn online_count(&self) -> usize {
        self.shared.lock().sessions.online_count()
    }

    /// The clients online now, in no particular order. O(clients held):
    /// for dashboards and tests; follow [`changes`](Self::changes) instead
    /// of polling this.
    pub fn online(&self) -> Vec<K> {
        self.shared.lock().sessions.online().cloned().collect()
    }

    /// Connections open now.
    pub fn connection_count(&self) -> usize {
        *self.shared.live.borrow()
    }

    /// The smoothed ping round-trip time of connection `conn` (ping mode).
    pub fn rtt(&self, conn: ConnId) -> Option<Duration> {
        self.shared.lock().sessions.rtt(conn)
    }

    /// The clock the server reads (`Instant`s in [`ClientStatus`] count
    /// from its epoch).
    pub fn clock(&self) -> Clock {
        self.shared.clock
    }

    /// Shuts down gracefully: stops listening, refuses new upgrades (503),
    /// closes every connection with 1012 (Service Restart: our clients come
    /// back after their jittered backoff, spread out), and returns once all
    /// have ended; a connection whose close does not complete within the
    /// close timeout is dropped.
    pub async fn shutdown(&self) {
        self.shared.stopping.send_replace(true);
        let now = self.shared.clock.now();
        {
            let mut inner = self.shared.lock();
            let Inner {
                sessions, peers, ..
            } = &mut *inner;
            for (&conn, peer) in peers.iter() {
                sessions.close(conn, now);
                let _ = peer.push(Outbound::Close(SERVICE_RESTART, "service restart".into()));
            }
        }
        self.shared.wake.notify_one();
        let mut live = self.shared.live.subscribe();
        let _ = live.wait_for(|n| *n == 0).await;
    }
}
