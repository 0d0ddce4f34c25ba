//! The body of an HTTP/1.1 response as it arrives: chunked, `Content-Length` or close-delimited framing, decoded from byte slices split anywhere.
//!
//! [`Decoder::decode`] takes whatever one socket read returned and hands every payload
//! slice in it to a sink, borrowed from the input (no copy, no allocation). Its state
//! survives between calls, so a chunk-size line, a CRLF or a trailer may be split at any
//! byte. Bytes after the end of the body are ignored (one request per connection).
//!
//! ## Chunked
//! `size[;extension]CRLF data CRLF`, repeated; a size of 0 is the last chunk, followed by
//! trailer fields (skipped) and an empty line: the clean end. Sizes are hexadecimal, at
//! most 16 digits; extensions and trailers are skipped. A malformed size line or a chunk
//! not followed by CRLF is [`ClientError::Protocol`].

use std::io;

use memchr::memchr;

use crate::client::error::ClientError;

/// Most hex digits a chunk size may have (16 fill a `u64`).
const MAX_SIZE_DIGITS: u8 = 16;

/// How a response body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// `Content-Length`: that many bytes.
    Length(u64),
    /// Everything until the server closes the connection.
    Close,
}

/// Where the decoder stands in the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Reading the hex digits of a chunk size.
    Size { size: u64, digits: u8 },
    /// After the size: whitespace or an extension, up to the CR.
    Extension { size: u64 },
    /// The CR of a size line seen; its LF expected.
    SizeLf { size: u64 },
    /// Bytes of chunk data still to come.
    Data { left: u64 },
    /// The CR after chunk data expected.
    DataCr,
    /// The LF after chunk data expected.
    DataLf,
    /// At the start of a trailer line (after the last chunk's size line).
    TrailerStart,
    /// Inside a trailer field, skipping to its LF.
    TrailerLine,
    /// The CR of the empty line after the trailers seen; its LF expected.
    EndLf,
    /// Bytes of a `Content-Length` body still to come.
    Length { left: u64 },
    /// A body that ends when the connection closes.
    Close,
    /// The body is complete.
    Done,
}

/// Decodes one response body; see the module docs.
#[derive(Debug, Clone)]
pub(crate) struct Decoder {
    state: State,
}

impl Decoder {
    /// A decoder at the start of a body framed by `framing`.
    pub(crate) fn new(framing: Framing) -> Self {
        let state = match framing {
            Framing::Chunked => State::Size { size: 0, digits: 0 },
            Framing::Length(0) => State::Done,
            Framing::Length(left) => State::Length { left },
            Framing::Close => State::Close,
        };
        Self { state }
    }

    /// Whether the body is complete (a clean end).
    pub(crate) fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Decodes `input`, the next bytes of the connection, calling `on_data` with each
    /// payload slice in it, in order.
    ///
    /// # Errors
    /// [`ClientError::Protocol`] for malformed chunked framing; the body is unusable after it.
    pub(crate) fn decode(
        &mut self,
        mut input: &[u8],
        on_data: &mut impl FnMut(&[u8]),
    ) -> Result<(), ClientError> {
        while !input.is_empty() {
            match self.state {
                State::Data { left } | State::Length { left } => {
                    let n = input.len().min(usize::try_from(left).unwrap_or(usize::MAX));
                    on_data(&input[..n]);
                    input = &input[n..];
                    let left = left - n as u64;
                    self.state = match (self.state, left) {
                        (State::Data { .. }, 0) => State::DataCr,
                        (State::Data { .. }, left) => State::Data { left },
                        (_, 0) => State::Done,
                        (_, left) => State::Length { left },
                    };
                }
                State::Close => {
                    on_data(input);
                    return Ok(());
                }
                State::Done => return Ok(()),
                State::TrailerLine => match memchr(b'\n', input) {
                    Some(end) => {
                        input = &input[end + 1..];
                        self.state = State::TrailerStart;
                    }
                    None => return Ok(()),
                },
                State::DataCr if input.starts_with(b"\r\n") => {
                    input = &input[2..];
                    self.state = State::Size { size: 0, digits: 0 };
                }
                State::Size { size, digits } => {
                    let (state, used) = size_digits(size, digits, input);
                    input = &input[used..];
                    self.state = state;
                    if let Some(&b) = input.first() {
                        self.state = step(state, b)?;
                        input = &input[1..];
                    }
                }
                state => {
                    self.state = step(state, input[0])?;
                    input = &input[1..];
                }
            }
        }
        Ok(())
    }

