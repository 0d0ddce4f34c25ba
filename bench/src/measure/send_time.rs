//! Where a received event says when it was sent: a `t=` prefix, a JSON pointer into its data, or nowhere.
//!
//! Publish-to-receive latency is the receive time minus the send time an event carries.
//! The reference server (and the generator's own publisher) start the data with
//! `t=<unix-nanos>`; another server may put a Unix time in a JSON field, in seconds (as
//! Python's `time.time()` gives it), milliseconds (JavaScript's `Date.now()`),
//! microseconds or nanoseconds.
//!
//! # Hot path
//! [`SendTime::read`] runs once per received event for every client: it allocates
//! nothing. The JSON pointer is followed with serde_json over the borrowed data,
//! skipping every other field with `IgnoredAny`, so no value is built.

use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// The unit of a time stamp (always since the Unix epoch, system clock).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Unit {
    /// Seconds (may have a fraction).
    S,
    /// Milliseconds.
    Ms,
    /// Microseconds.
    Us,
    /// Nanoseconds.
    #[default]
    Ns,
}

/// A number read from an event: integers stay exact (nanoseconds need 19 digits, more
/// than an `f64` holds).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Number {
    Int(u64),
    Float(f64),
}

impl Number {
    fn parse(text: &str) -> Option<Self> {
        match text.parse::<u64>() {
            Ok(n) => Some(Self::Int(n)),
            Err(_) => text.parse::<f64>().ok().map(Self::Float),
        }
    }
}

impl Unit {
    fn per_unit(self) -> u64 {
        match self {
            Self::S => 1_000_000_000,
            Self::Ms => 1_000_000,
            Self::Us => 1_000,
            Self::Ns => 1,
        }
    }

    fn nanos(self, value: Number) -> Option<u64> {
        match value {
            Number::Int(n) => n.checked_mul(self.per_unit()),
            Number::Float(f) => {
                let nanos = f * self.per_unit() as f64;
                (nanos.is_finite() && nanos >= 0.0 && nanos < u64::MAX as f64).then_some(nanos as u64)
            }
        }
    }
}

/// How to read the send time of an event.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum SendTime {
    /// Events carry no send time: no publish-to-receive latency.
    None,
    /// The data starts with this prefix, then the time as decimal digits (`t=` and
    /// nanoseconds for the reference server).
    Prefix {
        /// Text before the number.
        prefix: String,
        /// The number's unit.
        unit: Unit,
    },
    /// The data is JSON; the time is the number (or numeric string) at this pointer.
    JsonPointer {
        /// The pointer's segments, unescaped (`/meta/sent_at` → `["meta", "sent_at"]`).
        segments: Vec<String>,
        /// The number's unit.
        unit: Unit,
    },
    /// The reference server's stamp: `t=<unix-nanos>`.
    #[default]
    Reference,
}

impl SendTime {
    /// A JSON pointer (RFC 6901, e.g. `/meta/sent_at`), or `None` when it is not one.
    pub fn json_pointer(pointer: &str, unit: Unit) -> Option<Self> {
        let rest = pointer.strip_prefix('/')?;
        let segments = rest
            .split('/')
            .map(|s| s.replace("~1", "/").replace("~0", "~"))
            .collect();
        Some(Self::JsonPointer { segments, unit })
    }

    /// The send time of an event with `data`, nanoseconds since the Unix epoch.
    /// Allocation-free.
    pub fn read(&self, data: &[u8]) -> Option<u64> {
        match self {
            Self::None => None,
            Self::Reference => leading_integer(data.strip_prefix(b"t=")?).map(|(n, _)| n),
            Self::Prefix { prefix, unit } => {
                let rest = data.strip_prefix(prefix.as_bytes())?;
                match leading_integer(rest) {
                    Some((n, next)) if next != Some(&b'.') => unit.nanos(Number::Int(n)),
                    // A fraction (or an integer too long for u64): the slower text parse.
                    _ => {
                        let end = rest
                            .iter()
                            .position(|&b| !(b.is_ascii_digit() || b == b'.'))
                            .unwrap_or(rest.len());
                        let number = std::str::from_utf8(&rest[..end]).ok()?;
                        unit.nanos(Number::parse(number)?)
                    }
                }
            }
            Self::JsonPointer { segments, unit } => {
                let mut de = serde_json::Deserializer::from_slice(data);
                let value = Pointer(segments).deserialize(&mut de).ok()??;
                unit.nanos(value)
            }
        }
    }

    /// How this is described in reports.
    pub fn describe(&self) -> String {
        match self {
            Self::None => "none".into(),
            Self::Reference => "prefix t= (ns)".into(),
            Self::Prefix { prefix, unit } => format!("prefix {prefix} ({unit:?})").to_lowercase(),
            Self::JsonPointer { segments, unit } => {
                format!("json /{} ({unit:?})", segments.join("/")).to_lowercase()
            }
        }
    }
}

