"""Offline checks of the vow deployment infrastructure, on values, not names.

`terraform plan` needs providers, which cannot be downloaded here, so this
script evaluates both templates itself (stack.py, hclexpr.py) and checks what
they would create against what the code says (codefacts.py, values.py):

* every .tf file under infra/terraform and examples/orders/terraform parses
  (HCL2, the parser checkov uses); every `var.X` is declared; the example and
  the starter pass every required module variable and only declared ones, and
  read only outputs the module has;
* the value checks of values.py on the SAM and the Terraform model, with the
  defaults, with every option on and with every function timeout: queue
  visibility vs function timeout, redrive target and max receive count, batch
  size and window, ReportBatchItemFailures, maximum concurrency, table key and
  TTL attribute, point-in-time recovery, encryption, environment values, log
  format and level, every IAM grant (exactly what the code uses, only Allow),
  the alarms (dead-letter queue depth, work queue oldest message age,
  messages refused for failing verification), the scheduler role's trust (its
  confused-deputy condition), the queue policies (who may send to either
  queue, TLS only); and that the two models are the same;
* both tools accept and refuse the same parameter values (a TTL of 1.5 days,
  or one outside the code's MIN/MAX_RECORD_TTL_DAYS, is refused) and have the
  same defaults;
* the default CodeUri/Binary of each SAM function names a crate building it;
* the starter (examples/orders) nests this stack with its own binaries and
  grants exactly GetItem/PutItem/UpdateItem on its orders table (starter.py);
* the LocalStack compose file serves the services the stack needs, on loopback.

Usage: consistency.py [ROOT]  (ROOT defaults to the working directory; the
code's facts are always read from this repository). Run with a Python that
has `hcl2` (bc-python-hcl2, a checkov dependency) and PyYAML. Prints one line
per failure; exit 1 if any.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import hcl2
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
import codefacts  # noqa: E402
import hclexpr  # noqa: E402
import stack  # noqa: E402
import starter  # noqa: E402
import values  # noqa: E402
from stack import load_sam  # noqa: E402

CODE_ROOT = Path(__file__).resolve().parents[2]
ROOT = Path(sys.argv[1]).resolve() if len(sys.argv) > 1 else Path.cwd()
SAM = ROOT / "infra/sam/template.yaml"
TF = ROOT / "infra/terraform"
MODULE = TF / "modules/vow"
EXAMPLE = TF / "example"
COMPOSE = ROOT / "infra/localstack/docker-compose.yml"
LOCALSTACK_SERVICES = {"sqs", "dynamodb", "lambda", "iam", "logs", "cloudwatch", "cloudformation", "s3", "sts", "events", "secretsmanager"}

EXPECTED_OUTPUTS = {
    "QueueUrl": "queue_url",
    "QueueArn": "queue_arn",
    "DeadLetterQueueUrl": "dead_letter_queue_url",
    "TableName": "table_name",
    "TableArn": "table_arn",
    "TimerTableName": "timer_table_name",
    "WorkerFunctionArn": "worker_function_arn",
    "DeadLetterFunctionArn": "dead_letter_function_arn",
    "SigningSecretArn": "signing_secret_arn",
    "SigningKeyReadPolicyArn": "signing_key_read_policy_arn",
}
# SAM function -> (CodeUri parameter, Binary parameter, default binary)
FUNCTIONS = {
    "WorkerFunction": ("WorkerCodeUri", "WorkerBinary", "vow-worker"),
    "DeadLetterFunction": ("DeadLetterCodeUri", "DeadLetterBinary", "vow-dead-letter"),
}

errors: list[str] = []


def fail(msg: str) -> None:
    errors.append(msg)


# ------------------------------------------------------------------ loaders


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
    sam_outputs = set(load_sam(SAM).get("Outputs", {}))
    if sam_outputs != set(EXPECTED_OUTPUTS):
        fail(f"sam: outputs are {sorted(sam_outputs)}, expected {sorted(EXPECTED_OUTPUTS)}")
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

    return variables


# ----------------------------------------------------------------------- SAM


def check_sam_code() -> None:
    """The default CodeUri/Binary of each function name a crate that builds that binary."""
    doc = load_sam(SAM)
    params = doc.get("Parameters", {})
    for fname, (uri_param, bin_param, binary) in FUNCTIONS.items():
        fn = doc["Resources"][fname]
        if fn["Properties"].get("CodeUri") != {"Ref": uri_param}:
            fail(f"sam: {fname} CodeUri is not !Ref {uri_param}")
        if fn.get("Metadata", {}).get("BuildMethod") != "rust-cargolambda":
            fail(f"sam: {fname} BuildMethod is not rust-cargolambda")
        if fn.get("Metadata", {}).get("BuildProperties", {}).get("Binary") != {"Ref": bin_param}:
            fail(f"sam: {fname} Binary is not !Ref {bin_param}")
        if params.get(bin_param, {}).get("Default") != binary:
            fail(f"sam: {bin_param} defaults to {params.get(bin_param, {}).get('Default')}, expected {binary}")
        crate = (SAM.parent / str(params.get(uri_param, {}).get("Default"))).resolve()
        if not crate_builds(crate, binary):
            fail(f"sam: {uri_param} default {crate} has no crate building binary {binary}")


def crate_builds(crate: Path, binary: str) -> bool:
    """Whether the crate in `crate` builds a binary named `binary`."""
    cargo = crate / "Cargo.toml"
    if not cargo.is_file():
        return False
    text = cargo.read_text()
    return bool(re.search(rf'^name\s*=\s*"{re.escape(binary)}"', text, re.M))


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


FULL = {
    "data_table_names": ["samples-data", "orders"],
    "signing": "existing",
    "signing_secret_arn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:vow-keys-AbCdEf",
    "extra_policy_arns": ["arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"],
    "extra_policy_json": json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::bucket/*"}]}
    ),
    "alarm_topic_arn": "arn:aws:sns:us-east-1:123456789012:alerts",
    "producer_role_arns": ["arn:aws:iam::123456789012:role/orders-api", "arn:aws:iam::210987654321:role/ops/backfill"],
    "oldest_message_alarm_seconds": 3600,
}


def check_values(variables: dict) -> None:
    """Value checks of both stacks, with the defaults, with every option on, and
    with every function timeout the SAM template allows."""
    try:
        facts = codefacts.read(CODE_ROOT)
    except codefacts.CodeError as e:
        fail(f"code: {e}")
        return
    sam_doc = load_sam(SAM)
    tf = stack.load_terraform(MODULE)
    defaults = {n: unwrap(b["default"]) for n, b in variables.items() if "default" in b}
    base = {**defaults, "name_prefix": "vow", "worker_zip": "w.zip", "dead_letter_zip": "d.zip"}
    timeouts = sam_doc["Parameters"]["FunctionTimeout"].get("AllowedValues", [])
    ten = [f"data-{i}" for i in range(10)]
    nightly = {"nightly": {"expression": "cron(0 3 * * ? *)", "timezone": "Europe/Paris", "task": "reports/nightly", "input": '{"region":"eu"}'}}
    variants = [("defaults", base), ("all options", {**base, **FULL}), ("10 data tables", {**base, "data_table_names": ten})]
    variants += [("a schedule", {**base, "schedules": nightly})]
    variants += [("signing off", {**base, "signing": "off"})]
    variants += [("existing secret", {**base, "signing": "existing", "signing_secret_arn": FULL["signing_secret_arn"]})]
    variants += [(f"timeout {t}", {**base, "timeout": t}) for t in timeouts if t != base["timeout"]]
    for label, params in variants:
        models = {}
        for tool, build in (("sam", stack.sam_model), ("terraform", stack.terraform_model)):
            try:
                src = sam_doc if tool == "sam" else tf
                models[tool] = build(src, {k: v for k, v in params.items()})
            except (stack.ModelError, hclexpr.HclError, KeyError, IndexError, TypeError, ValueError) as e:
                fail(f"{tool} ({label}): cannot evaluate: {e!r}")
                continue
            for e in values.check_model(models[tool], params, facts, f"{tool} ({label})"):
                fail(e)
        if len(models) == 2:
            for e in values.check_parity(models["sam"], models["terraform"], label):
                fail(e)
    check_parameters(sam_doc, variables, defaults, facts)
    # Both stacks sign by default, with a key they generate (values.py checks
    # that the functions read it at start-up and producers may read it).
    sam_signing = sam_doc["Parameters"].get("Signing", {}).get("Default")
    if sam_signing != "generated" or defaults.get("signing") != "generated":
        fail(f"signing defaults to SAM {sam_signing!r}, Terraform {defaults.get('signing')!r}: both stacks must sign by default with a generated key")
    if not facts.ttl_min_days <= int(defaults.get("record_ttl_days", 0)) <= facts.ttl_max_days:
        fail(f"modules/vow: record_ttl_days defaults to {defaults.get('record_ttl_days')}, outside the code's range")
    # SAM has no loops: more than 10 data tables must fail the deploy, not
    # silently grant only the first ten.
    for names, too_many in ((ten, False), (ten + ["data-10"], True)):
        s = stack.SamEvaluator(sam_doc, {"DataTableNames": names})
        created = [
            k
            for k, r in sam_doc["Resources"].items()
            if k.startswith("TooManyDataTableNames") and ("Condition" not in r or s.condition(r["Condition"]))
        ]
        if bool(created) != too_many:
            fail(f"sam: with {len(names)} DataTableNames the failing resources created are {created}")


def check_parameters(sam_doc: dict, variables: dict, defaults: dict, facts) -> None:
    """Both tools accept the same values of each knob, and refuse the ones the
    code cannot use (a TTL of 1.5 days, one shorter than a message lives, or
    one longer than the code takes: every start-up would fail)."""
    for tf_name, sam_name in stack.PARAMETERS.items():
        if sam_name not in sam_doc["Parameters"]:
            fail(f"sam: parameter {sam_name} (Terraform {tf_name}) is missing")
        if tf_name not in variables:
            fail(f"modules/vow: variable {tf_name} (SAM {sam_name}) is missing")
    cases = {
        # Exactly the code's range (MIN/MAX_RECORD_TTL_DAYS), whole days only.
        "record_ttl_days": {
            facts.ttl_min_days: True,
            30: True,
            facts.ttl_max_days: True,
            facts.ttl_min_days - 1: False,
            facts.ttl_max_days + 1: False,
            4000: False,
            99999: False,
            14: False,
            1.5: False,
            30.5: False,
            0: False,
        },
        # From 5 minutes to 12 days: the alarm fires at least a day before a
        # message expires (14 days' retention).
        "oldest_message_alarm_seconds": {300: True, 86400: True, 1036800: True, 299: False, 1036801: False, 1209600: False},
        "timeout": {60: True},
        "max_receive_count": {5: True, 0: False},
        "signing": {"generated": True, "existing": True, "off": True, "on": False, "": False},
    }
    for tf_name, values_ in cases.items():
        sam_name = stack.PARAMETERS[tf_name]
        for v, ok in values_.items():
            sam_ok = sam_accepts(sam_doc["Parameters"].get(sam_name, {}), v)
            tf_ok = tf_accepts(variables.get(tf_name, {}), tf_name, v)
            if sam_ok != ok:
                fail(f"sam: {sam_name}={v} is {'accepted' if sam_ok else 'refused'}, expected {'accepted' if ok else 'refused'}")
            if tf_ok != ok:
                fail(f"modules/vow: {tf_name}={v} is {'accepted' if tf_ok else 'refused'}, expected {'accepted' if ok else 'refused'}")
    for tf_name, sam_name in stack.PARAMETERS.items():
        if tf_name in ("name_prefix", "worker_zip", "dead_letter_zip", "deletion_protection"):
            continue  # stack name vs a fixed prefix; paths differ by tool; a bool vs "true"
        sam_default = sam_doc["Parameters"].get(sam_name, {}).get("Default")
        tf_default = defaults.get(tf_name)
        norm = lambda v: "" if v in (None, [], "") else ",".join(map(str, v)) if isinstance(v, list) else str(v)  # noqa: E731
        if norm(sam_default) != norm(tf_default):
            fail(f"defaults differ: SAM {sam_name}={sam_default!r}, Terraform {tf_name}={tf_default!r}")


def sam_accepts(spec: dict, v) -> bool:
    """Whether CloudFormation accepts value v for a parameter with this spec."""
    text = str(v)
    if spec.get("Type") == "Number":
        try:
            n = float(text)
        except ValueError:
            return False
        if "MinValue" in spec and n < float(spec["MinValue"]):
            return False
        if "MaxValue" in spec and n > float(spec["MaxValue"]):
            return False
    if "AllowedValues" in spec and text not in [str(a) for a in spec["AllowedValues"]]:
        return False
    if "AllowedPattern" in spec and not re.fullmatch(spec["AllowedPattern"], text):
        return False
    return True


def tf_accepts(spec: dict, name: str, v) -> bool:
    """Whether the variable's validation blocks accept value v."""
    scope = hclexpr.Scope(lambda n: {name: v} if n == "var" else (_ for _ in ()).throw(hclexpr.HclError(n)))
    for validation in spec.get("validation", []):
        try:
            if not hclexpr.value(unwrap(validation["condition"]), scope):
                return False
        except (hclexpr.HclError, TypeError, ValueError):
            return False
    return True


def main() -> int:
    variables = check_terraform()
    check_sam_code()
    check_values(variables)
    check_compose()
    for e in starter.check(ROOT, load_tf, unwrap):
        fail(e)
    for e in errors:
        print(f"  {e}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
