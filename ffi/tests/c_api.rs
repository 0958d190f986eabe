//! The C ABI as a C program sees it: `keepalive.h` against the library's
//! real exports, and the C programs in `tests/c/` compiled with
//! `cc -Wall -Wextra -Werror` and ASan + UBSan against the static library
//! that was just built. Nothing is skipped: without `cc` or `nm` the tests
//! fail, saying so.

mod common;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

use common::*;

/// `libkeepalive_ffi.a`, built once per test run.
fn staticlib() -> &'static PathBuf {
    static LIB: OnceLock<PathBuf> = OnceLock::new();
    LIB.get_or_init(|| pick(&build_ffi(&[]), ".a"))
}

fn tool(name: &str) -> Command {
    let probe = Command::new(name).arg("--version").output();
    assert!(
        probe.is_ok_and(|o| o.status.success()),
        "`{name}` is required by this test and was not found on PATH (install a C toolchain: \
         `apt-get install build-essential`)"
    );
    Command::new(name)
}

#[test]
fn header_declares_exactly_the_rust_exports_with_the_same_types() {
    let header = header_functions();
    let rust = rust_exports();
    assert!(rust.len() >= 30, "found only {} exports", rust.len());
    for (name, sig) in &rust {
        assert_eq!(
            header.get(name),
            Some(sig),
            "{name}: header vs src/exports.rs"
        );
    }
    for name in header.keys() {
        assert!(
            rust.contains_key(name),
            "{name} is in keepalive.h but not exported"
        );
    }
}

#[test]
fn header_constants_match_the_library() {
    let header = header_constants();
    let rust = rust_constants();
    assert!(rust.len() >= 60, "found only {} constants", rust.len());
    assert_eq!(
        header, rust,
        "#define values in keepalive.h vs src/codes.rs"
    );
}

#[test]
fn staticlib_exports_exactly_the_header_functions() {
    let output = tool("nm")
        .args(["-g", "--defined-only"])
        .arg(staticlib())
        .output()
        .expect("run nm");
    assert!(output.status.success(), "nm failed");
    let text = String::from_utf8_lossy(&output.stdout);
    let exported: BTreeSet<String> = text
        .lines()
        .filter_map(|l| {
            let mut parts = l.split_whitespace();
            let (_addr, kind, name) = (parts.next()?, parts.next()?, parts.next()?);
            (kind == "T" && name.starts_with("ka_")).then(|| name.to_string())
        })
        .collect();
    let declared: BTreeSet<String> = header_functions().into_keys().collect();
    assert_eq!(
        exported,
        declared,
        "nm of {} vs keepalive.h",
        staticlib().display()
    );
}

#[test]
fn c_programs_pass_under_address_and_undefined_behaviour_sanitizers() {
    let lib = staticlib();
    let out_dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("keepalive-ffi-c");
    std::fs::create_dir_all(&out_dir).expect("create the output directory");
    let mut programs: Vec<PathBuf> = std::fs::read_dir(ffi_dir().join("tests/c"))
        .expect("read tests/c")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "c"))
        .collect();
    programs.sort();
    assert!(!programs.is_empty(), "no C programs in tests/c");
    for source in programs {
        let exe = out_dir.join(source.file_stem().expect("a name"));
        let compile = tool("cc")
            .args([
                "-std=c11",
                "-Wall",
                "-Wextra",
                "-Wpedantic",
                "-Werror",
                "-g",
            ])
            .args(["-fno-omit-frame-pointer", "-fsanitize=address,undefined"])
            .arg("-fno-sanitize-recover=all")
            .arg("-I")
            .arg(ffi_dir())
            .arg(&source)
            .arg(lib)
            .args(["-lpthread", "-ldl", "-lm"])
            .arg("-o")
            .arg(&exe)
            .output()
            .expect("run cc");
        assert!(
            compile.status.success(),
            "cc {} failed:\n{}",
            source.display(),
            String::from_utf8_lossy(&compile.stderr)
        );
        let run = Command::new(&exe)
            .env("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
            .env("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")
            .output()
            .expect("run the C program");
        let stdout = String::from_utf8_lossy(&run.stdout);
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert!(
            run.status.success() && stderr.trim().is_empty(),
            "{} failed ({}):\n{stdout}\n{stderr}",
            source.display(),
            run.status
        );
        assert!(stdout.contains("all checks passed"), "{stdout}");
    }
}
