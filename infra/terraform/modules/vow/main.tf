# vow - distributed promises on AWS serverless.
#
# Tasks travel in SQS messages; the worker Lambda runs a batch and writes outcomes
# to one DynamoDB table. Messages that exhaust max_receive_count move to the
# dead-letter queue, whose Lambda settles the promises as Crashed.
#
# Same resources as infra/sam/template.yaml; keep the two in step.

locals {
  # AWS guidance for SQS event sources: visibility timeout >= 6x the function
  # timeout, so a message is not redelivered while a (retried) invocation still
  # holds it. Both queues feed a function with var.timeout.
  visibility_timeout = 6 * var.timeout

  function_environment = merge(
    {
      VOW_QUEUE_URL       = aws_sqs_queue.work.url
      VOW_TABLE_NAME      = aws_dynamodb_table.promises.name
      VOW_RECORD_TTL_DAYS = tostring(var.record_ttl_days)
      VOW_TIMER_TABLE     = aws_dynamodb_table.timers.name
    },
    # The functions read the signing keys from the secret at start-up
    # (GetSecretValue): its ARN is in the environment, never its value.
    local.signing_secret_arn == null ? {} : {
      VOW_SIGNING_SECRET_ARN = local.signing_secret_arn
    },
    # Unsigned only when chosen (signing = "off"); the functions log it.
    var.signing != "off" ? {} : {
      VOW_UNSIGNED = "1"
    },
  )

  # The secret holding the signing keys: generated here (the default), the
  # operator's own, or none (signing = "off").
  signing_secret_arn = (
    var.signing == "generated" ? aws_secretsmanager_secret.signing[0].arn :
    var.signing == "existing" ? var.signing_secret_arn : null
  )

  # ARNs of the tables user tasks read (var.data_table_names), in the promise
  # table's partition, region and account.
  table_arn_prefix = trimsuffix(aws_dynamodb_table.promises.arn, aws_dynamodb_table.promises.name)
  data_table_arns  = [for name in var.data_table_names : "${local.table_arn_prefix}${name}"]

  alarm_actions = compact([var.alarm_topic_arn])

  # The module's own roles (the functions' follow-ups, the schedules' start
  # messages).
  stack_roles = concat(
    [aws_iam_role.worker.arn, aws_iam_role.dead_letter.arn],
    [for role in aws_iam_role.scheduler : role.arn],
  )

  # Who may send to the work queue besides the sweep rule: the module's own
  # roles and the producer roles.
  work_queue_senders = concat(local.stack_roles, var.producer_role_arns)

  # The schedules whose unsigned start messages the worker accepts: exactly
  # those declared here, each with its task (name=tag,...).
  schedule_environment = length(var.schedules) == 0 ? {} : {
    VOW_SCHEDULES = join(",", [for name in keys(var.schedules) : "${name}=${var.schedules[name].task}"])
  }
}

# --------------------------------------------------------------- signing
# The key every message is signed with (README, "Security"): generated once,
# stored in Secrets Manager as {"kid":"k1","key":"<64 letters and digits>"},
# read by the functions at start-up and by the producers the
# signing_key_read_policy_arn output is attached to. Rotate by writing a new
# version of the secret (a new kid, the previous key under "old"); the
# generated value is written once and never reset by Terraform (its state
# holds it: protect the state).

resource "random_password" "signing" {
  count   = var.signing == "generated" ? 1 : 0
  length  = 64
  special = false
}

resource "aws_secretsmanager_secret" "signing" {
  #checkov:skip=CKV_AWS_149:Encrypted with the AWS managed key (aws/secretsmanager); a customer managed key is needed only to share the secret across accounts.
  #checkov:skip=CKV2_AWS_57:Rotation is a new secret version written by the operator (README, "Security"): the old key must stay verify-only for longer than the queue's retention, which a rotation Lambda would not know.
  count       = var.signing == "generated" ? 1 : 0
  name_prefix = "${var.name_prefix}-signing-"
  description = "vow message signing keys of ${var.name_prefix} (JSON: kid, key, optional old)."
  tags        = var.tags
}

