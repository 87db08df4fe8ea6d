output "orders_table_name" {
  description = "Name of the orders table (pass it in the workflow's state)."
  value       = aws_dynamodb_table.orders.name
}

output "queue_url" {
  description = "URL of the work queue (VOW_QUEUE_URL)."
  value       = module.vow.queue_url
}

output "table_name" {
  description = "Name of the promise table (VOW_TABLE_NAME)."
  value       = module.vow.table_name
}

output "signing_secret_arn" {
  description = "The signing secret (VOW_SIGNING_SECRET_ARN for producers)."
  value       = module.vow.signing_secret_arn
}

output "signing_key_read_policy_arn" {
  description = "Attach to the producers' roles: read on the signing secret."
  value       = module.vow.signing_key_read_policy_arn
}
