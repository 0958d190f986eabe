//! Both adapter run loops against a scripted in-memory server, in virtual
//! time: every deadline is exact, nothing touches a socket or the clock.
//!
//! Each scenario runs twice, through the blocking driver and through the
//! async one, and the two transcripts must be identical: they share one
//! core, and only the way they wait differs. The transcript is snapshotted.
#![cfg(feature = "std")]

mod sim;

use std::num::NonZeroUsize;
use std::time::Duration;

use keepalive::adapter::{
    Cause, Exit, Handle, Heartbeat, Message, Notice, Options, Outcome, SendError,
};
use keepalive::adapter::{asynchronous, blocking};
use keepalive::{Backoff, Config, Jitter};
use sim::{AsyncNet, BlockingNet, Hook, Mode, Net, NetSleep, NetTimer, Shared};

const RTT: Duration = Duration::from_millis(20);

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Heartbeat every 1 s of silence, 500 ms to answer; backoff 200 ms..2 s
/// with full jitter, seeded.
fn config() -> Config {
    Config::default()
        .with_heartbeat_interval(ms(1000))
        .with_heartbeat_timeout(ms(500))
        .with_connect_timeout(ms(1000))
        .with_close_timeout(ms(300))
        .with_backoff(Backoff::exponential(ms(200), ms(2000)).with_jitter(Jitter::Full))
        .with_min_uptime(ms(1000))
        .with_seed(7)
}

fn options() -> Options {
    // A read slice far longer than any scenario: the blocking loop wakes
    // only for deadlines and handle calls, like the async one.
    Options::default().with_read_slice(Duration::from_secs(3600))
}

struct Run {
    outcome: Outcome,
    log: Vec<String>,
    notices: Vec<(u64, Notice<String>)>,
    received: Vec<String>,
    connects: usize,
    max_open_sockets: usize,
    open_sockets: usize,
}

fn finish(net: &Shared, outcome: Outcome, notices: Vec<(u64, Notice<String>)>) -> Run {
    let n = net.lock().unwrap();
    Run {
        outcome,
        log: n.log.clone(),
        notices,
        received: n.received.clone(),
        connects: n.connects,
        max_open_sockets: n.max_open_sockets,
        open_sockets: n.open_sockets,
    }
}

/// Runs `script` through both drivers; checks they agree and no socket is
/// left open; returns one run.
fn scenario(config: Config, options: Options, script: impl Fn(&mut Net, &Handle)) -> Run {
    let (blocking, asynchronous) = both(config, options, script);
    assert_eq!(
        blocking.log.join("\n"),
        asynchronous.log.join("\n"),
        "the blocking and async drivers must behave identically"
    );
    assert_eq!(blocking.outcome, asynchronous.outcome);
    asynchronous
}

/// Runs `script` through the blocking driver, then the async one.
fn both(config: Config, options: Options, script: impl Fn(&mut Net, &Handle)) -> (Run, Run) {
    let new_net = |handle: &Handle| {
        let net = Net::new(RTT, config.connect_timeout());
        if let Heartbeat::Text { request, .. } = options.heartbeat() {
            net.lock().unwrap().heartbeat_text = Some(request.clone().leak());
        }
        script(&mut net.lock().unwrap(), handle);
        net
    };
    let notify = |net: Shared, notices: &mut Vec<(u64, Notice<String>)>, notice: Notice<String>| {
        let mut n = net.lock().unwrap();
        n.note(format_args!("note  {notice}"));
        notices.push((n.now.as_millis(), notice));
    };
    let runs = (
        run_blocking(&config, &options, &new_net, &notify),
        run_async(&config, &options, &new_net, &notify),
    );
    for run in [&runs.0, &runs.1] {
        assert_eq!(run.open_sockets, 0, "a socket was left open");
        assert!(run.max_open_sockets <= 1, "two sockets at once");
    }
    runs
}

type Notify<'a> = &'a dyn Fn(Shared, &mut Vec<(u64, Notice<String>)>, Notice<String>);

fn run_blocking(
    config: &Config,
    options: &Options,
    new_net: &dyn Fn(&Handle) -> Shared,
    notify: Notify<'_>,
) -> Run {
    // The transport needs the net and the script needs the handle: build
    // the net empty, then script it once the handle exists.
    let net = Net::new(RTT, config.connect_timeout());
    let client = blocking::Client::with_timer(
        *config,
        options.clone(),
        BlockingNet(net.clone()),
        NetTimer(net.clone()),
    )
    .unwrap();
    let scripted = new_net(&client.handle());
    adopt(&net, &scripted);
    let mut notices = Vec::new();
    let outcome = client.run(|notice| notify(net.clone(), &mut notices, notice));
    finish(&net, outcome, notices)
}

fn run_async(
    config: &Config,
    options: &Options,
    new_net: &dyn Fn(&Handle) -> Shared,
    notify: Notify<'_>,
) -> Run {
    let net = Net::new(RTT, config.connect_timeout());
    let client = asynchronous::Client::new(
        *config,
        options.clone(),
        AsyncNet(net.clone()),
        NetSleep(net.clone()),
    )
    .unwrap();
    let scripted = new_net(&client.handle());
    adopt(&net, &scripted);
    let mut notices = Vec::new();
    let outcome = sim::block_on(
        &net,
        client.run(|notice| notify(net.clone(), &mut notices, notice)),
    );
    finish(&net, outcome, notices)
}

