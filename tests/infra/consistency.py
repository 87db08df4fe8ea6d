"""Offline consistency checks of the vow deployment infrastructure.

`terraform validate` needs providers, which cannot be downloaded here, so this
script does the part of it that matters most, plus the SAM <-> Terraform parity
that no tool checks:

* every .tf file under infra/terraform parses (HCL2, the parser checkov uses);
* every `var.X` is declared, the example passes every required module variable
  and only declared ones, and reads only outputs the module has;
* the SAM template and the Terraform module expose the same outputs, set the
  same environment variables, grant each function the same IAM actions, and
  keep the fixed facts of the code (provided.al2023, bootstrap, arm64, batch
  size 10 with ReportBatchItemFailures);
* the SAM CodeUri/Binary pairs point at crates whose package name is the binary;
* the LocalStack compose file serves the services the stack needs, on loopback.

Run from the repository root with a Python that has `hcl2` (bc-python-hcl2,
a checkov dependency) and PyYAML. Prints one line per failure; exit 1 if any.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import hcl2
import yaml

ROOT = Path.cwd()
SAM = ROOT / "infra/sam/template.yaml"
TF = ROOT / "infra/terraform"
MODULE = TF / "modules/vow"
EXAMPLE = TF / "example"
COMPOSE = ROOT / "infra/localstack/docker-compose.yml"
LOCALSTACK_SERVICES = {"sqs", "dynamodb", "lambda", "iam", "logs", "cloudwatch", "cloudformation", "s3", "sts"}

EXPECTED_ENV = {"VOW_QUEUE_URL", "VOW_TABLE_NAME", "VOW_RECORD_TTL_DAYS"}
EXPECTED_OUTPUTS = {
    "QueueUrl": "queue_url",
    "QueueArn": "queue_arn",
    "DeadLetterQueueUrl": "dead_letter_queue_url",
    "TableName": "table_name",
    "TableArn": "table_arn",
    "WorkerFunctionArn": "worker_function_arn",
    "DeadLetterFunctionArn": "dead_letter_function_arn",
}
# Fixed facts of the deployed code, checked in both templates.
RUNTIME, HANDLER, ARCHITECTURES = "provided.al2023", "bootstrap", ["arm64"]
BATCH_SIZE, RESPONSE_TYPES = 10, ["ReportBatchItemFailures"]
# SAM function -> (Terraform policy document, cargo binary)
FUNCTIONS = {
    "WorkerFunction": ("worker", "vow-worker"),
    "DeadLetterFunction": ("dead_letter", "vow-dead-letter"),
}

errors: list[str] = []


def fail(msg: str) -> None:
    errors.append(msg)


# ------------------------------------------------------------------ loaders


class CfnLoader(yaml.SafeLoader):
    """SafeLoader that keeps CloudFormation short-form tags as {tag: value}."""


def _tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node):
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {suffix: value}


CfnLoader.add_multi_constructor("!", _tag)


def load_tf(directory: Path) -> dict[str, list]:
    """Merge the top-level blocks of every .tf file in a directory."""
    merged: dict[str, list] = {}
    for path in sorted(directory.glob("*.tf")):
        try:
            with path.open() as f:
                doc = hcl2.load(f)
        except Exception as e:  # noqa: BLE001 - any parse error is a failure
            fail(f"{path.relative_to(ROOT)}: HCL parse error: {e}")
            continue
        for key, blocks in doc.items():
            merged.setdefault(key, []).extend(blocks)
    return merged


def names(blocks: list[dict]) -> set[str]:
    return {name for block in blocks for name in block}


def unwrap(value):
    """bc-python-hcl2 wraps attribute values in one-element lists."""
    while isinstance(value, list) and len(value) == 1:
        value = value[0]
    return value


def var_refs(directory: Path) -> set[str]:
    return {
        m.group(1)
        for path in directory.glob("*.tf")
        for line in path.read_text().splitlines()
        if not line.lstrip().startswith("#")
        for m in re.finditer(r"\bvar\.([A-Za-z0-9_]+)", line)
    }


# ----------------------------------------------------------------- terraform


def check_terraform() -> dict:
    for path in sorted(TF.rglob("*.tf")):
        if path.parent not in (MODULE, EXAMPLE):
            load_tf(path.parent)  # parse stray files too

    module = load_tf(MODULE)
    example = load_tf(EXAMPLE)

    variables = {}
    for block in module.get("variable", []):
        for name, body in block.items():
            variables[name] = body
    required = {n for n, body in variables.items() if "default" not in body}
    outputs = names(module.get("output", []))

    for ref in sorted(var_refs(MODULE) - set(variables)):
        fail(f"modules/vow: var.{ref} is used but not declared")
    if required != {"worker_zip", "dead_letter_zip"}:
        fail(f"modules/vow: required variables are {sorted(required)}, expected worker_zip and dead_letter_zip")
    for want in EXPECTED_OUTPUTS.values():
        if want not in outputs:
            fail(f"modules/vow: output {want} is missing")

    example_vars = names(example.get("variable", []))
    for ref in sorted(var_refs(EXAMPLE) - example_vars):
        fail(f"example: var.{ref} is used but not declared")
    calls = [body for block in example.get("module", []) for name, body in block.items() if name == "vow"]
    if len(calls) != 1:
        fail("example: expected exactly one module \"vow\" block")
    else:
        args = {k for k in calls[0] if not k.startswith("__")} - {"source"}
        for extra in sorted(args - set(variables)):
            fail(f"example: module vow is given {extra}, which the module does not declare")
        for missing in sorted(required - args):
            fail(f"example: module vow is not given required variable {missing}")
    example_text = "\n".join(p.read_text() for p in EXAMPLE.glob("*.tf"))
    for ref in sorted(set(re.findall(r"\bmodule\.vow\.([A-Za-z0-9_]+)", example_text)) - outputs):
        fail(f"example: module.vow.{ref} is not an output of the module")
    for want in EXPECTED_OUTPUTS.values():
        if want not in names(example.get("output", [])):
            fail(f"example: output {want} is missing")

    # Environment variable names.
    env_keys: set[str] = set()
    for block in module.get("locals", []):
        env = unwrap(block.get("function_environment"))
        if isinstance(env, dict):
            env_keys |= set(env)
    if env_keys != EXPECTED_ENV:
        fail(f"modules/vow: function environment is {sorted(env_keys)}, expected {sorted(EXPECTED_ENV)}")

    # Runtime facts of both functions and both event source mappings.
    for block in module.get("resource", []):
        for name, body in block.get("aws_lambda_function", {}).items():
            got = (unwrap(body.get("runtime")), unwrap(body.get("handler")), body.get("architectures"))
            if got[0] != RUNTIME or got[1] != HANDLER or unwrap(got[2]) not in (ARCHITECTURES, ARCHITECTURES[0]):
                fail(f"modules/vow: aws_lambda_function.{name} runtime/handler/architectures are {got}")
        for name, body in block.get("aws_lambda_event_source_mapping", {}).items():
            if unwrap(body.get("batch_size")) != BATCH_SIZE or unwrap(body.get("function_response_types")) not in (
                RESPONSE_TYPES,
                RESPONSE_TYPES[0],
            ):
                fail(f"modules/vow: aws_lambda_event_source_mapping.{name} needs batch_size {BATCH_SIZE} and {RESPONSE_TYPES}")

    # IAM actions per policy document.
    actions: dict[str, set[str]] = {}
    for block in module.get("data", []):
        for name, body in block.get("aws_iam_policy_document", {}).items():
            acts: set[str] = set()
            for st in body.get("statement", []):
                a = unwrap(st.get("actions"))
                acts |= set(a if isinstance(a, list) else [a])
            actions[name] = acts
    return actions


# ----------------------------------------------------------------------- SAM


def statements_actions(role: dict) -> set[str]:
    acts: set[str] = set()
    for policy in role.get("Properties", {}).get("Policies", []):
        for st in policy["PolicyDocument"]["Statement"]:
            a = st["Action"]
            acts |= set(a if isinstance(a, list) else [a])
    return acts


def check_sam(tf_actions: dict[str, set[str]]) -> None:
    doc = yaml.load(SAM.read_text(), Loader=CfnLoader)  # noqa: S506 - SafeLoader subclass
    resources = doc["Resources"]

    outputs = set(doc.get("Outputs", {}))
    if outputs != set(EXPECTED_OUTPUTS):
        fail(f"sam: outputs are {sorted(outputs)}, expected {sorted(EXPECTED_OUTPUTS)}")

    env = set(doc.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {}))
    for fname in FUNCTIONS:
        env |= set(resources[fname]["Properties"].get("Environment", {}).get("Variables", {}))
    if env != EXPECTED_ENV:
        fail(f"sam: function environment is {sorted(env)}, expected {sorted(EXPECTED_ENV)}")

    globals_fn = doc.get("Globals", {}).get("Function", {})
    for fname, (tf_name, binary) in FUNCTIONS.items():
        fn = resources[fname]
        props = {**globals_fn, **fn["Properties"]}
        got = (props.get("Runtime"), props.get("Handler"), props.get("Architectures"))
        if got != (RUNTIME, HANDLER, ARCHITECTURES):
            fail(f"sam: {fname} runtime/handler/architectures are {got}")
        sqs_events = [e["Properties"] for e in props.get("Events", {}).values() if e.get("Type") == "SQS"]
        if len(sqs_events) != 1:
            fail(f"sam: {fname} needs exactly one SQS event")
        for ev in sqs_events:
            if ev.get("BatchSize") != BATCH_SIZE or ev.get("FunctionResponseTypes") != RESPONSE_TYPES:
                fail(f"sam: {fname} SQS event needs BatchSize {BATCH_SIZE} and {RESPONSE_TYPES}")
        meta = fn.get("Metadata", {})
        if meta.get("BuildMethod") != "rust-cargolambda":
            fail(f"sam: {fname} BuildMethod is not rust-cargolambda")
        if meta.get("BuildProperties", {}).get("Binary") != binary:
            fail(f"sam: {fname} Binary is not {binary}")
        crate = (SAM.parent / fn["Properties"]["CodeUri"]).resolve()
        cargo = crate / "Cargo.toml"
        if not cargo.is_file():
            fail(f"sam: {fname} CodeUri {fn['Properties']['CodeUri']} has no Cargo.toml")
        elif not re.search(rf'^name\s*=\s*"{re.escape(binary)}"', cargo.read_text(), re.M):
            fail(f"sam: {fname} CodeUri crate is not named {binary}")

        role_ref = fn["Properties"].get("Role", {}).get("GetAtt", "")
        role_name = role_ref.split(".")[0] if isinstance(role_ref, str) else role_ref[0]
        sam_acts = statements_actions(resources.get(role_name, {}))
        tf_acts = tf_actions.get(tf_name, set())
        if sam_acts != tf_acts:
            fail(
                f"IAM drift for {fname}: only in SAM {sorted(sam_acts - tf_acts)}, "
                f"only in Terraform {sorted(tf_acts - sam_acts)}"
            )


def check_compose() -> None:
    doc = yaml.safe_load(COMPOSE.read_text())
    services = doc.get("services", {})
    if list(services) != ["localstack"]:
        fail(f"compose: expected one service 'localstack', found {list(services)}")
        return
    ls = services["localstack"]
    wanted = set(str(ls.get("environment", {}).get("SERVICES", "")).split(","))
    if wanted != LOCALSTACK_SERVICES:
        fail(f"compose: SERVICES is {sorted(wanted)}, expected {sorted(LOCALSTACK_SERVICES)}")
    ports = ls.get("ports", [])
    if ports != ["127.0.0.1:4566:4566"]:
        fail(f"compose: ports are {ports}, expected only 127.0.0.1:4566:4566")


def main() -> int:
    tf_actions = check_terraform()
    check_sam(tf_actions)
    check_compose()
    for e in errors:
        print(f"  {e}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
