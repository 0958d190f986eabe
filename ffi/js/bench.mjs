// Per-message cost, in one Node process: the article's
// `heartCheck.reset().start()` (clearTimeout x2 + setTimeout on every
// message) against keepalive through WebAssembly, raw and through the
// KeepAliveSocket wrapper. Also prints the .wasm's size.
//
//   cargo build -p keepalive-ffi --target wasm32-unknown-unknown --release
//   node ffi/js/bench.mjs [messages per round]

import { gzipSync } from 'node:zlib';

import { wasmBytes, wasmPath } from './fakes.mjs';
import { load } from './keepalive.mjs';

const N = Number(process.argv[2] ?? 1_000_000);
const ROUNDS = 7;

function measure(name, setup) {
  const { run, teardown } = setup();
  run(Math.min(N, 100_000)); // warm up the JIT
  const perMessage = [];
  for (let r = 0; r < ROUNDS; r++) {
    const start = process.hrtime.bigint();
    run(N);
    perMessage.push(Number(process.hrtime.bigint() - start) / N);
  }
  teardown?.();
  perMessage.sort((a, b) => a - b);
  const median = perMessage[ROUNDS >> 1];
  console.log(`${name.padEnd(58)} ${median.toFixed(1).padStart(7)} ns/message  (min ${perMessage[0].toFixed(1)})`);
  return median;
}

// The article's code, verbatim but for the socket.
function article() {
  const socket = { send() {}, close() {} };
  const heartCheck = {
    timeout: 60000,
    timeoutObj: null,
    serverTimeoutObj: null,
    reset: function () {
      clearTimeout(this.timeoutObj);
      clearTimeout(this.serverTimeoutObj);
      return this;
    },
    start: function () {
      const self = this;
      this.timeoutObj = setTimeout(function () {
        socket.send('心跳测试');
        self.serverTimeoutObj = setTimeout(function () {
          socket.close();
        }, self.timeout);
      }, this.timeout);
    },
  };
  return {
    run(n) {
      for (let i = 0; i < n; i++) heartCheck.reset().start(); // socket.onmessage
    },
    teardown() { heartCheck.reset(); },
  };
}

const keepalive = await load(wasmBytes());
const ka = keepalive.exports;

// What KeepAliveSocket does per message, without the wrapper: one input, one deadline read.
function raw() {
  const cfg = ka.ka_config_article();
  const h = ka.ka_new(cfg);
  ka.ka_free(cfg);
  ka.ka_connect_ms(h, performance.now());
  ka.ka_next(h);
  const id = Number(ka.ka_action_transport(h));
  ka.ka_handle_from_ms(h, id, 1, performance.now());
  let timerAt = ka.ka_poll_timeout_ms(h);
  return {
    run(n) {
      for (let i = 0; i < n; i++) {
        if (ka.ka_handle_from_ms(h, id, 2, performance.now()) > 0) throw new Error('unexpected action');
        const at = ka.ka_poll_timeout_ms(h);
        if (at < timerAt) timerAt = at; // (re-arm only if earlier: never, here)
      }
    },
    teardown() { ka.ka_free(h); },
  };
}

// The whole wrapper: a fake socket delivering messages to KeepAliveSocket's
// onmessage, with real timers and performance.now().
function wrapper(stamped) {
  let socket;
  class QuietWebSocket {
    readyState = 0;
    constructor() { socket = this; }
    send() {}
    close() {}
  }
  const ws = keepalive.open('ws://bench/', {
    WebSocket: QuietWebSocket,
    heartbeat: { interval: 60000, timeout: 60000 },
    backoff: { kind: 'fixed', delay: 2000 },
    onmessage: () => {},
  });
  socket.readyState = 1;
  socket.onopen({});
  // A browser's MessageEvent carries its arrival time (`timeStamp`, on
  // performance.now()'s clock); Node's `ws` events do not.
  const event = stamped ? { data: 'update', timeStamp: performance.now() } : { data: 'update' };
  return {
    run(n) {
      for (let i = 0; i < n; i++) {
        if (stamped) event.timeStamp += 1e-3;
        socket.onmessage(event);
      }
    },
    teardown() { ws.dispose(); },
  };
}

console.log(`node ${process.version}, ${N} messages per round, median of ${ROUNDS} rounds`);
const a = measure("article: heartCheck.reset().start()", article);
const r = measure('keepalive wasm: ka_handle_from_ms + ka_poll_timeout_ms', raw);
const w = measure('keepalive.mjs: whole wrapper, event without timeStamp (Node)', () => wrapper(false));
const b = measure('keepalive.mjs: whole wrapper, browser event (timeStamp)', () => wrapper(true));
console.log(`speed-up vs the article: ${(a / r).toFixed(1)}x raw, ${(a / w).toFixed(1)}x whole wrapper (Node), `
  + `${(a / b).toFixed(1)}x whole wrapper (browser events)`);

const bytes = wasmBytes();
console.log(`${wasmPath()}: ${bytes.length} bytes, ${gzipSync(bytes, { level: 9 }).length} gzipped`);
