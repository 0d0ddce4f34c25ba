//! SSE wire-format encoding: one event becomes one immutable, already shared `Bytes`.
//!
//! The encoder computes the exact encoded length first and then fills storage of that
//! size once. The `Bytes` it returns is shared from the start, so cloning it is a
//! reference-count bump that never allocates, however many subscribers the event
//! reaches.
//!
//! ## Allocations
//! * An event of up to [`INLINE_MAX`] encoded bytes costs **one** allocation: its bytes
//!   sit inline beside their reference count, in a block of 128, 256 or 512 bytes plus a
//!   16-byte header.
//! * A larger event costs **two**: its bytes (exactly its length) and a 32-byte shared
//!   header.
//!
//! (A `Bytes` frozen from a `Vec` would allocate its shared header on its first clone
//! instead, that is inside the hub's lock, once per event.)
//!
//! Multi-line data becomes one `data:` line per line (`\n`, `\r\n` and `\r` all end a
//! line, as the WHATWG EventSource parser reads them). `id` and `event` are single-line
//! fields: a CR or LF in them would let a publisher inject fields, so they are rejected.

use std::time::Duration;

use bytes::{BufMut, Bytes};

/// Largest encoded event stored inline beside its reference count (one allocation).
/// Typical events (an id, a timestamp, a few hundred bytes of JSON) fit; the size
/// classes below it keep the unused tail of a block under half of it.
pub const INLINE_MAX: usize = 512;

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

    /// Encodes the event into a shared `Bytes`: one allocation up to [`INLINE_MAX`]
    /// encoded bytes, two above (see the module docs); clones never allocate.
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
        Ok(match len {
            0..=128 => inline::<128>(len, |buf| self.write(retry, buf)),
            129..=256 => inline::<256>(len, |buf| self.write(retry, buf)),
            257..=INLINE_MAX => inline::<INLINE_MAX>(len, |buf| self.write(retry, buf)),
            _ => {
                let mut bytes = Vec::with_capacity(len);
                self.write(retry, &mut bytes);
                debug_assert_eq!(bytes.len(), len, "length precomputation is exact");
                Bytes::from_owner(bytes)
            }
        })
    }

    /// Writes the encoded event (`retry` already formatted) into `buf`.
    fn write(&self, retry: Option<&str>, buf: &mut impl BufMut) {
        if let Some(id) = self.id {
            put_field(buf, b"id: ", id.as_bytes());
        }
        if let Some(event) = self.event {
            put_field(buf, b"event: ", event.as_bytes());
        }
        if let Some(retry) = retry {
            put_field(buf, b"retry: ", retry.as_bytes());
        }
        for line in Lines::new(self.data) {
            put_field(buf, b"data: ", line);
        }
        buf.put_u8(b'\n');
    }
}

/// An encoded event of at most `N` bytes, stored inline: `Bytes::from_owner` puts it in
/// one block with its reference count.
struct Inline<const N: usize> {
    len: usize,
    bytes: [u8; N],
}

impl<const N: usize> AsRef<[u8]> for Inline<N> {
    fn as_ref(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

/// A shared `Bytes` of `len` (at most `N`) bytes written by `fill`, in one allocation.
fn inline<const N: usize>(len: usize, fill: impl FnOnce(&mut &mut [u8])) -> Bytes {
    let mut inline = Inline { len, bytes: [0; N] };
    let mut rest = &mut inline.bytes[..len];
    fill(&mut rest);
    debug_assert!(rest.is_empty(), "length precomputation is exact");
    Bytes::from_owner(inline)
}

fn put_field(buf: &mut impl BufMut, name: &[u8], value: &[u8]) {
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

    #[test]
    fn every_size_class_round_trips() {
        for size in [0, 100, 114, 115, 200, 243, 244, 500, 1000] {
            let data = vec![b'd'; size];
            let bytes = Event::data(&data).encode().unwrap();
            assert_eq!(bytes.len(), size + "data: \n\n".len());
            assert!(bytes.starts_with(b"data: d") || size == 0);
            assert!(bytes.ends_with(b"d\n\n") || size == 0);
            assert_eq!(bytes.clone(), bytes);
        }
    }
}
