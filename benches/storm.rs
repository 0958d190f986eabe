//! The reconnect storm, in virtual time: 100,000 clients (each its own
//! `Connection` with its own seed) connected to one server. The server dies
//! at `T` (every open transport gets `Closed`, after each client's one-way
//! latency) and comes back 10 s later. While it is down, a connect attempt
//! fails with `Closed` after one round trip; once it is back, it succeeds
//! with `Opened`. Every client is driven by a single event queue (a binary
//! heap keyed by time) on `poll_timeout` and on its transport's events.
//!
//! Printed per policy: connection attempts per 100 ms window reaching the
//! server, the peak window once the server is back, and the time until every
//! client is open again; the per-window counts go to a CSV file
//! (`target/storm.csv`, or the first non-flag argument). Then a table of
//! dead-peer detection latency (configured vs measured) for idle and fixed
//! heartbeat modes.
//!
//! `cargo bench --bench storm` (about 20 s). Without `--bench` (as `cargo
//! test --all-targets` runs it) it simulates 2,000 clients and writes no CSV.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fmt::Write as _;
use std::time::Duration;

use keepalive::{
    Action, Backoff, CloseReason, Config, Connection, Event, HeartbeatMode, Instant, Jitter, Rng,
    TransportId,
};

const MS: u64 = 1_000_000;
const SEC: u64 = 1_000 * MS;
/// The server dies here (every client has been open well over `min_uptime`).
const DEATH: u64 = 60 * SEC;
const DOWNTIME: u64 = 10 * SEC;
const BACK: u64 = DEATH + DOWNTIME;
const WINDOW: u64 = 100 * MS;
/// Give up simulating this long after the server's return.
const HORIZON: u64 = 600 * SEC;
/// The default backoff's cap.
const CAP: u64 = 30 * SEC;

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    /// A deadline of the client's connection (stale unless `gen` matches).
    Tick { generation: u32 },
    /// A transport event for the client.
    Deliver { id: TransportId, event: u8 },
    /// A connect attempt reaches the server.
    Arrive { id: TransportId },
    /// The server dies.
    Kill,
}

struct Client {
    conn: Connection,
    /// One-way latency to the server, ns.
    latency: u64,
    generation: u32,
    /// The deadline currently queued for this client.
    queued: Option<Instant>,
    open: bool,
}

struct Outcome {
    /// Attempts reaching the server per 100 ms window, from t = 0.
    windows: Vec<u32>,
    /// Peak window at or after the server's return.
    peak_after: u32,
    /// When (after the return) every client was open again.
    recovered: Option<u64>,
    attempts_after: u64,
    events: u64,
}

struct Sim {
    clients: Vec<Client>,
    queue: BinaryHeap<Reverse<(u64, u32, Kind)>>,
    windows: Vec<u32>,
    open: usize,
    events: u64,
}

fn event_index(e: Event) -> u8 {
    Event::ALL.iter().position(|x| *x == e).unwrap() as u8
}

impl Sim {
    fn schedule_tick(&mut self, c: u32) {
        let client = &mut self.clients[c as usize];
        let next = client.conn.poll_timeout();
        if next != client.queued {
            client.queued = next;
            client.generation += 1;
            if let Some(t) = next {
                let generation = client.generation;
                self.queue
                    .push(Reverse((t.as_nanos(), c, Kind::Tick { generation })));
            }
        }
    }

    fn deliver(&mut self, c: u32, id: TransportId, event: Event, now: u64) {
        let actions =
            self.clients[c as usize]
                .conn
                .handle_from(id, event, Instant::from_nanos(now));
        self.perform(c, actions, now);
        let client = &mut self.clients[c as usize];
        let open = client.conn.state().is_open();
        if open != client.open {
            client.open = open;
            if open { self.open += 1 } else { self.open -= 1 }
        }
    }

    fn perform(&mut self, c: u32, actions: keepalive::Actions, now: u64) {
        let latency = self.clients[c as usize].latency;
        for action in actions {
            match action {
                Action::Connect { id } => {
                    self.queue
                        .push(Reverse((now + latency, c, Kind::Arrive { id })));
                }
                Action::SendHeartbeat => {
                    // Answered if the server is up when the ping arrives.
                    let arrive = now + latency;
                    if !(DEATH..BACK).contains(&arrive) {
                        let id = self.clients[c as usize].conn.transport().unwrap();
                        let event = event_index(Event::Pong);
                        self.queue.push(Reverse((
                            arrive + latency,
                            c,
                            Kind::Deliver { id, event },
                        )));
                    }
                }
                Action::Close { .. } => {
                    let id = self.clients[c as usize].conn.transport().unwrap();
                    let event = event_index(Event::Closed);
                    self.queue
                        .push(Reverse((now + 2 * latency, c, Kind::Deliver { id, event })));
                }
                Action::Abort | Action::ScheduleReconnect { .. } | Action::GiveUp { .. } => {}
            }
        }
        self.schedule_tick(c);
    }

