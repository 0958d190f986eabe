//! A TCP proxy that can freeze: sockets stay open, nothing passes either
//! way (a silent NAT box or load balancer), until it thaws.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A running proxy; its tasks live on the runtime that started it.
pub struct Proxy {
    pub addr: SocketAddr,
    frozen: Arc<AtomicBool>,
}

impl Proxy {
    /// Listens on a free loopback port and forwards to `backend`.
    pub async fn start(backend: SocketAddr) -> std::io::Result<Proxy> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let frozen = Arc::new(AtomicBool::new(false));
        let proxy = Proxy {
            addr: listener.local_addr()?,
            frozen: frozen.clone(),
        };
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let frozen = frozen.clone();
                tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(backend).await else {
                        return;
                    };
                    let (client_rx, client_tx) = client.into_split();
                    let (server_rx, server_tx) = server.into_split();
                    // Either direction ending ends the pair.
                    tokio::select! {
                        () = pump(client_rx, server_tx, frozen.clone()) => {}
                        () = pump(server_rx, client_tx, frozen) => {}
                    }
                });
            }
        });
        Ok(proxy)
    }

    /// Freezes or thaws every connection, open or new.
    pub fn set_frozen(&self, frozen: bool) {
        self.frozen.store(frozen, Ordering::SeqCst);
    }
}

async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    frozen: Arc<AtomicBool>,
) {
    let mut buf = [0u8; 4096];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        // Whatever arrives while frozen is held until the thaw.
        while frozen.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}
