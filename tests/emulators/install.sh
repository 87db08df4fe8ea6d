#!/usr/bin/env bash
# Install the local AWS emulators (LocalStack for SQS, moto for DynamoDB) into a venv.
# Idempotent: a stamp file records the requirements the venv was built from.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="${VOW_EMULATOR_VENV:-$HOME/.cache/vow/emulators}"
req="$here/requirements.txt"
stamp="$venv/.vow-requirements"
python="${VOW_PYTHON:-$(command -v python3.11 || command -v python3)}"

if [[ -x "$venv/bin/python" ]] && cmp -s "$req" "$stamp"; then
  echo "emulators: venv $venv is up to date"
  exit 0
fi

if ! "$python" -c 'import ensurepip' 2>/dev/null; then # Debian's python3 needs python3-venv
  echo "emulators: installing python3-venv (apt-get)"
  apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null
fi

echo "emulators: preparing venv $venv with $("$python" --version 2>&1)"
"$python" -m venv "$venv"
rm -f "$stamp"

echo "emulators: upgrading pip"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip

echo "emulators: installing $(grep -cv '^\s*\(#\|$\)' "$req") pinned packages from $req"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$req"

echo "emulators: checking imports"
"$venv/bin/python" -c 'import localstack.runtime.main, moto.server, werkzeug.serving, boto3'

cp "$req" "$stamp"
echo "emulators: installed in $venv"
