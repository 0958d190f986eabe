/*
 * Drives keepalive through its C ABI: the article's timeline through an
 * outage and back, the lock and close rules, and every error path. Built by
 * ffi/tests/c_api.rs with -Wall -Wextra -Werror and ASan + UBSan.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "keepalive.h"

static int failures = 0;

#define CHECK_EQ(got, want)                                                                  \
    do {                                                                                     \
        long long got_ = (long long)(got), want_ = (long long)(want);                        \
        if (got_ != want_) {                                                                 \
            fprintf(stderr, "%s:%d: %s == %lld, want %s == %lld\n", __FILE__, __LINE__, #got, \
                    got_, #want, want_);                                                     \
            failures++;                                                                      \
        }                                                                                    \
    } while (0)

#define CHECK(cond)                                                           \
    do {                                                                      \
        if (!(cond)) {                                                        \
            fprintf(stderr, "%s:%d: failed: %s\n", __FILE__, __LINE__, #cond); \
            failures++;                                                       \
        }                                                                     \
    } while (0)

#define SEC 1000000000ULL
#define MS 1000000ULL

/* Expects exactly one unread action of `kind` and makes it current. */
static void expect_one(int32_t h, int32_t queued, int32_t kind, int line) {
    if (queued != 1) {
        fprintf(stderr, "api_test.c:%d: %d actions queued, want 1\n", line, queued);
        failures++;
    }
    int32_t got = ka_next(h);
    if (got != kind) {
        fprintf(stderr, "api_test.c:%d: action %d, want %d\n", line, got, kind);
        failures++;
    }
}
#define EXPECT_ONE(h, queued, kind) expect_one((h), (queued), (kind), __LINE__)

/* The article's parameters, seeded: 60 s heartbeat, 60 s timeout, fixed 2 s. */
static int32_t article_connection(void) {
    int32_t cfg = ka_config_article();
    CHECK(cfg > 0);
    CHECK_EQ(ka_config_set_seed(cfg, 42), KA_OK);
    int32_t h = ka_new(cfg);
    CHECK(h > 0);
    CHECK_EQ(ka_free(cfg), KA_OK);
    return h;
}

