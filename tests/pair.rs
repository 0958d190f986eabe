//! The article's whole system in virtual time: a client `Connection` and a
//! server `Presence` joined by a link that goes dark now and then (frames
//! vanish, connects hang, no close ever arrives: the worst case, a dead NAT
//! or a pulled cable). Random outage schedules and seeds, and after every
//! run:
//!
//! - the client notices each long outage within `interval + timeout` (plus
//!   one link latency) of the link going dark;
//! - the server reports the client offline within its presence timeout of
//!   the last frame that got through, and never while frames flow;
//! - after the link returns, the client is back and online at the server
//!   within the worst-case recovery bound.

#![cfg(feature = "std")]

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Duration;

use keepalive::{
    Action, Backoff, CloseReason, Config, Connection, Event, Instant, Jitter, Presence,
    PresenceConfig, TransportId,
};
use proptest::prelude::*;

const MS: Duration = Duration::from_millis(1);
const LATENCY: Duration = Duration::from_millis(20);
const INTERVAL: Duration = Duration::from_millis(1_000);
const TIMEOUT: Duration = Duration::from_millis(1_000);
const CONNECT_TIMEOUT: Duration = Duration::from_millis(2_000);
const CLOSE_TIMEOUT: Duration = Duration::from_millis(500);
const BACKOFF_MAX: Duration = Duration::from_millis(2_000);
/// Longer than a heartbeat round (`INTERVAL` + two latencies), so a healthy
/// client never looks offline.
const PRESENCE_TIMEOUT: Duration = Duration::from_millis(3_000);
const END: Instant = Instant::from_secs(90);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Delivery {
    /// An event for the client, from its transport `id`.
    Client(u32, Event),
    /// A frame that reaches the server: a check-in.
    Server,
}

/// A delivery due at `at`; ties go in the order they were sent.
#[derive(Debug, PartialEq, Eq)]
struct Scheduled {
    at: Instant,
    seq: u64,
    delivery: Delivery,
}

impl Ord for Scheduled {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

impl PartialOrd for Scheduled {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// The link is dark during each `[start, end)`.
struct Link {
    outages: Vec<(Instant, Instant)>,
}

impl Link {
    fn up(&self, t: Instant) -> bool {
        !self.outages.iter().any(|&(a, b)| a <= t && t < b)
    }

