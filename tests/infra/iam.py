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
work queue, the dead-letter queue, the promise table). It fails if a recorded
call is not granted on a matching resource, or if one of vow's own grants
matches no recorded call. Grants for user extensions (DataTableNames /
data_table_names, ExtraPolicyArns / extra_policy_arns, ExtraPolicyJson /
extra_policy_json) are checked in the first direction only: they are told
apart by evaluating each stack twice, with the recorded data tables and with
none. Only SQS and DynamoDB are recorded; CloudWatch Logs grants (what the
basic execution role gives: the Lambda service writes the function's logs)
and X-Ray grants (Tracing: Active, sent by the Lambda service) are out of
scope; any other service in a grant fails the check, since nothing recorded
could prove it.

Before reporting, it proves it can fail: on a copy of the record with a call
nobody grants, and on one without the calls of one of vow's grants, the
comparison must report each (a "self-test" line says if it did not).

Usage (from the repository root, after the tests wrote the record):

    python3 tests/infra/iam.py [--calls target/tmp/iam-calls.json]

The SAM translator and python-hcl2 come from the venvs tests/infra/check.sh
installs under ${VOW_INFRA_VENV:-~/.cache/vow/infra-venv} (sam, checkov); this
script runs them as subprocesses and needs nothing but the standard library
itself. Prints one line per problem; exit 1 if any.
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

ROOT = Path(__file__).resolve().parents[2]
SAM_TEMPLATE = ROOT / "infra/sam/template.yaml"
TF_MODULE = ROOT / "infra/terraform/modules/vow"
VENVS = Path(os.environ.get("VOW_INFRA_VENV", Path.home() / ".cache/vow/infra-venv"))

# The template's functions and the principals the record names.
SAM_FUNCTIONS = {"WorkerFunction": "worker", "DeadLetterFunction": "dead-letter"}
TF_FUNCTIONS = {"worker": "worker", "dead_letter": "dead-letter"}
# Which template resource is which recorded one.
SAM_RESOURCES = {"WorkQueue": "work_queue", "DeadLetterQueue": "dead_letter_queue", "PromiseTable": "promise_table"}
TF_RESOURCES = {
    ("aws_sqs_queue", "work"): "work_queue",
    ("aws_sqs_queue", "dead_letter"): "dead_letter_queue",
    ("aws_dynamodb_table", "promises"): "promise_table",
}
# The user extension inputs: set to the recorded data tables, or emptied.
SAM_DATA_TABLES = "DataTableNames"
TF_DATA_TABLES = "data_table_names"
# Services the recording covers, and those deliberately left out.
RECORDED = {"sqs", "dynamodb"}
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


class Unsupported(Exception):
    """A template construct this evaluator does not know."""


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
        self.arns = {k: res[k] for k in ("work_queue", "dead_letter_queue", "promise_table")}
        self.data_tables: dict[str, str] = dict(res.get("data_tables", {}))
        self.calls = [Call(c["principal"], c["via"], c["action"], c["resource"]) for c in data["calls"]]
        labels = {
            self.arns["work_queue"]: "queue/<work>",
            self.arns["dead_letter_queue"]: "queue/<dead-letter>",
            self.arns["promise_table"]: "table/<promises>",
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
        [str(python), __file__, "--expand-sam", str(template), json.dumps(params)],
        capture_output=True,
        text=True,
        env={**os.environ, "AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1", "SAM_CLI_TELEMETRY": "0"},
    )
    if out.returncode != 0:
        raise SystemExit(f"iam: SAM translation failed:\n{out.stderr}")
    return json.loads(out.stdout)


def _expand_sam_main(template: str, params: str) -> None:  # runs in the sam venv
    import glob

    from samcli.yamlhelper import yaml_parse
    from samtranslator.translator.transform import transform

    bundled = glob.glob(str(Path(sys.modules["samtranslator"].__file__).parent / "internal/data/aws_managed_policies.json"))

    class Offline:
        def load(self) -> dict:
            return json.loads(Path(bundled[0]).read_text())["aws"] if bundled else {}

    tpl = yaml_parse(Path(template).read_text())
    # The translator wants code in S3 (`sam package` puts it there); where the
    # code is has nothing to do with the roles.
    for r in tpl.get("Resources", {}).values():
        if r.get("Type") == "AWS::Serverless::Function":
            r.setdefault("Properties", {})["CodeUri"] = "s3://code/function.zip"
    print(json.dumps(transform(tpl, json.loads(params), Offline())))


class NoValue:
    pass


NOVALUE = NoValue()


class Cfn:
    """Evaluates a CloudFormation template's intrinsics with given parameters;
    the recorded resources stand in for the template's."""

    def __init__(self, tpl: dict, params: dict[str, str], rec: Record) -> None:
        self.tpl = tpl
        self.resources = tpl.get("Resources", {})
        self.rec = rec
        self.params: dict[str, Any] = {}
        for name, spec in tpl.get("Parameters", {}).items():
            value = params.get(name, spec.get("Default"))
            if value is None:
                value = f"<{name}>"
            if isinstance(value, list):
                value = ",".join(value)
            value = str(value)
            if spec.get("Type", "").startswith(("CommaDelimitedList", "List<")):
                self.params[name] = value.split(",")
            else:
                self.params[name] = value
        self.pseudo = {
            "AWS::Region": rec.region,
            "AWS::AccountId": rec.account,
            "AWS::Partition": "aws",
            "AWS::StackName": "vow",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::NoValue": NOVALUE,
        }
        self._conditions: dict[str, bool] = {}

    def condition(self, name: str) -> bool:
        if name not in self._conditions:
            self._conditions[name] = bool(self.ev(self.tpl.get("Conditions", {})[name]))
        return self._conditions[name]

    def ref(self, name: str) -> Any:
        if name in self.pseudo:
            return self.pseudo[name]
        if name in self.params:
            return self.params[name]
        known = SAM_RESOURCES.get(name)
        if known:
            arn = self.rec.arns[known]
            return self.rec.queue_url(arn) if known.endswith("queue") else self.rec.name(arn)
        return f"<{name}>"

    def getatt(self, name: str, attr: str) -> Any:
        known = SAM_RESOURCES.get(name)
        if known:
            arn = self.rec.arns[known]
            if attr == "Arn":
                return arn
            if attr == "QueueName":
                return self.rec.name(arn)
            if attr == "QueueUrl":
                return self.rec.queue_url(arn)
        return f"<{name}.{attr}>"

    def sub(self, text: str, extra: dict) -> str:
        def one(m: re.Match) -> str:
            key = m.group(1)
            if key.startswith("!"):
                return "${" + key[1:] + "}"
            if key in extra:
                return str(extra[key])
            if "." in key and key not in self.pseudo:
                return str(self.getatt(*key.split(".", 1)))
            value = self.ref(key)
            return ",".join(value) if isinstance(value, list) else str(value)

        return re.sub(r"\$\{([^}]+)\}", one, text)

    def ev(self, node: Any) -> Any:
        if isinstance(node, list):
            return [v for v in (self.ev(x) for x in node) if v is not NOVALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            (key, arg), = node.items()
            if key == "Ref":
                return self.ref(arg)
            if key == "Fn::GetAtt":
                name, attr = arg.split(".", 1) if isinstance(arg, str) else arg
                return self.getatt(name, attr)
            if key == "Fn::Sub":
                if isinstance(arg, str):
                    return self.sub(arg, {})
                text, extra = arg
                return self.sub(text, {k: self.ev(v) for k, v in extra.items()})
            if key == "Fn::Join":
                delim, items = arg
                return delim.join(str(x) for x in self.ev(items))
            if key == "Fn::Split":
                delim, text = arg
                return str(self.ev(text)).split(delim)
            if key == "Fn::Select":
                index, items = arg
                return self.ev(items)[int(self.ev(index))]
            if key == "Fn::If":
                cond, yes, no = arg
                return self.ev(yes if self.condition(cond) else no)
            if key == "Fn::Equals":
                a, b = (self.ev(x) for x in arg)
                return a == b
            if key == "Fn::Not":
                return not self.ev(arg[0])
            if key == "Fn::And":
                return all(self.ev(x) for x in arg)
            if key == "Fn::Or":
                return any(self.ev(x) for x in arg)
            if key == "Condition":
                return self.condition(arg)
            if key == "Fn::FindInMap":
                m, k1, k2 = (self.ev(x) for x in arg)
                return self.tpl["Mappings"][m][str(k1)][str(k2)]
            if key == "Fn::ToJsonString":
                return json.dumps(self.ev(arg))
            if key.startswith("Fn::"):
                raise Unsupported(f"{key} is not evaluated by this check")
        return {k: v for k, v in ((k, self.ev(v)) for k, v in node.items()) if v is not NOVALUE}


def sam_grants(rec: Record, template: Path, data_tables: list[str]) -> list[Grant]:
    # A parameter the template does not declare is ignored by both.
    params = {SAM_DATA_TABLES: ",".join(data_tables)}
    tpl = expand_sam(template, params)
    cfn = Cfn(tpl, params, rec)
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
    out = subprocess.run([str(python), __file__, "--parse-hcl", str(directory)], capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"iam: HCL parse failed:\n{out.stderr}")
    return json.loads(out.stdout)


def _parse_hcl_main(directory: str) -> None:  # runs in the checkov venv
    import hcl2

    merged: dict[str, list] = {}
    for path in sorted(Path(directory).glob("*.tf")):
        with path.open() as f:
            for key, value in hcl2.load(f).items():
                merged.setdefault(key, []).extend(value)
    print(json.dumps(merged))


TOKEN = re.compile(
    r"""\s*(?:
      (?P<num>\d+(?:\.\d+)?)
    | (?P<ident>[A-Za-z_][A-Za-z0-9_-]*)
    | (?P<op>==|!=|<=|>=|&&|\|\||=>|\.\.\.|\[\*\]|[-+*/%!<>?:=.,()\[\]{}])
    | (?P<quote>["'])
    )""",
    re.VERBOSE,
)
PRECEDENCE = {"||": 1, "&&": 2, "==": 3, "!=": 3, "<": 4, "<=": 4, ">": 4, ">=": 4, "+": 5, "-": 5, "*": 6, "/": 6, "%": 6}


def string_end(s: str, i: int, quote: str) -> int:
    """Index just past the string opened before `i` (templates nest)."""
    while i < len(s):
        c = s[i]
        if c == "\\":
            i += 2
        elif s.startswith("${", i):
            i = expr_end(s, i + 2) + 1
        elif c == quote:
            return i + 1
        else:
            i += 1
    raise Unsupported(f"unterminated string in {s!r:.80}")


def expr_end(s: str, i: int) -> int:
    """Index of the `}` closing an interpolation whose expression starts at `i`."""
    depth = 0
    while i < len(s):
        c = s[i]
        if c in "\"'":
            i = string_end(s, i + 1, c)
            continue
        if c == "{":
            depth += 1
        elif c == "}":
            if depth == 0:
                return i
            depth -= 1
        i += 1
    raise Unsupported(f"unterminated interpolation in {s!r:.80}")


def tokens(s: str) -> list[tuple[str, str]]:
    out, i = [], 0
    while True:
        m = TOKEN.match(s, i)
        if not m or m.end() == i:
            if s[i:].strip():
                raise Unsupported(f"cannot read expression at {s[i:]!r:.60}")
            return out
        kind = m.lastgroup
        if kind == "quote":
            end = string_end(s, m.end(), m.group("quote"))
            out.append(("str", s[m.end() : end - 1]))
            i = end
        else:
            out.append((kind, m.group(kind)))
            i = m.end()


class Parser:
    def __init__(self, text: str) -> None:
        self.toks = tokens(text)
        self.i = 0

    def peek(self, k: int = 0) -> tuple[str, str]:
        return self.toks[self.i + k] if self.i + k < len(self.toks) else ("end", "")

    def take(self, value: str | None = None) -> tuple[str, str]:
        tok = self.peek()
        if value is not None and tok[1] != value:
            raise Unsupported(f"expected {value!r}, found {tok[1]!r}")
        self.i += 1
        return tok

    def parse(self):
        e = self.expr()
        if self.peek()[0] != "end":
            raise Unsupported(f"unexpected {self.peek()[1]!r}")
        return e

    def expr(self):
        cond = self.binary(1)
        if self.peek()[1] == "?":
            self.take()
            yes = self.expr()
            self.take(":")
            return ("if", cond, yes, self.expr())
        return cond

    def binary(self, min_prec: int):
        left = self.unary()
        while self.peek()[0] == "op" and PRECEDENCE.get(self.peek()[1], 0) >= min_prec:
            op = self.take()[1]
            left = ("bin", op, left, self.binary(PRECEDENCE[op] + 1))
        return left

    def unary(self):
        if self.peek()[1] in ("!", "-"):
            return ("un", self.take()[1], self.unary())
        return self.postfix()

    def postfix(self):
        e = self.primary()
        while True:
            t = self.peek()
            if t[1] == "." and self.peek(1)[0] == "ident":
                self.take()
                e = ("attr", e, self.take()[1])
            elif t[1] == "." and self.peek(1)[0] == "num":
                self.take()
                e = ("index", e, ("lit", int(self.take()[1])))
            elif t[1] == "[*]":
                self.take()
                e = ("splat", e)
            elif t[1] == "[":
                self.take()
                idx = self.expr()
                self.take("]")
                e = ("index", e, idx)
            else:
                return e

    def primary(self):
        kind, value = self.take()
        if kind == "num":
            return ("lit", float(value) if "." in value else int(value))
        if kind == "str":
            return ("tmpl", value)
        if kind == "ident":
            if value in ("true", "True"):
                return ("lit", True)
            if value in ("false", "False"):
                return ("lit", False)
            if value in ("null", "None"):
                return ("lit", None)
            if self.peek()[1] == "(":
                self.take()
                args = []
                while self.peek()[1] != ")":
                    args.append(self.expr())
                    if self.peek()[1] in (",", "..."):
                        self.take()
                self.take(")")
                return ("call", value, args)
            return ("ref", value)
        if value == "(":
            e = self.expr()
            self.take(")")
            return e
        if value == "[":
            if self.peek() == ("ident", "for"):
                return self.for_expr("]")
            items = []
            while self.peek()[1] != "]":
                items.append(self.expr())
                if self.peek()[1] == ",":
                    self.take()
            self.take("]")
            return ("list", items)
        if value == "{":
            if self.peek() == ("ident", "for"):
                return self.for_expr("}")
            pairs = []
            while self.peek()[1] != "}":
                key = ("lit", self.take()[1]) if self.peek()[0] == "ident" and self.peek(1)[1] in ("=", ":") else self.expr()
                if self.peek()[1] not in ("=", ":"):
                    raise Unsupported(f"object key without value near {self.peek()[1]!r}")
                self.take()
                pairs.append((key, self.expr()))
                if self.peek()[1] == ",":
                    self.take()
            self.take("}")
            return ("object", pairs)
        raise Unsupported(f"unexpected {value!r}")

    def for_expr(self, close: str):
        self.take("for")
        names = [self.take()[1]]
        if self.peek()[1] == ",":
            self.take()
            names.append(self.take()[1])
        self.take("in")
        source = self.expr()
        self.take(":")
        key = None
        value = self.expr()
        if close == "}":
            self.take("=>")
            key, value = value, self.expr()
            if self.peek()[1] == "...":
                raise Unsupported("grouping for-expressions")
        cond = None
        if self.peek() == ("ident", "if"):
            self.take()
            cond = self.expr()
        self.take(close)
        return ("for", names, source, key, value, cond)


def unescape(s: str) -> str:
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t"}.get(m.group(1), m.group(1)), s)


class Hcl:
    """Evaluates the module's expressions; the recorded resources stand in
    for the module's, and variables take their defaults unless overridden."""

    def __init__(self, module: dict, variables: dict[str, Any], rec: Record) -> None:
        self.rec = rec
        self.vars: dict[str, Any] = {}
        for block in module.get("variable", []):
            for name, spec in block.items():
                if name in variables:
                    self.vars[name] = variables[name]
                elif "default" in spec:
                    self.vars[name] = self.value(spec["default"][0], {})
                else:
                    self.vars[name] = f"<var.{name}>"
        self.locals = {k: v for block in module.get("locals", []) for k, v in block.items() if not k.startswith("__")}
        self.data = {(t, n): b for block in module.get("data", []) for t, named in block.items() for n, b in named.items()}
        self.resources = {
            (t, n): b for block in module.get("resource", []) for t, named in block.items() for n, b in named.items()
        }

    # Values as python-hcl2 gives them: strings are templates.
    def value(self, v: Any, scope: dict) -> Any:
        if isinstance(v, str):
            return self.template(v, scope)
        if isinstance(v, list):
            return [self.value(x, scope) for x in v]
        if isinstance(v, dict):
            return {k: self.value(x, scope) for k, x in v.items() if not k.startswith("__")}
        return v

    def attr(self, block: dict, name: str, scope: dict, default: Any = None) -> Any:
        if name not in block:
            return default
        return self.value(block[name][0], scope)

    def template(self, s: str, scope: dict) -> Any:
        parts, i, text = [], 0, []
        while i < len(s):
            if s.startswith("$${", i):
                text.append("${")
                i += 3
            elif s.startswith("${", i):
                end = expr_end(s, i + 2)
                if text:
                    parts.append("".join(text))
                    text = []
                parts.append(self.eval(Parser(s[i + 2 : end]).parse(), scope))
                i = end + 1
            else:
                text.append(s[i])
                i += 1
        if text:
            parts.append("".join(text))
        if len(parts) == 1 and not isinstance(parts[0], str):
            return parts[0]
        if not parts:
            return ""
        return "".join(self.string(p) for p in parts) if len(parts) > 1 else parts[0]

    def string(self, v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if v is None:
            return ""
        if isinstance(v, (list, dict)):
            raise Unsupported(f"a collection in a string template: {v!r:.60}")
        return str(v)

    def eval(self, node, scope: dict) -> Any:
        kind = node[0]
        if kind == "lit":
            return node[1]
        if kind == "tmpl":
            return self.template(unescape(node[1]), scope)
        if kind == "list":
            return [self.eval(x, scope) for x in node[1]]
        if kind == "object":
            return {self.string(self.eval(k, scope)): self.eval(v, scope) for k, v in node[1]}
        if kind == "if":
            return self.eval(node[2] if self.eval(node[1], scope) else node[3], scope)
        if kind == "un":
            v = self.eval(node[2], scope)
            return (not v) if node[1] == "!" else -v
        if kind == "bin":
            return self.binary(node[1], self.eval(node[2], scope), self.eval(node[3], scope))
        if kind == "call":
            return self.call(node[1], [self.eval(a, scope) for a in node[2]])
        if kind == "for":
            _, names, source, key, value, cond = node
            src = self.eval(source, scope)
            items = list(src.items()) if isinstance(src, dict) else list(enumerate(src))
            out_list, out_map = [], {}
            for k, v in items:
                inner = dict(scope)
                if len(names) == 2:
                    inner[names[0]], inner[names[1]] = k, v
                else:
                    inner[names[0]] = v
                if cond is not None and not self.eval(cond, inner):
                    continue
                if key is None:
                    out_list.append(self.eval(value, inner))
                else:
                    out_map[self.string(self.eval(key, inner))] = self.eval(value, inner)
            return out_list if key is None else out_map
        if kind == "splat":
            base = self.eval(node[1], scope)
            return base if isinstance(base, list) else [base]
        path = self.static_path(node)
        if path is not None and path[0] not in scope:
            return self.resolve(path, scope)
        if kind == "ref":
            return scope[node[1]]
        if kind == "attr":
            base = self.eval(node[1], scope)
            if isinstance(base, list):  # after a splat
                return [b[node[2]] for b in base]
            return base[node[2]]
        if kind == "index":
            base, idx = self.eval(node[1], scope), self.eval(node[2], scope)
            return base[idx]
        raise Unsupported(f"expression {node!r:.80}")

    def static_path(self, node) -> list | None:
        if node[0] == "ref":
            return [node[1]]
        if node[0] == "attr":
            base = self.static_path(node[1])
            return None if base is None else base + [node[2]]
        if node[0] == "index" and node[2][0] == "lit":
            base = self.static_path(node[1])
            return None if base is None else base + [node[2][1]]
        return None

    def resolve(self, path: list, scope: dict) -> Any:
        head = path[0]
        if head == "var":
            return traverse(self.vars[path[1]], path[2:])
        if head == "local":
            return traverse(self.value(self.locals[path[1]][0] if isinstance(self.locals[path[1]], list) else self.locals[path[1]], {}), path[2:])
        if head in ("each", "count"):
            return traverse(scope[f"{head}"], path[1:])
        if head == "path":
            return "."
        if head == "data":
            return self.data_source(path[1], path[2], [p for p in path[3:] if not isinstance(p, int)])
        if len(path) >= 2:
            rest = [p for p in path[2:] if not isinstance(p, int)]
            known = TF_RESOURCES.get((head, path[1]))
            if known and rest:
                arn = self.rec.arns[known]
                attrs = {"arn": arn, "name": self.rec.name(arn)}
                attrs["id"] = attrs["url"] = self.rec.queue_url(arn) if known.endswith("queue") else attrs["name"]
                if rest[0] in attrs:
                    return traverse(attrs[rest[0]], rest[1:])
            return "<" + ".".join(str(p) for p in path) + ">"
        raise Unsupported(f"reference {'.'.join(map(str, path))}")

    def data_source(self, kind: str, name: str, rest: list) -> Any:
        attr = rest[0] if rest else ""
        if kind == "aws_partition":
            return {"partition": "aws", "dns_suffix": "amazonaws.com", "id": "aws"}.get(attr, f"<{attr}>")
        if kind == "aws_region":
            return self.rec.region
        if kind == "aws_caller_identity":
            return self.rec.account if attr in ("account_id", "id") else f"<{attr}>"
        if kind == "aws_iam_policy_document" and attr in ("json", "minified_json"):
            return json.dumps(self.policy_document(name))
        return f"<data.{kind}.{name}.{attr}>"

    def policy_document(self, name: str) -> dict:
        block = self.data[("aws_iam_policy_document", name)]
        statements = []

        def one(st: dict, scope: dict) -> dict:
            out = {"Effect": self.attr(st, "effect", scope, "Allow")}
            if "sid" in st:
                out["Sid"] = self.attr(st, "sid", scope)
            for key, field in (("actions", "Action"), ("not_actions", "NotAction"), ("resources", "Resource"), ("not_resources", "NotResource")):
                if key in st:
                    out[field] = self.attr(st, key, scope)
            if "condition" in st:
                out["Condition"] = "(not evaluated)"
            return out

        for st in block.get("statement", []):
            statements.append(one(st, {}))
        for dyn in block.get("dynamic", []):
            for label, spec in dyn.items():
                if label != "statement":
                    continue
                iterator = self.attr(spec, "iterator", {}, "statement")
                source = self.attr(spec, "for_each", {})
                items = source.items() if isinstance(source, dict) else enumerate(source)
                for k, v in items:
                    for content in spec.get("content", []):
                        statements.append(one(content, {iterator: {"key": k, "value": v}}))
        for key in ("source_policy_documents", "override_policy_documents"):
            for doc in self.attr(block, key, {}, []) or []:
                statements += as_list(json.loads(doc).get("Statement"))
        return {"Version": "2012-10-17", "Statement": statements}

    def binary(self, op: str, a: Any, b: Any) -> Any:
        ops = {
            "==": lambda: a == b,
            "!=": lambda: a != b,
            "&&": lambda: bool(a) and bool(b),
            "||": lambda: bool(a) or bool(b),
            "<": lambda: a < b,
            "<=": lambda: a <= b,
            ">": lambda: a > b,
            ">=": lambda: a >= b,
            "+": lambda: a + b,
            "-": lambda: a - b,
            "*": lambda: a * b,
            "/": lambda: a / b,
            "%": lambda: a % b,
        }
        return ops[op]()

    def call(self, name: str, args: list) -> Any:
        funcs = {
            "length": lambda x: len(x),
            "concat": lambda *xs: [v for x in xs for v in x],
            "compact": lambda x: [v for v in x if v not in ("", None)],
            "flatten": lambda x: flatten(x),
            "distinct": lambda x: list(dict.fromkeys(x)),
            "toset": lambda x: sorted(dict.fromkeys(x), key=str),
            "tolist": lambda x: list(x),
            "tomap": lambda x: dict(x),
            "tostring": lambda x: self.string(x),
            "tonumber": lambda x: float(x) if "." in str(x) else int(x),
            "formatlist": lambda f, *xs: [fmt(f, *vals) for vals in zip(*[x if isinstance(x, list) else [x] * max(len(y) for y in xs if isinstance(y, list)) for x in xs])],
            "format": lambda f, *xs: fmt(f, *xs),
            "join": lambda d, x: d.join(self.string(v) for v in x),
            "split": lambda d, s: s.split(d),
            "lower": lambda s: s.lower(),
            "upper": lambda s: s.upper(),
            "trimspace": lambda s: s.strip(),
            "trimsuffix": lambda s, x: s[: -len(x)] if x and s.endswith(x) else s,
            "trimprefix": lambda s, x: s[len(x) :] if s.startswith(x) else s,
            "trim": lambda s, cs: s.strip(cs),
            "chomp": lambda s: s.rstrip("\r\n"),
            "substr": lambda s, o, n: s[o:] if n < 0 else s[o : o + n],
            "regex": lambda r, s: regex(r, s),
            "regexall": lambda r, s: [m.group(0) for m in re.finditer(r, s)],
            "reverse": lambda x: list(reversed(x)),
            "slice": lambda x, a, b: x[a:b],
            "index": lambda x, v: x.index(v),
            "range": lambda *a: list(range(*a)),
            "zipmap": lambda k, v: dict(zip(k, v)),
            "coalescelist": lambda *xs: next((x for x in xs if x), []),
            "replace": lambda s, a, b: s.replace(a, b),
            "merge": lambda *ms: {k: v for m in ms for k, v in m.items()},
            "contains": lambda x, v: v in x,
            "keys": lambda m: sorted(m),
            "values": lambda m: [m[k] for k in sorted(m)],
            "lookup": lambda m, k, *d: m.get(k, d[0] if d else None),
            "element": lambda x, i: x[i % len(x)],
            "coalesce": lambda *xs: next((x for x in xs if x not in ("", None)), None),
            "jsonencode": lambda x: json.dumps(x),
            "jsondecode": lambda s: json.loads(s),
            "one": lambda x: x[0] if x else None,
            "sort": lambda x: sorted(x),
            "startswith": lambda s, p: s.startswith(p),
            "endswith": lambda s, p: s.endswith(p),
            "min": lambda *xs: min(xs),
            "max": lambda *xs: max(xs),
            "floor": lambda x: int(x // 1),
            "abs": lambda x: abs(x),
            "filebase64sha256": lambda p: f"<hash of {p}>",
            "can": lambda x: True,
            "try": lambda *xs: xs[0],
        }
        if name not in funcs:
            raise Unsupported(f"function {name}()")
        return funcs[name](*args)

    def instances(self, block: dict) -> list[dict]:
        """The scopes of a resource's instances (count, for_each)."""
        if "count" in block:
            return [{"count": {"index": i}} for i in range(int(self.attr(block, "count", {})))]
        if "for_each" in block:
            src = self.attr(block, "for_each", {})
            items = src.items() if isinstance(src, dict) else ((v, v) for v in src)
            return [{"each": {"key": k, "value": v}} for k, v in items]
        return [{}]


def regex(pattern: str, s: str) -> Any:
    m = re.search(pattern, s)
    if not m:
        raise Unsupported(f"regex({pattern!r}) does not match {s!r}")
    if m.groupdict():
        return m.groupdict()
    return list(m.groups()) if m.groups() else m.group(0)


def traverse(value: Any, rest: list) -> Any:
    for p in rest:
        value = value[p]
    return value


def flatten(x: Any) -> list:
    return [w for v in x for w in (flatten(v) if isinstance(v, list) else [v])]


def fmt(f: str, *args: Any) -> str:
    args_iter = iter(args)
    return re.sub(r"%[sdv]", lambda m: str(next(args_iter)), f.replace("%%", "\0")).replace("\0", "%")


def tf_grants(rec: Record, directory: Path, data_tables: list[str]) -> list[Grant]:
    module = parse_hcl(directory)
    declared = {n for b in module.get("variable", []) for n in b}
    variables: dict[str, Any] = {"worker_zip": "worker.zip", "dead_letter_zip": "dead-letter.zip"}
    if TF_DATA_TABLES in declared:
        variables[TF_DATA_TABLES] = list(data_tables)
    hcl = Hcl(module, variables, rec)
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
        except (Unsupported, KeyError, IndexError, TypeError, ValueError) as e:
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
    if len(sys.argv) == 4 and sys.argv[1] == "--expand-sam":
        _expand_sam_main(sys.argv[2], sys.argv[3])
    elif len(sys.argv) == 3 and sys.argv[1] == "--parse-hcl":
        _parse_hcl_main(sys.argv[2])
    else:
        sys.exit(main())
