//! The hot path of a busy connection: one inbound message postpones the
//! heartbeat. Measured for `keepalive` (`handle(Event::Message, now)`) and,
//! in the same run, for the usual way of doing it with tokio:
//!
//! - **tokio reset**: one pinned `Sleep` per connection, and
//!   `sleep.as_mut().reset(deadline)` per message (what a `select!` loop
//!   with a heartbeat timer does);
//! - **tokio fresh timer**: the JS `clearTimeout` + `setTimeout` pattern
//!   (the article's `heartCheck.reset().start()`): the old `Sleep` is
//!   dropped and a new one created and registered (polled once) per message.
//!
//! `keepalive` is measured twice: with its actions performed as a caller
//! does (`for action in conn.handle(…)`, the figure the targets and ratios
//! use), and with them dropped unread (the state machine alone).
//!
//! Each on one hot connection, and spread round-robin over 1k and 1M
//! connections. A counting global allocator reports heap allocations per
//! message and the bytes each setup allocated. No clock is read in the
//! loops: every workload gets the same precomputed, increasing times.
//!
//! `cargo bench --bench connection` (about 15 s). Without `--bench` (as
//! `cargo test --all-targets` runs it) it does a quick smoke run.

use std::alloc::{GlobalAlloc, Layout, System};
use std::future::Future;
use std::hint::black_box;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::task::{Context, Waker};
use std::time::Duration;

use keepalive::{Config, Connection, Event, Instant};
use tokio::time::Sleep;

// ----- a counting allocator -----

struct Counting;

static ALLOCS: AtomicU64 = AtomicU64::new(0);
static BYTES: AtomicU64 = AtomicU64::new(0);

