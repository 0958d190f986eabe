//! The blocking driver: one thread, a blocking transport, no runtime.
//!
//! Implement [`Transport`] for your socket and call [`Client::run`] on a
//! thread of its own (or [`Client::spawn`]). The loop sleeps exactly until
//! the connection's next deadline — by receiving with that timeout while a
//! transport is open, by parking the thread between transports — and wakes
//! early for the [`Handle`].
//!
//! # Example: `tungstenite` over `TcpStream`
//!
//! The identity travels in a header, never in the URL.
//!
//! ```no_run
//! use std::net::TcpStream;
//! use std::time::Duration;
//! use keepalive::adapter::blocking::{Client, Transport};
//! use keepalive::adapter::{ConnectError, Message, Notice, Options, Recv};
//! use tungstenite::{client::IntoClientRequest, http::StatusCode, Error, WebSocket};
//!
//! struct Ws { addr: std::net::SocketAddr, token: String }
//!
//! impl Transport for Ws {
//!     type Socket = WebSocket<TcpStream>;
//!     type Error = Error;
//!
//!     fn connect(&mut self, timeout: Duration) -> Result<Self::Socket, ConnectError<Error>> {
//!         let timeout = timeout.max(Duration::from_millis(1));
//!         let tcp = TcpStream::connect_timeout(&self.addr, timeout)
//!             .map_err(|e| ConnectError::Failed(e.into()))?;
//!         tcp.set_read_timeout(Some(timeout)).map_err(|e| ConnectError::Failed(e.into()))?;
//!         tcp.set_write_timeout(Some(Duration::from_secs(5))).map_err(|e| ConnectError::Failed(e.into()))?;
//!         let mut request = format!("ws://{}/", self.addr).into_client_request()
//!             .map_err(ConnectError::Failed)?;
//!         let bearer = format!("Bearer {}", self.token).parse().expect("header value");
//!         request.headers_mut().insert("authorization", bearer);
//!         match tungstenite::client(request, tcp) {
//!             Ok((ws, _response)) => Ok(ws),
//!             Err(tungstenite::HandshakeError::Failure(Error::Http(response)))
//!                 if response.status() == StatusCode::UNAUTHORIZED =>
//!             {
//!                 Err(ConnectError::Rejected(Error::Http(response)))
//!             }
//!             Err(tungstenite::HandshakeError::Failure(e)) => Err(ConnectError::Failed(e)),
//!             Err(tungstenite::HandshakeError::Interrupted(_)) => {
//!                 Err(ConnectError::Failed(Error::ConnectionClosed))
//!             }
//!         }
//!     }
//!     fn ping(&mut self, ws: &mut Self::Socket) -> Result<(), Error> {
//!         ws.send(tungstenite::Message::Ping(Default::default()))
//!     }
//!     fn send(&mut self, ws: &mut Self::Socket, message: &Message) -> Result<(), Error> {
//!         ws.send(match message {
//!             Message::Text(text) => tungstenite::Message::text(text.as_str()),
//!             Message::Binary(bytes) => tungstenite::Message::binary(bytes.clone()),
//!         })
//!     }
//!     fn close(&mut self, ws: &mut Self::Socket) -> Result<(), Error> {
//!         ws.close(None)
//!     }
//!     fn recv(&mut self, ws: &mut Self::Socket, timeout: Duration) -> Recv<Error> {
//!         let timeout = timeout.max(Duration::from_millis(1));
//!         if let Err(e) = ws.get_mut().set_read_timeout(Some(timeout)) {
//!             return Recv::Error(e.into());
//!         }
//!         match ws.read() {
//!             Ok(tungstenite::Message::Text(text)) => Recv::Message(Message::text(text.as_str())),
//!             Ok(tungstenite::Message::Binary(bytes)) => Recv::Message(Message::Binary(bytes.to_vec())),
//!             Ok(tungstenite::Message::Pong(_)) => Recv::Pong,
//!             Ok(_) => Recv::Data, // a ping (answered by tungstenite) or the peer's close frame
//!             Err(Error::Io(e)) if matches!(e.kind(),
//!                 std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => Recv::Timeout,
//!             Err(Error::ConnectionClosed | Error::AlreadyClosed) => Recv::Closed,
//!             Err(e) => Recv::Error(e),
//!         }
//!     }
//! }
//!
//! let config = keepalive::Config::default().with_heartbeat_interval(Duration::from_secs(25));
//! let ws = Ws { addr: "127.0.0.1:9001".parse()?, token: "secret".into() };
//! let client = Client::new(config, Options::default(), ws)?;
//! let handle = client.handle();
//! let thread = client.spawn(|notice: Notice<Error>| println!("{notice}"));
//! handle.send("hello")?;        // queued until connected, then sent in order
//! handle.close();               // from any thread: the loop closes and returns
//! let outcome = thread.join().expect("the run loop does not panic");
//! println!("{:?}, {} unsent", outcome.exit, outcome.unsent.len());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use core::time::Duration;

