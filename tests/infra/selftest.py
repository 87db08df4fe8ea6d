"""Shows that the value checks catch broken templates.

Each case copies the templates to a temporary directory, breaks one thing in
one template (the edit must match exactly once, so a moved template fails the
self-test instead of passing it vacuously), runs consistency.py on the copy,
and requires it to fail with the expected message. The unbroken copy must pass.

Usage (from the repository root): python tests/infra/selftest.py
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
SAM = "infra/sam/template.yaml"
TF = "infra/terraform/modules/vow/main.tf"
TF_VARS = "infra/terraform/modules/vow/variables.tf"
ORDERS_SAM = "examples/orders/template.yaml"
ORDERS_TF = "examples/orders/terraform/main.tf"

# The promise table's settings, told apart from the timer table's (which has a
# sort key after its partition key).
SAM_MAIN = "        - AttributeName: pk\n          KeyType: HASH\n      TimeToLiveSpecification:\n        AttributeName: ttl\n        Enabled: true\n"
SAM_MAIN_PITR = SAM_MAIN + "      PointInTimeRecoverySpecification:\n        PointInTimeRecoveryEnabled: true"
TF_MAIN = (
    '    name = "pk"\n    type = "S"\n  }\n\n  ttl {\n    attribute_name = "ttl"\n    enabled        = true\n  }\n\n'
    "  point_in_time_recovery {\n    enabled = true\n  }\n\n  server_side_encryption {\n    enabled = true"
)

# (name, file, text, replacement, expected message)
CASES = [
    (
        "the scheduler's role may send anything to SQS (SAM)",
        SAM,
        "              - Sid: SendStartMessages\n                Effect: Allow\n                Action: sqs:SendMessage\n",
        "              - Sid: SendStartMessages\n                Effect: Allow\n                Action: \"sqs:*\"\n",
        "schedule nightly: role allows sqs:* on arn:aws:sqs:us-east-1:123456789012:vow-work",
    ),
    (
        "the scheduler's role may send to every queue (Terraform)",
        TF,
        '    sid       = "SendStartMessages"\n    actions   = ["sqs:SendMessage"]\n    resources = [aws_sqs_queue.work.arn]',
        '    sid       = "SendStartMessages"\n    actions   = ["sqs:SendMessage"]\n    resources = ["*"]',
        "schedule nightly: role allows sqs:SendMessage on *",
    ),
    (
        "a schedule sends to the dead-letter queue (Terraform)",
        TF,
        "    arn      = aws_sqs_queue.work.arn\n    role_arn = aws_iam_role.scheduler[0].arn",
        "    arn      = aws_sqs_queue.dead_letter.arn\n    role_arn = aws_iam_role.scheduler[0].arn",
        "schedule nightly sends to arn:aws:sqs:us-east-1:123456789012:vow-dead-letter",
    ),
    (
        "anyone in Lambda may assume the scheduler's role (SAM)",
        SAM,
        "              Service: scheduler.amazonaws.com",
        "              Service: [scheduler.amazonaws.com, lambda.amazonaws.com]",
        "its role may be assumed by ['lambda.amazonaws.com', 'scheduler.amazonaws.com']",
    ),
    (
        "the worker accepts another task for the schedule (SAM)",
        SAM,
        '!Sub "${ScheduleName}=${ScheduleTask}"',
        '!Sub "${ScheduleName}=other/task"',
        "worker: VOW_SCHEDULES is 'nightly=other/task', expected 'nightly=reports/nightly'",
    ),
    (
        "a schedule's message names no firing time (Terraform)",
        TF,
        'at       = "<aws.scheduler.scheduled-time>"',
        'at       = "now"',
        "schedule nightly sends",
    ),
    (
        "work queue URL pointed at the dead-letter queue (SAM)",
        SAM,
        "VOW_QUEUE_URL: !Ref WorkQueue",
        "VOW_QUEUE_URL: !Ref DeadLetterQueue",
        "VOW_QUEUE_URL is 'https://sqs.us-east-1.amazonaws.com/123456789012/vow-dead-letter'",
    ),
    (
        "work queue URL pointed at the dead-letter queue (Terraform)",
        TF,
        "VOW_QUEUE_URL       = aws_sqs_queue.work.url",
        "VOW_QUEUE_URL       = aws_sqs_queue.dead_letter.url",
        "VOW_QUEUE_URL is 'https://sqs.us-east-1.amazonaws.com/123456789012/vow-dead-letter'",
    ),
    (
        "a Deny on * (SAM)",
        SAM,
        "              - Sid: SendFollowUps\n",
        "              - Effect: Deny\n                Action: \"*\"\n                Resource: \"*\"\n              - Sid: SendFollowUps\n",
        "worker: role has a Deny statement",
    ),
    (
        "a Deny on * (Terraform)",
        TF,
        '  statement {\n    sid       = "SendFollowUps"\n',
        '  statement {\n    effect    = "Deny"\n    actions   = ["*"]\n    resources = ["*"]\n  }\n\n'
        '  statement {\n    sid       = "SendFollowUps"\n',
        "worker: role has a Deny statement",
    ),
    (
        "TTL off (SAM)",
        SAM,
        SAM_MAIN,
        SAM_MAIN.replace("Enabled: true", "Enabled: false"),
        "the table's TTL is ('ttl', False)",
    ),
    (
        "TTL off (Terraform)",
        TF,
        TF_MAIN,
        TF_MAIN.replace('attribute_name = "ttl"\n    enabled        = true', 'attribute_name = "ttl"\n    enabled        = false'),
        "the table's TTL is ('ttl', False)",
    ),
    (
        "TTL on another attribute (Terraform)",
        TF,
        TF_MAIN,
        TF_MAIN.replace('attribute_name = "ttl"', 'attribute_name = "expires"'),
        "the table's TTL is ('expires', True)",
    ),
    (
        "point-in-time recovery off (SAM)",
        SAM,
        SAM_MAIN_PITR,
        SAM_MAIN_PITR.replace("PointInTimeRecoveryEnabled: true", "PointInTimeRecoveryEnabled: false"),
        "point-in-time recovery is off",
    ),
    (
        "point-in-time recovery off (Terraform)",
        TF,
        TF_MAIN,
        TF_MAIN.replace("  point_in_time_recovery {\n    enabled = true", "  point_in_time_recovery {\n    enabled = false"),
        "point-in-time recovery is off",
    ),
    (
        "visibility equal to the function timeout (SAM)",
        SAM,
        '"60": { Seconds: 360 }',
        '"60": { Seconds: 60 }',
        "the work queue's visibility timeout (60 s) is under 6x its function's timeout (60 s)",
    ),
    (
        "visibility equal to the function timeout (Terraform)",
        TF,
        "visibility_timeout = 6 * var.timeout",
        "visibility_timeout = var.timeout",
        "the work queue's visibility timeout (60 s) is under 6x its function's timeout (60 s)",
    ),
    (
        "TTL of 1.5 days accepted (SAM, the parameter as it was)",
        SAM,
        '    Type: String\n    Default: "30"\n    AllowedPattern: "^(1[5-9]|[2-9][0-9]|[1-9][0-9]{2}|[12][0-9]{3}|3[0-5][0-9]{2}|36[0-4][0-9]|3650)$"\n'
        "    ConstraintDescription: a whole number of days from 15 to 3650\n",
        "    Type: Number\n    Default: 30\n    MinValue: 1\n",
        "sam: RecordTtlDays=1.5 is accepted, expected refused",
    ),
    (
        "TTL of 1.5 days accepted (Terraform)",
        TF_VARS,
        "condition     = var.record_ttl_days >= 15 && var.record_ttl_days <= 3650 && floor(var.record_ttl_days) == var.record_ttl_days",
        "condition     = var.record_ttl_days >= 1",
        "modules/vow: record_ttl_days=1.5 is accepted, expected refused",
    ),
    (
        "TTL max of 99,999 days (SAM, the pattern as it was: the code refuses over 3,650)",
        SAM,
        'AllowedPattern: "^(1[5-9]|[2-9][0-9]|[1-9][0-9]{2}|[12][0-9]{3}|3[0-5][0-9]{2}|36[0-4][0-9]|3650)$"',
        'AllowedPattern: "^(1[5-9]|[2-9][0-9]|[1-9][0-9]{2,4})$"',
        "sam: RecordTtlDays=3651 is accepted, expected refused",
    ),
    (
        "TTL max of 99,999 days (Terraform, the validation as it was)",
        TF_VARS,
        "var.record_ttl_days <= 3650 &&",
        "var.record_ttl_days <= 99999 &&",
        "modules/vow: record_ttl_days=3651 is accepted, expected refused",
    ),
    (
        "Scan missing on the data tables (SAM)",
        SAM,
        "                    - dynamodb:Scan\n",
        "",
        "worker: role does not allow dynamodb:Scan on arn:aws:dynamodb:us-east-1:123456789012:table/samples-data",
    ),
    (
        "Scan missing on the data tables (Terraform)",
        TF,
        '        "dynamodb:Scan",\n',
        "",
        "worker: role does not allow dynamodb:Scan on arn:aws:dynamodb:us-east-1:123456789012:table/samples-data",
    ),
    (
        "more than 10 data tables no longer fail the deploy (SAM)",
        SAM,
        "    Type: AWS::CloudFormation::WaitCondition\n    Condition: DataTablesTooMany\n",
        "    Type: AWS::CloudFormation::WaitCondition\n    Condition: HasDataTable9\n",
        "sam: with 10 DataTableNames the failing resources created are ['TooManyDataTableNamesAtMost10']",
    ),
    (
        "a grant nothing uses (SAM: Query on the promise table)",
        SAM,
        "                  - dynamodb:BatchGetItem\n                Resource: !GetAtt PromiseTable.Arn\n              - Sid: TimerIndex\n                Effect: Allow\n                Action:\n                  # GetItem and PutItem: the sweep's",
        "                  - dynamodb:BatchGetItem\n                  - dynamodb:Query\n                Resource: !GetAtt PromiseTable.Arn\n              - Sid: TimerIndex\n                Effect: Allow\n                Action:\n                  # GetItem and PutItem: the sweep's",
        "worker: role allows dynamodb:Query on arn:aws:dynamodb:us-east-1:123456789012:table/vow-promises, which nothing uses",
    ),
    (
        "Text logs (Terraform)",
        TF,
        'log_format            = "JSON"\n    application_log_level = var.log_level\n    system_log_level      = "INFO"\n    log_group             = aws_cloudwatch_log_group.worker.name',
        'log_format            = "Text"\n    application_log_level = var.log_level\n    system_log_level      = "INFO"\n    log_group             = aws_cloudwatch_log_group.worker.name',
        "worker: log format is Text",
    ),
    (
        "batch size 5 (SAM)",
        SAM,
        "            Queue: !GetAtt WorkQueue.Arn\n            BatchSize: 10",
        "            Queue: !GetAtt WorkQueue.Arn\n            BatchSize: 5",
        "worker: batch size is 5",
    ),
    (
        "no ReportBatchItemFailures (Terraform)",
        TF,
        'function_name                      = aws_lambda_function.worker.arn\n  batch_size                         = 10\n'
        '  maximum_batching_window_in_seconds = 1\n  function_response_types            = ["ReportBatchItemFailures"]',
        'function_name                      = aws_lambda_function.worker.arn\n  batch_size                         = 10\n'
        '  maximum_batching_window_in_seconds = 1\n  function_response_types            = []',
        "worker: function response types are []",
    ),
    (
        "max receive count fixed (SAM)",
        SAM,
        "maxReceiveCount: !Ref MaxReceiveCount",
        "maxReceiveCount: 3",
        "maxReceiveCount is 3, expected max_receive_count 5",
    ),
    (
        "redrive to the work queue itself (Terraform)",
        TF,
        "deadLetterTargetArn = aws_sqs_queue.dead_letter.arn",
        'deadLetterTargetArn = "arn:aws:sqs:us-east-1:123456789012:vow-work"',
        "the work queue's redrive target is arn:aws:sqs:us-east-1:123456789012:vow-work",
    ),
    (
        "maximum concurrency fixed (Terraform)",
        TF,
        "  scaling_config {\n    maximum_concurrency = var.max_concurrency\n  }\n}\n\nresource \"aws_lambda_event_source_mapping\" \"dead_letter\"",
        "  scaling_config {\n    maximum_concurrency = 1000\n  }\n}\n\nresource \"aws_lambda_event_source_mapping\" \"dead_letter\"",
        "worker: maximum concurrency is 1000, expected max_concurrency 10",
    ),
    (
        "queue encryption off (SAM)",
        SAM,
        "        - \"${Prefix}-work\"\n        - Prefix: !If [HasNamePrefix, !Ref NamePrefix, !Ref \"AWS::StackName\"]\n      SqsManagedSseEnabled: true",
        "        - \"${Prefix}-work\"\n        - Prefix: !If [HasNamePrefix, !Ref NamePrefix, !Ref \"AWS::StackName\"]\n      SqsManagedSseEnabled: false",
        "the work queue is not encrypted at rest",
    ),
    (
        "table encryption off (Terraform)",
        TF,
        TF_MAIN,
        TF_MAIN.replace("  server_side_encryption {\n    enabled = true", "  server_side_encryption {\n    enabled = false"),
        "server-side encryption is off on the table",
    ),
    (
        "table key renamed (SAM)",
        SAM,
        SAM_MAIN,
        SAM_MAIN.replace("AttributeName: pk", "AttributeName: id"),
        "the table's key is [('id', None, 'HASH')], the code uses [('pk', 'S', 'HASH')]",
    ),
    # Signing: on by default with a generated key, read at start-up.
    (
        "unsigned by default (SAM)",
        SAM,
        "    Default: generated\n    AllowedValues: [generated, existing, \"off\"]",
        "    Default: \"off\"\n    AllowedValues: [generated, existing, \"off\"]",
        "signing defaults to SAM 'off', Terraform 'generated'",
    ),
    (
        "unsigned by default (Terraform)",
        TF_VARS,
        '  type        = string\n  default     = "generated"',
        '  type        = string\n  default     = "off"',
        "signing defaults to SAM 'generated', Terraform 'off'",
    ),
    (
        "the signing key's value in the environment (SAM)",
        SAM,
        "        VOW_SIGNING_SECRET_ARN: !If\n",
        "        VOW_SIGNING_KEYS: !Sub \"{{resolve:secretsmanager:${SigningSecret}:SecretString}}\"\n        VOW_SIGNING_SECRET_ARN: !If\n",
        "worker: VOW_SIGNING_KEYS holds a signing key's value",
    ),
    (
        "the signing key's value in the environment (Terraform)",
        TF,
        "      VOW_SIGNING_SECRET_ARN = local.signing_secret_arn\n",
        "      VOW_SIGNING_SECRET_ARN = local.signing_secret_arn\n      VOW_SIGNING_KEYS       = random_password.signing[0].result\n",
        "dead_letter: VOW_SIGNING_KEYS holds a signing key's value",
    ),
    (
        "the functions may not read the signing secret (SAM)",
        SAM,
        "              - !If\n                - SigningOn\n                - Sid: SigningKeys\n                  Effect: Allow\n                  Action: secretsmanager:GetSecretValue\n                  Resource: !If [SigningExisting, !Ref SigningSecretArn, !Ref SigningSecret]\n                - !Ref AWS::NoValue\n              - Sid: Tracing\n                Effect: Allow\n                Action:\n                  - xray:PutTraceSegments\n                  - xray:PutTelemetryRecords\n                Resource: \"*\" # X-Ray has no resource-level permissions\n              - Sid: ConsumeWorkQueue",
        "              - Sid: Tracing\n                Effect: Allow\n                Action:\n                  - xray:PutTraceSegments\n                  - xray:PutTelemetryRecords\n                Resource: \"*\" # X-Ray has no resource-level permissions\n              - Sid: ConsumeWorkQueue",
        "worker: role does not allow secretsmanager:GetSecretValue on arn:aws:secretsmanager:us-east-1:123456789012:secret:<generated>",
    ),
    (
        "the functions may read every secret (Terraform)",
        TF,
        '    content {\n      sid       = "SigningKeys"\n      actions   = ["secretsmanager:GetSecretValue"]\n      resources = [local.signing_secret_arn]\n    }\n  }\n\n  statement {\n    sid       = "Tracing"\n    actions   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]\n    resources = ["*"] # X-Ray has no resource-level permissions\n  }\n\n  statement {\n    sid = "ConsumeDeadLetterQueue"',
        '    content {\n      sid       = "SigningKeys"\n      actions   = ["secretsmanager:GetSecretValue"]\n      resources = ["*"]\n    }\n  }\n\n  statement {\n    sid       = "Tracing"\n    actions   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]\n    resources = ["*"] # X-Ray has no resource-level permissions\n  }\n\n  statement {\n    sid = "ConsumeDeadLetterQueue"',
        "dead_letter: role allows secretsmanager:GetSecretValue on *, which nothing uses",
    ),
    (
        "a short generated key (SAM)",
        SAM,
        "        PasswordLength: 64\n",
        "        PasswordLength: 16\n",
        "the generated signing key is 16 characters",
    ),
    (
        "a signing key written in the template (Terraform)",
        TF,
        "    key = random_password.signing[0].result\n",
        '    key = "0123456789abcdef0123456789abcdef"\n',
        "a value written in a template is no secret",
    ),
    (
        "producers may not read the generated secret (Terraform)",
        TF,
        '    sid       = "ReadSigningKeys"\n    actions   = ["secretsmanager:GetSecretValue"]\n    resources = local.signing_secret_arn == null ? [] : [local.signing_secret_arn]',
        '    sid       = "ReadSigningKeys"\n    actions   = ["secretsmanager:GetSecretValue"]\n    resources = local.signing_secret_arn == null ? [] : [var.signing_secret_arn]',
        "the producers' policy is",
    ),
    (
        "signing off still tells the functions nothing (SAM)",
        SAM,
        '        VOW_UNSIGNED: !If [SigningOff, "1", !Ref AWS::NoValue]\n',
        "",
        "VOW_UNSIGNED is None, expected '1'",
    ),
    (
        "the existing secret ignored: a key generated instead (Terraform)",
        TF,
        '    var.signing == "existing" ? var.signing_secret_arn : null',
        '    var.signing == "existing" ? aws_secretsmanager_secret.signing[0].arn : null',
        "terraform (all options): cannot evaluate",
    ),
    (
        "alarm on the work queue (SAM)",
        SAM,
        "Value: !GetAtt DeadLetterQueue.QueueName",
        "Value: !GetAtt WorkQueue.QueueName",
        "alarm dead_letter_depth: dimensions is {'QueueName': 'vow-work'}",
    ),
    (
        "starter grants DeleteItem too (SAM)",
        ORDERS_SAM,
        '"dynamodb:UpdateItem"',
        '"dynamodb:UpdateItem", "dynamodb:DeleteItem"',
        "examples/orders/template.yaml: ExtraPolicyJson grants",
    ),
    (
        "starter grants on every table (Terraform)",
        ORDERS_TF,
        "resources = [aws_dynamodb_table.orders.arn]",
        'resources = ["*"]',
        "examples/orders/terraform: extra_policy_json grants",
    ),
]


# The timer index: its table, the sweep rule, the work queue's policy, the
# functions' variable and grants.
CASES += [
    (
        "the sweep rule sends another body (SAM)",
        SAM,
        """          Input: '{"vow":"sweep"}'""",
        """          Input: '{"vow":"swept"}'""",
        "sweep rule vow-sweep: targets are [{'arn': 'arn:aws:sqs:us-east-1:123456789012:vow-work', 'input': {'vow': 'swept'}",
    ),
    (
        "the sweep rule targets the dead-letter queue (Terraform)",
        TF,
        '  arn       = aws_sqs_queue.work.arn\n  input     = jsonencode({ vow = "sweep" })',
        '  arn       = aws_sqs_queue.dead_letter.arn\n  input     = jsonencode({ vow = "sweep" })',
        "sweep rule vow-sweep: targets are [{'arn': 'arn:aws:sqs:us-east-1:123456789012:vow-dead-letter'",
    ),
    (
        "the sweep every 5 minutes (SAM)",
        SAM,
        "ScheduleExpression: rate(1 minute)",
        "ScheduleExpression: rate(5 minutes)",
        "sweep rule vow-sweep: schedule is 'rate(5 minutes)'",
    ),
    (
        "the sweep rule disabled (Terraform)",
        TF,
        '  schedule_expression = "rate(1 minute)"\n',
        '  schedule_expression = "rate(1 minute)"\n  state               = "DISABLED"\n',
        "sweep rule vow-sweep: state is 'DISABLED'",
    ),
    (
        "timer table TTL off (SAM)",
        SAM,
        "          KeyType: RANGE\n      TimeToLiveSpecification:\n        AttributeName: ttl\n        Enabled: true",
        "          KeyType: RANGE\n      TimeToLiveSpecification:\n        AttributeName: ttl\n        Enabled: false",
        "the timer table's TTL is ('ttl', False)",
    ),
    (
        "timer table without TTL (Terraform)",
        TF,
        '    name = "sk"\n    type = "S"\n  }\n\n  ttl {\n    attribute_name = "ttl"\n    enabled        = true\n  }\n',
        '    name = "sk"\n    type = "S"\n  }\n',
        "the timer table's TTL is (None, False)",
    ),
    (
        "timer table without its sort key (SAM)",
        SAM,
        "        - AttributeName: sk\n          KeyType: RANGE\n",
        "",
        "the timer table's key is [('pk', 'S', 'HASH')], the code uses [('pk', 'S', 'HASH'), ('sk', 'S', 'RANGE')]",
    ),
    (
        "timer table sorted on a number (Terraform)",
        TF,
        '    name = "sk"\n    type = "S"',
        '    name = "sk"\n    type = "N"',
        "the timer table's key is [('pk', 'S', 'HASH'), ('sk', 'N', 'RANGE')]",
    ),
    (
        "timer table point-in-time recovery off (SAM)",
        SAM,
        "          KeyType: RANGE\n      TimeToLiveSpecification:\n        AttributeName: ttl\n        Enabled: true\n"
        "      PointInTimeRecoverySpecification:\n        PointInTimeRecoveryEnabled: true",
        "          KeyType: RANGE\n      TimeToLiveSpecification:\n        AttributeName: ttl\n        Enabled: true\n"
        "      PointInTimeRecoverySpecification:\n        PointInTimeRecoveryEnabled: false",
        "point-in-time recovery is off on the timer table",
    ),
    (
        "the functions lack VOW_TIMER_TABLE (SAM)",
        SAM,
        "        VOW_TIMER_TABLE: !Ref TimerTable\n",
        "",
        "worker: VOW_TIMER_TABLE is None, expected 'vow-timers'",
    ),
    (
        "the functions name the promise table as the timer table (Terraform)",
        TF,
        "      VOW_TIMER_TABLE     = aws_dynamodb_table.timers.name\n",
        "      VOW_TIMER_TABLE     = aws_dynamodb_table.promises.name\n",
        "worker: VOW_TIMER_TABLE is 'vow-promises', expected 'vow-timers'",
    ),
    (
        "the work queue's policy open to any principal (SAM)",
        SAM,
        "            Principal:\n              Service: events.amazonaws.com\n",
        "            Principal: \"*\"\n",
        "queue policy SweepRuleSends: allows ['sqs:SendMessage'] to any principal ('*')",
    ),
    (
        "the work queue's policy lets any EventBridge rule send (Terraform)",
        TF,
        '    condition {\n      test     = "ArnEquals"\n      variable = "aws:SourceArn"\n      values   = [aws_cloudwatch_event_rule.sweep.arn]\n    }\n',
        "",
        "queue policy SweepRuleSends: conditions are {}, expected aws:SourceArn equal to the sweep rule",
    ),
    (
        "the work queue's policy takes requests without TLS (Terraform)",
        TF,
        '    resources = [aws_sqs_queue.work.arn]\n\n    principals {\n      type        = "*"\n      identifiers = ["*"]\n    }\n\n'
        '    condition {\n      test     = "Bool"\n      variable = "aws:SecureTransport"\n      values   = ["false"]\n    }\n',
        '    resources = [aws_sqs_queue.work.arn]\n\n    principals {\n      type        = "*"\n      identifiers = ["*"]\n    }\n',
        "the work queue's policy does not deny requests without TLS",
    ),
    (
        "the worker may not Query the timer table (Terraform)",
        TF,
        '      "dynamodb:GetItem",\n      "dynamodb:PutItem",\n      "dynamodb:Query",\n    ]\n    resources = [aws_dynamodb_table.timers.arn]',
        '      "dynamodb:GetItem",\n      "dynamodb:PutItem",\n    ]\n    resources = [aws_dynamodb_table.timers.arn]',
        "worker: role does not allow dynamodb:Query on arn:aws:dynamodb:us-east-1:123456789012:table/vow-timers",
    ),
    (
        "the dead-letter function may Query the timer table (SAM)",
        SAM,
        "                  - dynamodb:GetItem\n                  - dynamodb:PutItem\n                Resource: !GetAtt TimerTable.Arn",
        "                  - dynamodb:GetItem\n                  - dynamodb:PutItem\n                  - dynamodb:Query\n                Resource: !GetAtt TimerTable.Arn",
        "dead_letter: role allows dynamodb:Query on arn:aws:dynamodb:us-east-1:123456789012:table/vow-timers, which nothing uses",
    ),
]


# Alarms and queue policies (issue 21: operators, who may send).
TF_AGE_ALARM = (
    'resource "aws_cloudwatch_metric_alarm" "work_queue_age" {\n'
    '  alarm_name          = "${var.name_prefix}-work-queue-oldest-message"\n'
)
CASES += [
    (
        "the work queue's age alarm only with a topic (SAM)",
        SAM,
        "  WorkQueueAgeAlarm:\n    Type: AWS::CloudWatch::Alarm\n",
        "  WorkQueueAgeAlarm:\n    Type: AWS::CloudWatch::Alarm\n    Condition: HasAlarmTopic\n",
        "sam (defaults): alarm work_age: missing",
    ),
    (
        "the work queue's age alarm removed (Terraform)",
        TF,
        TF_AGE_ALARM,
        TF_AGE_ALARM.replace('"work_queue_age"', '"work_queue_age_unused"'),
        "terraform (defaults): alarm work_age: missing",
    ),
    (
        "the age alarm fixed at the retention (Terraform)",
        TF,
        "  threshold           = var.oldest_message_alarm_seconds\n",
        "  threshold           = 1209600\n",
        "alarm work_age: fires after 1209600 s + 300 s, not a day before the work queue's retention",
    ),
    (
        "the age alarm on the dead-letter queue (SAM)",
        SAM,
        "      MetricName: ApproximateAgeOfOldestMessage\n      Dimensions:\n        - Name: QueueName\n          Value: !GetAtt WorkQueue.QueueName",
        "      MetricName: ApproximateAgeOfOldestMessage\n      Dimensions:\n        - Name: QueueName\n          Value: !GetAtt DeadLetterQueue.QueueName",
        "alarm work_age: dimensions is {'QueueName': 'vow-dead-letter'}",
    ),
    (
        "the dead-letter alarm only above 10 messages (Terraform)",
        TF,
        "  threshold           = 0\n",
        "  threshold           = 10\n",
        "alarm dead_letter_depth: threshold is 10, expected 0",
    ),
    (
        "the age alarm notifies nobody (SAM)",
        SAM,
        "      Threshold: !Ref OldestMessageAlarmSeconds\n      ComparisonOperator: GreaterThanThreshold\n      TreatMissingData: notBreaching\n"
        '      AlarmActions: !If [HasAlarmTopic, [!Ref AlarmTopicArn], !Ref "AWS::NoValue"]\n',
        "      Threshold: !Ref OldestMessageAlarmSeconds\n      ComparisonOperator: GreaterThanThreshold\n      TreatMissingData: notBreaching\n",
        "sam (all options): alarm work_age: actions is [], expected ['arn:aws:sns:us-east-1:123456789012:alerts']",
    ),
    (
        "the producers' Allow open to any principal (Terraform)",
        TF,
        '        type        = "AWS"\n        identifiers = var.producer_role_arns\n',
        '        type        = "*"\n        identifiers = ["*"]\n',
        "queue policy ProducersSend: allows ['sqs:SendMessage'] to any principal ('*')",
    ),
    (
        "the senders' Deny turned into an Allow (Terraform)",
        TF,
        '    sid       = "OnlyAllowedSenders"\n    effect    = "Deny"\n',
        '    sid       = "OnlyAllowedSenders"\n    effect    = "Allow"\n',
        "queue policy OnlyAllowedSenders: allows ['sqs:SendMessage'] to any principal ('*')",
    ),
    (
        "the senders' Deny on another action: any role with sqs:SendMessage may send (SAM)",
        SAM,
        '          - Sid: OnlyAllowedSenders\n            Effect: Deny\n            Principal: "*"\n            Action: sqs:SendMessage\n',
        '          - Sid: OnlyAllowedSenders\n            Effect: Deny\n            Principal: "*"\n            Action: sqs:ReceiveMessage\n',
        "the work queue's policy does not deny sqs:SendMessage to every principal but the stack's roles",
    ),
    (
        "the senders' Deny forgets the producer roles: they are refused (SAM)",
        SAM,
        '                      Producers: !If [HasProducers, !Join ["", [",", !Join [",", !Ref ProducerRoleArns]]], ""]\n',
        '                      Producers: ""\n',
        "sam (all options): the work queue's policy does not deny sqs:SendMessage to every principal but the stack's roles",
    ),
    (
        "the senders' Deny forgets the schedule's role: schedules are refused (Terraform)",
        TF,
        "    [for role in aws_iam_role.scheduler : role.arn],\n",
        "",
        "terraform (a schedule): the work queue's policy does not deny sqs:SendMessage to every principal but the stack's roles",
    ),
    (
        "the senders' Deny also denies AWS services: the sweep is refused (SAM)",
        SAM,
        '                      Producers: !If [HasProducers, !Join ["", [",", !Join [",", !Ref ProducerRoleArns]]], ""]\n'
        '              BoolIfExists:\n                aws:PrincipalIsAWSService: "false"\n',
        '                      Producers: !If [HasProducers, !Join ["", [",", !Join [",", !Ref ProducerRoleArns]]], ""]\n',
        "the work queue's policy does not deny sqs:SendMessage to every principal but the stack's roles",
    ),
    (
        "the producers' Allow missing (SAM)",
        SAM,
        "            - Sid: ProducersSend\n              Effect: Allow\n",
        "            - Sid: ProducersSend\n              Effect: Deny\n",
        "sam (all options): the work queue's policy does not let the producer roles",
    ),
    (
        "the dead-letter queue takes requests without TLS (SAM)",
        SAM,
        '            Resource: !GetAtt DeadLetterQueue.Arn\n            Condition:\n              Bool:\n                aws:SecureTransport: "false"\n',
        "            Resource: !GetAtt DeadLetterQueue.Arn\n",
        "the dead-letter queue's policy does not deny requests without TLS",
    ),
    (
        "anyone may send to the dead-letter queue (Terraform)",
        TF,
        'data "aws_iam_policy_document" "dead_letter_queue" {\n',
        'data "aws_iam_policy_document" "dead_letter_queue" {\n  statement {\n    sid       = "AnyoneSends"\n'
        '    actions   = ["sqs:SendMessage"]\n    resources = [aws_sqs_queue.dead_letter.arn]\n\n'
        '    principals {\n      type        = "AWS"\n      identifiers = ["*"]\n    }\n  }\n\n',
        "queue policy AnyoneSends: allows ['sqs:SendMessage'] to any principal ('*')",
    ),
]



# The refused-messages alarm, the dead-letter queue's senders, the scheduler
# role's confused-deputy guard.
TF_DLQ_TLS = (
    '    resources = [aws_sqs_queue.dead_letter.arn]\n\n    principals {\n      type        = "*"\n      identifiers = ["*"]\n    }\n\n'
    '    condition {\n      test     = "Bool"\n      variable = "aws:SecureTransport"\n      values   = ["false"]\n    }\n'
)
SAM_DLQ_SENDERS = (
    "          - Sid: OnlyStackSenders\n            Effect: Deny\n            Principal: \"*\"\n            Action: sqs:SendMessage\n"
    "            Resource: !GetAtt DeadLetterQueue.Arn\n"
)
SAM_TRUST_CONDITION = (
    "            Action: sts:AssumeRole\n            Condition:\n              StringEquals:\n"
    "                aws:SourceAccount: !Ref AWS::AccountId\n              ArnEquals:\n"
    '                aws:SourceArn: !Sub "arn:${AWS::Partition}:scheduler:${AWS::Region}:${AWS::AccountId}:schedule-group/default"\n'
)
CASES += [
    (
        "the refused-messages alarm removed (SAM)",
        SAM,
        "  RefusedMessagesAlarm:\n",
        "  RefusedMessagesAlarmUnused:\n",
        "sam (defaults): alarm refused: missing",
    ),
    (
        "the refused-messages alarm removed (Terraform)",
        TF,
        'resource "aws_cloudwatch_metric_alarm" "refused_messages" {\n',
        'resource "aws_cloudwatch_metric_alarm" "refused_messages_unused" {\n',
        "terraform (defaults): alarm refused: missing",
    ),
    (
        "the refused-messages alarm counts the dead-letter function twice, the worker never (SAM)",
        SAM,
        "                - Name: function\n                  Value: !Ref WorkerFunction\n",
        "                - Name: function\n                  Value: !Ref DeadLetterFunction\n",
        "alarm refused: does not count the messages the worker function (vow-worker) refuses",
    ),
    (
        "the refused-messages alarm adds only the worker (Terraform)",
        TF,
        'expression  = "FILL(worker, 0) + FILL(dead_letter, 0)"',
        'expression  = "FILL(worker, 0)"',
        "alarm refused: expression is 'FILL(worker, 0)'",
    ),
    (
        "the refused-messages alarm on the average (Terraform)",
        TF,
        '      dimensions  = { function = aws_lambda_function.dead_letter.function_name }\n      period      = 300\n      stat        = "Sum"',
        '      dimensions  = { function = aws_lambda_function.dead_letter.function_name }\n      period      = 300\n      stat        = "Average"',
        "alarm refused: query dead_letter is ('vow', 'Refused', ['function'], 'Average', 300)",
    ),
    (
        "the refused-messages alarm only from 5 messages (SAM)",
        SAM,
        "      Threshold: 1\n      ComparisonOperator: GreaterThanOrEqualToThreshold\n",
        "      Threshold: 5\n      ComparisonOperator: GreaterThanOrEqualToThreshold\n",
        "alarm refused: threshold is 5, expected 1",
    ),
    (
        "the refused-messages alarm notifies nobody (Terraform)",
        TF,
        '  comparison_operator = "GreaterThanOrEqualToThreshold"\n  treat_missing_data  = "notBreaching"\n'
        "  alarm_actions       = local.alarm_actions\n",
        '  comparison_operator = "GreaterThanOrEqualToThreshold"\n  treat_missing_data  = "notBreaching"\n',
        "terraform (all options): alarm refused: actions is [], expected ['arn:aws:sns:us-east-1:123456789012:alerts']",
    ),
    (
        "the dead-letter queue takes requests without TLS (Terraform)",
        TF,
        TF_DLQ_TLS,
        TF_DLQ_TLS.split("\n\n    condition {")[0] + "\n",
        "the dead-letter queue's policy does not deny requests without TLS",
    ),
    (
        "anyone with sqs:SendMessage may send to the dead-letter queue (SAM)",
        SAM,
        SAM_DLQ_SENDERS,
        SAM_DLQ_SENDERS.replace("Action: sqs:SendMessage", "Action: sqs:ReceiveMessage"),
        "the dead-letter queue's policy does not deny sqs:SendMessage to every principal but the stack's roles",
    ),
    (
        "the dead-letter queue's senders' Deny turned into a NotAction: sqs:SendMessage is not denied (Terraform)",
        TF,
        '    sid       = "OnlyStackSenders"\n    effect    = "Deny"\n',
        '    sid       = "OnlyStackSenders"\n    effect    = "Deny"\n    not_actions = ["sqs:SendMessage"]\n',
        "the dead-letter queue's policy does not deny sqs:SendMessage to every principal but the stack's roles",
    ),
    (
        "the dead-letter queue's senders' Deny also denies the stack's roles (Terraform)",
        TF,
        '      variable = "aws:PrincipalArn"\n      values   = local.stack_roles\n',
        '      variable = "aws:PrincipalArn"\n      values   = []\n',
        "the dead-letter queue's policy does not deny sqs:SendMessage to every principal but the stack's roles",
    ),
    (
        "the dead-letter queue's Deny without its AWS-service exception (SAM)",
        SAM,
        '                    - Scheduler: !If [HasSchedule, !Sub ",${SchedulerRole.Arn}", ""]\n'
        '              BoolIfExists:\n                aws:PrincipalIsAWSService: "false"\n',
        '                    - Scheduler: !If [HasSchedule, !Sub ",${SchedulerRole.Arn}", ""]\n',
        "sam (defaults): the dead-letter queue's policy does not deny sqs:SendMessage to every principal but the stack's roles",
    ),
    (
        "the scheduler's role trusts Scheduler without the confused-deputy condition (SAM)",
        SAM,
        SAM_TRUST_CONDITION,
        "            Action: sts:AssumeRole\n",
        "sam (a schedule): schedule nightly: its role's trust has conditions {}",
    ),
    (
        "the scheduler's role trusts another account's schedules (SAM)",
        SAM,
        "                aws:SourceAccount: !Ref AWS::AccountId\n",
        '                aws:SourceAccount: "210987654321"\n',
        "schedule nightly: its role's trust has conditions {'StringEquals': {'aws:SourceAccount': ['210987654321']}",
    ),
    (
        "the scheduler's role trusts any schedule group of any account (Terraform)",
        TF,
        '      test     = "ArnEquals"\n      variable = "aws:SourceArn"\n'
        '      values   = ["arn:${data.aws_arn.work_queue.partition}:scheduler:${data.aws_arn.work_queue.region}:${data.aws_arn.work_queue.account}:schedule-group/default"]',
        '      test     = "ArnLike"\n      variable = "aws:SourceArn"\n      values   = ["arn:aws:scheduler:*:*:schedule-group/*"]',
        "terraform (a schedule): schedule nightly: its role's trust has conditions",
    ),
]

def run(root: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(HERE / "consistency.py"), str(root)],
        capture_output=True,
        text=True,
        check=False,
    )


def copy_tree(dest: Path) -> None:
    for part in ("infra", "examples/orders/template.yaml", "examples/orders/terraform", "examples/orders/worker/Cargo.toml"):
        src = ROOT / part
        if src.is_dir():
            shutil.copytree(src, dest / part, ignore=shutil.ignore_patterns(".terraform", "*.tfstate*"))
        elif src.is_file():
            (dest / part).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / part)
    # The default CodeUris point at the crates.
    for crate in ("functions/worker", "functions/dead-letter"):
        (dest / crate).mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / crate / "Cargo.toml", dest / crate / "Cargo.toml")


def main() -> int:
    failures = 0
    with tempfile.TemporaryDirectory(prefix="vow-infra-selftest.") as tmp:
        clean = Path(tmp) / "clean"
        copy_tree(clean)
        result = run(clean)
        if result.returncode != 0:
            print(f"FAIL  the unbroken copy fails:\n{result.stdout}{result.stderr}")
            return 1
        for name, file, old, new, expected in CASES:
            root = Path(tmp) / f"case-{CASES.index((name, file, old, new, expected))}"
            copy_tree(root)
            path = root / file
            text = path.read_text()
            if text.count(old) != 1:
                print(f"FAIL  {name}: the text to break occurs {text.count(old)} times in {file}")
                failures += 1
                continue
            path.write_text(text.replace(old, new))
            result = run(root)
            out = result.stdout + result.stderr
            if result.returncode == 0:
                print(f"FAIL  {name}: the checks pass")
                failures += 1
            elif expected not in out:
                print(f"FAIL  {name}: the checks fail, but not with {expected!r}:\n{out}")
                failures += 1
            else:
                line = next(line.strip() for line in out.splitlines() if expected in line)
                print(f"ok    {name}\n        {line}")
    print(f"selftest: {len(CASES) - failures} of {len(CASES)} broken copies caught")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
