"""IAM proven from recorded calls.

`tests/tests/iam.rs` runs the real worker and dead-letter functions through
recording proxies and writes every AWS call each made (action and resource
ARN, including the event source mapping's, which polls with the function's
role) to a JSON record. This script reads the grants of both stacks and
compares them with that record, per function:

* the SAM template (infra/sam/template.yaml), expanded offline with the AWS SAM
  translator, its intrinsics (Ref, GetAtt, Sub, If, Join, ...) evaluated;
* the Terraform module (infra/terraform/modules/vow), parsed with python-hcl2,
  its policy documents (data "aws_iam_policy_document", jsonencode, variables,
  count/for_each, dynamic blocks) evaluated.

Template resources are resolved to the recorded ARNs by logical name (the
work queue, the dead-letter queue, the promise table, the timer index's
table, the signing secret the functions read at start-up). It fails if a recorded
call is not granted on a matching resource, or if one of vow's own grants
matches no recorded call. Grants for user extensions (DataTableNames /
data_table_names, ExtraPolicyArns / extra_policy_arns, ExtraPolicyJson /
extra_policy_json) are checked in the first direction only: they are told
apart by evaluating each stack twice, with the recorded data tables and with
none. Only SQS, DynamoDB and Secrets Manager are recorded; CloudWatch Logs grants (what the
basic execution role gives: the Lambda service writes the function's logs)
and X-Ray grants (Tracing: Active, sent by the Lambda service) are out of
scope; any other service in a grant fails the check, since nothing recorded
could prove it.

Before reporting, it proves it can fail: on a copy of the record with a call
nobody grants, on one without the calls of one of vow's grants, and with the
SAM stack lacking each of its grants on the timer index's table in turn, the
comparison must report each (a "self-test" line says if it did not).

Usage (from the repository root, after the tests wrote the record):

    python3 tests/infra/iam.py [--calls target/tmp/iam-calls.json]

The SAM translator and python-hcl2 come from the venvs tests/infra/check.sh
installs under ${VOW_INFRA_VENV:-~/.cache/vow/infra-venv} (sam, checkov):
iam_cfn.py and iam_hcl.py run in them as subprocesses to expand and parse the
templates, and evaluate the intrinsics and expressions here, where nothing
but the standard library is needed. Prints one line per problem; exit 1 if any.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import iam_cfn
import iam_hcl

ROOT = Path(__file__).resolve().parents[2]
SAM_TEMPLATE = ROOT / "infra/sam/template.yaml"
TF_MODULE = ROOT / "infra/terraform/modules/vow"
VENVS = Path(os.environ.get("VOW_INFRA_VENV", Path.home() / ".cache/vow/infra-venv"))

# The template's functions and the principals the record names.
SAM_FUNCTIONS = {"WorkerFunction": "worker", "DeadLetterFunction": "dead-letter"}
TF_FUNCTIONS = {"worker": "worker", "dead_letter": "dead-letter"}
# Which template resource is which recorded one.
SAM_RESOURCES = {
    "WorkQueue": "work_queue",
    "DeadLetterQueue": "dead_letter_queue",
    "PromiseTable": "promise_table",
    "TimerTable": "timer_table",
    "SigningSecret": "signing_secret",
}
TF_RESOURCES = {
    ("aws_sqs_queue", "work"): "work_queue",
    ("aws_sqs_queue", "dead_letter"): "dead_letter_queue",
    ("aws_dynamodb_table", "promises"): "promise_table",
    ("aws_dynamodb_table", "timers"): "timer_table",
    ("aws_secretsmanager_secret", "signing"): "signing_secret",
}
# The user extension inputs: set to the recorded data tables, or emptied.
SAM_DATA_TABLES = "DataTableNames"
TF_DATA_TABLES = "data_table_names"
# Services the recording covers, and those deliberately left out.
RECORDED = {"sqs", "dynamodb", "secretsmanager"}
OUT_OF_SCOPE = {
    "logs": "CloudWatch Logs: the basic execution role's grants; the Lambda service writes the logs",
    "xray": "X-Ray: Tracing Active; the Lambda service sends the traces",
}
# AWS managed policies whose documents are known here (the recorded services only).
MANAGED = {
    "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole": [],
    "arn:aws:iam::aws:policy/AWSXRayDaemonWriteAccess": [],
    "arn:aws:iam::aws:policy/service-role/AWSLambdaSQSQueueExecutionRole": [
        {"Effect": "Allow", "Action": ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"], "Resource": "*"}
    ],
}

problems: list[str] = []


def fail(msg: str) -> None:
    problems.append(msg)


# ------------------------------------------------------------------- record


@dataclass(frozen=True)
class Call:
    principal: str
    via: str
    action: str
    resource: str


@dataclass(frozen=True)
class Grant:
    principal: str
    action: str
    resource: str
    where: str


class Record:
    def __init__(self, path: Path) -> None:
        data = json.loads(path.read_text())
        self.region = data["region"]
        self.account = data["account"]
        res = data["resources"]
        self.arns = {k: res[k] for k in ("work_queue", "dead_letter_queue", "promise_table", "timer_table", "signing_secret")}
        self.data_tables: dict[str, str] = dict(res.get("data_tables", {}))
        self.calls = [Call(c["principal"], c["via"], c["action"], c["resource"]) for c in data["calls"]]
        labels = {
            self.arns["work_queue"]: "queue/<work>",
            self.arns["dead_letter_queue"]: "queue/<dead-letter>",
            self.arns["promise_table"]: "table/<promises>",
            self.arns["timer_table"]: "table/<timers>",
            self.arns["signing_secret"]: "secret/<signing>",
        }
        labels.update({arn: f"table/<{label}>" for label, arn in self.data_tables.items()})
        self.labels = sorted(labels.items(), key=lambda kv: -len(kv[0]))

    def name(self, arn: str) -> str:
        return arn.rsplit(":", 1)[-1].rsplit("/", 1)[-1]

    def queue_url(self, arn: str) -> str:
        return f"https://sqs.{self.region}.amazonaws.com/{self.account}/{self.name(arn)}"

    def label(self, text: str) -> str:
        for arn, label in self.labels:
            text = text.replace(arn, label)
        return text


# ----------------------------------------------------------- IAM documents


def wildcard(pattern: str, text: str, case: bool) -> bool:
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, text, 0 if case else re.IGNORECASE) is not None


def as_list(v: Any) -> list:
    if v is None:
        return []
    return v if isinstance(v, list) else [v]


def statements_of(principal: str, doc: Any, where: str) -> list[Grant]:
    """The Allow grants of a policy document (a dict or its JSON text)."""
    if isinstance(doc, str):
        if not doc.strip():
            return []
        try:
            doc = json.loads(doc)
        except ValueError as e:
            fail(f"{where}: policy document is not JSON ({e}): {doc[:80]}")
            return []
    if not isinstance(doc, dict):
        fail(f"{where}: policy document is not an object: {doc!r:.80}")
        return []
    grants = []
    for i, st in enumerate(as_list(doc.get("Statement"))):
        sid = st.get("Sid") or f"statement {i}"
        here = f"{where} {sid}"
        for key in ("NotAction", "NotResource"):
            if key in st:
                fail(f"{here}: {key} is not evaluated by this check")
        if st.get("Effect") != "Allow":
            fail(f"{here}: only Allow statements are evaluated (Effect {st.get('Effect')!r})")
            continue
        for action in as_list(st.get("Action")):
            for resource in as_list(st.get("Resource")):
                grants.append(Grant(principal, str(action), str(resource), here))
    return grants


def managed(principal: str, arn: str, where: str, vow_own: bool) -> list[Grant]:
    if arn in MANAGED:
        return statements_of(principal, {"Statement": MANAGED[arn]}, f"{where} {arn}")
    if not vow_own:
        return []  # a user's own managed policy: it may grant anything, nothing to prove
    fail(f"{where}: managed policy {arn}: its document is not known to this check")
    return []


# -------------------------------------------------------------------- SAM


def expand_sam(template: Path, params: dict[str, str]) -> dict:
    """The SAM template as plain CloudFormation, from the sam venv's translator."""
    python = VENVS / "sam/bin/python"
    if not python.exists():
        raise SystemExit(f"iam: no {python}: run tests/infra/check.sh first (it installs the pinned tools)")
    out = subprocess.run(
        [str(python), str(Path(iam_cfn.__file__)), str(template), json.dumps(params)],
        capture_output=True,
        text=True,
        env={**os.environ, "AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1", "SAM_CLI_TELEMETRY": "0"},
    )
    if out.returncode != 0:
        raise SystemExit(f"iam: SAM translation failed:\n{out.stderr}")
    return json.loads(out.stdout)


