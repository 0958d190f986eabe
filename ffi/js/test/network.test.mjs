// Network awareness and coalescing, in virtual time with fake `window` and
// `document` events. Run: node --test ffi/js/test/ (after building the .wasm).

import assert from 'node:assert/strict';
import { before, test } from 'node:test';

import { FakeDocument, FakeWindow, harness, underTest } from '../fakes.mjs';

let keepalive, KeepAliveSocket;
before(async () => {
  ({ keepalive, KeepAliveSocket } = await underTest());
});

const ARTICLE = { heartbeat: { interval: 60000, timeout: 60000 }, backoff: { kind: 'fixed', delay: 2000 } };

test('offline: no reconnect attempt is made or counted; online: reconnect at once', () => {
  const window = new FakeWindow();
  const { WebSocket, options, clock } = harness({ ...ARTICLE, window });
  const ws = keepalive.open('ws://server/', options);
  WebSocket.last.open();
  clock.advance(1000);
  window.set(false);             // the laptop lost its network
  WebSocket.last.closed();       // and the browser noticed the socket is gone
  assert.equal(ws.state, 'waiting');
  const attempt = ws.attempt;
  clock.advance(120000);         // two minutes offline: the 2 s backoff never fires
  assert.equal(WebSocket.all.length, 1, 'no attempt while offline');
  assert.equal(ws.attempt, attempt, 'none counted');
  assert.equal(clock.pending, 0, 'no timer armed while offline and waiting');
  window.set(true);
  assert.equal(WebSocket.all.length, 2, 'reconnected the moment the network came back');
  assert.equal(ws.state, 'connecting');
  assert.equal(ws.attempt, attempt, 'the comeback is the pending attempt, not a new one');
  ws.dispose();
  window.set(false);
  window.set(true);
  assert.equal(WebSocket.all.length, 2, 'dispose() stops listening');
});

test('a tab shown again checks its deadline at once: a late tick probes instead of killing', () => {
  const document = new FakeDocument();
  const { WebSocket, options, clock, log } = harness({ ...ARTICLE, document });
  const ws = keepalive.open('ws://server/', options);
  WebSocket.last.open();
  document.set('hidden');
  // Background timers are throttled: time passes, our timer does not fire.
  clock.t = 200000;
  document.set('visible');
  assert.equal(WebSocket.last.sent.at(-1), '心跳测试', 'a probe, not a close');
  assert.ok(log.includes('t=200000 ws1 send 心跳测试'), log.join('\n'));
  assert.equal(ws.state, 'open');
  ws.dispose();
});

/** One scripted session: messages, heartbeats, a dead server, a reconnect. */
function session(coalesce) {
  const { WebSocket, options, clock, log } = harness({ ...ARTICLE, coalesce });
  let calls = 0;
  // The exports object is frozen: count through wrappers on a plain copy.
  const counted = {};
  for (const [name, value] of Object.entries(keepalive.exports)) {
    counted[name] = typeof value === 'function' ? (...args) => { calls += 1; return value(...args); } : value;
  }
  const ws = new KeepAliveSocket(counted, 'ws://server/', options);
  WebSocket.last.open();
  for (let t = 1000; t <= 50000; t += 7) {   // a chatty server: 7,000 messages
    clock.advance(t);
    WebSocket.last.message(`m${t}`);
  }
  clock.advance(170000);                     // silence: heartbeat at 110 s, close at 170 s
  WebSocket.last.closed();
  clock.advance(172000);                     // the reconnect 2 s later
  WebSocket.last.open();
  clock.advance(175000);
  WebSocket.last.message('back');
  clock.advance(240000);                     // a heartbeat 60 s after 'back'
  const attempt = ws.attempt;
  ws.dispose();
  return { log, calls, attempt };
}

test('coalescing changes no transcript, only the number of WebAssembly calls', () => {
  const direct = session(false);
  const coalesced = session(true);
  assert.deepEqual(coalesced.log, direct.log);
  assert.equal(coalesced.attempt, direct.attempt);
  assert.ok(direct.log.includes('t=110000 ws1 send 心跳测试'), 'heartbeat 60 s after the last message');
  assert.ok(direct.log.includes('t=235000 ws2 send 心跳测试'));
  assert.ok(direct.calls > 7000, `${direct.calls}`);
  assert.ok(coalesced.calls < direct.calls / 20, `${coalesced.calls} vs ${direct.calls}`);
});
