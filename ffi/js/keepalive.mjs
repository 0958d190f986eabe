// keepalive.mjs: a browser WebSocket kept alive by keepalive's state machine
// (compiled to WebAssembly). No dependencies. It replaces the article's
// `heartCheck` + `lockReconnect`:
//
//   - one timer, re-armed from the machine's deadline (ka_poll_timeout_ms),
//     instead of clearTimeout x2 + setTimeout on every message;
//   - one reconnect per disconnect however many error/close events arrive,
//     with jittered backoff, a connect timeout, and an abort when a close
//     never completes;
//   - an outbound queue: send() while disconnected queues (bounded), and the
//     queue is flushed in order on the next open;
//   - close() is final: no heartbeat, no reconnect afterwards.
//
//   import { load } from './keepalive.mjs';
//   const keepalive = await load();          // fetches keepalive_ffi.wasm next to this file
//   const ws = keepalive.open('wss://example.com/live', {
//     protocols: ['v1', 'auth.' + token],    // credentials: subprotocol or `hello`, never the URL
//     onmessage: (e) => render(e.data),
//   });
//   ws.send('hi');                            // queued until open
//
// Browsers cannot set headers on a WebSocket. Put a token in a subprotocol
// (`protocols`; the server must echo one back) or in a first message
// (`hello`), never in the URL query: URLs end up in server logs, proxies and
// browser history.

const EVENT_OPENED = 1, EVENT_MESSAGE = 2, EVENT_PONG = 3, EVENT_ERROR = 4;
const EVENT_CLOSED = 5, EVENT_REJECTED = 6, EVENT_TICK = 7;
const CONNECT = 1, SEND_HEARTBEAT = 2, CLOSE = 3, ABORT = 4, SCHEDULE_RECONNECT = 5, GIVE_UP = 6;
const OPEN = 1; // WebSocket.OPEN

/** Connection states, indexed by the library's KA_STATE_* numbers. */
export const STATES = ['idle', 'connecting', 'open', 'closing', 'waiting', 'stopped', 'failed'];
const REASONS = [, 'heartbeat timeout', 'connect timeout', 'error', 'user'];
const MODES = { idle: 0, fixed: 1, off: 2 };
const BACKOFFS = { fixed: 0, exponential: 1 };
const JITTERS = { none: 0, full: 1, equal: 2, decorrelated: 3 };
const FIELDS = ['heartbeat interval', 'heartbeat timeout', 'connect timeout', 'close timeout',
  'min uptime', 'backoff delay', 'backoff initial', 'backoff max', 'backoff step'];
const ERRORS = {
  [-1]: 'bad handle', [-2]: 'stale handle (already freed)', [-3]: 'wrong kind of handle',
  [-4]: 'invalid argument', [-5]: 'too many connections', [-6]: 'too many unread actions',
  [-7]: 'no current action', [-8]: 'the action has no such field',
  [-10]: 'heartbeat timeout must not exceed the interval in fixed mode',
  [-11]: 'backoff factor must be finite and at least 1',
  [-12]: 'backoff initial delay must not exceed max', [-13]: 'backoff steps must not be empty',
  [-14]: 'maxAttempts must be at least 1 (Infinity for no limit)',
};
FIELDS.forEach((f, i) => {
  ERRORS[-20 - i] = `${f} must be at least 1 ms`;
  ERRORS[-30 - i] = `${f} must be at most 4294967295 ms`;
});

/** An error code of the library, with its message. */
export class KeepaliveError extends Error {
  constructor(code) {
    super(`keepalive: ${ERRORS[code] ?? `error ${code}`}`);
    this.name = 'KeepaliveError';
    this.code = code;
  }
}

const check = (n) => {
  if (n < 0) throw new KeepaliveError(n);
  return n;
};

/**
 * Instantiates the WebAssembly module once; returns `{ open(url, options), exports }`.
 * `source`: a URL or string to fetch (default: `keepalive_ffi.wasm` beside this
 * file, fetched in a browser, read from disk in Node, with no bundler setting),
 * a `Response`, bytes (`ArrayBuffer`, typed array), or a `WebAssembly.Module`.
 */
