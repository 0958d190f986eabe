// A real browser: headless Chromium loads page.html (keepalive.mjs + the
// .wasm) from a loopback HTTP server; the page connects to
// examples/server.rs; the test kills the server, restarts it on the same
// port, and checks, through the page's own title and log (read over the
// DevTools protocol on a pipe) and the server's log, that the page came
// back and the server saw it online again.
//
//   node --test ffi/js/browser/        (builds the .wasm and the server first)
//
// Needs Chromium (`apt-get install chromium`, or CHROMIUM=/path/to/chrome);
// fails, saying so, if it cannot start. Bounded: 120 s at most.

import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import test from 'node:test';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const workspace = join(here, '..', '..', '..');

/** `cargo build <args> --message-format json`: the artifact of `name`. */
function cargoBuild(args, name, pick) {
  const out = execFileSync(process.env.CARGO || 'cargo',
    ['build', ...args, '--message-format', 'json-render-diagnostics'],
    { cwd: workspace, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 64 << 20 });
  for (const line of out.split('\n')) {
    if (!line.startsWith('{')) continue;
    const msg = JSON.parse(line);
    if (msg.reason === 'compiler-artifact' && msg.target.name === name) {
      const file = pick(msg);
      if (file) return file;
    }
  }
  throw new Error(`cargo build ${args.join(' ')} reported no artifact for ${name}`);
}

function findChromium() {
  const candidates = process.env.CHROMIUM ? [process.env.CHROMIUM] : [];
  for (const dir of (process.env.PATH || '').split(delimiter)) {
    for (const name of ['chromium', 'chromium-browser', 'google-chrome', 'google-chrome-stable']) {
      candidates.push(join(dir, name));
    }
  }
  const found = candidates.find((p) => existsSync(p));
  if (!found) {
    throw new Error('Chromium not found: `apt-get install chromium` (or set CHROMIUM=/path/to/chrome)');
  }
  return found;
}

async function freePort() {
  const server = net.createServer();
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `probe` until it returns a truthy value; fails after `ms` with `what`. */
async function waitFor(what, ms, probe, diagnostics) {
  const until = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > until) throw new Error(`timed out after ${ms} ms waiting for ${what}\n${await diagnostics()}`);
    await sleep(100);
  }
}

/** examples/server.rs as a child process, with its log lines. */
class ServerProcess {
  lines = [];
  constructor(bin, port) {
    this.proc = spawn(bin, ['--addr', `127.0.0.1:${port}`, '--timeout-ms', '3000'],
      { stdio: ['ignore', 'pipe', 'pipe'] });
    createInterface({ input: this.proc.stdout }).on('line', (l) => this.lines.push(l));
    createInterface({ input: this.proc.stderr }).on('line', (l) => this.lines.push(`stderr: ${l}`));
    this.exited = new Promise((resolve) => this.proc.on('exit', resolve));
  }
  /** The client id (peer address) that said `text`, if it did. */
  saidBy(text) {
    for (const line of this.lines) {
      const m = line.match(/server {2}(\S+) says "(.*)"$/);
      if (m && m[2] === text) return m[1];
    }
    return null;
  }
  has(text) { return this.lines.some((l) => l.endsWith(text)); }
  async kill() {
    if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill('SIGKILL');
    await this.exited;
  }
}

/** The DevTools protocol over --remote-debugging-pipe (fd 3: to Chromium, fd 4: from it). */
class Cdp {
  #seq = 0;
  #pending = new Map();
  #buffer = '';
  constructor(proc) {
    this.to = proc.stdio[3];
    proc.stdio[4].on('data', (chunk) => {
      this.#buffer += chunk.toString('utf8');
      let end;
      while ((end = this.#buffer.indexOf('\0')) >= 0) {
        const msg = JSON.parse(this.#buffer.slice(0, end));
        this.#buffer = this.#buffer.slice(end + 1);
        const pending = this.#pending.get(msg.id);
        if (!pending) continue;
        this.#pending.delete(msg.id);
        if (msg.error) pending.reject(new Error(`${pending.method}: ${msg.error.message}`));
        else pending.resolve(msg.result);
      }
    });
  }
  send(method, params = {}, sessionId = undefined, ms = 10000) {
    const id = ++this.#seq;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new Error(`no answer to ${method} within ${ms} ms`));
      }, ms);
      this.#pending.set(id, {
        method,
        resolve: (v) => { clearTimeout(timer); resolve(v); },
        reject: (e) => { clearTimeout(timer); reject(e); },
      });
      this.to.write(JSON.stringify({ id, method, params, sessionId }) + '\0');
    });
  }
}

