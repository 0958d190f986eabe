// keepalive-ffi from Go through cgo: the article's timeline.
//
//	CGO_LDFLAGS="path/to/libkeepalive_ffi.a -lpthread -ldl -lm" go run .
//
// Runs the article's client (60 s heartbeat, 60 s timeout, fixed 2 s)
// through a dead server in virtual time, checks each action and its time,
// and the stale-handle error path. Exits non-zero on the first failed check.
package main

// #cgo CFLAGS: -I${SRCDIR}/../..
// #include "keepalive.h"
import "C"

import (
	"fmt"
	"os"
)

const ns = uint64(1_000_000_000)

func check(ok bool, format string, args ...interface{}) {
	if !ok {
		fmt.Fprintf(os.Stderr, "go cgo: "+format+"\n", args...)
		os.Exit(1)
	}
}

// next makes the only action an input produced current (its fields can
// then be read) and returns its kind.
func next(h C.int32_t, queued C.int32_t) C.int32_t {
	check(queued == 1, "expected one action, got %d", queued)
	return C.ka_next(h)
}

func main() {
	check(C.ka_abi_version() == C.KA_ABI_VERSION, "ABI version")
	cfg := C.ka_config_article()
	h := C.ka_new(cfg)
	check(h > 0 && C.ka_free(cfg) == C.KA_OK, "new: %d", h)

	check(next(h, C.ka_connect_ns(h, 0)) == C.KA_ACTION_CONNECT, "connect")
	id := C.uint32_t(C.ka_action_transport(h))
	check(C.ka_handle_from_ns(h, id, C.KA_EVENT_OPENED, 0) == 0, "opened")

	t := C.ka_poll_timeout_ns(h)
	check(uint64(t) == 60*ns, "heartbeat due at %d", t)
	check(next(h, C.ka_handle_ns(h, C.KA_EVENT_TICK, C.uint64_t(t))) == C.KA_ACTION_SEND_HEARTBEAT, "heartbeat")

	t = C.ka_poll_timeout_ns(h)
	check(uint64(t) == 120*ns, "timeout at %d", t)
	check(next(h, C.ka_handle_ns(h, C.KA_EVENT_TICK, C.uint64_t(t))) == C.KA_ACTION_CLOSE, "close")
	check(C.ka_action_reason(h) == C.KA_REASON_HEARTBEAT_TIMEOUT, "close reason")

	// onerror and onclose both fire: one reconnect, in 2 s.
	check(C.ka_handle_from_ns(h, id, C.KA_EVENT_ERROR, C.uint64_t(t)) == 0, "error")
	kind := next(h, C.ka_handle_from_ns(h, id, C.KA_EVENT_CLOSED, C.uint64_t(t)))
	check(kind == C.KA_ACTION_SCHEDULE_RECONNECT, "reconnect scheduled")
	check(uint64(C.ka_action_delay_ns(h)) == 2*ns && C.ka_action_attempt(h) == 1, "2 s, attempt 1")
	check(C.ka_handle_from_ns(h, id, C.KA_EVENT_CLOSED, C.uint64_t(t)) == 0, "second close ignored")

	t = C.ka_poll_timeout_ns(h)
	check(uint64(t) == 122*ns, "reconnect at %d", t)
	check(next(h, C.ka_handle_ns(h, C.KA_EVENT_TICK, C.uint64_t(t))) == C.KA_ACTION_CONNECT, "reconnect")
	check(C.ka_action_transport(h) == 2, "a new transport")

	check(C.ka_free(h) == C.KA_OK, "free")
	check(C.ka_connect_ns(h, 0) == C.KA_ERR_STALE_HANDLE, "stale handle")
	fmt.Println("go cgo: article timeline and stale handle: ok")
}
