//! Client transports for the adapters: blocking `tungstenite`, and async
//! `tungstenite` on smol's reactor with its few-line `Sleep`. (On tokio,
//! `keepalive-tokio` is the transport: nothing to copy.)
//!
//! The client's id and token travel in headers (`X-Client-Id`,
//! `Authorization: Bearer`), never in the URL.

use std::io;
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use keepalive::adapter::{ConnectError, Message, Recv, asynchronous, blocking};
use keepalive::{Clock, Instant};
use tungstenite::client::IntoClientRequest;
use tungstenite::http::{Request, StatusCode};
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::{Error, HandshakeError, WebSocket};

/// Who connects where.
#[derive(Clone, Debug)]
pub struct Endpoint {
    pub addr: SocketAddr,
    pub client_id: String,
    pub token: Option<String>,
    /// Sockets of this endpoint open right now (to prove none leak).
    pub open: Arc<AtomicUsize>,
    /// The most sockets of this endpoint ever open at once.
    pub max_open: Arc<AtomicUsize>,
    /// Connect attempts.
    pub connects: Arc<AtomicUsize>,
}

impl Endpoint {
    pub fn new(addr: SocketAddr, client_id: &str) -> Self {
        Endpoint {
            addr,
            client_id: client_id.into(),
            token: None,
            open: Arc::new(AtomicUsize::new(0)),
            max_open: Arc::new(AtomicUsize::new(0)),
            connects: Arc::new(AtomicUsize::new(0)),
        }
    }

    pub fn with_token(mut self, token: &str) -> Self {
        self.token = Some(token.into());
        self
    }

    /// The upgrade request: identity in headers only.
    fn request(&self) -> Result<Request<()>, Error> {
        let mut request = format!("ws://{}/ws", self.addr).into_client_request()?;
        let headers = request.headers_mut();
        let value = |s: String| {
            s.parse()
                .map_err(|_| Error::Url(tungstenite::error::UrlError::EmptyHostName))
        };
        headers.insert("x-client-id", value(self.client_id.clone())?);
        if let Some(token) = &self.token {
            headers.insert("authorization", value(format!("Bearer {token}"))?);
        }
        Ok(request)
    }

    fn counted<S>(&self, socket: S) -> Counted<S> {
        let open = self.open.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_open.fetch_max(open, Ordering::SeqCst);
        Counted {
            socket,
            open: self.open.clone(),
        }
    }
}

/// A socket that counts itself open until dropped.
pub struct Counted<S> {
    pub socket: S,
    open: Arc<AtomicUsize>,
}

impl<S> Drop for Counted<S> {
    fn drop(&mut self) {
        self.open.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A refused upgrade (401/403) is final; anything else is retried.
fn classify(error: Error) -> ConnectError<Error> {
    match &error {
        Error::Http(response)
            if matches!(
                response.status(),
                StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN
            ) =>
        {
            ConnectError::Rejected(error)
        }
        _ => ConnectError::Failed(error),
    }
}

fn outgoing(message: &Message) -> tungstenite::Message {
    match message {
        Message::Text(text) => tungstenite::Message::text(text.as_str()),
        Message::Binary(bytes) => tungstenite::Message::binary(bytes.clone()),
    }
}

/// Maps what tungstenite read (or failed to read) onto [`Recv`].
fn incoming(read: Result<tungstenite::Message, Error>) -> Recv<Error> {
    match read {
        Ok(tungstenite::Message::Text(text)) => Recv::Message(Message::text(text.as_str())),
        Ok(tungstenite::Message::Binary(bytes)) => Recv::Message(Message::Binary(bytes.to_vec())),
        Ok(tungstenite::Message::Pong(_)) => Recv::Pong,
        Ok(tungstenite::Message::Close(Some(frame))) if frame.code == CloseCode::Policy => {
            Recv::Rejected
        }
        // A ping (tungstenite queues the pong), the peer's close frame
        // (tungstenite answers it; `ConnectionClosed` follows), a raw frame.
        Ok(_) => Recv::Data,
        Err(Error::Io(e))
            if matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
            ) =>
        {
            Recv::Timeout
        }
        Err(Error::ConnectionClosed | Error::AlreadyClosed) => Recv::Closed,
        Err(Error::Protocol(tungstenite::error::ProtocolError::ResetWithoutClosingHandshake)) => {
            Recv::Closed
        }
        Err(Error::Io(e))
            if matches!(
                e.kind(),
                io::ErrorKind::ConnectionReset
                    | io::ErrorKind::ConnectionAborted
                    | io::ErrorKind::BrokenPipe
                    | io::ErrorKind::UnexpectedEof
            ) =>
        {
            Recv::Closed
        }
        Err(e) => Recv::Error(e),
    }
}

// ----- blocking: tungstenite over std::net::TcpStream -----

/// [`blocking::Transport`] over `tungstenite` and a `TcpStream`.
pub struct BlockingWs(pub Endpoint);

impl blocking::Transport for BlockingWs {
    type Socket = Counted<WebSocket<TcpStream>>;
    type Error = Error;

