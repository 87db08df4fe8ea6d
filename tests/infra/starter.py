"""Checks of a project's deployment files: the starter example
(examples/orders, against the repository's stack) and a project `vow new`
wrote (against its own copy of the stack; see project.py).

Both use the vow stack unchanged, with the project's own binaries, and give the
worker exactly the actions its tasks call on the orders table they create
(partition key `order_id`, a string), whose name they output.
"""

from __future__ import annotations

import json
from pathlib import Path
from dataclasses import dataclass, field
from typing import Callable

import stack

ORDER_ACTIONS = {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"}
ORDER_KEY = [("order_id", "S", "HASH")]
BINARIES = {"WorkerBinary": "orders-worker", "DeadLetterBinary": "orders-dead-letter"}


def _crate_problem(crate: Path, binary: str) -> str | None:
    cargo = crate / "Cargo.toml"
    if not cargo.is_file():
        return None  # the crate is not in this tree (checked where it is)
    text = cargo.read_text()
    if f'name = "{binary}"' not in text:
        return f"{crate} does not build a binary named {binary}"
    return None


@dataclass
class Spec:
    """Where a project's deployment files and the stack they use lie."""

    label: str  # how failures name the project
    sam: Path  # the project's SAM template
    vow_sam: Path  # the vow stack's SAM template it nests
    worker: Path  # the crate of its binaries
    terraform: Path  # its Terraform root
    module: Path  # the vow module it calls
    binaries: dict = field(default_factory=lambda: dict(BINARIES))
    actions: set = field(default_factory=lambda: set(ORDER_ACTIONS))


def orders_spec(root: Path) -> Spec:
    return Spec(
        label="examples/orders",
        sam=root / "examples/orders/template.yaml",
        vow_sam=root / "infra/sam/template.yaml",
        worker=root / "examples/orders/worker",
        terraform=root / "examples/orders/terraform",
        module=root / "infra/terraform/modules/vow",
    )


def check(root: Path, load_tf: Callable, unwrap: Callable, spec: Spec | None = None) -> list[str]:
    spec = spec or orders_spec(root)
    errors: list[str] = []
    check_sam(spec, errors)
    check_terraform(spec, errors, load_tf, unwrap)
    return errors


def _grants(statements: list[dict]) -> set[tuple[str, str]]:
    return {(a, r) for st in statements if st["effect"] == "Allow" for a in st["actions"] for r in st["resources"]}


def check_sam(spec: Spec, errors: list[str]) -> None:
    path = spec.sam
    label = f"{spec.label}/{path.name}"
    fail = lambda msg: errors.append(f"{label}: {msg}")  # noqa: E731
    if not path.is_file():
        fail("is missing")
        return
    doc = stack.load_sam(path)
    vow_path = spec.vow_sam
    vow_params = stack.load_sam(vow_path).get("Parameters", {})
    apps = {k: r for k, r in doc.get("Resources", {}).items() if r.get("Type") == "AWS::Serverless::Application"}
    if len(apps) != 1:
        fail(f"expected one nested vow stack (AWS::Serverless::Application), found {len(apps)}")
        return
    (app_name, app), = apps.items()
    props = app.get("Properties", {})
    if (path.parent / str(props.get("Location"))).resolve() != vow_path.resolve():
        fail(f"{app_name} Location {props.get('Location')} is not {vow_path}")
    given = props.get("Parameters", {})
    for name in sorted(set(given) - set(vow_params)):
        fail(f"{app_name} passes {name}, which the vow template does not declare")
    for param, binary in spec.binaries.items():
        if given.get(param) != binary:
            fail(f"{app_name} {param} is {given.get(param)!r}, expected {binary}")
        uri = given.get(param.replace("Binary", "CodeUri"))
        crate = (vow_path.parent / str(uri)).resolve()
        if crate != spec.worker.resolve():
            fail(f"{app_name} {param.replace('Binary', 'CodeUri')} {uri} (relative to {vow_path.parent}) is not {spec.worker}")
        problem = _crate_problem(crate, binary)
        if problem:
            fail(problem)

    s = stack.SamEvaluator(doc, {})
    tables = {k for k, r in doc["Resources"].items() if r.get("Type") == "AWS::DynamoDB::Table"}
    if tables != {"OrdersTable"}:
        fail(f"expected one table OrdersTable, found {sorted(tables)}")
        return
    t = s.props("OrdersTable")
    types = {a["AttributeName"]: a["AttributeType"] for a in t.get("AttributeDefinitions", [])}
    key = [(k["AttributeName"], types.get(k["AttributeName"]), k["KeyType"]) for k in t.get("KeySchema", [])]
    if key != ORDER_KEY:
        fail(f"OrdersTable key is {key}, expected {ORDER_KEY}")
    table_arn = s.attr("OrdersTable", "Arn")
    policy = s.eval(given.get("ExtraPolicyJson", ""))
    try:
        grants = _grants(stack.policy_statements(json.loads(policy)))
    except (ValueError, AttributeError) as e:
        fail(f"ExtraPolicyJson is not a policy document: {e}")
        return
    want = {(a, table_arn) for a in spec.actions}
    if grants != want:
        fail(f"ExtraPolicyJson grants {sorted(grants)}, expected exactly {sorted(want)}")
    out = doc.get("Outputs", {}).get("OrdersTableName", {}).get("Value")
    if out != {"Ref": "OrdersTable"}:
        fail(f"output OrdersTableName is {out}, expected !Ref OrdersTable")


def check_terraform(spec: Spec, errors: list[str], load_tf: Callable, unwrap: Callable) -> None:
    directory = spec.terraform
    label = f"{spec.label}/terraform"
    fail = lambda msg: errors.append(f"{label}: {msg}")  # noqa: E731
    if not directory.is_dir():
        fail("is missing")
        return
    tf = load_tf(directory)
    module_dir = spec.module.resolve()
    module_vars = {n: b for block in load_tf(module_dir).get("variable", []) for n, b in block.items()}
    calls = [body for block in tf.get("module", []) for name, body in block.items() if name == "vow"]
    if len(calls) != 1:
        fail('expected exactly one module "vow" block')
        return
    call = calls[0]
    if (directory / str(unwrap(call.get("source")))).resolve() != module_dir:
        fail(f"module vow source {unwrap(call.get('source'))} is not {spec.module}")
    args = {k for k in call if not k.startswith("__")} - {"source"}
    for extra in sorted(args - set(module_vars)):
        fail(f"module vow is given {extra}, which the module does not declare")
    for missing in sorted({n for n, b in module_vars.items() if "default" not in b} - args):
        fail(f"module vow is not given required variable {missing}")
    t = stack.TfEvaluator(tf, {})
    for arg, binary in (("worker_zip", spec.binaries["WorkerBinary"]), ("dead_letter_zip", spec.binaries["DeadLetterBinary"])):
        zip_path = str(t.value(call.get(arg)))
        if f"/{binary}/bootstrap.zip" not in zip_path:
            fail(f"module vow {arg} is {zip_path}, expected cargo lambda's zip of {binary}")
    tables = stack.blocks(tf, "resource", "aws_dynamodb_table")
    if set(tables) != {"orders"}:
        fail(f"expected one table aws_dynamodb_table.orders, found {sorted(tables)}")
        return
    body = tables["orders"]
    types = {t.value(a["name"]): t.value(a["type"]) for a in body.get("attribute", [])}
    hash_key = t.value(body["hash_key"])
    if [(hash_key, types.get(hash_key), "HASH")] != ORDER_KEY or "range_key" in body:
        fail(f"the orders table's key is {hash_key} ({types.get(hash_key)}), expected {ORDER_KEY}")
    table_arn = t.attrs("aws_dynamodb_table", "orders")["arn"]
    try:
        grants = _grants(stack.policy_statements(json.loads(t.value(call.get("extra_policy_json")))))
    except (ValueError, TypeError) as e:
        fail(f"extra_policy_json is not a policy document: {e}")
        return
    want = {(a, table_arn) for a in spec.actions}
    if grants != want:
        fail(f"extra_policy_json grants {sorted(grants)}, expected exactly {sorted(want)}")
    outputs = stack.blocks(tf, "output")
    if "orders_table_name" not in outputs or t.value(outputs["orders_table_name"]["value"]) != t.attrs("aws_dynamodb_table", "orders")["name"]:
        fail("output orders_table_name is not the orders table's name")