/// Moves the script written into `from` into `into`.
fn adopt(into: &Shared, from: &Shared) {
    let mut from = from.lock().unwrap();
    let mut into = into.lock().unwrap();
    std::mem::swap(&mut *into, &mut *from);
}

fn at(n: &mut Net, t: u64, hook: Hook) {
    n.at(ms(t), hook);
}

fn times(run: &Run, pick: impl Fn(&Notice<String>) -> bool) -> Vec<u64> {
    run.notices
        .iter()
        .filter(|(_, notice)| pick(notice))
        .map(|(t, _)| *t)
        .collect()
}

#[test]
fn heartbeats_outage_queue_and_close() {
    let run = scenario(config(), options(), |n, handle| {
        at(n, 200, Hook::Send(handle.clone(), "a"));
        at(n, 3000, Hook::Mode(Mode::Down));
        at(n, 3100, Hook::Send(handle.clone(), "b"));
        at(n, 3200, Hook::Send(handle.clone(), "c"));
        at(n, 4000, Hook::Mode(Mode::Up));
        at(n, 6000, Hook::Close(handle.clone()));
    });
    // Sent during the outage, delivered in order after the reconnect.
    assert_eq!(run.received, ["a", "b", "c"]);
    assert_eq!(run.outcome.exit, Exit::Stopped);
    assert!(run.outcome.unsent.is_empty());
    // Heartbeats were answered: an RTT of exactly one virtual round trip.
    assert!(run.notices.iter().any(|(_, notice)| matches!(
        notice,
        Notice::HeartbeatAnswered { rtt: Some(rtt) } if *rtt == RTT
    )));
    // The echo reached the user; the pongs did not.
    assert!(
        run.notices
            .iter()
            .any(|(_, notice)| *notice == Notice::Message(Message::text("echo a")))
    );
    // The kill is seen at once (the socket is reset), then reconnects back
    // off until the server is up again.
    assert_eq!(
        times(&run, |n| matches!(n, Notice::Disconnected { .. }))[0],
        3000
    );
    let connected = times(&run, |n| matches!(n, Notice::Connected { .. }));
    assert_eq!(connected.len(), 2);
    assert!(connected[1] >= 4000 && connected[1] <= 4000 + 2000 + 20);
    insta::assert_snapshot!(run.log.join("\n"));
}

#[test]
fn silent_server_is_detected_at_interval_plus_timeout() {
    let run = scenario(config(), options(), |n, handle| {
        at(n, 2500, Hook::Mode(Mode::Silent));
        // The proxy dies for good after the detection (a silent proxy also
        // hangs new connects: see `hanging_connect_hits_the_connect_timeout`).
        at(n, 3900, Hook::Mode(Mode::Down));
        at(n, 6000, Hook::Mode(Mode::Up));
        at(n, 9000, Hook::Close(handle.clone()));
    });
    // Connected at 20 ms; heartbeats at 1020, 2040 answered at 1040, 2060;
    // the last data came at 2060, so the dead peer is found at 2060 + 1500.
    let lost = run
        .notices
        .iter()
        .find(|(_, n)| matches!(n, Notice::Disconnected { .. }))
        .unwrap();
    assert_eq!(lost.0, 3560);
    assert!(matches!(
        lost.1,
        Notice::Disconnected {
            cause: Cause::HeartbeatTimeout,
            ..
        }
    ));
    assert_eq!(run.outcome.exit, Exit::Stopped);
    insta::assert_snapshot!(run.log.join("\n"));
}

#[test]
fn rejected_connect_gives_up_without_retrying() {
    let run = scenario(config(), options(), |n, _| n.mode = Mode::Reject);
    assert_eq!(run.outcome.exit, Exit::GaveUp { attempts: 0 });
    assert_eq!(run.connects, 1);
    insta::assert_snapshot!(run.log.join("\n"));
}

#[test]
fn max_attempts_then_give_up() {
    let config = config().with_max_attempts(2);
    let run = scenario(config, options(), |n, _| n.mode = Mode::Down);
    assert_eq!(run.outcome.exit, Exit::GaveUp { attempts: 2 });
    assert_eq!(run.connects, 3);
    assert_eq!(
        times(&run, |n| matches!(n, Notice::Reconnecting { .. })).len(),
        2
    );
}

#[test]
fn close_during_backoff_stops_at_once() {
    let config = config().with_backoff(Backoff::fixed(ms(5000)));
    let run = scenario(config, options(), |n, handle| {
        n.mode = Mode::Down;
        at(n, 700, Hook::Close(handle.clone()));
    });
    assert_eq!(run.outcome.exit, Exit::Stopped);
    assert_eq!(run.connects, 1);
    assert_eq!(times(&run, |n| *n == Notice::Stopped), [700]);
}

