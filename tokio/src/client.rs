//! The client: [`connect`] gives a kept-alive WebSocket over
//! tokio-tungstenite.
//!
//! It is keepalive's async adapter ([`keepalive::adapter::asynchronous`])
//! with a tokio-tungstenite transport and tokio's timer: the
//! [`Connection`](keepalive::Connection) machine decides every heartbeat,
//! close and reconnect; this module only opens sockets and moves frames.

use core::pin::Pin;
use core::task::{Context, Poll};
use std::fmt;

use futures_util::{SinkExt, Stream, StreamExt};
use keepalive::adapter::asynchronous::{Client, Transport};
use keepalive::adapter::{ConnectError, Exit, Handle, Message, Notice, Options, Outcome, Recv};
use keepalive::{Config, ConfigError};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::StatusCode;
use tokio_tungstenite::tungstenite::{self, Error};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::Limits;
use crate::close::{POLICY_VIOLATION, advised_delay, retry_after};
use crate::time::TokioSleep;

/// What the client reports: inbound messages and the adapter's notices.
pub type ClientEvent = Notice<Error>;

/// Why [`connect`] could not start.
#[derive(Debug)]
#[non_exhaustive]
pub enum StartError {
    /// The [`Config`] is invalid.
    Config(ConfigError),
    /// Not called from within a tokio runtime.
    NoRuntime,
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartError::Config(e) => write!(f, "invalid config: {e}"),
            StartError::NoRuntime => f.write_str("must be called from within a tokio runtime"),
        }
    }
}

impl std::error::Error for StartError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StartError::Config(e) => Some(e),
            StartError::NoRuntime => None,
        }
    }
}

impl From<ConfigError> for StartError {
    fn from(e: ConfigError) -> Self {
        StartError::Config(e)
    }
}

/// Connects, and keeps the connection alive until [`Handle::close`] or
/// until it gives up. Returns at once: the connection runs in a spawned
/// task.
///
/// `request` is called before **every** attempt, so each one can carry a
/// fresh token in a header, or go to the next server of a list. It returns
/// anything tungstenite can make a request of (a URL `&str`, a `String`, an
/// `http::Request<()>`).
///
/// The [`Handle`] sends (queued while disconnected, flushed in order after
/// the reconnect), closes, and reconnects at once ([`Handle::reconnect`]).
/// [`Events`] is a [`Stream`] of everything that happens: inbound
/// application messages ([`Notice::Message`]; heartbeat replies are kept
/// out) and the notices (connected, reconnecting in N ms attempt k, gave
/// up, stopped). It ends after [`Notice::Stopped`] or [`Notice::GaveUp`];
/// poll it, or drop it to ignore what happens (notices are not buffered
/// for a dropped stream).
///
/// How the server's answers steer it ([`crate::close`]): HTTP 401/403 and
/// close code 1008 give up; HTTP 503/429 with `Retry-After` and close code
/// 1013 delay the next attempt by at least what the server asked.
///
/// # Errors
///
/// [`StartError::Config`] for an invalid `config`, [`StartError::NoRuntime`]
/// outside a tokio runtime.
///
/// # Example
///
/// ```no_run
/// use futures_util::StreamExt;
/// use keepalive::Config;
/// use keepalive::adapter::{Notice, Options};
/// use tokio_tungstenite::tungstenite::client::IntoClientRequest;
///
/// # async fn run(fresh_token: impl Fn() -> String + Send + 'static) -> Result<(), Box<dyn std::error::Error>> {
/// let request = move || {
///     let mut request = "ws://127.0.0.1:9001/".into_client_request().expect("a valid URL");
///     let bearer = format!("Bearer {}", fresh_token()).parse().expect("a header value");
///     request.headers_mut().insert("authorization", bearer);
///     request
/// };
/// let (handle, mut events) = keepalive_tokio::connect(request, Config::default(), Options::default())?;
/// handle.send("hello")?; // queued until connected
/// while let Some(event) = events.next().await {
///     match event {
///         Notice::Message(message) => println!("got {message:?}"),
///         notice => println!("{notice}"),
///     }
/// }
/// # Ok(()) }
/// ```
pub fn connect<F, R>(
    request: F,
    config: Config,
    options: Options,
) -> Result<(Handle, Events), StartError>
where
    F: FnMut() -> R + Send + 'static,
    R: IntoClientRequest,
{
    connect_with_limits(request, config, options, Limits::default())
}

/// [`connect`], with the socket's buffer and size [`Limits`].
///
/// # Errors
///
/// As [`connect`].
pub fn connect_with_limits<F, R>(
    request: F,
    config: Config,
    options: Options,
    limits: Limits,
) -> Result<(Handle, Events), StartError>
where
    F: FnMut() -> R + Send + 'static,
    R: IntoClientRequest,
{
    let runtime = tokio::runtime::Handle::try_current().map_err(|_| StartError::NoRuntime)?;
    let transport = WsTransport {
        request,
        limits,
        close: None,
    };
    let client = Client::new(config, options, transport, TokioSleep::new())?;
    let handle = client.handle();
    let (tx, rx) = mpsc::unbounded_channel();
    let task = runtime.spawn(client.run(move |notice| {
        let _ = tx.send(notice); // the stream was dropped: nobody listens
    }));
    Ok((
        handle,
        Events {
            rx,
            task: Some(task),
        },
    ))
}

