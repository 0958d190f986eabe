// Types of keepalive-websocket (keepalive.mjs). Hand-written; kept in step
// with the module by CI, which type-checks a file using every export with
// `tsc --strict`.

/** Connection states, indexed by the library's `KA_STATE_*` numbers. */
export declare const STATES: readonly ['idle', 'connecting', 'open', 'closing', 'waiting', 'stopped', 'failed'];

/** A connection state. */
export type State = (typeof STATES)[number];

/** An error code of the library (a negative number), with its message. */
export declare class KeepaliveError extends Error {
  constructor(code: number);
  readonly name: 'KeepaliveError';
  /** The library's stable error code, for example -20 (heartbeat interval too short). */
  readonly code: number;
}

/** What `load` accepts: where the `.wasm` is, its bytes, or the compiled module. */
export type WasmSource =
  | URL
  | string
  | Response
  | ArrayBuffer
  | ArrayBufferView
  | WebAssembly.Module
  | Promise<URL | string | Response | ArrayBuffer | ArrayBufferView | WebAssembly.Module>;

/** The raw C-style exports of the WebAssembly module (see `keepalive.h`). */
export type KeepaliveExports = Record<string, unknown> & {
  ka_abi_version(): number;
};

/** The loaded module: open sockets with it. */
export interface Keepalive {
  /** Opens a kept-alive socket to `url` (it starts connecting at once). */
  open(url: string | URL, options?: KeepAliveOptions): KeepAliveSocket;
  /** The WebAssembly exports, for advanced use. */
  readonly exports: KeepaliveExports;
}

/**
 * Instantiates the WebAssembly module. By default the `.wasm` beside the
 * module is fetched (browsers) or read from disk (Node); pass a URL, bytes,
 * a `Response` or a `WebAssembly.Module` to load it from elsewhere.
 */
export declare function load(source?: WasmSource): Promise<Keepalive>;

/** Heartbeat settings. */
export interface HeartbeatOptions {
  /** `idle` (default: a heartbeat after `interval` ms of silence), `fixed`, or `off`. */
  mode?: 'idle' | 'fixed' | 'off';
  /** Milliseconds (default 25000). */
  interval?: number;
  /** Milliseconds to answer (default 20000). */
  timeout?: number;
  /** What a heartbeat sends (default the article's `'心跳测试'`). */
  message?: string | ArrayBufferLike | Blob | ArrayBufferView;
  /** Tells heartbeat replies apart: they count as pongs and are not passed to `onmessage`. */
  reply?: string | ((data: unknown) => boolean);
}

/** Reconnect backoff. */
export type BackoffOptions =
  | { kind?: 'exponential'; initial?: number; max?: number; factor?: number; jitter?: 'none' | 'full' | 'equal' | 'decorrelated' }
  | { kind: 'fixed'; delay?: number; jitter?: 'none' | 'full' | 'equal' | 'decorrelated' };

/** Everything `open` takes; all optional. */
export interface KeepAliveOptions {
  /** Subprotocols (where a browser's credentials go: `auth.<token>`). */
  protocols?: string | string[];
  binaryType?: BinaryType;
  /** Sent first on every open, before the queue. */
  hello?: string | (() => string);
  heartbeat?: HeartbeatOptions;
  backoff?: BackoffOptions;
  /** Milliseconds (default 10000). */
  connectTimeout?: number;
  /** Milliseconds (default 5000). */
  closeTimeout?: number;
  /** Milliseconds a connection must stay up to reset the attempt counter (default 5000). */
  minUptime?: number;
  /** Reconnects before giving up (default Infinity). */
  maxAttempts?: number;
  /** Jitter seed (default random). */
  seed?: number | bigint;
  /** Messages kept while disconnected (default 64). */
  queueLimit?: number;
  /** A close that means "never come back" (default: code 1008). */
  isRejected?: (event: CloseEvent) => boolean;
  /** Milliseconds the server asked us to stay away, or 0 (default: 1013 and 1012). */
  retryDelay?: (event: CloseEvent) => number;
  /** Follow `online`/`offline` and page visibility (default true). */
  network?: boolean;
  /** Where `online`/`offline` come from (default the global `window`). */
  window?: EventTarget & { navigator?: { onLine?: boolean } };
  /** Where `visibilitychange` comes from (default the global `document`). */
  document?: EventTarget & { visibilityState?: string };
  /** Record inbound messages' times instead of calling into WebAssembly for each (default true). */
  coalesce?: boolean;
  onopen?: ((event: Event) => void) | null;
  onmessage?: ((event: MessageEvent) => void) | null;
  onclose?: ((event: CloseEvent) => void) | null;
  onerror?: ((event: Event | Error) => void) | null;
  onstatechange?: ((change: { state: State; previous: State }) => void) | null;
  onreconnecting?: ((next: { delay: number; attempt: number }) => void) | null;
  ongiveup?: ((end: { attempts: number }) => void) | null;
  /** For tests: a WebSocket class, a clock in ms and its timers. */
  WebSocket?: typeof WebSocket;
  now?: () => number;
  setTimeout?: (fn: () => void, ms: number) => unknown;
  clearTimeout?: (id: any) => void;
}

/** A WebSocket that heartbeats, reconnects and queues. */
export declare class KeepAliveSocket {
  constructor(exports: KeepaliveExports, url: string | URL, options?: KeepAliveOptions);
  readonly url: string | URL;
  /** What a heartbeat sends. */
  heartbeatMessage: HeartbeatOptions['message'];
  /** Messages kept while disconnected. */
  queueLimit: number;
  onopen: KeepAliveOptions['onopen'];
  onmessage: KeepAliveOptions['onmessage'];
  onclose: KeepAliveOptions['onclose'];
  onerror: KeepAliveOptions['onerror'];
  onstatechange: KeepAliveOptions['onstatechange'];
  onreconnecting: KeepAliveOptions['onreconnecting'];
  ongiveup: KeepAliveOptions['ongiveup'];
  readonly state: State;
  /** Smoothed heartbeat round-trip time in ms (0 before the first reply). */
  readonly rtt: number;
  /** Reconnects tried since the connection last stayed up `minUptime`. */
  readonly attempt: number;
  /** Whether the browser said it is offline. */
  readonly offline: boolean;
  /** Messages waiting for the next open. */
  readonly queued: number;
  /** The live WebSocket, if any. */
  readonly socket: WebSocket | null;
  /** Sends now if open, else queues; false (and nothing kept) when full or closed. */
  send(data: string | ArrayBufferLike | Blob | ArrayBufferView): boolean;
  /** Connects (again), at once while waiting to reconnect. */
  connect(): void;
  /** Closes for good: no heartbeat, no reconnect; the queue is dropped. */
  close(): void;
  /** The server asked to wait `delay` ms before reconnecting. */
  retryAfter(delay: number): void;
  /** Changes the heartbeat interval and timeout (ms). */
  setHeartbeat(interval: number, timeout: number): void;
  /** close(), then frees the machine and stops listening to the page. */
  dispose(): void;
}
