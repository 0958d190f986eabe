//! One connection's task: read frames and report them to the machine,
//! write what the driver and the application queue, stop when killed.

use std::hash::Hash;
use std::sync::Arc;

use keepalive::{ConnId, Inbound as Frame, Reply, SessionsError};

use super::admit::retry_secs;
use super::link::Link;
use super::{AcceptError, Incoming, Shared};
use crate::close::TRY_AGAIN_LATER;
use crate::socket::{Inbound, Outbound, Socket};

/// Registers `socket` as a connection of `id` and serves it until it ends.
pub(crate) async fn serve<K, S>(
    shared: &Arc<Shared<K>>,
    mut socket: S,
    id: K,
) -> Result<(), AcceptError>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    S: Socket,
{
    let link = Arc::new(Link::new(shared.config.outbound_queue()));
    let opened = {
        let mut inner = shared.lock();
        let now = shared.clock.now();
        match inner.sessions.open(&id, now) {
            Ok(conn) => {
                inner.peers.insert(conn, link.clone());
                shared.live.send_modify(|n| *n += 1);
                Ok(conn)
            }
            Err(e) => Err((
                e,
                retry_secs(&mut inner, shared.config.retry_after().as_secs()),
            )),
        }
    };
    let conn = match opened {
        Ok(conn) => conn,
        Err((error, secs)) => {
            // No room after all (other upgrades took it): 1013, with the
            // delay in the reason, `"7"` for 7 s. Bounded: a client that
            // does not read does not hold the task.
            let reason = match error {
                SessionsError::TooManyForId => format!("{secs} too many connections for this id"),
                _ => secs.to_string(),
            };
            let close = socket.send(Outbound::Close(TRY_AGAIN_LATER, reason.into()));
            let _ = tokio::time::timeout(shared.config.sessions().close_timeout(), close).await;
            return Err(AcceptError::Full);
        }
    };
    shared.wake.notify_one(); // an Online report, and a new deadline
    run(shared, conn, &id, &mut socket, &link).await;
    drop(socket);
    let now = shared.clock.now();
    {
        let mut inner = shared.lock();
        inner.sessions.ended(conn, now);
        inner.peers.remove(&conn);
    }
    shared.live.send_modify(|n| *n -= 1);
    shared.wake.notify_one(); // perhaps an Offline report
    Ok(())
}

async fn run<K, S: Socket>(shared: &Shared<K>, conn: ConnId, id: &K, socket: &mut S, link: &Link)
where
    K: Hash + Eq + Clone,
{
    loop {
        while let Some(frame) = link.pop() {
            if !send(socket, frame, link).await {
                return;
            }
        }
        if link.is_killed() {
            return;
        }
        tokio::select! {
            biased;
            () = link.woken() => {} // queued or killed: see above
            frame = socket.recv() => {
                let Some(frame) = frame else { return };
                if let Some(reply) = received(shared, conn, id, frame)
                    && !send(socket, reply, link).await
                {
                    return;
                }
            }
        }
    }
}

/// Reports a frame to the machine and hands application messages to the
/// handler; returns the text heartbeat's reply, if it was one.
fn received<K>(shared: &Shared<K>, conn: ConnId, id: &K, frame: Inbound) -> Option<Outbound>
where
    K: Hash + Eq + Clone,
{
    let now = shared.clock.now();
    let pong = matches!(frame, Inbound::Control { pong: true });
    {
        let mut inner = shared.lock();
        match pong {
            true => inner.sessions.pong(conn, now),
            false => inner.sessions.received(conn, now),
        }
    }
    let Inbound::Message(message) = frame else {
        return None;
    };
    if let keepalive::adapter::Message::Text(text) = &message {
        let response = shared.responder.respond(Frame::Text(text));
        if response.heartbeat {
            return match response.reply {
                Some(Reply::Text(reply)) => Some(Outbound::Message(reply.into())),
                _ => None,
            };
        }
    }
    (shared.on_message)(Incoming {
        conn,
        client: id,
        message,
    });
    None
}

/// Writes one frame unless the connection is killed first (a client that
/// does not read can block a write forever). Frames queued meanwhile wait
/// for the loop.
async fn send<S: Socket>(socket: &mut S, frame: Outbound, link: &Link) -> bool {
    let mut sending = std::pin::pin!(socket.send(frame));
    loop {
        tokio::select! {
            biased;
            sent = &mut sending => return sent && !link.is_killed(),
            () = link.woken() => {
                if link.is_killed() {
                    return false;
                }
            }
        }
    }
}
