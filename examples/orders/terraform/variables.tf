variable "region" {
  description = "AWS region to deploy to."
  type        = string
  default     = "us-east-1"
}

variable "name_prefix" {
  description = "Prefix of every resource name."
  type        = string
  default     = "orders"
}

variable "signing" {
  description = "How messages are signed: \"generated\" (a key generated into Secrets Manager), \"existing\" (signing_secret_arn) or \"off\" (unsigned)."
  type        = string
  default     = "generated"
}

variable "signing_secret_arn" {
  description = "With signing = \"existing\": ARN of the Secrets Manager secret holding the signing keys; null otherwise."
  type        = string
  default     = null
}

variable "deletion_protection" {
  description = "Deletion protection on the orders and promise tables (false for throwaway environments)."
  type        = bool
  default     = true
}

variable "producer_role_arns" {
  description = "IAM role ARNs allowed to send to vow's work queue (the applications that place orders; yours, to run place-order against the stack). The queue's policy refuses every other sender but the module's own roles."
  type        = list(string)
  default     = []
}

variable "alarm_topic_arn" {
  description = "SNS topic ARN the stack's alarms notify (dead-letter queue not empty, work queue's oldest message older than a day); null for none."
  type        = string
  default     = null
}
