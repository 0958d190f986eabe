"""keepalive-ffi from Python through ctypes: the article's timeline.

    python3 ffi/tests/python/test_ctypes.py path/to/libkeepalive_ffi.so

Runs the article's client (60 s heartbeat, 60 s timeout, fixed 2 s) through
an outage in virtual time and checks each action and its time, then the
error paths a Python caller meets: a freed handle and a bad config value.
Standard library only; exits non-zero on the first failed check.
"""

import ctypes
import sys

NS = 1_000_000_000
EVENT_OPENED, EVENT_MESSAGE, EVENT_PONG, EVENT_ERROR, EVENT_CLOSED, EVENT_TICK = 1, 2, 3, 4, 5, 7
CONNECT, SEND_HEARTBEAT, CLOSE, ABORT, SCHEDULE_RECONNECT, GIVE_UP = 1, 2, 3, 4, 5, 6
STATE_OPEN, STATE_WAITING = 2, 4
ERR_STALE_HANDLE = -2


def load(path):
    ka = ctypes.CDLL(path)
    i32, u32, i64, u64, f64 = (ctypes.c_int32, ctypes.c_uint32, ctypes.c_int64,
                               ctypes.c_uint64, ctypes.c_double)
    signatures = {
        "ka_abi_version": ([], i32),
        "ka_config_article": ([], i32),
        "ka_config_set_connect_timeout": ([i32, f64], i32),
        "ka_new": ([i32], i32),
        "ka_free": ([i32], i32),
        "ka_connect_ns": ([i32, u64], i32),
        "ka_handle_ns": ([i32, i32, u64], i32),
        "ka_handle_from_ns": ([i32, u32, i32, u64], i32),
        "ka_poll_timeout_ns": ([i32], i64),
        "ka_next": ([i32], i32),
        "ka_action_transport": ([i32], i64),
        "ka_action_delay_ns": ([i32], i64),
        "ka_action_attempt": ([i32], i64),
        "ka_state": ([i32], i32),
    }
    for name, (args, result) in signatures.items():
        fn = getattr(ka, name)
        fn.argtypes, fn.restype = args, result
    return ka


def actions(ka, h, count):
    """Reads `count` queued actions as (kind, detail) pairs."""
    assert count >= 0, f"error code {count}"
    out = []
    for _ in range(count):
        kind = ka.ka_next(h)
        if kind == CONNECT:
            out.append((kind, ka.ka_action_transport(h)))
        elif kind == SCHEDULE_RECONNECT:
            out.append((kind, (ka.ka_action_delay_ns(h), ka.ka_action_attempt(h))))
        else:
            out.append((kind, None))
    assert ka.ka_next(h) == 0, "more actions than announced"
    return out


def main(path):
    ka = load(path)
    assert ka.ka_abi_version() == 1

    cfg = ka.ka_config_article()
    h = ka.ka_new(cfg)
    assert h > 0 and ka.ka_free(cfg) == 0

    # t = 0: connect; the socket opens at once.
    [(kind, first)] = actions(ka, h, ka.ka_connect_ns(h, 0))
    assert kind == CONNECT and first == 1
    assert actions(ka, h, ka.ka_handle_from_ns(h, first, EVENT_OPENED, 0)) == []
    assert ka.ka_state(h) == STATE_OPEN

    # A message at 10 s postpones the heartbeat to 70 s.
    actions(ka, h, ka.ka_handle_from_ns(h, first, EVENT_MESSAGE, 10 * NS))
    t = ka.ka_poll_timeout_ns(h)
    assert t == 70 * NS, t
    assert actions(ka, h, ka.ka_handle_ns(h, EVENT_TICK, t)) == [(SEND_HEARTBEAT, None)]

    # The server is gone: 60 s later, only a close.
    t = ka.ka_poll_timeout_ns(h)
    assert t == 130 * NS, t
    [(kind, _)] = actions(ka, h, ka.ka_handle_ns(h, EVENT_TICK, t))
    assert kind == CLOSE

    # onerror and onclose both fire: one reconnect, in 2 s.
    assert actions(ka, h, ka.ka_handle_from_ns(h, first, EVENT_ERROR, t)) == []
    got = actions(ka, h, ka.ka_handle_from_ns(h, first, EVENT_CLOSED, t))
    assert got == [(SCHEDULE_RECONNECT, (2 * NS, 1))], got
    assert actions(ka, h, ka.ka_handle_from_ns(h, first, EVENT_CLOSED, t)) == []
    assert ka.ka_state(h) == STATE_WAITING

    # At 132 s the reconnect; the old socket's late close is ignored.
    t = ka.ka_poll_timeout_ns(h)
    assert t == 132 * NS, t
    [(kind, second)] = actions(ka, h, ka.ka_handle_ns(h, EVENT_TICK, t))
    assert kind == CONNECT and second == 2
    assert actions(ka, h, ka.ka_handle_from_ns(h, first, EVENT_CLOSED, t)) == []
    actions(ka, h, ka.ka_handle_from_ns(h, second, EVENT_OPENED, t + NS // 10))
    assert ka.ka_state(h) == STATE_OPEN

    # Error paths: a freed handle is an error code, never a crash; a bad
    # config value is refused with its own code and changes nothing.
    assert ka.ka_free(h) == 0
    assert ka.ka_connect_ns(h, 0) == ERR_STALE_HANDLE
    assert ka.ka_free(h) == ERR_STALE_HANDLE
    cfg = ka.ka_config_article()
    assert ka.ka_config_set_connect_timeout(cfg, 0.0) < 0
    assert ka.ka_free(cfg) == 0
    print("python ctypes: article timeline, stale handle and bad config: ok")


if __name__ == "__main__":
    main(sys.argv[1])
