//! Every number with a meaning that crosses the boundary: the ABI version,
//! error codes, and the values of events, actions, reasons, states, heartbeat
//! modes, backoff kinds and jitters.
//!
//! The names are the C names of `keepalive.h`, which a test compares with
//! this file (names and values). The values are stable: a value is never
//! reused for something else; a change that breaks callers bumps
//! [`KA_ABI_VERSION`].

#![forbid(unsafe_code)]

use keepalive::{Action, CloseReason, ConfigError, Event, Field, HeartbeatMode, Jitter, State};

/// The ABI this library implements; `ka_abi_version()` returns it. Compare
/// it with the header's `KA_ABI_VERSION` when loading the library.
pub const KA_ABI_VERSION: i32 = 1;

// ----- status and error codes (every input returns >= 0 or one of these) -----

/// Success (for functions that return no count or handle).
pub const KA_OK: i32 = 0;
/// Not a handle this library issued: zero, negative, or out of range.
pub const KA_ERR_BAD_HANDLE: i32 = -1;
/// The handle was freed (use after free, double free).
pub const KA_ERR_STALE_HANDLE: i32 = -2;
/// A config handle where a connection is expected, or the reverse.
pub const KA_ERR_WRONG_HANDLE: i32 = -3;
/// An unknown event, mode, backoff kind or jitter, or a NaN time or duration.
pub const KA_ERR_INVALID_ARGUMENT: i32 = -4;
/// 65 535 objects (configs and connections together) are alive.
pub const KA_ERR_TABLE_FULL: i32 = -5;
/// Too many actions are unread; the input was *not* applied. Read them
/// with `ka_next` and repeat the input.
pub const KA_ERR_QUEUE_FULL: i32 = -6;
/// An action accessor was called without a current action (call `ka_next`).
pub const KA_ERR_NO_ACTION: i32 = -7;
/// The current action has no such field (the delay of a `Connect`).
pub const KA_ERR_NO_FIELD: i32 = -8;

/// [`ConfigError::TimeoutExceedsInterval`].
pub const KA_ERR_TIMEOUT_EXCEEDS_INTERVAL: i32 = -10;
/// [`ConfigError::InvalidFactor`].
pub const KA_ERR_INVALID_FACTOR: i32 = -11;
/// [`ConfigError::InitialExceedsMax`].
pub const KA_ERR_INITIAL_EXCEEDS_MAX: i32 = -12;
/// [`ConfigError::EmptySteps`]. Reserved: step tables cannot be built
/// through this API, so it is never returned today.
pub const KA_ERR_EMPTY_STEPS: i32 = -13;
/// [`ConfigError::ZeroMaxAttempts`].
pub const KA_ERR_ZERO_MAX_ATTEMPTS: i32 = -14;

/// `TooShort(HeartbeatInterval)`: below 1 ms.
pub const KA_ERR_TOO_SHORT_HEARTBEAT_INTERVAL: i32 = -20;
/// `TooShort(HeartbeatTimeout)`.
pub const KA_ERR_TOO_SHORT_HEARTBEAT_TIMEOUT: i32 = -21;
/// `TooShort(ConnectTimeout)`.
pub const KA_ERR_TOO_SHORT_CONNECT_TIMEOUT: i32 = -22;
/// `TooShort(CloseTimeout)`.
pub const KA_ERR_TOO_SHORT_CLOSE_TIMEOUT: i32 = -23;
/// `TooShort(MinUptime)` (only for a non-zero value below 1 ms).
pub const KA_ERR_TOO_SHORT_MIN_UPTIME: i32 = -24;
/// `TooShort(BackoffDelay)`.
pub const KA_ERR_TOO_SHORT_BACKOFF_DELAY: i32 = -25;
/// `TooShort(BackoffInitial)`.
pub const KA_ERR_TOO_SHORT_BACKOFF_INITIAL: i32 = -26;
/// `TooShort(BackoffMax)`.
pub const KA_ERR_TOO_SHORT_BACKOFF_MAX: i32 = -27;
/// `TooShort(BackoffStep)`. Reserved, like [`KA_ERR_EMPTY_STEPS`].
pub const KA_ERR_TOO_SHORT_BACKOFF_STEP: i32 = -28;

