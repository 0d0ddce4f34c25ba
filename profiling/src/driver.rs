//! The parent's handle on the load-generator process: spawn it, send commands, await replies, each wait with a timeout.
//!
//! The generator is a separate process (the profiling binary re-executed in its hidden
//! `drive` mode) so that its allocations and CPU time never mix with the server's.
//!
//! # Allocation
//! After [`Driver::spawn`], sending a command and reading a reply reuse buffers made at
//! spawn time: the heap run exchanges lines inside its measurement windows without
//! adding allocations to them (only an `error` reply allocates).

use std::io::Write as _;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, ChildStdout};

use crate::phases::Phase;
use crate::protocol::{Command, ProtocolError, Reply};

/// Why talking to the generator failed.
#[derive(Debug, thiserror::Error)]
pub enum DriverError {
    /// The generator process could not be started.
    #[error("starting the load generator {exe:?}: {source}")]
    Spawn {
        /// The executable.
        exe: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// Writing to or reading from the generator's pipes failed.
    #[error("talking to the load generator ({what}): {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// No reply came in time.
    #[error(
        "the load generator did not answer {waiting_for} within {after:?} (raise --phase-timeout for big profiles)"
    )]
    Timeout {
        /// What was awaited.
        waiting_for: &'static str,
        /// The limit that ran out.
        after: Duration,
    },
    /// The generator closed its stdout (it exited or crashed; its stderr says why).
    #[error("the load generator exited unexpectedly ({status}); see its messages above")]
    Exited {
        /// Its exit status, if known.
        status: String,
    },
    /// A reply line did not parse.
    #[error(transparent)]
    Protocol(#[from] ProtocolError),
    /// The generator reported a failure.
    #[error("the load generator failed during {phase}: {message}")]
    Generator {
        /// The phase it was running.
        phase: &'static str,
        /// Its message.
        message: String,
    },
    /// A valid reply that does not fit the conversation.
    #[error("expected {expected} from the load generator, got {got:?}")]
    Unexpected {
        /// What was expected.
        expected: &'static str,
        /// What arrived.
        got: String,
    },
}

/// A running load generator.
#[derive(Debug)]
pub struct Driver {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    line: String,
    out: Vec<u8>,
}

