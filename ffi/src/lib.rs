//! C ABI and WebAssembly exports for [`keepalive`]'s [`Connection`](keepalive::Connection).
//!
//! Only numbers cross the boundary, so one set of `ka_*` exports serves C,
//! Python `ctypes`, Go `cgo` and JavaScript (through a `.wasm` that imports
//! nothing). `keepalive.h` is the reference for C; `js/keepalive.mjs` wraps a
//! browser `WebSocket` with it.
//!
//! - **Handles.** Configs and connections are positive `i32` handles with a
//!   generation: a freed handle is stale ([`KA_ERR_STALE_HANDLE`]), a made-up
//!   one is bad ([`KA_ERR_BAD_HANDLE`]) — an error code, never undefined
//!   behaviour. The table is behind a mutex: any thread may call any export.
//! - **Inputs** (`ka_connect_*`, `ka_close_*`, `ka_handle_*`,
//!   `ka_handle_from_*`) return the number of unread actions (≥ 0) or a
//!   negative error code.
//! - **Actions** are read one at a time: [`ka_next`] makes the next one
//!   current and returns its kind; `ka_action_transport`, `…_delay_*`,
//!   `…_attempt` and `…_reason` read its fields.
//! - **Time** is `u64` nanoseconds since the caller's epoch (`*_ns`), or
//!   `f64` milliseconds (`*_ms`, for `performance.now()`). "No deadline" is
//!   [`KA_NO_TIMEOUT`] (`i64::MAX`) in nanoseconds and `+Infinity` in
//!   milliseconds.
//! - **Configs** are built from numbers (durations in `f64` ms); every
//!   setter checks the result at once and returns one stable code per
//!   [`ConfigError`](keepalive::ConfigError) variant (and per field for
//!   `TooShort`/`TooLong`).
//! - **Panics** cannot unwind across an `extern "C"` function: the process
//!   aborts (a trap in wasm). None is expected.
//! - **Left out:** `Backoff::steps` takes a `&'static [Duration]`; building
//!   one from numbers would mean leaking a table per config, so step tables
//!   are not offered ([`KA_ERR_EMPTY_STEPS`] and the `BACKOFF_STEP` codes are
//!   reserved and never returned).
//!
//! # Unsafe code
//!
//! The crate denies `unsafe_code`; `exports` is the one module that allows
//! it, for the `#[unsafe(no_mangle)]` attributes only (no `unsafe` block or
//! function anywhere). Every other module forbids it.
//!
//! # Example
//!
//! The same calls a C program makes (the Rust functions are the exports):
//!
//! ```
//! use keepalive_ffi::*;
//!
//! let cfg = ka_config_article();                  // 60 s / 60 s / fixed 2 s
//! assert_eq!(ka_config_set_seed(cfg, 7), KA_OK);
//! let h = ka_new(cfg);
//! assert!(h > 0);
//! ka_free(cfg);
//!
//! assert_eq!(ka_connect_ms(h, 0.0), 1);           // one action queued
//! assert_eq!(ka_next(h), KA_ACTION_CONNECT);
//! let id = ka_action_transport(h) as u32;         // open a socket for it
//! assert_eq!(ka_handle_from_ms(h, id, KA_EVENT_OPENED, 5.0), 0);
//! assert_eq!(ka_poll_timeout_ms(h), 60_005.0);    // heartbeat after 60 s of silence
//!
//! assert_eq!(ka_handle_ms(h, KA_EVENT_TICK, 60_005.0), 1);
//! assert_eq!(ka_next(h), KA_ACTION_SEND_HEARTBEAT);
//! assert_eq!(ka_next(h), KA_ACTION_NONE);
//!
//! assert_eq!(ka_free(h), KA_OK);
//! assert_eq!(ka_free(h), KA_ERR_STALE_HANDLE);    // double free: an error, not UB
//! ```

#![deny(unsafe_code)]
#![warn(missing_docs)]

mod api;
mod codes;
mod exports;
mod table;

pub use codes::*;
pub use exports::*;