static void article_timeline_through_an_outage(void) {
    int32_t h = article_connection();
    CHECK_EQ(ka_state(h), KA_STATE_IDLE);
    CHECK_EQ(ka_poll_timeout_ns(h), KA_NO_TIMEOUT);
    CHECK(isinf(ka_poll_timeout_ms(h)) && ka_poll_timeout_ms(h) > 0);

    /* t=0: connect, the socket opens at once. */
    EXPECT_ONE(h, ka_connect_ns(h, 0), KA_ACTION_CONNECT);
    int64_t first = ka_action_transport(h);
    CHECK_EQ(first, 1);
    CHECK_EQ(ka_transport(h), 1);
    CHECK_EQ(ka_handle_from_ns(h, (uint32_t)first, KA_EVENT_OPENED, 0), 0);
    CHECK_EQ(ka_state(h), KA_STATE_OPEN);
    CHECK_EQ(ka_poll_timeout_ns(h), 60 * SEC);

    /* A message at 30 s moves the heartbeat to 90 s (heartCheck.reset().start()). */
    CHECK_EQ(ka_handle_from_ns(h, 1, KA_EVENT_MESSAGE, 30 * SEC), 0);
    CHECK_EQ(ka_poll_timeout_ns(h), 90 * SEC);
    CHECK_EQ(ka_handle_ns(h, KA_EVENT_TICK, 89 * SEC), 0); /* early tick: nothing */
    EXPECT_ONE(h, ka_handle_ns(h, KA_EVENT_TICK, 90 * SEC), KA_ACTION_SEND_HEARTBEAT);
    CHECK_EQ(ka_next(h), KA_ACTION_NONE);
    /* The answer 50 ms later: an RTT sample, next heartbeat 60 s after it. */
    CHECK_EQ(ka_handle_from_ns(h, 1, KA_EVENT_PONG, 90 * SEC + 50 * MS), 0);
    CHECK_EQ(ka_rtt_ns(h), 50 * MS);
    CHECK(ka_rtt_ms(h) == 50.0);
    CHECK_EQ(ka_poll_timeout_ns(h), 150 * SEC + 50 * MS);
    CHECK(ka_poll_timeout_ms(h) == 150050.0);

    /* The server dies silently: heartbeat at 150.05 s, unanswered for 60 s. */
    uint64_t t = 150 * SEC + 50 * MS;
    EXPECT_ONE(h, ka_handle_ns(h, KA_EVENT_TICK, t), KA_ACTION_SEND_HEARTBEAT);
    CHECK_EQ(ka_poll_timeout_ns(h), t + 60 * SEC);
    t += 60 * SEC;
    EXPECT_ONE(h, ka_handle_ns(h, KA_EVENT_TICK, t), KA_ACTION_CLOSE);
    CHECK_EQ(ka_action_reason(h), KA_REASON_HEARTBEAT_TIMEOUT);
    CHECK_EQ(ka_state(h), KA_STATE_CLOSING);

    /* Double-close rule: the reconnect comes from the Closed, once. */
    EXPECT_ONE(h, ka_handle_from_ns(h, 1, KA_EVENT_CLOSED, t + 10 * MS), KA_ACTION_SCHEDULE_RECONNECT);
    CHECK_EQ(ka_action_delay_ns(h), 2 * SEC);
    CHECK(ka_action_delay_ms(h) == 2000.0);
    CHECK_EQ(ka_action_attempt(h), 1);
    CHECK_EQ(ka_state(h), KA_STATE_WAITING);
    CHECK_EQ(ka_transport(h), 0);
    t += 10 * MS;
    CHECK_EQ(ka_poll_timeout_ns(h), t + 2 * SEC);

    /* Lock rule: a late error and close of the dead socket change nothing. */
    CHECK_EQ(ka_handle_from_ns(h, 1, KA_EVENT_ERROR, t + 1 * MS), 0);
    CHECK_EQ(ka_handle_from_ns(h, 1, KA_EVENT_CLOSED, t + 2 * MS), 0);
    CHECK_EQ(ka_handle_ns(h, KA_EVENT_CLOSED, t + 3 * MS), 0);
    CHECK_EQ(ka_poll_timeout_ns(h), t + 2 * SEC);

    /* 2 s later: socket #2, which fails to connect while the server is down. */
    t += 2 * SEC;
    EXPECT_ONE(h, ka_handle_ns(h, KA_EVENT_TICK, t), KA_ACTION_CONNECT);
    CHECK_EQ(ka_action_transport(h), 2);
    CHECK_EQ(ka_handle_from_ns(h, 2, KA_EVENT_ERROR, t + 5 * MS), 1);
    CHECK_EQ(ka_next(h), KA_ACTION_CLOSE);
    CHECK_EQ(ka_action_reason(h), KA_REASON_ERROR);
    EXPECT_ONE(h, ka_handle_from_ns(h, 2, KA_EVENT_CLOSED, t + 6 * MS), KA_ACTION_SCHEDULE_RECONNECT);
    CHECK_EQ(ka_action_attempt(h), 2);
    CHECK_EQ(ka_attempt(h), 2);
    t += 6 * MS;

    /* The server is back: socket #3 opens. */
    t += 2 * SEC;
    EXPECT_ONE(h, ka_handle_ns(h, KA_EVENT_TICK, t), KA_ACTION_CONNECT);
    CHECK_EQ(ka_action_transport(h), 3);
    CHECK_EQ(ka_handle_from_ns(h, 3, KA_EVENT_OPENED, t), 0);
    CHECK_EQ(ka_state(h), KA_STATE_OPEN);
    /* After min_uptime (5 s by default) the attempt counter resets. */
    CHECK_EQ(ka_handle_from_ns(h, 3, KA_EVENT_MESSAGE, t + 6 * SEC), 0);
    CHECK_EQ(ka_attempt(h), 0);

    /* Close is final: Close(user), then silence; no deadline once ended. */
    t += 7 * SEC;
    EXPECT_ONE(h, ka_close_ns(h, t), KA_ACTION_CLOSE);
    CHECK_EQ(ka_action_reason(h), KA_REASON_USER);
    CHECK_EQ(ka_handle_from_ns(h, 3, KA_EVENT_CLOSED, t + 1 * MS), 0);
    CHECK_EQ(ka_state(h), KA_STATE_STOPPED);
    CHECK_EQ(ka_poll_timeout_ns(h), KA_NO_TIMEOUT);
    CHECK_EQ(ka_handle_ns(h, KA_EVENT_TICK, t + 3600 * SEC), 0);

    CHECK_EQ(ka_free(h), KA_OK);
}

