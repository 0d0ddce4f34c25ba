#!/usr/bin/env bash
# sse-starlette under uvicorn on a free loopback port.
#   ci/peers/starlette.sh start   install (a venv from PyPI under target/peers/starlette) and start;
#                                 prints the filled-in target file's path
#   ci/peers/starlette.sh stop    stop it by its PID
set -euo pipefail
source "$(dirname "$0")/lib.sh"
dir="$PEERS_DIR/starlette"
here="$(cd "$(dirname "$0")" && pwd)/starlette"
case "${1:-}" in
  start)
    mkdir -p "$dir"
    if [ ! -x "$dir/venv/bin/python" ] || ! "$dir/venv/bin/python" -c "import sse_starlette, httptools, uvloop" 2>/dev/null; then
      python3 -m venv "$dir/venv"
      # uvicorn[standard]: httptools and uvloop, as uvicorn recommends for production. With the
      # pure-Python h11 protocol each request on a kept-alive connection took about 48 ms here.
      "$dir/venv/bin/pip" install -q "sse-starlette==3.7.0" "uvicorn[standard]==0.54.0" >&2
    fi
    rm -f "$dir/port" "$dir/pid"
    "$dir/venv/bin/python" "$here/server.py" --port-file "$dir/port" --pid-file "$dir/pid" >"$dir/log" 2>&1 &
    wait_for_file "$dir/port" $! || { cat "$dir/log" >&2; exit 1; }
    fill_target "$here/target.toml" "$dir/target.toml" "$(cat "$dir/port")" "$dir/pid"
    echo "$dir/target.toml"
    ;;
  stop) stop_pid "$dir/pid" ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
