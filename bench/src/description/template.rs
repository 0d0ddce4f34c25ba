//! Request-body templates with placeholders (`{seq}`, `{send_time_ns}`, `{padding}`, ...), parsed once and rendered per request.
//!
//! A `{` not followed by a placeholder name and `}` is literal text, so JSON bodies need
//! no escaping: `{"text": "t={send_time_ns}", "n": {seq}}` renders as
//! `{"text": "t=1700000000000000000", "n": 7}`.

use std::fmt::Write as _;

use bytes::Bytes;

/// A placeholder of a body template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placeholder {
    /// The request's sequence number, from 1.
    Seq,
    /// Unix time when the body is rendered (just before sending), nanoseconds.
    SendTimeNs,
    /// The same in microseconds.
    SendTimeUs,
    /// The same in milliseconds.
    SendTimeMs,
    /// The same in seconds, with a fraction (`1700000000.123456`).
    SendTimeS,
    /// `.` characters up to the scenario's payload size (counted over the whole body).
    Padding,
}

impl Placeholder {
    /// Every placeholder with its name.
    pub const ALL: [(&'static str, Self); 6] = [
        ("seq", Self::Seq),
        ("send_time_ns", Self::SendTimeNs),
        ("send_time_us", Self::SendTimeUs),
        ("send_time_ms", Self::SendTimeMs),
        ("send_time_s", Self::SendTimeS),
        ("padding", Self::Padding),
    ];
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    Value(Placeholder),
}

/// A parsed body template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BodyTemplate {
    parts: Vec<Part>,
    source: String,
}

impl BodyTemplate {
    /// Parses `text`.
    ///
    /// # Errors
    /// A `{name}` whose name is not a placeholder (the message lists the valid ones).
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut rest = text;
        while let Some(open) = rest.find('{') {
            literal.push_str(&rest[..open]);
            let after = &rest[open + 1..];
            let name_len = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            let is_placeholder = name_len > 0
                && after[name_len..].starts_with('}')
                && after.starts_with(|c: char| c.is_ascii_alphabetic());
            if !is_placeholder {
                literal.push('{');
                rest = after;
                continue;
            }
            let name = &after[..name_len];
            let Some(&(_, placeholder)) = Placeholder::ALL.iter().find(|(n, _)| *n == name) else {
                let known: Vec<_> = Placeholder::ALL.iter().map(|(n, _)| format!("{{{n}}}")).collect();
                return Err(format!(
                    "unknown placeholder {{{name}}}; use {}",
                    known.join(", ")
                ));
            };
            if !literal.is_empty() {
                parts.push(Part::Text(std::mem::take(&mut literal)));
            }
            parts.push(Part::Value(placeholder));
            rest = &after[name_len + 1..];
        }
        literal.push_str(rest);
        if !literal.is_empty() {
            parts.push(Part::Text(literal));
        }
        Ok(Self {
            parts,
            source: text.to_owned(),
        })
    }

    /// The template as written.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Whether the template carries a send time.
    pub fn has_send_time(&self) -> bool {
        self.parts.iter().any(|p| {
            matches!(
                p,
                Part::Value(
                    Placeholder::SendTimeNs
                        | Placeholder::SendTimeUs
                        | Placeholder::SendTimeMs
                        | Placeholder::SendTimeS
                )
            )
        })
    }

    /// Renders the body of request `seq` into `buf` (reused), with `{padding}` filling the
    /// body up to `payload` bytes; the send time is read now.
    pub fn render(&self, buf: &mut String, seq: u64, payload: usize) -> Bytes {
        buf.clear();
        let nanos = sse_server::publisher::unix_nanos();
        let mut padding_at = None;
        for part in &self.parts {
            match part {
                Part::Text(text) => buf.push_str(text),
                Part::Value(Placeholder::Seq) => {
                    let _ = write!(buf, "{seq}");
                }
                Part::Value(Placeholder::SendTimeNs) => {
                    let _ = write!(buf, "{nanos}");
                }
                Part::Value(Placeholder::SendTimeUs) => {
                    let _ = write!(buf, "{}", nanos / 1_000);
                }
                Part::Value(Placeholder::SendTimeMs) => {
                    let _ = write!(buf, "{}", nanos / 1_000_000);
                }
                Part::Value(Placeholder::SendTimeS) => {
                    let _ = write!(
                        buf,
                        "{}.{:06}",
                        nanos / 1_000_000_000,
                        nanos % 1_000_000_000 / 1_000
                    );
                }
                Part::Value(Placeholder::Padding) => padding_at = Some(buf.len()),
            }
        }
        if let Some(at) = padding_at {
            let fill = payload.saturating_sub(buf.len());
            buf.insert_str(at, &".".repeat(fill));
        }
        Bytes::copy_from_slice(buf.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_render_and_json_braces_stay() {
        let t = BodyTemplate::parse(r#"{"n": {seq}, "t": "{send_time_ns}"}"#).unwrap();
        assert!(t.has_send_time());
        let mut buf = String::new();
        let body = t.render(&mut buf, 7, 0);
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(json["n"], 7);
        let sent: u64 = json["t"].as_str().unwrap().parse().unwrap();
        assert!(sent > 1_600_000_000_000_000_000);
    }

    #[test]
    fn padding_fills_to_the_payload_size() {
        let t = BodyTemplate::parse("t={send_time_ns} {padding}").unwrap();
        let mut buf = String::new();
        let body = t.render(&mut buf, 1, 64);
        assert_eq!(body.len(), 64);
        assert!(body.ends_with(b"..."));
        assert!(sse_server::publisher::publish_time(&body).is_some());
        let s = BodyTemplate::parse("{send_time_s}|{send_time_ms}").unwrap();
        let out = String::from_utf8(s.render(&mut buf, 1, 0).to_vec()).unwrap();
        let (secs, ms) = out.split_once('|').unwrap();
        assert!(secs.contains('.') && ms.len() >= 13, "{out}");
    }

    #[test]
    fn unknown_placeholders_are_named() {
        let err = BodyTemplate::parse("x={sequence}").unwrap_err();
        assert!(err.contains("{sequence}") && err.contains("{seq}"), "{err}");
        assert!(BodyTemplate::parse("{}").is_ok());
        assert!(BodyTemplate::parse("{ \"a\": 1 }").is_ok());
    }
}
