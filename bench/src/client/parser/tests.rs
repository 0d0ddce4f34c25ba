//! Unit tests (one per WHATWG rule) and property tests of the SSE parser.

use proptest::prelude::*;
use sse_server::frame;

use super::*;

/// An owned copy of an [`Item`], to compare whole runs.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Owned {
    Event {
        id: Option<String>,
        event: String,
        data: Vec<u8>,
    },
    Comment(Vec<u8>),
    Retry(u64),
}

impl From<Item<'_>> for Owned {
    fn from(item: Item<'_>) -> Self {
        match item {
            Item::Event(e) => Owned::Event {
                id: e.id.map(str::to_owned),
                event: e.event.to_owned(),
                data: e.data.to_vec(),
            },
            Item::Comment(c) => Owned::Comment(c.to_vec()),
            Item::Retry(ms) => Owned::Retry(ms),
        }
    }
}

fn ev(id: Option<&str>, event: &str, data: &str) -> Owned {
    Owned::Event {
        id: id.map(str::to_owned),
        event: event.to_owned(),
        data: data.as_bytes().to_vec(),
    }
}

fn parse_chunks<'a>(parser: &mut Parser, chunks: impl IntoIterator<Item = &'a [u8]>) -> Vec<Owned> {
    let mut items = Vec::new();
    for chunk in chunks {
        parser.feed(chunk, &mut |item| items.push(Owned::from(item)));
    }
    items
}

fn parse(input: &[u8]) -> Vec<Owned> {
    parse_chunks(&mut Parser::new(), [input])
}

/// Feeds `input` one byte at a time.
fn parse_bytewise(input: &[u8]) -> Vec<Owned> {
    parse_chunks(&mut Parser::new(), input.chunks(1))
}

/// Where the data of each event reported from `chunk` lies: in the chunk (`true`) or in
/// the parser's own buffer (`false`).
fn data_borrowed_from_chunk(parser: &mut Parser, chunk: &[u8]) -> Vec<bool> {
    let range = chunk.as_ptr_range();
    let mut borrowed = Vec::new();
    parser.feed(chunk, &mut |item| {
        if let Item::Event(event) = item {
            borrowed.push(range.contains(&event.data.as_ptr()));
        }
    });
    borrowed
}

#[test]
fn an_event_whole_in_its_chunk_is_reported_from_the_chunk() {
    let mut parser = Parser::new();
    // One data line ending in the same chunk: borrowed, whatever the other fields.
    let chunk = b"id: 1\nevent: tick\ndata: t=123 padding\n\nid: 2\ndata: b\n\n";
    assert_eq!(data_borrowed_from_chunk(&mut parser, chunk), [true, true]);
    // Two data lines are joined in the parser's buffer.
    assert_eq!(
        data_borrowed_from_chunk(&mut parser, b"data: a\ndata: b\n\n"),
        [false]
    );
    // A data line whose blank line comes in the next chunk was kept by the parser.
    assert_eq!(
        data_borrowed_from_chunk(&mut parser, b"data: c\n"),
        [] as [bool; 0]
    );
    assert_eq!(data_borrowed_from_chunk(&mut parser, b"\n"), [false]);
    // And the items are the same as ever.
    let all = b"data: a\ndata: b\n\ndata: c\n\ndata:\n\n";
    assert_eq!(
        parse(all),
        [
            ev(None, "message", "a\nb"),
            ev(None, "message", "c"),
            ev(None, "message", "")
        ]
    );
}

#[test]
fn lf_line_ends() {
    assert_eq!(
        parse(b"data: a\n\ndata: b\n\n"),
        [ev(None, "message", "a"), ev(None, "message", "b")]
    );
}

#[test]
fn cr_line_ends() {
    assert_eq!(
        parse(b"data: a\r\rdata: b\r\r"),
        [ev(None, "message", "a"), ev(None, "message", "b")]
    );
}

#[test]
fn crlf_line_ends() {
    assert_eq!(
        parse(b"data: a\r\n\r\ndata: b\r\n\r\n"),
        [ev(None, "message", "a"), ev(None, "message", "b")]
    );
}

#[test]
fn mixed_line_ends() {
    assert_eq!(
        parse(b"data: a\rdata: b\ndata: c\r\n\n"),
        [ev(None, "message", "a\nb\nc")]
    );
}

