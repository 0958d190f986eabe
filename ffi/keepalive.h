/*
 * keepalive.h: the C ABI of keepalive-ffi.
 *
 * Sans-IO heartbeat and reconnect-with-backoff for WebSocket-like
 * connections. The library does no I/O and reads no clock: you feed it
 * events with the current time, and it tells you what to do (open a socket,
 * send a heartbeat, close, abort) and when to call it again.
 *
 * Link: libkeepalive_ffi.a (plus -lpthread -ldl -lm on Linux) or
 * libkeepalive_ffi.so. The same functions are exported by the .wasm module.
 *
 * Rules for every function:
 *   - Only numbers cross the boundary. Configs and connections are handles:
 *     positive int32_t values. A freed handle is stale
 *     (KA_ERR_STALE_HANDLE), an invented one is bad (KA_ERR_BAD_HANDLE):
 *     error codes, never undefined behaviour. Any thread may call any
 *     function (the handle table is behind a mutex).
 *   - Functions returning int32_t/int64_t return >= 0 on success or a
 *     negative KA_ERR_* code. Functions returning double return a negative
 *     KA_ERR_* code (as a double) on error.
 *   - Time is nanoseconds since an epoch you choose (uint64_t, *_ns) or
 *     milliseconds as a double (*_ms, e.g. JavaScript's performance.now()).
 *     Time going backwards is clamped to the latest time seen.
 *   - Durations in configs are milliseconds as a double; the library keeps
 *     whole milliseconds, between 1 ms and UINT32_MAX ms (about 49.7 days).
 *   - A panic inside the library cannot unwind into C: the process aborts
 *     (in wasm: an `unreachable` trap). None is expected.
 *
 * Drive loop:
 *
 *     int32_t cfg = ka_config_article();          // 60 s / 60 s / fixed 2 s
 *     int32_t h = ka_new(cfg);
 *     ka_free(cfg);                               // configs can be freed once used
 *     int32_t n = ka_connect_ns(h, now());
 *     for (;;) {
 *         for (int32_t kind; (kind = ka_next(h)) > 0;) {
 *             switch (kind) {
 *             case KA_ACTION_CONNECT:        open_socket((uint32_t)ka_action_transport(h)); break;
 *             case KA_ACTION_SEND_HEARTBEAT: send_ping(); break;
 *             case KA_ACTION_CLOSE:          start_close(); break;   // then report KA_EVENT_CLOSED
 *             case KA_ACTION_ABORT:          drop_socket(); break;
 *             case KA_ACTION_SCHEDULE_RECONNECT: break;  // informational
 *             case KA_ACTION_GIVE_UP:        break;  // tell the user
 *             }
 *         }
 *         int64_t deadline = ka_poll_timeout_ns(h);   // KA_NO_TIMEOUT: wait for I/O only
 *         wait_for_io_until(deadline);
 *         // socket events: ka_handle_from_ns(h, socket_id, KA_EVENT_*, now())
 *         // deadline reached: ka_handle_ns(h, KA_EVENT_TICK, now())
 *     }
 *
 * Left out: the core's Backoff::steps takes a 'static table of durations;
 * building one from numbers would leak a table per config, so step tables
 * are not offered (KA_ERR_EMPTY_STEPS and the *_BACKOFF_STEP codes are
 * reserved and never returned).
 */
#ifndef KEEPALIVE_H
#define KEEPALIVE_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The ABI this header describes. Check ka_abi_version() == KA_ABI_VERSION. */
#define KA_ABI_VERSION 1

/* ----- error codes (stable; never reused) ----- */

#define KA_OK 0
/* Not a handle this library issued: zero, negative, out of range. */
#define KA_ERR_BAD_HANDLE (-1)
/* The handle was freed: use after free, double free. */
#define KA_ERR_STALE_HANDLE (-2)
/* A config handle where a connection is expected, or the reverse. */
#define KA_ERR_WRONG_HANDLE (-3)
/* Unknown event, mode, backoff kind or jitter; NaN time or duration. */
#define KA_ERR_INVALID_ARGUMENT (-4)
/* 65535 objects (configs and connections together) are alive. */
#define KA_ERR_TABLE_FULL (-5)
/* Too many unread actions: the input was NOT applied. Read with ka_next, retry. */
#define KA_ERR_QUEUE_FULL (-6)
/* An action accessor was called with no current action (call ka_next first). */
#define KA_ERR_NO_ACTION (-7)
/* The current action has no such field (e.g. the delay of a Connect). */
#define KA_ERR_NO_FIELD (-8)

