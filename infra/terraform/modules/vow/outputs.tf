output "queue_url" {
  description = "URL of the work queue (VOW_QUEUE_URL)."
  value       = aws_sqs_queue.work.url
}

output "queue_arn" {
  description = "ARN of the work queue."
  value       = aws_sqs_queue.work.arn
}

output "dead_letter_queue_url" {
  description = "URL of the dead-letter queue."
  value       = aws_sqs_queue.dead_letter.url
}

output "dead_letter_queue_arn" {
  description = "ARN of the dead-letter queue."
  value       = aws_sqs_queue.dead_letter.arn
}

output "table_name" {
  description = "Name of the promise table (VOW_TABLE_NAME)."
  value       = aws_dynamodb_table.promises.name
}

output "table_arn" {
  description = "ARN of the promise table."
  value       = aws_dynamodb_table.promises.arn
}

output "timer_table_name" {
  description = "Name of the timer index's table (VOW_TIMER_TABLE)."
  value       = aws_dynamodb_table.timers.name
}

output "worker_function_arn" {
  description = "ARN of the worker function."
  value       = aws_lambda_function.worker.arn
}

output "dead_letter_function_arn" {
  description = "ARN of the dead-letter function."
  value       = aws_lambda_function.dead_letter.arn
}

output "signing_secret_arn" {
  description = "ARN of the Secrets Manager secret holding the signing keys (VOW_SIGNING_SECRET_ARN for producers); null with signing = \"off\"."
  value       = local.signing_secret_arn
}

output "signing_key_read_policy_arn" {
  description = "ARN of a managed policy allowing secretsmanager:GetSecretValue on the signing secret: attach it to the producers' roles. Null with signing = \"off\"."
  value       = var.signing == "off" ? null : aws_iam_policy.signing_key_read[0].arn
}
