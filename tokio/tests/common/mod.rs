//! Shared by the loopback tests: servers on free ports, raw clients, and
//! bounded waits.
#![allow(dead_code)] // each test file uses its own part

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::StreamExt;
use keepalive_tokio::server::{Refusal, Server};
use keepalive_tokio::{ClientEvent, Events};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::{Instant, timeout};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub type Raw = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// The identity the tests use: the `x-client-id` header; `nobody` is refused.
pub fn identify(
    headers: &tokio_tungstenite::tungstenite::http::HeaderMap,
) -> Result<String, Refusal> {
    match headers.get("x-client-id").and_then(|v| v.to_str().ok()) {
        Some("nobody") | None => Err(Refusal::Unauthorized),
        Some(id) => Ok(id.to_owned()),
    }
}

/// Serves `server` on a free loopback port.
pub async fn listen(server: &Server<String>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server = server.clone();
    tokio::spawn(async move { server.listen(listener).await });
    addr
}

/// A WebSocket upgrade request for `addr` as client `id`.
pub fn request(
    addr: SocketAddr,
    id: &str,
) -> tokio_tungstenite::tungstenite::handshake::client::Request {
    let mut request = format!("ws://{addr}/").into_client_request().expect("url");
    request
        .headers_mut()
        .insert("x-client-id", id.parse().expect("header"));
    request
}

/// A plain tokio-tungstenite client with no keepalive of its own: it
/// answers pings only while something reads it.
pub async fn raw(addr: SocketAddr, id: &str) -> Raw {
    let (socket, _) = tokio_tungstenite::connect_async(request(addr, id))
        .await
        .expect("raw connect");
    socket
}

/// Polls `check` every 5 ms until it holds; panics after `limit`.
pub async fn until(what: &str, limit: Duration, mut check: impl FnMut() -> bool) {
    let start = Instant::now();
    while !check() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Awaits `future`, failing the test after `limit`.
pub async fn within<T>(what: &str, limit: Duration, future: impl Future<Output = T>) -> T {
    timeout(limit, future)
        .await
        .unwrap_or_else(|_| panic!("timed out: {what}"))
}

/// Waits (at most `limit`) for the first client event that `pick` turns
/// into a value; fails the test if the stream ends first.
pub async fn await_notice<T>(
    events: &mut Events,
    what: &str,
    limit: Duration,
    mut pick: impl FnMut(ClientEvent) -> Option<T>,
) -> T {
    within(what, limit, async {
        loop {
            let event = events.next().await;
            let event = event.unwrap_or_else(|| panic!("the events ended before {what}"));
            if let Some(value) = pick(event) {
                return value;
            }
        }
    })
    .await
}

pub fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}
