//! Admission: who is connecting, and whether there is room, decided on the
//! upgrade request before any WebSocket exists.

use std::fmt;
use std::hash::{BuildHasher, Hash};

use tokio::io::{AsyncRead, AsyncWrite};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::{HeaderMap, HeaderValue, StatusCode, header};
use tokio_tungstenite::tungstenite::{self};

use super::{Inner, Shared};

/// How `identify` turns a client away. Our clients give up on both.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Refusal {
    /// HTTP 401: no credentials, or bad ones.
    Unauthorized,
    /// HTTP 403: known, but not allowed.
    Forbidden,
}

impl Refusal {
    fn status(self) -> StatusCode {
        match self {
            Refusal::Unauthorized => StatusCode::UNAUTHORIZED,
            Refusal::Forbidden => StatusCode::FORBIDDEN,
        }
    }
}

/// Why [`Server::accept`](super::Server::accept) ended without serving.
#[derive(Debug)]
#[non_exhaustive]
pub enum AcceptError {
    /// The upgrade was answered with this HTTP status instead: 401/403
    /// from `identify`, 503 when full or shutting down, 429 when the
    /// client has its most connections already.
    Refused(StatusCode),
    /// The upgrade did not complete within the handshake timeout.
    HandshakeTimeout,
    /// The upgrade failed (not a WebSocket request, an I/O error).
    Handshake(tungstenite::Error),
    /// Upgraded, but the machine had no room left (other upgrades took it
    /// meanwhile): closed with 1013 and a retry delay.
    Full,
}

impl fmt::Display for AcceptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AcceptError::Refused(status) => write!(f, "upgrade refused with HTTP {status}"),
            AcceptError::HandshakeTimeout => f.write_str("the upgrade did not complete in time"),
            AcceptError::Handshake(e) => write!(f, "upgrade failed: {e}"),
            AcceptError::Full => f.write_str("no room left after the upgrade: closed with 1013"),
        }
    }
}

impl std::error::Error for AcceptError {}

/// A client let in: its id, and the subprotocol to echo back.
pub(crate) struct Admitted<K> {
    pub(crate) id: K,
    pub(crate) protocol: Option<HeaderValue>,
}

/// A refused upgrade: its status and `Retry-After` seconds, if any.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Refused {
    pub(crate) status: StatusCode,
    pub(crate) retry_after: Option<u64>,
}

impl Refused {
    /// As tungstenite's error response.
    fn response(self) -> ErrorResponse {
        let mut response = ErrorResponse::new(Some(self.status.to_string()));
        *response.status_mut() = self.status;
        if let Some(secs) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

/// Decides on an upgrade from its headers: shutting down or full → 503,
/// `identify` refuses → 401/403, the client at its per-id cap → 429.
pub(crate) fn admit<K: Hash + Eq + Clone>(
    shared: &Shared<K>,
    headers: &HeaderMap,
) -> Result<Admitted<K>, Refused> {
    let busy = |inner: &mut Inner<K>, status| Refused {
        status,
        retry_after: Some(retry_secs(inner, shared.config.retry_after().as_secs())),
    };
    if *shared.stopping.borrow() {
        return Err(busy(&mut shared.lock(), StatusCode::SERVICE_UNAVAILABLE));
    }
    let id = (shared.identify)(headers).map_err(|refusal| Refused {
        status: refusal.status(),
        retry_after: None,
    })?;
    let mut inner = shared.lock();
    let config = shared.config.sessions();
    if inner.sessions.len() >= config.capacity() {
        return Err(busy(&mut inner, StatusCode::SERVICE_UNAVAILABLE));
    }
    if inner.sessions.connections(&id) >= config.max_per_id() as usize {
        return Err(busy(&mut inner, StatusCode::TOO_MANY_REQUESTS));
    }
    Ok(Admitted {
        id,
        protocol: chosen_protocol(headers),
    })
}

/// The subprotocols offered, in order.
fn offered(headers: &HeaderMap) -> impl Iterator<Item = &str> {
    headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|p| !p.is_empty())
}

/// The value of the first offered subprotocol that starts with `prefix`:
/// how browsers, which cannot set headers on a WebSocket, send who they are
/// (`id.alice`) and their credentials (`auth.<token>`).
///
/// ```
/// use keepalive_tokio::server::subprotocol;
/// use tokio_tungstenite::tungstenite::http::HeaderMap;
///
/// let mut headers = HeaderMap::new();
/// headers.insert("sec-websocket-protocol", "chat.v1, id.alice, auth.s3cr3t".parse().unwrap());
/// assert_eq!(subprotocol(&headers, "id."), Some("alice"));
/// assert_eq!(subprotocol(&headers, "auth."), Some("s3cr3t"));
/// assert_eq!(subprotocol(&headers, "room."), None);
/// ```
pub fn subprotocol<'a>(headers: &'a HeaderMap, prefix: &str) -> Option<&'a str> {
    offered(headers).find_map(|p| p.strip_prefix(prefix))
}

