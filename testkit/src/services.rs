//! Tests that need an outside program (`redis-server`, `node`, Chromium).
//!
//! The README promises that `cargo test` passes on a machine with only the
//! Rust toolchain. A test that needs more asks [`needs`] first: when the
//! program is missing it prints one line, `skipped: needs redis-server
//! (apt-get install redis-server)`, and the test returns early and passes.
//! CI installs every program and sets `KEEPALIVE_REQUIRE_SERVICES=1`, under
//! which a missing program fails the test instead, so CI never skips.
//!
//! ```
//! if !keepalive_testkit::services::needs("redis-server", "apt-get install redis-server") {
//!     return;
//! }
//! // … start redis-server and test against it.
//! ```

use std::env;
use std::ffi::OsStr;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The variable under which a missing program fails the test.
pub const REQUIRE_SERVICES: &str = "KEEPALIVE_REQUIRE_SERVICES";

/// Whether `program` can be run; when it cannot, says so and decides.
///
/// - Found on `PATH` (or given as a path that exists): `true`.
/// - Missing, `KEEPALIVE_REQUIRE_SERVICES=1`: panics, naming the program
///   and `install`, so the test fails.
/// - Missing otherwise: prints `skipped: needs PROGRAM (INSTALL)` and
///   returns `false`: the caller returns and the test passes. The line is
///   written to the process's standard error directly, past the test
///   harness's capture, so a plain `cargo test` shows it.
#[track_caller]
pub fn needs(program: &str, install: &str) -> bool {
    needs_that(find(program).is_some(), program, install)
}

/// The same decision for a requirement that is not a program on `PATH`
/// (a rustup target, say): `present` says whether it is there.
#[track_caller]
pub fn needs_that(present: bool, what: &str, install: &str) -> bool {
    decide(what, install, present, required()).unwrap_or_else(|message| panic!("{message}"))
}

/// Whether `KEEPALIVE_REQUIRE_SERVICES` asks that nothing be skipped.
pub fn required() -> bool {
    env::var_os(REQUIRE_SERVICES).is_some_and(|v| v == "1")
}

/// The full path of `program`: itself if it names an existing file,
/// otherwise the first match on `PATH`.
pub fn find(program: &str) -> Option<PathBuf> {
    let path = Path::new(program);
    if path.components().count() > 1 {
        return path.is_file().then(|| path.to_path_buf());
    }
    let dirs = env::var_os("PATH")?;
    env::split_paths(&dirs)
        .map(|dir| dir.join(OsStr::new(program)))
        .find(|candidate| is_executable(candidate))
}

/// `Ok(true)`: run the test; `Ok(false)`: skip it; `Err`: fail it, with
/// this message.
fn decide(what: &str, install: &str, present: bool, required: bool) -> Result<bool, String> {
    let line = format!("needs {what} ({install})");
    match (present, required) {
        (true, _) => Ok(true),
        (false, false) => {
            // `eprintln!` would be captured by libtest and shown only on
            // failure: write past the capture.
            let _ = writeln!(std::io::stderr().lock(), "skipped: {line}");
            Ok(false)
        }
        (false, true) => Err(format!(
            "{line}: {REQUIRE_SERVICES}=1 is set, so a missing program fails the test"
        )),
    }
}

#[cfg(unix)]
fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
fn is_executable(path: &Path) -> bool {
    path.is_file()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_present_program_runs_whatever_the_variable() {
        assert_eq!(decide("x", "y", true, false), Ok(true));
        assert_eq!(decide("x", "y", true, true), Ok(true));
    }

    #[test]
    fn a_missing_program_skips_without_the_variable_and_fails_under_it() {
        assert_eq!(decide("x", "y", false, false), Ok(false));
        let failure = decide("redis-server", "apt-get install redis-server", false, true);
        assert!(failure.unwrap_err().starts_with(
            "needs redis-server (apt-get install redis-server): KEEPALIVE_REQUIRE_SERVICES=1"
        ));
    }

    #[test]
    fn finds_a_program_on_path_and_not_an_invented_one() {
        // `cargo` runs this test, so it is on PATH or named by $CARGO.
        let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        assert!(find(&cargo).is_some(), "{cargo}");
        assert!(find("keepalive-no-such-program-4f1c").is_none());
        assert!(find("/no/such/dir/redis-server").is_none());
    }
}