resource "aws_secretsmanager_secret_version" "signing" {
  count     = var.signing == "generated" ? 1 : 0
  secret_id = aws_secretsmanager_secret.signing[0].id
  secret_string = jsonencode({
    kid = "k1"
    key = random_password.signing[0].result
  })

  # A rotation writes later versions outside Terraform: keep them.
  lifecycle {
    ignore_changes = [secret_string]
  }
}

# Read on the secret, for producers (attach it to their roles).
resource "aws_iam_policy" "signing_key_read" {
  count       = var.signing == "off" ? 0 : 1
  name_prefix = "${var.name_prefix}-signing-key-read-"
  description = "Read the vow message signing keys of ${var.name_prefix} (producers that send to its work queue)."
  policy      = data.aws_iam_policy_document.signing_key_read.json
  tags        = var.tags
}

data "aws_iam_policy_document" "signing_key_read" {
  statement {
    sid       = "ReadSigningKeys"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = local.signing_secret_arn == null ? [] : [local.signing_secret_arn]
  }
}

# ------------------------------------------------------------------ queues

resource "aws_sqs_queue" "dead_letter" {
  name                       = "${var.name_prefix}-dead-letter"
  sqs_managed_sse_enabled    = true
  visibility_timeout_seconds = local.visibility_timeout # consumed by the dead-letter function
  message_retention_seconds  = 1209600                  # 14 days, the SQS maximum
  tags                       = var.tags
}

resource "aws_sqs_queue" "work" {
  name                       = "${var.name_prefix}-work"
  sqs_managed_sse_enabled    = true
  visibility_timeout_seconds = local.visibility_timeout
  tags                       = var.tags

  # 14 days, the maximum: an expired message is deleted, not dead-lettered,
  # and its promise would never settle.
  message_retention_seconds = 1209600

  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.dead_letter.arn
    maxReceiveCount     = var.max_receive_count
  })
}

# Only the work queue may use the dead-letter queue as its DLQ.
resource "aws_sqs_queue_redrive_allow_policy" "dead_letter" {
  queue_url = aws_sqs_queue.dead_letter.id

  redrive_allow_policy = jsonencode({
    redrivePermission = "byQueue"
    sourceQueueArns   = [aws_sqs_queue.work.arn]
  })
}

# ------------------------------------------------------------------- table

resource "aws_dynamodb_table" "promises" {
  #checkov:skip=CKV_AWS_119:SSE is on with the AWS managed key (aws/dynamodb); a customer managed key adds a monthly charge and key-policy administration that nothing here requires.
  name                        = "${var.name_prefix}-promises"
  billing_mode                = "PAY_PER_REQUEST"
  hash_key                    = "pk"
  deletion_protection_enabled = var.deletion_protection
  tags                        = var.tags

  attribute {
    name = "pk"
    type = "S"
  }

  ttl {
    attribute_name = "ttl"
    enabled        = true
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled = true
  }
}

# ------------------------------------------------------------- timer index
# Sleeps and callback deadlines further away than a queue delay (15 minutes)
# plus 5 wait here, written once, keyed by the minute they fall due in and one
# of 8 shards (pk "<minute>#<shard>", sk the timer's name); the item
# pk = sk = "cursor" is where the sweep stands. On demand, it costs nothing
# while idle. Recovery and encryption as on the promise table: a lost timer is
# a promise that never settles.

resource "aws_dynamodb_table" "timers" {
  #checkov:skip=CKV_AWS_119:SSE is on with the AWS managed key (aws/dynamodb), as on the promise table; a customer managed key adds a monthly charge and key-policy administration that nothing here requires.
  name                        = "${var.name_prefix}-timers"
  billing_mode                = "PAY_PER_REQUEST"
  hash_key                    = "pk"
  range_key                   = "sk"
  deletion_protection_enabled = var.deletion_protection
  tags                        = var.tags

  attribute {
    name = "pk"
    type = "S"
  }

  attribute {
    name = "sk"
    type = "S"
  }

  ttl {
    attribute_name = "ttl"
    enabled        = true
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled = true
  }
}

