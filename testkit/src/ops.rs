//! Inputs to a `Connection`, as data: decodable from fuzz bytes, encodable
//! back (seed corpora are written as readable op lists), printable in traces.

use core::fmt;
use core::time::Duration;

use keepalive::Event;

use crate::bytes::Bytes;

/// One input, or a move of the caller's clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// `connect(now)`.
    Connect,
    /// `close(now)`.
    Close,
    /// `handle(event, now)`: the caller says the current transport reported
    /// `event` (or a tick).
    Handle(Event),
    /// `handle_from(id, event, now)` with the id of an old, the newest, or a
    /// never-issued transport.
    HandleFrom(Whose, Event),
    /// Moves the caller's clock; no input.
    Advance(Step),
    /// `retry_after(delay, now)`: the server advised a delay (HTTP
    /// `Retry-After`, close code 1013), zero and beyond the cap included.
    RetryAfter(Duration),
    /// `set_heartbeat(interval, timeout)` (server-provided values), valid or
    /// not.
    SetHeartbeat {
        /// The new interval.
        interval: Duration,
        /// The new timeout.
        timeout: Duration,
    },
}

/// Which transport a [`Op::HandleFrom`] event claims to come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Whose {
    /// The newest id handed out by a `Connect` (it may have ended already).
    Current,
    /// An id `k` connects older than the newest (1..=4), saturating at 0.
    Old(u8),
    /// An id never handed out yet (newest + 1).
    Future,
}

/// How the caller's clock moves. Times reach the connection only with the
/// next input, so a backwards step tests the clamping of `now`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Not at all (the next input comes at the same instant).
    Zero,
    /// Forward by nanoseconds.
    Nanos(u32),
    /// Forward by milliseconds (up to `u32::MAX` ms, about 49.7 days).
    Millis(u32),
    /// Exactly to `poll_timeout()` (unchanged if there is none).
    ToDeadline,
    /// One nanosecond before `poll_timeout()`.
    BeforeDeadline,
    /// This many milliseconds past `poll_timeout()` (a late tick).
    PastDeadline(u32),
    /// Backwards by milliseconds (saturating at zero).
    Back(u32),
}

/// Decodes ops until the bytes run out.
pub fn decode_ops(bytes: &mut Bytes<'_>) -> Vec<Op> {
    let mut ops = Vec::new();
    while !bytes.is_empty() {
        ops.push(Op::decode(bytes));
    }
    ops
}

/// The bytes that [`decode_ops`] turns back into `ops`.
pub fn encode_ops(ops: &[Op]) -> Vec<u8> {
    let mut out = Vec::new();
    for op in ops {
        op.encode(&mut out);
    }
    out
}

fn decode_event(b: u8) -> Event {
    match b % 8 {
        i @ 0..=6 => Event::ALL[usize::from(i)],
        _ => Event::Tick,
    }
}

fn encode_event(event: Event) -> u8 {
    Event::ALL.iter().position(|e| *e == event).unwrap_or(6) as u8
}

impl Op {
    /// Reads one op (an empty input reads as `Connect`).
    pub fn decode(b: &mut Bytes<'_>) -> Op {
        match b.u8() % 32 {
            0 | 1 => Op::Connect,
            2 => Op::Close,
            3..=12 => Op::Handle(decode_event(b.u8())),
            13..=17 => {
                let whose = Whose::decode(b.u8());
                Op::HandleFrom(whose, decode_event(b.u8()))
            }
            18..=29 => Op::Advance(Step::decode(b)),
            30 => Op::SetHeartbeat {
                interval: decode_heartbeat(b),
                timeout: decode_heartbeat(b),
            },
            _ => match b.u8() % 4 {
                0 => Op::Advance(Step::ToDeadline),
                1 => Op::RetryAfter(Duration::from_secs(3600 + u64::from(b.u8()))),
                _ => Op::RetryAfter(Duration::from_millis(u64::from(b.u16()))),
            },
        }
    }

    /// Appends the bytes that [`Op::decode`] reads back as `self`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        match *self {
            Op::Connect => out.push(0),
            Op::Close => out.push(2),
            Op::Handle(event) => out.extend([3, encode_event(event)]),
            Op::HandleFrom(whose, event) => out.extend([13, whose.encode(), encode_event(event)]),
            Op::Advance(step) => {
                out.push(18);
                step.encode(out);
            }
            Op::RetryAfter(delay) => match delay.as_secs().checked_sub(3600) {
                Some(hours) if delay.subsec_nanos() == 0 && hours <= 255 => {
                    out.extend([31, 1, hours as u8]);
                }
                _ => {
                    let ms = u16::try_from(delay.as_millis()).unwrap_or(u16::MAX);
                    out.extend([31, 2]);
                    out.extend(ms.to_le_bytes());
                }
            },
            Op::SetHeartbeat { interval, timeout } => {
                out.push(30);
                encode_heartbeat(interval, out);
                encode_heartbeat(timeout, out);
            }
        }
    }
}

impl Whose {
    fn decode(b: u8) -> Whose {
        match b % 4 {
            0 => Whose::Current,
            1 => Whose::Future,
            _ => Whose::Old(1 + (b >> 2) % 4),
        }
    }

    fn encode(self) -> u8 {
        match self {
            Whose::Current => 0,
            Whose::Future => 1,
            Whose::Old(k) => 2 | (k.clamp(1, 4) - 1) << 2,
        }
    }
}