impl Driver {
    /// Starts `command` with piped stdin/stdout (stderr inherited) and waits for `ready`.
    ///
    /// # Errors
    /// The process did not start or did not say `ready` within `timeout`.
    pub async fn spawn(mut command: tokio::process::Command, timeout: Duration) -> Result<Self, DriverError> {
        let exe = PathBuf::from(command.as_std().get_program());
        command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        let mut child = command
            .spawn()
            .map_err(|source| DriverError::Spawn { exe, source })?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            return Err(DriverError::Io {
                what: "taking the pipes",
                source: std::io::Error::other("stdin/stdout were not piped"),
            });
        };
        let mut driver = Self {
            child,
            stdin,
            stdout: BufReader::with_capacity(8 * 1024, stdout),
            line: String::with_capacity(256),
            out: Vec::with_capacity(256),
        };
        match driver.reply("`ready`", timeout).await? {
            Reply::Ready => Ok(driver),
            other => Err(driver.unexpected("`ready`", &other)),
        }
    }

    /// The generator's process id.
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Sends one command line.
    ///
    /// # Errors
    /// The pipe broke (the generator exited).
    pub async fn send(&mut self, command: Command) -> Result<(), DriverError> {
        self.out.clear();
        // Writing into a Vec cannot fail.
        let _ = writeln!(self.out, "{command}");
        let io = |source| DriverError::Io {
            what: "sending a command",
            source,
        };
        self.stdin.write_all(&self.out).await.map_err(io)?;
        self.stdin.flush().await.map_err(io)
    }

    /// The next reply line, within `timeout`. `error` replies are returned, not raised.
    ///
    /// # Errors
    /// Timeout, a closed pipe or a malformed line.
    pub async fn reply(
        &mut self,
        waiting_for: &'static str,
        timeout: Duration,
    ) -> Result<Reply, DriverError> {
        self.line.clear();
        let read = tokio::time::timeout(timeout, self.stdout.read_line(&mut self.line)).await;
        match read {
            Err(_) => Err(DriverError::Timeout {
                waiting_for,
                after: timeout,
            }),
            Ok(Err(source)) => Err(DriverError::Io {
                what: "reading a reply",
                source,
            }),
            Ok(Ok(0)) => Err(self.exited().await),
            Ok(Ok(_)) => Ok(Reply::parse(self.line.trim_end())?),
        }
    }

    /// Sends `command` and waits for `done <phase> <count>`; returns the count.
    ///
    /// # Errors
    /// See [`Driver::reply`]; an `error` reply becomes [`DriverError::Generator`].
    pub async fn run(
        &mut self,
        command: Command,
        phase: Phase,
        timeout: Duration,
    ) -> Result<u64, DriverError> {
        self.send(command).await?;
        self.expect_done(phase, timeout).await
    }

    /// Waits for `done <phase> <count>`; returns the count.
    ///
    /// # Errors
    /// See [`Driver::run`].
    pub async fn expect_done(&mut self, phase: Phase, timeout: Duration) -> Result<u64, DriverError> {
        match self.reply(phase.done_line(), timeout).await? {
            Reply::Done { phase: done, count } if done == phase => Ok(count),
            other => Err(self.unexpected(phase.done_line(), &other)),
        }
    }

    /// Turns a reply that does not fit into the matching error.
    pub fn unexpected(&self, expected: &'static str, reply: &Reply) -> DriverError {
        match reply {
            Reply::Error(message) => DriverError::Generator {
                phase: expected,
                message: message.clone(),
            },
            other => DriverError::Unexpected {
                expected,
                got: other.to_string(),
            },
        }
    }

    /// Asks the generator to exit and waits for it.
    ///
    /// # Errors
    /// It did not exit within `timeout` (it is then killed) or exited with a failure.
    pub async fn quit(mut self, timeout: Duration) -> Result<(), DriverError> {
        self.send(Command::Quit).await?;
        match tokio::time::timeout(timeout, self.child.wait()).await {
            Ok(Ok(status)) if status.success() => Ok(()),
            Ok(Ok(status)) => Err(DriverError::Exited {
                status: status.to_string(),
            }),
            Ok(Err(source)) => Err(DriverError::Io {
                what: "waiting for the generator to exit",
                source,
            }),
            Err(_) => {
                let _ = self.child.kill().await;
                Err(DriverError::Timeout {
                    waiting_for: "`quit`",
                    after: timeout,
                })
            }
        }
    }

    async fn exited(&mut self) -> DriverError {
        let status = tokio::time::timeout(Duration::from_secs(5), self.child.wait()).await;
        DriverError::Exited {
            status: match status {
                Ok(Ok(status)) => describe(status),
                _ => "still running, but its stdout is closed".to_owned(),
            },
        }
    }
}

fn describe(status: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit code {code}"),
        (None, Some(signal)) => format!("killed by signal {signal}"),
        _ => status.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shell(script: &str) -> tokio::process::Command {
        let mut command = tokio::process::Command::new("sh");
        command.arg("-c").arg(script);
        command
    }

    #[tokio::test]
    async fn a_scripted_generator_is_driven_through_a_phase() {
        let script = "echo ready; read cmd; [ \"$cmd\" = 'connect 3' ] && echo 'done idle 3'; read q; exit 0";
        let mut driver = Driver::spawn(shell(script), Duration::from_secs(10))
            .await
            .unwrap();
        let count = driver
            .run(
                Command::Connect { streams: 3 },
                Phase::Idle,
                Duration::from_secs(10),
            )
            .await
            .unwrap();
        assert_eq!(count, 3);
        driver.quit(Duration::from_secs(10)).await.unwrap();
    }

    #[tokio::test]
    async fn silence_times_out_and_exit_is_reported() {
        let mut driver = Driver::spawn(shell("echo ready; sleep 30"), Duration::from_secs(10))
            .await
            .unwrap();
        let err = driver
            .reply("`done idle`", Duration::from_millis(50))
            .await
            .unwrap_err();
        assert!(matches!(err, DriverError::Timeout { .. }), "{err}");

        let err = Driver::spawn(shell("exit 7"), Duration::from_secs(10))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("exit code 7"), "{err}");

        let mut driver = Driver::spawn(
            shell("echo ready; read c; echo 'error boom'"),
            Duration::from_secs(10),
        )
        .await
        .unwrap();
        let err = driver
            .run(
                Command::Cycles { count: 1 },
                Phase::Cycles,
                Duration::from_secs(10),
            )
            .await
            .unwrap_err();
        assert!(err.to_string().contains("boom"), "{err}");
    }
}
