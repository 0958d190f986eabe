// Uses every export of keepalive-websocket; CI type-checks it with
// `tsc --strict` against the installed package.
import {
  KeepAliveSocket,
  KeepaliveError,
  STATES,
  load,
  type BackoffOptions,
  type HeartbeatOptions,
  type Keepalive,
  type KeepAliveOptions,
  type KeepaliveExports,
  type State,
  type WasmSource,
} from 'keepalive-websocket';

const heartbeat: HeartbeatOptions = { mode: 'idle', interval: 25000, timeout: 20000, reply: (d) => d === 'pong' };
const backoff: BackoffOptions = { kind: 'exponential', initial: 1000, max: 30000, jitter: 'full' };
const options: KeepAliveOptions = {
  heartbeat,
  backoff,
  protocols: ['chat.v1', 'auth.token'],
  network: true,
  coalesce: true,
  retryDelay: (e) => (e.code === 1013 ? 5000 : 0),
  onstatechange: ({ state, previous }) => console.log(previous, '->', state),
  onreconnecting: ({ delay, attempt }) => console.log(delay, attempt),
  ongiveup: ({ attempts }) => console.log(attempts),
  onmessage: (e) => console.log(e.data),
};

export async function main(source?: WasmSource): Promise<State> {
  const keepalive: Keepalive = await load(source);
  const exports: KeepaliveExports = keepalive.exports;
  const ws: KeepAliveSocket = keepalive.open('wss://example.com/live', options);
  const direct = new KeepAliveSocket(exports, 'wss://example.com/other');
  const sent: boolean = ws.send('hello');
  ws.retryAfter(1000);
  ws.setHeartbeat(10000, 5000);
  const numbers: number[] = [ws.rtt, ws.attempt, ws.queued, exports.ka_abi_version()];
  const flags: boolean[] = [ws.offline, sent];
  ws.connect();
  ws.close();
  direct.dispose();
  try {
    keepalive.open('ws://x/', { heartbeat: { interval: 0 } });
  } catch (e) {
    if (e instanceof KeepaliveError) console.log(e.code, e.message, numbers, flags);
  }
  const first: State = STATES[0];
  return ws.state === 'open' ? ws.state : first;
}