/// `TooLong(HeartbeatInterval)`: above `u32::MAX` ms (about 49.7 days).
pub const KA_ERR_TOO_LONG_HEARTBEAT_INTERVAL: i32 = -30;
/// `TooLong(HeartbeatTimeout)`.
pub const KA_ERR_TOO_LONG_HEARTBEAT_TIMEOUT: i32 = -31;
/// `TooLong(ConnectTimeout)`.
pub const KA_ERR_TOO_LONG_CONNECT_TIMEOUT: i32 = -32;
/// `TooLong(CloseTimeout)`.
pub const KA_ERR_TOO_LONG_CLOSE_TIMEOUT: i32 = -33;
/// `TooLong(MinUptime)`.
pub const KA_ERR_TOO_LONG_MIN_UPTIME: i32 = -34;
/// `TooLong(BackoffDelay)`.
pub const KA_ERR_TOO_LONG_BACKOFF_DELAY: i32 = -35;
/// `TooLong(BackoffInitial)`.
pub const KA_ERR_TOO_LONG_BACKOFF_INITIAL: i32 = -36;
/// `TooLong(BackoffMax)`.
pub const KA_ERR_TOO_LONG_BACKOFF_MAX: i32 = -37;
/// `TooLong(BackoffStep)`. Reserved, like [`KA_ERR_EMPTY_STEPS`].
pub const KA_ERR_TOO_LONG_BACKOFF_STEP: i32 = -38;

// ----- sentinels -----

/// `ka_poll_timeout_ns`: no deadline (idle, stopped, failed, or open with
/// heartbeats off). `ka_poll_timeout_ms` returns `+Infinity` instead.
pub const KA_NO_TIMEOUT: i64 = i64::MAX;
/// `ka_config_set_max_attempts`: reconnect forever (the default).
pub const KA_UNLIMITED_ATTEMPTS: u32 = u32::MAX;

// ----- events (inputs of ka_handle_*) -----

/// [`Event::Opened`].
pub const KA_EVENT_OPENED: i32 = 1;
/// [`Event::Message`].
pub const KA_EVENT_MESSAGE: i32 = 2;
/// [`Event::Pong`].
pub const KA_EVENT_PONG: i32 = 3;
/// [`Event::Error`].
pub const KA_EVENT_ERROR: i32 = 4;
/// [`Event::Closed`].
pub const KA_EVENT_CLOSED: i32 = 5;
/// [`Event::Rejected`].
pub const KA_EVENT_REJECTED: i32 = 6;
/// [`Event::Tick`].
pub const KA_EVENT_TICK: i32 = 7;

// ----- actions (ka_next) -----

/// No action left to read.
pub const KA_ACTION_NONE: i32 = 0;
/// [`Action::Connect`]: read `ka_action_transport`.
pub const KA_ACTION_CONNECT: i32 = 1;
/// [`Action::SendHeartbeat`].
pub const KA_ACTION_SEND_HEARTBEAT: i32 = 2;
/// [`Action::Close`]: read `ka_action_reason`.
pub const KA_ACTION_CLOSE: i32 = 3;
/// [`Action::Abort`].
pub const KA_ACTION_ABORT: i32 = 4;
/// [`Action::ScheduleReconnect`]: read `ka_action_delay_*` and `ka_action_attempt`.
pub const KA_ACTION_SCHEDULE_RECONNECT: i32 = 5;
/// [`Action::GiveUp`]: read `ka_action_attempt`.
pub const KA_ACTION_GIVE_UP: i32 = 6;

// ----- close reasons (ka_action_reason) -----

