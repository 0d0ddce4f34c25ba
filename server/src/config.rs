//! Command-line flags (validated once, here) and the typed [`Config`] the server runs with.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

use crate::access::{PublishAccess, Secret};
use crate::hub::HubLimits;
use crate::publisher::PublisherConfig;
use crate::tls::TlsFiles;

/// Reference SSE server: one broadcast hub, frozen-client eviction, Last-Event-ID replay.
///
/// Exit codes: 0 after a clean shutdown, 1 on a runtime error (e.g. the address is in
/// use), 2 on invalid flags.
#[derive(Debug, Clone, Parser)]
#[command(name = "sse-server", version)]
pub struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8000")]
    pub bind: SocketAddr,

    /// PEM certificate chain: serve HTTPS (HTTP/2 and HTTP/1.1 by ALPN) instead of plain
    /// HTTP. Needs --tls-key.
    #[arg(long, requires = "tls_key", value_name = "PEM")]
    pub tls_cert: Option<PathBuf>,

    /// PEM private key of --tls-cert.
    #[arg(long, requires = "tls_cert", value_name = "PEM")]
    pub tls_key: Option<PathBuf>,

    /// Reset a client whose socket has not taken data (events or pings) for this long,
    /// and an HTTP/2 stream the client has given no flow-control window for this long.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub send_timeout: Duration,

    /// SO_SNDBUF of each client socket (Linux doubles it); 0 keeps the kernel's
    /// autotuning. A small buffer lets --send-timeout notice a frozen client soon; a very
    /// large event stream to a fast client needs more system calls with it.
    #[arg(long, default_value = "64KiB", value_parser = parse_bytes_or_zero)]
    pub send_buffer: u64,

    /// Keep-alive comment interval; 0 disables pings. A stream pings when a whole interval
    /// passed with nothing sent: every interval when idle, at most 2 intervals after its last frame.
    #[arg(long, default_value = "15s", value_parser = parse_duration)]
    pub ping_interval: Duration,

    /// On SIGTERM/SIGINT, end every stream and exit within this time.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    pub shutdown_grace: Duration,

    /// Events kept for Last-Event-ID replay (also how far a subscriber may fall behind).
    #[arg(long, default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub replay_capacity: u32,

    /// Encoded bytes of events kept for replay; the oldest go first (bounds the ring
    /// beside --replay-capacity). At least --max-event-bytes.
    #[arg(long, default_value = "8MiB", value_parser = parse_bytes)]
    pub replay_bytes: u64,

    /// Largest event accepted by POST /publish, encoded (fields, `data:` lines and the
    /// blank line); larger ones are answered 413.
    #[arg(long, default_value = "1MiB", value_parser = parse_bytes)]
    pub max_event_bytes: u64,

    /// Bearer token POST /publish requires (`Authorization: Bearer <token>`), from any
    /// address. Without it, only loopback peers may publish (others get 403). Prefer the
    /// environment variable: a flag is visible to every user in the process list.
    #[arg(long, env = "SSE_PUBLISH_TOKEN", hide_env_values = true)]
    pub publish_token: Option<String>,

    /// Connections that have sent a complete request head and may stay open; the first
    /// request of a connection beyond this is answered 503 with Retry-After (except
    /// /health and /metrics, which are answered and the connection closed).
    #[arg(long, default_value_t = 20_000, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections: u32,

    /// HTTP/2 streams one connection may have open at once (SETTINGS_MAX_CONCURRENT_STREAMS).
    #[arg(long, default_value_t = 128, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_concurrent_streams: u32,

    /// Connections still sending their first request head; when one more arrives, the
    /// oldest of them is closed. They do not count against --max-connections.
    #[arg(long, default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_pending_connections: u32,

    /// Close a new connection (or an unfinished TLS handshake) that has not sent a
    /// complete request head within this.
    #[arg(long, default_value = "10s", value_parser = parse_nonzero_duration)]
    pub header_timeout: Duration,

    /// Close a kept-alive connection with no request in flight for this long; a later
    /// request head on it must arrive within this.
    #[arg(long, default_value = "30s", value_parser = parse_nonzero_duration)]
    pub idle_timeout: Duration,

    /// Answer 408 to a POST /publish whose body has not arrived in full within this.
    #[arg(long, default_value = "10s", value_parser = parse_nonzero_duration)]
    pub body_timeout: Duration,

    /// Serve plain HTTP/1.1 `GET /events` subscribers without hyper once their response
    /// head is sent (a few KiB of memory per idle stream instead of hyper's buffers);
    /// `off` serves every request through hyper. TLS and HTTP/2 always use hyper.
    #[arg(long, value_enum, default_value_t = Switch::On)]
    pub lean_streams: Switch,

    /// Built-in publisher rate, events per second (0 = off). Events carry `t=<unix-nanos>`.
    #[arg(long, default_value_t = 0.0, value_parser = parse_rate)]
    pub publish_rate: f64,

    /// Bytes of data per built-in publisher event.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(0..=1_048_576))]
    pub payload_size: u32,

    /// Test only: pause this long after every delivered frame (a deliberately slow server).
    #[arg(long, default_value = "0", value_parser = parse_duration, hide = true)]
    pub test_frame_delay: Duration,

    /// Test only: busy-spin this long on every delivered frame (a server that costs more CPU
    /// per event, e.g. 25% more, for showing that gates catch it).
    #[arg(long, default_value = "0", value_parser = parse_duration, hide = true)]
    pub test_frame_cost: Duration,

    /// Test only: never deliver hub event id N to any subscriber (one lost event, for showing
    /// that a run fails on it).
    #[arg(long, value_name = "N", hide = true)]
    pub test_drop_event: Option<u64>,
}

