#!/usr/bin/env bash
# make dev-down: stops what scripts/dev-up.sh started, in order (agent, detector, api) so every
# stage drains what the previous one sent: SIGTERM, up to 30 s for a clean stop, then SIGKILL.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
RUN=$ROOT/data/run
LOG=$ROOT/logs/amoskys.log
mkdir -p "$ROOT/logs"
log() { echo "$(date -u +%FT%TZ) dev-down: $*" | tee -a "$LOG"; }

stop() {
  local name=$1 f="$RUN/$1.pid"
  [ -f "$f" ] || { log "$name: not running (no pid file)"; return 0; }
  local pid
  pid=$(cat "$f")
  if ! kill -0 "$pid" 2>/dev/null; then
    log "$name: pid $pid already gone"
    rm -f "$f"
    return 0
  fi
  kill -TERM "$pid"
  for _ in $(seq 1 60); do
    kill -0 "$pid" 2>/dev/null || { log "$name stopped (pid $pid)"; rm -f "$f"; return 0; }
    sleep 0.5
  done
  log "$name (pid $pid) did not stop in 30s: SIGKILL"
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$f"
}

stop agent
stop detector
stop api
