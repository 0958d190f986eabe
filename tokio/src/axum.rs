//! Serving sockets upgraded by axum (feature `axum`).
//!
//! ```no_run
//! use axum::extract::{State, WebSocketUpgrade};
//! use axum::http::HeaderMap;
//! use axum::response::Response;
//! use keepalive_tokio::server::{Refusal, Server};
//!
//! async fn live(State(server): State<Server<String>>, headers: HeaderMap, upgrade: WebSocketUpgrade) -> Response {
//!     server.upgrade(upgrade, &headers)
//! }
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let server = Server::builder(|headers| {
//!     let id = headers.get("x-client-id").and_then(|v| v.to_str().ok());
//!     id.map(str::to_owned).ok_or(Refusal::Unauthorized)
//! })
//! .build()?;
//! let app = axum::Router::new().route("/live", axum::routing::get(live)).with_state(server);
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:9001").await?;
//! axum::serve(listener, app).await?;
//! # Ok(()) }
//! ```

use std::hash::Hash;

use axum::body::Body;
use axum::extract::WebSocketUpgrade;
use axum::extract::ws::{CloseFrame, Message as AxumMessage, WebSocket};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::Response;
use futures_util::StreamExt;
use keepalive::adapter::Message;

use crate::server::{Server, admit};
use crate::socket::{Inbound, Outbound, Socket};

impl<K: Hash + Eq + Clone + Send + Sync + 'static> Server<K> {
    /// Admits an axum WebSocket upgrade and serves the socket under this
    /// server's keepalive, exactly as [`Server::accept`] does for
    /// tokio-tungstenite: `identify` over `headers` (401/403), 503 with a
    /// jittered `Retry-After` when full or shutting down, 429 at the per-id
    /// cap; the server's [`Limits`](crate::Limits) on the socket.
    pub fn upgrade(&self, upgrade: WebSocketUpgrade, headers: &HeaderMap) -> Response {
        let admitted = match admit::admit(&self.shared, headers) {
            Ok(admitted) => admitted,
            Err(refused) => {
                let mut response = Response::new(Body::from(refused.status.to_string()));
                *response.status_mut() = refused.status;
                if let Some(secs) = refused.retry_after {
                    response
                        .headers_mut()
                        .insert(header::RETRY_AFTER, HeaderValue::from(secs));
                }
                return response;
            }
        };
        let limits = self.shared.config.limits();
        let mut upgrade = upgrade
            .read_buffer_size(limits.read_buffer())
            .write_buffer_size(limits.write_buffer())
            .max_write_buffer_size(limits.max_write_buffer())
            .max_message_size(limits.max_message())
            .max_frame_size(limits.max_frame());
        if let Some(protocol) = admitted.protocol {
            upgrade.set_selected_protocol(protocol);
        }
        let server = self.clone();
        let id = admitted.id;
        upgrade.on_upgrade(move |socket| async move {
            let _ = server.serve(AxumSocket(socket), id).await;
        })
    }
}

/// axum's WebSocket as the server's [`Socket`].
struct AxumSocket(WebSocket);

impl Socket for AxumSocket {
    async fn recv(&mut self) -> Option<Inbound> {
        Some(match self.0.next().await?.ok()? {
            AxumMessage::Text(text) => Inbound::Message(Message::Text(text.as_str().to_owned())),
            AxumMessage::Binary(bytes) => Inbound::Message(Message::Binary(bytes.to_vec())),
            AxumMessage::Ping(_) => Inbound::Control { pong: false },
            AxumMessage::Pong(_) => Inbound::Control { pong: true },
            AxumMessage::Close(_) => Inbound::Close,
        })
    }

    async fn send(&mut self, frame: Outbound) -> bool {
        let message = match frame {
            Outbound::Message(Message::Text(text)) => AxumMessage::text(text),
            Outbound::Message(Message::Binary(bytes)) => AxumMessage::binary(bytes),
            Outbound::Ping => AxumMessage::Ping(Default::default()),
            Outbound::Close(code, reason) => AxumMessage::Close(Some(CloseFrame {
                code,
                reason: reason.into_owned().into(),
            })),
        };
        self.0.send(message).await.is_ok()
    }
}