#[test]
fn crlf_split_across_chunks_is_one_line_end() {
    // Were the LF a second line end, the blank line would dispatch "a" alone.
    let items = parse_chunks(&mut Parser::new(), [&b"data: a\r"[..], b"\ndata: b\r\n\r\n"]);
    assert_eq!(items, [ev(None, "message", "a\nb")]);
}

#[test]
fn cr_then_empty_chunk_then_lf_is_one_line_end() {
    let items = parse_chunks(&mut Parser::new(), [&b"data: a\r"[..], b"", b"\ndata: b\n\n"]);
    assert_eq!(items, [ev(None, "message", "a\nb")]);
}

#[test]
fn cr_at_chunk_end_followed_by_cr_is_blank_line() {
    let items = parse_chunks(&mut Parser::new(), [&b"data: a\r"[..], b"\r"]);
    assert_eq!(items, [ev(None, "message", "a")]);
}

#[test]
fn leading_bom_is_skipped() {
    assert_eq!(parse(b"\xEF\xBB\xBFdata: a\n\n"), [ev(None, "message", "a")]);
}

#[test]
fn bom_split_across_chunks_is_skipped() {
    let items = parse_chunks(&mut Parser::new(), [&b"\xEF"[..], b"\xBB", b"\xBFdata: a\n\n"]);
    assert_eq!(items, [ev(None, "message", "a")]);
}

#[test]
fn only_one_bom_is_skipped() {
    // The second BOM is part of the field name "\u{FEFF}data", an unknown field.
    assert_eq!(parse(b"\xEF\xBB\xBF\xEF\xBB\xBFdata: a\n\n"), []);
}

#[test]
fn partial_bom_starts_the_first_line() {
    // "\xEF\xBB" then ":" would be a comment only if the BOM prefix vanished; it must not.
    assert_eq!(parse(b"\xEF\xBB: x\n\ndata: a\n\n"), [ev(None, "message", "a")]);
    assert_eq!(parse(b"\xEFdata: a\n\n"), []);
}

#[test]
fn bom_later_in_stream_is_not_skipped() {
    assert_eq!(
        parse(b"data: a\n\n\xEF\xBB\xBFdata: b\n\n"),
        [ev(None, "message", "a")]
    );
}

#[test]
fn comments_are_reported_and_do_not_dispatch() {
    assert_eq!(
        parse(b": ping\n\n:\ndata: a\n: mid\n\n"),
        [
            Owned::Comment(b" ping".to_vec()),
            Owned::Comment(Vec::new()),
            Owned::Comment(b" mid".to_vec()),
            ev(None, "message", "a")
        ]
    );
}

#[test]
fn one_leading_space_is_stripped() {
    assert_eq!(
        parse(b"data:a\n\ndata: a\n\ndata:  a\n\n"),
        [
            ev(None, "message", "a"),
            ev(None, "message", "a"),
            ev(None, "message", " a")
        ]
    );
}

#[test]
fn value_keeps_further_colons() {
    assert_eq!(parse(b"data: a: b:c\n\n"), [ev(None, "message", "a: b:c")]);
}

#[test]
fn field_without_colon_has_empty_value() {
    // "data" alone appends an empty line: the data buffer is "\n", dispatched as "".
    assert_eq!(parse(b"data\n\n"), [ev(None, "message", "")]);
    assert_eq!(parse(b"data\ndata\n\n"), [ev(None, "message", "\n")]);
}

#[test]
fn data_lines_are_joined_with_lf() {
    assert_eq!(
        parse(b"data: one\ndata: two\ndata:\ndata: four\n\n"),
        [ev(None, "message", "one\ntwo\n\nfour")]
    );
}

#[test]
fn event_type_sets_and_resets() {
    assert_eq!(
        parse(b"event: tick\ndata: a\n\ndata: b\n\nevent:\ndata: c\n\n"),
        [
            ev(None, "tick", "a"),
            ev(None, "message", "b"),
            ev(None, "message", "c")
        ]
    );
}

#[test]
fn event_type_without_data_is_dropped_with_the_event() {
    assert_eq!(parse(b"event: tick\n\ndata: a\n\n"), [ev(None, "message", "a")]);
}

