//! Writes the readable seeds of `keepalive_testkit::seeds` into the fuzz
//! corpus, `fuzz/corpus/<target>/seed-<name>`:
//!
//! ```text
//! cargo run -p keepalive-testkit --bin write-seeds
//! ```

use std::path::Path;

fn main() -> std::io::Result<()> {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus");
    let targets = [
        ("connection", keepalive_testkit::seeds::connection()),
        ("config", keepalive_testkit::seeds::config()),
        ("presence", keepalive_testkit::seeds::presence()),
    ];
    for (target, seeds) in targets {
        let dir = corpus.join(target);
        std::fs::create_dir_all(&dir)?;
        for (name, bytes) in seeds {
            let path = dir.join(format!("seed-{name}"));
            std::fs::write(&path, bytes)?;
            println!("wrote {}", path.display());
        }
    }
    Ok(())
}
