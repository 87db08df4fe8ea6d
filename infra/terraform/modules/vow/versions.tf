terraform {
  required_version = ">= 1.5.0"

  required_providers {
    aws = {
      source = "hashicorp/aws"
      # logging_config on aws_lambda_function needs >= 5.31; scaling_config on
      # aws_lambda_event_source_mapping and sqs_managed_sse_enabled are older.
      version = ">= 5.31, < 7.0"
    }
    # The generated signing key.
    random = {
      source  = "hashicorp/random"
      version = ">= 3.1, < 4.0"
    }
  }
}
