//! A small WebSocket server (blocking `tungstenite`, a thread per client)
//! that answers heartbeats and tracks who is online with `Presence`.
//!
//! - WebSocket pings get pongs (tungstenite answers them while reading);
//!   the text heartbeat gets the text reply, because the article's browser
//!   client treats any inbound message as the answer ([`Responder`]).
//! - The client's id comes from the connection: the `X-Client-Id` header
//!   (a browser, which cannot set headers, offers `id.<name>` as a
//!   subprotocol), else the peer address; the token from
//!   `Authorization: Bearer …` (or an `auth.<token>` subprotocol).
//!   Never from the URL, never a client timestamp: last-seen is the
//!   server's own clock at receipt.
//! - A refused token gets HTTP 401 on the upgrade.
//! - Clients silent past the timeout are reported offline and closed.
//! - [`Server::kill`] drops every connection and the listener at once (a
//!   crash, as far as clients can tell); a new server can bind the same port.
//! - [`Server::set_silent`] freezes it (a silent proxy: sockets stay open,
//!   nothing is read or answered).
//! - (Presence across nodes is `keepalive-redis`'s, tested in `redis/`.)

use std::collections::HashMap;
use std::io;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use keepalive::{
    Clock, Inbound, Presence, PresenceConfig, PresenceUpdate, Reply, Responder, Status,
};
use tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tungstenite::http::StatusCode;
use tungstenite::{Error, Message, WebSocket};

/// How the server behaves.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// Where to listen (port 0: any free port).
    pub addr: SocketAddr,
    /// Silence after which a client is offline and its connection closed.
    pub timeout: Duration,
    /// The text heartbeat, answered with the same text.
    pub heartbeat_text: Option<String>,
    /// Bearer tokens refused with HTTP 401.
    pub refuse: Vec<String>,
}

impl ServerConfig {
    /// Loopback, any free port, 3 s timeout, the article's text heartbeat.
    pub fn loopback() -> Self {
        ServerConfig {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            timeout: Duration::from_secs(3),
            heartbeat_text: Some("心跳测试".into()),
            refuse: Vec::new(),
        }
    }
}

/// What happened on the server, for its log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ServerEvent {
    /// A client connected (`connection` counts from 1 per server).
    Connected { client: String, connection: u64 },
    /// A client's connection ended.
    Disconnected { client: String, connection: u64 },
    /// A client came online (its first check-in, or after being offline).
    Online(String),
    /// A client went offline: silent past the timeout, or it closed.
    Offline { client: String, why: &'static str },
    /// An upgrade was refused with 401.
    Refused(String),
    /// An application text message.
    Message { client: String, text: String },
}

impl std::fmt::Display for ServerEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ServerEvent::Connected { client, connection } => {
                write!(f, "{client} connected (connection {connection})")
            }
            ServerEvent::Disconnected { client, connection } => {
                write!(f, "{client} disconnected (connection {connection})")
            }
            ServerEvent::Online(client) => write!(f, "{client} is ONLINE"),
            ServerEvent::Offline { client, why } => write!(f, "{client} is OFFLINE ({why})"),
            ServerEvent::Refused(client) => write!(f, "{client} refused: HTTP 401"),
            ServerEvent::Message { client, text } => write!(f, "{client} says {text:?}"),
        }
    }
}

type Sink = Box<dyn Fn(ServerEvent) + Send + Sync>;

struct Conn {
    client: String,
    stream: TcpStream,
    kick: Arc<AtomicBool>,
}

struct Shared {
    config: ServerConfig,
    clock: Clock,
    responder: Responder,
    stop: AtomicBool,
    silent: AtomicBool,
    presence: Mutex<Presence<String>>,
    conns: Mutex<HashMap<u64, Conn>>,
    next_conn: AtomicU64,
    live: AtomicUsize,
    max_live: AtomicUsize,
    received: Mutex<Vec<(String, String)>>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    sink: Sink,
}

/// A running server. Dropping it kills it.
pub struct Server {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept: Option<JoinHandle<()>>,
    reaper: Option<JoinHandle<()>>,
}