#[test]
fn full_queue_hands_the_message_back_and_nothing_is_lost() {
    let options = options().with_queue_capacity(NonZeroUsize::new(2).unwrap());
    let run = scenario(config(), options, |n, handle| {
        n.mode = Mode::Down;
        // Sent now (before the run): the queue holds two.
        handle.send("a").unwrap();
        handle.send("b").unwrap();
        assert_eq!(handle.send("c"), Err(SendError::Full(Message::text("c"))));
        at(n, 500, Hook::Mode(Mode::Up));
        at(n, 5000, Hook::Close(handle.clone()));
    });
    assert_eq!(run.received, ["a", "b"]);
    assert!(run.outcome.unsent.is_empty());
}

#[test]
fn messages_left_at_close_are_handed_back() {
    let run = scenario(config(), options(), |n, handle| {
        n.mode = Mode::Down;
        at(n, 100, Hook::Send(handle.clone(), "x"));
        at(n, 150, Hook::Close(handle.clone()));
    });
    assert_eq!(run.outcome.unsent, [Message::text("x")]);
}

#[test]
fn text_heartbeat_replies_are_not_delivered() {
    let options = options().with_heartbeat(Heartbeat::text("心跳测试"));
    let run = scenario(config(), options, |n, handle| {
        at(n, 1500, Hook::Send(handle.clone(), "hello"));
        at(n, 4000, Hook::Close(handle.clone()));
    });
    let delivered: Vec<_> = run
        .notices
        .iter()
        .filter_map(|(_, n)| match n {
            Notice::Message(m) => m.as_text().map(str::to_owned),
            _ => None,
        })
        .collect();
    assert_eq!(delivered, ["echo hello"]);
    assert!(
        run.log
            .iter()
            .any(|l| l.contains("tx    send \"心跳测试\""))
    );
    assert!(
        times(&run, |n| matches!(
            n,
            Notice::HeartbeatAnswered { rtt: Some(_) }
        ))
        .len()
            >= 2
    );
    insta::assert_snapshot!(run.log.join("\n"));
}

#[test]
fn hanging_connect_hits_the_connect_timeout() {
    // The async driver abandons the connect future at the deadline; the
    // blocking transport gives up inside `connect` after the timeout it was
    // handed. Both try again after a backoff.
    let config = config().with_max_attempts(1);
    let (blocking, asynchronous) = both(config, options(), |n, _| n.mode = Mode::Silent);
    for (run, cause) in [
        (blocking, Cause::ConnectFailed),
        (asynchronous, Cause::ConnectTimeout),
    ] {
        assert_eq!(run.outcome.exit, Exit::GaveUp { attempts: 1 });
        assert_eq!(run.connects, 2);
        let lost = times(
            &run,
            |n| matches!(n, Notice::Disconnected { cause: c, .. } if *c == cause),
        );
        assert_eq!(lost.len(), 2);
        assert_eq!(
            lost[0], 1000,
            "the first connect ends at the connect timeout"
        );
    }
}

/// An overloaded server closes the open socket with 1013 and answers the
/// upgrades with 503, both advising 3 s: every reconnect waits 3–4.5 s
/// instead of the 200 ms..2 s backoff, and the first one after the server
/// recovers connects.
#[test]
fn server_advised_delays_hold_reconnects_off() {
    let run = scenario(config(), options(), |n, handle| {
        at(n, 500, Hook::Mode(Mode::Busy(3000)));
        at(n, 9000, Hook::Mode(Mode::Up));
        at(n, 16000, Hook::Close(handle.clone()));
    });
    let delays: Vec<Duration> = run
        .notices
        .iter()
        .filter_map(|(_, n)| match n {
            Notice::Reconnecting { delay, .. } => Some(*delay),
            _ => None,
        })
        .collect();
    assert!(delays.len() >= 3, "{delays:?}");
    for delay in &delays {
        assert!((ms(3000)..=ms(4500)).contains(delay), "{delays:?}");
    }
    let connects = times(&run, |n| matches!(n, Notice::Connecting { .. }));
    for pair in connects.windows(2) {
        assert!(pair[1] - pair[0] >= 3000, "{connects:?}");
    }
    assert_eq!(
        times(&run, |n| matches!(n, Notice::Connected { .. })).len(),
        2
    );
    assert_eq!(run.outcome.exit, Exit::Stopped);
    insta::assert_snapshot!(run.log.join("\n"));
}

/// `Handle::reconnect` while waiting out a long delay connects at once.
#[test]
fn reconnect_now_cuts_the_wait_short() {
    let config = config().with_backoff(Backoff::fixed(ms(60_000)));
    let run = scenario(config, options(), |n, handle| {
        at(n, 500, Hook::Mode(Mode::Down));
        at(n, 1000, Hook::Mode(Mode::Up));
        at(n, 1200, Hook::Reconnect(handle.clone()));
        at(n, 2000, Hook::Close(handle.clone()));
    });
    let connects = times(&run, |n| matches!(n, Notice::Connecting { .. }));
    assert_eq!(connects, [0, 1200]);
    assert_eq!(
        times(&run, |n| matches!(n, Notice::Connected { .. })),
        [20, 1220]
    );
}
