"""What each deployment template would create, as one plain model per stack.

`sam_model` evaluates the SAM template and `terraform_model` the Terraform
module for a set of parameter values (Terraform variable names; the SAM
parameter names are mapped through `PARAMETERS`). Both return the same shape,
with every name, ARN and URL spelled out as AWS would for a stack named `vow`
in us-east-1, account 123456789012:

    queues      work / dead_letter: name, arn, url, visibility, retention, sse,
                redrive {target, max_receive}, redrive_allow [source arns]
    table       name, arn, key [(attribute, type, key type)], ttl (attribute,
                enabled), pitr, sse, billing
    log_groups  worker / dead_letter: name, arn, retention
    functions   worker / dead_letter: name, arn, runtime, handler, arch,
                timeout, memory, env {name: value}, log_format,
                app_log_level, system_log_level, log_group, role, tracing
    mappings    worker / dead_letter: source, function, batch_size, window,
                response_types, max_concurrency
    roles       worker / dead_letter: arn, statements [{effect, actions,
                resources}], managed [arns]
    alarms      dead_letter_depth (the dead-letter queue holds messages) /
                work_age (the work queue's oldest message is old) / refused
                (a message failed verification): namespace, metric,
                dimensions, statistic, period, evaluation_periods, threshold,
                comparison, missing, actions, ok_actions, and queries (metric
                math: [{id, expression, return_data, namespace, metric,
                dimensions, stat, period}], sorted by id)
    stack_roles worker / dead_letter / scheduler (with a schedule): the ARNs
                of the stack's own roles, the senders its queue policy names
    timer_table the timer index's table, as `table`
    sweep_rules EventBridge rules by name: name, arn, schedule, state,
                targets [{arn, input (parsed), role}]
    queue_policies  queue arn -> resource policy statements [{sid, effect,
                principals, actions, resources, not, conditions}]
    signing     secrets {arn: how its value is made: template (parsed), key
                (the generated field), length, letters_and_digits, literal
                (a value written in the template)}, read_policies [statement
                lists of the managed policies for producers], outputs
                {secret_arn, read_policy ("<read policy>" when it names one)}

The checks in values.py read only this model, so one check covers both tools.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import hcl2
import yaml

import hclexpr

REGION, ACCOUNT, PARTITION, STACK = "us-east-1", "123456789012", "aws", "vow"

# Terraform variable -> SAM parameter (the same knob in both tools).
PARAMETERS = {
    "name_prefix": "NamePrefix",
    "worker_zip": "WorkerCodeUri",
    "dead_letter_zip": "DeadLetterCodeUri",
    "memory_size": "FunctionMemorySize",
    "timeout": "FunctionTimeout",
    "max_concurrency": "MaxConcurrency",
    "max_receive_count": "MaxReceiveCount",
    "log_retention_days": "LogRetentionDays",
    "record_ttl_days": "RecordTtlDays",
    "deletion_protection": "TableDeletionProtection",
    "alarm_topic_arn": "AlarmTopicArn",
    "oldest_message_alarm_seconds": "OldestMessageAlarmSeconds",
    "producer_role_arns": "ProducerRoleArns",
    "extra_policy_arns": "ExtraPolicyArns",
    "extra_policy_json": "ExtraPolicyJson",
    "data_table_names": "DataTableNames",
    "signing": "Signing",
    "signing_secret_arn": "SigningSecretArn",
    "log_level": "LogLevel",
}

# Resource names in each tool, per role in the model.
SAM_NAMES = {
    "work": "WorkQueue",
    "dead_letter_queue": "DeadLetterQueue",
    "table": "PromiseTable",
    "worker": "WorkerFunction",
    "dead_letter": "DeadLetterFunction",
}
TF_NAMES = {"work": "work", "dead_letter_queue": "dead_letter", "table": "promises"}
# The alarms in each tool, per role in the model.
SAM_ALARMS = {"dead_letter_depth": "DeadLetterQueueAlarm", "work_age": "WorkQueueAgeAlarm", "refused": "RefusedMessagesAlarm"}
TF_ALARMS = {"dead_letter_depth": "dead_letter_queue", "work_age": "work_queue_age", "refused": "refused_messages"}
# The timer index's table in each tool.
SAM_TIMER_TABLE = "TimerTable"
TF_TIMER_TABLE = "timers"



# The ARN of a secret the stack generates, in both tools (CloudFormation and
# Terraform each add their own random part to its name).
GENERATED_SECRET_ARN = f"arn:{PARTITION}:secretsmanager:{REGION}:{ACCOUNT}:secret:<generated>"
READ_POLICY = "<read policy>"


def policy_arn(name: str) -> str:
    return f"arn:{PARTITION}:iam::{ACCOUNT}:policy/{name}"


def random_value(name: str) -> str:
    """A random_password's result, as the model shows it."""
    return f"<random_password.{name}>"


def generated_secret(string: Any, template: Any, key: Any, length: Any, letters_and_digits: bool) -> dict:
    """How a secret's value is made: a JSON template with one generated field,
    or a value written in the template (`literal`)."""
    try:
        parsed = json.loads(template) if isinstance(template, str) else template
    except json.JSONDecodeError:
        parsed = {"unparsable": template}
    return {
        "template": parsed,
        "key": key,
        "length": _int(length),
        "letters_and_digits": letters_and_digits,
        "literal": string is not None,
    }


def secret_value(secret_id: str) -> str:
    """The string of a Secrets Manager secret, as the model shows it."""
    return f"<string of secret {secret_id}>"


_RESOLVE = re.compile(r"^\{\{resolve:secretsmanager:(.+):SecretString(?::::?(.*))?\}\}$")


class ModelError(Exception):
    """The template lacks something the model needs."""


def queue_arn(name: str) -> str:
    return f"arn:{PARTITION}:sqs:{REGION}:{ACCOUNT}:{name}"


def queue_url(name: str) -> str:
    return f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{name}"


def table_arn(name: str) -> str:
    return f"arn:{PARTITION}:dynamodb:{REGION}:{ACCOUNT}:table/{name}"


def log_group_arn(name: str) -> str:
    return f"arn:{PARTITION}:logs:{REGION}:{ACCOUNT}:log-group:{name}"


def function_arn(name: str) -> str:
    return f"arn:{PARTITION}:lambda:{REGION}:{ACCOUNT}:function:{name}"


def role_arn(name: str) -> str:
    return f"arn:{PARTITION}:iam::{ACCOUNT}:role/{name}"


def rule_arn(name: str) -> str:
    return f"arn:{PARTITION}:events:{REGION}:{ACCOUNT}:rule/{name}"


