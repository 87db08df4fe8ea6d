#!/usr/bin/env bash
# Start the local AWS emulators on loopback: LocalStack (host mode) for SQS, moto for DynamoDB
# (and Secrets Manager, which the same moto server serves).
# Progress goes to stderr; the `export` lines a test needs go to stdout and to "$logdir/env.sh".
#   eval "$(tests/emulators/start.sh)"    or    tests/emulators/start.sh && . target/emulators/env.sh
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="${VOW_EMULATOR_VENV:-$HOME/.cache/vow/emulators}"
logdir="${VOW_EMULATOR_LOGS:-$(cd "$here/../.." && pwd)/target/emulators}"
sqs_port="${VOW_SQS_PORT:-4566}"
ddb_port="${VOW_DYNAMODB_PORT:-4569}"
timeout="${VOW_EMULATOR_TIMEOUT:-90}"
py="$venv/bin/python"

log() { echo "emulators: $*" >&2; }
[[ -x "$py" ]] || { log "no venv at $venv: run tests/emulators/install.sh first"; exit 1; }

mkdir -p "$logdir"
"$here/stop.sh" >&2 # clear a previous run started with the same log dir
for port in "$sqs_port" "$ddb_port"; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    log "port $port is already in use (emulators of another checkout? its tests/emulators/stop.sh stops them)"; exit 1
  fi
done

# Each emulator gets its own session (setsid), so stop.sh can kill its whole process group.
fsroot="$logdir/localstack-fs" # LocalStack's state, tmp and cache dirs (fresh each start)
rm -rf "$fsroot"
log "starting LocalStack (SQS) on 127.0.0.1:$sqs_port"
env SERVICES=sqs GATEWAY_LISTEN="127.0.0.1:$sqs_port" LOCALSTACK_HOST="127.0.0.1:$sqs_port" \
  SQS_ENDPOINT_STRATEGY=path DNS_ADDRESS=0 DISABLE_EVENTS=1 SKIP_SSL_CERT_DOWNLOAD=1 \
  OVERRIDE_IN_DOCKER=0 FILESYSTEM_ROOT="$fsroot" PERSISTENCE=0 \
  setsid "$py" -m localstack.runtime.main </dev/null >"$logdir/localstack.log" 2>&1 &
echo $! >"$logdir/localstack.pid"

log "starting moto (DynamoDB, single-threaded) on 127.0.0.1:$ddb_port"
setsid "$py" "$here/moto_dynamodb.py" "$ddb_port" </dev/null >"$logdir/moto.log" 2>&1 &
echo $! >"$logdir/moto.pid"

sqs_ready() {
  curl -sf --max-time 2 "http://127.0.0.1:$sqs_port/_localstack/health" |
    grep -Eq '"sqs": *"(available|running)"'
}
ddb_ready() { # an unsigned ListTables; moto answers it with JSON
  curl -sf --max-time 2 -X POST "http://127.0.0.1:$ddb_port/" \
    -H 'Content-Type: application/x-amz-json-1.0' -H 'X-Amz-Target: DynamoDB_20120810.ListTables' \
    -H 'Authorization: AWS4-HMAC-SHA256 Credential=test/20240101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0' \
    -d '{}' | grep -q TableNames
}
fail() {
  log "$1"
  for f in localstack moto; do echo "--- $logdir/$f.log (tail)" >&2; tail -n 30 "$logdir/$f.log" >&2 || true; done
  "$here/stop.sh" >&2
  exit 1
}

deadline=$((SECONDS + timeout))
until sqs_ready && ddb_ready; do
  for f in localstack moto; do
    kill -0 "$(cat "$logdir/$f.pid")" 2>/dev/null || fail "$f exited during startup"
  done
  ((SECONDS < deadline)) || fail "emulators not ready after ${timeout}s"
  sleep 0.5
done
log "ready after ${SECONDS}s (logs and pid files in $logdir)"

cat >"$logdir/env.sh" <<ENV
export AWS_ENDPOINT_URL_SQS=http://127.0.0.1:$sqs_port
export AWS_ENDPOINT_URL_DYNAMODB=http://127.0.0.1:$ddb_port
export AWS_ENDPOINT_URL_SECRETS_MANAGER=http://127.0.0.1:$ddb_port
export AWS_REGION=us-east-1
export AWS_DEFAULT_REGION=us-east-1
export AWS_ACCESS_KEY_ID=test
export AWS_SECRET_ACCESS_KEY=test
export AWS_EC2_METADATA_DISABLED=true
ENV
cat "$logdir/env.sh"
