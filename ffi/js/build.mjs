// Builds the shipping .wasm (LTO, one codegen unit, stripped) and puts it
// beside keepalive.mjs: `npm pack` runs it (prepack), so the tarball is
// complete. Needs the Rust toolchain with the wasm32-unknown-unknown target.

import { execFileSync } from 'node:child_process';
import { copyFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const workspace = join(here, '..', '..');
const target = process.env.CARGO_TARGET_DIR
  ? join(process.env.CARGO_TARGET_DIR, 'wasm-release')
  : join(workspace, 'target', 'wasm-release');
execFileSync(process.env.CARGO || 'cargo', [
  'build', '-q', '-p', 'keepalive-ffi', '--lib', '--target', 'wasm32-unknown-unknown', '--release',
  '--target-dir', target,
  '--config', 'profile.release.lto=true', '--config', 'profile.release.codegen-units=1',
  '--config', 'profile.release.strip=true', '--config', 'profile.release.opt-level="z"',
], { cwd: workspace, stdio: 'inherit' });
const built = join(target, 'wasm32-unknown-unknown', 'release', 'keepalive_ffi.wasm');
copyFileSync(built, join(here, 'keepalive_ffi.wasm'));
console.log(`keepalive_ffi.wasm: ${statSync(built).size} bytes`);
