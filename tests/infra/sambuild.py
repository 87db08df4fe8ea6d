"""`sam build` picks the right crate and binary for every function.

The templates name each function's code through parameters (WorkerCodeUri,
WorkerBinary, ...), and the starter nests the vow template as an
AWS::Serverless::Application. This runs the real `sam build` on both, with a
stand-in `cargo-lambda` on PATH that records which `--bin` it was asked for in
which directory and writes a marker `bootstrap` (a real cross-compile takes
many minutes), and checks that each built function holds the binary it should:

* infra/sam/template.yaml with its defaults: vow-worker from functions/worker,
  vow-dead-letter from functions/dead-letter;
* examples/orders/template.yaml: orders-worker and orders-dead-letter from
  examples/orders/worker (a stub crate with those two binaries stands in when
  the starter's crate is not in this tree).

Usage: sambuild.py SAM_EXECUTABLE  (from the repository root; needs cargo).
       sambuild.py SAM_EXECUTABLE --project DIR NAME: instead, a project `vow
       new NAME` wrote in DIR, whose template.yaml nests its own copy of the vow
       template (vow/template.yaml): NAME-worker and NAME-dead-letter from DIR/worker.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

FAKE_CARGO_LAMBDA = """#!/bin/sh
# Stand-in for cargo-lambda: `cargo lambda build ... --bin NAME`.
bin=""; prev=""
for a in "$@"; do [ "$prev" = "--bin" ] && bin="$a"; prev="$a"; done
[ -n "$bin" ] || { echo "no --bin given" >&2; exit 1; }
target=$(cargo metadata --no-deps --format-version 1 --offline |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])') || exit 1
mkdir -p "$target/lambda/$bin"
echo "$bin built in $PWD" > "$target/lambda/$bin/bootstrap"
"""

STUB_MANIFEST = """[package]
name = "orders-worker"
version = "0.0.0"
edition = "2021"
publish = false

[workspace]

[[bin]]
name = "orders-worker"
path = "src/worker.rs"

[[bin]]
name = "orders-dead-letter"
path = "src/dead_letter.rs"
"""


def build(sam: str, cwd: Path, template: Path, build_dir: Path, env: dict) -> tuple[bool, str]:
    result = subprocess.run(
        [sam, "build", "-t", str(template), "--build-dir", str(build_dir)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    return result.returncode == 0, result.stdout + result.stderr


def expect(build_dir: Path, want: dict[str, tuple[str, Path]], errors: list[str]) -> None:
    for function, (binary, crate) in want.items():
        path = build_dir / function / "bootstrap"
        got = path.read_text().strip() if path.is_file() else "(nothing)"
        if got != f"{binary} built in {crate}":
            errors.append(f"{function}: built {got!r}, expected {binary} built in {crate}")


def fake_env(tmp_path: Path) -> dict:
    """The environment of a `sam build` with the stand-in cargo-lambda."""
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "cargo-lambda").write_text(FAKE_CARGO_LAMBDA)
    (fake / "cargo-lambda").chmod(0o755)
    return {
        **os.environ,
        "PATH": f"{fake}{os.pathsep}{os.environ.get('PATH', '')}",
        "CARGO_TARGET_DIR": str(tmp_path / "target"),  # never touch the real target/lambda
        "SAM_CLI_TELEMETRY": "0",
    }


def project(sam: str, directory: Path, name: str) -> int:
    errors: list[str] = []
    with tempfile.TemporaryDirectory(prefix="vow-sam-build.") as tmp:
        tmp_path = Path(tmp)
        env = fake_env(tmp_path)
        ok, log = build(sam, directory, Path("template.yaml"), tmp_path / "build", env)
        if not ok:
            errors.append(f"sam build of {directory}/template.yaml failed:\n{log}")
        else:
            crate = (directory / "worker").resolve()
            expect(
                tmp_path / "build/Vow",
                {
                    "WorkerFunction": (f"{name}-worker", crate),
                    "DeadLetterFunction": (f"{name}-dead-letter", crate),
                },
                errors,
            )
    for e in errors:
        print(f"  {e}")
    print(f"sam build of the project: {'ok' if not errors else 'FAILED'}")
    return 1 if errors else 0


def main() -> int:
    sam = sys.argv[1] if len(sys.argv) > 1 else "sam"
    if len(sys.argv) == 5 and sys.argv[2] == "--project":
        return project(sam, Path(sys.argv[3]).resolve(), sys.argv[4])
    errors: list[str] = []
    with tempfile.TemporaryDirectory(prefix="vow-sam-build.") as tmp:
        tmp_path = Path(tmp)
        env = fake_env(tmp_path)

        # The vow template with its defaults, in place.
        ok, log = build(sam, ROOT, ROOT / "infra/sam/template.yaml", tmp_path / "vow-build", env)
        if not ok:
            errors.append(f"sam build of infra/sam/template.yaml failed:\n{log}")
        else:
            expect(
                tmp_path / "vow-build",
                {
                    "WorkerFunction": ("vow-worker", ROOT / "functions/worker"),
                    "DeadLetterFunction": ("vow-dead-letter", ROOT / "functions/dead-letter"),
                },
                errors,
            )

        # The starter, nesting the vow template: in place (its worker crate is
        # a member of the starter's own workspace, which uses the vow crates
        # by path), or in a copy with a stub crate where it has none.
        real = ROOT / "examples/orders/worker"
        if (real / "Cargo.toml").is_file():
            starter, crate = ROOT / "examples/orders", real
        else:
            copy = tmp_path / "repo"
            shutil.copytree(ROOT / "infra/sam", copy / "infra/sam")
            (copy / "examples/orders").mkdir(parents=True)
            shutil.copy2(ROOT / "examples/orders/template.yaml", copy / "examples/orders/template.yaml")
            starter, crate = copy / "examples/orders", copy / "examples/orders/worker"
            (crate / "src").mkdir(parents=True)
            (crate / "Cargo.toml").write_text(STUB_MANIFEST)
            for name in ("worker", "dead_letter"):
                (crate / "src" / f"{name}.rs").write_text("fn main() {}\n")
        ok, log = build(sam, starter, Path("template.yaml"), tmp_path / "orders-build", env)
        if not ok:
            errors.append(f"sam build of examples/orders/template.yaml failed:\n{log}")
        else:
            expect(
                tmp_path / "orders-build/Vow",
                {
                    "WorkerFunction": ("orders-worker", crate.resolve()),
                    "DeadLetterFunction": ("orders-dead-letter", crate.resolve()),
                },
                errors,
            )
    for e in errors:
        print(f"  {e}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
