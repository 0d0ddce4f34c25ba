//! SSE wire-format encoding: one event becomes one immutable `Bytes`, built with one allocation.
//!
//! The encoder computes the exact encoded length first and then fills a buffer of
//! exactly that capacity, so an event costs one allocation however many subscribers
//! it later reaches: fan-out clones the `Bytes` (a reference-count bump).
//!
//! Multi-line data becomes one `data:` line per line (`\n`, `\r\n` and `\r` all end a
//! line, as the WHATWG EventSource parser reads them). `id` and `event` are single-line
//! fields: a CR or LF in them would let a publisher inject fields, so they are rejected.

use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};

/// The keep-alive frame: an SSE comment, ignored by every EventSource.
pub const PING: Bytes = Bytes::from_static(b": ping\n\n");

/// Why an event could not be encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// The `id` field contained a CR, LF or NUL (NUL makes browsers ignore the id).
    #[error("event id must not contain CR, LF or NUL")]
    InvalidId,
    /// The `event` field contained a CR, LF or NUL.
    #[error("event name must not contain CR, LF or NUL")]
    InvalidEventName,
    /// The encoded event is larger than the server accepts.
    #[error("the encoded event is {len} bytes; the limit is {max} (--max-event-bytes)")]
    TooLarge {
        /// Encoded length of the refused event.
        len: usize,
        /// The limit it exceeded.
        max: usize,
    },
}

/// One SSE event, borrowed; [`Event::encode`] turns it into wire bytes.
#[derive(Debug, Clone, Copy, Default)]
pub struct Event<'a> {
    /// The `id:` field, if any.
    pub id: Option<&'a str>,
    /// The `event:` field (the event type), if any.
    pub event: Option<&'a str>,
    /// The `retry:` field (reconnection time), if any.
    pub retry: Option<Duration>,
    /// The payload. Each line becomes one `data:` line; an empty payload still
    /// produces one empty `data:` line so that the event is dispatched.
    pub data: &'a [u8],
}

impl<'a> Event<'a> {
    /// An event carrying `data` and nothing else.
    pub fn data(data: &'a [u8]) -> Self {
        Self {
            data,
            ..Self::default()
        }
    }

    /// Sets the `id:` field.
    pub fn id(mut self, id: &'a str) -> Self {
        self.id = Some(id);
        self
    }

    /// Sets the `event:` field.
    pub fn event(mut self, event: &'a str) -> Self {
        self.event = Some(event);
        self
    }

    /// Sets the `retry:` field.
    pub fn retry(mut self, retry: Duration) -> Self {
        self.retry = Some(retry);
        self
    }

    /// The exact length [`Event::encode`] produces, computed without allocating.
    pub fn encoded_len(&self) -> usize {
        let mut retry_digits = itoa::Buffer::new();
        let retry = self.retry.map(|r| retry_digits.format(r.as_millis()));
        let mut len = 1; // the blank line that ends the event
        len += self.id.map_or(0, |id| b"id: ".len() + id.len() + 1);
        len += self.event.map_or(0, |e| b"event: ".len() + e.len() + 1);
        len += retry.map_or(0, |r| b"retry: ".len() + r.len() + 1);
        for line in Lines::new(self.data) {
            len += b"data: ".len() + line.len() + 1;
        }
        len
    }

