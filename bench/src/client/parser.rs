//! Incremental Server-Sent Events parser: the WHATWG "event stream interpretation" rules over byte chunks.
//!
//! Bytes arrive in arbitrary chunks; [`Parser::feed`] reports every complete item
//! ([`Item::Event`], [`Item::Comment`], [`Item::Retry`]) to a sink, in stream order,
//! borrowing from the parser's buffers or from the chunk itself. Splitting the same
//! bytes at different chunk boundaries yields the same items.
//!
//! ## The rules followed
//! (From the HTML standard, section "9.2.6 Interpreting an event stream".)
//! * Lines end with CR LF, a lone LF or a lone CR. A CR that ends one chunk followed by an
//!   LF that starts the next is one line end.
//! * One UTF-8 byte-order mark at the very start of the stream is skipped.
//! * A line starting with `:` is a comment ([`Item::Comment`] carries the bytes after the colon).
//! * `name: value` is a field; one space after the colon is stripped. A line without a
//!   colon is a field with an empty value.
//! * `data` appends the value and an LF to the data buffer; `event` sets the event type;
//!   `id` sets the last-event-ID buffer unless the value contains NUL; `retry` with only
//!   ASCII digits reports the reconnection time in milliseconds; other fields are ignored.
//! * A blank line dispatches: the last-event-ID buffer becomes the stream's last event ID
//!   (even for an event that is not dispatched), and the event is reported unless its data
//!   buffer is empty. The data loses its final LF; the type defaults to `message`. The data
//!   and type buffers are then cleared; the last-event-ID buffer is not.
//! * An event not ended by a blank line when the stream ends is never dispatched.
//!
//! ## Event ids
//! [`Event::id`] is the last event ID in force when the event was dispatched, as a browser's
//! `MessageEvent.lastEventId`: an event without an `id:` field carries the id of an earlier
//! one. An empty id is reported as `None`.
//!
//! ## Encoding
//! Data is reported as raw bytes. Event types and ids are decoded as UTF-8, with invalid
//! sequences replaced by U+FFFD (as the standard's decoder does).
//!
//! ## Cost
//! Hot path: no allocation per event in steady state. An event whose only data line
//! arrives in the same chunk as the blank line ending it (nearly every event) is reported
//! from the chunk itself, never copied into the data buffer; the last event ID is
//! committed by swapping two buffers, not by comparing or copying them (`ci/instructions`,
//! `parser/parse/small_events_1000`: 1,064 instructions per event before, 997 after).
//! The partial-line, data, type and id buffers are reused (cleared, never dropped), so
//! once they have grown to the largest event seen, feeding allocates nothing. The
//! partial-line and data buffers are reserved at 1 KiB each by the first bytes fed, so
//! lines up to that never grow them. Only invalid UTF-8 in an `id` or `event` field
//! allocates (for the lossy conversion). `tests/parser_alloc.rs` proves the count.

use memchr::{memchr, memchr2};

/// The UTF-8 byte-order mark.
const BOM: &[u8; 3] = b"\xEF\xBB\xBF";

/// Room reserved for a partial line, and for the data of an event split between chunks,
/// when the first bytes arrive: enough for typical lines at once, so neither buffer grows
/// in steps (at unpredictable times) as longer and longer lines straddle chunk boundaries.
/// The data buffer needs its own reserve: most events never touch it (see
/// `Fields::interpret`), so the first events no longer grow it.
const LINE_RESERVE: usize = 1024;

/// The event type of an event without an `event:` field.
pub const DEFAULT_EVENT_TYPE: &str = "message";

/// One complete item of an event stream, borrowed from the parser or the chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Item<'a> {
    /// A dispatched event.
    Event(Event<'a>),
    /// A comment line (keep-alive pings are comments): the bytes after the `:`, leading
    /// space included.
    Comment(&'a [u8]),
    /// A `retry:` field: the reconnection time the server asks for, in milliseconds
    /// (saturating at `u64::MAX`).
    Retry(u64),
}

/// A dispatched event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Event<'a> {
    /// The last event ID in force (see the module docs), `None` when empty.
    pub id: Option<&'a str>,
    /// The event type: the `event:` field, or `"message"`.
    pub event: &'a str,
    /// The `data:` lines joined with `\n`.
    pub data: &'a [u8],
}

/// An incremental SSE parser; one per stream.
#[derive(Debug, Clone)]
pub struct Parser {
    /// The start of a line whose end has not arrived yet.
    line: Vec<u8>,
    /// The previous chunk ended in CR: an LF starting the next chunk belongs to it.
    pending_cr: bool,
    /// Bytes of a leading BOM matched so far; `None` once past the stream start.
    bom_matched: Option<usize>,
    /// The event being assembled.
    fields: Fields,
}