    fn connect(&mut self, timeout: Duration) -> Result<Self::Socket, ConnectError<Error>> {
        self.0.connects.fetch_add(1, Ordering::SeqCst);
        let timeout = timeout.max(Duration::from_millis(1));
        let tcp = TcpStream::connect_timeout(&self.0.addr, timeout)
            .map_err(|e| ConnectError::Failed(e.into()))?;
        let io = |e: io::Error| ConnectError::Failed(Error::Io(e));
        tcp.set_read_timeout(Some(timeout)).map_err(io)?;
        tcp.set_write_timeout(Some(Duration::from_secs(2)))
            .map_err(io)?;
        tcp.set_nodelay(true).map_err(io)?;
        let request = self.0.request().map_err(ConnectError::Failed)?;
        match tungstenite::client(request, tcp) {
            Ok((ws, _)) => Ok(self.0.counted(ws)),
            Err(HandshakeError::Failure(e)) => Err(classify(e)),
            Err(HandshakeError::Interrupted(_)) => Err(ConnectError::Failed(Error::Io(
                io::ErrorKind::TimedOut.into(),
            ))),
        }
    }

    fn ping(&mut self, ws: &mut Self::Socket) -> Result<(), Error> {
        ws.socket
            .send(tungstenite::Message::Ping(Default::default()))
    }

    fn send(&mut self, ws: &mut Self::Socket, message: &Message) -> Result<(), Error> {
        ws.socket.send(outgoing(message))
    }

    fn close(&mut self, ws: &mut Self::Socket) -> Result<(), Error> {
        ws.socket.close(None)
    }

    fn recv(&mut self, ws: &mut Self::Socket, timeout: Duration) -> Recv<Error> {
        let timeout = timeout.max(Duration::from_millis(1));
        if let Err(e) = ws.socket.get_mut().set_read_timeout(Some(timeout)) {
            return Recv::Error(e.into());
        }
        incoming(ws.socket.read())
    }
}

// ----- smol: tungstenite on a non-blocking socket, driven by async-io -----

/// The smol timer, read through a [`Clock`].
pub struct SmolSleep(pub Clock);

impl asynchronous::Sleep for SmolSleep {
    fn now(&self) -> Instant {
        self.0.now()
    }

    async fn sleep_until(&self, deadline: Instant) {
        smol::Timer::at(self.0.to_std(deadline)).await;
    }
}

/// A tungstenite socket over a non-blocking `TcpStream` registered with
/// smol's reactor: tungstenite keeps its own state across `WouldBlock`, so
/// waiting for readiness and retrying is all it takes.
pub struct SmolSocket {
    ws: WebSocket<TcpStream>,
    io: smol::Async<TcpStream>,
}

fn would_block(e: &Error) -> bool {
    matches!(e, Error::Io(e) if e.kind() == io::ErrorKind::WouldBlock)
}

impl SmolSocket {
    async fn write(&mut self, message: tungstenite::Message) -> Result<(), Error> {
        match self.ws.write(message) {
            Ok(()) => {}
            Err(e) if would_block(&e) => {}
            Err(e) => return Err(e),
        }
        self.flush().await
    }

    async fn flush(&mut self) -> Result<(), Error> {
        loop {
            match self.ws.flush() {
                Err(e) if would_block(&e) => self.io.writable().await?,
                done => return done,
            }
        }
    }
}

/// [`asynchronous::Transport`] over `tungstenite` on smol's reactor.
pub struct SmolWs(pub Endpoint);

impl asynchronous::Transport for SmolWs {
    type Socket = Counted<SmolSocket>;
    type Error = Error;

    async fn connect(&mut self) -> Result<Self::Socket, ConnectError<Error>> {
        self.0.connects.fetch_add(1, Ordering::SeqCst);
        let io = smol::Async::<TcpStream>::connect(self.0.addr)
            .await
            .map_err(|e| ConnectError::Failed(e.into()))?;
        let _ = io.get_ref().set_nodelay(true);
        // The same non-blocking socket, for tungstenite to read and write.
        let tcp = io
            .get_ref()
            .try_clone()
            .map_err(|e| ConnectError::Failed(e.into()))?;
        let request = self.0.request().map_err(ConnectError::Failed)?;
        let mut handshake = tungstenite::client(request, tcp);
        loop {
            match handshake {
                Ok((ws, _)) => return Ok(self.0.counted(SmolSocket { ws, io })),
                Err(HandshakeError::Failure(e)) => return Err(classify(e)),
                Err(HandshakeError::Interrupted(mid)) => {
                    io.readable()
                        .await
                        .map_err(|e| ConnectError::Failed(e.into()))?;
                    handshake = mid.handshake();
                }
            }
        }
    }

    async fn ping(&mut self, s: &mut Self::Socket) -> Result<(), Error> {
        s.socket
            .write(tungstenite::Message::Ping(Default::default()))
            .await
    }

    async fn send(&mut self, s: &mut Self::Socket, message: &Message) -> Result<(), Error> {
        s.socket.write(outgoing(message)).await
    }

    async fn close(&mut self, s: &mut Self::Socket) -> Result<(), Error> {
        match s.socket.ws.close(None) {
            Err(e) if !would_block(&e) => return Err(e),
            _ => {}
        }
        s.socket.flush().await
    }

    async fn recv(&mut self, s: &mut Self::Socket) -> Recv<Error> {
        // Cancel-safe: tungstenite keeps partial frames; only the readiness
        // wait is dropped.
        loop {
            match s.socket.ws.read() {
                Err(e) if would_block(&e) => {
                    // Pongs to the peer's pings may be queued: push them out.
                    let _ = s.socket.ws.flush();
                    if let Err(e) = s.socket.io.readable().await {
                        return Recv::Error(e.into());
                    }
                }
                read => return incoming(read),
            }
        }
    }
}
