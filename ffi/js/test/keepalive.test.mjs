// keepalive.mjs over the real .wasm, against a scripted fake WebSocket in
// virtual time. Run: node --test ffi/js/test/ (after building the .wasm).

import assert from 'node:assert/strict';
import { before, test } from 'node:test';

import { harness, underTest, wasmBytes } from '../fakes.mjs';

let keepalive, KeepaliveError;
before(async () => {
  ({ keepalive, KeepaliveError } = await underTest());
});

// The article: heartbeat after 60 s of silence, 60 s to answer, 2 s between reconnects.
const ARTICLE = { heartbeat: { interval: 60000, timeout: 60000 }, backoff: { kind: 'fixed', delay: 2000 } };

test('the .wasm imports nothing and exports the C API', () => {
  const module = new WebAssembly.Module(wasmBytes());
  assert.deepEqual(WebAssembly.Module.imports(module), []);
  const names = WebAssembly.Module.exports(module).map((e) => e.name);
  for (const name of ['ka_abi_version', 'ka_new', 'ka_free', 'ka_handle_from_ms', 'ka_poll_timeout_ms', 'ka_next']) {
    assert.ok(names.includes(name), name);
  }
  assert.equal(keepalive.exports.ka_abi_version(), 1);
});

test("the article's timeline: heartbeat, dead server, one reconnect 2 s later", () => {
  const { clock, log, WebSocket, options } = harness(ARTICLE);
  const ws = keepalive.open('ws://server/live', options);
  WebSocket.last.open();
  clock.advance(30000);
  WebSocket.last.message('update'); // any data postpones the heartbeat to 90 s
  clock.advance(89999);
  assert.equal(WebSocket.last.sent.length, 0);
  clock.advance(90000);
  WebSocket.last.message('心跳回复'); // the server answers: next heartbeat at 150 s
  clock.advance(150000);
  // Then the server dies silently: nothing answers the heartbeat at 150 s.
  clock.advance(210000);
  WebSocket.last.closed(); // the browser finishes the close 10 ms later
  clock.t = 210010;
  clock.advance(212010);
  assert.deepEqual(log, [
    't=0 ws1 new ws://server/live',
    't=0 state connecting',
    't=0 state open',
    't=30000 message update',
    't=90000 ws1 send 心跳测试',
    't=90000 message 心跳回复',
    't=150000 ws1 send 心跳测试',
    't=210000 ws1 close 1000 heartbeat timeout',
    't=210000 state closing',
    't=210000 reconnecting #1 in 2000ms',
    't=210000 state waiting',
    't=212000 ws2 new ws://server/live',
    't=212000 state connecting',
  ]);
  assert.equal(ws.state, 'connecting');
  assert.ok(clock.maxPending <= 1, `at most one timer, saw ${clock.maxPending}`);
});

test('error + close (and late events of the dead socket) make exactly one reconnect', () => {
  const { clock, log, WebSocket, options } = harness(ARTICLE);
  keepalive.open('ws://server/', options);
  const first = WebSocket.last;
  first.open();
  clock.advance(1000);
  first.error();
  first.closed();
  first.error(); // late duplicates: the article's lockReconnect had to guard against these
  first.closed();
  clock.advance(10000);
  assert.equal(WebSocket.all.length, 2, log.join('\n'));
  assert.deepEqual(log.filter((l) => l.includes('reconnecting') || l.includes('new')), [
    't=0 ws1 new ws://server/',
    't=1000 reconnecting #1 in 2000ms',
    't=3000 ws2 new ws://server/',
  ]);
  assert.ok(log.includes('t=1000 ws1 close 1000 error'));
});

test('close() is final: no heartbeat, no reconnect, no timer', () => {
  const { clock, log, WebSocket, options } = harness(ARTICLE);
  const ws = keepalive.open('ws://server/', options);
  WebSocket.last.open();
  clock.advance(5000);
  ws.close();
  WebSocket.last.closed(1000);
  const before = log.length;
  clock.advance(3_600_000);
  assert.deepEqual(log.slice(before), []);
  assert.equal(ws.state, 'stopped');
  assert.equal(clock.pending, 0);
  assert.equal(WebSocket.all.length, 1);
  assert.equal(ws.send('late'), false);
  assert.ok(log.includes('t=5000 ws1 close 1000 user'));
});