/// The buffers of the event being assembled (apart from `Parser::line`, so a line held
/// in `line` can be interpreted while the fields change).
#[derive(Debug, Clone, Default)]
struct Fields {
    data: Vec<u8>,
    event_type: String,
    id_buffer: String,
    /// The stream's last event ID: the id buffer as of the last blank line.
    last_event_id: String,
    /// The id buffer may differ from `last_event_id`: set by an `id:` field and by a new
    /// stream. Only then does a blank line commit it, by swapping the two buffers (the
    /// id buffer's old contents are never read again: the next `id:` field or stream
    /// overwrites them and sets this flag), so an event costs no id comparison or copy.
    id_changed: bool,
}

impl Default for Parser {
    fn default() -> Self {
        Self::new()
    }
}

impl Parser {
    /// A parser at the start of a stream, with no last event ID.
    pub fn new() -> Self {
        Self {
            line: Vec::new(),
            pending_cr: false,
            bom_matched: Some(0),
            fields: Fields::default(),
        }
    }

    /// A parser for a stream resumed with `Last-Event-ID: last_event_id`: until the
    /// stream sets another, [`Parser::last_event_id`] reports this one.
    pub fn resume(last_event_id: Option<&str>) -> Self {
        let mut parser = Self::new();
        if let Some(id) = last_event_id {
            parser.fields.last_event_id.push_str(id);
            parser.fields.id_changed = true;
        }
        parser
    }

    /// Feeds a chunk; calls `sink` for each complete item in order.
    ///
    /// Any bytes are accepted; malformed lines are ignored as the standard says.
    pub fn feed(&mut self, mut chunk: &[u8], sink: &mut impl FnMut(Item<'_>)) {
        if chunk.is_empty() {
            return;
        }
        if self.line.capacity() == 0 {
            self.line.reserve(LINE_RESERVE);
            self.fields.data.reserve(LINE_RESERVE);
        }
        if self.pending_cr {
            self.pending_cr = false;
            if let [b'\n', rest @ ..] = chunk {
                chunk = rest;
            }
        }
        if self.bom_matched.is_some() {
            chunk = self.skip_bom(chunk);
        }
        // The event's one data line so far, while it is still in `chunk`: an event whose
        // lines all arrive in one chunk (nearly every event) is reported from the chunk,
        // never copied into the data buffer (see `Fields::interpret`).
        let mut data_in_chunk = None;
        while let Some(end) = memchr2(b'\n', b'\r', chunk) {
            let line = &chunk[..end];
            let mut rest = &chunk[end + 1..];
            if chunk[end] == b'\r' {
                match rest {
                    [] => self.pending_cr = true,
                    [b'\n', after @ ..] => rest = after,
                    _ => {}
                }
            }
            if self.line.is_empty() {
                self.fields.interpret(line, Some(&mut data_in_chunk), sink);
            } else {
                // Only a chunk's first line can continue a held one, and no data line
                // of this chunk came before it: `data_in_chunk` is still empty.
                self.line.extend_from_slice(line);
                self.fields.interpret(&self.line, None, sink);
                self.line.clear();
            }
            chunk = rest;
        }
        // The event goes on in the next chunk: its data line must outlive this one.
        if let Some(value) = data_in_chunk {
            self.fields.push_data(value);
        }
        self.line.extend_from_slice(chunk);
    }

    /// The stream's last event ID: what a reconnect sends as `Last-Event-ID`. It is set
    /// when a blank line ends an event (dispatched or not); `None` when empty.
    pub fn last_event_id(&self) -> Option<&str> {
        non_empty(&self.fields.last_event_id)
    }

    /// Starts a new stream on the same parser (a reconnect): discards the incomplete
    /// line and event, as the end of a stream does, and expects an optional BOM again.
    /// The last event ID is kept; the id buffer starts empty, as for any new stream.
    pub fn reset_stream(&mut self) {
        self.line.clear();
        self.pending_cr = false;
        self.bom_matched = Some(0);
        self.fields.data.clear();
        self.fields.event_type.clear();
        self.fields.id_buffer.clear();
        self.fields.id_changed = true;
    }

    /// Consumes the bytes of a leading BOM from `chunk` (which may hold only part of it).
    fn skip_bom<'c>(&mut self, chunk: &'c [u8]) -> &'c [u8] {
        let Some(mut matched) = self.bom_matched else {
            return chunk;
        };
        let mut taken = 0;
        while matched < BOM.len() {
            let Some(&byte) = chunk.get(taken) else {
                // The chunk ended inside what may still be a BOM.
                self.bom_matched = Some(matched);
                return &[];
            };
            if byte != BOM[matched] {
                // Not a BOM after all: the bytes matched so far start the first line
                // (none of them ends a line).
                self.bom_matched = None;
                self.line.extend_from_slice(&BOM[..matched]);
                return &chunk[taken..];
            }
            matched += 1;
            taken += 1;
        }
        self.bom_matched = None;
        &chunk[taken..]
    }
}

