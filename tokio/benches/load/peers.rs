//! The servers the load benchmark compares: node `ws` with the heartbeat
//! sweep from its README, and python `websockets` with its built-in
//! keepalive pings. Installed into a temporary folder on each run.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// How to start one server: a program, its arguments, where to run it.
pub struct Launch {
    pub name: &'static str,
    pub program: PathBuf,
    pub args: Vec<String>,
    pub dir: PathBuf,
}

/// node's `ws`, exactly as its README keeps connections alive: every
/// `sweep` ms, terminate the sockets that did not answer the previous ping,
/// and ping the rest. It answers the text heartbeat `hb` with `hb`.
const NODE_SERVER: &str = r#"
import { WebSocketServer } from 'ws';
const [port, sweep] = process.argv.slice(2).map(Number);
const wss = new WebSocketServer({ host: '127.0.0.1', port, perMessageDeflate: false, clientTracking: true });
function heartbeat() { this.isAlive = true; }
wss.on('connection', (ws, req) => {
  ws.isAlive = true;
  ws.id = req.headers['x-client-id'];
  ws.on('error', () => {});
  ws.on('pong', heartbeat);
  ws.on('message', (data) => { if (data.toString() === 'hb') ws.send('hb'); });
});
setInterval(() => {
  for (const ws of wss.clients) {
    if (ws.isAlive === false) {
      console.log(`OFFLINE ${ws.id} ${Date.now()}`);
      ws.terminate();
      continue;
    }
    ws.isAlive = false;
    ws.ping();
  }
}, sweep);
wss.on('listening', () => console.log('ready'));
"#;

/// python `websockets` (asyncio implementation) with `ping_interval` and
/// `ping_timeout`; the handler reports when the connection is gone.
const PYTHON_SERVER: &str = r#"
import asyncio, sys, time
from websockets.asyncio.server import serve

port, interval, timeout = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])

async def handler(ws):
    client = ws.request.headers.get('x-client-id')
    try:
        async for message in ws:
            if message == 'hb':
                await ws.send('hb')
    except Exception:
        pass
    finally:
        print(f'OFFLINE {client} {int(time.time() * 1000)}', flush=True)

async def main():
    async with serve(handler, '127.0.0.1', port, ping_interval=interval, ping_timeout=timeout,
                     close_timeout=0.1, compression=None, backlog=4096):
        print('ready', flush=True)
        await asyncio.Future()

asyncio.run(main())
"#;

fn run(what: &str, command: &mut Command) -> Result<(), String> {
    let out = command
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| format!("{what}: {e}"))?;
    if out.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    let tail: Vec<&str> = stderr.lines().rev().take(3).collect();
    Err(format!("{what} failed: {}", tail.join(" / ")))
}

/// `npm install ws` into `dir/node`.
pub fn node_ws(dir: &Path, port: u16, sweep_ms: u64) -> Result<Launch, String> {
    let dir = dir.join("node");
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    std::fs::write(
        dir.join("package.json"),
        r#"{ "type": "module", "private": true }"#,
    )
    .map_err(|e| e.to_string())?;
    std::fs::write(dir.join("server.mjs"), NODE_SERVER).map_err(|e| e.to_string())?;
    run(
        "npm install ws",
        Command::new("npm")
            .args(["install", "--no-audit", "--no-fund", "ws@8"])
            .current_dir(&dir),
    )?;
    Ok(Launch {
        name: "node ws (README sweep)",
        program: "node".into(),
        args: vec!["server.mjs".into(), port.to_string(), sweep_ms.to_string()],
        dir,
    })
}

/// `pip install websockets` into a virtual environment in `dir/python`.
pub fn python_websockets(
    dir: &Path,
    port: u16,
    interval_s: f64,
    timeout_s: f64,
) -> Result<Launch, String> {
    let dir = dir.join("python");
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    std::fs::write(dir.join("server.py"), PYTHON_SERVER).map_err(|e| e.to_string())?;
    let venv = dir.join("venv");
    run(
        "python3 -m venv",
        Command::new("python3").arg("-m").arg("venv").arg(&venv),
    )?;
    let python = venv.join("bin").join("python");
    run(
        "pip install websockets",
        Command::new(&python).args(["-m", "pip", "install", "-q", "websockets>=14"]),
    )?;
    Ok(Launch {
        name: "python websockets",
        program: python,
        args: vec![
            "server.py".into(),
            port.to_string(),
            interval_s.to_string(),
            timeout_s.to_string(),
        ],
        dir,
    })
}
