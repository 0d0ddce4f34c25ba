#!/usr/bin/env bash
# Fan-out against real SSE servers of three languages, the same way: each is installed and started
# on a free loopback port by ci/peers/<name>.sh and described by its target file; sse-load runs the
# `fanout` scenario (CLIENTS subscribers, events published at 100/s through the server's own
# publish request, for DURATION); one markdown table is printed, with the date and the machine.
# The publisher sends one request at a time on one kept-alive connection: a server slower to answer
# a publish than 10 ms reaches fewer than 100 publishes/s (the column says how many it reached: with
# nothing lost, events/s delivered ÷ subscribers).
#
#   ci/compare-peers.sh                       # 100 subscribers, 10 s each
#   CLIENTS=500 DURATION=30s ci/compare-peers.sh
#
# Servers: the reference server (sse-server, Rust), sse-starlette under uvicorn (Python, a venv from
# PyPI) and better-sse with prom-client (Node, from npm); installs go under target/peers/. Every
# server started is stopped by its PID, on every exit path. Reports: target/peers/compare/<name>/.
# Exit codes: 0 table printed, 1 a server or a run failed.
set -euo pipefail
cd "$(dirname "$0")/.."
CLIENTS="${CLIENTS:-100}"
DURATION="${DURATION:-10s}"
PEERS=(reference starlette better-sse)
out=target/peers/compare
rm -rf "$out" && mkdir -p "$out"
trap 'for p in "${PEERS[@]}"; do ci/peers/$p.sh stop || true; done' EXIT
cargo build --release -q -p sse-bench --bin sse-load

rows=()
for peer in "${PEERS[@]}"; do
  echo "running fanout against $peer ..." >&2
  target=$(ci/peers/$peer.sh start)
  if ! ./target/release/sse-load --target-file "$target" --scenario fanout --clients "$CLIENTS" \
      --duration "$DURATION" --output-dir "$out/$peer" --baselines-dir "$out/no-baselines" >"$out/$peer.log" 2>&1; then
    cat "$out/$peer.log" >&2
    exit 1
  fi
  ci/peers/$peer.sh stop
  rows+=("$(jq -r --argjson clients "$CLIENTS" '
    def num(f): if f == null then "—" else (f * 100 | round / 100 | tostring) end;
    [ .parameters.target_name,
      num(.throughput.events_per_sec),
      num(.throughput.events_per_sec / $clients),
      num(.cpu.server_ns_per_event / 1000),
      (if .cpu.note | test("schedstat") then "/proc (--server-pid)"
       elif .cpu.note | test("process_cpu_seconds_total") then "Prometheus"
       elif .cpu.note | test("JSON") then "JSON /metrics" else "—" end),
      num(if .memory == null then null else (.memory.peak_mb - .memory.start_mb) * 1024 / $clients end),
      num(.latency.publish_to_receive.p50_ms),
      num(.latency.publish_to_receive.p99_ms),
      (.events.lost | tostring),
      (.connections.failed | tostring)
    ] | "| " + join(" | ") + " |"' "$out/$peer/fanout.json")")
done

cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')
echo "fanout, $CLIENTS subscribers, 100 events/s published through each server's own publish request, $DURATION;"
echo "$(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs ($cpu), $(uname -sr); generator and server share the machine."
echo
echo "| server | events/s delivered | publishes/s reached (100 asked) | server CPU per event (µs) | CPU from | RSS per connection (KiB) | p50 publish→receive (ms) | p99 publish→receive (ms) | lost | failed connections |"
echo "| --- | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: |"
printf '%s\n' "${rows[@]}"