/// A feature flag's value: `on` or `off`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Switch {
    /// Enabled.
    On,
    /// Disabled.
    Off,
}

impl Args {
    /// Checks what single flags cannot: `--max-event-bytes` must fit in `--replay-bytes`,
    /// and the built-in publisher's events in `--max-event-bytes`.
    ///
    /// # Errors
    /// A message naming both flags.
    pub fn check(&self) -> Result<(), String> {
        // The built-in publisher's event: "id: " + up to 20 digits + "\n" + "data: " + payload + "\n\n".
        let published = u64::from(self.payload_size) + 33;
        if self.publish_rate > 0.0 && published > self.max_event_bytes {
            return Err(format!(
                "--payload-size {} makes built-in events of up to {published} bytes, more than \
                 --max-event-bytes ({}); raise --max-event-bytes or lower --payload-size",
                self.payload_size, self.max_event_bytes
            ));
        }
        if self.max_event_bytes > self.replay_bytes {
            return Err(format!(
                "--max-event-bytes ({}) is larger than --replay-bytes ({}): the replay ring \
                 could not hold one event; raise --replay-bytes or lower --max-event-bytes",
                self.max_event_bytes, self.replay_bytes
            ));
        }
        Ok(())
    }
}

/// What the server runs with.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Address to listen on (used by the binary; `serve` takes a bound listener).
    pub bind: SocketAddr,
    /// Certificate and key when serving HTTPS.
    pub tls: Option<TlsFiles>,
    /// See [`Args::send_timeout`].
    pub send_timeout: Duration,
    /// SO_SNDBUF of client sockets, `None` for the kernel's autotuning.
    pub send_buffer: Option<usize>,
    /// Keep-alive interval, `None` when disabled.
    pub ping_interval: Option<Duration>,
    /// See [`Args::shutdown_grace`].
    pub shutdown_grace: Duration,
    /// Events kept for replay.
    pub replay_capacity: usize,
    /// Byte bounds of the replay ring and of one event.
    pub hub_limits: HubLimits,
    /// Who may publish.
    pub publish_access: PublishAccess,
    /// Connections with a complete request head allowed open.
    pub max_connections: usize,
    /// See [`Args::max_concurrent_streams`].
    pub max_concurrent_streams: u32,
    /// See [`Args::max_pending_connections`].
    pub max_pending_connections: usize,
    /// See [`Args::header_timeout`].
    pub header_timeout: Duration,
    /// See [`Args::idle_timeout`].
    pub idle_timeout: Duration,
    /// See [`Args::body_timeout`].
    pub body_timeout: Duration,
    /// See [`Args::lean_streams`].
    pub lean_streams: bool,
    /// The built-in publisher, if on.
    pub publisher: Option<PublisherConfig>,
    /// Test-only pause after each frame (zero: off).
    pub frame_delay: Duration,
    /// Test-only CPU spent on each frame (zero: off).
    pub frame_cost: Duration,
    /// Test-only: the hub event id never delivered.
    pub drop_event: Option<u64>,
}