test('close() while the transport never answers: abort after the close timeout, then silence', () => {
  const { clock, WebSocket, options } = harness({ ...ARTICLE, closeTimeout: 1000 });
  const ws = keepalive.open('ws://server/', options);
  WebSocket.last.open();
  ws.close();
  clock.advance(1000);
  assert.equal(ws.state, 'stopped');
  assert.equal(WebSocket.last.onclose, null, 'aborted socket detached');
  clock.advance(1_000_000);
  assert.equal(WebSocket.all.length, 1);
  assert.equal(clock.pending, 0);
});

test('a dead peer whose close never completes is aborted and replaced', () => {
  const { clock, log, WebSocket, options } = harness({ ...ARTICLE, closeTimeout: 5000 });
  keepalive.open('ws://server/', options);
  WebSocket.last.open();
  clock.advance(120000); // heartbeat at 60 s, close at 120 s
  clock.advance(125000); // close timeout: abort, reconnect scheduled
  clock.advance(127000);
  assert.deepEqual(log.filter((l) => /close|reconnecting|new/.test(l)), [
    't=0 ws1 new ws://server/',
    't=120000 ws1 close 1000 heartbeat timeout',
    't=125000 ws1 close',
    't=125000 reconnecting #1 in 2000ms',
    't=127000 ws2 new ws://server/',
  ]);
});

test('send() while disconnected queues; the queue is flushed in order after hello', () => {
  const { clock, WebSocket, options } = harness({ ...ARTICLE, hello: () => 'auth token-1' });
  const ws = keepalive.open('ws://server/', options);
  assert.equal(ws.send('a'), true);
  assert.equal(ws.send('b'), true);
  assert.equal(ws.queued, 2);
  WebSocket.last.open();
  assert.equal(ws.send('c'), true); // open: sent at once
  assert.deepEqual(WebSocket.last.sent, ['auth token-1', 'a', 'b', 'c']);
  // An outage: messages queue again, and go out on the next socket, in order.
  WebSocket.last.closed();
  ws.send('d');
  ws.send('e');
  clock.advance(2000);
  assert.deepEqual(WebSocket.last.sent, []);
  WebSocket.last.open();
  assert.deepEqual(WebSocket.last.sent, ['auth token-1', 'd', 'e']);
  assert.equal(ws.queued, 0);
});

test('a full queue refuses the message and keeps the others', () => {
  const { WebSocket, options } = harness({ ...ARTICLE, queueLimit: 2 });
  const ws = keepalive.open('ws://server/', options);
  assert.equal(ws.send('a'), true);
  assert.equal(ws.send('b'), true);
  assert.equal(ws.send('c'), false);
  assert.equal(ws.queued, 2);
  WebSocket.last.open();
  assert.deepEqual(WebSocket.last.sent, ['a', 'b']);
});

test('a message storm arms no timer; heartbeat replies are pongs, not messages', () => {
  const { clock, log, WebSocket, options } = harness({
    heartbeat: { interval: 1000, timeout: 500, reply: 'pong' },
  });
  const ws = keepalive.open('ws://server/', options);
  WebSocket.last.open();
  const scheduled = clock.scheduled;
  for (let i = 1; i <= 900; i++) {
    clock.t = i;
    WebSocket.last.message('x');
  }
  assert.equal(clock.scheduled, scheduled, 'no setTimeout per message');
  clock.advance(1900); // the early timer fires at 1000, re-arms for 1900
  assert.deepEqual(WebSocket.last.sent, ['心跳测试']);
  clock.t = 1925;
  WebSocket.last.message('pong');
  assert.equal(ws.rtt, 25);
  assert.ok(!log.includes('t=1925 message pong'), 'a reply is not passed to onmessage');
  assert.equal(ws.state, 'open');
});

test('jittered exponential backoff: each delay within its bound, then give up', () => {
  const delays = [];
  const { clock, WebSocket, options } = harness({
    backoff: { kind: 'exponential', initial: 100, max: 1000, jitter: 'full' },
    maxAttempts: 4,
    seed: 99,
    onreconnecting: ({ delay, attempt }) => delays.push([attempt, delay]),
  });
  let gaveUp = null;
  options.ongiveup = ({ attempts }) => { gaveUp = attempts; };
  const ws = keepalive.open('ws://server/', options);
  for (let i = 0; i < 5; i++) {
    WebSocket.last.error();
    WebSocket.last.closed();
    clock.advance(clock.t + 1000);
  }
  assert.deepEqual(delays.map(([a]) => a), [1, 2, 3, 4]);
  delays.forEach(([attempt, delay]) => {
    assert.ok(delay >= 0 && delay <= Math.min(1000, 100 * 2 ** (attempt - 1)), `${attempt}: ${delay}`);
  });
  assert.equal(new Set(delays.map(([, d]) => d)).size > 1, true, 'jittered');
  assert.equal(gaveUp, 4);
  assert.equal(ws.state, 'failed');
  assert.equal(WebSocket.all.length, 5);
});

