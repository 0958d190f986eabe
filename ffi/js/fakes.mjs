// Test support for keepalive.mjs (kept outside test/ so that `node --test`
// does not run it as a test file): the .wasm's location, a virtual clock
// with fake timers, and a scripted fake WebSocket that writes a transcript.

import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
export const workspace = join(here, '..', '..');

/** The .wasm built by `cargo build -p keepalive-ffi --target wasm32-unknown-unknown --release`. */
export function wasmPath() {
  const target = process.env.CARGO_TARGET_DIR || join(workspace, 'target');
  const path = process.env.KEEPALIVE_WASM
    || join(target, 'wasm32-unknown-unknown', 'release', 'keepalive_ffi.wasm');
  if (!existsSync(path)) {
    throw new Error(`${path} not found: run \`cargo build -p keepalive-ffi --target `
      + 'wasm32-unknown-unknown --release` first (or set KEEPALIVE_WASM)');
  }
  return path;
}

export const wasmBytes = () => readFileSync(wasmPath());

/** Virtual time: `now()` only moves when `advance` runs the timers due. */
export class Clock {
  t = 0;
  #timers = new Map();
  #seq = 0;
  maxPending = 0;
  scheduled = 0;
  now = () => this.t;
  setTimeout = (fn, ms) => {
    const id = ++this.#seq;
    this.#timers.set(id, { at: this.t + Math.max(0, ms), fn, id });
    this.scheduled++;
    this.maxPending = Math.max(this.maxPending, this.#timers.size);
    return id;
  };
  clearTimeout = (id) => { this.#timers.delete(id); };
  get pending() { return this.#timers.size; }
  /** Runs every timer due up to `to` (ms), in order, then sets the time to `to`. */
  advance(to) {
    for (;;) {
      let next = null;
      for (const timer of this.#timers.values()) {
        if (timer.at <= to && (!next || timer.at < next.at)) next = timer;
      }
      if (!next) break;
      this.#timers.delete(next.id);
      this.t = Math.max(this.t, next.at);
      next.fn();
    }
    this.t = Math.max(this.t, to);
  }
}

/**
 * A WebSocket class whose "server side" the test scripts. Everything the
 * client does is appended to `log` as `t=<ms> <what>`.
 */
export function fakeWebSocket(clock, log) {
  return class FakeWebSocket {
    static CONNECTING = 0;
    static OPEN = 1;
    static CLOSING = 2;
    static CLOSED = 3;
    static all = [];
    readyState = 0;
    sent = [];
    constructor(url, protocols) {
      this.url = url;
      this.protocols = protocols;
      this.n = FakeWebSocket.all.push(this);
      this.#log(`new ${url}`);
    }
    static get last() { return FakeWebSocket.all.at(-1); }
    #log(what) { log.push(`t=${clock.t} ws${this.n} ${what}`); }
    send(data) {
      if (this.readyState !== 1) throw new Error(`ws${this.n}: send while readyState ${this.readyState}`);
      this.sent.push(data);
      this.#log(`send ${data}`);
    }
    close(code, reason) {
      this.#log(`close ${code ?? ''} ${reason ?? ''}`.trimEnd());
      if (this.readyState < 2) this.readyState = 2;
    }
    // The server side.
    open() { this.readyState = 1; this.onopen?.({ type: 'open' }); }
    message(data) { this.onmessage?.({ type: 'message', data }); }
    error() { this.onerror?.({ type: 'error' }); }
    closed(code = 1006, reason = "") { this.readyState = 3; this.onclose?.({ type: "close", code, reason }); }
  };
}

/** Options wiring a socket to the clock, the fake WebSocket and the log. */
export function harness(extra = {}) {
  const clock = new Clock();
  const log = [];
  const WebSocket = fakeWebSocket(clock, log);
  const note = (what) => log.push(`t=${clock.t} ${what}`);
  const options = {
    WebSocket,
    now: clock.now,
    setTimeout: clock.setTimeout,
    clearTimeout: clock.clearTimeout,
    seed: 7,
    onstatechange: ({ state }) => note(`state ${state}`),
    onreconnecting: ({ delay, attempt }) => note(`reconnecting #${attempt} in ${delay}ms`),
    ongiveup: ({ attempts }) => note(`give up after ${attempts}`),
    onmessage: (e) => note(`message ${e.data}`),
    ...extra,
  };
  return { clock, log, WebSocket, options, note };
}

/** A `window` that says online/offline when the test tells it to. */
export class FakeWindow extends EventTarget {
  navigator = { onLine: true };
  set(online) {
    this.navigator.onLine = online;
    this.dispatchEvent(new Event(online ? 'online' : 'offline'));
  }
}

/** A `document` whose tab the test hides and shows. */
export class FakeDocument extends EventTarget {
  visibilityState = 'visible';
  set(state) {
    this.visibilityState = state;
    this.dispatchEvent(new Event('visibilitychange'));
  }
}

/**
 * The module under test and its loaded `.wasm`: the source files, or with
 * `KEEPALIVE_PACKAGE` set the installed package by that name, loading the
 * `.wasm` it ships by itself (CI does so after `npm pack`).
 */
export async function underTest() {
  const name = process.env.KEEPALIVE_PACKAGE;
  const module = await import(name ?? './keepalive.mjs');
  const keepalive = await module.load(name ? undefined : wasmBytes());
  return { ...module, keepalive };
}
