"""Checks on the values of a deployment model (stack.py) against the code (code.py).

Each function returns a list of failure messages; an empty list passes. The
same checks run on the SAM and the Terraform model, so both stacks making the
same mistake still fails.
"""

from __future__ import annotations

import json
import re
from typing import Any

from codefacts import Facts
from stack import GENERATED_SECRET_ARN, READ_POLICY, policy_statements

REPORT_FAILURES = ["ReportBatchItemFailures"]
RUNTIME, HANDLER, ARCH = "provided.al2023", "bootstrap", ["arm64"]
# AWS guidance for SQS event sources: visibility >= 6x the function timeout, so
# a message is not redelivered while a (retried) invocation still holds it.
VISIBILITY_FACTOR = 6
# A continuation waits up to the batching window before a worker sees it.
MAX_WINDOW = 5
DATA_TABLE_ACTIONS = ["dynamodb:BatchGetItem", "dynamodb:GetItem", "dynamodb:Query", "dynamodb:Scan"]
# The timer index: the worker writes far timers and the sweep's cursor
# (PutItem), reads the cursor (GetItem) and a minute's timers (Query); the
# dead-letter function writes a dead-lettered far timer again, after reading
# the cursor.
TIMER_ACTIONS = {
    "worker": ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query"],
    "dead_letter": ["dynamodb:GetItem", "dynamodb:PutItem"],
}
# The sweep: once a minute, from an EventBridge rule.
SWEEP_SCHEDULE = "rate(1 minute)"
EVENTS = "Service:events.amazonaws.com"
# The oldest message alarm fires at least this long before a message would
# expire (the queues' retention), so there is a day to act.
ALARM_LEAD = 86_400
# The refused-messages alarm: the Sum of each function's refused count over
# 5 minutes, added up (a missing point counts 0); any one message fires it.
REFUSED_PERIOD = 300
REFUSED_TERM = re.compile(r"\s*FILL\(\s*([a-z][A-Za-z0-9_]*)\s*,\s*0\s*\)\s*")
# The signing key a stack generates: the JSON SigningKeys::parse_secret reads,
# {"kid": "k1", "key": <generated>}, the key long and of letters and digits
# only (no character the `id=secret,...` spec or JSON would need escaped).
SIGNING_TEMPLATE, SIGNING_FIELD, SIGNING_MIN_LENGTH = {"kid": "k1"}, "key", 64
GET_SECRET = "secretsmanager:GetSecretValue"
# The statement that denies requests without TLS, on every queue of the stack.
TLS_DENY = {"effect": "Deny", "principals": ["*"], "conditions": {"Bool": {"aws:SecureTransport": ["false"]}}}