/// [`CloseReason::HeartbeatTimeout`].
pub const KA_REASON_HEARTBEAT_TIMEOUT: i32 = 1;
/// [`CloseReason::ConnectTimeout`].
pub const KA_REASON_CONNECT_TIMEOUT: i32 = 2;
/// [`CloseReason::Error`].
pub const KA_REASON_ERROR: i32 = 3;
/// [`CloseReason::User`].
pub const KA_REASON_USER: i32 = 4;

// ----- states (ka_state) -----

/// [`State::Idle`].
pub const KA_STATE_IDLE: i32 = 0;
/// [`State::Connecting`].
pub const KA_STATE_CONNECTING: i32 = 1;
/// [`State::Open`].
pub const KA_STATE_OPEN: i32 = 2;
/// [`State::Closing`].
pub const KA_STATE_CLOSING: i32 = 3;
/// [`State::Waiting`].
pub const KA_STATE_WAITING: i32 = 4;
/// [`State::Stopped`].
pub const KA_STATE_STOPPED: i32 = 5;
/// [`State::Failed`].
pub const KA_STATE_FAILED: i32 = 6;

// ----- config values -----

/// [`HeartbeatMode::Idle`] (the article's).
pub const KA_HEARTBEAT_IDLE: i32 = 0;
/// [`HeartbeatMode::Fixed`].
pub const KA_HEARTBEAT_FIXED: i32 = 1;
/// [`HeartbeatMode::Off`].
pub const KA_HEARTBEAT_OFF: i32 = 2;

/// `Backoff::fixed(initial)`: `max` and `factor` are ignored.
pub const KA_BACKOFF_FIXED: i32 = 0;
/// `Backoff::exponential(initial, max).with_factor(factor)`.
pub const KA_BACKOFF_EXPONENTIAL: i32 = 1;

/// [`Jitter::None`].
pub const KA_JITTER_NONE: i32 = 0;
/// [`Jitter::Full`].
pub const KA_JITTER_FULL: i32 = 1;
/// [`Jitter::Equal`].
pub const KA_JITTER_EQUAL: i32 = 2;
/// [`Jitter::Decorrelated`].
pub const KA_JITTER_DECORRELATED: i32 = 3;

// ----- conversions -----

/// The stable code of a config error: one per variant, and for
/// `TooShort`/`TooLong` one per field.
pub(crate) const fn config_error(err: ConfigError) -> i32 {
    match err {
        ConfigError::TooShort(field) => -20 - field_index(field),
        ConfigError::TooLong(field) => -30 - field_index(field),
        ConfigError::TimeoutExceedsInterval => KA_ERR_TIMEOUT_EXCEEDS_INTERVAL,
        ConfigError::InvalidFactor => KA_ERR_INVALID_FACTOR,
        ConfigError::InitialExceedsMax => KA_ERR_INITIAL_EXCEEDS_MAX,
        ConfigError::EmptySteps => KA_ERR_EMPTY_STEPS,
        ConfigError::ZeroMaxAttempts => KA_ERR_ZERO_MAX_ATTEMPTS,
    }
}

const fn field_index(field: Field) -> i32 {
    match field {
        Field::HeartbeatInterval => 0,
        Field::HeartbeatTimeout => 1,
        Field::ConnectTimeout => 2,
        Field::CloseTimeout => 3,
        Field::MinUptime => 4,
        Field::BackoffDelay => 5,
        Field::BackoffInitial => 6,
        Field::BackoffMax => 7,
        Field::BackoffStep => 8,
    }
}

/// The event numbered `code`, if any.
pub(crate) const fn event(code: i32) -> Option<Event> {
    Some(match code {
        KA_EVENT_OPENED => Event::Opened,
        KA_EVENT_MESSAGE => Event::Message,
        KA_EVENT_PONG => Event::Pong,
        KA_EVENT_ERROR => Event::Error,
        KA_EVENT_CLOSED => Event::Closed,
        KA_EVENT_REJECTED => Event::Rejected,
        KA_EVENT_TICK => Event::Tick,
        _ => return None,
    })
}