#[test]
fn id_persists_across_events() {
    assert_eq!(
        parse(b"id: 1\ndata: a\n\ndata: b\n\nid: 2\ndata: c\n\n"),
        [
            ev(Some("1"), "message", "a"),
            ev(Some("1"), "message", "b"),
            ev(Some("2"), "message", "c")
        ]
    );
}

#[test]
fn empty_id_resets_the_buffer() {
    let mut parser = Parser::new();
    let items = parse_chunks(&mut parser, [&b"id: 1\ndata: a\n\nid\ndata: b\n\n"[..]]);
    assert_eq!(items, [ev(Some("1"), "message", "a"), ev(None, "message", "b")]);
    assert_eq!(parser.last_event_id(), None);
}

#[test]
fn id_with_nul_is_ignored() {
    let mut parser = Parser::new();
    let items = parse_chunks(&mut parser, [&b"id: 1\ndata: a\n\nid: 2\0x\ndata: b\n\n"[..]]);
    assert_eq!(
        items,
        [ev(Some("1"), "message", "a"), ev(Some("1"), "message", "b")]
    );
    assert_eq!(parser.last_event_id(), Some("1"));
}

#[test]
fn id_without_data_updates_last_event_id_on_blank_line() {
    let mut parser = Parser::new();
    assert_eq!(parse_chunks(&mut parser, [&b"id: 7\n"[..]]), []);
    assert_eq!(
        parser.last_event_id(),
        None,
        "not committed before the blank line"
    );
    assert_eq!(parse_chunks(&mut parser, [&b"\n"[..]]), []);
    assert_eq!(parser.last_event_id(), Some("7"));
}

#[test]
fn retry_with_digits_only() {
    assert_eq!(
        parse(b"retry: 1500\nretry: 15x\nretry:\nretry: -1\nretry: 99999999999999999999999\n\n"),
        [Owned::Retry(1500), Owned::Retry(u64::MAX)]
    );
}

#[test]
fn retry_alone_does_not_dispatch_an_event() {
    assert_eq!(parse(b"retry: 10\n\n"), [Owned::Retry(10)]);
}

#[test]
fn unknown_fields_are_ignored() {
    assert_eq!(
        parse(b"foo: bar\nData: x\ndata : y\ndata: a\n\n"),
        [ev(None, "message", "a")]
    );
}

#[test]
fn empty_data_buffer_is_not_dispatched() {
    assert_eq!(parse(b"\n\n\nid: 3\n\n"), []);
}

#[test]
fn incomplete_event_at_end_is_not_dispatched() {
    assert_eq!(parse(b"data: a\n\ndata: b\n"), [ev(None, "message", "a")]);
    assert_eq!(parse(b"data: a\n\ndata: b"), [ev(None, "message", "a")]);
}

#[test]
fn invalid_utf8_in_id_and_type_is_replaced() {
    assert_eq!(
        parse(b"id: a\xFFb\nevent: t\xC3\ndata: \xFF\n\n"),
        [Owned::Event {
            id: Some("a\u{FFFD}b".to_owned()),
            event: "t\u{FFFD}".to_owned(),
            data: vec![0xFF]
        }]
    );
}

#[test]
fn resume_reports_the_resumed_id_until_the_stream_sets_one() {
    let mut parser = Parser::resume(Some("41"));
    assert_eq!(parser.last_event_id(), Some("41"));
    let items = parse_chunks(&mut parser, [&b"id: 42\ndata: a\n\n"[..]]);
    assert_eq!(items, [ev(Some("42"), "message", "a")]);
    assert_eq!(parser.last_event_id(), Some("42"));
}

#[test]
fn reset_stream_discards_partial_event_and_keeps_last_id() {
    let mut parser = Parser::new();
    let items = parse_chunks(&mut parser, [&b"id: 5\ndata: a\n\nid: 6\ndata: par"[..]]);
    assert_eq!(items, [ev(Some("5"), "message", "a")]);
    parser.reset_stream();
    assert_eq!(parser.last_event_id(), Some("5"));
    let items = parse_chunks(&mut parser, [&b"\xEF\xBB\xBFtial\ndata: b\n\n"[..]]);
    // "tial" is an unknown field; the new stream's id buffer starts empty.
    assert_eq!(items, [ev(None, "message", "b")]);
}

#[test]
fn long_line_across_many_chunks() {
    let payload = "x".repeat(10_000);
    let input = format!("data: {payload}\n\n");
    assert_eq!(
        parse_chunks(&mut Parser::new(), input.as_bytes().chunks(7)),
        [ev(None, "message", &payload)]
    );
}