static void abort_after_close_timeout_and_give_up(void) {
    int32_t cfg = ka_config_new();
    CHECK_EQ(ka_config_set_backoff(cfg, KA_BACKOFF_EXPONENTIAL, 100, 400, 2.0, KA_JITTER_NONE), KA_OK);
    CHECK_EQ(ka_config_set_max_attempts(cfg, 2), KA_OK);
    CHECK_EQ(ka_config_set_close_timeout(cfg, 1000), KA_OK);
    CHECK_EQ(ka_config_set_connect_timeout(cfg, 3000), KA_OK);
    CHECK_EQ(ka_config_set_seed(cfg, 1), KA_OK);
    int32_t h = ka_new(cfg);
    CHECK_EQ(ka_free(cfg), KA_OK);

    /* The ms variants, as JavaScript uses them. */
    EXPECT_ONE(h, ka_connect_ms(h, 0.0), KA_ACTION_CONNECT);
    /* Never opens: the connect timeout closes it, and the close never ends. */
    CHECK(ka_poll_timeout_ms(h) == 3000.0);
    EXPECT_ONE(h, ka_handle_ms(h, KA_EVENT_TICK, 3000.0), KA_ACTION_CLOSE);
    CHECK_EQ(ka_action_reason(h), KA_REASON_CONNECT_TIMEOUT);
    CHECK(ka_poll_timeout_ms(h) == 4000.0);
    CHECK_EQ(ka_handle_ms(h, KA_EVENT_TICK, 4000.0), 2);
    CHECK_EQ(ka_next(h), KA_ACTION_ABORT);
    CHECK_EQ(ka_next(h), KA_ACTION_SCHEDULE_RECONNECT);
    CHECK(ka_action_delay_ms(h) == 100.0);
    CHECK_EQ(ka_action_attempt(h), 1);
    CHECK_EQ(ka_next(h), KA_ACTION_NONE);

    EXPECT_ONE(h, ka_handle_ms(h, KA_EVENT_TICK, 4100.0), KA_ACTION_CONNECT);
    int64_t id = ka_action_transport(h);
    EXPECT_ONE(h, ka_handle_from_ms(h, (uint32_t)id, KA_EVENT_CLOSED, 4150.0),
               KA_ACTION_SCHEDULE_RECONNECT);
    CHECK(ka_action_delay_ms(h) == 200.0);
    EXPECT_ONE(h, ka_handle_ms(h, KA_EVENT_TICK, 4350.0), KA_ACTION_CONNECT);
    id = ka_action_transport(h);
    /* Two reconnects tried: the third disconnect gives up. */
    EXPECT_ONE(h, ka_handle_from_ms(h, (uint32_t)id, KA_EVENT_CLOSED, 4400.0), KA_ACTION_GIVE_UP);
    CHECK_EQ(ka_action_attempt(h), 2);
    CHECK_EQ(ka_state(h), KA_STATE_FAILED);
    CHECK(isinf(ka_poll_timeout_ms(h)));

    /* Rejected: give up at once, no reconnect. */
    EXPECT_ONE(h, ka_connect_ms(h, 5000.0), KA_ACTION_CONNECT);
    id = ka_action_transport(h);
    EXPECT_ONE(h, ka_handle_from_ms(h, (uint32_t)id, KA_EVENT_REJECTED, 5001.0), KA_ACTION_GIVE_UP);
    CHECK_EQ(ka_state(h), KA_STATE_FAILED);

    /* A live heartbeat change. */
    EXPECT_ONE(h, ka_connect_ms(h, 6000.0), KA_ACTION_CONNECT);
    CHECK_EQ(ka_handle_ms(h, KA_EVENT_OPENED, 6000.0), 0);
    CHECK(ka_poll_timeout_ms(h) == 31000.0);
    CHECK_EQ(ka_set_heartbeat(h, 10000.0, 5000.0), KA_OK);
    CHECK(ka_poll_timeout_ms(h) == 16000.0);
    CHECK_EQ(ka_set_heartbeat(h, 0.0, 5000.0), KA_ERR_TOO_SHORT_HEARTBEAT_INTERVAL);
    CHECK_EQ(ka_set_heartbeat(h, NAN, 5000.0), KA_ERR_INVALID_ARGUMENT);
    CHECK(ka_poll_timeout_ms(h) == 16000.0);

    /* Close 1013 advising 10 s: the one reconnect waits 10-15 s, not 2 s;
     * advice while waiting only moves it later. */
    CHECK_EQ(ka_retry_after_ms(h, 10000.0, 7000.0), 0);
    CHECK_EQ(ka_retry_after_ms(h, NAN, 7000.0), KA_ERR_INVALID_ARGUMENT);
    EXPECT_ONE(h, ka_handle_ms(h, KA_EVENT_CLOSED, 7000.0), KA_ACTION_SCHEDULE_RECONNECT);
    double delay = ka_action_delay_ms(h);
    CHECK(delay >= 10000.0 && delay <= 15000.0);
    CHECK(ka_poll_timeout_ms(h) == 7000.0 + delay);
    CHECK_EQ(ka_retry_after_ns(h, 1000000000ull, 7000000000ull), 0);
    CHECK(ka_poll_timeout_ms(h) == 7000.0 + delay);
    CHECK_EQ(ka_free(h), KA_OK);
}

