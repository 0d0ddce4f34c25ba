//! The one set of process exit codes, used by every binary of the workspace.
//!
//! `sse-load`, `bench-compare`, `sse-heap` and `sse-cpu` all exit with these codes (the
//! reference `sse-server`, which cannot depend on this crate, exits 0 or 1, the same
//! meanings). A script can tell "it ran and the figures are worse" ([`REGRESSION`]) from
//! "it ran and something is broken" ([`CHECK_FAILED`]) from "it did not run" ([`ERROR`],
//! [`USAGE`]).
//!
//! | code | constant | meaning |
//! | --- | --- | --- |
//! | 0 | [`OK`] | everything judged passed (warnings allowed), or a command with nothing to judge succeeded |
//! | 1 | [`ERROR`] | an error: target unreachable, server did not start, I/O, an unreadable file |
//! | 2 | [`USAGE`] | invalid flags, values or names (clap's own code for a usage error) |
//! | 3 | [`REGRESSION`] | a figure regressed against a baseline (`sse-load` only with `--fail-on-regression`) |
//! | 4 | [`CHECK_FAILED`] | an absolute check failed: lost events, frozen clients not evicted, connection errors… |

/// Everything judged passed (warnings allowed), or a command with nothing to judge succeeded.
pub const OK: u8 = 0;
/// An error stopped the command: target unreachable, server did not start, I/O, an unreadable
/// file or baseline.
pub const ERROR: u8 = 1;
/// Invalid flags, values or names; the message names what was wrong. Equal to the code clap
/// exits with on a usage error.
pub const USAGE: u8 = 2;
/// A figure regressed against a baseline: a gate of `sse-load` (only with
/// `--fail-on-regression`), a criterion bench past its threshold (`bench-compare`), or a gated
/// profiling figure past `--baseline` (`sse-heap`, `sse-cpu`).
pub const REGRESSION: u8 = 3;
/// An absolute check failed, whatever the baseline: lost or duplicated events, frozen clients
/// not evicted, connection errors, streams not released.
pub const CHECK_FAILED: u8 = 4;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_distinct_and_usage_is_clap_s() {
        let codes = [OK, ERROR, USAGE, REGRESSION, CHECK_FAILED];
        for (i, a) in codes.iter().enumerate() {
            assert!(codes[i + 1..].iter().all(|b| a != b), "{codes:?}");
        }
        let err = clap::Command::new("x")
            .try_get_matches_from(["x", "--no-such-flag"])
            .unwrap_err();
        assert_eq!(err.exit_code(), i32::from(USAGE));
    }
}
