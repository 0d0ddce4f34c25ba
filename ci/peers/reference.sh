#!/usr/bin/env bash
# The reference server (release build) on a free loopback port, described by a target file like the peers.
#   ci/peers/reference.sh start   build and start; prints the filled-in target file's path
#   ci/peers/reference.sh stop    stop it by its PID
set -euo pipefail
source "$(dirname "$0")/lib.sh"
dir="$PEERS_DIR/reference"
here="$(cd "$(dirname "$0")" && pwd)/reference"
case "${1:-}" in
  start)
    mkdir -p "$dir"
    (cd "$PEERS_ROOT" && cargo build --release -q -p sse-server >&2)
    rm -f "$dir/port" "$dir/pid"
    "$PEERS_ROOT/target/release/sse-server" --bind 127.0.0.1:0 >"$dir/log" 2>&1 &
    echo $! >"$dir/pid"
    for _ in $(seq 600); do grep -q 'listening on http://127.0.0.1:' "$dir/log" && break; sleep 0.05; done
    port=$(grep -o 'listening on http://127\.0\.0\.1:[0-9]*' "$dir/log" | head -1 | sed 's/.*://')
    [ -n "$port" ] || { cat "$dir/log" >&2; stop_pid "$dir/pid"; exit 1; }
    echo "$port" >"$dir/port"
    fill_target "$here/target.toml" "$dir/target.toml" "$port" "$dir/pid"
    echo "$dir/target.toml"
    ;;
  stop) stop_pid "$dir/pid" ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
