//! `Sessions` (the server machine) against the two patterns people write
//! by hand:
//!
//! - **ws sweep** (the `ws` README): a `Vec` of `is_alive` flags, set on
//!   every frame, scanned every interval: ping the alive, terminate the
//!   rest;
//! - **tokio Sleep per connection** (python websockets, hand-rolled tokio):
//!   one registered `Sleep` per connection, `reset` on every frame.
//!
//! Prints, in one run, at 10k / 100k / 1M connections:
//! 1. cost per inbound frame, beside a bare `HashMap<u64, u64>` insert with
//!    the same hasher (SipHash `RandomState`), the sweep's flag write and
//!    `Sleep::reset`; plus a steady-state row that includes every timer
//!    re-filing and poll;
//! 2. one poll with nothing due, and one full round where every connection
//!    falls due (ping each once), beside one sweep;
//! 3. bytes per connection, counted by a global allocator;
//! 4. detection latency of silent connections: exact for `Sessions`, one to
//!    two intervals for the sweep.
//!
//! `cargo bench --bench server` (about a minute on 2 cores). Without
//! `--bench` (as `cargo test --all-targets` runs it) it does a quick smoke
//! run at 1k / 10k connections.

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::HashMap;
use std::collections::hash_map::RandomState;
use std::future::Future;
use std::hint::black_box;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::task::{Context, Waker};
use std::time::{Duration, Instant as WallClock};

use keepalive::{ConnId, Instant, ServerAction, ServerHeartbeat, Sessions, SessionsConfig};
use tokio::time::Sleep;

// ---- counting allocator ------------------------------------------------

struct Counting;
static LIVE: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards every call to `System` unchanged; only counts bytes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            LIVE.fetch_add(layout.size(), Relaxed);
        }
        p
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            LIVE.fetch_add(layout.size(), Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Relaxed);
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            LIVE.fetch_sub(layout.size(), Relaxed);
            LIVE.fetch_add(new_size, Relaxed);
        }
        p
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

fn live() -> usize {
    LIVE.load(Relaxed)
}

// ---- helpers ------------------------------------------------------------

const SEC: u64 = 1_000_000_000;
/// socket.io's cycle: ping 25 s after the last frame, 20 s to answer.
const INTERVAL: Duration = Duration::from_secs(25);
const TIMEOUT: Duration = Duration::from_secs(20);
/// The `ws` README's sweep period.
const SWEEP: u64 = 30 * SEC;

fn sessions(n: usize) -> Sessions<u64> {
    let config = SessionsConfig::new()
        .with_heartbeat(ServerHeartbeat::ping(INTERVAL, TIMEOUT))
        .with_capacity(n.max(1))
        .with_max_per_id(64);
    Sessions::new(config).expect("valid config")
}

/// `n` connections opened at 0 s, one client id each.
fn opened(n: usize) -> (Sessions<u64>, Vec<ConnId>) {
    let mut s = sessions(n);
    let conns = (0..n as u64)
        .map(|id| s.open(&id, Instant::ZERO).expect("below capacity"))
        .collect();
    while s.poll(Instant::ZERO).is_some() {}
    (s, conns)
}

/// xorshift64*: the same connection stream for every contender.
struct Rng(u64);
impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        ((self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) % n as u64) as usize
    }
}

/// `ops` random connection indices below `n`, drawn once so that every
/// contender sees the same stream and no timed loop pays for the draw.
fn stream(n: usize, ops: u64) -> Vec<u32> {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    (0..ops).map(|_| rng.below(n) as u32).collect()
}

/// Fastest of five passes over `stream`, frame `k` at `k` µs of server
/// time (nothing falls due): ns per frame.
fn per_frame(stream: &[u32], mut frame: impl FnMut(usize, u64)) -> f64 {
    let mut best = f64::INFINITY;
    for pass in 0..5u64 {
        let base = SEC + pass * stream.len() as u64 * 1_000;
        let start = WallClock::now();
        for (k, &i) in stream.iter().enumerate() {
            frame(i as usize, base + k as u64 * 1_000);
        }
        best = best.min(start.elapsed().as_nanos() as f64 / stream.len() as f64);
    }
    best
}