impl Default for Config {
    fn default() -> Self {
        Args::parse_from(["sse-server"]).into()
    }
}

impl From<Args> for Config {
    fn from(args: Args) -> Self {
        Self {
            bind: args.bind,
            tls: args
                .tls_cert
                .zip(args.tls_key)
                .map(|(cert, key)| TlsFiles { cert, key }),
            send_timeout: args.send_timeout,
            send_buffer: (args.send_buffer > 0)
                .then(|| usize::try_from(args.send_buffer).unwrap_or(usize::MAX)),
            ping_interval: (!args.ping_interval.is_zero()).then_some(args.ping_interval),
            shutdown_grace: args.shutdown_grace,
            replay_capacity: args.replay_capacity as usize,
            hub_limits: HubLimits {
                replay_bytes: usize::try_from(args.replay_bytes).unwrap_or(usize::MAX),
                max_event_bytes: usize::try_from(args.max_event_bytes).unwrap_or(usize::MAX),
            },
            publish_access: match args.publish_token {
                Some(token) => PublishAccess::Token(Secret::new(token)),
                None => PublishAccess::LoopbackOnly,
            },
            max_connections: args.max_connections as usize,
            max_pending_connections: args.max_pending_connections as usize,
            max_concurrent_streams: args.max_concurrent_streams,
            header_timeout: args.header_timeout,
            idle_timeout: args.idle_timeout,
            body_timeout: args.body_timeout,
            lean_streams: args.lean_streams == Switch::On,
            publisher: (args.publish_rate > 0.0).then_some(PublisherConfig {
                rate: args.publish_rate,
                payload_size: args.payload_size as usize,
            }),
            frame_delay: args.test_frame_delay,
            frame_cost: args.test_frame_cost,
            drop_event: args.test_drop_event,
        }
    }
}

/// Parses `1.5s`, `250ms`, `2m`, `100us` or a bare number of seconds.
///
/// # Errors
/// A message naming the expected forms.
pub fn parse_duration(raw: &str) -> Result<Duration, String> {
    let raw = raw.trim();
    let split = raw
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(raw.len());
    let (number, unit) = raw.split_at(split);
    let scale = match unit.trim() {
        "" | "s" => 1.0,
        "ms" => 1e-3,
        "us" | "µs" => 1e-6,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        _ => return Err(format!("unknown unit in {raw:?}; use e.g. 10s, 250ms, 2m or 0")),
    };
    let value: f64 = number
        .parse()
        .map_err(|_| format!("{raw:?} is not a duration; use e.g. 10s, 250ms, 2m or 0"))?;
    Duration::try_from_secs_f64(value * scale).map_err(|_| format!("{raw:?} is out of range"))
}

/// Like [`parse_duration`], but zero is refused (a zero timeout would close everything).
///
/// # Errors
/// A message naming the expected forms.
pub fn parse_nonzero_duration(raw: &str) -> Result<Duration, String> {
    match parse_duration(raw)? {
        d if d.is_zero() => Err(format!("{raw:?} must be more than zero, e.g. 10s")),
        d => Ok(d),
    }
}

