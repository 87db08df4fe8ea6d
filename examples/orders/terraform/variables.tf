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

variable "signing_secret_arn" {
  description = "ARN of a Secrets Manager secret holding VOW_SIGNING_KEYS (id=secret,...); null for unsigned messages."
  type        = string
  default     = null
}

variable "deletion_protection" {
  description = "Deletion protection on the orders and promise tables (false for throwaway environments)."
  type        = bool
  default     = true
}
