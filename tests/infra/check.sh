#!/usr/bin/env bash
# Static checks of the deployment infrastructure (infra/ and the starter's
# examples/orders templates), all offline: cfn-lint, sam validate --lint,
# terraform fmt, HCL parse + value checks of both stacks against the code
# (tests/infra/consistency.py), `sam build` picking each function's binary
# (tests/infra/sambuild.py), the self-test that each deliberately broken
# template fails them (tests/infra/selftest.py), checkov.
#
# Usage (from the repository root): bash tests/infra/check.sh
#
# Tools are installed on first use into venvs under
# ${VOW_INFRA_VENV:-$HOME/.cache/vow/infra-venv} (one per "# venv:" section of
# tests/infra/requirements.txt) and reused while that section is unchanged.
# VOW_INFRA_PYTHON picks the interpreter for new venvs (default python3).
# terraform (1.x) is taken from PATH; without it that one step is reported as
# SKIP unless VOW_INFRA_REQUIRE_TERRAFORM=1.
#
# Prints one line per tool and exits non-zero if any check fails.

set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT" || exit 2

REQS="tests/infra/requirements.txt"
VENV_ROOT="${VOW_INFRA_VENV:-$HOME/.cache/vow/infra-venv}"
PYTHON="${VOW_INFRA_PYTHON:-python3}"
SAM_TEMPLATE="infra/sam/template.yaml"
STARTER_TEMPLATE="examples/orders/template.yaml"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/vow-infra-check.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

passed=0
failed=0
skipped=0

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1fs", b - a }'; }

# report NAME STATUS DURATION [LOG]: one line per tool; the log only on failure.
report() {
    local name="$1" status="$2" took="$3" log="${4:-}"
    case "$status" in
        0)    printf 'PASS  %-22s %6s\n' "$name" "$took"; passed=$((passed + 1)) ;;
        skip) printf 'SKIP  %-22s %6s  %s\n' "$name" "" "$took"; skipped=$((skipped + 1)) ;;
        ok)   printf 'OK    %-22s %6s  %s\n' "$name" "$took" "$log" ;; # setup, not counted
        *)    printf 'FAIL  %-22s %6s\n' "$name" "$took"; failed=$((failed + 1))
              [ -n "$log" ] && [ -s "$log" ] && sed 's/^/      | /' "$log" ;;
    esac
}

# ------------------------------------------------------------------ install