static void handle_errors(void) {
    int32_t cfg = ka_config_article();
    int32_t h = ka_new(cfg);
    CHECK(h > 0);

    /* Invented handles. */
    int32_t bad[] = {0, -1, INT32_MIN, 0x10000, 1, INT32_MAX, h + 1000};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK_EQ(ka_connect_ns(bad[i], 0), KA_ERR_BAD_HANDLE);
        CHECK_EQ(ka_state(bad[i]), KA_ERR_BAD_HANDLE);
        CHECK_EQ(ka_free(bad[i]), KA_ERR_BAD_HANDLE);
        CHECK_EQ(ka_poll_timeout_ns(bad[i]), KA_ERR_BAD_HANDLE);
        CHECK(ka_poll_timeout_ms(bad[i]) == (double)KA_ERR_BAD_HANDLE);
    }

    /* A config where a connection is expected, and the reverse. */
    CHECK_EQ(ka_connect_ns(cfg, 0), KA_ERR_WRONG_HANDLE);
    CHECK_EQ(ka_next(cfg), KA_ERR_WRONG_HANDLE);
    CHECK_EQ(ka_new(h), KA_ERR_WRONG_HANDLE);
    CHECK_EQ(ka_config_set_seed(h, 1), KA_ERR_WRONG_HANDLE);

    /* Bad arguments: the input is not applied. */
    CHECK_EQ(ka_handle_ns(h, 0, 0), KA_ERR_INVALID_ARGUMENT);
    CHECK_EQ(ka_handle_ns(h, 8, 0), KA_ERR_INVALID_ARGUMENT);
    CHECK_EQ(ka_handle_from_ms(h, 1, -3, 0.0), KA_ERR_INVALID_ARGUMENT);
    CHECK_EQ(ka_connect_ms(h, NAN), KA_ERR_INVALID_ARGUMENT);
    CHECK_EQ(ka_state(h), KA_STATE_IDLE);
    /* ...but a bad handle is reported before a bad argument. */
    CHECK_EQ(ka_handle_ms(0, 99, NAN), KA_ERR_BAD_HANDLE);

    /* Accessors without a current action, and fields the action lacks. */
    CHECK_EQ(ka_action_transport(h), KA_ERR_NO_ACTION);
    CHECK_EQ(ka_action_reason(h), KA_ERR_NO_ACTION);
    CHECK(ka_action_delay_ms(h) == (double)KA_ERR_NO_ACTION);
    EXPECT_ONE(h, ka_connect_ns(h, 0), KA_ACTION_CONNECT);
    CHECK_EQ(ka_action_delay_ns(h), KA_ERR_NO_FIELD);
    CHECK(ka_action_delay_ms(h) == (double)KA_ERR_NO_FIELD);
    CHECK_EQ(ka_action_attempt(h), KA_ERR_NO_FIELD);
    CHECK_EQ(ka_action_reason(h), KA_ERR_NO_FIELD);
    CHECK_EQ(ka_next(h), KA_ACTION_NONE);
    CHECK_EQ(ka_action_transport(h), KA_ERR_NO_ACTION);

    /* Unread actions pile up to 7; the next input is refused, not applied. */
    uint64_t t = 0;
    int32_t queued = 0;
    for (int round = 0; queued < 7; round++) {
        uint32_t id = (uint32_t)ka_transport(h);
        queued = ka_handle_from_ns(h, id, KA_EVENT_ERROR, t);    /* Close */
        if (queued < 7) queued = ka_handle_from_ns(h, id, KA_EVENT_CLOSED, t); /* ScheduleReconnect */
        t += 3 * SEC;
        if (queued < 7) queued = ka_handle_ns(h, KA_EVENT_TICK, t); /* Connect */
        CHECK(round < 4);
        CHECK(queued > 0);
    }
    CHECK_EQ(queued, 7);
    CHECK_EQ(ka_state(h), KA_STATE_CLOSING);
    CHECK_EQ(ka_handle_ns(h, KA_EVENT_CLOSED, t), KA_ERR_QUEUE_FULL);
    CHECK_EQ(ka_state(h), KA_STATE_CLOSING); /* not applied */
    CHECK_EQ(ka_next(h), KA_ACTION_CLOSE);    /* oldest first */
    CHECK_EQ(ka_next(h), KA_ACTION_SCHEDULE_RECONNECT);
    CHECK_EQ(ka_handle_ns(h, KA_EVENT_CLOSED, t), 6);
    CHECK_EQ(ka_state(h), KA_STATE_WAITING);
    while (ka_next(h) > 0) {
    }

    /* Free: the handle goes stale for good, even when its slot is reused. */
    CHECK_EQ(ka_free(h), KA_OK);
    CHECK_EQ(ka_free(h), KA_ERR_STALE_HANDLE); /* double free */
    CHECK_EQ(ka_connect_ns(h, 0), KA_ERR_STALE_HANDLE);
    CHECK_EQ(ka_next(h), KA_ERR_STALE_HANDLE);
    CHECK_EQ(ka_action_transport(h), KA_ERR_STALE_HANDLE);
    CHECK_EQ(ka_rtt_ns(h), KA_ERR_STALE_HANDLE);
    CHECK(ka_rtt_ms(h) == (double)KA_ERR_STALE_HANDLE);
    CHECK_EQ(ka_attempt(h), KA_ERR_STALE_HANDLE);
    CHECK_EQ(ka_transport(h), KA_ERR_STALE_HANDLE);
    CHECK_EQ(ka_set_heartbeat(h, 1000.0, 1000.0), KA_ERR_STALE_HANDLE);
    int32_t again = ka_new(cfg);
    CHECK(again > 0 && again != h);
    CHECK_EQ(ka_state(h), KA_ERR_STALE_HANDLE);
    CHECK_EQ(ka_state(again), KA_STATE_IDLE);
    CHECK_EQ(ka_free(again), KA_OK);
    CHECK_EQ(ka_free(cfg), KA_OK);
    CHECK_EQ(ka_config_set_seed(cfg, 1), KA_ERR_STALE_HANDLE);
    CHECK_EQ(ka_new(cfg), KA_ERR_STALE_HANDLE);
}

