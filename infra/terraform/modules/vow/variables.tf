variable "name_prefix" {
  description = "Prefix of every resource name (queues, table, functions, roles, log groups). At most 30 characters: IAM role name prefixes are capped at 38."
  type        = string
  default     = "vow"

  validation {
    condition     = can(regex("^[a-zA-Z][a-zA-Z0-9-]{0,29}$", var.name_prefix))
    error_message = "name_prefix must start with a letter and hold at most 30 letters, digits or hyphens."
  }
}

variable "worker_zip" {
  description = "Path of the worker deployment zip (cargo lambda build --release --arm64 --output-format zip: target/lambda/<binary>/bootstrap.zip). Your own worker binary links your task crates."
  type        = string
}

variable "dead_letter_zip" {
  description = "Path of the dead-letter deployment zip (target/lambda/<binary>/bootstrap.zip)."
  type        = string
}

variable "extra_policy_arns" {
  description = "Managed policy ARNs attached to the worker's role, for what your tasks call."
  type        = list(string)
  default     = []
}

variable "extra_policy_json" {
  description = "An IAM policy document (JSON) merged into the worker's role policy, for what your tasks call (Sids other than Logs, Tracing, ConsumeWorkQueue, SendFollowUps, PromiseTable, DataTables). Null for none."
  type        = string
  default     = null
}

variable "data_table_names" {
  description = "DynamoDB tables (names, this account and region) your tasks read: the worker may GetItem, BatchGetItem, Query and Scan exactly these."
  type        = list(string)
  default     = []
}

variable "signing" {
  description = <<-EOT
    How messages are signed (README, "Security"). "generated" (the default): a
    key generated into a new Secrets Manager secret. "existing": the secret
    signing_secret_arn names. Either way the functions read the secret at
    start-up (it is never in their environment) and producers need read on it
    (the signing_key_read_policy_arn output). "off": unsigned, which the
    functions are told (VOW_UNSIGNED=1) and log.
  EOT
  type        = string
  default     = "generated"

  validation {
    condition     = contains(["generated", "existing", "off"], var.signing)
    error_message = "signing must be \"generated\", \"existing\" or \"off\"."
  }
}

variable "signing_secret_arn" {
  description = "With signing = \"existing\": ARN of the Secrets Manager secret holding the signing keys (JSON {\"kid\",\"key\",\"old\"} or id=secret,...). Must be null otherwise."
  type        = string
  default     = null

  validation {
    condition     = var.signing_secret_arn == null || can(regex("^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:.+$", var.signing_secret_arn))
    error_message = "signing_secret_arn must be a Secrets Manager secret ARN."
  }
}

variable "log_level" {
  description = "Application log level of both functions (Lambda's JSON logging sets AWS_LAMBDA_LOG_LEVEL, which the functions read)."
  type        = string
  default     = "INFO"

  validation {
    condition     = contains(["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"], var.log_level)
    error_message = "log_level must be one of TRACE, DEBUG, INFO, WARN, ERROR, FATAL."
  }
}

variable "memory_size" {
  description = "Memory (MB) of both functions."
  type        = number
  default     = 256

  validation {
    condition     = var.memory_size >= 128 && var.memory_size <= 10240
    error_message = "memory_size must be between 128 and 10240 MB."
  }
}

variable "timeout" {
  description = "Timeout (seconds) of both functions. Each queue's visibility timeout is 6x this (AWS guidance for SQS event sources)."
  type        = number
  default     = 60

  validation {
    # 900 s is Lambda's maximum; 6 x 900 stays under SQS's 12 h visibility limit.
    condition     = var.timeout >= 1 && var.timeout <= 900 && floor(var.timeout) == var.timeout
    error_message = "timeout must be a whole number of seconds between 1 and 900."
  }
}

variable "max_concurrency" {
  description = "Maximum concurrent invocations each SQS event source mapping may start (ScalingConfig MaximumConcurrency)."
  type        = number
  default     = 10

  validation {
    condition     = var.max_concurrency >= 2 && var.max_concurrency <= 1000
    error_message = "max_concurrency must be between 2 and 1000."
  }
}