def _as_list(v: Any) -> list:
    if v is None:
        return []
    return v if isinstance(v, list) else [v]


def policy_statements(doc: Any) -> list[dict]:
    if isinstance(doc, str):
        doc = json.loads(doc)
    out = []
    for st in _as_list(doc.get("Statement")):
        out.append(
            {
                "sid": st.get("Sid"),
                "effect": st.get("Effect"),
                "actions": sorted(_as_list(st.get("Action")) + _as_list(st.get("NotAction"))),
                "not_action": "NotAction" in st,
                "resources": sorted(_as_list(st.get("Resource")) + _as_list(st.get("NotResource"))),
                "not_resource": "NotResource" in st,
            }
        )
    return out


def _trust(doc: Any) -> list[str]:
    """The services an assume-role policy lets assume the role (or '*' for anyone)."""
    if isinstance(doc, str):
        doc = json.loads(doc)
    out = []
    for st in _as_list(doc.get("Statement")):
        principal = st.get("Principal")
        if principal == "*" or not isinstance(principal, dict):
            out.append("*")
            continue
        for kind, ids in principal.items():
            out += [i if kind == "Service" else f"{kind}:{i}" for i in _as_list(ids)]
    return sorted(out)


def _trust_conditions(doc: Any) -> list[dict]:
    """The conditions of each statement of an assume-role policy, in the form
    of resource_statements (values as sorted lists of strings)."""
    if isinstance(doc, str):
        doc = json.loads(doc)
    return [_conditions(st) for st in _as_list(doc.get("Statement"))]


def _conditions(st: dict) -> dict:
    return {
        op: {k: sorted(str(v).lower() if isinstance(v, bool) else str(v) for v in _as_list(vals)) for k, vals in (kv or {}).items()}
        for op, kv in (st.get("Condition") or {}).items()
    }


def _query(id_: Any, expression: Any, return_data: Any, metric: dict | None, stat: Any, period: Any) -> dict:
    """One metric-math query of an alarm."""
    metric = metric or {}
    return {
        "id": id_,
        "expression": expression,
        "return_data": str(return_data).lower() == "true" if return_data is not None else None,
        "namespace": metric.get("namespace"),
        "metric": metric.get("metric"),
        "dimensions": metric.get("dimensions") or {},
        "stat": stat,
        "period": _int(period),
    }


def _schedule(expression: Any, timezone: Any, window: Any, target: Any, text: Any, role: Any, group: Any = None) -> dict:
    try:
        message = json.loads(text) if isinstance(text, str) else text
    except json.JSONDecodeError:
        message = {"unparsable": text}
    return {
        "expression": expression,
        "timezone": timezone or "UTC",
        "window": window,
        "target": target,
        "input": message,
        "role": role,
        "group": group or "default",
    }


# ----------------------------------------------------------------------- SAM


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


def load_sam(path: Path) -> dict:
    return yaml.load(path.read_text(), Loader=CfnLoader)  # noqa: S506 - SafeLoader subclass


_NO_VALUE = object()