def sam_grants(rec: Record, template: Path, data_tables: list[str]) -> list[Grant]:
    # A parameter the template does not declare is ignored by both.
    params = {SAM_DATA_TABLES: ",".join(data_tables)}
    tpl = expand_sam(template, params)
    stand_ins = {}
    for logical, which in SAM_RESOURCES.items():
        arn = rec.arns[which]
        if which.endswith("queue"):
            stand_ins[logical] = {"Ref": rec.queue_url(arn), "Arn": arn, "QueueName": rec.name(arn), "QueueUrl": rec.queue_url(arn)}
        elif which == "signing_secret":  # a secret's Ref is its ARN
            stand_ins[logical] = {"Ref": arn, "Id": arn}
        else:
            stand_ins[logical] = {"Ref": rec.name(arn), "Arn": arn}
    cfn = iam_cfn.Cfn(tpl, params, rec.region, rec.account, stand_ins)
    res = cfn.resources
    grants: list[Grant] = []

    def live(r: dict) -> bool:
        return "Condition" not in r or cfn.condition(r["Condition"])

    def refers(value: Any, logical: str) -> bool:
        return logical in json.dumps(value)

    for fid, principal in SAM_FUNCTIONS.items():
        fn = res.get(fid)
        if not fn:
            fail(f"SAM: no function {fid}")
            continue
        role_node = fn["Properties"].get("Role")
        m = re.search(r'"Fn::GetAtt": \["([A-Za-z0-9]+)", "Arn"\]', json.dumps(role_node))
        if not m:
            fail(f"SAM: {fid}: role {role_node!r:.100} is not a role of this template")
            continue
        role_id = m.group(1)
        role = cfn.ev(res[role_id]["Properties"])
        for p in role.get("Policies", []):
            grants += statements_of(principal, p.get("PolicyDocument"), f"SAM {role_id} {p.get('PolicyName')}")
        for arn in role.get("ManagedPolicyArns", []):
            inner = re.fullmatch(r"<([A-Za-z0-9]+)>", str(arn))
            if inner and res.get(inner.group(1), {}).get("Type") == "AWS::IAM::ManagedPolicy":
                doc = cfn.ev(res[inner.group(1)]["Properties"]["PolicyDocument"])
                grants += statements_of(principal, doc, f"SAM {inner.group(1)}")
            elif arn:
                grants += managed(principal, str(arn), f"SAM {role_id}", vow_own=False)
        for lid, r in res.items():
            if r.get("Type") not in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy", "AWS::IAM::RolePolicy"):
                continue
            props = r.get("Properties", {})
            targets = props.get("Roles", []) + [props.get("RoleName")]
            if not live(r) or not any(refers(t, role_id) for t in targets if t):
                continue
            grants += statements_of(principal, cfn.ev(props.get("PolicyDocument")), f"SAM {lid}")
    return grants


