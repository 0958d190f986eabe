#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod announce;
mod feed;
mod node;
mod runner;

pub use announce::Announcement;
pub use feed::{FeedConfig, FleetChange, FleetFeed, OfflineCause};
pub use node::FleetNode;
pub use runner::{DELETE_OWNED, Outcome, Runner};

/// The pub/sub channel of a fleet with key prefix `prefix`.
pub fn channel(prefix: &str) -> String {
    format!("{prefix}changes")
}