    /// A frame sent at `t` arrives if the link is up when it leaves and
    /// when it lands.
    fn carries(&self, t: Instant) -> bool {
        self.up(t) && self.up(t + LATENCY)
    }
}

#[derive(Default)]
struct Outcome {
    /// When the client closed for a heartbeat timeout.
    detections: Vec<Instant>,
    /// When the server reported the client offline.
    offline: Vec<Instant>,
    /// When the server heard from the client.
    check_ins: Vec<Instant>,
    /// When the client's transport opened.
    opened: Vec<Instant>,
}

fn run(link: &Link, seed: u64) -> Outcome {
    let config = Config::default()
        .with_heartbeat_interval(INTERVAL)
        .with_heartbeat_timeout(TIMEOUT)
        .with_connect_timeout(CONNECT_TIMEOUT)
        .with_close_timeout(CLOSE_TIMEOUT)
        .with_backoff(Backoff::exponential(100 * MS, BACKOFF_MAX).with_jitter(Jitter::Full))
        .with_seed(seed);
    let mut client = Connection::new(config).unwrap();
    let mut server: Presence<u8> =
        Presence::new(PresenceConfig::new().with_timeout(PRESENCE_TIMEOUT)).unwrap();
    let mut queue: BinaryHeap<Reverse<Scheduled>> = BinaryHeap::new();
    let mut seq = 0;
    let mut out = Outcome::default();
    let mut push = |queue: &mut BinaryHeap<_>, t: Instant, d: Delivery| {
        seq += 1;
        queue.push(Reverse(Scheduled {
            at: t,
            seq,
            delivery: d,
        }));
    };

    let mut now = Instant::ZERO;
    let mut actions: Vec<Action> = client.connect(now).collect();
    loop {
        for action in actions.drain(..) {
            let current = client.transport().map(TransportId::get);
            match action {
                Action::Connect { id } if link.carries(now) => {
                    push(&mut queue, now + LATENCY, Delivery::Server);
                    push(
                        &mut queue,
                        now + 2 * LATENCY,
                        Delivery::Client(id.get(), Event::Opened),
                    );
                }
                // A dark link: the connect hangs until the connect timeout.
                Action::Connect { .. } => {}
                Action::SendHeartbeat if link.carries(now) => {
                    let id = current.unwrap();
                    push(&mut queue, now + LATENCY, Delivery::Server);
                    if link.carries(now + LATENCY) {
                        push(
                            &mut queue,
                            now + 2 * LATENCY,
                            Delivery::Client(id, Event::Pong),
                        );
                    }
                }
                Action::SendHeartbeat => {}
                Action::Close { reason } => {
                    if reason == CloseReason::HeartbeatTimeout {
                        out.detections.push(now);
                    }
                    // The close completes only if the link carries it both ways.
                    if link.carries(now) && link.carries(now + LATENCY) {
                        let id = current.unwrap();
                        push(
                            &mut queue,
                            now + 2 * LATENCY,
                            Delivery::Client(id, Event::Closed),
                        );
                    }
                }
                Action::Abort | Action::ScheduleReconnect { .. } | Action::GiveUp { .. } => {}
            }
        }
        // The next thing to happen: a delivery, the client's deadline or the
        // server's.
        let next_delivery = queue.peek().map(|Reverse(s)| s.at);
        let next = [next_delivery, client.poll_timeout(), server.poll_timeout()]
            .into_iter()
            .flatten()
            .min();
        let Some(t) = next.filter(|&t| t <= END) else {
            break;
        };
        now = t;
        while let Some(id) = server.poll_expired(now) {
            assert_eq!(id, 1);
            out.offline.push(now);
        }
        actions = match queue.peek() {
            Some(Reverse(s)) if s.at == now => {
                let Reverse(Scheduled { delivery, .. }) = queue.pop().unwrap();
                match delivery {
                    Delivery::Server => {
                        out.check_ins.push(now);
                        server.check_in(&1, now).unwrap();
                        Vec::new()
                    }
                    Delivery::Client(id, event) => {
                        if event == Event::Opened
                            && client.transport().map(TransportId::get) == Some(id)
                        {
                            out.opened.push(now);
                        }
                        client
                            .handle_from(TransportId::from_u32(id), event, now)
                            .collect()
                    }
                }
            }
            _ => client.handle(Event::Tick, now).collect(),
        };
    }
    out
}

/// Up to three outages of 0.1–12 s, well apart, before 60 s.
fn outages() -> impl Strategy<Value = Vec<(Instant, Instant)>> {
    prop::collection::vec((2_000u64..55_000, 100u64..12_000), 0..4).prop_map(|mut spans| {
        spans.sort();
        let mut out: Vec<(Instant, Instant)> = Vec::new();
        for (start, len) in spans {
            let start = Instant::from_millis(start);
            // Keep 15 s between outages so each recovery can be judged alone.
            if out
                .last()
                .is_none_or(|&(_, b)| start > b + Duration::from_secs(15))
            {
                out.push((start, start + Duration::from_millis(len)));
            }
        }
        out
    })
}

proptest! {
    #[test]
    fn client_and_server_agree_across_outages(outages in outages(), seed in any::<u64>()) {
        let link = Link { outages: outages.clone() };
        let out = run(&link, seed);

        // The first connect succeeds and the server sees it at once.
        prop_assert_eq!(out.check_ins.first().copied(), Some(Instant::ZERO + LATENCY));

        for &(a, b) in &outages {
            let detect_by = a + LATENCY + INTERVAL + TIMEOUT;
            if b > detect_by + LATENCY {
                // Long enough to be noticed: the client closes in time.
                prop_assert!(
                    out.detections.iter().any(|&d| d >= a && d <= detect_by),
                    "outage {a}..{b}: detections {:?}", out.detections
                );
            }
            let last_heard = out.check_ins.iter().rev().find(|&&c| c < a).copied().unwrap();
            let offline_at = last_heard + PRESENCE_TIMEOUT;
            if b > offline_at {
                // The server reports it offline exactly at its timeout.
                prop_assert!(out.offline.contains(&offline_at), "outage {a}..{b}: offline {:?}", out.offline);
            }
            // Back after the outage within the worst case: a hung connect
            // that times out, its close aborted, the longest backoff, and
            // the handshake.
            let back_by = b + CONNECT_TIMEOUT + CLOSE_TIMEOUT + BACKOFF_MAX + 2 * LATENCY + MS;
            if b > detect_by + LATENCY {
                prop_assert!(
                    out.opened.iter().any(|&o| o >= b && o <= back_by),
                    "outage {a}..{b}: opened {:?}", out.opened
                );
            }
        }
        // Never offline while frames flow: the silence behind every offline
        // report overlaps an outage (without one, a heartbeat reaches the
        // server every `INTERVAL + 2 × LATENCY`, well within its timeout).
        for &off in &out.offline {
            let silent_since = off - PRESENCE_TIMEOUT;
            prop_assert!(
                outages.iter().any(|&(a, b)| a <= off && b + LATENCY > silent_since),
                "offline at {off} without an outage: {outages:?}"
            );
        }
    }
}

/// One fixed run, read as a story, so a failure of the property above has a
/// known-good reference.
#[test]
fn one_ten_second_outage() {
    let (a, b) = (Instant::from_secs(10), Instant::from_secs(20));
    let out = run(
        &Link {
            outages: vec![(a, b)],
        },
        7,
    );
    // Heartbeats every ~1 s keep the server's view fresh until 10 s.
    let last = out
        .check_ins
        .iter()
        .rev()
        .find(|&&c| c < a)
        .copied()
        .unwrap();
    assert!(last > a - INTERVAL - 2 * LATENCY, "last check-in {last}");
    assert_eq!(out.offline, [last + PRESENCE_TIMEOUT]);
    assert!(out.detections[0] <= a + LATENCY + INTERVAL + TIMEOUT);
    let back = out.opened.iter().find(|&&o| o >= b).copied().unwrap();
    assert!(back <= b + CONNECT_TIMEOUT + CLOSE_TIMEOUT + BACKOFF_MAX + 2 * LATENCY);
    // Back online at the server by the time the client is.
    assert!(out.check_ins.iter().any(|&c| c >= b && c <= back));
}