    /// What the connection closing now means: `Ok` at a clean end (a complete body, or
    /// one delimited by the close), else [`ClientError::Incomplete`].
    ///
    /// # Errors
    /// [`ClientError::Incomplete`] when the body was not complete.
    pub(crate) fn finish(&self) -> Result<(), ClientError> {
        let what = match self.state {
            State::Done | State::Close => return Ok(()),
            State::Length { .. } => {
                "the server closed the connection before the end of the Content-Length body"
            }
            _ => "the server closed the connection before the final chunk",
        };
        Err(ClientError::io(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            what,
        )))
    }
}

/// Reads the hex digits at the start of `input` into a chunk size (at most
/// [`MAX_SIZE_DIGITS`]): the size state after them and how many bytes they took.
fn size_digits(mut size: u64, mut digits: u8, input: &[u8]) -> (State, usize) {
    let mut used = 0;
    for &b in input {
        match hex(b) {
            Some(value) if digits < MAX_SIZE_DIGITS => {
                size = (size << 4) | u64::from(value);
                digits += 1;
                used += 1;
            }
            _ => break,
        }
    }
    (State::Size { size, digits }, used)
}

/// The state after byte `b` of a size line, a chunk's CRLF or the end of the trailers.
fn step(state: State, b: u8) -> Result<State, ClientError> {
    let error = |what| Err(ClientError::Protocol { what });
    match state {
        State::Size { size, digits } => match (hex(b), b) {
            (Some(_), _) if digits == MAX_SIZE_DIGITS => error("chunk size longer than 16 hex digits"),
            (Some(value), _) => Ok(State::Size {
                size: (size << 4) | u64::from(value),
                digits: digits + 1,
            }),
            (None, _) if digits == 0 => error("chunk size line without a hexadecimal size"),
            (None, b'\r') => Ok(State::SizeLf { size }),
            (None, b';' | b' ' | b'\t') => Ok(State::Extension { size }),
            (None, _) => error("chunk size is not hexadecimal"),
        },
        State::Extension { size } => match b {
            b'\r' => Ok(State::SizeLf { size }),
            b'\n' => error("chunk size line ends in a bare LF"),
            _ => Ok(State::Extension { size }),
        },
        State::SizeLf { size } => match (b, size) {
            (b'\n', 0) => Ok(State::TrailerStart),
            (b'\n', left) => Ok(State::Data { left }),
            _ => error("chunk size line not ended by CRLF"),
        },
        State::DataCr if b == b'\r' => Ok(State::DataLf),
        State::DataLf if b == b'\n' => Ok(State::Size { size: 0, digits: 0 }),
        State::DataCr | State::DataLf => error("chunk data not followed by CRLF"),
        State::TrailerStart => match b {
            b'\r' => Ok(State::EndLf),
            b'\n' => error("trailer line ends in a bare LF"),
            _ => Ok(State::TrailerLine),
        },
        State::EndLf if b == b'\n' => Ok(State::Done),
        State::EndLf => error("chunked body not ended by an empty line"),
        // The data, length, close, trailer-line and done states are decoded in bulk.
        other => Ok(other),
    }
}