/// Polls `sleep` once so the timer is registered, as a `select!` would.
fn register(sleep: Pin<&mut Sleep>) {
    let mut cx = Context::from_waker(Waker::noop());
    let _ = black_box(sleep.poll(&mut cx));
}

fn armed_sleeps(base: tokio::time::Instant, n: usize) -> Vec<Pin<Box<Sleep>>> {
    (0..n)
        .map(|_| {
            let mut s = Box::pin(tokio::time::sleep_until(base + INTERVAL));
            register(s.as_mut());
            s
        })
        .collect()
}

// ---- 1. per inbound frame ---------------------------------------------------

/// One row of section 1; returns the net ns per frame (the bare loop's
/// cost taken off) of `Sessions`, the map and `Sleep::reset`.
fn frame_row(rt: &tokio::runtime::Runtime, n: usize, ops: u64) -> (f64, f64, f64) {
    let stream = stream(n, ops);
    let empty = per_frame(&stream, |i, t| {
        black_box((i, t));
    });

    let (mut s, conns) = opened(n);
    let ours = per_frame(&stream, |i, t| s.received(conns[i], Instant::from_nanos(t)));
    black_box(&s);
    drop(s);

    let mut map: HashMap<u64, u64, RandomState> = (0..n as u64).map(|id| (id, 0)).collect();
    let bare = per_frame(&stream, |i, t| {
        black_box(map.insert(i as u64, t));
    });
    drop(map);

    let mut alive = vec![false; n];
    let sweep = per_frame(&stream, |i, _| alive[i] = true);
    black_box(&alive);

    let _guard = rt.enter();
    let base = tokio::time::Instant::now();
    let mut sleeps = armed_sleeps(base, n);
    let reset = per_frame(&stream, |i, t| {
        sleeps[i]
            .as_mut()
            .reset(base + INTERVAL + Duration::from_nanos(t))
    });
    drop(sleeps);

    let net = |x: f64| (x - empty).max(0.1);
    let (ours, bare, sweep, reset) = (net(ours), net(bare), net(sweep), net(reset));
    println!(
        "  {n:>9}   {empty:>5.1}   {ours:>8.1}   {bare:>8.1}   {sweep:>8.1}   {reset:>8.1}   {:>5.2}x   {:>6.1}x",
        ours / bare,
        reset / ours
    );
    (ours, bare, reset)
}

/// Every connection sends a frame every 10 s for 10 minutes of server time
/// in a fixed random order, with the machine polled whenever its
/// `poll_timeout` passes: the per-frame cost including every lazy re-filing
/// of the timing wheel. Nobody falls due, so every poll is timer upkeep.
fn steady_state_row(n: usize) {
    let (mut s, conns) = opened(n);
    let period = 10 * SEC;
    let rounds = 60u64;
    let mut order: Vec<usize> = (0..n).collect();
    let mut rng = Rng(42);
    for i in (1..order.len()).rev() {
        order.swap(i, rng.below(i + 1));
    }
    let mut polls = 0u64;
    let mut actions = 0u64;
    let start = WallClock::now();
    for round in 0..rounds {
        for (k, &i) in order.iter().enumerate() {
            let now = Instant::from_nanos(round * period + k as u64 * period / n as u64);
            s.received(conns[i], now);
            if s.poll_timeout().is_some_and(|t| t <= now) {
                polls += 1;
                while s.poll(now).is_some() {
                    actions += 1;
                }
            }
        }
    }
    let elapsed = start.elapsed();
    let frames = rounds * n as u64;
    println!(
        "  {n:>9}   {:>8.1} ns per frame over {frames} frames, all timer upkeep included ({polls} polls, {actions} actions)",
        elapsed.as_nanos() as f64 / frames as f64
    );
    assert_eq!(actions, 0, "a chatty connection is never pinged");
}

// ---- 2. polls ---------------------------------------------------------------