    /// Encodes the event with exactly one allocation.
    ///
    /// # Errors
    /// [`FrameError`] when `id` or `event` would break the line structure.
    pub fn encode(&self) -> Result<Bytes, FrameError> {
        if let Some(id) = self.id {
            if id.bytes().any(|b| matches!(b, b'\r' | b'\n' | 0)) {
                return Err(FrameError::InvalidId);
            }
        }
        if let Some(event) = self.event {
            if event.bytes().any(|b| matches!(b, b'\r' | b'\n' | 0)) {
                return Err(FrameError::InvalidEventName);
            }
        }
        let mut retry_digits = itoa::Buffer::new();
        let retry = self.retry.map(|r| retry_digits.format(r.as_millis()));
        let len = self.encoded_len();

        let mut buf = BytesMut::with_capacity(len);
        if let Some(id) = self.id {
            put_field(&mut buf, b"id: ", id.as_bytes());
        }
        if let Some(event) = self.event {
            put_field(&mut buf, b"event: ", event.as_bytes());
        }
        if let Some(retry) = retry {
            put_field(&mut buf, b"retry: ", retry.as_bytes());
        }
        for line in Lines::new(self.data) {
            put_field(&mut buf, b"data: ", line);
        }
        buf.put_u8(b'\n');
        debug_assert_eq!(buf.len(), len, "length precomputation is exact");
        Ok(buf.freeze())
    }
}

fn put_field(buf: &mut BytesMut, name: &[u8], value: &[u8]) {
    buf.put_slice(name);
    buf.put_slice(value);
    buf.put_u8(b'\n');
}

/// Splits data into lines at `\n`, `\r\n` or `\r`; always yields at least one line.
struct Lines<'a> {
    rest: Option<&'a [u8]>,
}

impl<'a> Lines<'a> {
    fn new(data: &'a [u8]) -> Self {
        Self { rest: Some(data) }
    }
}

impl<'a> Iterator for Lines<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        let rest = self.rest?;
        match rest.iter().position(|&b| b == b'\n' || b == b'\r') {
            None => {
                self.rest = None;
                Some(rest)
            }
            Some(i) => {
                let skip = if rest[i] == b'\r' && rest.get(i + 1) == Some(&b'\n') {
                    2
                } else {
                    1
                };
                self.rest = Some(&rest[i + skip..]);
                Some(&rest[..i])
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_only() {
        assert_eq!(&Event::data(b"hello").encode().unwrap()[..], b"data: hello\n\n");
    }

    #[test]
    fn all_fields_in_order() {
        let bytes = Event::data(b"x")
            .id("7")
            .event("tick")
            .retry(Duration::from_millis(1500))
            .encode()
            .unwrap();
        assert_eq!(&bytes[..], b"id: 7\nevent: tick\nretry: 1500\ndata: x\n\n");
    }

    #[test]
    fn multi_line_data_becomes_several_data_lines() {
        let bytes = Event::data(b"a\nb\r\nc\rd").encode().unwrap();
        assert_eq!(&bytes[..], b"data: a\ndata: b\ndata: c\ndata: d\n\n");
    }

    #[test]
    fn trailing_newline_keeps_an_empty_last_line() {
        assert_eq!(&Event::data(b"a\n").encode().unwrap()[..], b"data: a\ndata: \n\n");
        assert_eq!(&Event::data(b"").encode().unwrap()[..], b"data: \n\n");
    }

    #[test]
    fn line_breaks_in_id_or_event_are_rejected() {
        assert_eq!(Event::data(b"x").id("1\n2").encode(), Err(FrameError::InvalidId));
        assert_eq!(Event::data(b"x").id("1\r").encode(), Err(FrameError::InvalidId));
        assert_eq!(Event::data(b"x").id("1\0").encode(), Err(FrameError::InvalidId));
        assert_eq!(
            Event::data(b"x").event("a\r\nid: 9").encode(),
            Err(FrameError::InvalidEventName)
        );
        assert_eq!(
            Event::data(b"x").event("a\0b").encode(),
            Err(FrameError::InvalidEventName)
        );
    }

    #[test]
    fn capacity_is_exact() {
        let event = Event::data(&[b'z'; 4096]).id("123456");
        let bytes = event.encode().unwrap();
        assert_eq!(bytes.len(), "id: 123456\n".len() + "data: \n".len() + 4096 + 1);
        assert_eq!(event.encoded_len(), bytes.len());
        assert_eq!(Event::data(b"\n\n").encoded_len(), 3 * "data: \n".len() + 1);
    }
}