test('a page reconnects to a killed and restarted server, which sees it online again', { timeout: 120_000 }, async () => {
  // KEEPALIVE_PACKAGE_DIR: the installed npm package (pack-test.sh sets it);
  // else the source module and a fresh build of the .wasm.
  const packageDir = process.env.KEEPALIVE_PACKAGE_DIR;
  const wasm = packageDir ? join(packageDir, 'keepalive_ffi.wasm')
    : cargoBuild(['-p', 'keepalive-ffi', '--lib', '--target', 'wasm32-unknown-unknown', '--release'],
      'keepalive_ffi', (m) => m.filenames.find((f) => f.endsWith('.wasm')));
  const serverBin = cargoBuild(['--example', 'server'], 'server', (m) => m.executable);
  const chromium = findChromium();

  const files = {
    '/': ['text/html', readFileSync(join(here, 'page.html'))],
    '/keepalive.mjs': ['text/javascript', readFileSync(join(packageDir ?? join(here, '..'), 'keepalive.mjs'))],
    '/keepalive_ffi.wasm': ['application/wasm', readFileSync(wasm)],
  };
  const web = http.createServer((req, res) => {
    const file = files[new URL(req.url, 'http://x').pathname];
    if (!file) return res.writeHead(404).end();
    res.writeHead(200, { 'content-type': file[0], 'cache-control': 'no-store' }).end(file[1]);
  });
  await new Promise((resolve) => web.listen(0, '127.0.0.1', resolve));

  const wsPort = await freePort();
  const nonce = randomBytes(4).toString('hex');
  const url = `http://127.0.0.1:${web.address().port}/?ws=ws://127.0.0.1:${wsPort}/ws&nonce=${nonce}`;
  const profile = mkdtempSync(join(tmpdir(), 'keepalive-chromium-'));
  let server = new ServerProcess(serverBin, wsPort);
  let oldServer = null;
  const browser = spawn(chromium, [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
    '--disable-dev-shm-usage', '--disable-background-timer-throttling', '--disable-renderer-backgrounding',
    `--user-data-dir=${profile}`, '--remote-debugging-pipe', url,
  ], { stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe'] });
  const browserErr = [];
  createInterface({ input: browser.stderr }).on('line', (l) => browserErr.push(l));
  const browserExit = new Promise((resolve) => browser.on('exit', (code, signal) => resolve(code ?? signal)));

  let page = { title: '', log: [] };
  const diagnostics = async () => [
    `page title: ${page.title}`, 'page log:', ...page.log.map((l) => `  ${l}`),
    'old server log:', ...(oldServer?.lines ?? []).map((l) => `  ${l}`),
    'server log:', ...server.lines.map((l) => `  ${l}`),
    'chromium stderr (last 20 lines):', ...browserErr.slice(-20).map((l) => `  ${l}`),
  ].join('\n');

  try {
    await waitFor('the server to listen', 10000, () => server.has(')') && server.lines[0]?.startsWith('listening'), diagnostics);

    const cdp = new Cdp(browser);
    const version = await Promise.race([
      cdp.send('Browser.getVersion', {}, undefined, 30000),
      browserExit.then((how) => { throw new Error(`Chromium exited (${how}) before answering`); }),
    ]).catch(async (e) => {
      throw new Error(`Chromium could not start: ${e.message}\n${await diagnostics()}`);
    });
    console.log(`# ${version.product}`);
    const { targetInfos } = await cdp.send('Target.getTargets');
    const target = targetInfos.find((t) => t.type === 'page');
    assert.ok(target, 'Chromium has a page');
    const { sessionId } = await cdp.send('Target.attachToTarget', { targetId: target.targetId, flatten: true });
    const evaluate = async (expression) => {
      const { result, exceptionDetails } = await cdp.send('Runtime.evaluate', { expression, returnByValue: true }, sessionId);
      if (exceptionDetails) throw new Error(`${expression}: ${exceptionDetails.text}`);
      return result.value;
    };
    const read = async () => {
      page = JSON.parse(await evaluate(
        'JSON.stringify({ title: document.title, log: window.__log ?? [], rtt: window.__ws?.rtt ?? 0, state: window.__ws?.state })'));
      return page;
    };

    // 1. Open, said hello, online; a heartbeat went round (an RTT sample).
    await waitFor('the page to open', 30000, async () => (await read()).title === 'open 1', diagnostics);
    const first = await waitFor('the server to hear the hello', 10000, () => server.saidBy(`hello ${nonce} #1`), diagnostics);
    assert.ok(server.has(`${first} is ONLINE`), await diagnostics());
    await waitFor('a heartbeat reply', 10000, async () => (await read()).rtt > 0, diagnostics);

    // 2. The server dies; the page notices and keeps retrying while it is down.
    await server.kill();
    oldServer = server;
    await waitFor('the page to retry twice', 15000,
      async () => (await read()).log.some((l) => l.includes('reconnecting #2')), diagnostics);
    assert.equal(page.title, 'open 1');

    // 3. A new server on the same port: the page comes back by itself.
    server = new ServerProcess(serverBin, wsPort);
    await waitFor('the page to reopen', 20000, async () => (await read()).title === 'open 2', diagnostics);
    const second = await waitFor('the new server to hear the hello', 10000,
      () => server.saidBy(`hello ${nonce} #2`), diagnostics);
    assert.ok(server.has(`${second} is ONLINE`), await diagnostics());

    // 4. Heartbeats keep it online past the server's 3 s timeout, on one socket.
    await sleep(4000);
    await read();
    assert.equal(page.title, 'open 2', await diagnostics());
    assert.equal(page.state, 'open');
    assert.ok(!server.lines.some((l) => l.includes(`${second} is OFFLINE`)), await diagnostics());

    // 5. The network goes away (DevTools' offline emulation): the page hears
    // `offline`; the server dies meanwhile; no attempt is made while offline.
    // Back online (and the server back): the page reconnects at once.
    const conditions = (offline) => cdp.send('Network.emulateNetworkConditions',
      { offline, latency: 0, downloadThroughput: -1, uploadThroughput: -1 }, sessionId);
    await cdp.send('Network.enable', {}, sessionId);
    await conditions(true);
    await waitFor('the page to hear offline', 10000, async () => (await read()).log.some((l) => l.endsWith(' offline')), diagnostics);
    await server.kill();
    oldServer = server;
    await waitFor('the page to lose the socket', 15000, async () => (await read()).state === 'waiting', diagnostics);
    await sleep(3000);
    await read();
    const since = (line) => page.log.slice(page.log.findIndex((l) => l.endsWith(line)));
    assert.ok(!since(' offline').some((l) => l.endsWith('state connecting')), `an attempt while offline\n${await diagnostics()}`);
    server = new ServerProcess(serverBin, wsPort);
    await waitFor('the server to listen again', 10000, () => server.lines[0]?.startsWith('listening'), diagnostics);
    await conditions(false);
    await waitFor('the page to reopen after the network', 20000, async () => (await read()).title === 'open 3', diagnostics);
    const at = (line) => Number(line.split('ms ')[0]);
    const back = since(' online');
    const connecting = back.find((l) => l.endsWith('state connecting'));
    assert.ok(connecting && at(connecting) - at(back[0]) <= 100,
      `reconnect ${connecting ? at(connecting) - at(back[0]) : '?'} ms after online\n${await diagnostics()}`);
    await waitFor('the new server to hear the hello', 10000, () => server.saidBy(`hello ${nonce} #3`), diagnostics);
    const third = server.saidBy(`hello ${nonce} #3`);

    // 6. close() from the page: the server sees it leave; the page stays stopped.
    await evaluate('window.__ws.close()');
    await waitFor('the server to see the page leave', 10000, () => server.has(`${third} is OFFLINE (closed)`), diagnostics);
    await sleep(1500);
    await read();
    assert.equal(page.state, 'stopped');
    assert.equal(page.title, 'open 3');
    console.log(`# page log:\n${page.log.map((l) => `#   ${l}`).join('\n')}`);
  } finally {
    browser.kill('SIGKILL');
    await browserExit;
    await server.kill();
    await oldServer?.kill();
    await new Promise((resolve) => web.close(resolve));
    rmSync(profile, { recursive: true, force: true });
  }
});
