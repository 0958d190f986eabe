//! The server under load, against its peers, in one run: N idle WebSocket
//! connections, each sending a text heartbeat every few seconds, held
//! against (a) the `keepalive-tokio` server, (b) node `ws` with its README
//! heartbeat sweep, (c) python `websockets` with `ping_interval`. Each
//! server runs in its own process; the load comes from this one.
//!
//! ```text
//! cargo bench -p keepalive-tokio --bench load              # 10,000 connections
//! cargo bench -p keepalive-tokio --bench load -- --smoke   # 300, seconds (CI)
//! cargo bench -p keepalive-tokio --bench load -- --connections 5000 --only keepalive
//! ```
//!
//! For each server: the time until all N are connected, RSS per connection,
//! CPU seconds per minute of steady state, threads, and how late 1 % of
//! clients that go silent at once are found (min / median / max, against
//! `interval + timeout`; the sweep's bound is one to two sweeps). npm `ws`
//! and pip `websockets` are installed into a temporary folder; a peer whose
//! toolchain is missing is skipped with one line.

#[path = "load/clients.rs"]
mod clients;
#[path = "load/peers.rs"]
mod peers;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clients::{Load, unix_ms};
use keepalive::{OfflineReason, ServerHeartbeat, SessionsConfig};
use keepalive_tokio::server::{PresenceChange, Refusal, Server, ServerConfig};
use peers::Launch;
use tokio::sync::broadcast::error::RecvError;

/// The run's parameters.
#[derive(Clone, Copy)]
struct Plan {
    connections: usize,
    /// How often each client sends its text heartbeat.
    heartbeat: Duration,
    /// The server's ping interval and timeout (keepalive, python).
    interval: Duration,
    timeout: Duration,
    /// node's sweep period: a dead client is found one to two sweeps after
    /// its last pong. It is `interval + timeout`, so that the sweep's best
    /// case is our exact bound.
    sweep: Duration,
    steady: Duration,
}

impl Plan {
    fn full(connections: usize) -> Plan {
        Plan {
            connections,
            heartbeat: Duration::from_secs(4),
            interval: Duration::from_secs(5),
            timeout: Duration::from_secs(5),
            sweep: Duration::from_secs(10),
            steady: Duration::from_secs(30),
        }
    }

    fn smoke() -> Plan {
        Plan {
            connections: 300,
            heartbeat: Duration::from_millis(700),
            interval: Duration::from_secs(1),
            timeout: Duration::from_secs(1),
            sweep: Duration::from_secs(2),
            steady: Duration::from_secs(3),
        }
    }

    fn bound(&self) -> Duration {
        self.interval + self.timeout
    }
}

