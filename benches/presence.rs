//! `Presence` against the bare minimum: a `HashMap<u64, Instant>` of
//! last-seen times (the seed article's server) with the same hasher.
//!
//! Prints, in one run:
//! 1. check-in cost at 1k / 100k / 1M tracked ids vs a bare map insert
//!    (SipHash `RandomState`, and a fast FxHash-style hasher), plus a
//!    steady-state row that includes all expiry work;
//! 2. one expiry pass at 1M ids with 0 %, 1 % and 10 % due vs a naive full
//!    scan, and the worst case for the lazy wheel;
//! 3. bytes per tracked id, counted by a global allocator.
//!
//! `cargo bench --bench presence` (about 30 s on 2 cores). Figures vary by
//! machine; ratios are what matter.

fn main() {
    bench::main();
}

mod bench {
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::collections::HashMap;
    use std::collections::hash_map::RandomState;
    use std::hash::{BuildHasher, Hasher};
    use std::hint::black_box;
    use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
    use std::time::{Duration, Instant as WallClock};

    use keepalive::{Instant, Presence, PresenceConfig};

    // ---- counting allocator ------------------------------------------------

    struct Counting;
    static LIVE: AtomicUsize = AtomicUsize::new(0);
    static PEAK: AtomicUsize = AtomicUsize::new(0);

