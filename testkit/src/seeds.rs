//! Readable scenarios that seed the fuzz corpus (`fuzz/corpus/<target>/`),
//! written by `cargo test --test invariants -- --ignored write_fuzz_seeds`.

use keepalive::Event::*;

use crate::ops::{Op, Step, Whose, encode_ops};

/// Config presets of `decode_config` (first byte), followed by 8 seed bytes.
const DEFAULT: u8 = 0;
const ARTICLE: u8 = 1;
const TINY_IDLE: u8 = 2;
const TINY_FIXED: u8 = 3;
const TINY_OFF: u8 = 4;

fn seed(preset: u8, ops: &[Op]) -> Vec<u8> {
    let mut out = vec![preset, 7, 0, 0, 0, 0, 0, 0, 0];
    out.extend(encode_ops(ops));
    out
}

const TICK: [Op; 2] = [Op::Advance(Step::ToDeadline), Op::Handle(Tick)];

fn ticks(n: usize) -> Vec<Op> {
    TICK.iter().copied().cycle().take(2 * n).collect()
}

fn cat(parts: &[&[Op]]) -> Vec<Op> {
    parts.concat()
}

/// `(name, bytes)` seeds for the `connection` target.
pub fn connection() -> Vec<(&'static str, Vec<u8>)> {
    use Op::*;
    let open: &[Op] = &[Connect, Handle(Opened)];
    vec![
        // Heartbeat, silence, timeout close, Closed, reconnect, open again.
        (
            "dead-peer-reconnect",
            seed(
                TINY_IDLE,
                &cat(&[
                    open,
                    &ticks(2),
                    &[Handle(Closed)],
                    &ticks(1),
                    &[Handle(Opened)],
                ]),
            ),
        ),
        (
            "article-outage",
            seed(
                ARTICLE,
                &cat(&[
                    open,
                    &ticks(2),
                    &[Handle(Closed)],
                    &ticks(1),
                    &[Handle(Closed)],
                    &ticks(1),
                    &[Handle(Opened), Handle(Message)],
                ]),
            ),
        ),
        (
            "error-then-closed",
            seed(
                TINY_IDLE,
                &cat(&[
                    open,
                    &[Handle(Error), Handle(Closed), Handle(Error)],
                    &ticks(1),
                ]),
            ),
        ),
        (
            "closed-then-error-stale",
            seed(
                TINY_IDLE,
                &cat(&[
                    open,
                    &[Handle(Closed), Handle(Error)],
                    &ticks(1),
                    &[
                        HandleFrom(Whose::Old(1), Closed),
                        HandleFrom(Whose::Current, Opened),
                    ],
                ]),
            ),
        ),
        (
            "user-close-abort",
            seed(TINY_IDLE, &cat(&[open, &[Close], &ticks(2), &[Connect]])),
        ),
        (
            "connect-while-waiting-and-closing",
            seed(
                TINY_IDLE,
                &cat(&[
                    open,
                    &[
                        Handle(Closed),
                        Connect,
                        Handle(Opened),
                        Handle(Error),
                        Connect,
                    ],
                    &ticks(1),
                ]),
            ),
        ),
        (
            "rejected-gives-up",
            seed(
                DEFAULT,
                &cat(&[open, &[Handle(Rejected)], &ticks(1), &[Connect]]),
            ),
        ),
        (
            "max-attempts",
            seed(
                TINY_IDLE,
                &cat(&[
                    &[Connect],
                    &[Handle(Closed)],
                    &ticks(1),
                    &[Handle(Closed)],
                    &ticks(1),
                    &[Handle(Closed)],
                    &ticks(1),
                    &[Handle(Closed)],
                    &ticks(1),
                    &[Handle(Closed)],
                    &ticks(1),
                    &[Handle(Closed)],
                    &ticks(1),
                    &[Handle(Closed)],
                ]),
            ),
        ),
        (
            "connect-timeout",
            seed(TINY_OFF, &cat(&[&[Connect], &ticks(3)])),
        ),
        (
            "fixed-mode-pongs",
            seed(
                TINY_FIXED,
                &cat(&[
                    open,
                    &ticks(1),
                    &[Handle(Pong)],
                    &ticks(1),
                    &[Handle(Message)],
                    &ticks(3),
                ]),
            ),
        ),
        (
            "late-tick-probe-and-backwards-time",
            seed(
                TINY_IDLE,
                &cat(&[
                    open,
                    &ticks(1),
                    &[
                        Advance(Step::PastDeadline(50)),
                        Handle(Tick),
                        Advance(Step::Back(100)),
                        Handle(Message),
                        Advance(Step::BeforeDeadline),
                        Handle(Tick),
                    ],
                ]),
            ),
        ),
        (
            "set-heartbeat-live",
            seed(
                TINY_IDLE,
                &cat(&[
                    open,
                    &[Op::SetHeartbeat {
                        interval: core::time::Duration::from_millis(5),
                        timeout: core::time::Duration::from_millis(50),
                    }],
                    &ticks(3),
                ]),
            ),
        ),
    ]
}

/// `(name, bytes)` seeds for the `config` target.
pub fn config() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("default", vec![DEFAULT, 1, 2, 3, 4, 5, 6, 7, 8, 1]),
        ("article", vec![ARTICLE, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1]),
        (
            "tiny-fixed",
            vec![TINY_FIXED, 9, 9, 9, 9, 9, 9, 9, 9, 0, 1, 20, 3, 1],
        ),
        // Every field decoded: valid small values, exponential 1.6, equal jitter.
        (
            "fields-valid",
            vec![
                8, 1, 0, 20, 0, 10, 0, 15, 0, 5, 1, 0, 1, 0, 40, 4, 2, 0, 1, 1, 2, 3, 4, 5, 6, 7,
                8, 0,
            ],
        ),
        // Fields at the edges: Duration::MAX, NaN factor, empty steps.
        (
            "fields-edges",
            vec![8, 2, 13, 11, 13, 10, 13, 0, 13, 4, 2, 0, 3, 0, 1, 0, 1, 0],
        ),
    ]
}

/// `(name, bytes)` seeds for the `presence` target: a config (timeout,
/// forget-after, capacity, start), then ops.
pub fn presence() -> Vec<(&'static str, Vec<u8>)> {
    // Timeout 100 ms (tag 0, u16 99), forget 50 ms (tag 2, u16 49),
    // capacity 2 (tag 0, 1), start at 0 (tag 2).
    let small = [0, 99, 0, 2, 49, 0, 0, 1, 2];
    // Check in 1, 2, 3 (full), forward timeout-1, check in 1, forward 1 ns
    // (tag 11, span 3 = timeout+1), drain, check out 1, backward timeout,
    // check in 2, forward 1.5 timeout, drain, huge step, drain, status 1.
    let walk = [
        0x10, 0x20, 0x30, 11, 2, 0x10, 11, 3, 8, 0x15, 15, 1, 0x20, 11, 4, 0xdc, 0x05, 8, 11, 7, 0,
        0, 0, 0, 0, 0, 0x10, 0, 8, 0x17,
    ];
    // The same walk near the end of time.
    let mut late = small;
    late[8] = 1;
    vec![
        ("walk", [&small[..], &walk].concat()),
        ("walk-near-max", [&late[..], &walk].concat()),
        ("no-forget", [&[0, 9, 0, 0, 0, 6, 2][..], &walk].concat()),
    ]
}