use super::driver::{Driver, Step};
use super::{ConnectError, Handle, Message, Notice, Options, Outcome, Recv};
use crate::config::{Config, ConfigError};
use crate::event::TransportId;
use crate::time::{Clock, Instant};

/// A blocking transport: opens sockets and does I/O on them.
///
/// The driver calls it from its run loop only, one socket at a time. Every
/// call must return within a bounded time: `connect` and `recv` within the
/// timeout they are given, `ping`, `send` and `close` within a write
/// timeout of your choice (set one on the socket).
pub trait Transport {
    /// One open connection (for example `tungstenite::WebSocket<TcpStream>`).
    /// Dropping it must release the connection.
    type Socket;
    /// The transport's error, reported in [`Notice::Error`].
    type Error;

    /// Opens a connection within `timeout` (the connect timeout).
    ///
    /// # Errors
    ///
    /// [`ConnectError::Failed`] to be retried after a backoff;
    /// [`ConnectError::Rejected`] when the peer refused us for good (HTTP
    /// 401 on the upgrade), which stops the driver.
    fn connect(&mut self, timeout: Duration) -> Result<Self::Socket, ConnectError<Self::Error>>;

    /// Sends a ping ([`Heartbeat::Ping`](super::Heartbeat::Ping)); report
    /// its reply as [`Recv::Pong`].
    ///
    /// # Errors
    ///
    /// Any write failure: the driver closes the socket and reconnects.
    fn ping(&mut self, socket: &mut Self::Socket) -> Result<(), Self::Error>;

    /// Sends an application message (or a text heartbeat).
    ///
    /// # Errors
    ///
    /// Any write failure: the message goes back to the head of the queue
    /// and the driver reconnects.
    fn send(&mut self, socket: &mut Self::Socket, message: &Message) -> Result<(), Self::Error>;

    /// Starts a graceful close (a WebSocket close frame). The driver keeps
    /// receiving until [`Recv::Closed`], and drops the socket if that takes
    /// longer than the close timeout.
    ///
    /// # Errors
    ///
    /// The socket is treated as ended and dropped.
    fn close(&mut self, socket: &mut Self::Socket) -> Result<(), Self::Error>;

    /// Waits up to `timeout` for something to arrive; [`Recv::Timeout`] if
    /// nothing did (returning it early is harmless).
    fn recv(&mut self, socket: &mut Self::Socket, timeout: Duration) -> Recv<Self::Error>;
}

/// The blocking driver's clock: what time it is, and how to wait while no
/// transport is open. Replace [`StdTimer`] to run the loop in virtual time.
pub trait Timer {
    /// The current time.
    fn now(&self) -> Instant;

    /// Blocks until `deadline`. Returning earlier is harmless (the loop
    /// checks the time and sleeps again); [`StdTimer`] returns early when
    /// the [`Handle`] is used.
    fn sleep_until(&mut self, deadline: Instant);
}

/// Real time: a [`Clock`] and [`std::thread::park_timeout`], so that
/// [`Handle::close`] ends a backoff wait at once.
#[derive(Clone, Copy, Debug, Default)]
pub struct StdTimer {
    clock: Clock,
}

impl StdTimer {
    /// A timer whose epoch is now.
    pub fn new() -> Self {
        StdTimer::with_clock(Clock::new())
    }

    /// A timer that reads `clock` (to share an epoch with your own logs).
    pub fn with_clock(clock: Clock) -> Self {
        StdTimer { clock }
    }

    /// The clock it reads.
    pub fn clock(&self) -> Clock {
        self.clock
    }
}

impl Timer for StdTimer {
    fn now(&self) -> Instant {
        self.clock.now()
    }

    fn sleep_until(&mut self, deadline: Instant) {
        let wait = deadline.saturating_duration_since(self.now());
        if !wait.is_zero() {
            std::thread::park_timeout(wait);
        }
    }
}

/// A kept-alive connection over a blocking [`Transport`]: build it, take a
/// [`Handle`], then [`run`](Client::run) it.
#[derive(Debug)]
pub struct Client<T: Transport, C = StdTimer> {
    transport: T,
    timer: C,
    read_slice: Duration,
    driver: Driver<T::Error>,
}

impl<T: Transport> Client<T> {
    /// A client in real time.
    ///
    /// # Errors
    ///
    /// The first problem with `config`.
    pub fn new(config: Config, options: Options, transport: T) -> Result<Self, ConfigError> {
        Client::with_timer(config, options, transport, StdTimer::new())
    }
}

