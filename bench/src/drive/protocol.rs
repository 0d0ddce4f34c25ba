//! The line protocol between a profiling run and its load-generator process (commands on the child's stdin, replies on its stdout).
//!
//! One command or reply per line, words separated by single spaces:
//!
//! | parent → child | child → parent |
//! | --- | --- |
//! | | `ready` once the generator runs |
//! | `warmup <cycles>` | `done warmup <cycles>` |
//! | `connect <streams>` | `done idle <streams>` (every stream has its response headers) |
//! | `fanout <events> <batch>` | `progress <k>` each time every stream has received `k` events (`k` a multiple of `batch`), then `done fanout <events received over all streams>` |
//! | `cycles <count>` | `done cycles <count>` |
//! | `disconnect` | `done disconnect <streams closed>` |
//! | `quit` | (the child exits with status 0) |
//! | | `error <message>` instead of any reply when the phase failed |
//!
//! Parsing and formatting allocate nothing except for `error` messages, so the parent can
//! read replies inside a heap measurement window without disturbing it.

use std::fmt;

/// A phase of the workload (the profiling crate's `workload` module says what each does).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// Unmeasured: initialises per-process and per-thread state, fills the replay ring.
    Warmup,
    /// `subscribers` streams opened and left idle.
    Idle,
    /// `events` events delivered to every subscriber.
    Fanout,
    /// `cycles` connect → first event → close cycles.
    Cycles,
    /// Every stream closed.
    Disconnect,
}

impl Phase {
    /// The measured phases, in the order they run.
    pub const MEASURED: [Phase; 4] = [Self::Idle, Self::Fanout, Self::Cycles, Self::Disconnect];

    /// The phase's name in the protocol and in summaries.
    pub fn name(self) -> &'static str {
        match self {
            Self::Warmup => "warmup",
            Self::Idle => "idle",
            Self::Fanout => "fanout",
            Self::Cycles => "cycles",
            Self::Disconnect => "disconnect",
        }
    }

    /// The phase named `name`.
    pub fn from_name(name: &str) -> Option<Self> {
        [
            Self::Warmup,
            Self::Idle,
            Self::Fanout,
            Self::Cycles,
            Self::Disconnect,
        ]
        .into_iter()
        .find(|p| p.name() == name)
    }

    /// The reply that ends the phase, for messages.
    pub fn done_line(self) -> &'static str {
        match self {
            Self::Warmup => "`done warmup`",
            Self::Idle => "`done idle`",
            Self::Fanout => "`done fanout`",
            Self::Cycles => "`done cycles`",
            Self::Disconnect => "`done disconnect`",
        }
    }
}

/// What the parent asks the generator to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// Unmeasured connect/close cycles on `/sse` and `/events`.
    Warmup {
        /// How many cycles.
        cycles: u64,
    },
    /// Open this many idle `/events` streams.
    Connect {
        /// How many streams.
        streams: u64,
    },
    /// Read `events` events on every open stream, reporting progress every `batch`.
    Fanout {
        /// Events each stream must receive.
        events: u64,
        /// Progress granularity (the publisher's batch size).
        batch: u64,
    },
    /// Connect → first event → close, `count` times in a row.
    Cycles {
        /// How many cycles.
        count: u64,
    },
    /// Close every open stream.
    Disconnect,
    /// Exit.
    Quit,
}

/// What the generator answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// The generator is running and reads commands.
    Ready,
    /// Every stream has received at least this many events of the current fan-out.
    Progress(u64),
    /// A phase finished; `count` is what the phase counts (streams, events received, cycles).
    Done {
        /// The phase that finished.
        phase: Phase,
        /// Streams opened/closed, events received or cycles done.
        count: u64,
    },
    /// The phase failed.
    Error(String),
}

