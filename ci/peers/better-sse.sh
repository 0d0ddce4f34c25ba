#!/usr/bin/env bash
# better-sse (and prom-client) on Node's http module on a free loopback port.
#   ci/peers/better-sse.sh start   install (npm, under target/peers/better-sse) and start;
#                                  prints the filled-in target file's path
#   ci/peers/better-sse.sh stop    stop it by its PID
set -euo pipefail
source "$(dirname "$0")/lib.sh"
dir="$PEERS_DIR/better-sse"
here="$(cd "$(dirname "$0")" && pwd)/better-sse"
case "${1:-}" in
  start)
    mkdir -p "$dir"
    cp "$here/server.mjs" "$dir/server.mjs"
    if [ ! -d "$dir/node_modules/better-sse" ] || [ ! -d "$dir/node_modules/prom-client" ]; then
      (cd "$dir" && npm install --silent --no-audit --no-fund "better-sse@0.16.1" "prom-client@15" >&2)
    fi
    rm -f "$dir/port" "$dir/pid"
    node "$dir/server.mjs" --port-file "$dir/port" --pid-file "$dir/pid" >"$dir/log" 2>&1 &
    wait_for_file "$dir/port" $! || { cat "$dir/log" >&2; exit 1; }
    fill_target "$here/target.toml" "$dir/target.toml" "$(cat "$dir/port")" "$dir/pid"
    echo "$dir/target.toml"
    ;;
  stop) stop_pid "$dir/pid" ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
