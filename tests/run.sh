#!/usr/bin/env bash
# Runs every test: installs (and caches) the emulators, starts LocalStack (SQS) and
# moto (DynamoDB) on loopback, runs lints and the whole workspace suite against
# them (the README's and docs/ pages' Rust blocks are doctests of tests/docs),
# checks the deployment templates, runs the newcomer's path of the README's first
# screen on a fresh `vow new` project (tests/newcomer.sh), checks the templates'
# IAM grants against the calls the functions made in the tests
# (tests/infra/iam.py), and stops the emulators.
#
#   ./tests/run.sh            everything
#   ./tests/run.sh quick      only the tests that need no emulator
#   ./tests/run.sh chaos      the chaos run: 300 workflows (VOW_CHAOS_WORKFLOWS) through
#                             injected faults in memory, on the emulators, and with
#                             worker processes SIGKILLed (last line: workflows=…
#                             faults=… kills=… lost=… double=… wrong=… hung=…
#                             poison_neighbours_dead_lettered=…)
#   ./tests/run.sh model      the model checker's deeper run over the engine's
#                             decisions (last line: states=… properties=… violations=…)
#   ./tests/run.sh bench      the engine on one core (criterion), the worker's size,
#                             cold starts and CPU per step of the release worker,
#                             then vow against a raw SDK baseline on the emulators:
#                             cost, throughput and latency (last lines: latency vow
#                             hop_p50_ms=… cold_start_ms=… cpu_us_per_step=…, the
#                             same for the baseline, usd_per_million_steps=… vs_baseline=…)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
mode="${1:-all}"
step() { printf '\n== %s\n' "$*"; }
# The starter project is a workspace of its own; it shares this one's target
# directory, so the vow crates and the AWS SDK are built once.
starter=(--manifest-path examples/orders/Cargo.toml)
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}"

step "graphviz"
# `vow graph` tests render DOT with Graphviz (a Debian package).
if ! command -v dot >/dev/null; then
  { apt-get update -qq && apt-get install -y -qq graphviz >/dev/null; } ||
    { echo "could not install graphviz: run apt-get install graphviz as root" >&2; exit 1; }
fi

if [[ "$mode" == model ]]; then
  step "model checker (deeper run)"
  # Release: the deep run explores tens of millions of states.
  cargo run --quiet --release -p vow-model -- --deep
  exit 0
fi

if [[ "$mode" != chaos && "$mode" != bench ]]; then
step "lint"
cargo fmt --all --check
cargo clippy --workspace --all-targets --quiet -- -D warnings
cargo fmt "${starter[@]}" --all --check
cargo clippy "${starter[@]}" --all-targets --quiet -- -D warnings
step "the sdk's optional anyhow feature"
cargo test --quiet -p vow-sdk --features anyhow --test errors

if [[ "$mode" == quick ]]; then
  step "tests (no emulators)"
  cargo test --workspace --exclude vow-e2e --exclude vow-cli
  cargo test -p vow-cli --bins # its tests/ run the binary against the emulators
  exit 0
fi
fi

step "emulators"
export VOW_EMULATOR_VENV="${VOW_EMULATOR_VENV:-$HOME/.cache/vow/emulators}"
export VOW_EMULATOR_LOGS="${VOW_EMULATOR_LOGS:-$root/target/emulators}" # the scripts' default too
tests/emulators/install.sh
export PATH="$VOW_EMULATOR_VENV/bin:$PATH" # cargo-lambda
trap 'tests/emulators/stop.sh >/dev/null 2>&1 || true' EXIT
tests/emulators/start.sh >/dev/null
# shellcheck source=/dev/null
source "$VOW_EMULATOR_LOGS/env.sh"

if [[ "$mode" == chaos ]]; then
  step "chaos (in memory, on the emulators, then with worker processes killed)"
  cargo build --quiet -p vow-e2e --bins
  chaos=target/debug/chaos
  [[ -n "${CARGO_TARGET_DIR:-}" ]] && chaos="$CARGO_TARGET_DIR/debug/chaos"
  n="${VOW_CHAOS_WORKFLOWS:-300}"
  status=0
  # Each run prints its own line; the last line sums them, in the same form.
  lines=()
  for args in "--backend memory" "--backend aws" "--kill"; do
    # shellcheck disable=SC2086
    # A memory limit: a hostile body must fail the run, not take the machine down.
    if line="$( (ulimit -v 8000000; exec "$chaos" $args --workflows "$n") | tail -n 1)"; then :; else status=1; fi
    echo "$line"
    lines+=("$line")
  done
  printf '%s\n' "${lines[@]}" | awk '
    { for (i = 1; i <= NF; i++) { split($i, kv, "="); sum[kv[1]] += kv[2]; order[i] = kv[1] } n = NF }
    END { for (i = 1; i <= n; i++) printf "%s=%d%s", order[i], sum[order[i]], (i < n ? " " : "\n") }'
  exit "$status"
fi

if [[ "$mode" == bench ]]; then
  step "engine on one core (criterion, in-memory backend)"
  cargo bench -p vow-sdk --bench engine --no-default-features
  step "release binaries: the worker, the baseline function, the bench"
  cargo build --quiet --release -p vow-worker
  cargo build --quiet --release -p vow-e2e --bin bench --bin baseline_lambda
  release="${CARGO_TARGET_DIR:-target}/release"
  python3 - "$release/vow-worker" <<'PY'
import io, os, sys, zipfile
binary = sys.argv[1]
zipped = io.BytesIO()
with zipfile.ZipFile(zipped, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
    z.write(binary, "bootstrap")  # what a provided.al2023 function's zip holds
print(f"worker_binary_bytes={os.path.getsize(binary)} worker_zip_bytes={len(zipped.getvalue())}")
PY
  step "bench (cold starts and CPU under a runtime API stand-in; vow and a raw SDK baseline on the emulators)"
  read -ra bench_args <<<"${VOW_BENCH_ARGS:-}" # e.g. "--join 0" to skip the 100k join
  "$release/bench" --worker "$release/vow-worker" --baseline-lambda "$release/baseline_lambda" "${bench_args[@]}"
  exit 0
fi

step "tests"
cargo test --workspace

step "starter project (examples/orders) on the emulators"
cargo test "${starter[@]}"

step "publishable crates: packages and docs"
# The SDK is published as `vow-sdk` (its library is `vow`): crates.io's `vow`
# is another project. Packaged together, each verifying build uses the others'
# packages, as crates.io would serve them.
cargo package --quiet --allow-dirty -p vow-sdk -p vow-macros -p vow-lambda
RUSTDOCFLAGS="-D warnings" cargo doc --quiet --no-deps -p vow-sdk -p vow-macros -p vow-lambda

if [[ -x tests/infra/check.sh ]]; then
  step "deployment templates"
  tests/infra/check.sh
fi

step "the newcomer's path: vow new, cargo test, the dev loop, the deploy checks (tests/newcomer.sh)"
tests/newcomer.sh

step "IAM: the templates' grants against the calls the functions made"
# tests/tests/iam.rs (run above) recorded every AWS call of the worker and the
# dead-letter function; the SAM translator and python-hcl2 it uses come from
# the venvs tests/infra/check.sh installed. The evaluators' examples first.
(cd tests/infra && python3 -m doctest iam_cfn.py iam_hcl.py)
python3 tests/infra/iam.py