# section NAME: the requirement lines of one "# venv: NAME" section.
section() {
    awk -v want="$1" '
        /^# venv:/ { cur = $3; next }
        /^[[:space:]]*(#|$)/ { next }
        cur == want { print }
    ' "$REQS"
}

# venv_want NAME: writes the section to $WORK/req-NAME.txt and prints the
# stamp that an up-to-date venv carries (section + interpreter + installer).
venv_want() {
    section "$1" >"$WORK/req-$1.txt"
    [ -s "$WORK/req-$1.txt" ] || { echo "no '# venv: $1' section in $REQS" >&2; return 1; }
    { cat "$WORK/req-$1.txt"; "$PYTHON" -c 'import sys; print(sys.version)'; echo installer-v1; } |
        sha256sum | cut -d' ' -f1
}

# venv_current NAME PROBE WANT: is VENV_ROOT/NAME installed with that stamp?
venv_current() {
    [ -x "$VENV_ROOT/$1/bin/$2" ] && [ "$(cat "$VENV_ROOT/$1/.vow-requirements.sha256" 2>/dev/null)" = "$3" ]
}

# ensure_venv NAME PROBE WANT: (re)creates VENV_ROOT/NAME unless current.
ensure_venv() {
    local name="$1" probe="$2" want="$3" dir="$VENV_ROOT/$1"
    venv_current "$name" "$probe" "$want" && return 0
    {
        rm -f "$dir/.vow-requirements.sha256"
        "$PYTHON" -m venv --clear "$dir" &&
        "$dir/bin/python" -m pip install --disable-pip-version-check --no-input -q -r "$WORK/req-$name.txt" &&
        [ -x "$dir/bin/$probe" ] &&
        echo "$want" >"$dir/.vow-requirements.sha256"
    } >"$WORK/install-$name.log" 2>&1
}

mkdir -p "$VENV_ROOT"
t0="$(now)"
# One installer at a time per venv root (two check.sh runs may race).
exec 9>"$VENV_ROOT/.lock"
flock 9
if ! want_sam="$(venv_want sam)" || ! want_checkov="$(venv_want checkov)"; then
    echo "FAIL  tools: bad $REQS"
    exit 1
fi
if ! venv_current sam sam "$want_sam" || ! venv_current checkov checkov "$want_checkov"; then
    echo "....  installing pinned tools into $VENV_ROOT (once; about 1-3 minutes)"
fi
ensure_venv sam sam "$want_sam" & pid_sam=$!
ensure_venv checkov checkov "$want_checkov" & pid_checkov=$!
install_ok=1
wait "$pid_sam" || { install_ok=0; report "install sam+cfn-lint" 1 "$(elapsed "$t0")" "$WORK/install-sam.log"; }
wait "$pid_checkov" || { install_ok=0; report "install checkov" 1 "$(elapsed "$t0")" "$WORK/install-checkov.log"; }
flock -u 9
exec 9>&-
if [ "$install_ok" = 1 ]; then
    report "tools" ok "$(elapsed "$t0")" "venvs in $VENV_ROOT"
else
    echo "infra: $passed passed, $failed failed"
    exit 1
fi

SAM_VENV="$VENV_ROOT/sam/bin"
CHECKOV_VENV="$VENV_ROOT/checkov/bin"

# Offline, deterministic AWS environment for the tools: no real credentials,
# profiles or metadata lookups, no telemetry.
export SAM_CLI_TELEMETRY=0
export AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test
unset AWS_SESSION_TOKEN AWS_PROFILE AWS_DEFAULT_PROFILE
export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
export AWS_EC2_METADATA_DISABLED=true
export BC_SKIP_MAPPING=TRUE

# --------------------------------------------------------------------- run
# The three slow tools run concurrently; results print in a fixed order.

run_bg() { # NAME CMD...: runs CMD in the background, output to $WORK/NAME.log
    local name="$1"; shift
    (
        start="$(now)"
        "$@" >"$WORK/$name.log" 2>&1
        echo "$? $(elapsed "$start")" >"$WORK/$name.rc"
    ) &
}

collect() { # NAME LABEL
    local rc took
    read -r rc took <"$WORK/$1.rc"
    report "$2" "$rc" "$took" "$WORK/$1.log"
}

run_bg cfnlint "$SAM_VENV/cfn-lint" "$SAM_TEMPLATE" "$STARTER_TEMPLATE"
run_bg samvalidate sh -c '"$1" validate --lint -t "$2" && "$1" validate --lint -t "$3"' _ \
    "$SAM_VENV/sam" "$SAM_TEMPLATE" "$STARTER_TEMPLATE"
run_bg checkov "$CHECKOV_VENV/checkov" -d infra/ -f "$STARTER_TEMPLATE" \
    -f examples/orders/terraform/main.tf --quiet --compact --skip-download

# terraform fmt parses every .tf file and checks formatting.
t0="$(now)"
if command -v terraform >/dev/null 2>&1; then
    # A TF_CLI_CONFIG_FILE that names a missing file only adds a warning.
    if [ -n "${TF_CLI_CONFIG_FILE:-}" ] && [ ! -e "$TF_CLI_CONFIG_FILE" ]; then
        unset TF_CLI_CONFIG_FILE
    fi
    { terraform fmt -check -recursive -diff infra/terraform &&
        terraform fmt -check -recursive -diff examples/orders/terraform; } >"$WORK/tffmt.log" 2>&1
    report "terraform fmt" "$?" "$(elapsed "$t0")" "$WORK/tffmt.log"
elif [ "${VOW_INFRA_REQUIRE_TERRAFORM:-0}" = 1 ]; then
    echo "terraform is not on PATH" >"$WORK/tffmt.log"
    report "terraform fmt" 1 "$(elapsed "$t0")" "$WORK/tffmt.log"
else
    report "terraform fmt" skip "terraform not on PATH (HCL is still parsed below)"
fi

t0="$(now)"
"$CHECKOV_VENV/python" tests/infra/consistency.py >"$WORK/consistency.log" 2>&1
report "values+consistency" "$?" "$(elapsed "$t0")" "$WORK/consistency.log"

# `sam build` resolves each function's crate and binary from the parameters,
# also through the starter's nested stack (a stand-in cargo-lambda records the
# --bin it is given; cargo must be on PATH for `cargo metadata`).
t0="$(now)"
if command -v cargo >/dev/null 2>&1; then
    "$CHECKOV_VENV/python" tests/infra/sambuild.py "$SAM_VENV/sam" >"$WORK/sambuild.log" 2>&1
    report "sam build binaries" "$?" "$(elapsed "$t0")" "$WORK/sambuild.log"
else
    report "sam build binaries" skip "cargo not on PATH"
fi

# Each deliberately broken copy of a template must fail the value checks.
t0="$(now)"
"$CHECKOV_VENV/python" tests/infra/selftest.py >"$WORK/selftest.log" 2>&1
report "broken copies caught" "$?" "$(elapsed "$t0")" "$WORK/selftest.log"

wait
collect cfnlint "cfn-lint"
collect samvalidate "sam validate --lint"
# checkov exits non-zero on failed checks, but 0 when a file does not parse
# (it only counts "Parsing errors"). It prints a summary per framework even
# when green: a missing one, or one that checked nothing, means unchecked IaC.
checkov_problem=""
for framework in cloudformation terraform; do
    summary="$(grep -A2 "^$framework scan results" "$WORK/checkov.log" | grep 'Passed checks' || true)"
    case "$summary" in
        "") checkov_problem+="checkov: no $framework scan results; " ;;
        *"Parsing errors: "[1-9]*) checkov_problem+="checkov: $framework parsing errors; " ;;
        "Passed checks: 0, Failed checks: 0, Skipped checks: 0"*) checkov_problem+="checkov: no $framework checks ran; " ;;
    esac
done
if [ -n "$checkov_problem" ]; then
    echo "$checkov_problem" >>"$WORK/checkov.log"
    sed -i '1s/^0 /1 /' "$WORK/checkov.rc"
fi
collect checkov "checkov"

if [ "$skipped" -gt 0 ]; then
    echo "infra: $passed passed, $failed failed, $skipped skipped"
else
    echo "infra: $passed passed, $failed failed"
fi
[ "$failed" -eq 0 ]