// SAFETY: forwards every call to the system allocator unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Relaxed);
        BYTES.fetch_add(layout.size() as u64, Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Relaxed);
        BYTES.fetch_add(new_size as u64, Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn counters() -> (u64, u64) {
    (ALLOCS.load(Relaxed), BYTES.load(Relaxed))
}

// ----- measurement -----

/// One workload's figures.
#[derive(Clone, Copy)]
struct Figures {
    ns_per_msg: f64,
    allocs_per_msg: f64,
    setup_bytes: u64,
}

/// Runs `setup` (counting its bytes), one warm-up pass over every
/// connection, then `ROUNDS` rounds of `iters` timed messages; the fastest
/// round counts (the machine is shared: the minimum is the least noisy).
fn measure<T>(
    n: usize,
    iters: u64,
    setup: impl FnOnce(usize) -> T,
    mut msg: impl FnMut(&mut T, usize, u64),
) -> Figures {
    const ROUNDS: u64 = 5;
    let (_, b0) = counters();
    let mut state = setup(n);
    let setup_bytes = counters().1 - b0;
    let mut i = 0;
    for slot in 0..n {
        msg(&mut state, slot, i);
        i += 1;
    }
    let (a0, _) = counters();
    let mut best = f64::INFINITY;
    for _ in 0..ROUNDS {
        let start = std::time::Instant::now();
        let mut slot = 0usize;
        for _ in 0..iters {
            msg(&mut state, slot, i);
            i += 1;
            slot += 1;
            if slot == n {
                slot = 0;
            }
        }
        best = best.min(start.elapsed().as_nanos() as f64 / iters as f64);
    }
    let allocs = counters().0 - a0;
    black_box(&mut state);
    drop(state);
    Figures {
        ns_per_msg: best,
        allocs_per_msg: allocs as f64 / (ROUNDS * iters) as f64,
        setup_bytes,
    }
}

/// Message `i` arrives at `i` µs (the same times for every workload).
fn at(i: u64) -> Instant {
    Instant::from_micros(i)
}

const INTERVAL: Duration = Duration::from_secs(25);

/// `iterate`: perform the actions as a caller does (`for action in …`);
/// otherwise drop them unread (`let _ = …`, the state machine alone).
fn keepalive(n: usize, iters: u64, iterate: bool) -> Figures {
    measure(
        n,
        iters,
        |n| {
            let mut conns = Vec::with_capacity(n);
            for i in 0..n {
                let mut c = Connection::new(Config::default().with_seed(i as u64)).unwrap();
                let _ = c.connect(Instant::ZERO);
                let _ = c.handle(Event::Opened, Instant::ZERO);
                conns.push(c);
            }
            conns
        },
        |conns, slot, i| {
            let actions = conns[slot].handle(Event::Message, at(i));
            if iterate {
                // As a caller does: perform every action (there are none here).
                for action in actions {
                    black_box(action);
                }
            }
        },
    )
}

/// Polls `sleep` once so the timer is registered, as a `select!` would.
fn register(sleep: Pin<&mut Sleep>) {
    let mut cx = Context::from_waker(Waker::noop());
    let _ = black_box(sleep.poll(&mut cx));
}

/// `n` registered tokio timers, one per connection, as a server would hold.
fn armed_sleeps(base: tokio::time::Instant, n: usize) -> Vec<Pin<Box<Sleep>>> {
    (0..n)
        .map(|_| {
            let mut s = Box::pin(tokio::time::sleep_until(base + INTERVAL));
            register(s.as_mut());
            s
        })
        .collect()
}

fn tokio_reset(rt: &tokio::runtime::Runtime, n: usize, iters: u64) -> Figures {
    let _guard = rt.enter();
    let base = tokio::time::Instant::now();
    measure(
        n,
        iters,
        |n| armed_sleeps(base, n),
        |sleeps, slot, i| {
            let deadline = base + Duration::from_micros(i) + INTERVAL;
            sleeps[slot].as_mut().reset(deadline);
        },
    )
}

fn tokio_fresh(rt: &tokio::runtime::Runtime, n: usize, iters: u64) -> Figures {
    let _guard = rt.enter();
    let base = tokio::time::Instant::now();
    measure(
        n,
        iters,
        |n| armed_sleeps(base, n),
        |sleeps, slot, i| {
            // clearTimeout(old); old = setTimeout(…): drop, create, register.
            let deadline = base + Duration::from_micros(i) + INTERVAL;
            let mut slot = sleeps[slot].as_mut();
            slot.set(tokio::time::sleep_until(deadline));
            register(slot);
        },
    )
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    // (label, connections, messages for keepalive, for tokio reset, for fresh timers)
    let spreads: [(&str, usize, u64, u64, u64); 3] = if full {
        [
            ("1 hot", 1, 50_000_000, 5_000_000, 1_000_000),
            ("1k", 1_000, 50_000_000, 5_000_000, 1_000_000),
            ("1M", 1_000_000, 10_000_000, 2_000_000, 1_000_000),
        ]
    } else {
        [
            ("1 hot", 1, 100_000, 10_000, 10_000),
            ("1k", 1_000, 100_000, 10_000, 10_000),
            ("10k (quick run)", 10_000, 100_000, 20_000, 20_000),
        ]
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();

    println!(
        "size_of::<Connection>() = {} bytes",
        size_of::<Connection>()
    );
    println!(
        "size_of::<tokio::time::Sleep>() = {} bytes (plus an 8-byte Box pointer)",
        size_of::<Sleep>()
    );
    let clock = {
        let start = std::time::Instant::now();
        for _ in 0..1_000_000 {
            black_box(std::time::Instant::now());
        }
        start.elapsed().as_nanos() as f64 / 1e6
    };
    println!(
        "(for reference: reading std::time::Instant::now() costs {clock:.1} ns; no loop below reads a clock)"
    );
    if !full {
        println!("quick smoke run; `cargo bench --bench connection` for the figures");
    }
    println!();
    println!(
        "{:<16} {:<23} {:>8} {:>11} {:>13} {:>8}",
        "connections", "workload", "ns/msg", "allocs/msg", "setup bytes", "vs ours"
    );
    let mut ok = true;
    for (label, n, k_iters, r_iters, f_iters) in spreads {
        let ours = keepalive(n, k_iters, true);
        let bare = keepalive(n, k_iters, false);
        let reset = tokio_reset(&rt, n, r_iters);
        let fresh = tokio_fresh(&rt, n, f_iters);
        for (name, f) in [
            ("keepalive handle+for", ours),
            ("keepalive handle only", bare),
            ("tokio Sleep::reset", reset),
            ("tokio fresh timer", fresh),
        ] {
            println!(
                "{:<16} {:<23} {:>8.2} {:>11.3} {:>13} {:>7.1}×",
                label,
                name,
                f.ns_per_msg,
                f.allocs_per_msg,
                f.setup_bytes,
                f.ns_per_msg / ours.ns_per_msg
            );
        }
        let ratio = reset.ns_per_msg / ours.ns_per_msg;
        ok &= ours.allocs_per_msg == 0.0;
        if n == 1 {
            // The targets are stated for one hot connection; wider spreads
            // are printed for what they show (at 1M the 128 MB of state no
            // longer fits in cache and every message is a cache miss).
            ok &= ours.ns_per_msg <= 5.0 && ratio >= 10.0;
            println!(
                "  target ≤ 5 ns/msg on one hot connection: {} ({:.2} ns); ≥ 10× faster than tokio reset: {} ({ratio:.1}×)",
                verdict(ours.ns_per_msg <= 5.0),
                ours.ns_per_msg,
                verdict(ratio >= 10.0),
            );
        } else {
            println!("  {ratio:.1}× faster than tokio reset");
        }
        println!(
            "  zero allocations per message: {}",
            verdict(ours.allocs_per_msg == 0.0)
        );
    }
    println!();
    println!(
        "all targets met: {}{}",
        verdict(ok),
        if full {
            ""
        } else {
            " (quick run: figures not meaningful)"
        }
    );
}

fn verdict(ok: bool) -> &'static str {
    if ok { "yes" } else { "NO" }
}