# -------------------------------------------------------------- Terraform


def parse_hcl(directory: Path) -> dict:
    python = VENVS / "checkov/bin/python"
    if not python.exists():
        raise SystemExit(f"iam: no {python}: run tests/infra/check.sh first (it installs the pinned tools)")
    out = subprocess.run([str(python), str(Path(iam_hcl.__file__)), str(directory)], capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"iam: HCL parse failed:\n{out.stderr}")
    return json.loads(out.stdout)


def tf_grants(rec: Record, directory: Path, data_tables: list[str]) -> list[Grant]:
    module = parse_hcl(directory)
    declared = {n for b in module.get("variable", []) for n in b}
    variables: dict[str, Any] = {"worker_zip": "worker.zip", "dead_letter_zip": "dead-letter.zip"}
    if TF_DATA_TABLES in declared:
        variables[TF_DATA_TABLES] = list(data_tables)
    stand_ins = {}
    for (kind, name), which in TF_RESOURCES.items():
        arn = rec.arns[which]
        handle = rec.queue_url(arn) if which.endswith("queue") else arn if which == "signing_secret" else rec.name(arn)
        stand_ins[f"{kind}.{name}"] = {"arn": arn, "name": rec.name(arn), "id": handle, "url": handle}
    hcl = iam_hcl.Hcl(module, variables, rec.region, rec.account, stand_ins)
    grants: list[Grant] = []

    def mentions(block: dict, field: str, role: str) -> bool:
        return f"aws_iam_role.{role}." in json.dumps(block.get(field, [])) or f"aws_iam_role.{role}[" in json.dumps(block.get(field, []))

    for fname, principal in TF_FUNCTIONS.items():
        fn = hcl.resources.get(("aws_lambda_function", fname))
        if fn is None:
            fail(f"Terraform: no aws_lambda_function.{fname}")
            continue
        m = re.search(r"aws_iam_role\.([A-Za-z0-9_-]+)", json.dumps(fn.get("role", [])))
        if not m:
            fail(f"Terraform: aws_lambda_function.{fname}: role is not a role of this module")
            continue
        role = m.group(1)
        role_block = hcl.resources[("aws_iam_role", role)]
        for scope in hcl.instances(role_block):
            for inline in role_block.get("inline_policy", []):
                grants += statements_of(principal, hcl.attr(inline, "policy", scope), f"Terraform aws_iam_role.{role} inline_policy")
            for arn in hcl.attr(role_block, "managed_policy_arns", scope, []) or []:
                grants += managed(principal, arn, f"Terraform aws_iam_role.{role}", vow_own=False)
        for (kind, name), block in hcl.resources.items():
            if kind == "aws_iam_role_policy" and mentions(block, "role", role):
                for scope in hcl.instances(block):
                    doc = hcl.attr(block, "policy", scope)
                    if doc is not None:
                        grants += statements_of(principal, doc, f"Terraform {kind}.{name}")
            if kind == "aws_iam_role_policy_attachment" and mentions(block, "role", role):
                for scope in hcl.instances(block):
                    arn = hcl.attr(block, "policy_arn", scope)
                    own = re.fullmatch(r"<aws_iam_policy\.([A-Za-z0-9_-]+)\.arn>", str(arn))
                    if own:
                        policy = hcl.resources[("aws_iam_policy", own.group(1))]
                        grants += statements_of(principal, hcl.attr(policy, "policy", {}), f"Terraform aws_iam_policy.{own.group(1)}")
                    elif arn:
                        grants += managed(principal, str(arn), f"Terraform {kind}.{name}", vow_own=False)
    return grants


