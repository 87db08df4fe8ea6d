#!/usr/bin/env bash
# The newcomer's path: the commands of the README's first screen, run in order
# on a fresh project in a temporary folder outside the checkout, then the
# project's deployment files through the value checks, then the project moved
# elsewhere and built again. Run by tests/run.sh after tests/infra/check.sh
# (whose venvs give `sam`, and the Python for tests/infra/project.py) and
# tests/emulators/install.sh (whose venv `vow dev` reuses).
#
# What differs from the README, and why: `cargo install` adds --debug and
# --root (the suite's debug build, installed into the temporary folder);
# --vow-path is this checkout; `vow dev` gets ports of its own (the suite's
# emulators hold 4566 and 4569). CARGO_TARGET_DIR is the suite's, so the
# project reuses the vow crates and the AWS SDK built already.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}"
infra_venv="${VOW_INFRA_VENV:-$HOME/.cache/vow/infra-venv}"
# Two free loopback ports (others' emulators may hold any fixed pair).
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
sqs_port="${VOW_NEWCOMER_SQS_PORT:-$(free_port)}"
ddb_port="${VOW_NEWCOMER_DYNAMODB_PORT:-$(free_port)}"
[[ "$sqs_port" != "$ddb_port" ]] || ddb_port="$(free_port)"
work="$(mktemp -d "${TMPDIR:-/tmp}/vow-newcomer.XXXXXX")"
dev_pid=""
cleanup() {
  if [[ -n "$dev_pid" ]] && kill -0 "$dev_pid" 2>/dev/null; then
    kill -TERM "$dev_pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$dev_pid" 2>/dev/null || break; sleep 0.2; done
  fi
  # If vow dev could not stop its emulators, stop them by their pid files.
  if [[ -d "$work/my-app/.vow/emulators" ]]; then
    VOW_EMULATOR_LOGS="$work/my-app/.vow/dev" bash "$work/my-app/.vow/emulators/stop.sh" >/dev/null 2>&1 || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
say() { printf -- '-- %s\n' "$*"; }
fail() { echo "newcomer: $*" >&2; exit 1; }

# The commands this script runs, as the README's first screen lists them.
expected=(
  "cargo install --path cli"
  "vow new my-app --vow-path <vow checkout>"
  "cd my-app"
  "cargo test"
  "cargo clippy --all-targets -- -D warnings"
  "vow dev"
  "vow run --example place-order -- grinder:1"
  "vow status <id>"
  "vow wait <id>"
  "sam validate --lint"
  "terraform -chdir=terraform fmt -check -recursive"
)
say "the README's first screen lists exactly these commands"
mapfile -t listed < <(awk '/^```sh$/ { if (++n == 1) { on = 1; next } } /^```$/ { on = 0 } on' "$root/README.md" |
  sed -e 's/[[:space:]]*#.*$//' -e 's/[[:space:]]*$//' | grep -v '^$')
if [[ "$(printf '%s\n' "${listed[@]}")" != "$(printf '%s\n' "${expected[@]}")" ]]; then
  diff <(printf '%s\n' "${expected[@]}") <(printf '%s\n' "${listed[@]}") >&2 || true
  fail "README.md's first sh block is not the newcomer's path this script runs"
fi

say "cargo install --path cli (--debug, into the temporary folder)"
(cd "$root" && cargo install --quiet --debug --locked --path cli --root "$work/bin")
export PATH="$work/bin/bin:$PATH"
[[ "$(command -v vow)" == "$work/bin/bin/vow" ]] || fail "the installed vow is not first on PATH"

say "vow new my-app --vow-path $root"
cd "$work"
vow new my-app --vow-path "$root"
cd my-app

# No AWS and no emulator for the tests: every endpoint is a closed port, no
# stack is named, and no credentials are found.
offline=(env -u VOW_QUEUE_URL -u VOW_TABLE_NAME -u VOW_DLQ_URL
  AWS_ENDPOINT_URL=http://127.0.0.1:9 AWS_ENDPOINT_URL_SQS=http://127.0.0.1:9
  AWS_ENDPOINT_URL_DYNAMODB=http://127.0.0.1:9 AWS_ACCESS_KEY_ID= AWS_SECRET_ACCESS_KEY=
  AWS_EC2_METADATA_DISABLED=true AWS_REGION=us-east-1)
say "cargo test (no emulator)"
"${offline[@]}" cargo test --quiet
say "cargo clippy --all-targets -- -D warnings"
"${offline[@]}" cargo clippy --quiet --all-targets -- -D warnings
# Its own packages only: with --vow-path, `--all` would take in vow's crates too.
cargo fmt --check -p my-app -p my-app-worker || fail "the generated project is not rustfmt-clean"

say "vow dev (ports $sqs_port, $ddb_port)"
# Its own session, so that stopping it stops nothing of the suite's.
setsid vow dev --sqs-port "$sqs_port" --dynamodb-port "$ddb_port" >"$work/dev.log" 2>&1 &
dev_pid=$!
for _ in $(seq 600); do
  grep -q "serves the queue" "$work/dev.log" && break
  kill -0 "$dev_pid" 2>/dev/null || { cat "$work/dev.log" >&2; fail "vow dev stopped"; }
  sleep 0.5
done
grep -q "serves the queue" "$work/dev.log" || { cat "$work/dev.log" >&2; fail "vow dev did not start"; }
[[ -f .vow/dev.env ]] || fail "vow dev wrote no .vow/dev.env"
grep -q '^export VOW_UNSIGNED=1$' .vow/dev.env || fail "vow dev's local stack does not say it runs unsigned on purpose"

say "vow run --example place-order -- grinder:1"
# The vow commands find the dev stack themselves: nothing names it.
unset VOW_QUEUE_URL VOW_TABLE_NAME VOW_DLQ_URL AWS_ENDPOINT_URL AWS_ENDPOINT_URL_SQS AWS_ENDPOINT_URL_DYNAMODB
out="$(vow run --example place-order -- grinder:1)"
echo "$out"
id="$(awk '/^workflow / { print $2 }' <<<"$out")"
[[ "$id" =~ ^[0-9a-f]{32}$ ]] || fail "vow run printed no workflow id"
say "vow status $id"
vow status "$id"
say "vow wait $id"
result="$(vow wait "$id" --timeout 120s)" || { cat "$work/dev.log" >&2; fail "the workflow did not succeed"; }
echo "$result"
grep -q '"Confirmed"' <<<"$result" || fail "the order was not confirmed"
vow status "$id" | grep -q '^state  *done' || fail "vow status does not say done"
if grep -q "NOT signed" "$work/dev.log"; then fail "vow dev's worker warned that it runs unsigned"; fi

say "stopping vow dev"
kill -TERM "$dev_pid"
for _ in $(seq 100); do kill -0 "$dev_pid" 2>/dev/null || break; sleep 0.2; done
kill -0 "$dev_pid" 2>/dev/null && fail "vow dev did not stop"
grep -q "vow dev: stopped" "$work/dev.log" || { cat "$work/dev.log" >&2; fail "vow dev did not stop cleanly"; }
[[ ! -f .vow/dev.env ]] || fail "vow dev left .vow/dev.env behind"
if (exec 3<>"/dev/tcp/127.0.0.1/$sqs_port") 2>/dev/null; then fail "the emulators still run"; fi

say "sam validate --lint"
SAM_CLI_TELEMETRY=0 AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test \
  AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_EC2_METADATA_DISABLED=true \
  "$infra_venv/sam/bin/sam" validate --lint
say "terraform -chdir=terraform fmt -check -recursive"
if command -v terraform >/dev/null; then
  # A TF_CLI_CONFIG_FILE that names a missing file only adds a warning.
  if [[ -n "${TF_CLI_CONFIG_FILE:-}" && ! -e "$TF_CLI_CONFIG_FILE" ]]; then unset TF_CLI_CONFIG_FILE; fi
  terraform -chdir=terraform fmt -check -recursive
else
  echo "terraform is not on PATH: skipped (its HCL is still parsed below)"
fi
say "the value checks of its SAM template and Terraform (tests/infra/project.py)"
"$infra_venv/checkov/bin/python" "$root/tests/infra/project.py" . my-app

say "a broken copy fails them (a wider grant; a module copy that drifted)"
for broken in sam tf; do
  copy="$work/broken-$broken"
  mkdir -p "$copy/worker"
  cp -r template.yaml vow terraform "$copy/"
  cp worker/Cargo.toml "$copy/worker/"
  case "$broken" in
    sam) sed -i 's/"dynamodb:PutItem"\]/"dynamodb:PutItem", "dynamodb:DeleteItem"]/' "$copy/template.yaml" ;;
    tf) sed -i '0,/default *= *"vow"/s//default     = "other"/' "$copy/terraform/vow/variables.tf" ;;
  esac
  cmp -s template.yaml "$copy/template.yaml" && cmp -s terraform/vow/variables.tf "$copy/terraform/vow/variables.tf" &&
    fail "the broken copy ($broken) is not broken"
  if "$infra_venv/checkov/bin/python" "$root/tests/infra/project.py" "$copy" my-app >"$work/broken.log"; then
    cat "$work/broken.log" >&2; fail "the value checks pass a broken copy ($broken)"
  fi
done

say "sam build picks the project's binaries (tests/infra/sambuild.py, a stand-in cargo-lambda)"
SAM_CLI_TELEMETRY=0 AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test \
  AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_EC2_METADATA_DISABLED=true \
  "$infra_venv/checkov/bin/python" "$root/tests/infra/sambuild.py" "$infra_venv/sam/bin/sam" --project . my-app

say "the project moved elsewhere still builds"
cd "$work"
mkdir -p elsewhere/deeper
mv my-app elsewhere/deeper/renamed-folder
cd elsewhere/deeper/renamed-folder
"${offline[@]}" cargo build --quiet --all-targets
echo "newcomer: the README's path works from vow new to the deploy checks"