impl Server {
    /// Binds and starts serving; `sink` receives every [`ServerEvent`].
    /// `clock` gives the log and the presence tracker their time.
    pub fn start(
        config: ServerConfig,
        clock: Clock,
        sink: impl Fn(ServerEvent) + Send + Sync + 'static,
    ) -> io::Result<Server> {
        let listener = TcpListener::bind(config.addr)?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let presence = Presence::new(PresenceConfig::new().with_timeout(config.timeout))
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
        let mut responder = Responder::new().without_pong_replies();
        if let Some(text) = &config.heartbeat_text {
            responder = responder.with_text_heartbeat(text.clone(), text.clone());
        }
        let shared = Arc::new(Shared {
            config,
            clock,
            responder,
            stop: AtomicBool::new(false),
            silent: AtomicBool::new(false),
            presence: Mutex::new(presence),
            conns: Mutex::new(HashMap::new()),
            next_conn: AtomicU64::new(1),
            live: AtomicUsize::new(0),
            max_live: AtomicUsize::new(0),
            received: Mutex::new(Vec::new()),
            threads: Mutex::new(Vec::new()),
            sink: Box::new(sink),
        });
        let accept = {
            let shared = shared.clone();
            std::thread::spawn(move || accept_loop(&shared, &listener))
        };
        let reaper = {
            let shared = shared.clone();
            std::thread::spawn(move || reaper_loop(&shared))
        };
        Ok(Server {
            addr,
            shared,
            accept: Some(accept),
            reaper: Some(reaper),
        })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// WebSocket connections open right now.
    pub fn live_connections(&self) -> usize {
        self.shared.live.load(Ordering::SeqCst)
    }

    /// The most WebSocket connections that were open at once.
    pub fn max_live_connections(&self) -> usize {
        self.shared.max_live.load(Ordering::SeqCst)
    }

    /// Ids online on this node right now.
    pub fn online(&self) -> Vec<String> {
        let presence = self.shared.presence.lock().unwrap();
        let mut ids: Vec<String> = presence.online().cloned().collect();
        ids.sort();
        ids
    }

    /// The status of `client` now.
    pub fn status(&self, client: &str) -> Status {
        let now = self.shared.clock.now();
        self.shared.presence.lock().unwrap().status(client, now)
    }

    /// Application messages received, `(client, text)`, in arrival order.
    pub fn received(&self) -> Vec<(String, String)> {
        self.shared.received.lock().unwrap().clone()
    }

    /// Freezes (or thaws) every connection: nothing is read or answered,
    /// sockets stay open, as behind a silent proxy.
    pub fn set_silent(&self, silent: bool) {
        self.shared.silent.store(silent, Ordering::SeqCst);
    }

    /// Kills the server: the listener and every connection go away at once,
    /// and every thread is joined.
    pub fn kill(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        for conn in self.shared.conns.lock().unwrap().values() {
            let _ = conn.stream.shutdown(Shutdown::Both);
        }
        for thread in [self.accept.take(), self.reaper.take()]
            .into_iter()
            .flatten()
        {
            let _ = thread.join();
        }
        let threads = std::mem::take(&mut *self.shared.threads.lock().unwrap());
        for thread in threads {
            let _ = thread.join();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn accept_loop(shared: &Arc<Shared>, listener: &TcpListener) {
    while !shared.stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((stream, peer)) => {
                let shared2 = shared.clone();
                let thread = std::thread::spawn(move || serve(&shared2, stream, peer));
                let mut threads = shared.threads.lock().unwrap();
                threads.retain(|t| !t.is_finished());
                threads.push(thread);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(5)),
        }
    }
}

/// Reports clients silent past the timeout as offline and closes them.
fn reaper_loop(shared: &Shared) {
    while !shared.stop.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(10));
        if shared.silent.load(Ordering::SeqCst) {
            continue;
        }
        let now = shared.clock.now();
        let mut expired = Vec::new();
        {
            let mut presence = shared.presence.lock().unwrap();
            while let Some(client) = presence.poll_expired(now) {
                expired.push(client);
            }
        }
        for client in expired {
            (shared.sink)(ServerEvent::Offline {
                client: client.clone(),
                why: "silent past the timeout",
            });
            for conn in shared.conns.lock().unwrap().values() {
                if conn.client == client {
                    conn.kick.store(true, Ordering::SeqCst);
                }
            }
        }
    }
}

/// Who is connecting, from the upgrade request's headers.
struct Identity {
    client: String,
    token: Option<String>,
    /// The subprotocol to echo back, if the client offered any: a browser
    /// fails the handshake unless the server picks one of them.
    protocol: Option<String>,
}