fn poll_rows(n: usize) {
    let (mut s, _conns) = opened(n);
    // Nothing due: halfway to the first ping.
    let early = Instant::from_secs(12);
    let reps = 1_000_000u32;
    let start = WallClock::now();
    for _ in 0..reps {
        black_box(s.poll(black_box(early)));
    }
    let idle = start.elapsed().as_nanos() as f64 / f64::from(reps);
    let start = WallClock::now();
    for _ in 0..reps {
        black_box(s.poll_timeout());
    }
    let timeout = start.elapsed().as_nanos() as f64 / f64::from(reps);

    // Every connection falls due at 25 s: one ping each.
    let due = Instant::from_secs(25);
    let start = WallClock::now();
    let mut pings = 0usize;
    while let Some(action) = s.poll(due) {
        pings += usize::from(matches!(action, ServerAction::Ping(_)));
    }
    let round = start.elapsed();
    assert_eq!(pings, n, "every silent connection is pinged once");

    // The sweep, once per interval whatever is due.
    let mut alive = vec![true; n];
    let mut best = Duration::MAX;
    for _ in 0..5 {
        alive.iter_mut().for_each(|a| *a = true);
        let start = WallClock::now();
        let mut pinged = 0usize;
        for flag in alive.iter_mut() {
            if *flag {
                *flag = false;
                pinged += 1; // ws.ping()
            }
            // else: ws.terminate()
        }
        black_box(pinged);
        best = best.min(start.elapsed());
    }
    println!(
        "  {n:>9}   {idle:>8.1} ns   {timeout:>6.1} ns   {:>8.1} ns ({:>7.2} ms)   {:>8.1} ns ({:>7.2} ms)",
        round.as_nanos() as f64 / n as f64,
        round.as_secs_f64() * 1e3,
        best.as_nanos() as f64 / n as f64,
        best.as_secs_f64() * 1e3,
    );
}

// ---- 3. memory ----------------------------------------------------------------

fn memory_row(n: usize) {
    let before = live();
    let (s, conns) = opened(n);
    let own_id = (live() - before) as f64 / n as f64;
    drop((s, conns));

    // Four tabs per id: the connection's own share.
    let before = live();
    let mut s = sessions(n);
    for k in 0..n as u64 {
        black_box(s.open(&(k / 4), Instant::ZERO).expect("below caps"));
    }
    let tabs = (live() - before) as f64 / n as f64;
    drop(s);

    let before = live();
    let alive = vec![false; n];
    let clients: HashMap<u64, usize> = (0..n as u64).map(|id| (id, id as usize)).collect();
    let ws = (live() - before) as f64 / n as f64;
    drop((alive, clients));

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let _guard = rt.enter();
    let before = live();
    let sleeps = armed_sleeps(tokio::time::Instant::now(), n);
    let tokio = (live() - before) as f64 / n as f64;
    drop(sleeps);

    println!("  {n:>9}   {own_id:>10.1}   {tabs:>10.1}   {ws:>14.1}   {tokio:>12.1}");
}

// ---- 4. detection latency ---------------------------------------------------------