# Once a minute, EventBridge sends the work queue {"vow":"sweep"}: a worker
# reads the timers falling due within the next 15 minutes from the timer table
# and sends each with the SQS delay that brings it at its time.
resource "aws_cloudwatch_event_rule" "sweep" {
  name                = "${var.name_prefix}-sweep"
  description         = "vow timer index sweep - asks a worker once a minute to send the timers falling due."
  schedule_expression = "rate(1 minute)"
  tags                = var.tags
}

resource "aws_cloudwatch_event_target" "sweep" {
  rule      = aws_cloudwatch_event_rule.sweep.name
  target_id = "work-queue"
  arn       = aws_sqs_queue.work.arn
  input     = jsonencode({ vow = "sweep" })
}

# Who may send to the work queue: the module's own roles, the sweep rule
# through EventBridge (which takes no role: SourceArn), and the roles in
# var.producer_role_arns (allowed here too, so that they may be in another
# account). Everyone else is denied sqs:SendMessage, whatever their identity
# policies allow; AWS services are left to the Allow statements (only the
# sweep rule's). Nobody may use the queue without TLS.
data "aws_iam_policy_document" "work_queue" {
  statement {
    sid       = "SweepRuleSends"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.work.arn]

    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }

    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = [aws_cloudwatch_event_rule.sweep.arn]
    }
  }

  dynamic "statement" {
    for_each = length(var.producer_role_arns) == 0 ? [] : [1]
    content {
      sid       = "ProducersSend"
      actions   = ["sqs:SendMessage"]
      resources = [aws_sqs_queue.work.arn]

      principals {
        type        = "AWS"
        identifiers = var.producer_role_arns
      }
    }
  }

  statement {
    sid       = "OnlyAllowedSenders"
    effect    = "Deny"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.work.arn]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "ArnNotEquals"
      variable = "aws:PrincipalArn"
      values   = local.work_queue_senders
    }

    condition {
      test     = "BoolIfExists"
      variable = "aws:PrincipalIsAWSService"
      values   = ["false"]
    }
  }

  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["sqs:*"]
    resources = [aws_sqs_queue.work.arn]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_sqs_queue_policy" "work" {
  queue_url = aws_sqs_queue.work.id
  policy    = data.aws_iam_policy_document.work_queue.json
}

# Only SQS moves messages here (the work queue's redrive, which needs no grant:
# a dead-letter queue works with no policy). Nothing else sends here, so every
# principal but the module's own roles is denied sqs:SendMessage (as on the
# work queue; AWS services are left out of the Deny, and no statement allows
# them anything); nobody may use the queue without TLS.
data "aws_iam_policy_document" "dead_letter_queue" {
  statement {
    sid       = "OnlyStackSenders"
    effect    = "Deny"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.dead_letter.arn]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "ArnNotEquals"
      variable = "aws:PrincipalArn"
      values   = local.stack_roles
    }

    condition {
      test     = "BoolIfExists"
      variable = "aws:PrincipalIsAWSService"
      values   = ["false"]
    }
  }

  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["sqs:*"]
    resources = [aws_sqs_queue.dead_letter.arn]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_sqs_queue_policy" "dead_letter" {
  queue_url = aws_sqs_queue.dead_letter.id
  policy    = data.aws_iam_policy_document.dead_letter_queue.json
}

# -------------------------------------------------------------- log groups

resource "aws_cloudwatch_log_group" "worker" {
  #checkov:skip=CKV_AWS_158:CloudWatch Logs encrypts at rest by default; the functions log promise ids and errors, not secrets, so a customer managed key is not needed.
  #checkov:skip=CKV_AWS_338:Retention is the log_retention_days variable (default 30 days, matching the SAM template); a year of debug logs is the operator's choice, not a default.
  name              = "/aws/lambda/${var.name_prefix}-worker"
  retention_in_days = var.log_retention_days
  tags              = var.tags
}

