//! The target file as TOML says it (serde, unknown keys refused), validated into a [`Description`].

use std::collections::BTreeMap;
use std::path::PathBuf;

use http::{Method, Uri};
use serde::Deserialize;

use super::{
    BodyTemplate, Description, DescriptionError, EventSource, Headers, Metrics, MetricsFormat, Process,
    Publish,
};
use crate::client::Protocol;
use crate::client::tls::TlsOptions;
use crate::measure::send_time::{SendTime, Unit};

/// The body the generator publishes when `[events.publish]` names none: the reference
/// server's stamp.
pub const DEFAULT_PUBLISH_BODY: &str = "t={send_time_ns} {padding}";

/// The whole file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct File {
    name: Option<String>,
    stream: StreamSection,
    events: Option<EventsSection>,
    per_connection: Option<UrlSection>,
    health: Option<UrlSection>,
    metrics: Option<MetricsSection>,
    process: Option<ProcessSection>,
    tls: Option<TlsSection>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TlsSection {
    ca_file: Option<PathBuf>,
    #[serde(default)]
    insecure: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StreamSection {
    url: Option<String>,
    #[serde(default)]
    urls: Vec<String>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    #[serde(default)]
    last_event_id: bool,
    method: Option<String>,
    body: Option<String>,
    end: Option<String>,
    protocol: Option<String>,
    streams_per_connection: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Source {
    Publish,
    #[serde(rename = "self")]
    SelfPublished,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EventsSection {
    source: Source,
    send_time: Option<SendTimeSection>,
    publish: Option<PublishSection>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SendTimeSection {
    prefix: Option<String>,
    json_pointer: Option<String>,
    #[serde(default)]
    unit: Unit,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PublishSection {
    method: Option<String>,
    url: String,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    body: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UrlSection {
    url: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Format {
    Json,
    Prometheus,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MetricsSection {
    url: String,
    format: Format,
    #[serde(default)]
    keys: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProcessSection {
    pid: Option<u32>,
    pid_file: Option<PathBuf>,
}

fn invalid(field: &str, reason: impl Into<String>) -> DescriptionError {
    DescriptionError::Invalid {
        field: field.to_owned(),
        reason: reason.into(),
    }
}

/// Checks a URL: `http://` or `https://`, a host, no `${...}` (secrets go in headers).
pub fn url(field: &str, raw: &str) -> Result<Uri, DescriptionError> {
    if raw.contains("${") {
        return Err(invalid(
            field,
            "URLs take no ${...} substitution; put credentials in a header (headers = { Authorization = \"Bearer ${TOKEN}\" })",
        ));
    }
    let uri: Uri = raw.parse().map_err(|_| {
        invalid(
            field,
            format!("{raw:?} is not a URL; write e.g. http://127.0.0.1:8000/events"),
        )
    })?;
    if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.host().is_none() {
        return Err(invalid(
            field,
            format!(
                "{raw:?} needs an http:// or https:// scheme and a host, e.g. http://127.0.0.1:8000/events"
            ),
        ));
    }
    Ok(uri)
}

impl File {
    /// Validates the file into a [`Description`].
    pub fn validate(
        self,
        default_name: &str,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Description, DescriptionError> {
        let streams = stream_urls(self.stream.url.as_ref(), &self.stream.urls)?;
        let headers = Headers::parse("stream", &self.stream.headers, env)?;
        let method = self.stream.method.as_deref().unwrap_or("GET");
        let method = Method::from_bytes(method.as_bytes())
            .map_err(|_| invalid("stream.method", format!("{method:?} is not an HTTP method")))?;
        let body = self
            .stream
            .body
            .as_deref()
            .map(BodyTemplate::parse)
            .transpose()
            .map_err(|reason| invalid("stream.body", reason))?;
        if self.stream.end.as_deref() == Some("") {
            return Err(invalid(
                "stream.end",
                "the end sentinel cannot be empty; e.g. end = \"[DONE]\"",
            ));
        }
        let (events, send_time) = events(self.events, env)?;
        let per_connection = match self.per_connection {
            Some(section) => {
                let probe = section.url.replace("{delay_seconds}", "0").replace("{size}", "0");
                url("per_connection.url", &probe)?;
                Some(section.url)
            }
            None => None,
        };
        let health = self.health.map(|h| url("health.url", &h.url)).transpose()?;
        let metrics = self.metrics.map(metrics).transpose()?;
        let process = self.process.map(process).transpose()?;
        let protocol = match (&self.stream.protocol, self.stream.streams_per_connection) {
            (None, None) => None,
            (name, streams) => Some(
                Protocol::parse(name.as_deref().unwrap_or("h2"), streams)
                    .map_err(|e| invalid("stream.protocol", e.to_string()))?,
            ),
        };
        Ok(Description {
            name: self.name.unwrap_or_else(|| default_name.to_owned()),
            protocol,
            streams,
            headers,
            method,
            body,
            end: self.stream.end,
            last_event_id: self.stream.last_event_id,
            events,
            send_time,
            per_connection,
            health,
            metrics,
            process,
            tls: self
                .tls
                .map(|t| TlsOptions {
                    ca_file: t.ca_file,
                    insecure: t.insecure,
                })
                .unwrap_or_default(),
        })
    }
}

/// The stream URLs, `url` first: at least one, each `http(s)://` with a host.
fn stream_urls(url_field: Option<&String>, urls: &[String]) -> Result<Vec<Uri>, DescriptionError> {
    let raw_urls: Vec<&String> = url_field.into_iter().chain(urls).collect();
    if raw_urls.is_empty() {
        return Err(invalid(
            "stream.url",
            "give the stream URL (url = \"...\" or urls = [...])",
        ));
    }
    raw_urls.into_iter().map(|u| url("stream.url", u)).collect()
}

/// The server process to read CPU and memory of: exactly one of a pid or a pid file.
fn process(section: ProcessSection) -> Result<Process, DescriptionError> {
    match section {
        ProcessSection {
            pid: Some(pid),
            pid_file: None,
        } if pid > 0 => Ok(Process::Pid(pid)),
        ProcessSection {
            pid: None,
            pid_file: Some(path),
        } => Ok(Process::PidFile(path)),
        _ => Err(invalid(
            "process",
            "give exactly one of pid = N (N > 0) or pid_file = \"path\"",
        )),
    }
}

fn events(
    section: Option<EventsSection>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(EventSource, SendTime), DescriptionError> {
    let Some(section) = section else {
        return Err(invalid(
            "events",
            "say how events arrive: [events] source = \"publish\" with [events.publish], or source = \"self\"",
        ));
    };
    let events = match (section.source, section.publish) {
        (Source::Publish, Some(p)) => {
            let method = p.method.as_deref().unwrap_or("POST");
            let method = Method::from_bytes(method.as_bytes()).map_err(|_| {
                invalid(
                    "events.publish.method",
                    format!("{method:?} is not an HTTP method"),
                )
            })?;
            let body = BodyTemplate::parse(p.body.as_deref().unwrap_or(DEFAULT_PUBLISH_BODY))
                .map_err(|reason| invalid("events.publish.body", reason))?;
            EventSource::Publish(Publish {
                method,
                url: url("events.publish.url", &p.url)?,
                headers: Headers::parse("events.publish", &p.headers, env)?,
                body,
            })
        }
        (Source::Publish, None) => {
            return Err(invalid(
                "events.publish",
                "source = \"publish\" needs an [events.publish] table with its url",
            ));
        }
        (Source::SelfPublished, Some(_)) => {
            return Err(invalid(
                "events.publish",
                "source = \"self\" takes no [events.publish]; remove it or set source = \"publish\"",
            ));
        }
        (Source::SelfPublished, None) => EventSource::SelfPublished,
    };
    let send_time = match section.send_time {
        None => match &events {
            EventSource::Publish(p) if p.body.source() == DEFAULT_PUBLISH_BODY => SendTime::Reference,
            _ => SendTime::None,
        },
        Some(SendTimeSection {
            prefix: Some(prefix),
            json_pointer: None,
            unit,
        }) => SendTime::Prefix { prefix, unit },
        Some(SendTimeSection {
            prefix: None,
            json_pointer: Some(pointer),
            unit,
        }) => SendTime::json_pointer(&pointer, unit).ok_or_else(|| {
            invalid(
                "events.send_time.json_pointer",
                format!("{pointer:?} is not a JSON pointer; write e.g. \"/sent_at\""),
            )
        })?,
        Some(_) => {
            return Err(invalid(
                "events.send_time",
                "give exactly one of prefix = \"t=\" or json_pointer = \"/field\"",
            ));
        }
    };
    Ok((events, send_time))
}

fn metrics(section: MetricsSection) -> Result<Metrics, DescriptionError> {
    let format = match section.format {
        Format::Json => {
            for (name, pointer) in &section.keys {
                if !pointer.starts_with('/') {
                    return Err(invalid(
                        &format!("metrics.keys.{name}"),
                        format!("{pointer:?} is not a JSON pointer; write e.g. \"/process/rss_mb\""),
                    ));
                }
            }
            MetricsFormat::Json { keys: section.keys }
        }
        Format::Prometheus if section.keys.is_empty() => MetricsFormat::Prometheus,
        Format::Prometheus => {
            return Err(invalid(
                "metrics.keys",
                "keys apply to format = \"json\" only; Prometheus metrics are read by their standard names",
            ));
        }
    };
    Ok(Metrics {
        url: url("metrics.url", &section.url)?,
        format,
    })
}