class SamEvaluator:
    def __init__(self, doc: dict, params: dict[str, Any]):
        self.doc = doc
        self.resources = doc.get("Resources", {})
        self.params: dict[str, Any] = {}
        for name, spec in doc.get("Parameters", {}).items():
            v = params.get(name, spec.get("Default"))
            if v is None:
                raise ModelError(f"sam: parameter {name} has no value")
            if spec.get("Type") == "CommaDelimitedList" and isinstance(v, str):
                v = v.split(",")
            elif spec.get("Type") == "CommaDelimitedList":
                v = list(v) if v else [""]
            self.params[name] = v
        self.pseudo = {
            "AWS::Region": REGION,
            "AWS::AccountId": ACCOUNT,
            "AWS::Partition": PARTITION,
            "AWS::StackName": STACK,
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::NoValue": _NO_VALUE,
        }
        self.conditions: dict[str, bool] = {}

    def condition(self, name: str) -> bool:
        if name not in self.conditions:
            spec = self.doc.get("Conditions", {}).get(name)
            if spec is None:
                raise ModelError(f"sam: condition {name} is not defined")
            self.conditions[name] = bool(self.eval(spec))
        return self.conditions[name]

    def ref(self, name: str) -> Any:
        if name in self.pseudo:
            return self.pseudo[name]
        if name in self.params:
            return self.params[name]
        return self.attr(name, "Ref")

    def name_of(self, logical: str) -> str:
        res = self.resources.get(logical)
        if res is None:
            raise ModelError(f"sam: resource {logical} is missing")
        props = res.get("Properties", {})
        for key in ("QueueName", "TableName", "LogGroupName", "FunctionName", "RoleName", "TopicName", "Name"):
            if key in props:
                return self.eval(props[key])
        return f"{STACK}-{logical}"

    def attr(self, logical: str, attr: str) -> Any:
        res = self.resources.get(logical)
        if res is None:
            raise ModelError(f"sam: resource {logical} is missing")
        kind, name = res.get("Type"), self.name_of(logical)
        table = {
            "AWS::SQS::Queue": {"Ref": queue_url(name), "Arn": queue_arn(name), "QueueName": name, "QueueUrl": queue_url(name)},
            "AWS::DynamoDB::Table": {"Ref": name, "Arn": table_arn(name)},
            "AWS::Logs::LogGroup": {"Ref": name, "Arn": log_group_arn(name) + ":*"},
            "AWS::IAM::Role": {"Ref": name, "Arn": role_arn(name)},
            "AWS::Serverless::Function": {"Ref": name, "Arn": function_arn(name)},
            "AWS::Events::Rule": {"Ref": name, "Arn": rule_arn(name)},
            "AWS::SecretsManager::Secret": {"Ref": GENERATED_SECRET_ARN, "Id": GENERATED_SECRET_ARN},
            "AWS::IAM::ManagedPolicy": {"Ref": policy_arn(name), "PolicyArn": policy_arn(name)},
        }.get(kind, {"Ref": name})
        if attr not in table:
            raise ModelError(f"sam: {logical} ({kind}) has no attribute {attr} the checks know")
        return table[attr]

    def sub(self, template: str, extra: dict[str, Any]) -> str:
        out, i = [], 0
        while i < len(template):
            if template.startswith("${!", i):
                out.append("${")
                i += 3
            elif template.startswith("${", i):
                j = template.index("}", i)
                name = template[i + 2 : j]
                if name in extra:
                    v = extra[name]
                elif "." in name and name.split(".")[0] in self.resources:
                    logical, attr = name.split(".", 1)
                    v = self.attr(logical, attr)
                else:
                    v = self.ref(name)
                out.append(str(v))
                i = j + 1
            else:
                out.append(template[i])
                i += 1
        return "".join(out)

    def eval(self, node: Any) -> Any:
        if isinstance(node, list):
            return [v for v in (self.eval(x) for x in node) if v is not _NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            (key, arg), = node.items()
            fn = key[4:] if key.startswith("Fn::") else key
            if fn == "Ref":
                return self.ref(arg)
            if fn == "GetAtt":
                logical, attr = arg.split(".", 1) if isinstance(arg, str) else arg
                return self.attr(logical, attr)
            if fn == "Sub":
                if isinstance(arg, str):
                    return self.sub(arg, {})
                return self.sub(arg[0], {k: self.eval(v) for k, v in arg[1].items()})
            if fn == "If":
                return self.eval(arg[1] if self.condition(arg[0]) else arg[2])
            if fn == "Condition":
                return self.condition(arg)
            if fn == "Equals":
                a, b = (self.eval(x) for x in arg)
                return str(a) == str(b)
            if fn == "Not":
                return not self.eval(arg[0])
            if fn == "And":
                return all(self.eval(x) for x in arg)
            if fn == "Or":
                return any(self.eval(x) for x in arg)
            if fn == "Join":
                return arg[0].join(str(x) for x in self.eval(arg[1]))
            if fn == "Split":
                return self.eval(arg[1]).split(arg[0])
            if fn == "Select":
                return self.eval(arg[1])[int(self.eval(arg[0]))]
            if fn == "FindInMap":
                m, k1, k2 = (str(self.eval(x)) for x in arg)
                try:
                    return self.doc["Mappings"][m][k1][k2]
                except KeyError as e:
                    raise ModelError(f"sam: mapping {m} has no {k1}.{k2}") from e
        out = {}
        for k, v in node.items():
            v = self.eval(v)
            if v is not _NO_VALUE:
                out[k] = v
        return out

    def props(self, logical: str) -> dict:
        res = self.resources.get(logical)
        if res is None:
            raise ModelError(f"sam: resource {logical} is missing")
        if "Condition" in res and not self.condition(res["Condition"]):
            raise ModelError(f"sam: resource {logical} is not created")
        return self.eval(res.get("Properties", {}))


def _int(v: Any) -> Any:
    try:
        return int(v)
    except (TypeError, ValueError):
        return v


def _sqs_queue(props: dict, name: str) -> dict:
    redrive = props.get("RedrivePolicy")
    if isinstance(redrive, str):
        redrive = json.loads(redrive)
    allow = props.get("RedriveAllowPolicy")
    if isinstance(allow, str):
        allow = json.loads(allow)
    return {
        "name": name,
        "arn": queue_arn(name),
        "url": queue_url(name),
        "visibility": _int(props.get("VisibilityTimeout", 30)),
        "retention": _int(props.get("MessageRetentionPeriod", 345600)),
        "sse": bool(props.get("SqsManagedSseEnabled") or props.get("KmsMasterKeyId")),
        "redrive": None
        if not redrive
        else {"target": redrive.get("deadLetterTargetArn"), "max_receive": _int(redrive.get("maxReceiveCount"))},
        "redrive_allow": None
        if not allow
        else {"permission": allow.get("redrivePermission"), "sources": sorted(allow.get("sourceQueueArns", []))},
    }


def _resolved(v: str) -> str:
    """A Secrets Manager dynamic reference, as the value CloudFormation puts there."""
    m = _RESOLVE.match(v)
    return secret_value(m.group(1)) if m else v


def sam_model(doc: dict, tf_params: dict[str, Any]) -> dict:
    """The model of the SAM template `doc` with these (Terraform-named) parameter values."""
    params = {}
    tf_params = dict(tf_params)
    schedules = tf_params.pop("schedules", None) or {}
    if len(schedules) > 1:
        raise ModelError("sam: the template declares one schedule (ScheduleName); declare more in your own template")
    for name, sched in schedules.items():
        params.update(
            ScheduleName=name,
            ScheduleExpression=sched["expression"],
            ScheduleTimezone=sched.get("timezone", "UTC"),
            ScheduleTask=sched["task"],
            ScheduleInput=sched.get("input", "{}"),
        )
    for tf_name, v in tf_params.items():
        sam_name = PARAMETERS.get(tf_name, tf_name)
        if v is None:
            v = ""
        if isinstance(v, bool):
            v = "true" if v else "false"
        params[sam_name] = v
    s = SamEvaluator(doc, params)
    model: dict[str, Any] = {"queues": {}, "functions": {}, "mappings": {}, "roles": {}, "log_groups": {}}

    for role, key in (("work", "work"), ("dead_letter_queue", "dead_letter")):
        logical = SAM_NAMES[role]
        model["queues"][key] = _sqs_queue(s.props(logical), s.name_of(logical))

    t = s.props(SAM_NAMES["table"])
    types = {a["AttributeName"]: a["AttributeType"] for a in t.get("AttributeDefinitions", [])}
    ttl = t.get("TimeToLiveSpecification") or {}
    model["table"] = {
        "name": t.get("TableName"),
        "arn": table_arn(t.get("TableName", "")),
        "key": [(k["AttributeName"], types.get(k["AttributeName"]), k["KeyType"]) for k in t.get("KeySchema", [])],
        "ttl": (ttl.get("AttributeName"), str(ttl.get("Enabled")).lower() == "true"),
        "pitr": str((t.get("PointInTimeRecoverySpecification") or {}).get("PointInTimeRecoveryEnabled")).lower() == "true",
        "sse": str((t.get("SSESpecification") or {}).get("SSEEnabled")).lower() == "true",
        "billing": t.get("BillingMode", "PROVISIONED"),
        "deletion_protection": str(t.get("DeletionProtectionEnabled")).lower() == "true",
    }

    globals_fn = s.eval(doc.get("Globals", {}).get("Function", {}))
    for key in ("worker", "dead_letter"):
        logical = SAM_NAMES[key]
        props = s.props(logical)
        env = {
            **(globals_fn.get("Environment", {}).get("Variables", {})),
            **(props.get("Environment", {}).get("Variables", {})),
        }
        merged = {**globals_fn, **props}
        logging = merged.get("LoggingConfig", {})
        role_logical = None
        role_ref = doc["Resources"][logical].get("Properties", {}).get("Role")
        if isinstance(role_ref, dict) and "GetAtt" in role_ref:
            g = role_ref["GetAtt"]
            role_logical = (g.split(".")[0] if isinstance(g, str) else g[0])
        name = merged.get("FunctionName", logical)
        model["functions"][key] = {
            "name": name,
            "arn": function_arn(name),
            "runtime": merged.get("Runtime"),
            "handler": merged.get("Handler"),
            "arch": merged.get("Architectures"),
            "timeout": _int(merged.get("Timeout", 3)),
            "memory": _int(merged.get("MemorySize", 128)),
            "env": {k: _resolved(str(v)) for k, v in env.items()},
            "log_format": logging.get("LogFormat", "Text"),
            "app_log_level": logging.get("ApplicationLogLevel"),
            "system_log_level": logging.get("SystemLogLevel"),
            "log_group": logging.get("LogGroup"),
            "role": merged.get("Role"),
            "tracing": merged.get("Tracing"),
            "code": merged.get("CodeUri"),
        }
        events = [e.get("Properties", {}) for e in merged.get("Events", {}).values() if e.get("Type") == "SQS"]
        if len(events) != 1:
            raise ModelError(f"sam: {logical} needs exactly one SQS event, has {len(events)}")
        ev = events[0]
        model["mappings"][key] = {
            "source": ev.get("Queue"),
            "function": function_arn(name),
            "batch_size": _int(ev.get("BatchSize", 10)),
            "window": _int(ev.get("MaximumBatchingWindowInSeconds", 0)),
            "response_types": ev.get("FunctionResponseTypes", []),
            "max_concurrency": _int((ev.get("ScalingConfig") or {}).get("MaximumConcurrency")),
            "enabled": ev.get("Enabled", True),
        }
        if role_logical:
            r = s.props(role_logical)
            statements = [st for p in r.get("Policies", []) for st in policy_statements(p.get("PolicyDocument", {}))]
            model["roles"][key] = {
                "arn": role_arn(s.name_of(role_logical)),
                "statements": statements,
                "managed": sorted(r.get("ManagedPolicyArns", [])),
            }

    for logical, res in doc.get("Resources", {}).items():
        if res.get("Type") == "AWS::Logs::LogGroup":
            props = s.props(logical)
            key = "worker" if "Worker" in logical else "dead_letter" if "DeadLetter" in logical else logical
            name = props.get("LogGroupName")
            model["log_groups"][key] = {
                "name": name,
                "arn": log_group_arn(name) + ":*",
                "retention": _int(props.get("RetentionInDays")),
            }

    model["schedules"] = {}
    for logical, res in doc.get("Resources", {}).items():
        if res.get("Type") != "AWS::Scheduler::Schedule":
            continue
        if "Condition" in res and not s.condition(res["Condition"]):
            continue
        p = s.props(logical)
        target = p.get("Target") or {}
        role_ref = ((res.get("Properties") or {}).get("Target") or {}).get("RoleArn")
        role = None
        if isinstance(role_ref, dict) and "GetAtt" in role_ref:
            g = role_ref["GetAtt"]
            r = s.props(g.split(".")[0] if isinstance(g, str) else g[0])
            role = {
                "trust": _trust(r.get("AssumeRolePolicyDocument", {})),
                "trust_conditions": _trust_conditions(r.get("AssumeRolePolicyDocument", {})),
                "statements": [st for pol in r.get("Policies", []) for st in policy_statements(pol.get("PolicyDocument", {}))],
                "managed": sorted(r.get("ManagedPolicyArns", [])),
            }
        model["schedules"][p.get("Name")] = _schedule(
            p.get("ScheduleExpression"),
            p.get("ScheduleExpressionTimezone"),
            (p.get("FlexibleTimeWindow") or {}).get("Mode"),
            target.get("Arn"),
            target.get("Input"),
            role,
            p.get("GroupName"),
        )

    model["alarms"] = {}
    for key, logical in SAM_ALARMS.items():
        res = doc.get("Resources", {}).get(logical)
        if res is None or ("Condition" in res and not s.condition(res["Condition"])):
            continue
        a = s.props(logical)
        model["alarms"][key] = {
            "namespace": a.get("Namespace"),
            "metric": a.get("MetricName"),
            "dimensions": {d["Name"]: d["Value"] for d in a.get("Dimensions", [])},
            "statistic": a.get("Statistic"),
            "period": _int(a.get("Period")),
            "evaluation_periods": _int(a.get("EvaluationPeriods")),
            "threshold": _int(a.get("Threshold")),
            "comparison": a.get("ComparisonOperator"),
            "missing": a.get("TreatMissingData"),
            "actions": sorted(a.get("AlarmActions", [])),
            "ok_actions": sorted(a.get("OKActions", [])),
            "queries": sorted(
                (
                    _query(
                        q.get("Id"),
                        q.get("Expression"),
                        q.get("ReturnData"),
                        {
                            "namespace": m.get("Namespace"),
                            "metric": m.get("MetricName"),
                            "dimensions": {d["Name"]: d["Value"] for d in m.get("Dimensions", [])},
                        }
                        if (m := (q.get("MetricStat") or {}).get("Metric"))
                        else None,
                        (q.get("MetricStat") or {}).get("Stat"),
                        (q.get("MetricStat") or {}).get("Period"),
                    )
                    for q in a.get("Metrics", [])
                ),
                key=lambda q: str(q["id"]),
            ),
        }
    model["stack_roles"] = {}
    for key, logical in (("worker", "WorkerRole"), ("dead_letter", "DeadLetterRole"), ("scheduler", "SchedulerRole")):
        res = doc.get("Resources", {}).get(logical)
        if res is not None and ("Condition" not in res or s.condition(res["Condition"])):
            model["stack_roles"][key] = s.attr(logical, "Arn")

    # The timer index: its table, the rule that asks for a sweep each minute,
    # and the queue policy that lets only that rule send through EventBridge.
    model["timer_table"] = _table(
        s.props(SAM_TIMER_TABLE), lambda props: [(k["AttributeName"], k["KeyType"]) for k in props.get("KeySchema", [])]
    )
    model["sweep_rules"] = {}
    model["queue_policies"] = {}
    for logical, res in doc.get("Resources", {}).items():
        if "Condition" in res and not s.condition(res["Condition"]):
            continue
        if res.get("Type") == "AWS::Events::Rule":
            p = s.props(logical)
            model["sweep_rules"][p.get("Name")] = _rule(
                p.get("Name"),
                p.get("ScheduleExpression"),
                p.get("State", "ENABLED"),
                [(t.get("Arn"), t.get("Input"), t.get("RoleArn")) for t in p.get("Targets", [])],
            )
        if res.get("Type") == "AWS::SQS::QueuePolicy":
            p = s.props(logical)
            for url in p.get("Queues", []):
                arn = queue_arn(str(url).rsplit("/", 1)[-1])
                model["queue_policies"].setdefault(arn, []).extend(resource_statements(p.get("PolicyDocument", {})))

    # Signing: the secrets the stack creates, the policies for producers, the outputs.
    signing: dict[str, Any] = {"secrets": {}, "read_policies": [], "outputs": {}}
    policy_arns = []
    for logical, res in doc.get("Resources", {}).items():
        if "Condition" in res and not s.condition(res["Condition"]):
            continue
        if res.get("Type") == "AWS::SecretsManager::Secret":
            p = s.props(logical)
            g = p.get("GenerateSecretString") or {}
            signing["secrets"][s.attr(logical, "Ref")] = generated_secret(
                p.get("SecretString"),
                g.get("SecretStringTemplate"),
                g.get("GenerateStringKey"),
                g.get("PasswordLength", 32),
                str(g.get("ExcludePunctuation")).lower() == "true",
            )
        if res.get("Type") == "AWS::IAM::ManagedPolicy":
            p = s.props(logical)
            signing["read_policies"].append(policy_statements(p.get("PolicyDocument", {})))
            policy_arns.append(s.attr(logical, "Ref"))
    outputs = doc.get("Outputs", {})
    for key, name in (("secret_arn", "SigningSecretArn"), ("read_policy", "SigningKeyReadPolicyArn")):
        out = outputs.get(name)
        if out is None or ("Condition" in out and not s.condition(out["Condition"])):
            signing["outputs"][key] = None
            continue
        v = s.eval(out.get("Value"))
        signing["outputs"][key] = READ_POLICY if v in policy_arns else v
    model["signing"] = signing
    return model


# ----------------------------------------------------------------- Terraform


def load_terraform(directory: Path) -> dict[str, list]:
    """Merge the top-level blocks of every .tf file in a directory."""
    merged: dict[str, list] = {}
    for path in sorted(directory.glob("*.tf")):
        with path.open() as f:
            doc = hcl2.load(f)
        for key, blocks in doc.items():
            merged.setdefault(key, []).extend(blocks)
    return merged


def blocks(tf: dict, section: str, kind: str | None = None) -> dict[str, dict]:
    out: dict[str, dict] = {}
    for block in tf.get(section, []):
        if kind is None:
            out.update(block)
        elif kind in block:
            out.update(block[kind])
    return out


def _one(v: Any) -> Any:
    """python-hcl2 wraps each attribute value, and a single nested block, in a one-element list."""
    if isinstance(v, list) and len(v) == 1:
        return v[0]
    return v


class TfEvaluator:
    def __init__(self, tf: dict, params: dict[str, Any]):
        self.tf = tf
        self.vars = {}
        for name, body in blocks(tf, "variable").items():
            if name in params:
                self.vars[name] = params[name]
            elif "default" in body:
                self.vars[name] = _one(body["default"])
            else:
                raise ModelError(f"terraform: variable {name} has no value")
        self.locals_raw = {}
        for block in tf.get("locals", []):
            self.locals_raw.update({k: v for k, v in block.items() if not k.startswith("__")})
        self.local_values: dict[str, Any] = {}
        self.scope = hclexpr.Scope(self.lookup)

    def value(self, raw: Any) -> Any:
        return hclexpr.value(_one(raw), self.scope)

    def resource(self, kind: str, name: str) -> dict:
        body = blocks(self.tf, "resource", kind).get(name)
        if body is None:
            raise ModelError(f"terraform: resource {kind}.{name} is missing")
        return body

    def attrs(self, kind: str, name: str) -> Any:
        """What `kind.name` evaluates to in an expression: a list of instances
        for a resource with `count`."""
        body = self.resource(kind, name)
        if "count" in body:
            return [self.one(kind, name)] * self.value(body["count"])
        return self.one(kind, name)

    def instances(self, kind: str, name: str) -> list:
        """The instances of `kind.name`: none, one, or `count` of them."""
        v = self.attrs(kind, name)
        return v if isinstance(v, list) else [v]

    def one(self, kind: str, name: str) -> Any:
        body = self.resource(kind, name)
        v = lambda key, default=None: self.value(body[key]) if key in body else default  # noqa: E731
        if kind == "aws_sqs_queue":
            n = v("name")
            return {"name": n, "arn": queue_arn(n), "url": queue_url(n), "id": queue_url(n)}
        if kind == "aws_dynamodb_table":
            n = v("name")
            return {"name": n, "arn": table_arn(n), "id": n}
        if kind == "aws_cloudwatch_log_group":
            n = v("name")
            return {"name": n, "arn": log_group_arn(n), "id": n}
        if kind == "aws_iam_role":
            n = v("name") or (v("name_prefix", "") + "0000")
            return {"name": n, "id": n, "arn": role_arn(n)}
        if kind == "aws_lambda_function":
            n = v("function_name")
            return {"function_name": n, "arn": function_arn(n), "id": n}
        if kind == "aws_cloudwatch_event_rule":
            n = v("name")
            return {"name": n, "arn": rule_arn(n), "id": n}
        if kind == "aws_secretsmanager_secret":
            return {"arn": GENERATED_SECRET_ARN, "id": GENERATED_SECRET_ARN}
        if kind == "random_password":
            return {"result": random_value(name), "id": random_value(name)}
        if kind == "aws_iam_policy":
            n = v("name") or (v("name_prefix", "") + "0000")
            return {"name": n, "arn": policy_arn(n), "id": policy_arn(n)}
        if kind == "aws_secretsmanager_secret_version":
            return {"secret_string": secret_value(v("secret_id")), "id": f"{kind}.{name}"}
        return {"id": f"{kind}.{name}"}

    def data(self, kind: str, name: str) -> Any:
        body = blocks(self.tf, "data", kind).get(name)
        if body is None:
            raise ModelError(f"terraform: data source {kind}.{name} is missing")
        if kind == "aws_iam_policy_document":
            return {"json": json.dumps(self.policy_document(body))}
        if kind == "aws_arn":
            parts = str(self.value(body["arn"])).split(":", 5)
            return {"partition": parts[1], "service": parts[2], "region": parts[3], "account": parts[4], "resource": parts[5]}
        if kind == "aws_secretsmanager_secret_version":
            count = self.value(body["count"]) if "count" in body else None
            item = {"secret_string": secret_value(self.value(body["secret_id"]))}
            return [item] * count if count is not None else item
        return {}

    def policy_document(self, body: dict) -> dict:
        statements = []

        def add(st: dict) -> None:
            principals = st.get("principals")
            entry = {
                "Effect": self.value(st["effect"]) if "effect" in st else "Allow",
                "Action": self.value(st.get("actions", [[]])),
            }
            if "sid" in st:
                entry["Sid"] = self.value(st["sid"])
            if "condition" in st:
                entry["Condition"] = {}
                for c in st["condition"]:
                    entry["Condition"].setdefault(self.value(c["test"]), {})[self.value(c["variable"])] = self.value(c["values"])
            if "resources" in st:
                entry["Resource"] = self.value(st["resources"])
            if "not_actions" in st:
                entry["NotAction"] = self.value(st["not_actions"])
            if "not_resources" in st:
                entry["NotResource"] = self.value(st["not_resources"])
            if principals:
                p = _one(principals)
                entry["Principal"] = {self.value(p["type"]): self.value(p["identifiers"])}
            statements.append(entry)

        for source in self.value(body.get("source_policy_documents", [[]])) or []:
            for st in policy_statements(source):
                statements.append(
                    {"Effect": st["effect"], "Action": st["actions"], "Resource": st["resources"], **({"Sid": st["sid"]} if st["sid"] else {})}
                )
        for st in body.get("statement", []):
            add(st)
        for dyn in body.get("dynamic", []):
            spec = dyn.get("statement")
            if spec is None:
                continue
            for _ in self.value(spec["for_each"]):
                for content in spec.get("content", []):
                    add(content)
        return {"Version": "2012-10-17", "Statement": statements}

    def lookup(self, name: str) -> Any:
        if name == "var":
            return self.vars
        if name == "local":
            return _Lazy(self.local)
        if name == "data":
            return _Lazy(lambda kind: _Lazy(lambda n: self.data(kind, n)))
        if name == "path":
            return {"module": "."}
        if name.startswith("aws_") or name == "random_password":
            return _Lazy(lambda n: self.attrs(name, n))
        raise hclexpr.HclError(f"unknown reference {name}")

    def local(self, name: str) -> Any:
        if name not in self.local_values:
            if name not in self.locals_raw:
                raise hclexpr.HclError(f"local.{name} is not defined")
            self.local_values[name] = self.value(self.locals_raw[name])
        return self.local_values[name]


class _Lazy:
    def __init__(self, get):
        self.get = get

    def attr(self, name: str) -> Any:
        return self.get(name)


def terraform_model(tf: dict, params: dict[str, Any]) -> dict:
    """The model of the Terraform module `tf` (load_terraform) with these variable values."""
    t = TfEvaluator(tf, params)
    model: dict[str, Any] = {"queues": {}, "functions": {}, "mappings": {}, "roles": {}, "log_groups": {}}

    for role, key in (("work", "work"), ("dead_letter_queue", "dead_letter")):
        name = TF_NAMES[role]
        body = t.resource("aws_sqs_queue", name)
        get = lambda k, d=None: t.value(body[k]) if k in body else d  # noqa: E731
        props = {
            "VisibilityTimeout": get("visibility_timeout_seconds", 30),
            "MessageRetentionPeriod": get("message_retention_seconds", 345600),
            "SqsManagedSseEnabled": get("sqs_managed_sse_enabled", False),
            "KmsMasterKeyId": get("kms_master_key_id"),
            "RedrivePolicy": get("redrive_policy"),
        }
        q = _sqs_queue(props, get("name"))
        for allow_name, allow in blocks(tf, "resource", "aws_sqs_queue_redrive_allow_policy").items():
            if t.value(allow["queue_url"]) == q["url"]:
                a = json.loads(t.value(allow["redrive_allow_policy"]))
                q["redrive_allow"] = {"permission": a.get("redrivePermission"), "sources": sorted(a.get("sourceQueueArns", []))}
        model["queues"][key] = q

    body = t.resource("aws_dynamodb_table", TF_NAMES["table"])
    get = lambda k, d=None: t.value(body[k]) if k in body else d  # noqa: E731
    types = {t.value(a["name"]): t.value(a["type"]) for a in body.get("attribute", [])}
    key_schema = [(get("hash_key"), types.get(get("hash_key")), "HASH")]
    if "range_key" in body:
        key_schema.append((get("range_key"), types.get(get("range_key")), "RANGE"))
    ttl = _one(body.get("ttl", [{}]))
    pitr = _one(body.get("point_in_time_recovery", [{}]))
    sse = _one(body.get("server_side_encryption", [{}]))
    model["table"] = {
        "name": get("name"),
        "arn": table_arn(get("name")),
        "key": key_schema,
        "ttl": (t.value(ttl["attribute_name"]) if "attribute_name" in ttl else None, bool(t.value(ttl.get("enabled", False)))),
        "pitr": bool(t.value(pitr.get("enabled", False))),
        "sse": bool(t.value(sse.get("enabled", False))),
        "billing": get("billing_mode", "PROVISIONED"),
        "deletion_protection": bool(get("deletion_protection_enabled", False)),
    }

    for name, body in blocks(tf, "resource", "aws_cloudwatch_log_group").items():
        n = t.value(body["name"])
        model["log_groups"][name] = {"name": n, "arn": log_group_arn(n) + ":*", "retention": t.value(body.get("retention_in_days"))}

    functions = blocks(tf, "resource", "aws_lambda_function")
    for key in ("worker", "dead_letter"):
        body = functions.get(key)
        if body is None:
            raise ModelError(f"terraform: resource aws_lambda_function.{key} is missing")
        get = lambda k, d=None, b=body: t.value(b[k]) if k in b else d  # noqa: E731
        env = _one(body.get("environment", [{}]))
        logging = _one(body.get("logging_config", [{}]))
        tracing = _one(body.get("tracing_config", [{}]))
        name = get("function_name")
        lg = lambda k: t.value(logging[k]) if k in logging else None  # noqa: E731
        arch = get("architectures", ["x86_64"])
        model["functions"][key] = {
            "name": name,
            "arn": function_arn(name),
            "runtime": get("runtime"),
            "handler": get("handler"),
            "arch": arch if isinstance(arch, list) else [arch],
            "timeout": get("timeout", 3),
            "memory": get("memory_size", 128),
            "env": {k: str(v) for k, v in (t.value(env["variables"]) if "variables" in env else {}).items()},
            "log_format": lg("log_format") or "Text",
            "app_log_level": lg("application_log_level"),
            "system_log_level": lg("system_log_level"),
            "log_group": lg("log_group"),
            "role": get("role"),
            "tracing": t.value(tracing["mode"]) if "mode" in tracing else None,
            "code": get("filename"),
        }

    for name, body in blocks(tf, "resource", "aws_lambda_event_source_mapping").items():
        get = lambda k, d=None, b=body: t.value(b[k]) if k in b else d  # noqa: E731
        scaling = _one(body.get("scaling_config", [{}]))
        function = get("function_name")
        key = next((k for k, f in model["functions"].items() if function in (f["arn"], f["name"])), name)
        model["mappings"][key] = {
            "source": get("event_source_arn"),
            "function": function_arn(function) if not str(function).startswith("arn:") else function,
            "batch_size": get("batch_size", 10),
            "window": get("maximum_batching_window_in_seconds", 0),
            "response_types": get("function_response_types", []),
            "max_concurrency": t.value(scaling["maximum_concurrency"]) if "maximum_concurrency" in scaling else None,
            "enabled": get("enabled", True),
        }

    roles = {r["arn"]: n for n in blocks(tf, "resource", "aws_iam_role") for r in t.instances("aws_iam_role", n)}
    ids = {r["id"]: r["arn"] for n in blocks(tf, "resource", "aws_iam_role") for r in t.instances("aws_iam_role", n)}
    per_role: dict[str, dict] = {arn: {"arn": arn, "statements": [], "managed": []} for arn in roles}
    for name, body in blocks(tf, "resource", "aws_iam_role_policy").items():
        count = t.value(body["count"]) if "count" in body else 1
        if count == 0:
            continue
        arn = ids.get(t.value(body["role"]))
        if arn is None:
            raise ModelError(f"terraform: aws_iam_role_policy.{name} is on no role of the module")
        per_role[arn]["statements"] += policy_statements(t.value(body["policy"]))
    for name, body in blocks(tf, "resource", "aws_iam_role_policy_attachment").items():
        arn = ids.get(t.value(body["role"]))
        if arn is None:
            raise ModelError(f"terraform: aws_iam_role_policy_attachment.{name} is on no role of the module")
        if "for_each" in body or "count" in body:
            items = t.value(body["for_each"]) if "for_each" in body else range(t.value(body["count"]))
            for i, item in enumerate(items):
                t.scope.bound = {"each": {"value": item, "key": item}, "count": {"index": i}}
                per_role[arn]["managed"].append(t.value(body["policy_arn"]))
            t.scope.bound = {}
        else:
            per_role[arn]["managed"].append(t.value(body["policy_arn"]))
    for key, f in model["functions"].items():
        if f["role"] in per_role:
            r = per_role[f["role"]]
            r["managed"] = sorted(r["managed"])
            model["roles"][key] = r

    model["schedules"] = {}
    for name, body in blocks(tf, "resource", "aws_scheduler_schedule").items():
        items = t.value(body["for_each"]) if "for_each" in body else {None: None}
        for k, v in items.items():
            t.scope.bound = {"each": {"key": k, "value": v}}
            get = lambda key, d=None, b=body: t.value(b[key]) if key in b else d  # noqa: E731
            target = _one(body.get("target", [{}]))
            window = _one(body.get("flexible_time_window", [{}]))
            role_arn_ = t.value(target["role_arn"]) if "role_arn" in target else None
            role = None
            role_name = roles.get(role_arn_)
            if role_name is not None:
                r = t.resource("aws_iam_role", role_name)
                role = {
                    "trust": _trust(t.value(r["assume_role_policy"])),
                    "trust_conditions": _trust_conditions(t.value(r["assume_role_policy"])),
                    "statements": per_role[role_arn_]["statements"],
                    "managed": sorted(per_role[role_arn_]["managed"]),
                }
            model["schedules"][get("name")] = _schedule(
                get("schedule_expression"),
                get("schedule_expression_timezone"),
                t.value(window["mode"]) if "mode" in window else None,
                t.value(target["arn"]) if "arn" in target else None,
                t.value(target["input"]) if "input" in target else None,
                role,
                get("group_name"),
            )
        t.scope.bound = {}

    model["alarms"] = {}
    alarms = blocks(tf, "resource", "aws_cloudwatch_metric_alarm")
    for key, name in TF_ALARMS.items():
        if name not in alarms:
            continue
        body = alarms[name]
        get = lambda k, d=None, b=body: t.value(b[k]) if k in b else d  # noqa: E731
        model["alarms"][key] = {
            "namespace": get("namespace"),
            "metric": get("metric_name"),
            "dimensions": get("dimensions", {}),
            "statistic": get("statistic"),
            "period": get("period"),
            "evaluation_periods": get("evaluation_periods"),
            "threshold": get("threshold"),
            "comparison": get("comparison_operator"),
            "missing": get("treat_missing_data"),
            "actions": sorted(get("alarm_actions", [])),
            "ok_actions": sorted(get("ok_actions", [])),
            "queries": sorted(
                (
                    _query(
                        t.value(q["id"]) if "id" in q else None,
                        t.value(q["expression"]) if "expression" in q else None,
                        t.value(q["return_data"]) if "return_data" in q else None,
                        {
                            "namespace": t.value(m["namespace"]) if "namespace" in m else None,
                            "metric": t.value(m["metric_name"]) if "metric_name" in m else None,
                            "dimensions": t.value(m["dimensions"]) if "dimensions" in m else {},
                        }
                        if (m := _one(q.get("metric", [{}])))
                        else None,
                        t.value(m["stat"]) if m and "stat" in m else None,
                        t.value(m["period"]) if m and "period" in m else None,
                    )
                    for q in body.get("metric_query", [])
                ),
                key=lambda q: str(q["id"]),
            ),
        }
    model["stack_roles"] = {}
    for key, name in (("worker", "worker"), ("dead_letter", "dead_letter"), ("scheduler", "scheduler")):
        if name in blocks(tf, "resource", "aws_iam_role"):
            for r in t.instances("aws_iam_role", name):
                model["stack_roles"][key] = r["arn"]

    # The timer index: its table, the rule that asks for a sweep each minute,
    # and the queue policy that lets only that rule send through EventBridge.
    body = t.resource("aws_dynamodb_table", TF_TIMER_TABLE)
    get = lambda k, d=None: t.value(body[k]) if k in body else d  # noqa: E731
    props = {
        "TableName": get("name"),
        "BillingMode": get("billing_mode", "PROVISIONED"),
        "AttributeDefinitions": [{"AttributeName": t.value(a["name"]), "AttributeType": t.value(a["type"])} for a in body.get("attribute", [])],
        "TimeToLiveSpecification": {
            "AttributeName": t.value(_one(body.get("ttl", [{}])).get("attribute_name")),
            "Enabled": t.value(_one(body.get("ttl", [{}])).get("enabled", False)),
        },
        "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": t.value(_one(body.get("point_in_time_recovery", [{}])).get("enabled", False))},
        "SSESpecification": {"SSEEnabled": t.value(_one(body.get("server_side_encryption", [{}])).get("enabled", False))},
        "DeletionProtectionEnabled": get("deletion_protection_enabled", False),
    }
    keys = [(get("hash_key"), "HASH")] + ([(get("range_key"), "RANGE")] if "range_key" in body else [])
    model["timer_table"] = _table(props, lambda _: keys)
    targets = blocks(tf, "resource", "aws_cloudwatch_event_target")
    model["sweep_rules"] = {}
    for name, body in blocks(tf, "resource", "aws_cloudwatch_event_rule").items():
        get = lambda k, d=None, b=body: t.value(b[k]) if k in b else d  # noqa: E731
        rule = get("name")
        enabled = get("is_enabled", True) in (True, "true")
        model["sweep_rules"][rule] = _rule(
            rule,
            get("schedule_expression"),
            get("state", "ENABLED" if enabled else "DISABLED"),
            [
                (t.value(tb["arn"]), t.value(tb["input"]) if "input" in tb else None, t.value(tb["role_arn"]) if "role_arn" in tb else None)
                for tb in targets.values()
                if t.value(tb["rule"]) == rule
            ],
        )
    model["queue_policies"] = {}
    for name, body in blocks(tf, "resource", "aws_sqs_queue_policy").items():
        arn = queue_arn(str(t.value(body["queue_url"])).rsplit("/", 1)[-1])
        model["queue_policies"].setdefault(arn, []).extend(resource_statements(t.value(body["policy"])))

    # Signing: the secrets the module creates (their value from a version
    # holding a random_password), the policies for producers, the outputs.
    signing: dict[str, Any] = {"secrets": {}, "read_policies": [], "outputs": {}}
    passwords = blocks(tf, "resource", "random_password")
    versions = blocks(tf, "resource", "aws_secretsmanager_secret_version")
    for name in blocks(tf, "resource", "aws_secretsmanager_secret"):
        for secret in t.instances("aws_secretsmanager_secret", name):
            spec = generated_secret(None, None, None, None, False)
            for vname, vbody in versions.items():
                if ("count" in vbody and not t.value(vbody["count"])) or t.value(vbody["secret_id"]) not in (secret["arn"], secret["id"]):
                    continue
                text = t.value(vbody["secret_string"]) if "secret_string" in vbody else None
                try:
                    fields = json.loads(text) if isinstance(text, str) else None
                except json.JSONDecodeError:
                    fields = None
                random = [k for k, val in (fields or {}).items() if isinstance(val, str) and val.startswith("<random_password.")]
                if len(random) != 1:
                    spec = generated_secret(text, None, None, None, False)
                    continue
                pw = passwords.get(fields[random[0]][len("<random_password.") : -1], {})
                template = {k: val for k, val in fields.items() if k != random[0]}
                letters_and_digits = "special" in pw and t.value(pw["special"]) is False
                spec = generated_secret(None, template, random[0], t.value(pw["length"]) if "length" in pw else None, letters_and_digits)
            signing["secrets"][secret["arn"]] = spec
    policy_arns = []
    for name, body in blocks(tf, "resource", "aws_iam_policy").items():
        for policy in t.instances("aws_iam_policy", name):
            signing["read_policies"].append(policy_statements(t.value(body["policy"])))
            policy_arns.append(policy["arn"])
    outputs = blocks(tf, "output")
    for key, name in (("secret_arn", "signing_secret_arn"), ("read_policy", "signing_key_read_policy_arn")):
        out = outputs.get(name)
        v = t.value(out["value"]) if out is not None else None
        signing["outputs"][key] = READ_POLICY if v in policy_arns else v
    model["signing"] = signing
    return model