resource "aws_cloudwatch_log_group" "dead_letter" {
  #checkov:skip=CKV_AWS_158:CloudWatch Logs encrypts at rest by default; the functions log promise ids and errors, not secrets, so a customer managed key is not needed.
  #checkov:skip=CKV_AWS_338:Retention is the log_retention_days variable (default 30 days, matching the SAM template); a year of debug logs is the operator's choice, not a default.
  name              = "/aws/lambda/${var.name_prefix}-dead-letter"
  retention_in_days = var.log_retention_days
  tags              = var.tags
}

# --------------------------------------------------------------------- IAM
# One role per function, granting exactly what it uses on the exact resources
# (no AWSLambdaBasicExecutionRole: it allows writing to every log group).

data "aws_iam_policy_document" "lambda_assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "worker" {
  name_prefix        = "${var.name_prefix}-worker-"
  description        = "Execution role of the vow worker function."
  assume_role_policy = data.aws_iam_policy_document.lambda_assume.json
  tags               = var.tags
}

resource "aws_iam_role" "dead_letter" {
  name_prefix        = "${var.name_prefix}-dl-" # IAM caps name_prefix at 38 characters
  description        = "Execution role of the vow dead-letter function."
  assume_role_policy = data.aws_iam_policy_document.lambda_assume.json
  tags               = var.tags
}

data "aws_iam_policy_document" "worker" {
  # The user's own document, merged into this one (its Sids must differ from
  # these). An argument rather than a counted resource, so that a document
  # known only at apply (one naming a table created alongside) still plans.
  source_policy_documents = var.extra_policy_json == null ? [] : [var.extra_policy_json]

  statement {
    sid       = "Logs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.worker.arn}:*"]
  }

  dynamic "statement" {
    for_each = local.signing_secret_arn == null ? [] : [local.signing_secret_arn]
    content {
      sid       = "SigningKeys"
      actions   = ["secretsmanager:GetSecretValue"]
      resources = [local.signing_secret_arn]
    }
  }

  statement {
    sid       = "Tracing"
    actions   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
    resources = ["*"] # X-Ray has no resource-level permissions
  }

  statement {
    sid = "ConsumeWorkQueue"
    actions = [
      "sqs:ReceiveMessage",
      "sqs:DeleteMessage",
      "sqs:GetQueueAttributes",
    ]
    resources = [aws_sqs_queue.work.arn]
  }

  statement {
    sid       = "SendFollowUps"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.work.arn]
  }

  statement {
    sid = "PromiseTable"
    actions = [
      "dynamodb:GetItem",
      "dynamodb:PutItem",
      "dynamodb:UpdateItem",
      "dynamodb:BatchGetItem",
    ]
    resources = [aws_dynamodb_table.promises.arn]
  }

  statement {
    sid = "TimerIndex"
    # GetItem and PutItem: the sweep's cursor, and a far timer written once;
    # Query: the timers of a minute, swept.
    actions = [
      "dynamodb:GetItem",
      "dynamodb:PutItem",
      "dynamodb:Query",
    ]
    resources = [aws_dynamodb_table.timers.arn]
  }

  dynamic "statement" {
    for_each = length(var.data_table_names) > 0 ? [1] : []
    content {
      sid = "DataTables"
      actions = [
        "dynamodb:GetItem",
        "dynamodb:BatchGetItem",
        "dynamodb:Query",
        "dynamodb:Scan",
      ]
      resources = local.data_table_arns
    }
  }
}