# ------------------------------------------------------------------ compare


def service(action: str) -> str:
    return action.split(":", 1)[0].lower()


def check(rec: Record, stacks: dict[str, tuple[list[Grant], list[Grant]]]) -> None:
    """`stacks`: name -> (grants with the recorded data tables, grants without)."""
    not_granted: dict[tuple[str, str, str], list[str]] = {}
    unused: dict[tuple[str, str, str], list[str]] = {}
    for stack, (grants, own) in stacks.items():
        own_keys = {(g.principal, g.action, g.resource) for g in own}
        for call in rec.calls:
            if not any(
                g.principal == call.principal
                and wildcard(g.action, call.action, case=False)
                and wildcard(g.resource, call.resource, case=True)
                for g in grants
            ):
                key = (call.principal, call.action, call.resource)
                not_granted.setdefault(key, []).append(stack)
        for g in grants:
            svc = service(g.action)
            if svc in OUT_OF_SCOPE:
                continue
            if svc not in RECORDED:
                fail(f"{g.principal}: {g.action} on {rec.label(g.resource)} granted ({stack}, {g.where}): "
                     f"the recording does not cover {svc}, so nothing proves it is needed")
                continue
            if (g.principal, g.action, g.resource) not in own_keys:
                continue  # a user extension grant: only the first direction applies
            if "*" in g.action or "?" in g.action:
                fail(f"{g.principal}: {g.action} on {rec.label(g.resource)} is a wildcard action ({stack}, {g.where}): "
                     f"grant the recorded actions")
                continue
            if not any(
                c.principal == g.principal
                and wildcard(g.action, c.action, case=False)
                and wildcard(g.resource, c.resource, case=True)
                for c in rec.calls
            ):
                key = (g.principal, g.action, g.resource)
                if stack not in unused.setdefault(key, []):
                    unused[key].append(stack)
    for (principal, action, resource), where in sorted(not_granted.items()):
        fail(f"{principal}: {action} on {rec.label(resource)} not granted ({', '.join(where)})")
    for (principal, action, resource), where in sorted(unused.items()):
        fail(f"{principal}: {action} on {rec.label(resource)} granted ({', '.join(where)}), never called")