/// The subprotocol to echo: browsers fail a handshake whose answer names
/// none of theirs. The first one that is not a credential (`id.`, `auth.`),
/// else the first: a token is echoed only when nothing else was offered.
fn chosen_protocol(headers: &HeaderMap) -> Option<HeaderValue> {
    let credential = |p: &&str| p.starts_with("id.") || p.starts_with("auth.");
    let chosen = offered(headers)
        .find(|p| !credential(p))
        .or_else(|| offered(headers).next())?;
    HeaderValue::from_str(chosen).ok()
}

/// A jittered retry delay in whole seconds: uniform in `[base, 2 × base]`.
pub(crate) fn retry_secs<K>(inner: &mut Inner<K>, base: u64) -> u64 {
    // splitmix64: a few cycles, under the lock we already hold.
    inner.rng = inner.rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = inner.rng;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    base + (z ^ (z >> 31)) % (base + 1)
}

/// A per-process random seed for [`retry_secs`].
pub(crate) fn seed() -> u64 {
    std::collections::hash_map::RandomState::new().hash_one(0x6b61u16)
}

/// The tokio-tungstenite upgrade, with admission decided in its callback.
pub(crate) async fn handshake<K, S>(
    shared: &Shared<K>,
    stream: S,
) -> Result<(WebSocketStream<S>, K), AcceptError>
where
    K: Hash + Eq + Clone,
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut verdict: Option<Result<K, StatusCode>> = None;
    // tungstenite's callback returns its own (large) `ErrorResponse`.
    #[allow(clippy::result_large_err)]
    let callback =
        |request: &Request, mut response: Response| match admit(shared, request.headers()) {
            Ok(admitted) => {
                if let Some(protocol) = admitted.protocol {
                    response
                        .headers_mut()
                        .insert(header::SEC_WEBSOCKET_PROTOCOL, protocol);
                }
                verdict = Some(Ok(admitted.id));
                Ok(response)
            }
            Err(refused) => {
                verdict = Some(Err(refused.status));
                Err(refused.response())
            }
        };
    let config = Some(shared.config.limits().websocket_config());
    let upgrade = tokio_tungstenite::accept_hdr_async_with_config(stream, callback, config);
    let socket = match tokio::time::timeout(shared.config.handshake_timeout(), upgrade).await {
        Err(_elapsed) => return Err(AcceptError::HandshakeTimeout),
        Ok(Err(e)) => {
            return Err(match verdict {
                Some(Err(status)) => AcceptError::Refused(status),
                _ => AcceptError::Handshake(e),
            });
        }
        Ok(Ok(socket)) => socket,
    };
    match verdict {
        Some(Ok(id)) => Ok((socket, id)),
        Some(Err(status)) => Err(AcceptError::Refused(status)),
        None => Err(AcceptError::Refused(StatusCode::BAD_REQUEST)),
    }
}
