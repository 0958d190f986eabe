//! Random operations on `Presence` and on a naive `HashMap` model (in
//! `keepalive_testkit::presence`): statuses, the ids that went offline (and
//! their order), `len`, `online_count`, the online ids and `poll_timeout`
//! must agree after every operation.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(message) = keepalive_testkit::presence::check(data) {
        panic!("{message}");
    }
});
