//! `Sessions` against a naive reference (`testkit/src/server/`: a list of
//! connections, a map of clients, a full scan at every step). Both are
//! driven with the same random operations (opens, frames, pongs, server
//! closes, transport ends of live, closing and stale connections, policy
//! changes, clock steps forward to every deadline and backward) and must
//! agree on every action (as sets per instant), every status, connection
//! count, online count and round-trip time; `poll_timeout` must never be
//! later than the model's next deadline nor in the past, and the action
//! stream must keep its invariants (one close and one abort per
//! connection, abort only after close, online/offline alternating per id).
//!
//! The operations are decoded from random bytes with the decoder the
//! `server` fuzz target uses, so a fuzz finding replays here. 256 cases by
//! default; set `PROPTEST_CASES` for more.
#![cfg(feature = "std")]

use proptest::prelude::*;

// The model is the one the fuzz target uses, included by path: a
// dev-dependency on testkit's `std` feature would switch `std` on for
// every test build, including `cargo test --no-default-features`.
#[allow(dead_code)]
#[path = "../testkit/src/bytes.rs"]
mod bytes;
#[allow(dead_code)]
#[path = "../testkit/src/server/mod.rs"]
mod server;

proptest! {
    #[test]
    fn sessions_agree_with_the_naive_model(data in proptest::collection::vec(any::<u8>(), 0..1200)) {
        if let Err(message) = server::check(&data) {
            prop_assert!(false, "{}", message);
        }
    }
}

/// The fuzz target's committed corpus (`fuzz/corpus/server/`: hand-written
/// scripts that reach eviction of the oldest offline id, closes inside the
/// wheel's run and the end of time, plus any finding once fixed) replays
/// here on stable.
#[test]
fn the_fuzz_corpus_agrees_with_the_naive_model() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/server");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).expect("fuzz/corpus/server exists") {
        let path = entry.expect("a corpus entry").path();
        let data = std::fs::read(&path).expect("read a corpus file");
        server::check(&data).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        n += 1;
    }
    assert!(n >= 4, "the corpus has its seeds");
}