impl Fields {
    /// Interprets one line (without its line end).
    ///
    /// `data_in_chunk` (`None` for a line not in the chunk being fed) holds the event's
    /// first data line while it can be borrowed from that chunk: a second data line
    /// copies it into the data buffer first, and a blank line reports it as it is.
    fn interpret<'c>(
        &mut self,
        line: &'c [u8],
        data_in_chunk: Option<&mut Option<&'c [u8]>>,
        sink: &mut impl FnMut(Item<'_>),
    ) {
        let (name, value) = match memchr(b':', line) {
            None if line.is_empty() => {
                let data = data_in_chunk.and_then(Option::take);
                return self.dispatch(data, sink);
            }
            Some(0) => return sink(Item::Comment(&line[1..])),
            Some(colon) => {
                let value = &line[colon + 1..];
                (&line[..colon], value.strip_prefix(b" ").unwrap_or(value))
            }
            None => (line, &b""[..]),
        };
        match name {
            b"data" => match data_in_chunk {
                Some(slot @ None) if self.data.is_empty() => *slot = Some(value),
                slot => {
                    if let Some(first) = slot.and_then(Option::take) {
                        self.push_data(first);
                    }
                    self.push_data(value);
                }
            },
            b"event" => {
                self.event_type.clear();
                push_lossy(&mut self.event_type, value);
            }
            // An id containing NUL is ignored (browsers ignore it too).
            b"id" if !value.contains(&0) => {
                self.id_buffer.clear();
                push_lossy(&mut self.id_buffer, value);
                self.id_changed = true;
            }
            // Only ASCII digits; anything else is ignored.
            b"retry" if !value.is_empty() && value.iter().all(u8::is_ascii_digit) => {
                sink(Item::Retry(parse_digits_saturating(value)));
            }
            _ => {}
        }
    }

    /// Appends a data line to the data buffer, with the LF that joins it to the next.
    fn push_data(&mut self, value: &[u8]) {
        self.data.extend_from_slice(value);
        self.data.push(b'\n');
    }

    /// The blank line: commit the last event ID, report the event, clear the buffers.
    /// `data_in_chunk` is the event's only data line when it was never copied.
    fn dispatch(&mut self, data_in_chunk: Option<&[u8]>, sink: &mut impl FnMut(Item<'_>)) {
        if self.id_changed {
            std::mem::swap(&mut self.last_event_id, &mut self.id_buffer);
            self.id_changed = false;
        }
        let data = match data_in_chunk {
            Some(line) => Some(line),
            None if self.data.is_empty() => None,
            None => Some(self.data.strip_suffix(b"\n").unwrap_or(&self.data)),
        };
        if let Some(data) = data {
            let event = non_empty(&self.event_type).unwrap_or(DEFAULT_EVENT_TYPE);
            sink(Item::Event(Event {
                id: non_empty(&self.last_event_id),
                event,
                data,
            }));
        }
        self.data.clear();
        self.event_type.clear();
    }
}

/// Appends `bytes` decoded as UTF-8, replacing invalid sequences (allocates only then).
fn push_lossy(buffer: &mut String, bytes: &[u8]) {
    match std::str::from_utf8(bytes) {
        Ok(text) => buffer.push_str(text),
        Err(_) => buffer.push_str(&String::from_utf8_lossy(bytes)),
    }
}

/// Base-ten value of ASCII digits, saturating at `u64::MAX`.
fn parse_digits_saturating(digits: &[u8]) -> u64 {
    digits
        .iter()
        .try_fold(0u64, |acc, &d| {
            acc.checked_mul(10)?.checked_add(u64::from(d - b'0'))
        })
        .unwrap_or(u64::MAX)
}

fn non_empty(text: &str) -> Option<&str> {
    (!text.is_empty()).then_some(text)
}

/// The number in a numeric event id (`"42"` → 42): only ASCII digits, no sign, no
/// spaces; `None` otherwise or on overflow. The reference server numbers its events so.
pub fn event_number(id: &str) -> Option<u64> {
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    id.parse().ok()
}

#[cfg(test)]
mod tests;
