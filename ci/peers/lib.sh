# Shared by the ci/peers/*.sh scripts (sourced): where peers live, waiting for a port file,
# filling in a target file, and stopping a server by its PID.
# Everything a peer needs goes under target/peers/<name>/ (venv, node_modules, pid, port, logs).

PEERS_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
PEERS_DIR="${PEERS_DIR:-$PEERS_ROOT/target/peers}"

# wait_for_file FILE PID: wait up to 30 s for FILE to be non-empty while PID lives.
wait_for_file() {
  local file=$1 pid=$2
  for _ in $(seq 600); do
    [ -s "$file" ] && return 0
    kill -0 "$pid" 2>/dev/null || { echo "the server (pid $pid) exited before writing $file" >&2; return 1; }
    sleep 0.05
  done
  echo "no $file after 30 s" >&2
  return 1
}

# fill_target TEMPLATE OUT PORT PID_FILE: the target file with @PORT@ and @PID_FILE@ filled in.
fill_target() {
  sed -e "s|@PORT@|$3|g" -e "s|@PID_FILE@|$4|g" "$1" >"$2"
}

# stop_pid PID_FILE: SIGTERM the server named in PID_FILE, SIGKILL after 5 s; removes the file.
stop_pid() {
  local file=$1 pid
  [ -s "$file" ] || return 0
  pid=$(cat "$file")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$file"
}