    // SAFETY: forwards every call to `System` unchanged; only counts bytes.
    unsafe impl GlobalAlloc for Counting {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            let p = unsafe { System.alloc(layout) };
            if !p.is_null() {
                let live = LIVE.fetch_add(layout.size(), Relaxed) + layout.size();
                PEAK.fetch_max(live, Relaxed);
            }
            p
        }
        unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
            let p = unsafe { System.alloc_zeroed(layout) };
            if !p.is_null() {
                let live = LIVE.fetch_add(layout.size(), Relaxed) + layout.size();
                PEAK.fetch_max(live, Relaxed);
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
                let live = LIVE.fetch_add(new_size, Relaxed) + new_size;
                PEAK.fetch_max(live, Relaxed);
            }
            p
        }
    }

    #[global_allocator]
    static ALLOC: Counting = Counting;

    fn live() -> usize {
        LIVE.load(Relaxed)
    }

    // ---- a fast, unkeyed hasher (FxHash's mixing) ---------------------------

    #[derive(Clone, Copy, Default)]
    struct Fx;
    struct FxHasher(u64);

    impl BuildHasher for Fx {
        type Hasher = FxHasher;
        fn build_hasher(&self) -> FxHasher {
            FxHasher(0)
        }
    }

    impl Hasher for FxHasher {
        fn write(&mut self, bytes: &[u8]) {
            for &b in bytes {
                self.write_u64(u64::from(b));
            }
        }
        fn write_u64(&mut self, n: u64) {
            self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
        }
        fn finish(&self) -> u64 {
            self.0
        }
    }

    // ---- helpers ------------------------------------------------------------

    const SEC: u64 = 1_000_000_000;
    const TIMEOUT: Duration = Duration::from_secs(90);

    fn config() -> PresenceConfig {
        PresenceConfig::new()
            .with_timeout(TIMEOUT)
            .with_forget_after(Duration::from_secs(3600))
            .with_capacity(4_000_000)
    }

    /// xorshift64*: the same id stream for both contenders.
    struct Rng(u64);
    impl Rng {
        fn below(&mut self, n: u64) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) % n
        }
    }

    fn ns_per(elapsed: Duration, ops: u64) -> f64 {
        elapsed.as_nanos() as f64 / ops as f64
    }

    /// Best of `reps` runs of `f`, which returns its own elapsed time.
    fn best(reps: usize, mut f: impl FnMut() -> Duration) -> Duration {
        (0..reps).map(|_| f()).min().unwrap()
    }

    // ---- 1. check-in cost ---------------------------------------------------

    fn presence_check_ins<S: BuildHasher>(p: &mut Presence<u64, S>, n: u64, ops: u64) -> Duration {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let start = WallClock::now();
        // 1 µs of server time per check-in: every id stays online.
        let mut now = 10 * SEC;
        for _ in 0..ops {
            now += 1_000;
            let id = rng.below(n);
            black_box(p.check_in(&id, Instant::from_nanos(now)).is_ok());
        }
        start.elapsed()
    }

    fn map_inserts<S: BuildHasher>(m: &mut HashMap<u64, Instant, S>, n: u64, ops: u64) -> Duration {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let start = WallClock::now();
        let mut now = 10 * SEC;
        for _ in 0..ops {
            now += 1_000;
            let id = rng.below(n);
            black_box(m.insert(id, Instant::from_nanos(now)));
        }
        start.elapsed()
    }

    fn check_in_row<S: BuildHasher + Clone>(hasher: S, name: &str, n: u64) {
        let ops = (4_000_000 / (1 + n / 500_000)).max(1_000_000);
        let mut p = Presence::with_hasher(config(), hasher.clone()).unwrap();
        let mut m = HashMap::with_hasher(hasher);
        for id in 0..n {
            p.check_in(&id, Instant::ZERO).unwrap();
            m.insert(id, Instant::ZERO);
        }
        let tp = best(5, || presence_check_ins(&mut p, n, ops));
        let tm = best(5, || map_inserts(&mut m, n, ops));
        let (a, b) = (ns_per(tp, ops), ns_per(tm, ops));
        println!(
            "  {name:<10} {n:>9}   {a:>8.1}   {b:>8.1}   {:>5.2}x",
            a / b
        );
    }

    /// 1M clients that each check in every 30 s for 10 minutes of server
    /// time, with `poll_expired` drained whenever `poll_timeout` passes: the
    /// check-in cost including every re-filing the lazy wheel does.
    fn steady_state_row() {
        let n: u64 = 1_000_000;
        let period = 30 * SEC;
        let rounds = 20;
        let mut p: Presence<u64> = Presence::new(config()).unwrap();
        let mut m: HashMap<u64, Instant> = HashMap::with_hasher(RandomState::new());
        // A fixed random order of check-ins within each period.
        let mut order: Vec<u64> = (0..n).collect();
        let mut rng = Rng(42);
        for i in (1..order.len()).rev() {
            order.swap(i, rng.below(i as u64 + 1) as usize);
        }
        let start = WallClock::now();
        let mut expired = 0;
        let mut polls = 0;
        for round in 0..rounds {
            for (k, &id) in order.iter().enumerate() {
                let now = Instant::from_nanos(round * period + k as u64 * period / n);
                black_box(p.check_in(&id, now).is_ok());
                if k % 1024 == 0 && p.poll_timeout().is_some_and(|t| t <= now) {
                    polls += 1;
                    while let Some(id) = p.poll_expired(now) {
                        black_box(id);
                        expired += 1;
                    }
                }
            }
        }
        let tp = start.elapsed();
        let start = WallClock::now();
        for round in 0..rounds {
            for (k, &id) in order.iter().enumerate() {
                let now = Instant::from_nanos(round * period + k as u64 * period / n);
                black_box(m.insert(id, now));
            }
        }
        let tm = start.elapsed();
        assert_eq!(expired, 0);
        let ops = rounds * n;
        let (a, b) = (ns_per(tp, ops), ns_per(tm, ops));
        println!(
            "  {:<10} {n:>9}   {a:>8.1}   {b:>8.1}   {:>5.2}x   (1M ids × {rounds} rounds, {polls} expiry passes included)",
            "steady",
            a / b
        );
    }

    // ---- 2. expiry pass -----------------------------------------------------

    /// 1M ids: `due_permille` of them checked in at 0 s (offline at 90 s),
    /// the rest at 30 s (offline at 120 s). The pass runs at 100 s.
    fn expiry_pass(due_permille: u64) -> (Duration, Duration, usize) {
        let n: u64 = 1_000_000;
        let mut rng = Rng(7);
        let early: Vec<bool> = (0..n).map(|_| rng.below(1000) < due_permille).collect();
        let mut p: Presence<u64> = Presence::new(config()).unwrap();
        let mut naive: HashMap<u64, (Instant, bool)> = HashMap::new();
        // Time only moves forward: the early ones first.
        for early_pass in [true, false] {
            let t = Instant::from_nanos(if early_pass { 0 } else { 30 * SEC });
            for id in (0..n).filter(|&id| early[id as usize] == early_pass) {
                p.check_in(&id, t).unwrap();
                naive.insert(id, (t, true));
            }
        }
        // The server polled on time until just before the pass.
        let mut now = 30 * SEC;
        while let Some(t) = p.poll_timeout() {
            if t.as_nanos() >= 90 * SEC {
                break;
            }
            now = t.as_nanos();
            assert!(p.poll_expired(t).is_none());
        }
        black_box(now);
        let pass_at = Instant::from_nanos(100 * SEC);
        let mut out = Vec::with_capacity(n as usize);
        let start = WallClock::now();
        while let Some(id) = p.poll_expired(pass_at) {
            out.push(id);
        }
        let tp = start.elapsed();
        let reported = out.len();
        out.clear();
        let start = WallClock::now();
        for (&id, (last, online)) in naive.iter_mut() {
            if *online && *last + TIMEOUT <= pass_at {
                *online = false;
                out.push(id);
            }
        }
        let tn = start.elapsed();
        assert_eq!(out.len(), reported);
        (tp, tn, reported)
    }

    /// With nothing due, `poll_expired` at 1M ids, per call.
    fn idle_poll() -> f64 {
        let n: u64 = 1_000_000;
        let mut p: Presence<u64> = Presence::new(config()).unwrap();
        for id in 0..n {
            p.check_in(&id, Instant::from_nanos(id * 1000)).unwrap();
        }
        let calls = 10_000_000u64;
        let start = WallClock::now();
        for i in 0..calls {
            black_box(p.poll_expired(black_box(Instant::from_nanos(SEC + i))));
        }
        ns_per(start.elapsed(), calls)
    }

    /// Worst case for the lazy wheel: 1M ids filed in one bucket, all
    /// refreshed since, come due together; the pass re-files every one.
    fn synchronized_refile() -> (Duration, usize) {
        let n: u64 = 1_000_000;
        let mut p: Presence<u64> = Presence::new(config()).unwrap();
        for id in 0..n {
            p.check_in(&id, Instant::ZERO).unwrap();
        }
        for id in 0..n {
            p.check_in(&id, Instant::from_secs(30)).unwrap();
        }
        let before = live();
        PEAK.store(before, Relaxed);
        let start = WallClock::now();
        let at = Instant::from_secs(90);
        let mut reported = 0;
        while let Some(id) = p.poll_expired(at) {
            black_box(id);
            reported += 1;
        }
        let t = start.elapsed();
        assert_eq!(reported, 0);
        (t, PEAK.load(Relaxed) - before)
    }

    // ---- 3. memory ------------------------------------------------------------

    fn bytes_per_id(n: u64) -> (f64, f64) {
        let before = live();
        let mut p: Presence<u64> = Presence::new(config()).unwrap();
        for id in 0..n {
            p.check_in(&id, Instant::from_nanos(id)).unwrap();
        }
        let presence = live() - before;
        drop(p);
        let before = live();
        let mut m: HashMap<u64, Instant> = HashMap::new();
        for id in 0..n {
            m.insert(id, Instant::from_nanos(id));
        }
        let map = live() - before;
        black_box(&m);
        (presence as f64 / n as f64, map as f64 / n as f64)
    }

    pub fn main() {
        let started = WallClock::now();
        println!("presence benchmark (timeout 90 s; check-in times are best of 5)\n");

        println!("1. check-in, ns/op (random existing ids)");
        println!("  hasher          ids   Presence   bare map   ratio");
        for n in [1_000, 100_000, 1_000_000] {
            check_in_row(RandomState::new(), "SipHash", n);
        }
        for n in [1_000, 100_000, 1_000_000] {
            check_in_row(Fx, "FxHash", n);
        }
        steady_state_row();

        println!("\n2. one expiry pass at 1M ids (drain poll_expired vs naive full scan)");
        println!("  due      reported   Presence      naive scan");
        let idle = idle_poll();
        for permille in [0, 10, 100] {
            let (tp, tn, reported) = expiry_pass(permille);
            let pct = permille as f64 / 10.0;
            println!("  {pct:>4.1} %  {reported:>8}   {tp:>10.2?}   {tn:>10.2?}");
        }
        println!("  nothing due: {idle:.1} ns per poll_expired call (10M calls, 1M ids)");
        let (t, peak) = synchronized_refile();
        println!(
            "  worst case, 1M refreshed ids in one due bucket: {t:.2?} to re-file all ({:.1} MB transient)",
            peak as f64 / 1e6
        );

        println!("\n3. memory, bytes per tracked id (u64 ids, counted allocations)");
        println!("        ids   Presence   bare map   ratio");
        for n in [100_000, 1_000_000] {
            let (p, m) = bytes_per_id(n);
            println!("  {n:>9}   {p:>8.1}   {m:>8.1}   {:>5.2}x", p / m);
        }
        println!("\ntotal {:.1?}", started.elapsed());
    }
}
