//! Request input, validated at the edge: query parameters and `Last-Event-ID`, with errors that name the parameter.

use std::time::Duration;

use axum::Json;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// Largest accepted `size` (payload bytes per generated event).
pub const MAX_EVENT_SIZE: usize = 1024 * 1024;
/// Largest accepted `delay`.
pub const MAX_DELAY: Duration = Duration::from_secs(3600);

/// A rejected request: answered with a status and a JSON body naming the parameter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApiError {
    #[serde(skip)]
    status: StatusCode,
    /// What was wrong and what to send instead.
    pub error: String,
    /// The offending parameter or header.
    pub parameter: &'static str,
    /// The server limit that was exceeded (a flag name), if that was the problem.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<&'static str>,
    /// The value of that limit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max: Option<u64>,
}

impl ApiError {
    /// A 400 Bad Request about `parameter`.
    pub fn bad_request(parameter: &'static str, error: String) -> Self {
        Self::new(StatusCode::BAD_REQUEST, parameter, error)
    }

    /// An error answered with `status`, about `parameter`.
    pub fn new(status: StatusCode, parameter: &'static str, error: String) -> Self {
        Self {
            status,
            error,
            parameter,
            limit: None,
            max: None,
        }
    }

    /// Names the server limit (`flag`, whose value is `max`) that the request exceeded.
    pub fn over_limit(mut self, flag: &'static str, max: u64) -> Self {
        self.limit = Some(flag);
        self.max = Some(max);
        self
    }

    /// The status this error is answered with.
    pub fn status(&self) -> StatusCode {
        self.status
    }
}

/// Longest part of a rejected value quoted back in an error message.
const QUOTE_MAX: usize = 40;

/// `raw` for quoting in an error: whole if short, else its start and the length.
fn quoted(raw: &str) -> String {
    if raw.len() <= QUOTE_MAX {
        return format!("{raw:?}");
    }
    let mut end = QUOTE_MAX;
    while !raw.is_char_boundary(end) {
        end -= 1;
    }
    format!("{:?}… ({} bytes)", &raw[..end], raw.len())
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(self)).into_response()
    }
}

/// The query pairs of a request, as decoded by axum's `Query`.
pub type Pairs = [(String, String)];

fn find<'a>(pairs: &'a Pairs, name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .rev()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Parses a `delay` in seconds (fractions allowed, 0 ≤ delay ≤ 3600).
pub fn delay(pairs: &Pairs, default: Duration) -> Result<Duration, ApiError> {
    let Some(raw) = find(pairs, "delay") else {
        return Ok(default);
    };
    let invalid = || {
        ApiError::bad_request(
            "delay",
            format!(
                "invalid `delay` {}: expected seconds between 0 and {}, e.g. delay=0.01",
                quoted(raw),
                MAX_DELAY.as_secs()
            ),
        )
    };
    let secs: f64 = raw.trim().parse().map_err(|_| invalid())?;
    if !secs.is_finite() || secs < 0.0 || secs > MAX_DELAY.as_secs_f64() {
        return Err(invalid());
    }
    Ok(Duration::from_secs_f64(secs))
}

/// Parses an optional event `count` (a whole number ≥ 1).
pub fn count(pairs: &Pairs) -> Result<Option<u64>, ApiError> {
    let Some(raw) = find(pairs, "count") else {
        return Ok(None);
    };
    match raw.trim().parse::<u64>() {
        Ok(n) if n >= 1 => Ok(Some(n)),
        _ => Err(ApiError::bad_request(
            "count",
            format!(
                "invalid `count` {}: expected a whole number of events ≥ 1, e.g. count=100",
                quoted(raw)
            ),
        )),
    }
}

/// Parses a payload `size` in bytes (0 ≤ size ≤ 1 MiB).
pub fn size(pairs: &Pairs, default: usize) -> Result<usize, ApiError> {
    let Some(raw) = find(pairs, "size") else {
        return Ok(default);
    };
    match raw.trim().parse::<usize>() {
        Ok(n) if n <= MAX_EVENT_SIZE => Ok(n),
        _ => Err(ApiError::bad_request(
            "size",
            format!(
                "invalid `size` {}: expected payload bytes between 0 and {MAX_EVENT_SIZE}, e.g. size=256",
                quoted(raw)
            ),
        )),
    }
}