def required_grants(model: dict, params: dict, key: str) -> set[tuple[str, str]]:
    """(action, resource) pairs each function's code uses; nothing more may be granted.

    worker: the SQS event source consumes the work queue with the function's
    role; tasks' children and successors are sent to it (SqsQueue::send,
    SendMessageBatch); DynamoStore reads (GetItem: a redelivery checking its
    slot), reads out-of-line bodies and joins (BatchGetItem), stores large
    values (PutItem) and settles (UpdateItem). dead_letter: consumes the
    dead-letter queue, sends continuations to the work queue, reads a body
    stored out of line (BatchGetItem), settles (UpdateItem), stores a large
    outcome (PutItem). Both write their own log group and X-Ray segments.
    """
    q, table = model["queues"], model["table"]["arn"]
    logs = model["log_groups"][key]["arn"]
    source = q["work"]["arn"] if key == "worker" else q["dead_letter"]["arn"]
    grants = {(a, logs) for a in ("logs:CreateLogStream", "logs:PutLogEvents")}
    grants |= {(a, "*") for a in ("xray:PutTraceSegments", "xray:PutTelemetryRecords")}
    grants |= {(a, source) for a in ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes")}
    grants.add(("sqs:SendMessage", q["work"]["arn"]))
    table_actions = ["dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:BatchGetItem"]
    if key == "worker":
        table_actions.append("dynamodb:GetItem")
        for name in params.get("data_table_names") or []:
            arn = table.rsplit("/", 1)[0] + "/" + name
            grants |= {(a, arn) for a in DATA_TABLE_ACTIONS}
    grants |= {(a, table) for a in table_actions}
    grants |= {(a, model["timer_table"]["arn"]) for a in TIMER_ACTIONS[key]}
    secret = signing_secret(params)
    if secret:
        grants.add((GET_SECRET, secret))  # the builder reads the keys at start-up
    return grants


def signing_mode(params: dict) -> str:
    return params.get("signing") or "generated"


def signing_secret(params: dict) -> str | None:
    """The secret the functions read their signing keys from: the generated
    one, the operator's (existing), or none (off)."""
    mode = signing_mode(params)
    if mode == "generated":
        return GENERATED_SECRET_ARN
    if mode == "existing":
        return params.get("signing_secret_arn")
    return None


def _pairs(statements: list[dict]) -> set[tuple[str, str]]:
    return {(a, r) for st in statements for a in st["actions"] for r in st["resources"]}


def check_model(model: dict, params: dict, facts: Facts, label: str) -> list[str]:
    errors: list[str] = []
    fail = lambda msg: errors.append(f"{label}: {msg}")  # noqa: E731
    q, table, fns, maps = model["queues"], model["table"], model["functions"], model["mappings"]
    work, dlq = q["work"], q["dead_letter"]

    # Queues.
    if not work["redrive"]:
        fail("the work queue has no redrive policy: failing messages would never reach the dead-letter function")
    else:
        if work["redrive"]["target"] != dlq["arn"]:
            fail(f"the work queue's redrive target is {work['redrive']['target']}, expected the dead-letter queue {dlq['arn']}")
        if work["redrive"]["max_receive"] != params.get("max_receive_count"):
            fail(f"maxReceiveCount is {work['redrive']['max_receive']}, expected max_receive_count {params['max_receive_count']}")
    if dlq["redrive"]:
        fail("the dead-letter queue has a redrive policy of its own: dead letters could move on unsettled")
    if not dlq["redrive_allow"] or dlq["redrive_allow"]["sources"] != [work["arn"]]:
        fail(f"the dead-letter queue's redrive allow policy is {dlq['redrive_allow']}, expected only the work queue")
    for name, queue, fn in (("work", work, "worker"), ("dead-letter", dlq, "dead_letter")):
        timeout = fns[fn]["timeout"]
        if queue["visibility"] < VISIBILITY_FACTOR * timeout:
            fail(
                f"the {name} queue's visibility timeout ({queue['visibility']} s) is under "
                f"{VISIBILITY_FACTOR}x its function's timeout ({timeout} s): messages are redelivered while still running"
            )
        if queue["retention"] != facts.retention:
            fail(f"the {name} queue keeps messages {queue['retention']} s, expected {facts.retention} s (14 days, the maximum)")
        if not queue["sse"]:
            fail(f"the {name} queue is not encrypted at rest")

    # Table.
    want_key = [(facts.key, facts.key_type, "HASH")]
    if table["key"] != want_key:
        fail(f"the table's key is {table['key']}, the code uses {want_key}")
    if table["ttl"] != (facts.ttl, True):
        fail(f"the table's TTL is {table['ttl']}, expected enabled on attribute {facts.ttl!r}: records would never expire")
    if not table["pitr"]:
        fail("point-in-time recovery is off on the table")
    if not table["sse"]:
        fail("server-side encryption is off on the table")
    if table["billing"] != "PAY_PER_REQUEST":
        fail(f"the table's billing mode is {table['billing']}, expected PAY_PER_REQUEST")

    # Functions.
    want_env = {
        facts.env_queue_url: work["url"],
        facts.env_table_name: table["name"],
        facts.env_record_ttl_days: str(params.get("record_ttl_days")),
        facts.env_timer_table: model["timer_table"]["name"],
    }
    if set(want_env) != set(facts.env_vars):
        fail(f"the checks know values for {sorted(want_env)}, the code reads {sorted(facts.env_vars)}")
    secret = signing_secret(params)
    if secret:
        want_env[facts.env_signing_secret_arn] = secret
    elif signing_mode(params) == "off":
        want_env[facts.env_unsigned] = "1"
    schedules = params.get("schedules") or {}
    for key, f in fns.items():
        if (f["runtime"], f["handler"], f["arch"]) != (RUNTIME, HANDLER, ARCH):
            fail(f"{key}: runtime/handler/architectures are {f['runtime']}/{f['handler']}/{f['arch']}")
        fn_env = dict(want_env)
        if key == "worker" and schedules:
            # Exactly the declared schedules, each with its task: the worker
            # accepts their unsigned start messages and refuses all others.
            fn_env[facts.env_schedules] = ",".join(f"{n}={schedules[n]['task']}" for n in sorted(schedules))
        for var, value in sorted(f["env"].items()):
            if value.startswith(("<string of secret", "<random_password.")):
                fail(f"{key}: {var} holds a signing key's value: the keys are read from Secrets Manager at start-up, never placed in the environment")
        for var in sorted(set(fn_env) | set(f["env"])):
            got, want = f["env"].get(var), fn_env.get(var)
            if want is None:
                fail(f"{key}: sets {var}, which the code does not read")
            elif got != want:
                fail(f"{key}: {var} is {got!r}, expected {want!r}")
        ttl_days = f["env"].get(facts.env_record_ttl_days, "")
        if facts.ttl_whole_days and not re.fullmatch(r"[0-9]+", ttl_days):
            fail(f"{key}: {facts.env_record_ttl_days}={ttl_days!r} is not a whole number of days")
        elif int(ttl_days or 0) * 86400 <= facts.retention:
            fail(f"{key}: records live {ttl_days} days, not longer than a message ({facts.retention} s)")
        elif not facts.ttl_min_days <= int(ttl_days) <= facts.ttl_max_days:
            fail(f"{key}: {facts.env_record_ttl_days}={ttl_days} is outside the code's {facts.ttl_min_days} to {facts.ttl_max_days}: every start-up would fail")
        if facts.reads_lambda_log_level and f["log_format"] != "JSON":
            fail(f"{key}: log format is {f['log_format']}: Lambda sets AWS_LAMBDA_LOG_LEVEL only with JSON")
        if f["app_log_level"] != params.get("log_level"):
            fail(f"{key}: application log level is {f['app_log_level']}, expected {params['log_level']}")
        if f["system_log_level"] not in ("DEBUG", "INFO", "WARN"):
            fail(f"{key}: system log level is {f['system_log_level']}")
        if f["log_group"] != model["log_groups"][key]["name"]:
            fail(f"{key}: logs to {f['log_group']}, not its log group {model['log_groups'][key]['name']}")
        if model["log_groups"][key]["retention"] != params.get("log_retention_days"):
            fail(f"{key}: log retention is {model['log_groups'][key]['retention']} days, expected {params['log_retention_days']}")
        if f["timeout"] != params.get("timeout"):
            fail(f"{key}: timeout is {f['timeout']}, expected the timeout parameter {params['timeout']}")
        if f["tracing"] != "Active":
            fail(f"{key}: tracing is {f['tracing']}")

    # Event source mappings.
    for key, source in (("worker", work["arn"]), ("dead_letter", dlq["arn"])):
        m = maps.get(key)
        if m is None:
            fail(f"{key}: no SQS event source mapping")
            continue
        if m["source"] != source:
            fail(f"{key}: consumes {m['source']}, expected {source}")
        if m["function"] != fns[key]["arn"]:
            fail(f"{key}: its event source mapping invokes {m['function']}")
        if m["batch_size"] != facts.batch_size:
            fail(f"{key}: batch size is {m['batch_size']}, the code's batches are {facts.batch_size}")
        if not isinstance(m["window"], int) or not 0 <= m["window"] <= MAX_WINDOW:
            fail(f"{key}: batching window is {m['window']} s, expected 0 to {MAX_WINDOW}")
        if m["response_types"] != REPORT_FAILURES:
            fail(f"{key}: function response types are {m['response_types']}: without ReportBatchItemFailures one failure redelivers the whole batch")
        if m["max_concurrency"] != params.get("max_concurrency") or not 2 <= int(m["max_concurrency"] or 0) <= 1000:
            fail(f"{key}: maximum concurrency is {m['max_concurrency']}, expected max_concurrency {params['max_concurrency']} (2 to 1000)")
        if m["enabled"] not in (True, "true"):
            fail(f"{key}: the event source mapping is disabled")

    # IAM.
    extra = json.loads(params.get("extra_policy_json")) if params.get("extra_policy_json") else {"Statement": []}
    extra_pairs = _pairs(policy_statements(extra))
    for key in fns:
        role = model["roles"].get(key)
        if role is None:
            fail(f"{key}: no execution role")
            continue
        for st in role["statements"]:
            if st["effect"] != "Allow" or st["not_action"] or st["not_resource"]:
                fail(f"{key}: role has a {st['effect']} statement {st['actions']} on {st['resources']}; vow's roles only Allow")
        allowed = _pairs([st for st in role["statements"] if st["effect"] == "Allow"])
        want = required_grants(model, params, key)
        for action, resource in sorted(want - allowed):
            fail(f"{key}: role does not allow {action} on {resource}")
        for action, resource in sorted(allowed - want - (extra_pairs if key == "worker" else set())):
            fail(f"{key}: role allows {action} on {resource}, which nothing uses")
        want_managed = sorted(params.get("extra_policy_arns") or []) if key == "worker" else []
        if role["managed"] != want_managed:
            fail(f"{key}: managed policies are {role['managed']}, expected {want_managed}")

    # Schedules: each sends the documented start message to the work queue,
    # with a role that may send to that queue and do nothing else.
    prefix = fns["worker"]["name"].rsplit("-", 1)[0]
    want_names = {f"{prefix}-{n}": n for n in schedules}
    got = model.get("schedules", {})
    for extra_name in sorted(set(got) - set(want_names)):
        fail(f"schedule {extra_name} is not declared")
    for full, name in sorted(want_names.items()):
        sched = got.get(full)
        if sched is None:
            fail(f"schedule {name} is declared but not created (as {full})")
            continue
        decl = schedules[name]
        if sched["expression"] != decl["expression"] or sched["timezone"] != decl.get("timezone", "UTC"):
            fail(f"schedule {name} fires at {sched['expression']} in {sched['timezone']}, declared {decl['expression']} in {decl.get('timezone', 'UTC')}")
        if sched["target"] != work["arn"]:
            fail(f"schedule {name} sends to {sched['target']}, expected the work queue {work['arn']}")
        want_message = {
            "vow": "start",
            "schedule": name,
            "task": decl["task"],
            "input": json.loads(decl.get("input", "{}")),
            "at": "<aws.scheduler.scheduled-time>",
        }
        if sched["input"] != want_message:
            fail(f"schedule {name} sends {sched['input']!r}, expected the start message {want_message!r}")
        role = sched["role"]
        if role is None:
            fail(f"schedule {name} has no role of the stack")
            continue
        if role["trust"] != ["scheduler.amazonaws.com"]:
            fail(f"schedule {name}: its role may be assumed by {role['trust']}, expected only scheduler.amazonaws.com")
        # The confused-deputy guard: Scheduler assumes the role only for this
        # account's schedule group (aws:SourceArn is the group's ARN).
        _, partition, _, region, account = work["arn"].split(":")[:5]
        group_arn = f"arn:{partition}:scheduler:{region}:{account}:schedule-group/{sched['group']}"
        want_conditions = {"StringEquals": {"aws:SourceAccount": [account]}, "ArnEquals": {"aws:SourceArn": [group_arn]}}
        for conditions in role["trust_conditions"]:
            if conditions != want_conditions:
                fail(
                    f"schedule {name}: its role's trust has conditions {conditions}, expected aws:SourceAccount "
                    f"{account} and aws:SourceArn {group_arn} (the confused-deputy guard)"
                )
        for st in role["statements"]:
            if st["effect"] != "Allow" or st["not_action"] or st["not_resource"]:
                fail(f"schedule {name}: role has a {st['effect']} statement {st['actions']} on {st['resources']}")
        allowed = _pairs([st for st in role["statements"] if st["effect"] == "Allow"])
        want = {("sqs:SendMessage", work["arn"])}
        for action, resource in sorted(want - allowed):
            fail(f"schedule {name}: role does not allow {action} on {resource}")
        for action, resource in sorted(allowed - want):
            fail(f"schedule {name}: role allows {action} on {resource}, which nothing uses")
        if role["managed"]:
            fail(f"schedule {name}: role has managed policies {role['managed']}")

    # Alarms: the dead-letter queue holds messages (its function is not
    # draining it), the work queue's oldest message is old (work is stuck and
    # would expire at the retention, unsettled).
    topic = [params.get("alarm_topic_arn")] if params.get("alarm_topic_arn") else []
    common = {"namespace": "AWS/SQS", "statistic": "Maximum", "missing": "notBreaching", "actions": topic, "ok_actions": topic}
    want_alarms = {
        "dead_letter_depth": {
            **common,
            "metric": "ApproximateNumberOfMessagesVisible",
            "dimensions": {"QueueName": dlq["name"]},
            "threshold": 0,
            "comparison": "GreaterThanThreshold",
        },
        "work_age": {
            **common,
            "metric": "ApproximateAgeOfOldestMessage",
            "dimensions": {"QueueName": work["name"]},
            "threshold": params.get("oldest_message_alarm_seconds"),
            "comparison": "GreaterThanThreshold",
        },
    }
    alarms = model.get("alarms", {})
    for name, want_alarm in want_alarms.items():
        a = alarms.get(name)
        if a is None:
            fail(f"alarm {name}: missing")
            continue
        for k, v in want_alarm.items():
            if a.get(k) != v:
                fail(f"alarm {name}: {k} is {a.get(k)!r}, expected {v!r}")
        fires = _int_or_none(a.get("threshold"))
        window = (_int_or_none(a.get("period")) or 0) * (_int_or_none(a.get("evaluation_periods")) or 0)
        if name == "work_age" and (fires is None or fires + window > work["retention"] - ALARM_LEAD):
            fail(
                f"alarm {name}: fires after {fires} s + {window} s, not a day before the work queue's "
                f"retention ({work['retention']} s): messages would expire unsettled first"
            )
    errors += [f"{label}: {e}" for e in check_refused_alarm(model, facts, topic)]
    for name in sorted(set(alarms) - set(want_alarms) - {"refused"}):
        fail(f"alarm {name}: not one the checks know")

    errors += [f"{label}: {e}" for e in check_signing(model, params)]
    errors += [f"{label}: {e}" for e in check_timer_index(model, facts)]
    errors += [f"{label}: {e}" for e in check_queue_policies(model, params)]
    return errors


def check_refused_alarm(model: dict, facts: Facts, topic: list) -> list[str]:
    """The alarm on messages refused for failing verification: every function
    publishes its refused count (facts.refused_metric in facts.metric_namespace,
    dimension facts.metric_dimension = its name) after each batch; the alarm
    adds up each one's Sum over 5 minutes and fires at 1."""
    errors: list[str] = []
    fail = errors.append
    a = model.get("alarms", {}).get("refused")
    if a is None:
        return ["alarm refused: missing (nothing tells anyone that forged, altered or stale messages arrive)"]
    want = {
        "evaluation_periods": 1,
        "threshold": 1,
        "comparison": "GreaterThanOrEqualToThreshold",
        "missing": "notBreaching",
        "actions": topic,
        "ok_actions": topic,
    }
    for k, v in want.items():
        if a.get(k) != v:
            fail(f"alarm refused: {k} is {a.get(k)!r}, expected {v!r}")
    queries = a.get("queries") or []
    returned = [q for q in queries if q["return_data"] is True]
    if len(returned) != 1 or any(q["return_data"] is not False for q in queries if q not in returned):
        fail(f"alarm refused: {len(returned)} queries return data (others must say ReturnData false), expected exactly one: {queries}")
        return errors
    series = {q["id"]: q for q in queries if q is not returned[0]}
    counted: dict[str, str] = {}
    for q in series.values():
        got = (q["namespace"], q["metric"], sorted(q["dimensions"]), q["stat"], q["period"])
        if q["expression"] is not None or got != (facts.metric_namespace, facts.refused_metric, [facts.metric_dimension], "Sum", REFUSED_PERIOD):
            fail(
                f"alarm refused: query {q['id']} is {q['expression'] or got}, expected the Sum of "
                f"{facts.metric_namespace}/{facts.refused_metric} ({facts.metric_dimension}) over {REFUSED_PERIOD} s"
            )
            continue
        counted[q["dimensions"][facts.metric_dimension]] = q["id"]
    for key, fn in sorted(model["functions"].items()):
        if fn["name"] not in counted:
            fail(f"alarm refused: does not count the messages the {key} function ({fn['name']}) refuses")
    expression = returned[0]["expression"] or ""
    terms = [REFUSED_TERM.fullmatch(term) for term in expression.split("+")]
    ids = [m.group(1) for m in terms if m]
    if not all(terms) or sorted(ids) != sorted(series):
        fail(f"alarm refused: expression is {expression!r}, expected the sum of FILL(id, 0) over each of {sorted(series)}")
    return errors


def _int_or_none(v: Any) -> int | None:
    try:
        return int(v)
    except (TypeError, ValueError):
        return None


def check_signing(model: dict, params: dict) -> list[str]:
    """Messages are signed unless the operator chose otherwise (rule 10).

    generated (the default): the stack creates one secret whose value is made
    by AWS (CloudFormation's GenerateSecretString, Terraform's
    random_password), in the JSON the code reads; existing: none. Either way a
    managed policy lets producers read exactly that secret, and the outputs
    name the secret and the policy. off: no secret, no policy, no outputs.
    (The functions' variable and grant are checked with the others.)
    """
    errors: list[str] = []
    fail = errors.append
    signing = model.get("signing") or {"secrets": {}, "read_policies": [], "outputs": {}}
    mode, secret = signing_mode(params), signing_secret(params)
    secrets = signing["secrets"]
    if mode == "generated":
        spec = secrets.get(GENERATED_SECRET_ARN)
        if spec is None:
            fail("signing is 'generated' but the stack creates no secret")
        elif spec["literal"] or spec["template"] != SIGNING_TEMPLATE or spec["key"] != SIGNING_FIELD:
            fail(
                f"the signing secret is {spec}: expected {SIGNING_TEMPLATE} with the generated "
                f"field {SIGNING_FIELD!r} (a value written in a template is no secret)"
            )
        elif not isinstance(spec["length"], int) or spec["length"] < SIGNING_MIN_LENGTH or not spec["letters_and_digits"]:
            fail(f"the generated signing key is {spec['length']} characters, letters and digits only: {spec['letters_and_digits']}; expected at least {SIGNING_MIN_LENGTH} letters and digits")
        extra = sorted(set(secrets) - {GENERATED_SECRET_ARN})
    else:
        extra = sorted(secrets)
    if extra:
        fail(f"the stack creates secrets {extra}, which signing={mode!r} does not use")
    policies = signing["read_policies"]
    want_statement = [{"sid": "ReadSigningKeys", "effect": "Allow", "actions": [GET_SECRET], "not_action": False, "resources": [secret], "not_resource": False}]
    if secret and policies != [want_statement]:
        fail(f"the producers' policy is {policies}, expected one allowing {GET_SECRET} on {secret} and nothing else")
    if not secret and policies:
        fail(f"signing is {mode!r} but the stack creates managed policies {policies}")
    want_outputs = {"secret_arn": secret, "read_policy": READ_POLICY if secret else None}
    if signing["outputs"] != want_outputs:
        fail(f"the signing outputs are {signing['outputs']}, expected {want_outputs}")
    return errors


def check_timer_index(model: dict, facts: Facts) -> list[str]:
    """The timer index's table and the sweep rule (the grants, the functions'
    variable and the work queue's policy are checked with the others)."""
    errors: list[str] = []
    fail = errors.append
    timers, table, work = model["timer_table"], model["table"], model["queues"]["work"]
    want_key = list(facts.timer_key)
    if timers["key"] != want_key:
        fail(f"the timer table's key is {timers['key']}, the code uses {want_key}")
    if timers["ttl"] != (facts.ttl, True):
        fail(f"the timer table's TTL is {timers['ttl']}, expected enabled on attribute {facts.ttl!r}: swept timers would pile up")
    if not timers["pitr"]:
        fail("point-in-time recovery is off on the timer table")
    if not timers["sse"]:
        fail("server-side encryption is off on the timer table")
    if timers["billing"] != "PAY_PER_REQUEST":
        fail(f"the timer table's billing mode is {timers['billing']}, expected PAY_PER_REQUEST (nothing to pay while idle)")
    if timers["deletion_protection"] != table["deletion_protection"]:
        fail(f"the timer table's deletion protection is {timers['deletion_protection']}, the promise table's {table['deletion_protection']}")
    if timers["name"] == table["name"]:
        fail("the timer index shares the promise table")

    # Exactly one rule, once a minute, sending the sweep body to the work queue.
    rules = model["sweep_rules"]
    want_input = json.loads(facts.sweep_body)
    if len(rules) != 1:
        fail(f"expected one EventBridge rule (the sweep), found {sorted(rules)}")
    for name, rule in sorted(rules.items()):
        if rule["schedule"] != SWEEP_SCHEDULE:
            fail(f"sweep rule {name}: schedule is {rule['schedule']!r}, expected {SWEEP_SCHEDULE!r}: timers would fire late")
        if rule["state"] != "ENABLED":
            fail(f"sweep rule {name}: state is {rule['state']!r}: no timer further than 20 minutes would ever fire")
        want_targets = [{"arn": work["arn"], "input": want_input, "role": None}]
        if rule["targets"] != want_targets:
            fail(f"sweep rule {name}: targets are {rule['targets']}, expected {want_targets} (the work queue, the sweep body)")
    return errors


def check_queue_policies(model: dict, params: dict) -> list[str]:
    """The queues' resource policies.

    The work queue: EventBridge may send for the sweep rule only (aws:SourceArn);
    the producer roles (producer_role_arns) may send, also from another account;
    every other principal is denied sqs:SendMessage unless it is one of the
    stack's roles, a producer role, or an AWS service (whose only Allow is the
    sweep rule's): an identity policy granting sqs:SendMessage in the account
    is not enough. Both queues deny every request without TLS, and no policy
    allows anything to `*`.
    """
    errors: list[str] = []
    fail = errors.append
    work, dlq = model["queues"]["work"], model["queues"]["dead_letter"]
    policies = model["queue_policies"]
    rule_arns = sorted(r["arn"] for r in model["sweep_rules"].values())
    producers = sorted(params.get("producer_role_arns") or [])
    senders = sorted(set(model.get("stack_roles", {}).values()) | set(producers))
    for queue in sorted(set(policies) - {work["arn"], dlq["arn"]}):
        fail(f"a queue policy on {queue}, which is not one of the stack's queues")
    for queue, statements in sorted(policies.items()):
        for st in statements:
            if st["not"]:
                fail(f"queue policy {st['sid']}: {st['not']} are not allowed in vow's queue policies")
            if st["effect"] != "Allow":
                continue
            if "*" in st["principals"]:
                fail(f"queue policy {st['sid']}: allows {st['actions']} to any principal ('*')")
            if queue != work["arn"]:
                fail(f"queue policy {st['sid']}: allows {st['principals']} on {queue}; only the work queue takes messages from outside the stack")
                continue
            if st["actions"] != ["sqs:SendMessage"] or st["resources"] != [work["arn"]]:
                fail(f"queue policy {st['sid']}: allows {st['actions']} on {st['resources']}, expected sqs:SendMessage on the work queue")
            if st["principals"] == [EVENTS]:
                source = st["conditions"].get("ArnEquals", {}).get("aws:SourceArn")
                if st["conditions"] != {"ArnEquals": {"aws:SourceArn": rule_arns}} or source != rule_arns:
                    fail(f"queue policy {st['sid']}: conditions are {st['conditions']}, expected aws:SourceArn equal to the sweep rule {rule_arns}")
            elif st["principals"] != [f"AWS:{p}" for p in producers] or st["conditions"]:
                fail(
                    f"queue policy {st['sid']}: allows {st['principals']} (conditions {st['conditions']}), "
                    f"expected only {EVENTS} for the sweep rule and the producer roles {producers}"
                )
    work_policy = policies.get(work["arn"], [])
    allows = [st for st in work_policy if st["effect"] == "Allow"]
    if model["sweep_rules"] and not any(st["principals"] == [EVENTS] for st in allows):
        fail("the work queue's policy does not let the sweep rule send: EventBridge's messages would be refused")
    if producers and not any(st["principals"] == [f"AWS:{p}" for p in producers] for st in allows):
        fail(f"the work queue's policy does not let the producer roles {producers} send")
    want_deny = {
        "effect": "Deny",
        "principals": ["*"],
        "actions": ["sqs:SendMessage"],
        "resources": [work["arn"]],
        "conditions": {
            "ArnNotEquals": {"aws:PrincipalArn": senders},
            "BoolIfExists": {"aws:PrincipalIsAWSService": ["false"]},
        },
    }
    denies = [st for st in work_policy if st["effect"] == "Deny" and st["conditions"] != TLS_DENY["conditions"]]
    if not any(all(st.get(k) == v for k, v in want_deny.items()) for st in denies):
        fail(
            f"the work queue's policy does not deny sqs:SendMessage to every principal but the stack's roles "
            f"and the producer roles {senders} (ArnNotEquals aws:PrincipalArn, BoolIfExists "
            f"aws:PrincipalIsAWSService false): found {denies}"
        )
    # Nothing sends to the dead-letter queue (SQS moves messages there): every
    # principal but the stack's roles is denied sqs:SendMessage, as on the
    # work queue.
    stack_roles = sorted(set(model.get("stack_roles", {}).values()))
    want_dlq_deny = {
        **want_deny,
        "not": [],
        "resources": [dlq["arn"]],
        "conditions": {
            "ArnNotEquals": {"aws:PrincipalArn": stack_roles},
            "BoolIfExists": {"aws:PrincipalIsAWSService": ["false"]},
        },
    }
    dlq_denies = [st for st in policies.get(dlq["arn"], []) if st["effect"] == "Deny" and st["conditions"] != TLS_DENY["conditions"]]
    if not any(all(st.get(k) == v for k, v in want_dlq_deny.items()) for st in dlq_denies):
        fail(
            f"the dead-letter queue's policy does not deny sqs:SendMessage to every principal but the stack's roles "
            f"{stack_roles} (ArnNotEquals aws:PrincipalArn, BoolIfExists aws:PrincipalIsAWSService false): found {dlq_denies}"
        )
    for name, queue in (("work", work), ("dead-letter", dlq)):
        statements = policies.get(queue["arn"], [])
        if not any(all(st.get(k) == v for k, v in TLS_DENY.items()) and "sqs:*" in st["actions"] and st["resources"] == [queue["arn"]] for st in statements):
            fail(f"the {name} queue's policy does not deny requests without TLS")
    return errors


def check_parity(sam: dict, tf: dict, label: str) -> list[str]:
    """The two tools create the same stack (role names aside, which differ by design)."""
    errors = []
    for section in sorted(set(sam) | set(tf)):
        a, b = sam.get(section), tf.get(section)
        if section == "roles":  # statement order means nothing to IAM
            order = lambda sts: sorted(sts, key=lambda st: json.dumps(st, sort_keys=True))  # noqa: E731
            a = {k: {**v, "arn": None, "statements": order(v["statements"])} for k, v in (a or {}).items()}
            b = {k: {**v, "arn": None, "statements": order(v["statements"])} for k, v in (b or {}).items()}
        if section == "stack_roles":  # names differ by design: the same roles
            a, b = sorted(a or {}), sorted(b or {})
        if section == "queue_policies":  # the same roles, named as each tool names them
            a, b = _roles_named(a, sam.get("stack_roles")), _roles_named(b, tf.get("stack_roles"))
        if section == "functions":
            a = {k: {**v, "role": None, "code": None} for k, v in (a or {}).items()}
            b = {k: {**v, "role": None, "code": None} for k, v in (b or {}).items()}
        if a != b:
            errors.append(f"{label}: SAM and Terraform differ in {section}: {_diff(a, b)}")
    return errors


def _roles_named(value: Any, roles: dict | None) -> Any:
    """`value` with each of the stack's role ARNs replaced by `<role KEY>`, lists re-sorted."""
    text = json.dumps(value, sort_keys=True)
    for key, arn in (roles or {}).items():
        text = text.replace(json.dumps(arn), json.dumps(f"<role {key}>"))

    def resort(v: Any) -> Any:
        if isinstance(v, dict):
            return {k: resort(x) for k, x in v.items()}
        if isinstance(v, list):
            items = [resort(x) for x in v]
            return sorted(items, key=lambda x: json.dumps(x, sort_keys=True))
        return v

    return resort(json.loads(text))


def _diff(a: Any, b: Any, path: str = "") -> str:
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b), key=str):
            if a.get(k) != b.get(k):
                return _diff(a.get(k), b.get(k), f"{path}.{k}")
    return f"{path.lstrip('.')}: SAM {a!r}, Terraform {b!r}"
