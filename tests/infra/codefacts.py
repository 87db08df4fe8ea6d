"""What the Rust code says a deployment must provide, read from its sources.

The value checks compare the templates with these facts, so a template that
drifts from the code (or code that drifts from the templates) fails.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path


class CodeError(Exception):
    """A fact the checks need is no longer where they read it."""


@dataclass(frozen=True)
class Facts:
    env_queue_url: str  # the variable holding the work queue's URL
    env_table_name: str  # ... the table's name
    env_record_ttl_days: str  # ... the records' TTL in whole days
    env_vars: tuple[str, ...]  # every variable vow::aws reads (ENV_VARS)
    env_signing_keys: str  # the signing keys' variable (never set by the stacks: keys stay out of the environment)
    env_signing_secret_arn: str  # the variable naming the secret the keys are read from at start-up
    env_unsigned: str  # the variable recording the choice to run unsigned
    env_schedules: str  # the variable declaring the schedules whose start messages the worker accepts
    key: str  # the table's partition key attribute
    key_type: str  # its type (S, N, B)
    ttl: str  # the TTL attribute
    batch_size: int  # messages per batch the poller (like the event source) takes
    retention: int  # message retention the code's own setup gives queues (seconds)
    ttl_whole_days: bool  # the TTL variable is parsed as an unsigned integer
    reads_lambda_log_level: bool  # the functions read AWS_LAMBDA_LOG_LEVEL (JSON logging)
    env_timer_table: str  # the variable naming the timer index's table
    timer_key: tuple[tuple[str, str, str], ...]  # the timer table's key: (attribute, type, key type)
    sweep_body: str  # the message that asks a worker to sweep the timer index
    ttl_min_days: int  # the fewest days VOW_RECORD_TTL_DAYS (and the builder) accept
    ttl_max_days: int  # the most
    metric_namespace: str  # the namespace of the EMF metrics the functions print (emf::NAMESPACE)
    metric_dimension: str  # their one dimension, whose value is the function's name
    refused_metric: str  # the metric counting messages refused for failing verification (BatchStats::refused)


def _const(text: str, name: str, path: Path) -> str:
    m = re.search(rf'pub const {name}: &str = "([^"]+)";', text)
    if not m:
        raise CodeError(f"{path}: no `pub const {name}: &str`")
    return m.group(1)


def read(root: Path) -> Facts:
    aws = root / "sdk/src/aws/mod.rs"
    aws_text = aws.read_text()
    consts = {n: _const(aws_text, n, aws) for n in ("ENV_QUEUE_URL", "ENV_TABLE_NAME", "ENV_RECORD_TTL_DAYS", "ENV_TIMER_TABLE")}
    m = re.search(r"pub const ENV_VARS: \[&str; \d+\] = \[([^\]]*)\];", aws_text)
    if not m:
        raise CodeError(f"{aws}: no `pub const ENV_VARS`")
    names = [n.strip() for n in m.group(1).split(",") if n.strip()]
    unknown = [n for n in names if n not in consts]
    if unknown:
        raise CodeError(f"{aws}: ENV_VARS names {unknown}, which the checks do not know the value of")
    signing = root / "sdk/src/signing.rs"
    start = root / "sdk/src/engine/start_message.rs"
    store = root / "sdk/src/aws/store.rs"
    store_text = store.read_text()
    setup = root / "sdk/src/aws/setup.rs"
    setup_text = setup.read_text()
    key_type = re.search(r"\.attribute_type\(ScalarAttributeType::(\w)\)", setup_text)
    retention = re.search(r"MessageRetentionPeriod, \"(\d+)\"", setup_text)
    poller = root / "sdk/src/poller.rs"
    batch = re.search(r"batch_size: (\d+),", poller.read_text())
    if not (key_type and retention and batch):
        raise CodeError("the key type (setup.rs), queue retention (setup.rs) or batch size (poller.rs) moved")
    timers = root / "sdk/src/aws/timers.rs"
    timers_text = timers.read_text()
    timer_setup = re.search(
        r"\.key_schema\(key\(super::timers::(\w+), KeyType::Hash\)\?\)\s*"
        r"\.key_schema\(key\(super::timers::(\w+), KeyType::Range\)\?\)",
        setup_text,
    )
    sweep = root / "sdk/src/engine/sweep.rs"
    sweep_body = re.search(r'pub const SWEEP_BODY: &str = r#"(.+?)"#;', sweep.read_text())
    if not (timer_setup and sweep_body):
        raise CodeError("the timer table's key (setup.rs ensure_timer_table) or SWEEP_BODY (engine/sweep.rs) moved")
    if "super::store::TTL" not in timers_text:
        raise CodeError(f"{timers}: the timer index no longer keeps its TTL in the promise table's TTL attribute")
    timer_key = tuple(
        (_const(timers_text, const, timers), "S", kind)
        for const, kind in ((timer_setup.group(1), "HASH"), (timer_setup.group(2), "RANGE"))
    )
    store_rs = root / "sdk/src/store.rs"
    store_rs_text = store_rs.read_text()
    ttl_range = {
        n: re.search(rf"pub const {n}: u64 = ([0-9_]+);", store_rs_text) for n in ("MIN_RECORD_TTL_DAYS", "MAX_RECORD_TTL_DAYS")
    }
    if not all(ttl_range.values()):
        raise CodeError(f"{store_rs}: no `pub const MIN_RECORD_TTL_DAYS: u64` / `MAX_RECORD_TTL_DAYS`")
    if "MIN_RECORD_TTL_DAYS..=MAX_RECORD_TTL_DAYS" not in aws_text:
        raise CodeError(f"{aws}: VOW_RECORD_TTL_DAYS is no longer checked against MIN/MAX_RECORD_TTL_DAYS")
    emf = root / "sdk/src/emf.rs"
    emf_text = emf.read_text()
    refused = re.search(r'count\("(\w+)", stats\.refused\)', emf_text)
    dimension = re.search(r'line\(NAMESPACE, &\[\("(\w+)", function\)\]', emf_text)
    serve = root / "lambda/src/serve.rs"
    if not (refused and dimension):
        raise CodeError(f"{emf}: batch_line no longer publishes stats.refused, or its dimension moved")
    if not re.search(r'let function = std::env::var\("AWS_LAMBDA_FUNCTION_NAME"\)', serve.read_text()):
        raise CodeError(f"{serve}: the EMF dimension is no longer the function's name (AWS_LAMBDA_FUNCTION_NAME)")
    function_sources = [p for d in ("functions", "lambda") for p in (root / d).rglob("*.rs") if "target" not in p.parts]
    return Facts(
        env_queue_url=consts["ENV_QUEUE_URL"],
        env_table_name=consts["ENV_TABLE_NAME"],
        env_record_ttl_days=consts["ENV_RECORD_TTL_DAYS"],
        env_vars=tuple(consts[n] for n in names),
        env_signing_keys=_const(signing.read_text(), "ENV_SIGNING_KEYS", signing),
        env_signing_secret_arn=_const(signing.read_text(), "ENV_SIGNING_SECRET_ARN", signing),
        env_unsigned=_const(signing.read_text(), "ENV_UNSIGNED", signing),
        env_schedules=_const(start.read_text(), "ENV_SCHEDULES", start),
        key=_const(store_text, "KEY", store),
        key_type=key_type.group(1),
        ttl=_const(store_text, "TTL", store),
        batch_size=int(batch.group(1)),
        retention=int(retention.group(1)),
        ttl_whole_days="parse::<u64>()" in aws_text,
        reads_lambda_log_level=any("AWS_LAMBDA_LOG_LEVEL" in p.read_text() for p in function_sources),
        env_timer_table=consts["ENV_TIMER_TABLE"],
        timer_key=timer_key,
        sweep_body=sweep_body.group(1),
        ttl_min_days=int(ttl_range["MIN_RECORD_TTL_DAYS"].group(1).replace("_", "")),
        ttl_max_days=int(ttl_range["MAX_RECORD_TTL_DAYS"].group(1).replace("_", "")),
        metric_namespace=_const(emf_text, "NAMESPACE", emf),
        metric_dimension=dimension.group(1),
        refused_metric=refused.group(1),
    )
