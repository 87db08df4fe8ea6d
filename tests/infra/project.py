"""Value checks of a project that `vow new` wrote (tests/newcomer.sh runs them).

Usage: python tests/infra/project.py PROJECT_DIR NAME
Run with a Python that has `hcl2` and PyYAML (the checkov venv of check.sh).

The project's SAM template and Terraform root must deploy its own copy of
vow's stack (vow/template.yaml, terraform/vow/), with its own binaries
(NAME-worker, NAME-dead-letter built in worker/), and give the worker exactly
GetItem and PutItem on the orders table they create. The copy must be the
repository's stack: the same resources, parameters, variables and outputs.
Prints one line per failure; exit 1 if any.
"""

from __future__ import annotations

import sys
from pathlib import Path

import hcl2

sys.path.insert(0, str(Path(__file__).resolve().parent))
import stack  # noqa: E402
import starter  # noqa: E402

REPO = Path(__file__).resolve().parents[2]


def load_tf(directory: Path) -> dict[str, list]:
    merged: dict[str, list] = {}
    for path in sorted(directory.glob("*.tf")):
        with path.open() as f:
            for key, blocks in hcl2.load(f).items():
                merged.setdefault(key, []).extend(blocks)
    return merged


def unwrap(value):
    while isinstance(value, list) and len(value) == 1:
        value = value[0]
    return value


def without_positions(value):
    """HCL as parsed, without the line numbers python-hcl2 adds (`__start_line__`...)."""
    if isinstance(value, dict):
        return {k: without_positions(v) for k, v in value.items() if not k.startswith("__")}
    if isinstance(value, list):
        return [without_positions(v) for v in value]
    return value


def same_stack(project: Path) -> list[str]:
    """The copy of vow's stack declares what the repository's does."""
    errors = []
    ours, theirs = stack.load_sam(project / "vow/template.yaml"), stack.load_sam(REPO / "infra/sam/template.yaml")
    for section in ("Parameters", "Resources", "Outputs", "Conditions"):
        if set(ours.get(section, {})) != set(theirs.get(section, {})):
            errors.append(f"vow/template.yaml: its {section} differ from infra/sam/template.yaml")
    if ours.get("Resources") != theirs.get("Resources"):
        errors.append("vow/template.yaml: its resources differ from infra/sam/template.yaml")
    copy, module = load_tf(project / "terraform/vow"), load_tf(REPO / "infra/terraform/modules/vow")
    if without_positions(copy) != without_positions(module):
        errors.append("terraform/vow: differs from infra/terraform/modules/vow")
    return errors


def main() -> int:
    project, name = Path(sys.argv[1]).resolve(), sys.argv[2]
    spec = starter.Spec(
        label=str(project),
        sam=project / "template.yaml",
        vow_sam=project / "vow/template.yaml",
        worker=project / "worker",
        terraform=project / "terraform",
        module=project / "terraform/vow",
        binaries={"WorkerBinary": f"{name}-worker", "DeadLetterBinary": f"{name}-dead-letter"},
        actions={"dynamodb:GetItem", "dynamodb:PutItem"},
    )
    errors = starter.check(project, load_tf, unwrap, spec) + same_stack(project)
    for e in errors:
        print(f"  {e}")
    print(f"project values: {len(errors)} problem(s)")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
