//! Any field values → a valid `Config` or a `ConfigError`, never a panic;
//! `Connection::new` agrees with `validate`; every delay of a valid backoff
//! lies within its bounds.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(message) = keepalive_testkit::targets::config(data) {
        panic!("{message}");
    }
});
