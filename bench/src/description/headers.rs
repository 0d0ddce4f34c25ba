//! Request headers of a target file: `${ENV}` substitution once at load, values marked sensitive, and the redacted form reports show.
//!
//! ## Secrets
//! A header value may name environment variables (`Bearer ${API_TOKEN}`); they are read
//! once when the file is loaded. The expanded value is only ever sent: it is marked
//! sensitive ([`HeaderValue::set_sensitive`], so `Debug` prints `Sensitive`), and what
//! reports, errors and logs show is [`Header::shown`]: the value as written in the file
//! (`Bearer ${API_TOKEN}`), or `<redacted>` for a literal value of a credential header
//! (`Authorization`, `Cookie`, `X-Api-Key`, anything named like a token, key or secret).

use std::collections::BTreeMap;

use http::{HeaderName, HeaderValue};

use super::DescriptionError;

/// What a redacted literal credential shows.
pub const REDACTED: &str = "<redacted>";

/// One header to send.
#[derive(Debug, Clone)]
pub struct Header {
    /// Its name.
    pub name: HeaderName,
    /// The value sent (sensitive when it came from the environment or is a credential).
    pub value: HeaderValue,
    /// What reports show instead of the value.
    pub shown: String,
}

/// The headers of one request, in file order.
#[derive(Debug, Clone, Default)]
pub struct Headers(pub Vec<Header>);

impl Headers {
    /// Parses `section`'s header table, expanding `${NAME}` from `env`.
    ///
    /// # Errors
    /// An invalid header name or value, or a variable that is not set.
    pub fn parse(
        section: &str,
        table: &BTreeMap<String, String>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, DescriptionError> {
        let mut headers = Vec::with_capacity(table.len());
        for (name, raw) in table {
            let invalid = |reason: String| DescriptionError::Invalid {
                field: format!("{section}.headers.{name}"),
                reason,
            };
            let header_name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| invalid("not a valid header name".into()))?;
            let (expanded, substituted) = expand(raw, env).map_err(invalid)?;
            let mut value = HeaderValue::from_str(&expanded).map_err(|_| {
                invalid("the value (after ${...} substitution) has characters a header cannot carry".into())
            })?;
            let credential = is_credential(&header_name);
            value.set_sensitive(substituted || credential);
            let shown = if substituted {
                raw.clone()
            } else if credential {
                REDACTED.to_owned()
            } else {
                raw.clone()
            };
            headers.push(Header {
                name: header_name,
                value,
                shown,
            });
        }
        Ok(Self(headers))
    }

    /// Name and value pairs to send.
    pub fn pairs(&self) -> Vec<(HeaderName, HeaderValue)> {
        self.0.iter().map(|h| (h.name.clone(), h.value.clone())).collect()
    }

    /// `Name: shown` lines, safe to print and to write into reports.
    pub fn shown(&self) -> Vec<String> {
        self.0
            .iter()
            .map(|h| format!("{}: {}", h.name, h.shown))
            .collect()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Whether a header usually carries a credential.
fn is_credential(name: &HeaderName) -> bool {
    const EXACT: &[&str] = &["authorization", "proxy-authorization", "cookie", "set-cookie"];
    const PARTS: &[&str] = &["token", "secret", "key", "password", "auth", "session"];
    let name = name.as_str();
    EXACT.contains(&name) || PARTS.iter().any(|p| name.contains(p))
}

/// Expands every `${NAME}` in `raw`; returns the text and whether anything was expanded.
fn expand(raw: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<(String, bool), String> {
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    let mut substituted = false;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find('}')
            .ok_or_else(|| format!("unclosed ${{ in {raw:?}; write ${{NAME}}"))?;
        let name = &after[..end];
        let valid = !name.is_empty()
            && !name.starts_with(|c: char| c.is_ascii_digit())
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !valid {
            return Err(format!(
                "${{{name}}} is not an environment variable name (letters, digits and _)"
            ));
        }
        let value = env(name).ok_or_else(|| {
            format!("uses ${{{name}}}, which is not set in the environment; export {name}=... first")
        })?;
        out.push_str(&value);
        substituted = true;
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok((out, substituted))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        (name == "TOKEN").then(|| "s3cret-value".to_owned())
    }

    fn table(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn secrets_are_expanded_sensitive_and_never_shown() {
        let headers = Headers::parse(
            "stream",
            &table(&[
                ("Authorization", "Bearer ${TOKEN}"),
                ("X-Api-Key", "literal-key"),
                ("Accept-Language", "en"),
            ]),
            &env,
        )
        .unwrap();
        let sent: Vec<_> = headers.pairs();
        assert!(
            sent.iter()
                .any(|(n, v)| n == "authorization" && v == "Bearer s3cret-value")
        );
        let shown = headers.shown().join("\n");
        assert!(
            !shown.contains("s3cret") && !shown.contains("literal-key"),
            "{shown}"
        );
        assert!(shown.contains("authorization: Bearer ${TOKEN}"), "{shown}");
        assert!(shown.contains("x-api-key: <redacted>"), "{shown}");
        assert!(shown.contains("accept-language: en"), "{shown}");
        let debug = format!("{headers:?}");
        assert!(
            !debug.contains("s3cret") && !debug.contains("literal-key"),
            "{debug}"
        );
    }

    #[test]
    fn bad_headers_name_the_field() {
        let err = Headers::parse("stream", &table(&[("Authorization", "Bearer ${MISSING}")]), &env)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("stream.headers.Authorization") && err.contains("export MISSING"),
            "{err}"
        );
        let err = Headers::parse("stream", &table(&[("X", "${TOKEN")]), &env)
            .unwrap_err()
            .to_string();
        assert!(err.contains("unclosed"), "{err}");
        let err = Headers::parse("stream", &table(&[("bad name", "x")]), &env)
            .unwrap_err()
            .to_string();
        assert!(err.contains("header name"), "{err}");
        let err = Headers::parse("stream", &table(&[("X", "${1A}")]), &env)
            .unwrap_err()
            .to_string();
        assert!(err.contains("not an environment variable name"), "{err}");
    }
}
