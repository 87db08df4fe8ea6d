# Example: deploy vow with the module in ../modules/vow.
#
# Build both functions first, from the repository root:
#   cargo lambda build --release --arm64 --output-format zip
# which writes target/lambda/vow-worker/bootstrap.zip and
# target/lambda/vow-dead-letter/bootstrap.zip. Then, in this directory:
#   terraform init && terraform apply
# Against LocalStack, use tflocal (pip install terraform-local) or the provider
# block commented out below; see infra/localstack/README.md.

terraform {
  required_version = ">= 1.5.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.31, < 7.0"
    }
  }
}

variable "region" {
  description = "AWS region to deploy to."
  type        = string
  default     = "us-east-1"
}

variable "name_prefix" {
  description = "Prefix of every resource name."
  type        = string
  default     = "vow"
}

variable "deletion_protection" {
  description = "DynamoDB deletion protection (false for throwaway environments such as LocalStack)."
  type        = bool
  default     = true
}

provider "aws" {
  region = var.region

  default_tags {
    tags = {
      application = "vow"
    }
  }
}

# LocalStack without tflocal: comment out the provider above and use this one
# (docker compose -f infra/localstack/docker-compose.yml up -d).
#
# provider "aws" {
#   region                      = var.region
#   access_key                  = "test"
#   secret_key                  = "test"
#   skip_credentials_validation = true
#   skip_metadata_api_check     = true
#   skip_requesting_account_id  = true
#
#   endpoints {
#     cloudwatch     = "http://127.0.0.1:4566"
#     dynamodb       = "http://127.0.0.1:4566"
#     events         = "http://127.0.0.1:4566"
#     iam            = "http://127.0.0.1:4566"
#     lambda         = "http://127.0.0.1:4566"
#     logs           = "http://127.0.0.1:4566"
#     sqs            = "http://127.0.0.1:4566"
#     sts            = "http://127.0.0.1:4566"
#   }
# }

locals {
  # cargo lambda's default output directory, relative to this example.
  lambda_dir = "${path.module}/../../../target/lambda"
}

module "vow" {
  source = "../modules/vow"

  name_prefix         = var.name_prefix
  worker_zip          = "${local.lambda_dir}/vow-worker/bootstrap.zip"
  dead_letter_zip     = "${local.lambda_dir}/vow-dead-letter/bootstrap.zip"
  deletion_protection = var.deletion_protection

  # Defaults, spelled out for reference.
  memory_size        = 256
  timeout            = 60
  max_concurrency    = 10
  max_receive_count  = 5
  log_retention_days = 30
  record_ttl_days    = 30
  log_level          = "INFO"

  # For your own tasks (see the README): your worker's zips above, and
  #   extra_policy_arns  = ["arn:aws:iam::aws:policy/..."]
  #   extra_policy_json  = data.aws_iam_policy_document.my_tasks.json
  #   data_table_names   = ["my-table"] # read by tasks (samples/count-segment scans one)
  # Messages are signed with a key generated into Secrets Manager (signing =
  # "generated", the default); your own secret instead:
  #   signing            = "existing"
  #   signing_secret_arn = "arn:aws:secretsmanager:...:secret:vow-signing-keys-..."
  # or unsigned, on purpose (the functions log it): signing = "off".
}

output "queue_url" {
  value = module.vow.queue_url
}

output "queue_arn" {
  value = module.vow.queue_arn
}

output "dead_letter_queue_url" {
  value = module.vow.dead_letter_queue_url
}

output "table_name" {
  value = module.vow.table_name
}

output "table_arn" {
  value = module.vow.table_arn
}

output "timer_table_name" {
  value = module.vow.timer_table_name
}

output "worker_function_arn" {
  value = module.vow.worker_function_arn
}

output "dead_letter_function_arn" {
  value = module.vow.dead_letter_function_arn
}

output "signing_secret_arn" {
  value = module.vow.signing_secret_arn
}

output "signing_key_read_policy_arn" {
  value = module.vow.signing_key_read_policy_arn
}