/// What one server did.
struct Figures {
    name: &'static str,
    connected: usize,
    failed: usize,
    connect_all: Duration,
    rss_per_conn: f64,
    cpu_per_min: f64,
    threads: u64,
    detection: Vec<Duration>,
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--serve-keepalive") {
        let arg = |k: usize| {
            args.get(i + k)
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
        };
        return serve_keepalive(arg(1) as u16, arg(2), arg(3));
    }
    let smoke = args.iter().any(|a| a == "--smoke");
    let connections = flag(&args, "--connections").unwrap_or(10_000);
    let mut plan = if smoke {
        Plan::smoke()
    } else {
        Plan::full(connections)
    };
    if let Some(secs) = flag(&args, "--steady-secs") {
        plan.steady = Duration::from_secs(secs as u64);
    }
    // `--only keepalive` (or `node`, `python`): one server, for a quick look.
    let only = args
        .iter()
        .position(|a| a == "--only")
        .and_then(|i| args.get(i + 1).cloned());
    println!(
        "load: {} connections, a text heartbeat every {:?} each; keepalive and python ping after {:?} of silence \
         (python: every {:?}) and give {:?} to answer (bound {:?}); node sweeps every {:?} (bound {:?}..{:?})",
        plan.connections,
        plan.heartbeat,
        plan.interval,
        plan.interval,
        plan.timeout,
        plan.bound(),
        plan.sweep,
        plan.sweep,
        plan.sweep * 2
    );
    let dir = std::env::temp_dir().join(format!("keepalive-load-{}", std::process::id()));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    type Install<'a> = Box<dyn FnOnce(u16) -> Result<Launch, String> + 'a>;
    let keepalive: Install = Box::new(|port| {
        Ok(Launch {
            name: "keepalive-tokio",
            program: std::env::current_exe().map_err(|e| e.to_string())?,
            args: vec![
                "--serve-keepalive".into(),
                port.to_string(),
                plan.interval.as_millis().to_string(),
                plan.timeout.as_millis().to_string(),
            ],
            dir: std::env::temp_dir(),
        })
    });
    let node: Install = Box::new(|port| peers::node_ws(&dir, port, plan.sweep.as_millis() as u64));
    let python: Install = Box::new(|port| {
        peers::python_websockets(
            &dir,
            port,
            plan.interval.as_secs_f64(),
            plan.timeout.as_secs_f64(),
        )
    });
    let mut results = Vec::new();
    for (name, install) in [
        ("keepalive-tokio", keepalive),
        ("node ws", node),
        ("python websockets", python),
    ] {
        if only
            .as_ref()
            .is_some_and(|only| !name.contains(only.as_str()))
        {
            continue;
        }
        let port = free_port();
        match install(port) {
            Ok(launch) => match runtime.block_on(measure(&launch, port, plan)) {
                Ok(figures) => results.push(figures),
                Err(e) => println!("{name}: failed: {e}"),
            },
            Err(why) => println!("skipped: {name} ({why})"),
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    report(&results, plan);
}

/// The number after `name` on the command line.
fn flag(args: &[String], name: &str) -> Option<usize> {
    let i = args.iter().position(|a| a == name)?;
    args.get(i + 1)?.parse().ok()
}

/// Runs one server under the load and measures it.
async fn measure(launch: &Launch, port: u16, plan: Plan) -> Result<Figures, String> {
    let mut child = Command::new(&launch.program)
        .args(&launch.args)
        .current_dir(&launch.dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", launch.program.display()))?;
    let offline: Arc<Mutex<Vec<(String, u64)>>> = Arc::default();
    let ready = watch_output(&mut child, offline.clone());
    let result = async {
        tokio::time::timeout(Duration::from_secs(30), ready)
            .await
            .map_err(|_| "no `ready` within 30 s".to_string())?
            .map_err(|_| "exited before `ready`".to_string())?;
        let pid = child.id();
        let base_rss = status(pid, "VmRSS:");
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let load = Load::connect(addr, plan.connections, plan.heartbeat).await;
        tokio::time::sleep(Duration::from_secs(2)).await;
        let rss = status(pid, "VmRSS:");
        let threads = status(pid, "Threads:");
        let cpu0 = cpu_seconds(pid);
        tokio::time::sleep(plan.steady).await;
        let cpu1 = cpu_seconds(pid);
        // 1 % go silent at once: every hundredth client.
        let silent: Vec<usize> = (0..load.clients.len()).step_by(100).collect();
        for &i in &silent {
            load.clients[i].silent.store(true, Ordering::SeqCst);
        }
        let deadline =
            tokio::time::Instant::now() + plan.sweep * 2 + plan.bound() + Duration::from_secs(5);
        let found = |offline: &[(String, u64)]| {
            silent
                .iter()
                .filter(|&&i| offline.iter().any(|(id, _)| *id == format!("c{i}")))
                .count()
        };
        while found(&offline.lock().unwrap()) < silent.len()
            && tokio::time::Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let reports = offline.lock().unwrap().clone();
        let mut detection: Vec<Duration> = silent
            .iter()
            .filter_map(|&i| {
                let id = format!("c{i}");
                let (_, at) = reports.iter().find(|(who, _)| *who == id)?;
                let last = load.clients[i].last_frame_ms.load(Ordering::SeqCst);
                Some(Duration::from_millis(at.saturating_sub(last)))
            })
            .collect();
        detection.sort();
        let figures = Figures {
            name: launch.name,
            connected: load.connected,
            failed: load.failed,
            connect_all: load.connect_all,
            rss_per_conn: (rss.saturating_sub(base_rss)) as f64 * 1024.0
                / load.connected.max(1) as f64,
            cpu_per_min: (cpu1 - cpu0) / plan.steady.as_secs_f64() * 60.0,
            threads,
            detection,
        };
        load.stop().await;
        Ok(figures)
    }
    .await;
    let _ = child.kill();
    let _ = child.wait();
    result
}

/// Collects `OFFLINE <id> <unix ms>` lines; resolves once `ready` is seen.
fn watch_output(
    child: &mut Child,
    offline: Arc<Mutex<Vec<(String, u64)>>>,
) -> tokio::sync::oneshot::Receiver<()> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let stdout = child.stdout.take().expect("piped");
    std::thread::spawn(move || {
        let mut tx = Some(tx);
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let mut words = line.split_whitespace();
            match (words.next(), words.next(), words.next()) {
                (Some("ready"), _, _) => {
                    if let Some(tx) = tx.take() {
                        let _ = tx.send(());
                    }
                }
                (Some("OFFLINE"), Some(id), Some(at)) => {
                    let at = at.parse().unwrap_or_else(|_| unix_ms());
                    offline.lock().unwrap().push((id.to_owned(), at));
                }
                _ => {}
            }
        }
    });
    rx
}