data "aws_iam_policy_document" "dead_letter" {
  statement {
    sid       = "Logs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.dead_letter.arn}:*"]
  }

  dynamic "statement" {
    for_each = local.signing_secret_arn == null ? [] : [local.signing_secret_arn]
    content {
      sid       = "SigningKeys"
      actions   = ["secretsmanager:GetSecretValue"]
      resources = [local.signing_secret_arn]
    }
  }

  statement {
    sid       = "Tracing"
    actions   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
    resources = ["*"] # X-Ray has no resource-level permissions
  }

  statement {
    sid = "ConsumeDeadLetterQueue"
    actions = [
      "sqs:ReceiveMessage",
      "sqs:DeleteMessage",
      "sqs:GetQueueAttributes",
    ]
    resources = [aws_sqs_queue.dead_letter.arn]
  }

  statement {
    sid       = "SendContinuations"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.work.arn]
  }

  statement {
    sid = "PromiseTable"
    # BatchGetItem reads a body stored out of line; PutItem stores a large
    # outcome; UpdateItem settles.
    actions = [
      "dynamodb:PutItem",
      "dynamodb:UpdateItem",
      "dynamodb:BatchGetItem",
    ]
    resources = [aws_dynamodb_table.promises.arn]
  }

  statement {
    sid = "TimerIndex"
    # A dead-lettered far timer is written into the index again (PutItem),
    # after a look at the sweep's cursor (GetItem).
    actions = [
      "dynamodb:GetItem",
      "dynamodb:PutItem",
    ]
    resources = [aws_dynamodb_table.timers.arn]
  }
}

resource "aws_iam_role_policy" "worker" {
  name   = "vow-worker"
  role   = aws_iam_role.worker.id
  policy = data.aws_iam_policy_document.worker.json
}

# count, not for_each: the number of ARNs is known at plan even when an ARN is
# not (a policy created alongside).
resource "aws_iam_role_policy_attachment" "worker_extra" {
  count      = length(var.extra_policy_arns)
  role       = aws_iam_role.worker.name
  policy_arn = var.extra_policy_arns[count.index]
}

resource "aws_iam_role_policy" "dead_letter" {
  name   = "vow-dead-letter"
  role   = aws_iam_role.dead_letter.id
  policy = data.aws_iam_policy_document.dead_letter.json
}

# --------------------------------------------------------------- functions

resource "aws_lambda_function" "worker" {
  #checkov:skip=CKV_AWS_116:A function DLQ only catches failed asynchronous invocations; SQS event source mappings invoke synchronously and failed messages go to the queue's redrive DLQ.
  #checkov:skip=CKV_AWS_117:The function reaches only SQS, DynamoDB, CloudWatch Logs and X-Ray public endpoints; a VPC would add NAT or endpoints and cold-start cost with nothing private to reach.
  #checkov:skip=CKV_AWS_115:Concurrency is bounded by the event source mapping's scaling_config (max_concurrency); reserved concurrency would carve capacity out of the account pool.
  #checkov:skip=CKV_AWS_173:Lambda encrypts the environment at rest with its AWS managed key; it holds a queue URL, a table name, a TTL and the signing secret's ARN, never a key (the functions read the keys from Secrets Manager at start-up).
  #checkov:skip=CKV_AWS_272:Code signing needs an AWS Signer profile and signed artifacts; the zip is built by cargo lambda in the deployer's own pipeline.
  function_name    = "${var.name_prefix}-worker"
  description      = "vow worker - runs the tasks of one SQS batch and settles their promises."
  role             = aws_iam_role.worker.arn
  filename         = var.worker_zip
  source_code_hash = filebase64sha256(var.worker_zip)
  runtime          = "provided.al2023"
  handler          = "bootstrap"
  architectures    = ["arm64"]
  memory_size      = var.memory_size
  timeout          = var.timeout
  tags             = var.tags

  environment {
    variables = merge(local.function_environment, local.schedule_environment)
  }

  tracing_config {
    mode = "Active"
  }

  # JSON, so that Lambda sets AWS_LAMBDA_LOG_LEVEL, which the function reads.
  logging_config {
    log_format            = "JSON"
    application_log_level = var.log_level
    system_log_level      = "INFO"
    log_group             = aws_cloudwatch_log_group.worker.name
  }

  # The event source mapping validates the role's SQS permissions at creation.
  depends_on = [
    aws_iam_role_policy.worker,
    aws_iam_role_policy_attachment.worker_extra,
  ]

  lifecycle {
    # An ARN with "generated" or "off" would be silently ignored.
    precondition {
      condition     = (var.signing == "existing") == (var.signing_secret_arn != null)
      error_message = "signing_secret_arn is used with signing = \"existing\" (and required there): set both or neither."
    }
  }
}

