//! Bytes → a config and a sequence of inputs (every event, connect/close,
//! `handle_from` with old/newest/future ids, clock steps including
//! backwards); every invariant of `keepalive_testkit::InvariantChecker` is
//! checked after every input.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(violation) = keepalive_testkit::targets::connection(data) {
        panic!("{violation}");
    }
});