#[test]
fn bytewise_feeding_matches_whole() {
    let input = b"\xEF\xBB\xBF: hi\r\nid: 1\r\nevent: x\rdata: a\r\n\r\nretry: 5\n\ndata: b\r\r";
    assert_eq!(parse_bytewise(input), parse(input));
    assert_eq!(parse(input).len(), 4);
}

#[test]
fn event_number_accepts_digits_only() {
    assert_eq!(event_number("0"), Some(0));
    assert_eq!(event_number("42"), Some(42));
    assert_eq!(event_number("18446744073709551615"), Some(u64::MAX));
    assert_eq!(event_number("18446744073709551616"), None);
    for bad in ["", "+1", "-1", " 1", "1 ", "1a", "0x1"] {
        assert_eq!(event_number(bad), None, "{bad:?}");
    }
}

/// Splits `input` at the given (unsorted, possibly out-of-range) cut points.
fn split_at_cuts(input: &[u8], cuts: &[usize]) -> Vec<Vec<u8>> {
    let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (input.len() + 1)).collect();
    cuts.sort_unstable();
    let mut chunks = Vec::new();
    let mut start = 0;
    for cut in cuts {
        chunks.push(input[start..cut].to_vec());
        start = cut;
    }
    chunks.push(input[start..].to_vec());
    chunks
}

/// Bytes rich in what the parser reacts to.
fn sse_like_bytes() -> impl Strategy<Value = Vec<u8>> {
    let token = prop_oneof![
        Just(b"\r".to_vec()),
        Just(b"\n".to_vec()),
        Just(b"\r\n".to_vec()),
        Just(b":".to_vec()),
        Just(b" ".to_vec()),
        Just(b"data".to_vec()),
        Just(b"id".to_vec()),
        Just(b"event".to_vec()),
        Just(b"retry".to_vec()),
        Just(b"\xEF\xBB\xBF".to_vec()),
        Just(b"\0".to_vec()),
        Just(b"123".to_vec()),
        prop::collection::vec(any::<u8>(), 0..4),
    ];
    prop::collection::vec(token, 0..64).prop_map(|tokens| tokens.concat())
}

/// Event parts the encoder accepts: ids without CR/LF/NUL, names without CR/LF.
fn encodable_event() -> impl Strategy<Value = (Option<String>, Option<String>, Vec<u8>)> {
    (
        prop::option::of("[a-zA-Z0-9 :._-]{1,12}"),
        prop::option::of("[a-zA-Z0-9_-]{1,12}"),
        prop::collection::vec(
            prop_oneof![Just(b'\n'), Just(b'\r'), Just(b':'), Just(b' '), b'a'..=b'z'],
            0..40,
        ),
    )
}

/// The standard's algorithm written as literally as possible, over the whole input at
/// once: split into lines first, then interpret them. The streaming parser must agree.
fn reference(input: &[u8]) -> (Vec<Owned>, Option<String>) {
    let input = input.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(input);
    let mut lines = Vec::new();
    let (mut start, mut i) = (0, 0);
    while i < input.len() {
        if input[i] == b'\r' || input[i] == b'\n' {
            lines.push(&input[start..i]);
            if input[i] == b'\r' && input.get(i + 1) == Some(&b'\n') {
                i += 1;
            }
            start = i + 1;
        }
        i += 1;
    }
    // Bytes after the last line end form an incomplete line: discarded at the end.
    let lossy = |v: &[u8]| String::from_utf8_lossy(v).into_owned();
    let (mut items, mut data, mut event_type) = (Vec::new(), Vec::new(), String::new());
    let (mut id_buffer, mut last_id) = (String::new(), String::new());
    for line in lines {
        if line.is_empty() {
            last_id = id_buffer.clone();
            if !data.is_empty() {
                if data.last() == Some(&b'\n') {
                    data.pop();
                }
                let event = if event_type.is_empty() {
                    "message".to_owned()
                } else {
                    event_type.clone()
                };
                let id = (!last_id.is_empty()).then(|| last_id.clone());
                items.push(Owned::Event {
                    id,
                    event,
                    data: std::mem::take(&mut data),
                });
            }
            data.clear();
            event_type.clear();
        } else if line[0] == b':' {
            items.push(Owned::Comment(line[1..].to_vec()));
        } else {
            let (field, value) = match line.iter().position(|&b| b == b':') {
                Some(colon) => {
                    let value = &line[colon + 1..];
                    (
                        &line[..colon],
                        if value.first() == Some(&b' ') {
                            &value[1..]
                        } else {
                            value
                        },
                    )
                }
                None => (line, &line[line.len()..]),
            };
            match field {
                b"event" => event_type = lossy(value),
                b"data" => {
                    data.extend_from_slice(value);
                    data.push(b'\n');
                }
                b"id" if !value.contains(&0) => id_buffer = lossy(value),
                b"retry" if !value.is_empty() && value.iter().all(u8::is_ascii_digit) => {
                    items.push(Owned::Retry(lossy(value).parse().unwrap_or(u64::MAX)));
                }
                _ => {}
            }
        }
    }
    (items, (!last_id.is_empty()).then_some(last_id))
}

