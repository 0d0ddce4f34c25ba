//! A target description (`--target-file`, TOML): where any SSE server streams, how its events arrive, where its figures are.
//!
//! ```toml
//! name = "my-server"
//!
//! [stream]                                   # what every client opens
//! urls = ["http://127.0.0.1:8001/feed?topic=a", "http://127.0.0.1:8001/feed?topic=b"]
//! headers = { Authorization = "Bearer ${API_TOKEN}" }
//! last_event_id = true                       # resumes after Last-Event-ID
//! # method = "POST"; body = '{"stream": true, "n": {seq}}'; end = "[DONE]"   (request-driven streams)
//! # protocol = "h2"; streams_per_connection = 100                          (HTTP/2, default h1)
//!
//! [events]
//! source = "publish"                         # or "self": the server publishes on its own
//! send_time = { prefix = "t=", unit = "ns" } # or { json_pointer = "/sent_at", unit = "ms" }
//!
//! [events.publish]                           # one request per event
//! method = "POST"
//! url = "http://127.0.0.1:8001/publish?topic=a"
//! headers = { "Content-Type" = "text/plain" }
//! body = "t={send_time_ns} {padding}"
//!
//! [per_connection]                           # optional: a generated stream per connection
//! url = "http://127.0.0.1:8001/sse?delay={delay_seconds}&size={size}"
//!
//! [health]
//! url = "http://127.0.0.1:8001/health"
//!
//! [metrics]
//! url = "http://127.0.0.1:8001/metrics"
//! format = "prometheus"                      # or "json", with keys = { memory_rss_mb = "/mem/rss" }
//!
//! [process]
//! pid_file = "target/peers/my-server.pid"    # or pid = 1234
//!
//! [tls]                                      # for https:// URLs (default: the system roots)
//! ca_file = "certs/test-ca.pem"              # or insecure = true
//! ```
//!
//! Loading validates everything once ([`load`]): unknown keys, bad URLs, unset
//! environment variables and unknown placeholders are errors naming the field. Secrets
//! are handled as [`headers`] describes.

pub mod file;
pub mod headers;
pub mod template;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use http::{Method, Uri};

pub use headers::{Header, Headers};
pub use template::BodyTemplate;

use crate::measure::send_time::SendTime;

/// A target file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum DescriptionError {
    /// The file cannot be read.
    #[error("cannot read the target file {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The file is not valid TOML or has unknown or mistyped keys.
    #[error("the target file {} is not valid: {message}", path.display())]
    Syntax {
        /// The file.
        path: PathBuf,
        /// The parser's message (with line and column).
        message: String,
    },
    /// A field has a value that cannot be used.
    #[error("target file field `{field}`: {reason}")]
    Invalid {
        /// The dotted field name.
        field: String,
        /// What is wrong and what to write instead.
        reason: String,
    },
}

/// How events reach the stream.
#[derive(Debug, Clone)]
pub enum EventSource {
    /// The generator sends one request per event.
    Publish(Publish),
    /// The server publishes on its own (a ticker, a change feed).
    SelfPublished,
}

/// The request that publishes one event.
#[derive(Debug, Clone)]
pub struct Publish {
    /// Its method.
    pub method: Method,
    /// Its URL.
    pub url: Uri,
    /// Its headers.
    pub headers: Headers,
    /// Its body.
    pub body: BodyTemplate,
}

/// The format of the metrics endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetricsFormat {
    /// A JSON object; `keys` maps this project's figure names to JSON pointers in it.
    Json {
        /// Figure name → JSON pointer (`memory_rss_mb` → `/process/rss_mb`).
        keys: BTreeMap<String, String>,
    },
    /// The Prometheus text format (the standard `process_*` metrics are read).
    Prometheus,
}

/// Where the server's own figures are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metrics {
    /// The endpoint.
    pub url: Uri,
    /// Its format.
    pub format: MetricsFormat,
}

/// The server's local process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Process {
    /// A process id.
    Pid(u32),
    /// A file holding it, read when a scenario starts.
    PidFile(PathBuf),
}

/// A validated target description.
#[derive(Debug, Clone)]
pub struct Description {
    /// A name for reports (the file stem when not given).
    pub name: String,
    /// Stream URLs; client `i` opens `streams[i % len]`.
    pub streams: Vec<Uri>,
    /// Headers of every stream request.
    pub headers: Headers,
    /// The stream request's method (`GET`; `POST` for request-driven streams).
    pub method: Method,
    /// The stream request's body, when it has one (`{seq}` numbers the requests).
    pub body: Option<BodyTemplate>,
    /// Data that ends a request-driven stream (`[DONE]`), besides the server closing it.
    pub end: Option<String>,
    /// Whether the server resumes after `Last-Event-ID`.
    pub last_event_id: bool,
    /// How events arrive.
    pub events: EventSource,
    /// Where an event's send time is.
    pub send_time: SendTime,
    /// A per-connection generated stream: URL with `{delay_seconds}` and `{size}`.
    pub per_connection: Option<String>,
    /// A URL answering 2xx when the server is up.
    pub health: Option<Uri>,
    /// The server's metrics.
    pub metrics: Option<Metrics>,
    /// The server's process.
    pub process: Option<Process>,
    /// How `https://` certificates are checked (`[tls] ca_file`, `insecure`).
    pub tls: crate::client::tls::TlsOptions,
    /// The streams' protocol (`[stream] protocol`, `streams_per_connection`), when the
    /// file chooses one; the command line's wins.
    pub protocol: Option<crate::client::Protocol>,
}

/// Reads and validates the target file at `path`, taking `${NAME}` values from the
/// process environment.
///
/// # Errors
/// [`DescriptionError`] naming the file or field and what to do.
pub fn load(path: &Path) -> Result<Description, DescriptionError> {
    let text = std::fs::read_to_string(path).map_err(|source| DescriptionError::Read {
        path: path.to_owned(),
        source,
    })?;
    let name = path.file_stem().map(|s| s.to_string_lossy().into_owned());
    parse(&text, name.as_deref().unwrap_or("target"), &|n| {
        std::env::var(n).ok()
    })
    .map_err(|err| match err {
        DescriptionError::Syntax { message, .. } => DescriptionError::Syntax {
            path: path.to_owned(),
            message,
        },
        other => other,
    })
}

/// Parses a target file's text (`default_name` when it names none; `env` for `${NAME}`).
///
/// # Errors
/// As [`load`].
pub fn parse(
    text: &str,
    default_name: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Description, DescriptionError> {
    let raw: file::File = toml::from_str(text).map_err(|err| DescriptionError::Syntax {
        path: PathBuf::new(),
        message: err.to_string(),
    })?;
    raw.validate(default_name, env)
}

impl Description {
    /// The publish request, when the generator publishes.
    pub fn publish(&self) -> Option<&Publish> {
        match &self.events {
            EventSource::Publish(p) => Some(p),
            EventSource::SelfPublished => None,
        }
    }

    /// The per-connection stream URL for `delay_seconds` and `size`.
    pub fn per_connection_url(&self, delay_seconds: f64, size: usize) -> Option<String> {
        let template = self.per_connection.as_ref()?;
        Some(
            template
                .replace("{delay_seconds}", &delay_seconds.to_string())
                .replace("{size}", &size.to_string()),
        )
    }

    /// The first stream URL, as reports show it (URLs never carry secrets: those go in
    /// headers).
    pub fn shown_url(&self) -> String {
        self.streams.first().map(ToString::to_string).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests;