    fn run(&mut self, until: u64) -> Option<u64> {
        let n = self.clients.len();
        self.queue.push(Reverse((DEATH, u32::MAX, Kind::Kill)));
        while let Some(Reverse((t, c, kind))) = self.queue.pop() {
            if t > until {
                break;
            }
            self.events += 1;
            match kind {
                Kind::Kill => self.kill(),
                Kind::Tick { generation } => {
                    let client = &mut self.clients[c as usize];
                    if generation != client.generation {
                        continue;
                    }
                    client.queued = None;
                    let actions = client.conn.handle(Event::Tick, Instant::from_nanos(t));
                    self.perform(c, actions, t);
                }
                Kind::Deliver { id, event } => {
                    self.deliver(c, id, Event::ALL[usize::from(event)], t);
                }
                Kind::Arrive { id } => {
                    let w = (t / WINDOW) as usize;
                    if self.windows.len() <= w {
                        self.windows.resize(w + 1, 0);
                    }
                    self.windows[w] += 1;
                    let up = !(DEATH..BACK).contains(&t);
                    let event = event_index(if up { Event::Opened } else { Event::Closed });
                    let back = t + self.clients[c as usize].latency;
                    self.queue
                        .push(Reverse((back, c, Kind::Deliver { id, event })));
                }
            }
            if t >= BACK && self.open == n {
                return Some(t);
            }
        }
        None
    }

    /// The server dies: every live transport ends (the clients hear of it
    /// one latency later).
    fn kill(&mut self) {
        for c in 0..self.clients.len() {
            let client = &self.clients[c];
            if let Some(id) = client.conn.transport()
                && client.open
            {
                let event = event_index(Event::Closed);
                let at = DEATH + client.latency;
                self.queue
                    .push(Reverse((at, c as u32, Kind::Deliver { id, event })));
            }
        }
    }
}

fn storm(config: Config, clients: usize, salt: u64) -> Outcome {
    let mut rng = Rng::new(salt);
    let mut sim = Sim {
        clients: Vec::with_capacity(clients),
        queue: BinaryHeap::with_capacity(clients * 3),
        windows: Vec::new(),
        open: 0,
        events: 0,
    };
    for i in 0..clients {
        let conn =
            Connection::new(config.with_seed(salt ^ (i as u64).wrapping_mul(0x9E37))).unwrap();
        sim.clients.push(Client {
            conn,
            latency: rng.between(5 * MS, 50 * MS),
            generation: 0,
            queued: None,
            open: false,
        });
        // Staggered start over the first 10 s.
        let start = rng.between(0, 10 * SEC);
        let actions = sim.clients[i].conn.connect(Instant::from_nanos(start));
        sim.perform(i as u32, actions, start);
    }
    let recovered = sim.run(BACK + HORIZON);
    let back_window = (BACK / WINDOW) as usize;
    let after = sim.windows.get(back_window..).unwrap_or(&[]);
    Outcome {
        peak_after: after.iter().copied().max().unwrap_or(0),
        attempts_after: after.iter().map(|&x| u64::from(x)).sum(),
        recovered: recovered.map(|t| t - BACK),
        windows: sim.windows,
        events: sim.events,
    }
}