/* Config errors: one code per cause, and per field for too short / too long. */
/* Fixed heartbeat mode: the timeout exceeds the interval. */
#define KA_ERR_TIMEOUT_EXCEEDS_INTERVAL (-10)
/* Exponential backoff factor below 1, infinite or NaN. */
#define KA_ERR_INVALID_FACTOR (-11)
/* Exponential backoff initial delay exceeds max. */
#define KA_ERR_INITIAL_EXCEEDS_MAX (-12)
/* Reserved (step tables are not offered): never returned. */
#define KA_ERR_EMPTY_STEPS (-13)
/* max_attempts is 0 (use KA_UNLIMITED_ATTEMPTS for no limit). */
#define KA_ERR_ZERO_MAX_ATTEMPTS (-14)
/* Below 1 ms (or negative). */
#define KA_ERR_TOO_SHORT_HEARTBEAT_INTERVAL (-20)
#define KA_ERR_TOO_SHORT_HEARTBEAT_TIMEOUT (-21)
#define KA_ERR_TOO_SHORT_CONNECT_TIMEOUT (-22)
#define KA_ERR_TOO_SHORT_CLOSE_TIMEOUT (-23)
#define KA_ERR_TOO_SHORT_MIN_UPTIME (-24)
#define KA_ERR_TOO_SHORT_BACKOFF_DELAY (-25)
#define KA_ERR_TOO_SHORT_BACKOFF_INITIAL (-26)
#define KA_ERR_TOO_SHORT_BACKOFF_MAX (-27)
#define KA_ERR_TOO_SHORT_BACKOFF_STEP (-28) /* reserved */
/* Above UINT32_MAX ms (about 49.7 days), or infinite. */
#define KA_ERR_TOO_LONG_HEARTBEAT_INTERVAL (-30)
#define KA_ERR_TOO_LONG_HEARTBEAT_TIMEOUT (-31)
#define KA_ERR_TOO_LONG_CONNECT_TIMEOUT (-32)
#define KA_ERR_TOO_LONG_CLOSE_TIMEOUT (-33)
#define KA_ERR_TOO_LONG_MIN_UPTIME (-34)
#define KA_ERR_TOO_LONG_BACKOFF_DELAY (-35)
#define KA_ERR_TOO_LONG_BACKOFF_INITIAL (-36)
#define KA_ERR_TOO_LONG_BACKOFF_MAX (-37)
#define KA_ERR_TOO_LONG_BACKOFF_STEP (-38) /* reserved */

/* ----- sentinels ----- */

/* ka_poll_timeout_ns: no deadline (idle, stopped, failed, or open with
 * heartbeats off). ka_poll_timeout_ms returns +INFINITY instead. */
#define KA_NO_TIMEOUT INT64_MAX
/* ka_config_set_max_attempts: reconnect forever (the default). */
#define KA_UNLIMITED_ATTEMPTS UINT32_MAX

/* ----- events: what happened (ka_handle_*) ----- */

#define KA_EVENT_OPENED 1   /* the transport finished connecting (onopen) */
#define KA_EVENT_MESSAGE 2  /* any inbound data (onmessage) */
#define KA_EVENT_PONG 3     /* a reply to our heartbeat: inbound data and an RTT sample */
#define KA_EVENT_ERROR 4    /* the transport reported an error: Close follows, then wait for CLOSED */
#define KA_EVENT_CLOSED 5   /* the transport has ended (onclose, failed connect, EOF) */
#define KA_EVENT_REJECTED 6 /* ended, and the peer refused us for good: give up */
#define KA_EVENT_TICK 7     /* time passed: send it at ka_poll_timeout_* */

/* ----- actions: what to do (ka_next) ----- */

