//! The article's scenario in virtual time: heartbeats, a server that dies
//! without closing the socket, the dead peer detected, reconnects while it
//! is down, and recovery. First with the article's own parameters (60 s
//! heartbeat, 60 s timeout, fixed 2 s), then three clients with the crate's
//! defaults, whose jittered backoff keeps them from retrying in lockstep.
//!
//! Runs in a few milliseconds: no sockets, no sleeping, just the state
//! machine and a scripted server.
//!
//! ```text
//! cargo run --example timeline
//! ```

use std::time::Duration;

use keepalive::{Action, Config, Connection, Event, Instant, TransportId};

/// The scripted server: answers heartbeats while it is up, then vanishes
/// without a FIN (a crashed host, a dead NAT) and comes back later.
struct Server {
    dies_at: Instant,
    returns_at: Instant,
}

impl Server {
    fn up(&self, t: Instant) -> bool {
        t < self.dies_at || t >= self.returns_at
    }
}

/// One client: a connection plus what its transport will report, and when.
struct Client {
    name: &'static str,
    conn: Connection,
    inbox: Vec<(Instant, TransportId, Event)>,
}

impl Client {
    fn new(name: &'static str, config: Config) -> Client {
        let conn = Connection::new(config).expect("valid config");
        Client {
            name,
            conn,
            inbox: Vec::new(),
        }
    }

    /// The next time something happens to this client: a transport event
    /// or its own deadline.
    fn next_time(&self) -> Option<Instant> {
        let event = self.inbox.iter().map(|(t, _, _)| *t).min();
        match (event, self.conn.poll_timeout()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Handles whatever is due at `now` and plays the scripted server.
    fn step(&mut self, now: Instant, server: &Server) -> Vec<String> {
        let due = self.inbox.iter().position(|(t, _, _)| *t <= now);
        let (label, actions) = match due {
            Some(i) => {
                let (_, id, event) = self.inbox.remove(i);
                (
                    format!("{event} from {id}"),
                    self.conn.handle_from(id, event, now),
                )
            }
            None => ("tick".to_string(), self.conn.handle(Event::Tick, now)),
        };
        let mut lines = Vec::new();
        for action in actions {
            self.perform(action, now, server);
            lines.push(format!("{label:<18} → {action}"));
        }
        if lines.is_empty() && label != "tick" {
            lines.push(label);
        }
        lines
    }

    fn perform(&mut self, action: Action, now: Instant, server: &Server) {
        let ms = |n| Duration::from_millis(n);
        match action {
            Action::Connect { id } => {
                // A live server accepts in 30 ms; a dead one times out the
                // TCP handshake after 3 s.
                let event = if server.up(now) {
                    (now + ms(30), id, Event::Opened)
                } else {
                    (now + ms(3_000), id, Event::Error)
                };
                self.inbox.push(event);
            }
            Action::SendHeartbeat if server.up(now) => {
                let id = self.conn.transport().expect("open");
                self.inbox.push((now + ms(40), id, Event::Pong));
            }
            // The dead server swallows heartbeats.
            Action::SendHeartbeat => {}
            Action::Close { .. } => {
                // Closing a socket to a vanished host: the FIN is never
                // acknowledged, the browser reports onclose after ~1 s.
                let id = self.conn.transport().expect("closing");
                let after = if server.up(now) { ms(5) } else { ms(1_000) };
                self.inbox.push((now + after, id, Event::Closed));
            }
            Action::Abort | Action::ScheduleReconnect { .. } | Action::GiveUp { .. } => {}
        }
    }
}

/// Runs all clients together in virtual time until `end`, printing a line
/// per action.
fn run(clients: &mut [Client], server: &Server, end: Instant) {
    let mut now = Instant::ZERO;
    for client in clients.iter_mut() {
        for action in client.conn.connect(now) {
            client.perform(action, now, server);
            println!(
                "t={:<10} {:<9} connect()          → {action}",
                now.to_string(),
                client.name
            );
        }
    }
    loop {
        let next = clients
            .iter()
            .enumerate()
            .filter_map(|(i, c)| c.next_time().map(|t| (t, i)))
            .min();
        let Some((t, i)) = next else { break };
        if t > end {
            break;
        }
        now = t;
        let name = clients[i].name;
        for line in clients[i].step(now, server) {
            println!("t={:<10} {name:<9} {line}", now.to_string());
        }
    }
}

fn main() {
    let server = Server {
        dies_at: Instant::from_secs(100),
        returns_at: Instant::from_secs(190),
    };

    println!("== The article's client: 60 s heartbeat, 60 s timeout, fixed 2 s reconnect");
    println!(
        "   server vanishes at {} (no FIN), returns at {}\n",
        server.dies_at, server.returns_at
    );
    let mut article = [Client::new("article", Config::article().with_seed(1))];
    run(&mut article, &server, Instant::from_secs(330));
    let conn = &article[0].conn;
    println!(
        "\n   → dead server found 120 s after its last reply; state at the end: {:?}, rtt {:?}\n",
        conn.state(),
        conn.rtt()
    );

    println!(
        "== Three clients with Config::default(): 25 s / 20 s, exponential 1 s..30 s, full jitter"
    );
    let mut fleet = [1, 2, 3].map(|seed| {
        let name = ["client-1", "client-2", "client-3"][seed as usize - 1];
        Client::new(name, Config::default().with_seed(seed))
    });
    run(&mut fleet, &server, Instant::from_secs(215));
    let online = fleet.iter().filter(|c| c.conn.state().is_open()).count();
    println!(
        "\n   → {online} of 3 clients back online; their reconnects were spread by jitter, not in lockstep."
    );
}