fn spark(windows: &[u32], clients: usize, from: u64, seconds: usize) -> String {
    const BARS: [char; 9] = [' ', '▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let first = (from / WINDOW) as usize;
    (0..seconds)
        .map(|s| {
            let lo = first + s * 10;
            let peak = (lo..lo + 10)
                .map(|w| windows.get(w).copied().unwrap_or(0))
                .max()
                .unwrap_or(0);
            // Scale: a full bar is 20 % of the clients in one window.
            let level = (peak as f64 / clients as f64 / 0.20 * 8.0).ceil() as usize;
            BARS[level.min(8)]
        })
        .collect()
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let clients = if full { 100_000 } else { 2_000 };
    let csv_path = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .unwrap_or_else(|| concat!(env!("CARGO_MANIFEST_DIR"), "/target/storm.csv").to_string());

    let exp = Backoff::exponential(Duration::from_secs(1), Duration::from_secs(30));
    let policies: [(&str, Config); 6] = [
        ("article (fixed 2 s)", Config::article()),
        ("default", Config::default()),
        ("exp, no jitter", Config::default().with_backoff(exp)),
        (
            "exp, full jitter",
            Config::default().with_backoff(exp.with_jitter(Jitter::Full)),
        ),
        (
            "exp, equal jitter",
            Config::default().with_backoff(exp.with_jitter(Jitter::Equal)),
        ),
        (
            "exp, decorrelated",
            Config::default().with_backoff(exp.with_jitter(Jitter::Decorrelated)),
        ),
    ];
    println!(
        "{clients} clients, staggered start over 10 s; the server dies at t={}s and is back at t={}s;",
        DEATH / SEC,
        BACK / SEC
    );
    println!(
        "one-way latency 5–50 ms per client; attempts counted per 100 ms window when they reach the server."
    );
    if !full {
        println!("quick smoke run; `cargo bench --bench storm` for the figures");
    }
    println!();
    println!(
        "{:<22} {:>12} {:>9} {:>15} {:>14} {:>10}",
        "policy", "peak/100ms", "% of all", "attempts after", "all back after", "sim events"
    );
    let mut outcomes = Vec::new();
    let started = std::time::Instant::now();
    for (i, (name, config)) in policies.iter().enumerate() {
        let o = storm(*config, clients, 0xC0FFEE + i as u64);
        let back = o.recovered.map_or("never".to_string(), |t| {
            format!("{:.1} s", t as f64 / SEC as f64)
        });
        println!(
            "{:<22} {:>12} {:>8.1}% {:>15} {:>14} {:>10}",
            name,
            o.peak_after,
            100.0 * f64::from(o.peak_after) / clients as f64,
            o.attempts_after,
            back,
            o.events
        );
        outcomes.push((*name, o));
    }
    let elapsed = started.elapsed();

    println!();
    println!(
        "peak attempts per second, from the death (t={}s) on, one char per second (█ = 20 % of the clients in one 100 ms window):",
        DEATH / SEC
    );
    for (name, o) in &outcomes {
        println!("{:<22} |{}|", name, spark(&o.windows, clients, DEATH, 70));
    }
    println!("{:<22}  ^death    ^back (+10 s)", "");

    // The default, second by second after the return.
    let default = &outcomes[1].1;
    println!();
    println!(
        "default: attempts per second after the server's return (bar: peak 100 ms window, each # = 0.25 % of clients)"
    );
    let first = (BACK / WINDOW) as usize;
    for s in 0..40 {
        let range = first + s * 10..first + s * 10 + 10;
        let ws: Vec<u32> = range
            .map(|w| default.windows.get(w).copied().unwrap_or(0))
            .collect();
        let total: u32 = ws.iter().sum();
        let peak = ws.iter().copied().max().unwrap_or(0);
        if total == 0 && s > 0 && default.recovered.is_some_and(|r| r < s as u64 * SEC) {
            break;
        }
        let pct = 100.0 * f64::from(peak) / clients as f64;
        println!(
            "  +{:>2}s {:>6} attempts, peak {:>5} ({:>4.1} %) {}",
            s,
            total,
            peak,
            pct,
            "#".repeat((pct / 0.25).round() as usize)
        );
    }

    let peak_pct = 100.0 * f64::from(default.peak_after) / clients as f64;
    let within = default.recovered.is_some_and(|t| t <= 2 * CAP);
    println!();
    println!(
        "target (default): no window after the return above 5 % of the clients: {} ({peak_pct:.2} %); everyone back within 2 × cap = {} s: {} ({})",
        if peak_pct <= 5.0 { "met" } else { "MISSED" },
        2 * CAP / SEC,
        if within { "met" } else { "MISSED" },
        default.recovered.map_or("never".to_string(), |t| format!(
            "{:.1} s",
            t as f64 / SEC as f64
        )),
    );
    println!(
        "(simulated {} policies in {:.1} s)",
        outcomes.len(),
        elapsed.as_secs_f64()
    );

    if full {
        write_csv(&csv_path, &outcomes);
    }
    println!();
    detection_table(if full { 2_000 } else { 50 });
}

fn write_csv(path: &str, outcomes: &[(&str, Outcome)]) {
    let rows = outcomes
        .iter()
        .map(|(_, o)| o.windows.len())
        .max()
        .unwrap_or(0);
    let mut csv = String::from("window_start_s");
    for (name, _) in outcomes {
        write!(csv, ",{name}").unwrap();
    }
    csv.push('\n');
    for w in 0..rows {
        write!(csv, "{:.1}", (w as u64 * WINDOW) as f64 / SEC as f64).unwrap();
        for (_, o) in outcomes {
            write!(csv, ",{}", o.windows.get(w).copied().unwrap_or(0)).unwrap();
        }
        csv.push('\n');
    }
    if let Some(dir) = std::path::Path::new(path).parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    match std::fs::write(path, csv) {
        Ok(()) => println!(
            "per-window counts: {path} ({rows} windows × {} policies)",
            outcomes.len()
        ),
        Err(e) => println!("could not write {path}: {e}"),
    }
}

/// One connection whose peer talks (messages at random, pongs after one
/// round trip) and then goes silent at a random time; ticks at
/// `poll_timeout`. Returns (close − last inbound data, close − silence).
fn detect(config: Config, rng: &mut Rng) -> (u64, u64) {
    let rtt = 20 * MS;
    let interval = config.heartbeat_interval().as_nanos() as u64;
    let mut conn = Connection::new(config.with_seed(rng.next_u64())).unwrap();
    let _ = conn.connect(Instant::ZERO);
    let _ = conn.handle(Event::Opened, Instant::ZERO);
    let silent_at = rng.between(60 * SEC, 300 * SEC);
    let mut last_data = 0;
    let mut next_message = rng.between(0, 2 * interval);
    let mut pong_at: Option<u64> = None;
    loop {
        let deadline = conn.poll_timeout().unwrap().as_nanos();
        let inbound = [Some(next_message).filter(|&t| t < silent_at), pong_at]
            .into_iter()
            .flatten()
            .min();
        match inbound {
            Some(t) if t <= deadline => {
                let event = if Some(t) == pong_at {
                    pong_at = None;
                    Event::Pong
                } else {
                    next_message = t + rng.between(0, 2 * interval);
                    Event::Message
                };
                let _ = conn.handle(event, Instant::from_nanos(t));
                last_data = t;
            }
            _ => {
                for action in conn.handle(Event::Tick, Instant::from_nanos(deadline)) {
                    match action {
                        Action::SendHeartbeat if deadline + rtt < silent_at => {
                            pong_at = Some(deadline + rtt)
                        }
                        Action::SendHeartbeat => {}
                        Action::Close {
                            reason: CloseReason::HeartbeatTimeout,
                        } => return (deadline - last_data, deadline - silent_at),
                        other => panic!("unexpected {other}"),
                    }
                }
            }
        }
    }
}

fn detection_table(trials: usize) {
    println!(
        "dead-peer detection: a peer goes silent at a random time (60–300 s); {trials} trials each;"
    );
    println!(
        "the peer sends messages at random gaps (0–2 × interval) and answers heartbeats after 20 ms."
    );
    println!(
        "{:<6} {:>9} {:>8} {:>16} | {:>30} | {:>30}",
        "mode",
        "interval",
        "timeout",
        "interval+timeout",
        "after last data: min/mean/max",
        "after silence: min/mean/max"
    );
    let cases: [(HeartbeatMode, u64, u64); 6] = [
        (HeartbeatMode::Idle, 25, 20),
        (HeartbeatMode::Idle, 60, 60),
        (HeartbeatMode::Idle, 5, 2),
        (HeartbeatMode::Fixed, 30, 10),
        (HeartbeatMode::Fixed, 25, 20),
        (HeartbeatMode::Fixed, 5, 2),
    ];
    let mut rng = Rng::new(42);
    for (mode, interval, timeout) in cases {
        let config = Config::default()
            .with_heartbeat_mode(mode)
            .with_heartbeat_interval(Duration::from_secs(interval))
            .with_heartbeat_timeout(Duration::from_secs(timeout));
        let (mut a, mut b) = (Vec::new(), Vec::new());
        for _ in 0..trials {
            let (x, y) = detect(config, &mut rng);
            a.push(x);
            b.push(y);
        }
        let stats = |v: &[u64]| {
            let min = *v.iter().min().unwrap() as f64 / SEC as f64;
            let max = *v.iter().max().unwrap() as f64 / SEC as f64;
            let mean = v.iter().sum::<u64>() as f64 / v.len() as f64 / SEC as f64;
            format!("{min:>8.3} /{mean:>8.3} /{max:>8.3} s")
        };
        println!(
            "{:<6} {:>8}s {:>7}s {:>15}s | {:>30} | {:>30}",
            format!("{mode:?}").to_lowercase(),
            interval,
            timeout,
            interval + timeout,
            stats(&a),
            stats(&b)
        );
    }
}
