//! Random operations on the server machine `Sessions` and on a naive model
//! (in `keepalive_testkit::server`): every action (as sets per instant),
//! status, count and round-trip time must agree after every operation, and
//! the action stream must keep its invariants: never two closes or aborts
//! for one connection, abort only after close, online/offline strictly
//! alternating per id, the online count equal to the ids online,
//! `poll_timeout` never in the past nor later than the model's deadline.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(message) = keepalive_testkit::server::check(data) {
        panic!("{message}");
    }
});
