//! Shared by the integration tests: building the library the way a C or
//! JavaScript user gets it, and reading `keepalive.h` and `src/exports.rs`.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;

/// `ffi/`.
pub fn ffi_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The workspace root.
pub fn workspace() -> PathBuf {
    ffi_dir().parent().expect("ffi/ has a parent").to_path_buf()
}

/// Runs `cargo build -p keepalive-ffi <extra>` in the workspace, with the
/// same `CARGO_TARGET_DIR` (inherited), and returns the files cargo reports
/// for the library target. Using cargo's own report (rather than a guessed
/// path) is what makes the tests use the library that was just built; each
/// file is also checked to be newer than every source it was built from.
pub fn build_ffi(extra: &[&str]) -> Vec<PathBuf> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = Command::new(cargo)
        .current_dir(workspace())
        .args(["build", "-p", "keepalive-ffi", "--lib"])
        .args(["--message-format", "json-render-diagnostics"])
        .args(extra)
        .output()
        .expect("cannot run cargo");
    assert!(
        output.status.success(),
        "cargo build -p keepalive-ffi {extra:?} failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8(output.stdout).expect("cargo prints UTF-8");
    let line = stdout
        .lines()
        .find(|l| {
            l.contains(r#""reason":"compiler-artifact""#)
                && l.contains(r#""name":"keepalive_ffi""#)
                && l.contains(r#""kind":["staticlib","cdylib","rlib"]"#)
        })
        .unwrap_or_else(|| panic!("cargo reported no keepalive_ffi artifact:\n{stdout}"));
    let files = json_string_array(line, "filenames");
    assert!(!files.is_empty(), "no filenames in {line}");
    for file in &files {
        assert_fresh(file);
    }
    files
}

/// The strings of the JSON array `"key":[...]` in `line` (paths: no escapes
/// other than `\\` and `\"` expected).
fn json_string_array(line: &str, key: &str) -> Vec<PathBuf> {
    let start = line
        .find(&format!(r#""{key}":["#))
        .unwrap_or_else(|| panic!("no {key} in {line}"))
        + key.len()
        + 4;
    let mut out = Vec::new();
    let mut chars = line[start..].chars();
    let mut current: Option<String> = None;
    while let Some(c) = chars.next() {
        match (c, current.as_mut()) {
            (']', None) => break,
            ('"', None) => current = Some(String::new()),
            ('"', Some(_)) => out.push(PathBuf::from(current.take().unwrap_or_default())),
            ('\\', Some(s)) => s.extend(chars.next()),
            (c, Some(s)) => s.push(c),
            _ => {}
        }
    }
    out
}

/// Panics unless `artifact` is at least as new as every source file listed
/// in the dep-info file cargo wrote beside it.
fn assert_fresh(artifact: &Path) {
    let built = mtime(artifact);
    let stem = artifact
        .file_stem()
        .and_then(|s| s.to_str())
        .expect("artifact has a name");
    let dir = artifact.parent().expect("artifact has a directory");
    // libkeepalive_ffi.a -> libkeepalive_ffi.d; keepalive_ffi.wasm -> keepalive_ffi.d
    let dep_info = dir.join(format!("{stem}.d"));
    let text = std::fs::read_to_string(&dep_info)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dep_info.display()));
    let mut sources = 0;
    for line in text.lines() {
        let Some((_, deps)) = line.split_once(": ") else {
            continue;
        };
        for dep in deps.split_whitespace() {
            let dep = Path::new(dep);
            if dep.extension().is_some_and(|e| e == "rs") && dep.exists() {
                sources += 1;
                assert!(
                    mtime(dep) <= built,
                    "{} is older than its source {}: not the library just built",
                    artifact.display(),
                    dep.display()
                );
            }
        }
    }
    assert!(sources > 0, "no sources listed in {}", dep_info.display());
}

fn mtime(path: &Path) -> SystemTime {
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .unwrap_or_else(|e| panic!("cannot stat {}: {e}", path.display()))
}

/// The artifact among `files` whose name ends with `suffix`.
pub fn pick(files: &[PathBuf], suffix: &str) -> PathBuf {
    files
        .iter()
        .find(|f| f.to_string_lossy().ends_with(suffix))
        .unwrap_or_else(|| panic!("no *{suffix} among {files:?}"))
        .clone()
}

/// A function signature normalised to `ret name(type, type)`.
pub type Signatures = BTreeMap<String, String>;

/// The functions `keepalive.h` declares.
pub fn header_functions() -> Signatures {
    let text = std::fs::read_to_string(ffi_dir().join("keepalive.h")).expect("read keepalive.h");
    let code: String = strip_c_comments(&text)
        .lines()
        .filter(|l| {
            let l = l.trim();
            !l.starts_with('#') && l != "}" && l != r#"extern "C" {"#
        })
        .collect::<Vec<_>>()
        .join(" ");
    let mut out = Signatures::new();
    for decl in code.split(';').map(str::trim).filter(|d| !d.is_empty()) {
        let (head, rest) = decl
            .split_once('(')
            .unwrap_or_else(|| panic!("not a prototype: {decl}"));
        let params = rest
            .strip_suffix(')')
            .unwrap_or_else(|| panic!("not a prototype: {decl}"));
        let mut head: Vec<&str> = head.split_whitespace().collect();
        let name = head.pop().expect("a name").to_string();
        let ret = head.join(" ");
        let params: Vec<String> = params
            .split(',')
            .map(|p| {
                let mut words: Vec<&str> = p.split_whitespace().collect();
                if words.len() > 1 {
                    words.pop(); // the parameter's name
                }
                words.join(" ")
            })
            .filter(|p| p != "void")
            .collect();
        let previous = out.insert(name.clone(), format!("{ret} {name}({})", params.join(", ")));
        assert!(previous.is_none(), "{name} declared twice");
    }
    out
}

/// The `pub extern "C" fn`s of `src/exports.rs`, with Rust types mapped to C.
pub fn rust_exports() -> Signatures {
    let text =
        std::fs::read_to_string(ffi_dir().join("src/exports.rs")).expect("read src/exports.rs");
    let c_type = |t: &str| match t.trim() {
        "i32" => "int32_t",
        "u32" => "uint32_t",
        "i64" => "int64_t",
        "u64" => "uint64_t",
        "f64" => "double",
        "" => "void",
        other => panic!("type {other} has no C equivalent in this ABI"),
    };
    let mut out = Signatures::new();
    for item in text.split(r#"pub extern "C" fn "#).skip(1) {
        let (name, rest) = item.split_once('(').expect("fn name(");
        let (params, rest) = rest.split_once(')').expect("params)");
        let ret = rest
            .split_once('{')
            .expect("body")
            .0
            .trim()
            .trim_start_matches("->");
        let params: Vec<&str> = params
            .split(',')
            .filter(|p| !p.trim().is_empty())
            .map(|p| c_type(p.split_once(':').expect("name: type").1))
            .collect();
        let name = name.trim().to_string();
        out.insert(
            name.clone(),
            format!("{} {name}({})", c_type(ret), params.join(", ")),
        );
    }
    out
}

fn strip_c_comments(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    loop {
        let block = rest.find("/*");
        let line = rest.find("//");
        match (block, line) {
            (Some(b), l) if l.is_none_or(|l| b < l) => {
                out.push_str(&rest[..b]);
                let end = rest[b..].find("*/").expect("unterminated comment");
                rest = &rest[b + end + 2..];
            }
            (_, Some(l)) => {
                out.push_str(&rest[..l]);
                rest = rest[l..].find('\n').map_or("", |n| &rest[l + n..]);
            }
            (None, None) => {
                out.push_str(rest);
                return out;
            }
            (Some(_), None) => unreachable!(),
        }
    }
}

/// `#define KA_*` values of `keepalive.h`.
pub fn header_constants() -> BTreeMap<String, i128> {
    let text = std::fs::read_to_string(ffi_dir().join("keepalive.h")).expect("read keepalive.h");
    let mut out = BTreeMap::new();
    for line in strip_c_comments(&text).lines() {
        let Some(def) = line.trim().strip_prefix("#define ") else {
            continue;
        };
        let Some((name, value)) = def.split_once(char::is_whitespace) else {
            continue;
        };
        if name.starts_with("KA_") {
            out.insert(name.to_string(), number(value));
        }
    }
    out
}

/// `pub const KA_*` values of `src/codes.rs`.
pub fn rust_constants() -> BTreeMap<String, i128> {
    let text = std::fs::read_to_string(ffi_dir().join("src/codes.rs")).expect("read src/codes.rs");
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let Some(def) = line.trim().strip_prefix("pub const ") else {
            continue;
        };
        let (name, rest) = def.split_once(':').expect("pub const NAME: T = V;");
        let value = rest
            .split_once('=')
            .expect("= value")
            .1
            .trim()
            .trim_end_matches(';');
        out.insert(name.trim().to_string(), number(value));
    }
    out
}

fn number(value: &str) -> i128 {
    let v = value.trim().trim_start_matches('(').trim_end_matches(')');
    match v {
        "INT64_MAX" | "i64::MAX" => i128::from(i64::MAX),
        "UINT32_MAX" | "u32::MAX" => i128::from(u32::MAX),
        _ => v
            .parse()
            .unwrap_or_else(|_| panic!("cannot read the number {value:?}")),
    }
}
