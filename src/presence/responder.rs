//! A sans-IO heartbeat responder for the server side of a WebSocket.
//!
//! The server half of the seed article's heartbeat: its browser client sends
//! the text `心跳测试` and treats *any* inbound message as the answer
//! ("拿到任何消息都说明当前连接是正常的"), so the server must reply with
//! something. Other clients use WebSocket pings, which are answered with a
//! pong carrying the same payload (RFC 6455, section 5.5.3). Either way,
//! every frame from the client is proof of life: a check-in.

use std::borrow::Cow;

/// One frame received from a client, described by reference: the caller
/// maps its WebSocket library's message type onto this (no copy).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Inbound<'a> {
    /// A text frame.
    Text(&'a str),
    /// A binary frame.
    Binary(&'a [u8]),
    /// A ping control frame with its payload.
    Ping(&'a [u8]),
    /// A pong control frame (an answer to a ping the server sent).
    Pong(&'a [u8]),
    /// A close frame: the client is leaving.
    Close,
}

/// A frame the server should send back.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Reply<'a> {
    /// A pong with exactly this payload (the ping's).
    Pong(&'a [u8]),
    /// A text frame.
    Text(&'a str),
}

/// What an inbound frame means for presence.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PresenceUpdate {
    /// Call [`Presence::check_in`](crate::Presence::check_in): the client is
    /// alive.
    CheckIn,
    /// Call [`Presence::check_out`](crate::Presence::check_out): the client
    /// closed the connection.
    CheckOut,
}

/// The responder's verdict on one inbound frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Response<'a> {
    /// Check the client in (any frame but close) or out (close).
    pub update: PresenceUpdate,
    /// The frame was a heartbeat (ping, pong, or the configured text): do
    /// not hand it to the application as a message.
    pub heartbeat: bool,
    /// What to send back, if anything.
    pub reply: Option<Reply<'a>>,
}

/// Recognises heartbeats among a client's frames and says how to answer.
///
/// Pings are always heartbeats. By default the responder asks for a pong
/// reply to each; use [`without_pong_replies`](Self::without_pong_replies)
/// when the WebSocket library already answers pings itself (`tungstenite`
/// queues the pong while reading). A text heartbeat is off until configured
/// with [`with_text_heartbeat`](Self::with_text_heartbeat).
///
/// ```
/// use keepalive::{Inbound, PresenceUpdate, Reply, Responder};
///
/// // The article's client: sends "心跳测试", counts any message as the reply.
/// let responder = Responder::new().with_text_heartbeat("心跳测试", "心跳测试");
///
/// let r = responder.respond(Inbound::Text("心跳测试"));
/// assert!(r.heartbeat);
/// assert_eq!(r.reply, Some(Reply::Text("心跳测试")));
/// assert_eq!(r.update, PresenceUpdate::CheckIn);
///
/// let r = responder.respond(Inbound::Ping(b"42"));
/// assert_eq!(r.reply, Some(Reply::Pong(b"42")));
///
/// let r = responder.respond(Inbound::Text("hello"));
/// assert!(!r.heartbeat && r.reply.is_none()); // an application message
/// assert_eq!(r.update, PresenceUpdate::CheckIn); // still proof of life
///
/// assert_eq!(responder.respond(Inbound::Close).update, PresenceUpdate::CheckOut);
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Responder {
    pong_replies: bool,
    text: Option<(Cow<'static, str>, Cow<'static, str>)>,
}

impl Responder {
    /// Pings are heartbeats and get a pong; no text heartbeat.
    pub const fn new() -> Self {
        Responder {
            pong_replies: true,
            text: None,
        }
    }

    /// Also treat a text frame equal to `request` as a heartbeat, answered
    /// with the text `reply` (which may be the same string). The comparison
    /// is exact. A `&'static str` is stored without allocating.
    pub fn with_text_heartbeat(
        mut self,
        request: impl Into<Cow<'static, str>>,
        reply: impl Into<Cow<'static, str>>,
    ) -> Self {
        self.text = Some((request.into(), reply.into()));
        self
    }

    /// Do not ask for pong replies: the WebSocket library answers pings.
    /// Pings still count as heartbeats and check-ins.
    pub const fn without_pong_replies(mut self) -> Self {
        self.pong_replies = false;
        self
    }

    /// The configured text heartbeat as `(request, reply)`, if any.
    pub fn text_heartbeat(&self) -> Option<(&str, &str)> {
        self.text.as_ref().map(|(q, a)| (&**q, &**a))
    }

    /// What `frame` means and what to send back. Pure: no I/O, no
    /// allocation, no clock.
    pub fn respond<'a>(&'a self, frame: Inbound<'a>) -> Response<'a> {
        let (heartbeat, reply) = match frame {
            Inbound::Ping(payload) => (true, self.pong_replies.then_some(Reply::Pong(payload))),
            Inbound::Pong(_) => (true, None),
            Inbound::Text(text) => match &self.text {
                Some((request, reply)) if text == request.as_ref() => {
                    (true, Some(Reply::Text(reply.as_ref())))
                }
                _ => (false, None),
            },
            Inbound::Binary(_) | Inbound::Close => (false, None),
        };
        let update = if frame == Inbound::Close {
            PresenceUpdate::CheckOut
        } else {
            PresenceUpdate::CheckIn
        };
        Response {
            update,
            heartbeat,
            reply,
        }
    }
}

impl Default for Responder {
    fn default() -> Self {
        Responder::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::String;

    #[test]
    fn every_frame_but_close_checks_in() {
        let responder = Responder::new();
        let frames = [
            Inbound::Text("x"),
            Inbound::Binary(b"x"),
            Inbound::Ping(b""),
            Inbound::Pong(b""),
        ];
        for frame in frames {
            assert_eq!(responder.respond(frame).update, PresenceUpdate::CheckIn);
        }
        let close = responder.respond(Inbound::Close);
        assert_eq!(close.update, PresenceUpdate::CheckOut);
        assert_eq!((close.heartbeat, close.reply), (false, None));
    }

    #[test]
    fn pings_are_heartbeats_answered_with_the_same_payload() {
        let responder = Responder::new();
        let r = responder.respond(Inbound::Ping(&[1, 2, 3]));
        assert_eq!(
            (r.heartbeat, r.reply),
            (true, Some(Reply::Pong(&[1, 2, 3])))
        );
        // A pong answers the server's own ping: a heartbeat, nothing to send.
        let r = responder.respond(Inbound::Pong(b"p"));
        assert_eq!((r.heartbeat, r.reply), (true, None));
        // The library answers pings itself: count only.
        let quiet = Responder::new().without_pong_replies();
        let r = quiet.respond(Inbound::Ping(b"p"));
        assert_eq!((r.heartbeat, r.reply), (true, None));
    }

    #[test]
    fn text_heartbeat_matches_exactly() {
        let responder = Responder::new().with_text_heartbeat("ping", String::from("pong"));
        assert_eq!(responder.text_heartbeat(), Some(("ping", "pong")));
        let r = responder.respond(Inbound::Text("ping"));
        assert_eq!((r.heartbeat, r.reply), (true, Some(Reply::Text("pong"))));
        for other in ["ping ", "Ping", "", "pong"] {
            let r = responder.respond(Inbound::Text(other));
            assert_eq!((r.heartbeat, r.reply), (false, None), "{other:?}");
        }
        // Binary frames with the same bytes are not the text heartbeat.
        let r = responder.respond(Inbound::Binary(b"ping"));
        assert_eq!((r.heartbeat, r.reply), (false, None));
        assert_eq!(Responder::default().text_heartbeat(), None);
    }
}
