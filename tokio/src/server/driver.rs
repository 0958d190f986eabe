//! The one timer: sleeps until the machine's next deadline, then carries
//! out what falls due.

use std::hash::Hash;
use std::sync::{Arc, Weak};

use keepalive::ServerAction;
use tokio::sync::Notify;

use super::{PresenceChange, Shared};
use crate::close::GOING_AWAY;
use crate::socket::Outbound;

/// Runs until the server is gone. Holds only a weak reference, so dropping
/// every handle and connection frees the server (its `Drop` wakes us).
pub(crate) async fn run<K>(shared: Weak<Shared<K>>, wake: Arc<Notify>)
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
{
    loop {
        let deadline = match shared.upgrade() {
            Some(shared) => poll(&shared),
            None => return,
        };
        match deadline {
            Some(deadline) => {
                tokio::select! {
                    () = tokio::time::sleep_until(deadline) => {}
                    () = wake.notified() => {}
                }
            }
            None => wake.notified().await,
        }
    }
}

/// Performs every due action; returns when to look again.
fn poll<K>(shared: &Shared<K>) -> Option<tokio::time::Instant>
where
    K: Hash + Eq + Clone,
{
    let now = shared.clock.now();
    let mut inner = shared.lock();
    while let Some(action) = inner.sessions.poll(now) {
        match action {
            ServerAction::Ping(conn) => {
                if let Some(peer) = inner.peers.get(&conn) {
                    let _ = peer.push(Outbound::Ping);
                }
            }
            ServerAction::Close(conn) => {
                if let Some(peer) = inner.peers.get(&conn) {
                    let _ = peer.push(Outbound::Close(GOING_AWAY, "heartbeat timeout".into()));
                }
            }
            ServerAction::Abort(conn) => {
                if let Some(peer) = inner.peers.get(&conn) {
                    peer.kill();
                }
            }
            ServerAction::Online(id) => {
                let _ = shared.changes.send(PresenceChange::Online(id));
            }
            ServerAction::Offline(id, reason) => {
                let _ = shared.changes.send(PresenceChange::Offline(id, reason));
            }
        }
    }
    let next = inner.sessions.poll_timeout()?;
    Some(tokio::time::Instant::from_std(shared.clock.to_std(next)))
}
