//! The parent's handle on the load-generator process: spawn it, send commands, await replies, each wait with a timeout.
//!
//! The generator is a separate process (the profiling binary re-executed in its hidden
//! `drive` mode) so that its allocations and CPU time never mix with the server's. It is
//! a [`crate::child::Child`]: killed when the driver is dropped, and killed by the kernel
//! when the profiling run dies.
//!
//! # Allocation
//! After [`Driver::spawn`], sending a command and reading a reply reuse buffers made at
//! spawn time: the heap run exchanges lines inside its measurement windows without
//! adding allocations to them (only an `error` reply allocates).

use std::io::Write as _;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt};

use super::protocol::{Command, Phase, ProtocolError, Reply};
use crate::child::{Child, ChildError, describe};

/// Why talking to the generator failed.
#[derive(Debug, thiserror::Error)]
pub enum DriverError {
    /// The generator process could not be started, or did not say `ready`.
    #[error("the load generator: {0}")]
    Child(#[from] ChildError),
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
    line: String,
    out: Vec<u8>,
}

impl Driver {
    /// Starts `command` with piped stdin/stdout (stderr inherited) and waits for `ready`.
    ///
    /// # Errors
    /// The process did not start or did not say `ready` within `timeout`.
    pub async fn spawn(command: tokio::process::Command, timeout: Duration) -> Result<Self, DriverError> {
        let mut child = Child::spawn(command, true)?;
        child
            .handshake("`ready`", timeout, |line| {
                (Reply::parse(line) == Ok(Reply::Ready)).then_some(())
            })
            .await?;
        Ok(Self {
            child,
            line: String::with_capacity(256),
            out: Vec::with_capacity(256),
        })
    }

    /// The generator's process id.
    pub fn pid(&self) -> Option<u32> {
        Some(self.child.pid()).filter(|&pid| pid != 0)
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
        let Some(stdin) = self.child.stdin() else {
            return Err(io(std::io::Error::other("the generator's stdin is not piped")));
        };
        stdin.write_all(&self.out).await.map_err(io)?;
        stdin.flush().await.map_err(io)
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
        let Some(stdout) = self.child.stdout() else {
            return Err(DriverError::Io {
                what: "reading a reply",
                source: std::io::Error::other("the generator's stdout is not piped"),
            });
        };
        let read = tokio::time::timeout(timeout, stdout.read_line(&mut self.line)).await;
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
        match self.child.wait(timeout).await {
            Ok(Some(status)) if status.success() => Ok(()),
            Ok(Some(status)) => Err(DriverError::Exited {
                status: describe(status),
            }),
            Ok(None) => Err(DriverError::Timeout {
                waiting_for: "`quit`",
                after: timeout,
            }),
            Err(err) => Err(err.into()),
        }
    }

    async fn exited(&mut self) -> DriverError {
        DriverError::Exited {
            status: self.child.exit_status().await,
        }
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