/// Parses a byte size: `512`, `64KiB`, `8MiB`, `1GiB` (also `KB`/`MB`/`GB`, read as powers of 1024).
///
/// # Errors
/// A message naming the expected forms.
pub fn parse_bytes(raw: &str) -> Result<u64, String> {
    let raw = raw.trim();
    let split = raw.find(|c: char| !c.is_ascii_digit()).unwrap_or(raw.len());
    let (number, unit) = raw.split_at(split);
    let scale: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        _ => return Err(format!("unknown unit in {raw:?}; use e.g. 512, 64KiB or 8MiB")),
    };
    number
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(scale))
        .filter(|&n| n > 0)
        .ok_or_else(|| format!("{raw:?} is not a byte size above zero; use e.g. 512, 64KiB or 8MiB"))
}

fn parse_bytes_or_zero(raw: &str) -> Result<u64, String> {
    if raw.trim() == "0" {
        return Ok(0);
    }
    parse_bytes(raw)
}

fn parse_rate(raw: &str) -> Result<f64, String> {
    match raw.trim().parse::<f64>() {
        Ok(rate) if rate.is_finite() && (0.0..=10_000_000.0).contains(&rate) => Ok(rate),
        _ => Err(format!(
            "{raw:?} is not a rate; use events per second between 0 and 10000000"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10s").unwrap(), Duration::from_secs(10));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("1.5").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("0").unwrap(), Duration::ZERO);
        assert!(parse_duration("ten").is_err());
        assert!(parse_duration("5 parsecs").is_err());
        assert!(parse_duration("-1s").is_err());
    }

    #[test]
    fn defaults_match_the_docs() {
        let config = Config::default();
        assert_eq!(config.send_timeout, Duration::from_secs(10));
        assert_eq!(config.ping_interval, Some(Duration::from_secs(15)));
        assert_eq!(config.shutdown_grace, Duration::from_secs(5));
        assert_eq!(config.replay_capacity, 1024);
        assert_eq!(config.publisher, None);
        assert_eq!(config.header_timeout, Duration::from_secs(10));
        assert_eq!(config.idle_timeout, Duration::from_secs(30));
        assert_eq!(config.body_timeout, Duration::from_secs(10));
        assert_eq!(config.max_pending_connections, 1024);
        assert!(config.lean_streams);
        assert_eq!(config.bind, "127.0.0.1:8000".parse().unwrap());
    }

    #[test]
    fn byte_sizes() {
        assert_eq!(parse_bytes("512").unwrap(), 512);
        assert_eq!(parse_bytes("64KiB").unwrap(), 64 << 10);
        assert_eq!(parse_bytes("8MiB").unwrap(), 8 << 20);
        assert_eq!(parse_bytes("1gb").unwrap(), 1 << 30);
        assert!(parse_bytes("0").is_err());
        assert!(parse_bytes("lots").is_err());
        assert!(parse_bytes("99999999999GiB").is_err());
    }

    #[test]
    fn bad_flags_name_the_flag() {
        let err = Args::try_parse_from(["sse-server", "--send-timeout", "soon"]).unwrap_err();
        assert!(err.to_string().contains("--send-timeout"), "{err}");
        let err = Args::try_parse_from(["sse-server", "--publish-rate=-5"]).unwrap_err();
        assert!(err.to_string().contains("--publish-rate"), "{err}");
        let args = Args::try_parse_from([
            "sse-server",
            "--max-event-bytes",
            "2MiB",
            "--replay-bytes",
            "1MiB",
        ]);
        let err = args.unwrap().check().unwrap_err();
        assert!(
            err.contains("--max-event-bytes") && err.contains("--replay-bytes"),
            "{err}"
        );
        let err = Args::try_parse_from(["sse-server", "--tls-cert", "c.pem"]).unwrap_err();
        assert!(err.to_string().contains("--tls-key"), "{err}");
        let err = Args::try_parse_from(["sse-server", "--header-timeout", "0"]).unwrap_err();
        assert!(err.to_string().contains("--header-timeout"), "{err}");
    }
}