def _table(props: dict, key_of) -> dict:
    """A table as the model shows it (CloudFormation property names in `props`)."""
    types = {a["AttributeName"]: a["AttributeType"] for a in props.get("AttributeDefinitions", [])}
    ttl = props.get("TimeToLiveSpecification") or {}
    name = props.get("TableName", "")
    return {
        "name": name,
        "arn": table_arn(name),
        "key": [(attr, types.get(attr), kind) for attr, kind in key_of(props)],
        "ttl": (ttl.get("AttributeName"), str(ttl.get("Enabled")).lower() == "true"),
        "pitr": str((props.get("PointInTimeRecoverySpecification") or {}).get("PointInTimeRecoveryEnabled")).lower() == "true",
        "sse": str((props.get("SSESpecification") or {}).get("SSEEnabled")).lower() == "true",
        "billing": props.get("BillingMode", "PROVISIONED"),
        "deletion_protection": str(props.get("DeletionProtectionEnabled")).lower() == "true",
    }


def _rule(name: str, schedule: Any, state: Any, targets: list[tuple]) -> dict:
    """An EventBridge rule: its schedule and targets (their input parsed as JSON)."""

    def parsed(text: Any) -> Any:
        try:
            return json.loads(text) if isinstance(text, str) else text
        except json.JSONDecodeError:
            return {"unparsable": text}

    return {
        "name": name,
        "arn": rule_arn(name),
        "schedule": schedule,
        "state": state,
        "targets": sorted(
            ({"arn": arn, "input": parsed(text), "role": role} for arn, text, role in targets),
            key=lambda x: json.dumps(x, sort_keys=True),
        ),
    }