/// The client's id and token, from the upgrade request's headers: a native
/// client sends `X-Client-Id` and `Authorization: Bearer …`; a browser, which
/// cannot set headers on a WebSocket, offers them as subprotocols
/// (`id.<name>`, `auth.<token>`) beside its real one.
fn identify(request: &Request, peer: SocketAddr) -> Identity {
    let header = |name: &str| {
        request
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let offered = header("sec-websocket-protocol").unwrap_or_default();
    let offered: Vec<&str> = offered
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect();
    let tagged = |prefix: &str| {
        offered
            .iter()
            .find_map(|p| p.strip_prefix(prefix).map(str::to_owned))
    };
    let token = header("authorization")
        .and_then(|v| v.strip_prefix("Bearer ").map(str::to_owned))
        .or_else(|| tagged("auth."));
    let client = header("x-client-id")
        .or_else(|| tagged("id."))
        .unwrap_or_else(|| peer.to_string());
    let protocol = offered
        .iter()
        .find(|p| !p.starts_with("id.") && !p.starts_with("auth."))
        .or(offered.first())
        .map(|p| p.to_string());
    Identity {
        client,
        token,
        protocol,
    }
}

// tungstenite's handshake callback returns its large `ErrorResponse`.
#[allow(clippy::result_large_err)]
fn serve(shared: &Shared, stream: TcpStream, peer: SocketAddr) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(2)));
    let Ok(clone) = stream.try_clone() else {
        return;
    };
    let mut who = (String::new(), false);
    let accepted = tungstenite::accept_hdr(stream, |request: &Request, mut response: Response| {
        let Identity {
            client,
            token,
            protocol,
        } = identify(request, peer);
        let refused = token.is_some_and(|t| shared.config.refuse.contains(&t));
        who = (client, refused);
        if refused {
            let mut denied = ErrorResponse::new(Some("unauthorized".into()));
            *denied.status_mut() = StatusCode::UNAUTHORIZED;
            return Err(denied);
        }
        if let Some(value) = protocol.and_then(|p| p.parse().ok()) {
            response
                .headers_mut()
                .insert("sec-websocket-protocol", value);
        }
        Ok(response)
    });
    let accepted = accepted.ok();
    let (client, refused) = who;
    if refused {
        (shared.sink)(ServerEvent::Refused(client));
        return;
    }
    let Some(mut ws) = accepted else { return };
    let _ = ws
        .get_ref()
        .set_read_timeout(Some(Duration::from_millis(20)));

    let connection = shared.next_conn.fetch_add(1, Ordering::SeqCst);
    let kick = Arc::new(AtomicBool::new(false));
    shared.conns.lock().unwrap().insert(
        connection,
        Conn {
            client: client.clone(),
            stream: clone,
            kick: kick.clone(),
        },
    );
    let live = shared.live.fetch_add(1, Ordering::SeqCst) + 1;
    shared.max_live.fetch_max(live, Ordering::SeqCst);
    (shared.sink)(ServerEvent::Connected {
        client: client.clone(),
        connection,
    });
    check_in(shared, &client);
    session(shared, &mut ws, &client, &kick);
    shared.conns.lock().unwrap().remove(&connection);
    shared.live.fetch_sub(1, Ordering::SeqCst);
    (shared.sink)(ServerEvent::Disconnected { client, connection });
}

fn check_in(shared: &Shared, client: &str) {
    let change = shared
        .presence
        .lock()
        .unwrap()
        .check_in(client, shared.clock.now());
    if change.is_ok_and(|c| c.came_online()) {
        (shared.sink)(ServerEvent::Online(client.to_owned()));
    }
}

/// The client closed this connection: offline, unless it has another one
/// (a reconnect that overtook the old connection's close).
fn check_out(shared: &Shared, client: &str) {
    let connections = shared
        .conns
        .lock()
        .unwrap()
        .values()
        .filter(|conn| conn.client == client)
        .count();
    if connections > 1 {
        return;
    }
    let was = shared
        .presence
        .lock()
        .unwrap()
        .check_out(client, shared.clock.now());
    if was.is_online() {
        (shared.sink)(ServerEvent::Offline {
            client: client.to_owned(),
            why: "closed",
        });
    }
}

/// Reads frames until the connection ends.
fn session(shared: &Shared, ws: &mut WebSocket<TcpStream>, client: &str, kick: &AtomicBool) {
    let mut closing = None;
    while !shared.stop.load(Ordering::SeqCst) {
        if shared.silent.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(10));
            continue;
        }
        match closing {
            None if kick.load(Ordering::SeqCst) => {
                closing = Some(std::time::Instant::now());
                let _ = ws.close(None);
            }
            // The client never answered our close: drop it.
            Some(since) if since.elapsed() > Duration::from_secs(1) => return,
            _ => {}
        }
        let message = match ws.read() {
            Ok(message) => message,
            Err(Error::Io(e))
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                continue;
            }
            Err(_) => return,
        };
        let inbound = match &message {
            Message::Text(text) => Inbound::Text(text.as_str()),
            Message::Binary(bytes) => Inbound::Binary(bytes),
            Message::Ping(payload) => Inbound::Ping(payload),
            Message::Pong(payload) => Inbound::Pong(payload),
            Message::Close(_) => Inbound::Close,
            Message::Frame(_) => continue,
        };
        let response = shared.responder.respond(inbound);
        match response.update {
            PresenceUpdate::CheckIn => check_in(shared, client),
            PresenceUpdate::CheckOut => check_out(shared, client),
        }
        if let Some(Reply::Text(reply)) = response.reply {
            let _ = ws.send(Message::text(reply));
        }
        if let (Message::Text(text), false) = (&message, response.heartbeat) {
            let text = text.as_str().to_owned();
            shared
                .received
                .lock()
                .unwrap()
                .push((client.to_owned(), text.clone()));
            (shared.sink)(ServerEvent::Message {
                client: client.to_owned(),
                text: text.clone(),
            });
            let _ = ws.send(Message::text(format!("echo {text}")));
        }
    }
}
