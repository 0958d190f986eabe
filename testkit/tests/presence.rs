//! The presence fuzz target's comparison, run on stable over the seeds, the
//! committed corpus and random bytes.
#![cfg(feature = "std")]

use keepalive_testkit::presence::check;

#[test]
fn seeds_and_random_bytes_agree_with_the_model() {
    for (name, bytes) in keepalive_testkit::seeds::presence() {
        check(&bytes).unwrap_or_else(|e| panic!("seed {name}: {e}"));
    }
    let corpus = concat!(env!("CARGO_MANIFEST_DIR"), "/../fuzz/corpus/presence");
    for entry in std::fs::read_dir(corpus).into_iter().flatten().flatten() {
        let bytes = std::fs::read(entry.path()).unwrap();
        check(&bytes).unwrap_or_else(|e| panic!("{}: {e}", entry.path().display()));
    }
    let mut rng = keepalive::Rng::new(5);
    for _ in 0..3000 {
        let len = rng.between(0, 400) as usize;
        let data: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
        check(&data).unwrap_or_else(|e| panic!("{data:?}: {e}"));
    }
}