/// The decimal integer `bytes` start with, and the byte after its digits: read straight
/// from the bytes (no UTF-8 check, no `str::parse`). `None` without a digit or beyond
/// `u64::MAX`.
fn leading_integer(bytes: &[u8]) -> Option<(u64, Option<&u8>)> {
    let end = bytes
        .iter()
        .position(|b| !b.is_ascii_digit())
        .unwrap_or(bytes.len());
    if end == 0 {
        return None;
    }
    let value = bytes[..end].iter().try_fold(0u64, |acc, &d| {
        acc.checked_mul(10)?.checked_add(u64::from(d - b'0'))
    })?;
    Some((value, bytes.get(end)))
}

/// Follows the remaining pointer `segments`; yields the number found there.
struct Pointer<'p>(&'p [String]);

impl<'de> DeserializeSeed<'de> for Pointer<'_> {
    type Value = Option<Number>;

    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<Self::Value, D::Error> {
        de.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Pointer<'_> {
    type Value = Option<Number>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let Some((first, rest)) = self.0.split_first() else {
            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            return Ok(None);
        };
        let mut found = None;
        while let Some(matched) = map.next_key_seed(KeyIs(first))? {
            if matched && found.is_none() {
                found = map.next_value_seed(Pointer(rest))?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(found)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let wanted = self
            .0
            .split_first()
            .and_then(|(i, rest)| Some((i.parse::<usize>().ok()?, rest)));
        let mut found = None;
        let mut index = 0;
        loop {
            let next = match wanted {
                Some((i, rest)) if i == index => seq.next_element_seed(Pointer(rest))?.map(|v| found = v),
                _ => seq.next_element::<IgnoredAny>()?.map(drop),
            };
            if next.is_none() {
                return Ok(found);
            }
            index += 1;
        }
    }

    fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
        Ok(self.0.is_empty().then_some(Number::Float(v)))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
        Ok(self.0.is_empty().then_some(Number::Int(v)))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
        Ok(self.0.is_empty().then_some(Number::Float(v as f64)))
    }

    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(if self.0.is_empty() {
            Number::parse(v.trim())
        } else {
            None
        })
    }

    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
}

/// A map key compared with the wanted segment without building a `String`.
struct KeyIs<'p>(&'p str);

impl<'de> DeserializeSeed<'de> for KeyIs<'_> {
    type Value = bool;

    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<bool, D::Error> {
        de.deserialize_str(self)
    }
}

impl Visitor<'_> for KeyIs<'_> {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a key")
    }

    fn visit_str<E>(self, v: &str) -> Result<bool, E> {
        Ok(v == self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_and_units() {
        let ns = SendTime::Prefix {
            prefix: "t=".into(),
            unit: Unit::Ns,
        };
        assert_eq!(
            ns.read(b"t=1700000000000000000 ...."),
            Some(1_700_000_000_000_000_000)
        );
        assert_eq!(ns.read(b"x=1"), None);
        let ms = SendTime::Prefix {
            prefix: "sent:".into(),
            unit: Unit::Ms,
        };
        assert_eq!(
            ms.read(b"sent:1700000000123|rest"),
            Some(1_700_000_000_123_000_000)
        );
        assert_eq!(SendTime::Reference.read(b"t=5"), Some(5));
        assert_eq!(
            SendTime::Reference.read(b"t=1700000000000000000 ...."),
            Some(1_700_000_000_000_000_000)
        );
        assert_eq!(SendTime::Reference.read(b"t="), None);
        assert_eq!(
            SendTime::Reference.read(b"t=99999999999999999999"),
            None,
            "beyond u64"
        );
        let s = SendTime::Prefix {
            prefix: "at ".into(),
            unit: Unit::S,
        };
        assert_eq!(
            s.read(b"at 1.5 rest"),
            Some(1_500_000_000),
            "a fraction still parses"
        );
        assert_eq!(s.read(b"at 2"), Some(2_000_000_000));
        assert_eq!(SendTime::None.read(b"t=5"), None);
    }

    #[test]
    fn json_pointers_find_numbers_and_numeric_strings() {
        let top = SendTime::json_pointer("/t", Unit::S).unwrap();
        assert_eq!(top.read(br#"{"a":[1,{"t":2}],"t":1.5}"#), Some(1_500_000_000));
        let nested = SendTime::json_pointer("/meta/sent_at", Unit::Ms).unwrap();
        assert_eq!(
            nested.read(br#"{"x":"y","meta":{"id":"a\"b","sent_at":"1700000000123"}}"#),
            Some(1_700_000_000_123_000_000)
        );
        let index = SendTime::json_pointer("/items/1", Unit::Ns).unwrap();
        assert_eq!(index.read(br#"{"items":[7,8,9]}"#), Some(8));
        assert_eq!(nested.read(br#"{"meta":{}}"#), None);
        assert_eq!(nested.read(b"not json"), None);
        assert_eq!(top.read(br#"{"t":-1}"#), None);
        assert!(SendTime::json_pointer("t", Unit::S).is_none());
        let escaped = SendTime::json_pointer("/a~1b", Unit::Ns).unwrap();
        assert_eq!(escaped.read(br#"{"a/b":3}"#), Some(3));
    }
}
