variable "region" {
  description = "AWS region to deploy to."
  type        = string
  default     = "us-east-1"
}

variable "name_prefix" {
  description = "Prefix of every resource name (at most 30 letters, digits or hyphens)."
  type        = string
  default     = "{{prefix}}"
}

variable "deletion_protection" {
  description = "Deletion protection on the orders and promise tables (false for throwaway environments)."
  type        = bool
  default     = true
}