def self_test(rec: Record, stacks: dict[str, tuple[list[Grant], list[Grant]]]) -> None:
    """The check must fail on a record with a call nobody grants, and on one
    missing the calls of a grant: run it on such copies of the record."""
    global problems
    kept, promises = problems, rec.arns["promise_table"]
    try:
        problems = []
        rogue = Call("worker", "function", "dynamodb:DeleteTable", promises)
        rec.calls.append(rogue)
        check(rec, stacks)
        rec.calls.pop()
        want = f"worker: dynamodb:DeleteTable on table/<promises> not granted ({', '.join(stacks)})"
        if want not in problems:
            kept.append(f"self-test: a call nobody grants was not reported ({want!r} not in {problems})")
        for g in stacks.get("SAM", ([], []))[1]:
            if service(g.action) not in RECORDED:
                continue
            problems = []
            calls = rec.calls
            rec.calls = [
                c
                for c in calls
                if not (c.principal == g.principal and wildcard(g.action, c.action, case=False)
                        and wildcard(g.resource, c.resource, case=True))
            ]
            check(rec, stacks)
            rec.calls = calls
            if not any(p.startswith(f"{g.principal}: {g.action} ") and p.endswith("never called") for p in problems):
                kept.append(f"self-test: {g.principal}'s {g.action} with its calls removed was not reported")
            break
        # A stack lacking one of the timer index's grants: each recorded call
        # on the timer table must be reported as not granted.
        timers = rec.arns["timer_table"]
        for g in [g for g in stacks.get("SAM", ([], []))[1] if g.resource == timers]:
            problems = []
            grants, own = stacks["SAM"]
            lacking = {**stacks, "SAM": ([x for x in grants if x != g], [x for x in own if x != g])}
            check(rec, lacking)
            want = f"{g.principal}: {g.action} on table/<timers> not granted (SAM)"
            if want not in problems:
                kept.append(f"self-test: a SAM stack without {g.principal}'s {g.action} on the timer table was not reported ({want!r} not in {problems})")
    finally:
        problems = kept


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    ap.add_argument("--calls", type=Path, default=target / "tmp/iam-calls.json", help="the record tests/tests/iam.rs wrote")
    ap.add_argument("--sam", type=Path, default=SAM_TEMPLATE, help="the SAM template")
    ap.add_argument("--terraform", type=Path, default=TF_MODULE, help="the Terraform module's directory")
    args = ap.parse_args()
    if not args.calls.exists():
        print(f"iam: no record at {args.calls}: run the end-to-end test `iam` first (./tests/run.sh does)")
        return 1
    rec = Record(args.calls)
    names = [rec.name(arn) for arn in rec.data_tables.values()]
    stacks = {}
    for stack, grants_of, path in (("SAM", sam_grants, args.sam), ("Terraform", tf_grants, args.terraform)):
        try:
            stacks[stack] = (grants_of(rec, path, names), grants_of(rec, path, []))
        except (iam_cfn.Unsupported, iam_hcl.Unsupported, KeyError, IndexError, TypeError, ValueError) as e:
            fail(f"{stack}: cannot evaluate the template's grants: {type(e).__name__}: {e}")
    check(rec, stacks)
    if stacks:
        self_test(rec, stacks)
    principals = sorted({c.principal for c in rec.calls})
    summary = ", ".join(
        f"{p} {len({(c.action, c.resource) for c in rec.calls if c.principal == p})}" for p in principals
    )
    print(f"iam: recorded calls ({summary}) against the grants of {', '.join(stacks) or 'no stack'}; "
          f"out of scope: {'; '.join(OUT_OF_SCOPE.values())}")
    for p in problems:
        print(f"FAIL {p}")
    print(f"iam: {len(problems)} problem{'s' if len(problems) != 1 else ''}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
