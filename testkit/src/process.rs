//! Running a real binary to its end with a deadline: the test fails (and the process is
//! killed) when it runs too long, with what it printed so far.

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Runs `command` with stdin closed and stdout/stderr captured; returns its output.
/// Kills it and panics with its output when it has not exited within `limit`.
pub fn run_with_deadline(command: &mut Command, limit: Duration) -> Output {
    let described = format!("{command:?}");
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {described}: {e}"));
    let deadline = Instant::now() + limit;
    loop {
        if child
            .try_wait()
            .unwrap_or_else(|e| panic!("waiting for {described}: {e}"))
            .is_some()
        {
            return child
                .wait_with_output()
                .unwrap_or_else(|e| panic!("collecting the output of {described}: {e}"));
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let out = child.wait_with_output();
            let printed = out
                .map(|o| describe(&o))
                .unwrap_or_else(|e| format!("(output lost: {e})"));
            panic!("{described} did not finish within {limit:?}\n{printed}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Exit code, stdout and stderr of a run, for assertion messages.
pub fn describe(out: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_is_returned_and_overruns_are_killed() {
        let out = run_with_deadline(
            Command::new("sh").args(["-c", "echo hi; exit 3"]),
            Duration::from_secs(20),
        );
        assert_eq!(out.status.code(), Some(3));
        assert_eq!(out.stdout, b"hi\n");
        let overrun = std::panic::catch_unwind(|| {
            run_with_deadline(Command::new("sleep").arg("30"), Duration::from_millis(100))
        });
        let message = overrun.unwrap_err();
        let message = message.downcast_ref::<String>().unwrap();
        assert!(message.contains("did not finish within"), "{message}");
    }
}