export async function load(source = new URL('./keepalive_ffi.wasm', import.meta.url)) {
  source = await source;
  let instance;
  if (source instanceof WebAssembly.Module) {
    instance = await WebAssembly.instantiate(source, {});
  } else if (source instanceof ArrayBuffer || ArrayBuffer.isView(source)) {
    ({ instance } = await WebAssembly.instantiate(source, {}));
  } else if (isFileUrl(source)) {
    // Node (and Deno, Bun): fetch() has no file: URLs; read the file.
    const { readFile } = await import('node:fs/promises');
    ({ instance } = await WebAssembly.instantiate(await readFile(new URL(source)), {}));
  } else {
    const response = source instanceof Response ? source : await fetch(source);
    if (!response.ok) throw new Error(`keepalive: cannot load ${response.url}: ${response.status}`);
    ({ instance } = await WebAssembly.instantiate(await response.arrayBuffer(), {}));
  }
  const exports = instance.exports;
  if (exports.ka_abi_version() !== 1) {
    throw new Error(`keepalive: ABI ${exports.ka_abi_version()}, this module speaks 1`);
  }
  return { exports, open: (url, options) => new KeepAliveSocket(exports, url, options) };
}

const isFileUrl = (s) => (s instanceof URL ? s.protocol : String(s).slice(0, 5)) === 'file:';

// Frees the machine of a socket that was dropped without dispose().
const registry = new FinalizationRegistry(({ ka, handle }) => ka.ka_free(handle));

/**
 * A WebSocket that heartbeats, reconnects and queues. Options (all optional):
 *
 * - `protocols`: subprotocols (where an auth token may go); `binaryType`.
 * - `hello`: a message (or a function returning one) sent first on every open,
 *   before the queue: the place for credentials if not in `protocols`.
 * - `heartbeat`: `{ mode: 'idle' | 'fixed' | 'off', interval, timeout, message, reply }`.
 *   Default: idle mode (the article's: a heartbeat after `interval` ms of
 *   silence, any inbound data answers), 25000 / 20000 ms, message `'心跳测试'`
 *   (the article's text frame). `reply`: a string or predicate telling
 *   heartbeat replies apart; they count as pongs (an RTT sample) and are not
 *   passed to `onmessage`. Fixed mode needs it.
 * - `backoff`: `{ kind: 'exponential', initial: 1000, max: 30000, factor: 2, jitter: 'full' }`,
 *   or `{ kind: 'fixed', delay: 2000, jitter: 'none' }` (the article's).
 * - `connectTimeout` (10000), `closeTimeout` (5000), `minUptime` (5000) in ms;
 *   `maxAttempts` (Infinity); `seed` (a number or BigInt; default random).
 * - `queueLimit` (64): messages kept while disconnected.
 * - `isRejected(closeEvent)`: a close that means "never come back" (default:
 *   code 1008, policy violation): the socket gives up instead of reconnecting.
 * - `retryDelay(closeEvent)`: ms the server asked us to stay away, or 0 (default:
 *   code 1013 Try Again Later, the reason's leading digits in seconds, else 5 s;
 *   code 1012 Service Restart, 1 s). The next reconnect waits at least that,
 *   plus 0-50 % jitter, capped at 5 min (`retryAfter`).
 * - `network` (true): follow the browser. While `offline` no reconnect is attempted
 *   (or counted); on `online` it reconnects at once; when the tab becomes visible
 *   again the deadline is checked at once (background tabs throttle timers).
 *   `window` and `document` (default: the globals) are where the events come from.
 * - `coalesce` (true): an inbound message only records its time; the machine hears
 *   of it, with that time, before its next input or tick (see `Connection`'s
 *   docs: the same transcript, without a WebAssembly call per message).
 * - Callbacks: `onopen`, `onmessage`, `onclose`, `onerror`, `onstatechange({ state, previous })`,
 *   `onreconnecting({ delay, attempt })`, `ongiveup({ attempts })`; also settable as properties.
 * - For tests: `WebSocket`, `now` (ms), `setTimeout`, `clearTimeout`.
 */
export class KeepAliveSocket {
  #ka; #h; #ws = null; #queue = []; #state = 'idle';
  #timer = null; #timerAt = Infinity; #stopped = false;
  #o; #now; #setTimeout; #clearTimeout; #WebSocket; #isPong;
  // Coalesced inbound data: the transport and time of the latest message not yet fed.
  #pendingId = 0; #pendingAt = -1; #coalesce; #eventTime;
  #offline = false; #unlisten = [];