/// `n` clients each send a frame every 10 s; at 60 s, 1 % of them (every
/// 100th) go silent, each at its own time within the next 30 s. Returns
/// (min, median, max) of last frame → close, in ms, for `Sessions` driven
/// by its own `poll_timeout`, and for the `ws` sweep every 30 s.
fn detection(n: usize) -> ([f64; 3], [f64; 3]) {
    let heartbeat = 10 * SEC;
    let silent_at = |i: usize| 60 * SEC + (i as u64 * 7_919 % 30_000) * 1_000_000;
    let is_silent = |i: usize| i.is_multiple_of(100);
    let end = 200 * SEC;
    // Client i sends at phase (i mod 1000) × 10 ms of every 10 s.
    let step = 10_000_000;
    let phases = (heartbeat / step) as usize;

    let (mut s, conns) = opened(n);
    let slot_of: HashMap<ConnId, usize> = conns.iter().enumerate().map(|(i, &c)| (c, i)).collect();
    let mut last = vec![0u64; n];
    let mut ours = Vec::new();
    let mut alive = vec![true; n];
    let mut ws_dead = vec![false; n];
    let mut theirs = Vec::new();
    let mut t = 0;
    while t <= end {
        let phase = ((t % heartbeat) / step) as usize;
        for i in (phase..n).step_by(phases) {
            if !(is_silent(i) && t >= silent_at(i)) {
                s.received(conns[i], Instant::from_nanos(t));
                last[i] = t;
                alive[i] = true;
            }
        }
        while let Some(action) = s.poll(Instant::from_nanos(t)) {
            if let ServerAction::Close(c) = action {
                let i = slot_of[&c];
                ours.push((t - last[i]) as f64 / 1e6);
                s.ended(c, Instant::from_nanos(t));
            }
        }
        if t > 0 && t.is_multiple_of(SWEEP) {
            for i in 0..n {
                if ws_dead[i] {
                    continue;
                }
                if !alive[i] {
                    ws_dead[i] = true; // ws.terminate()
                    theirs.push((t - last[i]) as f64 / 1e6);
                } else {
                    alive[i] = false; // ws.ping(): a live client's next frame sets it again
                }
            }
        }
        t += step;
    }
    let spread = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        assert!(!v.is_empty());
        [v[0], v[v.len() / 2], v[v.len() - 1]]
    };
    let expected = (0..n).filter(|&i| is_silent(i)).count();
    assert_eq!(ours.len(), expected, "every silent client is closed once");
    assert_eq!(
        theirs.len(),
        expected,
        "the sweep terminates every silent client"
    );
    (spread(ours), spread(theirs))
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let sizes: &[usize] = if full {
        &[10_000, 100_000, 1_000_000]
    } else {
        &[1_000, 10_000]
    };
    let ops: u64 = if full { 4_000_000 } else { 200_000 };
    if !full {
        println!("quick smoke run; `cargo bench --bench server` for the figures");
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();

    println!("\n1. per inbound frame, ns, to a random connection, nothing due");
    println!("   (net: the bare loop's cost, first column, is taken off the others)");
    println!(
        "  {:>9}   {:>5}   {:>8}   {:>8}   {:>8}   {:>8}   {:>6}   {:>7}",
        "conns", "loop", "Sessions", "HashMap", "ws flag", "Sleep", "/map", "Sleep/us"
    );
    let mut worst = (0.0f64, f64::INFINITY);
    for &n in sizes {
        let (ours, bare, reset) = frame_row(&rt, n, ops);
        worst = (worst.0.max(ours / bare), worst.1.min(reset / ours));
    }
    println!(
        "  targets: ≤ 1.3× a HashMap insert: {} (worst {:.2}×); ≥ 5× cheaper than Sleep::reset: {} (worst {:.1}×)",
        if worst.0 <= 1.3 { "met" } else { "MISSED" },
        worst.0,
        if worst.1 >= 5.0 { "met" } else { "MISSED" },
        worst.1
    );
    println!("  steady state: frames every 10 s for 10 min of server time");
    steady_state_row(*sizes.last().unwrap());

    println!("\n2. polls: nothing due, and a round where every connection falls due");
    println!(
        "  {:>9}   {:>11}   {:>9}   {:>24}   {:>24}",
        "conns", "idle poll", "timeout", "full round, per conn", "ws sweep, per conn"
    );
    for &n in sizes {
        poll_rows(n);
    }

    println!("\n3. bytes per connection (allocator-counted)");
    println!(
        "  {:>9}   {:>10}   {:>10}   {:>14}   {:>12}",
        "conns", "own id", "4 tabs/id", "ws flag+map", "tokio Sleep"
    );
    for &n in sizes {
        memory_row(n);
    }

    let n = if full { 100_000 } else { 10_000 };
    let (ours, sweep) = detection(n);
    println!(
        "\n4. detection latency, last frame → close, {} of {n} clients going silent",
        n / 100
    );
    println!(
        "  Sessions ping 25 s + 20 s:  min {:.0} ms, median {:.0} ms, max {:.0} ms (bound 45000 ms)",
        ours[0], ours[1], ours[2]
    );
    println!(
        "  ws sweep every 30 s:        min {:.0} ms, median {:.0} ms, max {:.0} ms (one to two intervals)",
        sweep[0], sweep[1], sweep[2]
    );
}
