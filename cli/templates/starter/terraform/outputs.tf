output "orders_table_name" {
  description = "Name of the orders table (place-order's --orders-table)."
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

output "dead_letter_queue_url" {
  description = "URL of the dead-letter queue (VOW_DLQ_URL)."
  value       = module.vow.dead_letter_queue_url
}