/// A line that is not a valid command or reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed protocol line {line:?}: {reason}")]
pub struct ProtocolError {
    /// The line as received.
    pub line: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

fn malformed(line: &str, reason: &'static str) -> ProtocolError {
    ProtocolError {
        line: line.to_owned(),
        reason,
    }
}

fn number(line: &str, word: Option<&str>) -> Result<u64, ProtocolError> {
    word.and_then(|w| w.parse().ok())
        .ok_or_else(|| malformed(line, "expected a whole number"))
}

fn end(line: &str, mut words: std::str::SplitAsciiWhitespace<'_>) -> Result<(), ProtocolError> {
    match words.next() {
        None => Ok(()),
        Some(_) => Err(malformed(line, "unexpected extra words")),
    }
}

impl Command {
    /// Parses one line (without its line end).
    ///
    /// # Errors
    /// [`ProtocolError`] naming the line.
    pub fn parse(line: &str) -> Result<Self, ProtocolError> {
        let mut words = line.split_ascii_whitespace();
        let command = match words.next() {
            Some("warmup") => Self::Warmup {
                cycles: number(line, words.next())?,
            },
            Some("connect") => Self::Connect {
                streams: number(line, words.next())?,
            },
            Some("fanout") => Self::Fanout {
                events: number(line, words.next())?,
                batch: number(line, words.next())?.max(1),
            },
            Some("cycles") => Self::Cycles {
                count: number(line, words.next())?,
            },
            Some("disconnect") => Self::Disconnect,
            Some("quit") => Self::Quit,
            _ => return Err(malformed(line, "unknown command")),
        };
        end(line, words)?;
        Ok(command)
    }
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Warmup { cycles } => write!(f, "warmup {cycles}"),
            Self::Connect { streams } => write!(f, "connect {streams}"),
            Self::Fanout { events, batch } => write!(f, "fanout {events} {batch}"),
            Self::Cycles { count } => write!(f, "cycles {count}"),
            Self::Disconnect => f.write_str("disconnect"),
            Self::Quit => f.write_str("quit"),
        }
    }
}

impl Reply {
    /// Parses one line (without its line end).
    ///
    /// # Errors
    /// [`ProtocolError`] naming the line.
    pub fn parse(line: &str) -> Result<Self, ProtocolError> {
        if let Some(message) = line.strip_prefix("error ") {
            return Ok(Self::Error(message.to_owned()));
        }
        let mut words = line.split_ascii_whitespace();
        let reply = match words.next() {
            Some("ready") => Self::Ready,
            Some("progress") => Self::Progress(number(line, words.next())?),
            Some("done") => {
                let phase = words
                    .next()
                    .and_then(Phase::from_name)
                    .ok_or_else(|| malformed(line, "unknown phase"))?;
                Self::Done {
                    phase,
                    count: number(line, words.next())?,
                }
            }
            _ => return Err(malformed(line, "unknown reply")),
        };
        end(line, words)?;
        Ok(reply)
    }
}

impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Ready => f.write_str("ready"),
            Self::Progress(k) => write!(f, "progress {k}"),
            Self::Done { phase, count } => write!(f, "done {} {count}", phase.name()),
            // A message must stay on one line.
            Self::Error(message) => write!(f, "error {}", message.replace(['\r', '\n'], " ")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phase_names_round_trip() {
        for phase in [
            Phase::Warmup,
            Phase::Idle,
            Phase::Fanout,
            Phase::Cycles,
            Phase::Disconnect,
        ] {
            assert_eq!(Phase::from_name(phase.name()), Some(phase));
            assert!(phase.done_line().contains(phase.name()));
        }
        assert_eq!(Phase::from_name("nap"), None);
        assert_eq!(Phase::MEASURED[0], Phase::Idle);
    }

    #[test]
    fn commands_round_trip() {
        let commands = [
            Command::Warmup { cycles: 16 },
            Command::Connect { streams: 100 },
            Command::Fanout {
                events: 1000,
                batch: 64,
            },
            Command::Cycles { count: 200 },
            Command::Disconnect,
            Command::Quit,
        ];
        for command in commands {
            assert_eq!(Command::parse(&command.to_string()).unwrap(), command);
        }
    }

    #[test]
    fn replies_round_trip() {
        let replies = [
            Reply::Ready,
            Reply::Progress(640),
            Reply::Done {
                phase: Phase::Fanout,
                count: 100_000,
            },
            Reply::Done {
                phase: Phase::Disconnect,
                count: 100,
            },
            Reply::Error("connection 3: expected id 7, got 9".to_owned()),
        ];
        for reply in replies {
            assert_eq!(Reply::parse(&reply.to_string()).unwrap(), reply);
        }
        assert_eq!(
            Reply::Error("two\nlines".to_owned()).to_string(),
            "error two lines"
        );
    }

    #[test]
    fn malformed_lines_are_named() {
        for (line, reason) in [
            ("", "unknown command"),
            ("connect", "expected a whole number"),
            ("connect ten", "expected a whole number"),
            ("cycles 5 6", "unexpected extra words"),
            ("explode", "unknown command"),
        ] {
            let err = Command::parse(line).unwrap_err();
            assert_eq!(err.reason, reason, "{line:?}");
            assert!(err.to_string().contains(&format!("{line:?}")));
        }
        assert_eq!(Reply::parse("done nap 3").unwrap_err().reason, "unknown phase");
        assert_eq!(
            Reply::parse("progress").unwrap_err().reason,
            "expected a whole number"
        );
        assert_eq!(Reply::parse("hello").unwrap_err().reason, "unknown reply");
    }
}