/// A field of `/proc/PID/status`, as a number (kB for sizes).
fn status(pid: u32, field: &str) -> u64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// User + system CPU seconds of process `pid` (all its threads).
fn cpu_seconds(pid: u32) -> f64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The fields after the command name, which is in parentheses.
    let rest = text.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0 // utime, stime in clock ticks (USER_HZ = 100)
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().expect("address").port()
}

fn report(results: &[Figures], plan: Plan) {
    println!(
        "\n{:<24} {:>10} {:>12} {:>11} {:>11} {:>8}  silent 1 % found after (min / median / max)",
        "server", "connected", "all after", "RSS/conn", "CPU s/min", "threads",
    );
    for f in results {
        let pick = |q: f64| {
            f.detection
                .get(((f.detection.len().max(1) - 1) as f64 * q).round() as usize)
                .map_or("-".to_string(), |d| format!("{:.2}", d.as_secs_f64()))
        };
        let connected = match f.failed {
            0 => format!("{}", f.connected),
            failed => format!("{} ({failed} failed)", f.connected),
        };
        println!(
            "{:<24} {:>10} {:>10.2} s {:>7.1} KiB {:>11.2} {:>8}  {} / {} / {} s of {} found",
            f.name,
            connected,
            f.connect_all.as_secs_f64(),
            f.rss_per_conn / 1024.0,
            f.cpu_per_min,
            f.threads,
            pick(0.0),
            pick(0.5),
            pick(1.0),
            f.detection.len(),
        );
    }
    let ours = results.iter().find(|f| f.name == "keepalive-tokio");
    let node = results.iter().find(|f| f.name.starts_with("node"));
    if let (Some(ours), Some(node)) = (ours, node) {
        println!(
            "\nkeepalive-tokio / node ws: RSS per connection {:.2}x, CPU {:.2}x (targets: <= 0.5x)",
            ours.rss_per_conn / node.rss_per_conn.max(1.0),
            ours.cpu_per_min / node.cpu_per_min.max(1e-9),
        );
        println!(
            "detection bound: keepalive and python {:.1} s after the last frame; node's sweep {:.1}..{:.1} s",
            plan.bound().as_secs_f64(),
            plan.sweep.as_secs_f64(),
            plan.sweep.as_secs_f64() * 2.0
        );
    }
}

/// `--serve-keepalive PORT INTERVAL_MS TIMEOUT_MS`: the server under test,
/// in this same binary.
fn serve_keepalive(port: u16, interval_ms: u64, timeout_ms: u64) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(async move {
        let heartbeat = ServerHeartbeat::ping(
            Duration::from_millis(interval_ms),
            Duration::from_millis(timeout_ms),
        );
        let sessions = SessionsConfig::default()
            .with_heartbeat(heartbeat)
            .with_capacity(200_000);
        let config = ServerConfig::default()
            .with_sessions(sessions)
            .with_text_heartbeat("hb", "hb");
        let server = Server::builder(|headers| {
            let id = headers.get("x-client-id").and_then(|v| v.to_str().ok());
            id.map(str::to_owned).ok_or(Refusal::Unauthorized)
        })
        .config(config)
        .build()
        .expect("server");
        let mut changes = server.changes();
        tokio::spawn(async move {
            loop {
                match changes.recv().await {
                    Ok(PresenceChange::Offline(id, OfflineReason::Silent)) => {
                        println!("OFFLINE {id} {}", unix_ms());
                    }
                    Ok(_) | Err(RecvError::Lagged(_)) => {}
                    Err(RecvError::Closed) => return,
                }
            }
        });
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .expect("bind");
        println!("ready");
        server.listen(listener).await;
    });
}