/// The [`Stream`] of a client's [`ClientEvent`]s (see [`connect`]).
#[derive(Debug)]
pub struct Events {
    rx: mpsc::UnboundedReceiver<ClientEvent>,
    task: Option<JoinHandle<Outcome>>,
}

impl Events {
    /// Waits for the client to end (after [`Handle::close`], or once it gave
    /// up) and returns how: why, and the messages still queued (handed back,
    /// never dropped). If the runtime shut the task down first, nothing was
    /// handed back and the exit reads [`Exit::Stopped`].
    pub async fn outcome(mut self) -> Outcome {
        let stopped = Outcome {
            exit: Exit::Stopped,
            unsent: Vec::new(),
        };
        match self.task.take() {
            Some(task) => task.await.unwrap_or(stopped),
            None => stopped,
        }
    }
}

impl Stream for Events {
    type Item = ClientEvent;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<ClientEvent>> {
        self.rx.poll_recv(cx)
    }
}

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// The adapter's transport over tokio-tungstenite.
struct WsTransport<F> {
    request: F,
    limits: Limits,
    /// The close frame the server sent on the current socket, if any.
    close: Option<(u16, String)>,
}

impl<F, R> Transport for WsTransport<F>
where
    F: FnMut() -> R + Send,
    R: IntoClientRequest,
{
    type Socket = Socket;
    type Error = Error;

    async fn connect(&mut self) -> Result<Socket, ConnectError<Error>> {
        self.close = None;
        let request = (self.request)()
            .into_client_request()
            .map_err(ConnectError::Failed)?;
        let config = Some(self.limits.websocket_config());
        match tokio_tungstenite::connect_async_with_config(request, config, true).await {
            Ok((socket, _response)) => Ok(socket),
            Err(Error::Http(response)) => Err(refusal(*response)),
            Err(e) => Err(ConnectError::Failed(e)),
        }
    }

    async fn ping(&mut self, socket: &mut Socket) -> Result<(), Error> {
        socket
            .send(tungstenite::Message::Ping(Default::default()))
            .await
    }

    async fn send(&mut self, socket: &mut Socket, message: &Message) -> Result<(), Error> {
        socket
            .send(match message {
                Message::Text(text) => tungstenite::Message::text(text.as_str()),
                Message::Binary(bytes) => tungstenite::Message::binary(bytes.clone()),
            })
            .await
    }

    async fn close(&mut self, socket: &mut Socket) -> Result<(), Error> {
        match socket.close(None).await {
            Err(Error::ConnectionClosed | Error::AlreadyClosed) => Ok(()),
            other => other,
        }
    }

    async fn recv(&mut self, socket: &mut Socket) -> Recv<Error> {
        use tungstenite::Message as M;
        match socket.next().await {
            Some(Ok(M::Text(text))) => Recv::Message(Message::Text(text.as_str().to_owned())),
            Some(Ok(M::Binary(bytes))) => Recv::Message(Message::Binary(bytes.to_vec())),
            Some(Ok(M::Pong(_))) => Recv::Pong,
            Some(Ok(M::Close(frame))) => {
                self.close = frame.map(|f| (u16::from(f.code), f.reason.as_str().to_owned()));
                Recv::Data
            }
            Some(Ok(M::Ping(_) | M::Frame(_))) => Recv::Data,
            Some(Err(Error::ConnectionClosed | Error::AlreadyClosed)) | None => self.ended(),
            Some(Err(e)) => Recv::Error(e),
        }
    }
}

impl<F> WsTransport<F> {
    /// The socket has ended: what its close frame (if any) asked for.
    fn ended(&mut self) -> Recv<Error> {
        match self.close.take() {
            Some((POLICY_VIOLATION, _)) => Recv::Rejected,
            Some((code, reason)) => match advised_delay(code, &reason) {
                Some(delay) => Recv::RetryAfter(delay),
                None => Recv::Closed,
            },
            None => Recv::Closed,
        }
    }
}

/// An HTTP answer to the upgrade: 401/403 refuse for good, 503/429 with
/// `Retry-After` advise a delay, anything else is retried.
fn refusal(response: tungstenite::http::Response<Option<Vec<u8>>>) -> ConnectError<Error> {
    let status = response.status();
    let delay = retry_after(response.headers());
    let error = Error::Http(Box::new(response));
    match (status, delay) {
        (StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN, _) => ConnectError::Rejected(error),
        (StatusCode::SERVICE_UNAVAILABLE | StatusCode::TOO_MANY_REQUESTS, Some(delay)) => {
            ConnectError::RetryAfter(error, delay)
        }
        _ => ConnectError::Failed(error),
    }
}