impl<T: Transport, C: Timer> Client<T, C> {
    /// A client whose time comes from `timer`.
    ///
    /// # Errors
    ///
    /// The first problem with `config`.
    pub fn with_timer(
        config: Config,
        options: Options,
        transport: T,
        timer: C,
    ) -> Result<Self, ConfigError> {
        let read_slice = options.read_slice();
        Ok(Client {
            transport,
            timer,
            read_slice,
            driver: Driver::new(config, options)?,
        })
    }

    /// The remote control: send messages, close.
    pub fn handle(&self) -> Handle {
        self.driver.handle().clone()
    }

    /// Runs on a new thread; join it for the [`Outcome`].
    pub fn spawn<F>(self, notify: F) -> std::thread::JoinHandle<Outcome>
    where
        T: Send + 'static,
        T::Error: Send + 'static,
        C: Send + 'static,
        F: FnMut(Notice<T::Error>) + Send + 'static,
    {
        std::thread::spawn(move || self.run(notify))
    }

    /// Connects and keeps the connection alive until [`Handle::close`] or
    /// until the driver gives up, calling `notify` on this thread for every
    /// [`Notice`]. Returns with no socket left open.
    pub fn run(mut self, mut notify: impl FnMut(Notice<T::Error>)) -> Outcome {
        self.driver.handle().register_thread();
        let mut socket: Option<(TransportId, T::Socket)> = None;
        self.driver.start(self.timer.now());
        loop {
            while let Some(step) = self.driver.next_step() {
                self.perform(step, &mut socket, &mut notify);
            }
            if let Some(exit) = self.driver.exit() {
                return self.driver.outcome(exit);
            }
            self.driver.check_stop(self.timer.now());
            if let Some((id, sock)) = socket.as_mut() {
                self.flush(*id, sock);
            }
            if self.driver.has_steps() {
                continue;
            }
            self.wait(&mut socket);
        }
    }

    fn perform(
        &mut self,
        step: Step<T::Error>,
        socket: &mut Option<(TransportId, T::Socket)>,
        notify: &mut impl FnMut(Notice<T::Error>),
    ) {
        let driver = &mut self.driver;
        match step {
            Step::Notify(notice) => notify(notice),
            Step::Connect { id, timeout } => match self.transport.connect(timeout) {
                Ok(sock) => {
                    if driver.opened(id, self.timer.now()) {
                        *socket = Some((id, sock));
                    }
                }
                Err(error) => driver.connect_failed(id, error, self.timer.now()),
            },
            Step::Ping | Step::Heartbeat(_) => {
                if let Some((id, sock)) = socket.as_mut() {
                    let sent = match &step {
                        Step::Heartbeat(frame) => self.transport.send(sock, frame),
                        _ => self.transport.ping(sock),
                    };
                    if let Err(error) = sent {
                        driver.failed(*id, error, false, self.timer.now());
                    }
                }
            }
            Step::Close => match socket.as_mut() {
                Some((id, sock)) => {
                    if let Err(error) = self.transport.close(sock) {
                        let id = *id;
                        *socket = None;
                        driver.failed(id, error, true, self.timer.now());
                    }
                }
                None => driver.closed_without_socket(self.timer.now()),
            },
            Step::Drop => *socket = None,
        }
    }

    /// Sends queued messages, in order, while the transport takes them.
    fn flush(&mut self, id: TransportId, sock: &mut T::Socket) {
        while let Some(message) = self.driver.outbound() {
            if let Err(error) = self.transport.send(sock, &message) {
                self.driver.unsent(message);
                self.driver.failed(id, error, false, self.timer.now());
                return;
            }
        }
    }

    /// Waits for the transport or the deadline, in slices short enough to
    /// notice the handle.
    fn wait(&mut self, socket: &mut Option<(TransportId, T::Socket)>) {
        let now = self.timer.now();
        let deadline = self.driver.deadline();
        let slice_end = now + self.read_slice;
        match socket.as_mut() {
            Some((id, sock)) => {
                let until = deadline.map_or(slice_end, |d| d.min(slice_end));
                let recv = self
                    .transport
                    .recv(sock, until.saturating_duration_since(now));
                let id = *id;
                if matches!(recv, Recv::Closed | Recv::Rejected | Recv::RetryAfter(_)) {
                    *socket = None;
                }
                self.driver.received(id, recv, self.timer.now());
            }
            None => {
                // Without a transport there is always a deadline (a backoff,
                // or a close escalation); the slice is a safety net.
                self.timer.sleep_until(deadline.unwrap_or(slice_end));
                self.driver.tick(self.timer.now());
            }
        }
    }
}