/* Each bad setting gets its own code, and leaves the config as it was. */
static void config_errors(void) {
    int32_t c = ka_config_new();
    const double too_long = 5e9; /* > UINT32_MAX ms */
    CHECK_EQ(ka_config_set_heartbeat(c, KA_HEARTBEAT_IDLE, 0, 1000), KA_ERR_TOO_SHORT_HEARTBEAT_INTERVAL);
    CHECK_EQ(ka_config_set_heartbeat(c, KA_HEARTBEAT_IDLE, 1000, 0.5), KA_ERR_TOO_SHORT_HEARTBEAT_TIMEOUT);
    CHECK_EQ(ka_config_set_connect_timeout(c, 0), KA_ERR_TOO_SHORT_CONNECT_TIMEOUT);
    CHECK_EQ(ka_config_set_close_timeout(c, -1), KA_ERR_TOO_SHORT_CLOSE_TIMEOUT);
    CHECK_EQ(ka_config_set_min_uptime(c, 0.5), KA_ERR_TOO_SHORT_MIN_UPTIME);
    CHECK_EQ(ka_config_set_backoff(c, KA_BACKOFF_FIXED, 0, 0, 0, KA_JITTER_NONE), KA_ERR_TOO_SHORT_BACKOFF_DELAY);
    CHECK_EQ(ka_config_set_backoff(c, KA_BACKOFF_EXPONENTIAL, 0, 1000, 2, KA_JITTER_FULL), KA_ERR_TOO_SHORT_BACKOFF_INITIAL);
    CHECK_EQ(ka_config_set_backoff(c, KA_BACKOFF_EXPONENTIAL, 0.5, 0, 2, KA_JITTER_FULL), KA_ERR_TOO_SHORT_BACKOFF_INITIAL);
    CHECK_EQ(ka_config_set_backoff(c, KA_BACKOFF_EXPONENTIAL, 1, 0, 2, KA_JITTER_FULL), KA_ERR_TOO_SHORT_BACKOFF_MAX);

    CHECK_EQ(ka_config_set_heartbeat(c, KA_HEARTBEAT_IDLE, too_long, 1000), KA_ERR_TOO_LONG_HEARTBEAT_INTERVAL);
    CHECK_EQ(ka_config_set_heartbeat(c, KA_HEARTBEAT_IDLE, 1000, INFINITY), KA_ERR_TOO_LONG_HEARTBEAT_TIMEOUT);
    CHECK_EQ(ka_config_set_connect_timeout(c, too_long), KA_ERR_TOO_LONG_CONNECT_TIMEOUT);
    CHECK_EQ(ka_config_set_close_timeout(c, too_long), KA_ERR_TOO_LONG_CLOSE_TIMEOUT);
    CHECK_EQ(ka_config_set_min_uptime(c, too_long), KA_ERR_TOO_LONG_MIN_UPTIME);
    CHECK_EQ(ka_config_set_backoff(c, KA_BACKOFF_FIXED, too_long, 0, 0, KA_JITTER_NONE), KA_ERR_TOO_LONG_BACKOFF_DELAY);
    CHECK_EQ(ka_config_set_backoff(c, KA_BACKOFF_EXPONENTIAL, too_long, too_long, 2, KA_JITTER_NONE), KA_ERR_TOO_LONG_BACKOFF_INITIAL);
    CHECK_EQ(ka_config_set_backoff(c, KA_BACKOFF_EXPONENTIAL, 1000, too_long, 2, KA_JITTER_NONE), KA_ERR_TOO_LONG_BACKOFF_MAX);

    CHECK_EQ(ka_config_set_heartbeat(c, KA_HEARTBEAT_FIXED, 1000, 2000), KA_ERR_TIMEOUT_EXCEEDS_INTERVAL);
    CHECK_EQ(ka_config_set_backoff(c, KA_BACKOFF_EXPONENTIAL, 1000, 2000, 0.5, KA_JITTER_NONE), KA_ERR_INVALID_FACTOR);
    CHECK_EQ(ka_config_set_backoff(c, KA_BACKOFF_EXPONENTIAL, 1000, 2000, NAN, KA_JITTER_NONE), KA_ERR_INVALID_FACTOR);
    CHECK_EQ(ka_config_set_backoff(c, KA_BACKOFF_EXPONENTIAL, 1000, 2000, INFINITY, KA_JITTER_NONE), KA_ERR_INVALID_FACTOR);
    CHECK_EQ(ka_config_set_backoff(c, KA_BACKOFF_EXPONENTIAL, 3000, 2000, 2, KA_JITTER_NONE), KA_ERR_INITIAL_EXCEEDS_MAX);
    CHECK_EQ(ka_config_set_max_attempts(c, 0), KA_ERR_ZERO_MAX_ATTEMPTS);

    CHECK_EQ(ka_config_set_heartbeat(c, 3, 1000, 1000), KA_ERR_INVALID_ARGUMENT);
    CHECK_EQ(ka_config_set_heartbeat(c, KA_HEARTBEAT_IDLE, NAN, 1000), KA_ERR_INVALID_ARGUMENT);
    CHECK_EQ(ka_config_set_backoff(c, 2, 1000, 2000, 2, KA_JITTER_NONE), KA_ERR_INVALID_ARGUMENT);
    CHECK_EQ(ka_config_set_backoff(c, KA_BACKOFF_FIXED, 1000, 0, 0, 4), KA_ERR_INVALID_ARGUMENT);
    CHECK_EQ(ka_config_set_connect_timeout(c, NAN), KA_ERR_INVALID_ARGUMENT);

    /* Valid settings pass; heartbeats off ignores their durations. */
    CHECK_EQ(ka_config_set_heartbeat(c, KA_HEARTBEAT_OFF, 0, 0), KA_OK);
    CHECK_EQ(ka_config_set_heartbeat(c, KA_HEARTBEAT_FIXED, 2000, 2000), KA_OK);
    CHECK_EQ(ka_config_set_min_uptime(c, 0), KA_OK);
    CHECK_EQ(ka_config_set_max_attempts(c, KA_UNLIMITED_ATTEMPTS), KA_OK);
    CHECK_EQ(ka_config_set_backoff(c, KA_BACKOFF_EXPONENTIAL, 1000, 120000, 1.6, KA_JITTER_DECORRELATED), KA_OK);

    /* After all those refusals the config still builds a connection. */
    int32_t h = ka_new(c);
    CHECK(h > 0);
    CHECK_EQ(ka_free(h), KA_OK);
    CHECK_EQ(ka_free(c), KA_OK);
}

