//! One WebSocket, whatever library upgraded it: frames in, frames out.
//!
//! The server's connection task speaks [`Inbound`] and [`Outbound`]; each
//! library (tokio-tungstenite here, axum in `axum.rs`) maps its own message
//! type onto them. Pings are answered by the libraries themselves.

use std::borrow::Cow;

use futures_util::{SinkExt, StreamExt};
use keepalive::adapter::Message;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::{
    self, protocol::CloseFrame, protocol::frame::coding::CloseCode,
};

/// A frame that arrived.
#[derive(Debug)]
pub(crate) enum Inbound {
    /// An application message.
    Message(Message),
    /// A ping (already answered by the library) or a pong: proof of life.
    Control { pong: bool },
    /// The peer's close frame (the library answers it; the stream ends next).
    Close,
}

/// A frame to send.
#[derive(Clone, Debug)]
pub(crate) enum Outbound {
    /// An application message.
    Message(Message),
    /// A heartbeat ping.
    Ping,
    /// A close frame with this code and reason.
    Close(u16, Cow<'static, str>),
}

/// A server-side WebSocket. `recv` must be cancel-safe.
pub(crate) trait Socket: Send + 'static {
    /// The next frame; `None` once the socket has ended or failed.
    fn recv(&mut self) -> impl Future<Output = Option<Inbound>> + Send;
    /// Sends one frame; `false` if the socket failed.
    fn send(&mut self, frame: Outbound) -> impl Future<Output = bool> + Send;
}

impl<S> Socket for WebSocketStream<S>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    async fn recv(&mut self) -> Option<Inbound> {
        use tungstenite::Message as M;
        Some(match self.next().await?.ok()? {
            M::Text(text) => Inbound::Message(Message::Text(text.as_str().to_owned())),
            M::Binary(bytes) => Inbound::Message(Message::Binary(bytes.to_vec())),
            M::Ping(_) => Inbound::Control { pong: false },
            M::Pong(_) => Inbound::Control { pong: true },
            M::Close(_) => Inbound::Close,
            M::Frame(_) => Inbound::Control { pong: false },
        })
    }

    async fn send(&mut self, frame: Outbound) -> bool {
        SinkExt::send(self, to_tungstenite(frame)).await.is_ok()
    }
}

/// Our frame as a tungstenite message.
pub(crate) fn to_tungstenite(frame: Outbound) -> tungstenite::Message {
    match frame {
        Outbound::Message(Message::Text(text)) => tungstenite::Message::text(text),
        Outbound::Message(Message::Binary(bytes)) => tungstenite::Message::binary(bytes),
        Outbound::Ping => tungstenite::Message::Ping(Default::default()),
        Outbound::Close(code, reason) => tungstenite::Message::Close(Some(CloseFrame {
            code: CloseCode::from(code),
            reason: reason.into_owned().into(),
        })),
    }
}