variable "max_receive_count" {
  description = "Receives of one message before SQS moves it to the dead-letter queue."
  type        = number
  default     = 5

  validation {
    condition     = var.max_receive_count >= 1 && var.max_receive_count <= 1000
    error_message = "max_receive_count must be between 1 and 1000."
  }
}

variable "log_retention_days" {
  description = "Retention of the functions' log groups."
  type        = number
  default     = 30

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a value CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, ...)."
  }
}

variable "record_ttl_days" {
  description = "Days a settled promise record is kept before DynamoDB TTL removes it (VOW_RECORD_TTL_DAYS, 15 to 3650)."
  type        = number
  default     = 30

  # A whole number (the functions parse it as an unsigned integer) from 15 to
  # 3650, the range the code accepts (vow::aws::MIN_RECORD_TTL_DAYS and
  # MAX_RECORD_TTL_DAYS): longer than the queues' 14-day message retention, so no
  # message outlives its record; a value the code refuses would fail every
  # start-up.
  validation {
    condition     = var.record_ttl_days >= 15 && var.record_ttl_days <= 3650 && floor(var.record_ttl_days) == var.record_ttl_days
    error_message = "record_ttl_days must be a whole number of days from 15 to 3650."
  }
}

variable "deletion_protection" {
  description = "DynamoDB deletion protection on the promise table (false for throwaway environments)."
  type        = bool
  default     = true
}

variable "alarm_topic_arn" {
  description = "Optional SNS topic ARN notified when an alarm (dead-letter queue not empty, work queue's oldest message too old, a message refused) changes state."
  type        = string
  default     = null
}

variable "oldest_message_alarm_seconds" {
  description = "Age (seconds) of the work queue's oldest message above which its alarm fires (default one day)."
  type        = number
  default     = 86400

  # At most 12 days: the alarm fires at least a day before the work queue's
  # 14-day retention deletes a message (and its promise never settles).
  validation {
    condition     = var.oldest_message_alarm_seconds >= 300 && var.oldest_message_alarm_seconds <= 1036800
    error_message = "oldest_message_alarm_seconds must be from 300 to 1036800 (12 days)."
  }
}

variable "producer_role_arns" {
  description = "IAM role ARNs (any account) allowed to send to the work queue: your applications that start workflows or resolve callbacks. The queue's policy denies sqs:SendMessage to every other principal except the module's own roles and its EventBridge sweep rule."
  type        = list(string)
  default     = []

  validation {
    condition     = length([for arn in var.producer_role_arns : arn if can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:role/.+$", arn))]) == length(var.producer_role_arns)
    error_message = "producer_role_arns must be IAM role ARNs (arn:aws:iam::ACCOUNT:role/NAME)."
  }
}

variable "tags" {
  description = "Tags added to every resource that takes tags."
  type        = map(string)
  default     = {}
}

variable "schedules" {
  description = <<-EOT
    Schedules, each starting a workflow at every firing: name => {
    expression (EventBridge Scheduler: "cron(0 3 * * ? *)", "rate(1 hour)"),
    timezone (IANA, default "UTC"), task (the tag of a registered task whose
    Input is ()), input (the task's fields as JSON text, default "{}") }.
    Each firing sends one start message to the work queue; the workflow it
    starts is named after the schedule and the firing's time, so a duplicate
    starts nothing. The worker accepts these unsigned messages only for the
    names and tasks declared here (VOW_SCHEDULES).
  EOT
  type = map(object({
    expression = string
    timezone   = optional(string, "UTC")
    task       = string
    input      = optional(string, "{}")
  }))
  default = {}

  validation {
    condition     = length([for name in keys(var.schedules) : name if can(regex("^[0-9a-zA-Z_.-]{1,30}$", name))]) == length(var.schedules)
    error_message = "schedule names are 1 to 30 letters, digits, '.', '_' or '-'."
  }
}