impl Step {
    fn decode(b: &mut Bytes<'_>) -> Step {
        match b.u8() % 8 {
            0 => Step::Zero,
            1 => Step::Nanos(u32::from(b.u16())),
            2 => Step::Millis(u32::from(b.u8())),
            3 => Step::Millis(u32::from(b.u16())),
            4 => Step::ToDeadline,
            5 => Step::BeforeDeadline,
            6 => Step::PastDeadline(u32::from(b.u16())),
            _ => match b.u8() % 4 {
                0 => Step::Millis(b.u32()),
                1 => Step::Back(b.u32()),
                2 => Step::PastDeadline(b.u32()),
                _ => Step::Nanos(b.u32()),
            },
        }
    }

    fn encode(self, out: &mut Vec<u8>) {
        match self {
            Step::Zero => out.push(0),
            Step::Nanos(n) if n <= 0xffff => {
                out.push(1);
                out.extend((n as u16).to_le_bytes());
            }
            Step::Nanos(n) => {
                out.extend([7, 3]);
                out.extend(n.to_le_bytes());
            }
            Step::Millis(ms) if ms <= 0xff => out.extend([2, ms as u8]),
            Step::Millis(ms) if ms <= 0xffff => {
                out.push(3);
                out.extend((ms as u16).to_le_bytes());
            }
            Step::Millis(ms) => {
                out.extend([7, 0]);
                out.extend(ms.to_le_bytes());
            }
            Step::ToDeadline => out.push(4),
            Step::BeforeDeadline => out.push(5),
            Step::PastDeadline(ms) if ms <= 0xffff => {
                out.push(6);
                out.extend((ms as u16).to_le_bytes());
            }
            Step::PastDeadline(ms) => {
                out.extend([7, 2]);
                out.extend(ms.to_le_bytes());
            }
            Step::Back(ms) => {
                out.extend([7, 1]);
                out.extend(ms.to_le_bytes());
            }
        }
    }
}

/// A heartbeat duration for `set_heartbeat`: mostly whole milliseconds,
/// sometimes zero, sub-millisecond or too long.
fn decode_heartbeat(b: &mut Bytes<'_>) -> Duration {
    match b.u8() % 4 {
        0 => Duration::from_millis(u64::from(b.u16())),
        1 => Duration::from_millis(u64::from(b.u32())),
        2 => Duration::from_millis(u64::from(u32::MAX) + 1 + u64::from(b.u8())),
        _ => Duration::from_nanos(u64::from(b.u32())),
    }
}

fn encode_heartbeat(d: Duration, out: &mut Vec<u8>) {
    let too_long = u128::from(u32::MAX) + 1;
    let ms = d.as_millis();
    let whole = d.subsec_nanos().is_multiple_of(1_000_000);
    if whole && ms <= 0xffff {
        out.push(0);
        out.extend((ms as u16).to_le_bytes());
    } else if whole && ms <= u128::from(u32::MAX) {
        out.push(1);
        out.extend((ms as u32).to_le_bytes());
    } else if whole && ms >= too_long && ms - too_long <= 0xff {
        out.extend([2, (ms - too_long) as u8]);
    } else {
        out.push(3);
        out.extend(
            u32::try_from(d.as_nanos())
                .unwrap_or(u32::MAX)
                .to_le_bytes(),
        );
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Op::Connect => f.write_str("connect"),
            Op::Close => f.write_str("close"),
            Op::Handle(event) => write!(f, "{event}"),
            Op::HandleFrom(whose, event) => write!(f, "{event} from {whose}"),
            Op::Advance(step) => write!(f, "clock {step}"),
            Op::RetryAfter(delay) => write!(f, "retry_after({delay:?})"),
            Op::SetHeartbeat { interval, timeout } => {
                write!(f, "set_heartbeat({interval:?}, {timeout:?})")
            }
        }
    }
}

impl fmt::Display for Whose {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Whose::Current => f.write_str("newest"),
            Whose::Old(k) => write!(f, "newest-{k}"),
            Whose::Future => f.write_str("newest+1"),
        }
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::Zero => f.write_str("+0"),
            Step::Nanos(n) => write!(f, "+{n}ns"),
            Step::Millis(ms) => write!(f, "+{ms}ms"),
            Step::ToDeadline => f.write_str("to deadline"),
            Step::BeforeDeadline => f.write_str("to deadline-1ns"),
            Step::PastDeadline(ms) => write!(f, "to deadline+{ms}ms"),
            Step::Back(ms) => write!(f, "-{ms}ms"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_then_decode_round_trips() {
        let ops = [
            Op::Connect,
            Op::Close,
            Op::Handle(Event::Tick),
            Op::Handle(Event::Rejected),
            Op::HandleFrom(Whose::Old(3), Event::Closed),
            Op::HandleFrom(Whose::Future, Event::Opened),
            Op::HandleFrom(Whose::Current, Event::Pong),
            Op::Advance(Step::Zero),
            Op::Advance(Step::Nanos(77)),
            Op::Advance(Step::Millis(200)),
            Op::Advance(Step::Millis(60_000)),
            Op::Advance(Step::Millis(u32::MAX)),
            Op::Advance(Step::ToDeadline),
            Op::Advance(Step::BeforeDeadline),
            Op::Advance(Step::PastDeadline(9)),
            Op::Advance(Step::Back(5)),
            Op::SetHeartbeat {
                interval: Duration::from_millis(1500),
                timeout: Duration::ZERO,
            },
            Op::SetHeartbeat {
                interval: Duration::from_millis(u64::from(u32::MAX) + 1),
                timeout: Duration::from_nanos(999_999),
            },
        ];
        let bytes = encode_ops(&ops);
        assert_eq!(decode_ops(&mut Bytes::new(&bytes)), ops);
    }
}
