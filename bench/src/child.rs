//! One child process: spawned kill-on-drop, awaited for its handshake line with a timeout,
//! stopped with SIGTERM then a bounded wait; the child side asks for the parent-death signal.
//!
//! Two children use it: the embedded server of `sse-load` ([`crate::target`]), which
//! prints its address, and the load generator of a profiling run ([`crate::drive`]),
//! which prints `ready` and then speaks a line protocol on its stdin and stdout.
//!
//! ## No orphans
//! A [`Child`] is spawned with `kill_on_drop`, so every error path that drops it kills the
//! process; the child calls [`die_with_parent`] first thing, so the kernel kills it when
//! its parent dies without dropping anything (SIGKILL, a panic with `panic = abort`).

use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{ChildStdin, ChildStdout, Command};

/// Why a child could not be started, reached or stopped.
#[derive(Debug, thiserror::Error)]
pub enum ChildError {
    /// The process could not be spawned.
    #[error("starting {exe}: {source}", exe = exe.display())]
    Spawn {
        /// The executable.
        exe: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// It did not print its handshake line in time.
    #[error("it did not print {expected} within {after:?} (it printed: {printed:?})")]
    NoHandshake {
        /// What was awaited.
        expected: &'static str,
        /// The limit that ran out.
        after: Duration,
        /// The lines it printed instead.
        printed: String,
    },
    /// It exited (or closed its stdout) before its handshake line.
    #[error("it exited before printing {expected} ({status}; it printed: {printed:?})")]
    Exited {
        /// What was awaited.
        expected: &'static str,
        /// Its exit status, described.
        status: String,
        /// The lines it printed.
        printed: String,
    },
    /// Sending a signal failed.
    #[error("signalling pid {pid}: {source}")]
    Signal {
        /// The child's pid.
        pid: u32,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// Waiting for it failed.
    #[error("waiting for the child: {0}")]
    Wait(#[source] std::io::Error),
}

/// A running child with its stdout piped (and its stdin, when asked).
#[derive(Debug)]
pub struct Child {
    child: tokio::process::Child,
    pid: u32,
    stdin: Option<ChildStdin>,
    stdout: Option<BufReader<ChildStdout>>,
}

impl Child {
    /// Spawns `command` kill-on-drop with stdout piped, stderr inherited and stdin piped
    /// when `with_stdin` (closed otherwise).
    ///
    /// # Errors
    /// [`ChildError::Spawn`].
    pub fn spawn(mut command: Command, with_stdin: bool) -> Result<Self, ChildError> {
        let exe = PathBuf::from(command.as_std().get_program());
        command
            .stdin(if with_stdin { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        let mut child = command
            .spawn()
            .map_err(|source| ChildError::Spawn { exe, source })?;
        Ok(Self {
            pid: child.id().unwrap_or(0),
            stdin: child.stdin.take(),
            stdout: child
                .stdout
                .take()
                .map(|out| BufReader::with_capacity(8 * 1024, out)),
            child,
        })
    }

    /// Reads stdout lines until `handshake` accepts one, within `limit`; lines before it
    /// are kept for the error message. `expected` names the line for messages.
    ///
    /// # Errors
    /// [`ChildError::NoHandshake`] after `limit`, [`ChildError::Exited`] when stdout closes.
    pub async fn handshake<T>(
        &mut self,
        expected: &'static str,
        limit: Duration,
        mut handshake: impl FnMut(&str) -> Option<T>,
    ) -> Result<T, ChildError> {
        let mut printed = String::new();
        let mut line = String::new();
        let read = async {
            let stdout = self.stdout.as_mut()?;
            loop {
                line.clear();
                match stdout.read_line(&mut line).await {
                    Ok(0) | Err(_) => return None,
                    Ok(_) => {}
                }
                if let Some(value) = handshake(line.trim_end()) {
                    return Some(value);
                }
                printed.push_str(&line);
            }
        };
        match tokio::time::timeout(limit, read).await {
            Ok(Some(value)) => Ok(value),
            Ok(None) => Err(ChildError::Exited {
                expected,
                status: self.exit_status().await,
                printed,
            }),
            Err(_) => Err(ChildError::NoHandshake {
                expected,
                after: limit,
                printed,
            }),
        }
    }

    /// The process id (for `/proc/<pid>`), 0 if the OS did not tell.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The piped stdin, if it was asked for and not taken.
    pub fn stdin(&mut self) -> Option<&mut ChildStdin> {
        self.stdin.as_mut()
    }

    /// The buffered stdout, if not taken.
    pub fn stdout(&mut self) -> Option<&mut BufReader<ChildStdout>> {
        self.stdout.as_mut()
    }

    /// Keeps reading (and dropping) stdout in a task, so the child never blocks on a full pipe.
    pub fn drain_stdout(&mut self) {
        if let Some(stdout) = self.stdout.take() {
            let mut lines = stdout.lines();
            tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        }
    }

    /// Sends SIGTERM.
    ///
    /// # Errors
    /// The signal could not be sent.
    pub fn terminate(&self) -> Result<(), ChildError> {
        let pid = i32::try_from(self.pid).unwrap_or(0);
        if pid <= 0 {
            return Err(ChildError::Signal {
                pid: self.pid,
                source: std::io::Error::other("unknown pid"),
            });
        }
        // SAFETY: kill(2) with a pid we spawned and still own (not yet reaped).
        if unsafe { libc::kill(pid, libc::SIGTERM) } != 0 {
            return Err(ChildError::Signal {
                pid: self.pid,
                source: std::io::Error::last_os_error(),
            });
        }
        Ok(())
    }

    /// Whether it is still running.
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Waits up to `limit` for it to exit; kills it when it does not. Returns the exit
    /// status, `None` when it had to be killed.
    ///
    /// # Errors
    /// Waiting failed.
    pub async fn wait(&mut self, limit: Duration) -> Result<Option<ExitStatus>, ChildError> {
        match tokio::time::timeout(limit, self.child.wait()).await {
            Ok(status) => status.map(Some).map_err(ChildError::Wait),
            Err(_) => {
                let _ = self.child.kill().await;
                Ok(None)
            }
        }
    }

    /// Its exit status described for a message, waiting for it a little.
    pub async fn exit_status(&mut self) -> String {
        match tokio::time::timeout(Duration::from_secs(5), self.child.wait()).await {
            Ok(Ok(status)) => describe(status),
            _ => "still running, but its stdout is closed".to_owned(),
        }
    }
}

/// `exit code N` or `killed by signal N`.
pub fn describe(status: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit code {code}"),
        (None, Some(signal)) => format!("killed by signal {signal}"),
        _ => status.to_string(),
    }
}

/// Called first thing in a child: asks the kernel to SIGKILL this process when its
/// parent dies, so a crashed or killed parent never leaves a server or a generator
/// behind. Exits at once if the parent is already gone.
pub fn die_with_parent() {
    // SAFETY: prctl(PR_SET_PDEATHSIG) takes a plain signal number and touches no memory.
    unsafe {
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
    }
    // The parent may have died before the prctl: then we were re-parented already.
    // SAFETY: getppid has no preconditions.
    if unsafe { libc::getppid() } == 1 {
        std::process::exit(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shell(script: &str) -> Command {
        let mut command = Command::new("sh");
        command.arg("-c").arg(script);
        command
    }

    #[tokio::test]
    async fn the_handshake_line_is_found_after_other_lines() {
        let mut child = Child::spawn(shell("echo noise; echo 'port 42'; sleep 30"), false).unwrap();
        let port = child
            .handshake("`port N`", Duration::from_secs(10), |line| {
                line.strip_prefix("port ").and_then(|p| p.parse::<u16>().ok())
            })
            .await
            .unwrap();
        assert_eq!(port, 42);
        assert!(child.running());
        child.terminate().unwrap();
        let status = child.wait(Duration::from_secs(10)).await.unwrap().unwrap();
        assert_eq!(describe(status), "killed by signal 15");
    }

    #[tokio::test]
    async fn silence_and_early_exit_are_named() {
        let mut child = Child::spawn(shell("sleep 30"), false).unwrap();
        let err = child
            .handshake("`ready`", Duration::from_millis(50), |_| Some(()))
            .await
            .unwrap_err();
        assert!(matches!(err, ChildError::NoHandshake { .. }), "{err}");
        let mut child = Child::spawn(shell("echo oops; exit 7"), false).unwrap();
        let err = child
            .handshake("`ready`", Duration::from_secs(10), |l| {
                (l == "ready").then_some(())
            })
            .await
            .unwrap_err();
        assert!(
            err.to_string().contains("exit code 7") && err.to_string().contains("oops"),
            "{err}"
        );
        let err = Child::spawn(Command::new("/nonexistent/binary"), false).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/binary"), "{err}");
    }
}
