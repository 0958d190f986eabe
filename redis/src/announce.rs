//! [`Announcement`]: one node's word that a client came online or went
//! offline there, as published on the fleet's channel.

/// A change a node publishes: `+node id` or `-node id` on the channel
/// `<prefix>changes`. Node names are `A-Z a-z 0-9 . _ -`, so the id is
/// everything after the first space.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Announcement {
    /// Online (`true`) or offline.
    pub online: bool,
    /// The node it happened on.
    pub node: String,
    /// The client.
    pub client: String,
}

impl Announcement {
    /// The message text.
    pub fn encode(&self) -> String {
        let sign = if self.online { '+' } else { '-' };
        format!("{sign}{} {}", self.node, self.client)
    }

    /// Reads a message text back; `None` if it is not one.
    pub fn decode(text: &str) -> Option<Announcement> {
        let online = match text.as_bytes().first()? {
            b'+' => true,
            b'-' => false,
            _ => return None,
        };
        let (node, client) = text[1..].split_once(' ')?;
        Some(Announcement {
            online,
            node: node.to_owned(),
            client: client.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_garbage() {
        let a = Announcement {
            online: false,
            node: "node-a".into(),
            client: "alice smith".into(),
        };
        assert_eq!(a.encode(), "-node-a alice smith");
        assert_eq!(Announcement::decode(&a.encode()), Some(a));
        for bad in ["", "x", "+nospace", "*a b"] {
            assert_eq!(Announcement::decode(bad), None, "{bad:?}");
        }
    }
}
