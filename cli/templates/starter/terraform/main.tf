# {{name}} on AWS with Terraform: vow's module (./vow, a copy of the vow
# release's module that `vow new` wrote) running this project's own worker
# binaries, plus the orders table its tasks use. From the project's folder:
#
#   pip install cargo-lambda ziglang
#   cargo lambda build --release --arm64 --output-format zip
#   cd terraform && terraform init && terraform apply

terraform {
  required_version = ">= 1.5.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.31, < 7.0"
    }
  }
}

provider "aws" {
  region = var.region

  default_tags {
    tags = {
      application = "{{prefix}}"
    }
  }
}

resource "aws_dynamodb_table" "orders" {
  #checkov:skip=CKV_AWS_119:SSE is on with the AWS managed key (aws/dynamodb), as for the promise table.
  name                        = "${var.name_prefix}-orders"
  billing_mode                = "PAY_PER_REQUEST"
  hash_key                    = "order_id"
  deletion_protection_enabled = var.deletion_protection

  attribute {
    name = "order_id"
    type = "S"
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled = true
  }
}

# Exactly what the tasks call (tasks/src/store.rs), on the orders table only.
data "aws_iam_policy_document" "orders" {
  statement {
    sid       = "OrdersTable"
    actions   = ["dynamodb:GetItem", "dynamodb:PutItem"]
    resources = [aws_dynamodb_table.orders.arn]
  }
}

locals {
  # cargo lambda's output folder in this project.
  lambda_dir = "${path.module}/../target/lambda"
}

module "vow" {
  source = "./vow"

  name_prefix         = var.name_prefix
  worker_zip          = "${local.lambda_dir}/{{name}}-worker/bootstrap.zip"
  dead_letter_zip     = "${local.lambda_dir}/{{name}}-dead-letter/bootstrap.zip"
  extra_policy_json   = data.aws_iam_policy_document.orders.json
  deletion_protection = var.deletion_protection
  producer_role_arns  = var.producer_role_arns
  alarm_topic_arn     = var.alarm_topic_arn
}