/// Parses an optional event name (`event`), which must be a single line.
pub fn event_name(pairs: &Pairs) -> Result<Option<&str>, ApiError> {
    match find(pairs, "event") {
        Some(name) if name.contains(['\r', '\n', '\0']) => Err(ApiError::bad_request(
            "event",
            "invalid `event`: an event name must not contain CR, LF or NUL".to_owned(),
        )),
        Some("") | None => Ok(None),
        Some(name) => Ok(Some(name)),
    }
}

/// The client's last seen event id: the `Last-Event-ID` header, or `?last_event_id=`
/// for clients that cannot set headers. An empty value means none.
pub fn last_event_id(headers: &HeaderMap, pairs: &Pairs) -> Result<Option<u64>, ApiError> {
    let (parameter, raw) = if let Some(value) = headers.get("last-event-id") {
        let raw = value.to_str().map_err(|_| {
            ApiError::bad_request(
                "Last-Event-ID",
                "invalid `Last-Event-ID` header: not visible ASCII; expected an event id such as 42"
                    .to_owned(),
            )
        })?;
        ("Last-Event-ID", raw)
    } else if let Some(raw) = find(pairs, "last_event_id") {
        ("last_event_id", raw)
    } else {
        return Ok(None);
    };
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(None);
    }
    raw.parse::<u64>().map(Some).map_err(|_| {
        ApiError::bad_request(
            parameter,
            format!(
                "invalid `{parameter}` {}: expected the numeric id of an event this server sent, e.g. 42",
                quoted(raw)
            ),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn delay_bounds() {
        assert_eq!(
            delay(&q(&[("delay", "0.25")]), Duration::ZERO).unwrap(),
            Duration::from_millis(250)
        );
        assert_eq!(
            delay(&q(&[]), Duration::from_secs(1)).unwrap(),
            Duration::from_secs(1)
        );
        for bad in ["abc", "-1", "NaN", "inf", "1e9", ""] {
            let err = delay(&q(&[("delay", bad)]), Duration::ZERO).unwrap_err();
            assert_eq!(err.parameter, "delay", "{bad}");
        }
    }

    #[test]
    fn count_and_size_bounds() {
        assert_eq!(count(&q(&[("count", "5")])).unwrap(), Some(5));
        assert_eq!(count(&q(&[("count", "0")])).unwrap_err().parameter, "count");
        assert_eq!(count(&q(&[("count", "-3")])).unwrap_err().parameter, "count");
        assert_eq!(size(&q(&[("size", "4096")]), 0).unwrap(), 4096);
        assert_eq!(
            size(&q(&[("size", "99999999999")]), 0).unwrap_err().parameter,
            "size"
        );
    }

    #[test]
    fn last_event_id_from_header_or_query() {
        let mut headers = HeaderMap::new();
        assert_eq!(
            last_event_id(&headers, &q(&[("last_event_id", "7")])).unwrap(),
            Some(7)
        );
        headers.insert("last-event-id", "12".parse().unwrap());
        assert_eq!(last_event_id(&headers, &q(&[])).unwrap(), Some(12));
        headers.insert("last-event-id", "".parse().unwrap());
        assert_eq!(last_event_id(&headers, &q(&[])).unwrap(), None);
        headers.insert("last-event-id", "x1".parse().unwrap());
        assert_eq!(
            last_event_id(&headers, &q(&[])).unwrap_err().parameter,
            "Last-Event-ID"
        );
    }

    #[test]
    fn long_values_are_not_echoed_whole() {
        let mut headers = HeaderMap::new();
        let long = "9".repeat(10_000) + "x";
        headers.insert("last-event-id", long.parse().unwrap());
        let err = last_event_id(&headers, &q(&[])).unwrap_err();
        assert!(err.error.len() < 200, "{}", err.error);
        assert!(err.error.contains("(10001 bytes)"), "{}", err.error);
        assert_eq!(
            quoted("é".repeat(30).as_str())
                .chars()
                .filter(|&c| c == 'é')
                .count(),
            20
        );
    }

    #[test]
    fn event_name_must_be_one_line() {
        assert_eq!(
            event_name(&q(&[("event", "a\0b")])).unwrap_err().parameter,
            "event"
        );
        assert_eq!(event_name(&q(&[("event", "tick")])).unwrap(), Some("tick"));
        assert_eq!(
            event_name(&q(&[("event", "a\nb")])).unwrap_err().parameter,
            "event"
        );
    }
}
