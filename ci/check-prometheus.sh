#!/usr/bin/env bash
# Start the reference server on a free loopback port, fetch /metrics/prometheus, and run
# `promtool check metrics` on it (Debian: apt-get install prometheus). The server is stopped
# by its PID on every exit path.
# Exit codes: 0 the output passes, 1 promtool complained or the server did not start, 2 no promtool.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v promtool >/dev/null || { echo "promtool not found: apt-get install prometheus" >&2; exit 2; }
cargo build --release -q -p sse-server
log=$(mktemp)
./target/release/sse-server --bind 127.0.0.1:0 >"$log" 2>&1 &
pid=$!
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -f "$log"' EXIT
addr=""
for _ in $(seq 100); do
  addr=$(grep -o 'http://127\.0\.0\.1:[0-9]*' "$log" | head -1 || true)
  [ -n "$addr" ] && break
  sleep 0.05
done
[ -n "$addr" ] || { echo "the server did not report its address:" >&2; cat "$log" >&2; exit 1; }
metrics=$(curl -sf "$addr/metrics/prometheus")
printf '%s\n' "$metrics" | promtool check metrics
echo "promtool check metrics: $(printf '%s\n' "$metrics" | grep -c '^# TYPE') metrics from $addr/metrics/prometheus pass"
