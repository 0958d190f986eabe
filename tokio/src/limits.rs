//! [`Limits`]: how much memory one WebSocket may hold.

use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

/// Buffer and size limits of one WebSocket, client or server.
///
/// tungstenite's defaults suit a few large transfers (a 128 KiB read buffer
/// allocated up front, 64 MiB messages); a server holding ten thousand
/// mostly idle connections wants small buffers and messages, so that one
/// connection costs kilobytes and no client can make it hold megabytes.
///
/// # Default
///
/// | limit | default | tungstenite's |
/// |---|---|---|
/// | read buffer | 4 KiB | 128 KiB |
/// | write buffer (flush threshold) | 4 KiB | 128 KiB |
/// | max write buffer | write buffer + max message | unlimited |
/// | max message | 1 MiB | 64 MiB |
/// | max frame | 256 KiB | 16 MiB |
///
/// A message or frame over its limit fails the connection (close code
/// 1009, Message Too Big) instead of being buffered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    read_buffer: usize,
    write_buffer: usize,
    max_write_buffer: usize,
    max_message: usize,
    max_frame: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            read_buffer: 512,
            write_buffer: 4 << 10,
            max_write_buffer: 0,
            max_message: 1 << 20,
            max_frame: 256 << 10,
        }
    }
}

impl Limits {
    /// The read buffer, allocated per connection.
    pub fn with_read_buffer(mut self, bytes: usize) -> Self {
        self.read_buffer = bytes.max(1);
        self
    }

    /// Buffered writes are flushed once this many bytes wait.
    pub fn with_write_buffer(mut self, bytes: usize) -> Self {
        self.write_buffer = bytes;
        self
    }

    /// The most bytes buffered for writing. tungstenite fails a write that
    /// would exceed it, so it is raised to at least the write buffer plus
    /// one largest message (what a write that waits on a slow peer holds).
    pub fn with_max_write_buffer(mut self, bytes: usize) -> Self {
        self.max_write_buffer = bytes;
        self
    }

    /// The largest message accepted.
    pub fn with_max_message(mut self, bytes: usize) -> Self {
        self.max_message = bytes;
        self
    }

    /// The largest frame accepted.
    pub fn with_max_frame(mut self, bytes: usize) -> Self {
        self.max_frame = bytes;
        self
    }

    /// The read buffer size.
    pub fn read_buffer(&self) -> usize {
        self.read_buffer
    }

    /// The write buffer's flush threshold.
    pub fn write_buffer(&self) -> usize {
        self.write_buffer
    }

    /// The most bytes buffered for writing (at least the write buffer plus
    /// one largest message and its frame header).
    pub fn max_write_buffer(&self) -> usize {
        let floor = self
            .write_buffer
            .saturating_add(self.max_message)
            .saturating_add(14);
        self.max_write_buffer.max(floor)
    }

    /// The largest message accepted.
    pub fn max_message(&self) -> usize {
        self.max_message
    }

    /// The largest frame accepted.
    pub fn max_frame(&self) -> usize {
        self.max_frame
    }

    /// As tungstenite's configuration.
    pub fn websocket_config(&self) -> WebSocketConfig {
        WebSocketConfig::default()
            .read_buffer_size(self.read_buffer)
            .write_buffer_size(self.write_buffer)
            .max_write_buffer_size(self.max_write_buffer())
            .max_message_size(Some(self.max_message))
            .max_frame_size(Some(self.max_frame))
    }
}