def resource_statements(doc: Any) -> list[dict]:
    """The statements of a resource policy, with principals and conditions, in
    one form for both tools (principals as "Service:name" or "*"; condition
    values as lists of strings), sorted."""
    if isinstance(doc, str):
        doc = json.loads(doc)
    out = []
    for st in _as_list(doc.get("Statement")):
        principal = st.get("Principal")
        who: list[str] = []
        if principal is None:
            who = []
        elif principal == "*" or not isinstance(principal, dict):
            who = ["*"]
        else:
            for kind, ids in principal.items():
                who += ["*" if (kind in ("*", "AWS") and i == "*") else f"{kind}:{i}" for i in _as_list(ids)]
        conditions = {
            op: {k: sorted(str(v).lower() if isinstance(v, bool) else str(v) for v in _as_list(vals)) for k, vals in (kv or {}).items()}
            for op, kv in (st.get("Condition") or {}).items()
        }
        out.append(
            {
                "sid": st.get("Sid"),
                "effect": st.get("Effect"),
                "principals": sorted(set(who)),
                "actions": sorted(_as_list(st.get("Action"))),
                "resources": sorted(_as_list(st.get("Resource"))),
                "not": sorted(k for k in ("NotAction", "NotResource", "NotPrincipal") if k in st),
                "conditions": conditions,
            }
        )
    return sorted(out, key=lambda x: json.dumps(x, sort_keys=True))
