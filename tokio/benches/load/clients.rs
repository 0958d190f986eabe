//! The load: N plain WebSocket clients that send the text heartbeat `hb`
//! every few seconds and answer pings, and can be made to fall silent (no
//! more frames, no pong: a frozen tab, a dead NAT entry).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::{SinkExt, StreamExt};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_tungstenite::tungstenite::{Message, client::IntoClientRequest};

/// Wall-clock milliseconds: the servers are other processes.
pub fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// One client's switches and what it saw.
#[derive(Default)]
pub struct Client {
    pub silent: AtomicBool,
    /// When it last sent anything (a heartbeat, or a pong to a ping).
    pub last_frame_ms: AtomicU64,
}

/// The fleet of clients, connected and running.
pub struct Load {
    pub clients: Vec<Arc<Client>>,
    pub connected: usize,
    pub failed: usize,
    pub connect_all: Duration,
    tasks: JoinSet<()>,
}

impl Load {
    /// Connects `n` clients to `addr` (at most 256 upgrades in flight), each
    /// sending `hb` every `every` once connected.
    pub async fn connect(addr: SocketAddr, n: usize, every: Duration) -> Load {
        let start = tokio::time::Instant::now();
        let gate = Arc::new(Semaphore::new(256));
        let done = Arc::new(AtomicUsize::new(0));
        let failed = Arc::new(AtomicUsize::new(0));
        let mut tasks = JoinSet::new();
        let mut clients = Vec::with_capacity(n);
        for i in 0..n {
            let client = Arc::new(Client::default());
            clients.push(client.clone());
            let (gate, done, failed) = (gate.clone(), done.clone(), failed.clone());
            tasks.spawn(async move {
                let mut request = format!("ws://{addr}/").into_client_request().expect("url");
                let id = format!("c{i}").parse().expect("header");
                request.headers_mut().insert("x-client-id", id);
                let permit = gate.acquire_owned().await.expect("open");
                let connect = tokio_tungstenite::connect_async(request);
                let socket = match tokio::time::timeout(Duration::from_secs(30), connect).await {
                    Ok(Ok((socket, _))) => socket,
                    _ => {
                        failed.fetch_add(1, Ordering::SeqCst);
                        return;
                    }
                };
                drop(permit);
                done.fetch_add(1, Ordering::SeqCst);
                run(socket, &client, every, i).await;
            });
        }
        while done.load(Ordering::SeqCst) + failed.load(Ordering::SeqCst) < n {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        Load {
            clients,
            connected: done.load(Ordering::SeqCst),
            failed: failed.load(Ordering::SeqCst),
            connect_all: start.elapsed(),
            tasks,
        }
    }

    /// Drops every client.
    pub async fn stop(mut self) {
        self.tasks.abort_all();
        while self.tasks.join_next().await.is_some() {}
    }
}

async fn run<S>(
    mut socket: tokio_tungstenite::WebSocketStream<S>,
    client: &Client,
    every: Duration,
    i: usize,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    // Spread the heartbeats over the period, as real clients are.
    let phase = every.mul_f64((i % 1000) as f64 / 1000.0);
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + phase, every);
    loop {
        if client.silent.load(Ordering::SeqCst) {
            // Hold the socket, never touch it again.
            std::future::pending::<()>().await;
        }
        tokio::select! {
            _ = tick.tick() => {
                if client.silent.load(Ordering::SeqCst) {
                    continue;
                }
                if socket.send(Message::text("hb")).await.is_err() {
                    return;
                }
                client.last_frame_ms.store(unix_ms(), Ordering::SeqCst);
            }
            frame = socket.next() => match frame {
                Some(Ok(Message::Ping(_))) if !client.silent.load(Ordering::SeqCst) => {
                    // Send the queued pong now, so its time is known.
                    if socket.flush().await.is_err() {
                        return;
                    }
                    client.last_frame_ms.store(unix_ms(), Ordering::SeqCst);
                }
                Some(Ok(_)) => {}
                _ => return,
            },
        }
    }
}