/// The heartbeat mode numbered `code`, if any.
pub(crate) const fn heartbeat_mode(code: i32) -> Option<HeartbeatMode> {
    Some(match code {
        KA_HEARTBEAT_IDLE => HeartbeatMode::Idle,
        KA_HEARTBEAT_FIXED => HeartbeatMode::Fixed,
        KA_HEARTBEAT_OFF => HeartbeatMode::Off,
        _ => return None,
    })
}

/// The jitter numbered `code`, if any.
pub(crate) const fn jitter(code: i32) -> Option<Jitter> {
    Some(match code {
        KA_JITTER_NONE => Jitter::None,
        KA_JITTER_FULL => Jitter::Full,
        KA_JITTER_EQUAL => Jitter::Equal,
        KA_JITTER_DECORRELATED => Jitter::Decorrelated,
        _ => return None,
    })
}

/// The number of an action's kind.
pub(crate) const fn action_kind(action: Action) -> i32 {
    match action {
        Action::Connect { .. } => KA_ACTION_CONNECT,
        Action::SendHeartbeat => KA_ACTION_SEND_HEARTBEAT,
        Action::Close { .. } => KA_ACTION_CLOSE,
        Action::Abort => KA_ACTION_ABORT,
        Action::ScheduleReconnect { .. } => KA_ACTION_SCHEDULE_RECONNECT,
        Action::GiveUp { .. } => KA_ACTION_GIVE_UP,
    }
}

/// The number of a close reason.
pub(crate) const fn reason(reason: CloseReason) -> i32 {
    match reason {
        CloseReason::HeartbeatTimeout => KA_REASON_HEARTBEAT_TIMEOUT,
        CloseReason::ConnectTimeout => KA_REASON_CONNECT_TIMEOUT,
        CloseReason::Error => KA_REASON_ERROR,
        CloseReason::User => KA_REASON_USER,
    }
}

/// The number of a state.
pub(crate) const fn state(state: State) -> i32 {
    match state {
        State::Idle => KA_STATE_IDLE,
        State::Connecting => KA_STATE_CONNECTING,
        State::Open => KA_STATE_OPEN,
        State::Closing => KA_STATE_CLOSING,
        State::Waiting => KA_STATE_WAITING,
        State::Stopped => KA_STATE_STOPPED,
        State::Failed => KA_STATE_FAILED,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_config_error_has_its_own_code() {
        let fields = [
            Field::HeartbeatInterval,
            Field::HeartbeatTimeout,
            Field::ConnectTimeout,
            Field::CloseTimeout,
            Field::MinUptime,
            Field::BackoffDelay,
            Field::BackoffInitial,
            Field::BackoffMax,
            Field::BackoffStep,
        ];
        let mut codes: Vec<i32> = fields
            .iter()
            .flat_map(|&f| [ConfigError::TooShort(f), ConfigError::TooLong(f)])
            .chain([
                ConfigError::TimeoutExceedsInterval,
                ConfigError::InvalidFactor,
                ConfigError::InitialExceedsMax,
                ConfigError::EmptySteps,
                ConfigError::ZeroMaxAttempts,
            ])
            .map(config_error)
            .collect();
        let n = codes.len();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), n, "codes collide");
        assert!(codes.iter().all(|&c| c <= -10), "config codes start at -10");
        assert_eq!(
            config_error(ConfigError::TooShort(Field::BackoffStep)),
            KA_ERR_TOO_SHORT_BACKOFF_STEP
        );
        assert_eq!(
            config_error(ConfigError::TooLong(Field::BackoffStep)),
            KA_ERR_TOO_LONG_BACKOFF_STEP
        );
    }

    #[test]
    fn event_numbers_round_trip() {
        for (i, e) in Event::ALL.iter().enumerate() {
            assert_eq!(event(i as i32 + 1), Some(*e));
        }
        assert_eq!(event(0), None);
        assert_eq!(event(8), None);
    }
}