/* 65535 live objects fill the table; freeing one makes room. */
static void table_full(void) {
    enum { N = 65535 };
    int32_t *handles = malloc(sizeof(int32_t) * N);
    CHECK(handles != NULL);
    if (handles == NULL) return;
    int32_t made = 0;
    for (; made < N; made++) {
        handles[made] = ka_config_new();
        if (handles[made] < 0) break;
    }
    CHECK_EQ(made, N);
    CHECK_EQ(ka_config_new(), KA_ERR_TABLE_FULL);
    CHECK_EQ(ka_free(handles[100]), KA_OK);
    int32_t again = ka_config_new();
    CHECK(again > 0);
    CHECK_EQ(ka_free(again), KA_OK);
    for (int32_t i = 0; i < made; i++) {
        if (i != 100) CHECK_EQ(ka_free(handles[i]), KA_OK);
    }
    free(handles);
}

int main(void) {
    CHECK_EQ(ka_abi_version(), KA_ABI_VERSION);
    article_timeline_through_an_outage();
    abort_after_close_timeout_and_give_up();
    handle_errors();
    config_errors();
    table_full();
    if (failures) {
        fprintf(stderr, "%d check(s) failed\n", failures);
        return 1;
    }
    printf("api_test: all checks passed\n");
    return 0;
}