test('a policy-violation close gives up at once; connect() starts again', () => {
  const { WebSocket, options, log } = harness(ARTICLE);
  const ws = keepalive.open('ws://server/', options);
  WebSocket.last.closed(1008);
  assert.equal(ws.state, 'failed');
  assert.ok(log.includes('t=0 give up after 0'));
  ws.connect();
  assert.equal(WebSocket.all.length, 2);
  assert.equal(ws.state, 'connecting');
});

test('close 1013 (Try Again Later) holds the reconnect off for the advised seconds', () => {
  const { WebSocket, options, clock } = harness(ARTICLE);
  const delays = [];
  const ws = keepalive.open('ws://server/', { ...options, onreconnecting: (e) => delays.push(e.delay) });
  WebSocket.last.open();
  WebSocket.last.closed(1013, '10'); // the server sheds load: come back in 10 s
  assert.equal(delays.length, 1);
  assert.ok(delays[0] >= 10000 && delays[0] <= 15000, `${delays}`);
  clock.advance(9999);
  assert.equal(WebSocket.all.length, 1, 'not the article\'s 2 s');
  clock.advance(delays[0]);
  assert.equal(WebSocket.all.length, 2);
  // 1012 (Service Restart) advises 1 s; a plain close keeps the 2 s backoff.
  WebSocket.last.closed(1012);
  assert.equal(delays[1], 2000, 'the backoff (2 s) is longer than the advice');
  assert.equal(ws.state, 'waiting');
  // Advice while waiting moves the reconnect later, never sooner.
  ws.retryAfter(60000);
  assert.ok(delays[2] >= 60000 && delays[2] <= 90000, `${delays}`);
  ws.retryAfter(1000);
  assert.equal(delays.length, 3);
});

test('bad settings throw with the library error code and its message', () => {
  const { options } = harness();
  assert.throws(() => keepalive.open('ws://x/', { ...options, heartbeat: { interval: 0 } }),
    (e) => e instanceof KeepaliveError && e.code === -20 && /heartbeat interval must be at least 1 ms/.test(e.message));
  assert.throws(() => keepalive.open('ws://x/', { ...options, heartbeat: { mode: 'fixed', interval: 1000, timeout: 2000 } }),
    (e) => e.code === -10);
  assert.throws(() => keepalive.open('ws://x/', { ...options, maxAttempts: 0 }), (e) => e.code === -14);
  assert.throws(() => keepalive.open('ws://x/', { ...options, backoff: { factor: 0.5 } }), (e) => e.code === -11);
  assert.throws(() => keepalive.open('ws://x/', { ...options, backoff: { kind: 'steps' } }), TypeError);
});

test('dispose() frees the machine; the handle is not reused by mistake', () => {
  const { WebSocket, options, clock } = harness(ARTICLE);
  const ws = keepalive.open('ws://server/', options);
  WebSocket.last.open();
  ws.dispose();
  assert.equal(clock.pending, 0);
  assert.throws(() => ws.connect(), (e) => e instanceof KeepaliveError && e.code === -1);
  ws.dispose(); // twice is harmless
});

test('a WebSocket constructor that throws (bad URL) counts as a failed connect', async () => {
  const { clock, log, options } = harness(ARTICLE);
  let tries = 0;
  class Throwing {
    constructor() {
      tries += 1;
      throw new SyntaxError('bad url');
    }
  }
  const errors = [];
  const ws = keepalive.open('not a url', { ...options, WebSocket: Throwing, onerror: (e) => errors.push(e.name) });
  await Promise.resolve();
  assert.equal(ws.state, 'waiting');
  clock.advance(2000);
  await Promise.resolve();
  assert.equal(tries, 2);
  assert.deepEqual(errors, ['SyntaxError', 'SyntaxError']);
  assert.deepEqual(log.filter((l) => l.includes('reconnecting')), [
    't=0 reconnecting #1 in 2000ms',
    't=2000 reconnecting #2 in 2000ms',
  ]);
  ws.close();
  assert.equal(clock.pending, 0);
});