#[test]
fn reference_model_agrees_on_a_known_stream() {
    let input = b"\xEF\xBB\xBF: c\r\nid: 1\revent: e\ndata: a\r\ndata\n\nretry: 7\n\ndata: b\n";
    let (items, last_id) = reference(input);
    assert_eq!(
        items,
        [
            Owned::Comment(b" c".to_vec()),
            ev(Some("1"), "e", "a\n"),
            Owned::Retry(7)
        ]
    );
    assert_eq!(last_id.as_deref(), Some("1"));
    assert_eq!(parse(input), items);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(input in prop::collection::vec(any::<u8>(), 0..512), cuts in prop::collection::vec(any::<usize>(), 0..8)) {
        let mut parser = Parser::new();
        let mut count = 0usize;
        for chunk in split_at_cuts(&input, &cuts) {
            parser.feed(&chunk, &mut |_| count += 1);
        }
        prop_assert!(count <= input.len());
    }

    #[test]
    fn chunk_boundaries_do_not_matter(input in sse_like_bytes(), cuts in prop::collection::vec(any::<usize>(), 0..16)) {
        let whole = parse(&input);
        let mut parser = Parser::new();
        let split = parse_chunks(&mut parser, split_at_cuts(&input, &cuts).iter().map(Vec::as_slice));
        prop_assert_eq!(&split, &whole);
        prop_assert_eq!(parse_bytewise(&input), whole);
    }

    #[test]
    fn streaming_parser_matches_the_reference_model(
        input in prop_oneof![sse_like_bytes(), prop::collection::vec(any::<u8>(), 0..256)],
        cuts in prop::collection::vec(any::<usize>(), 0..16),
    ) {
        let (expected, expected_last_id) = reference(&input);
        let mut parser = Parser::new();
        let items = parse_chunks(&mut parser, split_at_cuts(&input, &cuts).iter().map(Vec::as_slice));
        prop_assert_eq!(items, expected);
        prop_assert_eq!(parser.last_event_id(), expected_last_id.as_deref());
    }

    #[test]
    fn encode_then_parse_round_trips(events in prop::collection::vec(encodable_event(), 1..8), cuts in prop::collection::vec(any::<usize>(), 0..8)) {
        let mut wire = Vec::new();
        let mut expected = Vec::new();
        let mut last_id: Option<String> = None;
        for (id, name, data) in &events {
            let mut event = frame::Event::data(data);
            if let Some(id) = id {
                event = event.id(id);
                last_id = Some(id.clone());
            }
            if let Some(name) = name {
                event = event.event(name);
            }
            wire.extend_from_slice(&event.encode().unwrap());
            // The encoder splits data at CR, LF and CRLF; the parser joins with LF.
            let normalized = String::from_utf8(data.clone()).unwrap().replace("\r\n", "\n").replace('\r', "\n");
            expected.push(Owned::Event {
                id: last_id.clone(),
                event: name.clone().unwrap_or_else(|| DEFAULT_EVENT_TYPE.to_owned()),
                data: normalized.into_bytes(),
            });
        }
        let mut parser = Parser::new();
        let items = parse_chunks(&mut parser, split_at_cuts(&wire, &cuts).iter().map(Vec::as_slice));
        prop_assert_eq!(items, expected);
        prop_assert_eq!(parser.last_event_id(), last_id.as_deref());
    }
}