  constructor(exports, url, options = {}) {
    const o = options, hb = o.heartbeat ?? {}, b = o.backoff ?? {};
    this.url = url;
    this.#ka = exports;
    this.#o = o;
    this.#now = o.now ?? (() => performance.now());
    this.#eventTime = o.now === undefined;
    this.#setTimeout = o.setTimeout ?? globalThis.setTimeout.bind(globalThis);
    this.#clearTimeout = o.clearTimeout ?? globalThis.clearTimeout.bind(globalThis);
    this.#WebSocket = o.WebSocket ?? globalThis.WebSocket;
    const reply = hb.reply;
    this.#isPong = typeof reply === 'function' ? reply : reply === undefined ? () => false : (d) => d === reply;
    this.heartbeatMessage = hb.message ?? '心跳测试';
    this.queueLimit = o.queueLimit ?? 64;
    for (const k of ['onopen', 'onmessage', 'onclose', 'onerror', 'onstatechange', 'onreconnecting', 'ongiveup']) {
      this[k] = o[k] ?? null;
    }

    const ka = exports, cfg = check(ka.ka_config_new());
    try {
      const kind = b.kind ?? 'exponential';
      check(ka.ka_config_set_heartbeat(cfg, pick(MODES, hb.mode ?? 'idle', 'heartbeat.mode'),
        hb.interval ?? 25000, hb.timeout ?? 20000));
      check(ka.ka_config_set_backoff(cfg, pick(BACKOFFS, kind, 'backoff.kind'),
        kind === 'fixed' ? b.delay ?? b.initial ?? 2000 : b.initial ?? 1000, b.max ?? 30000,
        b.factor ?? 2, pick(JITTERS, b.jitter ?? (kind === 'fixed' ? 'none' : 'full'), 'backoff.jitter')));
      check(ka.ka_config_set_connect_timeout(cfg, o.connectTimeout ?? 10000));
      check(ka.ka_config_set_close_timeout(cfg, o.closeTimeout ?? 5000));
      check(ka.ka_config_set_min_uptime(cfg, o.minUptime ?? 5000));
      const max = o.maxAttempts ?? Infinity;
      check(ka.ka_config_set_max_attempts(cfg, max === Infinity ? -1 : max));
      check(ka.ka_config_set_seed(cfg, BigInt.asUintN(64, BigInt(o.seed ?? randomSeed()))));
      this.#h = check(ka.ka_new(cfg));
    } finally {
      ka.ka_free(cfg);
    }
    registry.register(this, { ka, handle: this.#h }, this);
    this.#coalesce = o.coalesce ?? true;
    if (o.network ?? true) this.#follow(o.window ?? globalThis.window, o.document ?? globalThis.document);
    this.connect();
  }

  // Listens to online/offline and visibility.
  #follow(win, doc) {
    const on = (target, name, fn) => {
      if (!target?.addEventListener) return;
      target.addEventListener(name, fn);
      this.#unlisten.push(() => target.removeEventListener(name, fn));
    };
    this.#offline = win?.navigator?.onLine === false;
    on(win, 'offline', () => {
      this.#offline = true;
      this.#arm(); // a pending reconnect waits for `online`
    });
    on(win, 'online', () => {
      this.#offline = false;
      if (this.#h === 0) return;
      this.#flush();
      if (STATES[this.#ka.ka_state(this.#h)] === 'waiting') this.connect(); // at once, not counted again
      else this.#arm();
    });
    on(doc, 'visibilitychange', () => {
      if (doc.visibilityState !== 'visible' || this.#h === 0) return;
      this.#flush();
      // A throttled timer may be late: check the deadline now (a late tick probes).
      this.#input(this.#ka.ka_handle_ms(this.#h, EVENT_TICK, this.#now()), true);
    });
  }

  // Feeds the coalesced message, if any, with the time it arrived.
  #flush() {
    if (this.#pendingAt < 0) return;
    const at = this.#pendingAt;
    this.#pendingAt = -1;
    check(this.#ka.ka_handle_from_ms(this.#h, this.#pendingId, EVENT_MESSAGE, at));
  }

  /** `'idle' | 'connecting' | 'open' | 'closing' | 'waiting' | 'stopped' | 'failed'`. */
  get state() { return this.#state; }
  /** Smoothed heartbeat round-trip time in ms (0 before the first reply). */
  get rtt() { return this.#ka.ka_rtt_ms(this.#h); }
  /** Reconnects tried since the connection last stayed up `minUptime`. */
  get attempt() { this.#flush(); return Number(this.#ka.ka_attempt(this.#h)); }
  /** Whether the browser said it is offline (reconnects wait for `online`). */
  get offline() { return this.#offline; }
  /** Messages waiting for the next open. */
  get queued() { return this.#queue.length; }
  /** The live WebSocket, if any. */
  get socket() { return this.#ws; }

  /**
   * Sends now if open, else queues (flushed in order on the next open).
   * Returns false, and keeps nothing, when the queue is full or after close().
   */
  send(data) {
    const ws = this.#ws;
    if (ws && ws.readyState === OPEN && this.#state === 'open' && this.#queue.length === 0) {
      ws.send(data);
      return true;
    }
    if (this.#stopped || this.#queue.length >= this.queueLimit) return false;
    this.#queue.push(data);
    return true;
  }

  /** Connects (again): after close() or giving up, or at once while waiting to reconnect. */
  connect() {
    this.#stopped = false;
    this.#flush();
    this.#input(this.#ka.ka_connect_ms(this.#h, this.#now()), true);
  }

  /** Closes for good: no heartbeat, no reconnect; the queue is dropped. */
  close() {
    this.#stopped = true;
    this.#queue.length = 0;
    this.#flush();
    this.#input(this.#ka.ka_close_ms(this.#h, this.#now()), true);
  }

  /**
   * The server asked us to wait `delay` ms before reconnecting: the next
   * reconnect waits at least that (plus 0-50 % jitter, capped at 5 min); while
   * waiting, the pending reconnect only moves later. Close codes 1013 and 1012
   * call it by themselves (`retryDelay` option).
   */
  retryAfter(delay) {
    this.#flush();
    this.#input(this.#ka.ka_retry_after_ms(this.#h, delay, this.#now()), true);
  }

  /** Changes the heartbeat interval and timeout (ms), e.g. to values the server sent. */
  setHeartbeat(interval, timeout) {
    this.#flush();
    check(this.#ka.ka_set_heartbeat(this.#h, interval, timeout));
    this.#arm();
  }

  /** close(), then frees the machine: the object is unusable afterwards. */
  dispose() {
    if (this.#h === 0) return;
    this.close();
    for (const unlisten of this.#unlisten.splice(0)) unlisten();
    if (this.#ws) this.#drop(this.#ws);
    this.#clear();
    registry.unregister(this);
    this.#ka.ka_free(this.#h);
    this.#h = 0;
  }

  // Feeds one event of transport `id`.
  #event(id, event) {
    this.#flush();
    this.#input(this.#ka.ka_handle_from_ms(this.#h, id, event, this.#now()),
      event !== EVENT_MESSAGE && event !== EVENT_PONG);
  }

  // Performs the `n` queued actions, then re-arms the timer.
  #input(n, stateMayChange) {
    check(n);
    const ka = this.#ka, h = this.#h;
    if (n > 0) {
      for (let kind; (kind = ka.ka_next(h)) > 0;) this.#perform(kind);
      stateMayChange = true;
    }
    this.#arm();
    if (stateMayChange) {
      const state = STATES[ka.ka_state(h)], previous = this.#state;
      if (state !== previous) {
        this.#state = state;
        this.onstatechange?.({ state, previous });
      }
    }
  }

  #perform(kind) {
    const ka = this.#ka, h = this.#h, ws = this.#ws;
    switch (kind) {
      case CONNECT: return this.#open(Number(ka.ka_action_transport(h)));
      case SEND_HEARTBEAT:
        if (ws && ws.readyState === OPEN) ws.send(this.heartbeatMessage);
        return;
      case CLOSE:
        if (ws) try { ws.close(1000, REASONS[ka.ka_action_reason(h)]); } catch { /* already closing */ }
        return;
      case ABORT:
        if (ws) this.#drop(ws);
        return;
      case SCHEDULE_RECONNECT:
        return this.onreconnecting?.({ delay: ka.ka_action_delay_ms(h), attempt: Number(ka.ka_action_attempt(h)) });
      case GIVE_UP:
        return this.ongiveup?.({ attempts: Number(ka.ka_action_attempt(h)) });
    }
  }

  // Opens transport `id`. Its events are tagged with `id`, so a late close of
  // a replaced socket is dropped by the machine (no second reconnect).
  #open(id) {
    let ws;
    try {
      ws = new this.#WebSocket(this.url, this.#o.protocols);
    } catch (err) {
      // A bad URL or a blocked port: a failed connect, reported once the
      // current actions are done (the backoff paces the retries).
      queueMicrotask(() => { this.onerror?.(err); this.#event(id, EVENT_CLOSED); });
      return;
    }
    if (this.#o.binaryType) ws.binaryType = this.#o.binaryType;
    this.#ws = ws;
    ws.onopen = (ev) => {
      this.#event(id, EVENT_OPENED);
      if (this.#ws !== ws || ws.readyState !== OPEN || this.#state !== 'open') return;
      const hello = this.#o.hello;
      if (hello !== undefined) ws.send(typeof hello === 'function' ? hello() : hello);
      const queue = this.#queue;
      this.#queue = [];
      for (const data of queue) ws.send(data);
      this.onopen?.(ev);
    };
    ws.onmessage = (ev) => {
      const pong = this.#isPong(ev.data);
      if (!pong && this.#coalesce) {
        this.#pendingId = id;
        // A browser's event carries its arrival time on performance.now()'s
        // clock: no clock read at all (an injected `now` is always read).
        this.#pendingAt = this.#eventTime && ev.timeStamp > 0 ? ev.timeStamp : this.#now();
      } else {
        this.#event(id, pong ? EVENT_PONG : EVENT_MESSAGE);
      }
      if (!pong) this.onmessage?.(ev);
    };
    ws.onerror = (ev) => {
      this.#event(id, EVENT_ERROR);
      this.onerror?.(ev);
    };
    ws.onclose = (ev) => {
      if (this.#ws === ws) this.#ws = null;
      const rejected = (this.#o.isRejected ?? ((e) => e.code === 1008))(ev);
      const advised = (this.#o.retryDelay ?? retryDelay)(ev);
      if (advised > 0 && Number(this.#ka.ka_transport(this.#h)) === id) this.retryAfter(advised);
      this.#event(id, rejected ? EVENT_REJECTED : EVENT_CLOSED);
      this.onclose?.(ev);
    };
  }

  // Drops a socket without waiting for its close (Abort, dispose).
  #drop(ws) {
    ws.onopen = ws.onmessage = ws.onerror = ws.onclose = null;
    try { ws.close(); } catch { /* ignore */ }
    if (this.#ws === ws) this.#ws = null;
  }

  // The one timer. A deadline that moved later keeps the armed timer: its
  // early tick is harmless (the machine emits nothing) and re-arms. So a
  // message costs no timer call at all, unlike heartCheck.reset().start().
  #arm() {
    if (this.#offline && STATES[this.#ka.ka_state(this.#h)] === 'waiting') return this.#clear();
    const at = this.#ka.ka_poll_timeout_ms(this.#h);
    if (at === Infinity) return this.#clear();
    check(at);
    if (this.#timer !== null) {
      if (this.#timerAt <= at) return;
      this.#clearTimeout(this.#timer);
    }
    this.#timerAt = at;
    this.#timer = this.#setTimeout(this.#tick, Math.max(0, at - this.#now()));
  }

  #tick = () => {
    const at = this.#timerAt;
    this.#timer = null;
    this.#timerAt = Infinity;
    // The timer was due at `at`: time is at least that, whatever the clocks' rounding.
    this.#flush();
    this.#input(this.#ka.ka_handle_ms(this.#h, EVENT_TICK, Math.max(this.#now(), at)), true);
  };

  #clear() {
    if (this.#timer !== null) this.#clearTimeout(this.#timer);
    this.#timer = null;
    this.#timerAt = Infinity;
  }
}

function pick(table, name, what) {
  const value = table[name];
  if (value === undefined) throw new TypeError(`keepalive: ${what} must be one of ${Object.keys(table).join(', ')}`);
  return value;
}

// The default `retryDelay`: 1013 (Try Again Later) advises the seconds its
// reason starts with, else 5 s; 1012 (Service Restart) 1 s; anything else none.
function retryDelay(ev) {
  if (ev.code === 1012) return 1000;
  if (ev.code !== 1013) return 0;
  const secs = /^\s*(\d+)/.exec(ev.reason ?? '');
  return secs ? Number(secs[1]) * 1000 : 5000;
}

function randomSeed() {
  const c = globalThis.crypto;
  if (c?.getRandomValues) return c.getRandomValues(new BigUint64Array(1))[0];
  return BigInt(Math.floor(Math.random() * 2 ** 53));
}
