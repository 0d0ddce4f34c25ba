#!/usr/bin/env bash
# Compare criterion baselines; see `ci/bench-compare.sh --help`.
# Exit codes: 0 no regression, 1 error, 2 invalid command line, 3 regression, 4 (check) a bench not run.
#   ci/bench-compare.sh compare main new
#   ci/bench-compare.sh export --baseline main --out baselines/criterion/x86_64-2cpu.json
#   ci/bench-compare.sh check --against baselines/criterion/x86_64-2cpu.json --baseline new
set -euo pipefail
cd "$(dirname "$0")/.."
exec cargo run --release -q -p sse-bench --bin bench-compare -- "$@"