/// The value of hex digit `b`.
#[inline]
fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A chunked body with extensions, a long chunk, an uppercase size and trailers.
    const CHUNKED: &[u8] = b"5\r\nhello\r\n1;name=value\r\n \r\n1A \t;ext\r\nabcdefghijklmnopqrstuvwxyz\r\n\
                              000\r\nTrailer: one\r\nOther: two\r\n\r\n";
    const PAYLOAD: &[u8] = b"hello abcdefghijklmnopqrstuvwxyz";

    /// Decodes `parts` one after the other: the payload, whether the body ended, the error.
    fn decode(framing: Framing, parts: &[&[u8]]) -> (Vec<u8>, bool, Option<ClientError>) {
        let mut decoder = Decoder::new(framing);
        let mut payload = Vec::new();
        for part in parts {
            if let Err(err) = decoder.decode(part, &mut |data| payload.extend_from_slice(data)) {
                return (payload, decoder.is_done(), Some(err));
            }
        }
        (payload, decoder.is_done(), None)
    }

    fn protocol_error(parts: &[&[u8]]) -> &'static str {
        match decode(Framing::Chunked, parts).2 {
            Some(ClientError::Protocol { what }) => what,
            other => panic!("expected a protocol error, got {other:?}"),
        }
    }

    #[test]
    fn chunked_body_split_at_every_byte_boundary_decodes_the_same() {
        for at in 0..=CHUNKED.len() {
            let (head, tail) = CHUNKED.split_at(at);
            let (payload, done, err) = decode(Framing::Chunked, &[head, tail]);
            assert!(err.is_none(), "split at {at}: {err:?}");
            assert!(done, "split at {at}");
            assert_eq!(payload, PAYLOAD, "split at {at}");
        }
        // And one byte at a time.
        let bytes: Vec<&[u8]> = CHUNKED.chunks(1).collect();
        let (payload, done, err) = decode(Framing::Chunked, &bytes);
        assert!(err.is_none() && done, "{err:?}");
        assert_eq!(payload, PAYLOAD);
    }

    #[test]
    fn chunked_body_split_at_every_pair_of_boundaries_decodes_the_same() {
        for first in 0..=CHUNKED.len() {
            for second in first..=CHUNKED.len() {
                let parts = [&CHUNKED[..first], &CHUNKED[first..second], &CHUNKED[second..]];
                let (payload, done, err) = decode(Framing::Chunked, &parts);
                assert!(err.is_none() && done, "split at {first}, {second}: {err:?}");
                assert_eq!(payload, PAYLOAD, "split at {first}, {second}");
            }
        }
    }

    #[test]
    fn bytes_after_the_last_chunk_are_ignored() {
        let (payload, done, err) = decode(Framing::Chunked, &[b"2\r\nab\r\n0\r\n\r\nHTTP/1.1 200 OK\r\n"]);
        assert_eq!(
            (payload.as_slice(), done, err.is_none()),
            (&b"ab"[..], true, true)
        );
    }

    #[test]
    fn an_unfinished_chunked_body_is_incomplete_at_the_close() {
        for cut in [0, 3, 5, 7, CHUNKED.len() - 1] {
            let mut decoder = Decoder::new(Framing::Chunked);
            decoder.decode(&CHUNKED[..cut], &mut |_| {}).unwrap();
            let err = decoder.finish().unwrap_err();
            assert_eq!(err.kind().name(), "incomplete", "cut at {cut}: {err}");
            assert!(err.to_string().contains("before the final chunk"), "{err}");
        }
        let mut decoder = Decoder::new(Framing::Chunked);
        decoder.decode(CHUNKED, &mut |_| {}).unwrap();
        decoder.finish().unwrap();
    }

    #[test]
    fn malformed_chunked_framing_is_a_protocol_error() {
        assert_eq!(
            protocol_error(&[b"\r\n"]),
            "chunk size line without a hexadecimal size"
        );
        assert_eq!(
            protocol_error(&[b";x\r\n"]),
            "chunk size line without a hexadecimal size"
        );
        assert_eq!(protocol_error(&[b"5x\r\n"]), "chunk size is not hexadecimal");
        assert_eq!(protocol_error(&[b"5\n"]), "chunk size is not hexadecimal");
        assert_eq!(protocol_error(&[b"5;a\nb"]), "chunk size line ends in a bare LF");
        assert_eq!(
            protocol_error(&[b"5\r", b"x"]),
            "chunk size line not ended by CRLF"
        );
        assert_eq!(protocol_error(&[b"2\r\nabc"]), "chunk data not followed by CRLF");
        assert_eq!(
            protocol_error(&[b"2\r\nab\rx"]),
            "chunk data not followed by CRLF"
        );
        assert_eq!(
            protocol_error(&[b"1", b"0000000000000000\r\n"]),
            "chunk size longer than 16 hex digits"
        );
        assert_eq!(protocol_error(&[b"0\r\n\n"]), "trailer line ends in a bare LF");
        assert_eq!(
            protocol_error(&[b"0\r\n\rx"]),
            "chunked body not ended by an empty line"
        );
        let err = decode(Framing::Chunked, &[b"5z\r\n"]).2.unwrap();
        assert_eq!(err.kind().name(), "http");
        assert_eq!(
            err.to_string(),
            "HTTP/1.1 protocol error: chunk size is not hexadecimal"
        );
    }

    #[test]
    fn the_largest_chunk_size_is_read_whole() {
        let (payload, done, err) = decode(Framing::Chunked, &[b"ffffffffffffffff\r\nabc"]);
        assert_eq!(
            (payload.as_slice(), done, err.is_none()),
            (&b"abc"[..], false, true)
        );
    }

    #[test]
    fn content_length_body_ends_after_its_length() {
        let body = b"0123456789";
        for at in 0..=body.len() {
            let (payload, done, err) = decode(Framing::Length(8), &[&body[..at], &body[at..]]);
            assert_eq!(
                (payload.as_slice(), done, err.is_none()),
                (&body[..8], true, true)
            );
        }
        let mut decoder = Decoder::new(Framing::Length(8));
        decoder.decode(b"0123", &mut |_| {}).unwrap();
        let err = decoder.finish().unwrap_err();
        assert_eq!(err.kind().name(), "incomplete", "{err}");
        assert!(Decoder::new(Framing::Length(0)).is_done());
    }

    #[test]
    fn close_delimited_body_ends_cleanly_at_the_close() {
        let (payload, done, err) = decode(Framing::Close, &[b"ab", b"", b"c"]);
        assert_eq!(
            (payload.as_slice(), done, err.is_none()),
            (&b"abc"[..], false, true)
        );
        Decoder::new(Framing::Close).finish().unwrap();
    }
}
