//! The WebAssembly build: `cargo build -p keepalive-ffi --target
//! wasm32-unknown-unknown --release` must import nothing and export exactly
//! the functions of `keepalive.h`; then `node --test ffi/js/test/` drives
//! the JavaScript module over that very file. Without the wasm32 target or
//! Node the test skips with one line saying what to install (and fails
//! under `KEEPALIVE_REQUIRE_SERVICES=1`).

mod common;

use std::collections::BTreeSet;
use std::process::Command;

use common::*;

/// Import and export names of a wasm binary (a minimal reader of the
/// binary format: sections 2 and 7 only).
struct Module {
    imports: Vec<String>,
    function_exports: BTreeSet<String>,
}

fn parse(bytes: &[u8]) -> Module {
    assert_eq!(
        &bytes[..8],
        b"\0asm\x01\0\0\0",
        "not a wasm module (version 1)"
    );
    let mut r = Reader { bytes, pos: 8 };
    let mut module = Module {
        imports: Vec::new(),
        function_exports: BTreeSet::new(),
    };
    while r.pos < bytes.len() {
        let id = r.byte();
        let len = r.leb() as usize;
        let end = r.pos + len;
        match id {
            2 => {
                // Only the first import is named: the test fails on any, and
                // the rest of an import's description varies by kind.
                let count = r.leb();
                if count > 0 {
                    let (m, n) = (r.name(), r.name());
                    module.imports.push(format!("{m}.{n}"));
                    module
                        .imports
                        .extend((1..count).map(|i| format!("import #{i}")));
                }
            }
            7 => {
                for _ in 0..r.leb() {
                    let name = r.name();
                    let kind = r.byte();
                    r.leb();
                    if kind == 0 {
                        module.function_exports.insert(name);
                    }
                }
            }
            _ => {}
        }
        r.pos = end;
    }
    module
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn byte(&mut self) -> u8 {
        self.pos += 1;
        self.bytes[self.pos - 1]
    }
    fn leb(&mut self) -> u64 {
        let (mut value, mut shift) = (0u64, 0);
        loop {
            let b = self.byte();
            value |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return value;
            }
            shift += 7;
        }
    }
    fn name(&mut self) -> String {
        let len = self.leb() as usize;
        self.pos += len;
        String::from_utf8_lossy(&self.bytes[self.pos - len..self.pos]).into_owned()
    }
}

/// Whether the wasm32 target and Node are there to build and run the
/// module: without them the test skips with one line (and fails under
/// `KEEPALIVE_REQUIRE_SERVICES=1`).
fn wasm_tools_present() -> bool {
    let installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).contains("wasm32-unknown-unknown"));
    keepalive_testkit::services::needs_that(
        installed,
        "the wasm32-unknown-unknown target",
        "rustup target add wasm32-unknown-unknown",
    ) && keepalive_testkit::services::needs("node", "apt-get install nodejs")
}

#[test]
fn wasm_imports_nothing_and_the_js_module_passes_its_node_tests() {
    if !wasm_tools_present() {
        return;
    }
    let wasm = pick(
        &build_ffi(&["--target", "wasm32-unknown-unknown", "--release"]),
        ".wasm",
    );
    let bytes = std::fs::read(&wasm).expect("read the .wasm");
    let module = parse(&bytes);
    assert_eq!(
        module.imports,
        Vec::<String>::new(),
        "the .wasm must import nothing"
    );
    let declared: BTreeSet<String> = header_functions().into_keys().collect();
    let exported: BTreeSet<String> = module
        .function_exports
        .into_iter()
        .filter(|n| n.starts_with("ka_"))
        .collect();
    assert_eq!(exported, declared, "wasm exports vs keepalive.h");

    let node = Command::new("node")
        .arg("--test")
        .arg(ffi_dir().join("js/test/"))
        .env("KEEPALIVE_WASM", &wasm)
        .output();
    let node = match node {
        Ok(out) => out,
        Err(e) => panic!("`node` (v20 or later) is required to test the JavaScript module: {e}"),
    };
    let stdout = String::from_utf8_lossy(&node.stdout);
    assert!(
        node.status.success(),
        "node --test ffi/js/test/ failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&node.stderr)
    );
    assert!(
        stdout.contains("# fail 0") && !stdout.contains("# pass 0"),
        "{stdout}"
    );
}

#[test]
fn reader_finds_an_import() {
    // (module (import "env" "f" (func)) (func (export "ka_x")))
    let bytes = [
        0, 97, 115, 109, 1, 0, 0, 0, // header
        1, 4, 1, 96, 0, 0, // type: () -> ()
        2, 9, 1, 3, b'e', b'n', b'v', 1, b'f', 0, 0, // import env.f
        3, 2, 1, 0, // func
        7, 8, 1, 4, b'k', b'a', b'_', b'x', 0, 1, // export ka_x = func 1
        10, 4, 1, 2, 0, 11, // code
    ];
    let module = parse(&bytes);
    assert_eq!(module.imports, ["env.f"]);
    assert_eq!(
        module.function_exports,
        BTreeSet::from(["ka_x".to_string()])
    );
}
