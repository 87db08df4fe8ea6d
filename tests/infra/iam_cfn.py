"""CloudFormation intrinsics, evaluated offline, for the IAM check (iam.py).

Run as a script (with the AWS SAM CLI's Python, as iam.py does) it expands a
SAM template to plain CloudFormation with the AWS SAM translator:

    python iam_cfn.py TEMPLATE PARAMETERS_JSON   # prints the template as JSON

Imported, it needs only the standard library: `Cfn` evaluates `Ref`,
`Fn::GetAtt`, `Fn::Sub`, `Fn::Join`, `Fn::Split`, `Fn::Select`, `Fn::If` and
conditions, `Fn::FindInMap` and `Fn::ToJsonString`.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any


class Unsupported(Exception):
    """A template construct this evaluator does not know."""


def expand(template: str, params: str) -> None:
    """Print the SAM template as plain CloudFormation (JSON), with these
    parameter values; needs the AWS SAM translator and SAM CLI's YAML loader."""
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
    """Evaluates a CloudFormation template's intrinsics with given parameters
    (the rest take their defaults). `stand_ins` gives, per logical id, what
    `Ref` and `Fn::GetAtt` of a resource return (keys `Ref`, `Arn`, ...);
    other resources evaluate to `<Name>` and `<Name.Attr>`.

    >>> tpl = {"Parameters": {"Names": {"Type": "CommaDelimitedList", "Default": ""}},
    ...        "Conditions": {"Some": {"Fn::Not": [{"Fn::Equals": [{"Fn::Join": ["", {"Ref": "Names"}]}, ""]}]}}}
    >>> cfn = Cfn(tpl, {"Names": "a,b"}, "us-east-1", "1", {"Q": {"Arn": "arn:q"}})
    >>> cfn.ev({"Fn::Sub": "arn:${AWS::Partition}:sqs:${AWS::Region}:${AWS::AccountId}:x/${Q.Arn}"})
    'arn:aws:sqs:us-east-1:1:x/arn:q'
    >>> cfn.ev({"Fn::Split": [",", {"Fn::Join": [",t/", {"Ref": "Names"}]}]})
    ['a', 't/b']
    >>> cfn.ev([{"Fn::If": ["Some", "yes", {"Ref": "AWS::NoValue"}]}, {"Fn::GetAtt": ["Other", "Arn"]}])
    ['yes', '<Other.Arn>']
    >>> Cfn(tpl, {}, "us-east-1", "1", {}).ev([{"Fn::If": ["Some", "yes", {"Ref": "AWS::NoValue"}]}])
    []
    """

    def __init__(
        self, tpl: dict, params: dict[str, str], region: str, account: str, stand_ins: dict[str, dict[str, str]]
    ) -> None:
        self.tpl = tpl
        self.resources = tpl.get("Resources", {})
        self.stand_ins = stand_ins
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
            "AWS::Region": region,
            "AWS::AccountId": account,
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
        if "Ref" in self.stand_ins.get(name, {}):
            return self.stand_ins[name]["Ref"]
        return f"<{name}>"

    def getatt(self, name: str, attr: str) -> Any:
        if attr in self.stand_ins.get(name, {}):
            return self.stand_ins[name][attr]
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


if __name__ == "__main__":
    expand(sys.argv[1], sys.argv[2])