resource "aws_lambda_function" "dead_letter" {
  #checkov:skip=CKV_AWS_116:A function DLQ only catches failed asynchronous invocations; this function is invoked synchronously by the dead-letter queue's event source mapping.
  #checkov:skip=CKV_AWS_117:The function reaches only SQS, DynamoDB, CloudWatch Logs and X-Ray public endpoints; a VPC would add NAT or endpoints and cold-start cost with nothing private to reach.
  #checkov:skip=CKV_AWS_115:Concurrency is bounded by the event source mapping's scaling_config (max_concurrency); reserved concurrency would carve capacity out of the account pool.
  #checkov:skip=CKV_AWS_173:Lambda encrypts the environment at rest with its AWS managed key; it holds a queue URL, a table name, a TTL and the signing secret's ARN, never a key (the functions read the keys from Secrets Manager at start-up).
  #checkov:skip=CKV_AWS_272:Code signing needs an AWS Signer profile and signed artifacts; the zip is built by cargo lambda in the deployer's own pipeline.
  function_name    = "${var.name_prefix}-dead-letter"
  description      = "vow dead-letter handler - settles promises whose messages exhausted their receives as Crashed."
  role             = aws_iam_role.dead_letter.arn
  filename         = var.dead_letter_zip
  source_code_hash = filebase64sha256(var.dead_letter_zip)
  runtime          = "provided.al2023"
  handler          = "bootstrap"
  architectures    = ["arm64"]
  memory_size      = var.memory_size
  timeout          = var.timeout
  tags             = var.tags

  environment {
    variables = local.function_environment
  }

  tracing_config {
    mode = "Active"
  }

  # JSON, so that Lambda sets AWS_LAMBDA_LOG_LEVEL, which the function reads.
  logging_config {
    log_format            = "JSON"
    application_log_level = var.log_level
    system_log_level      = "INFO"
    log_group             = aws_cloudwatch_log_group.dead_letter.name
  }

  depends_on = [aws_iam_role_policy.dead_letter]
}

resource "aws_lambda_event_source_mapping" "worker" {
  event_source_arn                   = aws_sqs_queue.work.arn
  function_name                      = aws_lambda_function.worker.arn
  batch_size                         = 10
  maximum_batching_window_in_seconds = 1
  function_response_types            = ["ReportBatchItemFailures"]

  scaling_config {
    maximum_concurrency = var.max_concurrency
  }
}

resource "aws_lambda_event_source_mapping" "dead_letter" {
  event_source_arn                   = aws_sqs_queue.dead_letter.arn
  function_name                      = aws_lambda_function.dead_letter.arn
  batch_size                         = 10
  maximum_batching_window_in_seconds = 1
  function_response_types            = ["ReportBatchItemFailures"]

  scaling_config {
    maximum_concurrency = var.max_concurrency
  }
}

# ------------------------------------------------------------------ alarms

# The dead-letter function drains this queue, so messages that stay visible
# mean it is failing or throttled: dead-lettered promises are not being settled.
resource "aws_cloudwatch_metric_alarm" "dead_letter_queue" {
  alarm_name          = "${var.name_prefix}-dead-letter-queue-not-empty"
  alarm_description   = "vow dead-letter queue has visible messages: the dead-letter function is not draining it (check its logs and errors)."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  dimensions          = { QueueName = aws_sqs_queue.dead_letter.name }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
  tags                = var.tags
}

# Work the workers do not take: a message older than
# var.oldest_message_alarm_seconds (default a day) is stuck (the worker failing
# to start, throttled, or a permission missing). At 14 days SQS deletes it and
# its promise never settles.
resource "aws_cloudwatch_metric_alarm" "work_queue_age" {
  alarm_name          = "${var.name_prefix}-work-queue-oldest-message"
  alarm_description   = "vow work queue's oldest message is older than oldest_message_alarm_seconds: the worker is not taking messages (check its errors, throttles and logs) and at 14 days SQS deletes them unsettled."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateAgeOfOldestMessage"
  dimensions          = { QueueName = aws_sqs_queue.work.name }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  threshold           = var.oldest_message_alarm_seconds
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
  tags                = var.tags
}