#define KA_ACTION_NONE 0               /* no unread action */
#define KA_ACTION_CONNECT 1            /* open a transport for ka_action_transport() */
#define KA_ACTION_SEND_HEARTBEAT 2     /* send one heartbeat (ping) */
#define KA_ACTION_CLOSE 3              /* start closing (ka_action_reason()), report CLOSED when ended */
#define KA_ACTION_ABORT 4              /* drop the transport now; it counts as ended */
#define KA_ACTION_SCHEDULE_RECONNECT 5 /* informational: ka_action_delay_*(), ka_action_attempt() */
#define KA_ACTION_GIVE_UP 6            /* stopped trying after ka_action_attempt() reconnects */

/* ----- close reasons (ka_action_reason) ----- */

#define KA_REASON_HEARTBEAT_TIMEOUT 1
#define KA_REASON_CONNECT_TIMEOUT 2
#define KA_REASON_ERROR 3
#define KA_REASON_USER 4

/* ----- states (ka_state) ----- */

#define KA_STATE_IDLE 0       /* created, not connected yet */
#define KA_STATE_CONNECTING 1
#define KA_STATE_OPEN 2
#define KA_STATE_CLOSING 3
#define KA_STATE_WAITING 4    /* waiting out the backoff: the reconnect lock */
#define KA_STATE_STOPPED 5    /* closed by ka_close_* */
#define KA_STATE_FAILED 6     /* gave up */

/* ----- config values ----- */

#define KA_HEARTBEAT_IDLE 0   /* heartbeat after `interval` of silence (the article's) */
#define KA_HEARTBEAT_FIXED 1  /* heartbeat every `interval`; only PONG answers */
#define KA_HEARTBEAT_OFF 2

#define KA_BACKOFF_FIXED 0        /* delay = initial_ms; max_ms and factor ignored */
#define KA_BACKOFF_EXPONENTIAL 1  /* initial_ms * factor^(attempt-1), capped at max_ms */

#define KA_JITTER_NONE 0
#define KA_JITTER_FULL 1          /* uniform in [0, d] */
#define KA_JITTER_EQUAL 2         /* uniform in [d/2, d] */
#define KA_JITTER_DECORRELATED 3  /* uniform in [first, min(d, 3 * previous)] */

/* ----- version ----- */

/* KA_ABI_VERSION of the library actually linked or loaded. */
int32_t ka_abi_version(void);

/* ----- configs -----
 * A config is a handle too. Setters check the whole config at once and
 * return KA_OK or an error; on error the config is unchanged. A config can
 * build any number of connections; free it with ka_free. */

/* The defaults: idle heartbeat 25 s / 20 s, connect timeout 10 s, close
 * timeout 5 s, exponential backoff 1 s x2 up to 30 s with full jitter,
 * unlimited attempts, min uptime 5 s. Returns a handle or an error. */
int32_t ka_config_new(void);
/* The article's: heartbeat after 60 s of silence, 60 s to answer, fixed 2 s
 * between reconnects; the rest as ka_config_new. */
int32_t ka_config_article(void);
/* mode: KA_HEARTBEAT_*. With KA_HEARTBEAT_OFF the durations are not checked. */
int32_t ka_config_set_heartbeat(int32_t cfg, int32_t mode, double interval_ms, double timeout_ms);
int32_t ka_config_set_connect_timeout(int32_t cfg, double ms);
int32_t ka_config_set_close_timeout(int32_t cfg, double ms);
/* kind: KA_BACKOFF_*; jitter: KA_JITTER_*; factor: >= 1 (exponential only). */
int32_t ka_config_set_backoff(int32_t cfg, int32_t kind, double initial_ms, double max_ms,
                              double factor, int32_t jitter);
/* Gives up after `attempts` reconnects in a row; KA_UNLIMITED_ATTEMPTS: never. */
int32_t ka_config_set_max_attempts(int32_t cfg, uint32_t attempts);
/* How long a connection must stay open to reset the backoff (0 allowed). */
int32_t ka_config_set_min_uptime(int32_t cfg, double ms);
/* Seeds the jitter (reproducible delays). Unseeded, the first `now` seeds it:
 * give each client its own seed. */
