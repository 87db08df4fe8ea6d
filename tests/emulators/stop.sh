#!/usr/bin/env bash
# Stop the emulators started by start.sh (by pid file, whole process group). Idempotent.
set -euo pipefail

logdir="${VOW_EMULATOR_LOGS:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/target/emulators}"

stop() { # name, a string its command line must contain
  local pidfile="$logdir/$1.pid" pid
  [[ -f "$pidfile" ]] || return 0
  pid="$(cat "$pidfile")"
  rm -f "$pidfile"
  kill -0 -- "-$pid" 2>/dev/null || return 0 # already gone
  if [[ -r "/proc/$pid/cmdline" ]] && ! grep -qa -- "$2" "/proc/$pid/cmdline"; then
    echo "emulators: pid $pid is no longer $1, not touching it"; return 0
  fi
  echo "emulators: stopping $1 (process group $pid)"
  kill -TERM -- "-$pid" 2>/dev/null || true
  for _ in $(seq 50); do
    kill -0 -- "-$pid" 2>/dev/null || return 0
    sleep 0.2
  done
  kill -KILL -- "-$pid" 2>/dev/null || true
}

stop localstack localstack.runtime.main
stop moto moto_dynamodb.py