# Messages that fail verification (forged, altered, stale, signed for another
# queue or with a removed key): the worker and the dead-letter function count
# each one in the EMF metric vow/Refused (dimension `function`, the function's
# name); the dead-letter function also logs `vow: dead letter failed
# verification`. Any one is worth a look: someone is writing to the queues, or
# a signing key was removed too early.
resource "aws_cloudwatch_metric_alarm" "refused_messages" {
  alarm_name          = "${var.name_prefix}-refused-messages"
  alarm_description   = "vow refused a message that failed verification (forged, altered, stale or for another queue): check the worker's and the dead-letter function's logs (\"failed verification\") and who may send to the queues."
  evaluation_periods  = 1
  threshold           = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
  tags                = var.tags

  metric_query {
    id          = "refused"
    label       = "Messages refused by the worker and the dead-letter function"
    expression  = "FILL(worker, 0) + FILL(dead_letter, 0)"
    return_data = true
  }

  metric_query {
    id          = "worker"
    return_data = false

    metric {
      namespace   = "vow"
      metric_name = "Refused"
      dimensions  = { function = aws_lambda_function.worker.function_name }
      period      = 300
      stat        = "Sum"
    }
  }

  metric_query {
    id          = "dead_letter"
    return_data = false

    metric {
      namespace   = "vow"
      metric_name = "Refused"
      dimensions  = { function = aws_lambda_function.dead_letter.function_name }
      period      = 300
      stat        = "Sum"
    }
  }
}

# -------------------------------------------------------------- schedules
# EventBridge Scheduler sends each firing's start message to the work queue;
# its role may send to that queue and nothing else.

# The partition, region and account the module deploys in, read from the work
# queue's ARN (no API call).
data "aws_arn" "work_queue" {
  arn = aws_sqs_queue.work.arn
}

# Only for schedules of this account's default schedule group, where the
# module's schedules are (the confused-deputy guard AWS recommends: Scheduler
# sets aws:SourceArn to the schedule group's ARN).
data "aws_iam_policy_document" "scheduler_assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["scheduler.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_arn.work_queue.account]
    }

    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = ["arn:${data.aws_arn.work_queue.partition}:scheduler:${data.aws_arn.work_queue.region}:${data.aws_arn.work_queue.account}:schedule-group/default"]
    }
  }
}

resource "aws_iam_role" "scheduler" {
  count              = length(var.schedules) == 0 ? 0 : 1
  name_prefix        = "${var.name_prefix}-sched-"
  description        = "Role EventBridge Scheduler uses to send vow start messages to the work queue."
  assume_role_policy = data.aws_iam_policy_document.scheduler_assume.json
  tags               = var.tags
}

data "aws_iam_policy_document" "scheduler" {
  statement {
    sid       = "SendStartMessages"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.work.arn]
  }
}

resource "aws_iam_role_policy" "scheduler" {
  count  = length(var.schedules) == 0 ? 0 : 1
  name   = "vow-scheduler"
  role   = aws_iam_role.scheduler[0].id
  policy = data.aws_iam_policy_document.scheduler.json
}

resource "aws_scheduler_schedule" "this" {
  for_each = var.schedules
  #checkov:skip=CKV_AWS_297:The schedule holds a queue ARN, a task tag and its input, no secret; EventBridge Scheduler encrypts it with an AWS owned key.

  name                         = "${var.name_prefix}-${each.key}"
  schedule_expression          = each.value.expression
  schedule_expression_timezone = each.value.timezone

  flexible_time_window {
    mode = "OFF"
  }

  target {
    arn      = aws_sqs_queue.work.arn
    role_arn = aws_iam_role.scheduler[0].arn
    # The documented start message (README, "Schedules"); EventBridge
    # Scheduler fills in the firing's time.
    input = jsonencode({
      vow      = "start"
      schedule = each.key
      task     = each.value.task
      input    = jsondecode(each.value.input)
      at       = "<aws.scheduler.scheduled-time>"
    })

    retry_policy {
      maximum_event_age_in_seconds = 86400
      maximum_retry_attempts       = 185
    }
  }
}