int32_t ka_config_set_seed(int32_t cfg, uint64_t seed);

/* ----- connections ----- */

/* A connection built from `cfg` (KA_STATE_IDLE): a handle or an error. */
int32_t ka_new(int32_t cfg);
/* Frees a connection or a config: KA_OK, or KA_ERR_STALE_HANDLE on a double free. */
int32_t ka_free(int32_t handle);

/* Inputs. Each returns the number of unread actions (>= 0) or an error.
 * Read the actions with ka_next before the next input; at most 2 are added
 * per input, and an input is refused with KA_ERR_QUEUE_FULL (not applied)
 * when more than 6 are unread. */

/* Starts connecting (from idle, stopped, failed), or reconnects at once
 * while waiting out the backoff (the network came back). */
int32_t ka_connect_ns(int32_t h, uint64_t now_ns);
int32_t ka_connect_ms(int32_t h, double now_ms);
/* Stops for good: Close if a transport is live, then nothing but Abort. */
int32_t ka_close_ns(int32_t h, uint64_t now_ns);
int32_t ka_close_ms(int32_t h, double now_ms);
/* An event (KA_EVENT_*) of the current transport, or a TICK. */
int32_t ka_handle_ns(int32_t h, int32_t event, uint64_t now_ns);
int32_t ka_handle_ms(int32_t h, int32_t event, double now_ms);
/* An event reported by transport `transport`: dropped unless it is the
 * current one (a late close of a replaced socket cannot reconnect twice). */
int32_t ka_handle_from_ns(int32_t h, uint32_t transport, int32_t event, uint64_t now_ns);
int32_t ka_handle_from_ms(int32_t h, uint32_t transport, int32_t event, double now_ms);
/* The server advised a delay before the next reconnect (HTTP 503/429 with
 * Retry-After, close code 1013): call it before the CLOSED event. The next
 * reconnect waits max(backoff, delay capped at 5 min + 0-50 % jitter). While
 * waiting it may move the pending reconnect later (a SCHEDULE_RECONNECT). */
int32_t ka_retry_after_ns(int32_t h, uint64_t delay_ns, uint64_t now_ns);
int32_t ka_retry_after_ms(int32_t h, double delay_ms, double now_ms);
/* Changes the heartbeat interval and timeout of a live connection (server-
 * provided values). KA_OK or a config error; call ka_poll_timeout_* again. */
int32_t ka_set_heartbeat(int32_t h, double interval_ms, double timeout_ms);

/* When to send the next KA_EVENT_TICK: a soft deadline (earlier is harmless,
 * later delays heartbeats and reconnects). Never earlier than the latest
 * `now`. ns: KA_NO_TIMEOUT if none (deadlines clamp below it); ms: +INFINITY. */
int64_t ka_poll_timeout_ns(int32_t h);
double ka_poll_timeout_ms(int32_t h);

/* Makes the oldest unread action current and returns its KA_ACTION_* kind,
 * or KA_ACTION_NONE when none is left. */
int32_t ka_next(int32_t h);
/* Fields of the current action, or KA_ERR_NO_ACTION / KA_ERR_NO_FIELD. */
int64_t ka_action_transport(int32_t h);  /* CONNECT: the transport id (>= 1, fits uint32_t) */
int64_t ka_action_delay_ns(int32_t h);   /* SCHEDULE_RECONNECT: the delay */
double ka_action_delay_ms(int32_t h);
int64_t ka_action_attempt(int32_t h);    /* SCHEDULE_RECONNECT: attempt (1 = first); GIVE_UP: attempts */
int32_t ka_action_reason(int32_t h);     /* CLOSE: KA_REASON_* */

/* Queries. */
int32_t ka_state(int32_t h);             /* KA_STATE_* */
int64_t ka_attempt(int32_t h);           /* reconnects since the last connection that stayed up */
int64_t ka_transport(int32_t h);         /* the live transport's id, 0 if none */
int64_t ka_rtt_ns(int32_t h);            /* smoothed heartbeat RTT, 0 before the first PONG */
double ka_rtt_ms(int32_t h);

#ifdef __cplusplus
}
#endif

#endif /* KEEPALIVE_H */
