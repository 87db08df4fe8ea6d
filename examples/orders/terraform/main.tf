# The orders starter on AWS with Terraform: the vow module
# (infra/terraform/modules/vow) running this project's own worker binaries,
# plus the orders table its tasks use. Deploy from examples/orders/:
#
#   pip install cargo-lambda ziglang
#   (cd worker && cargo lambda build --release --arm64 --output-format zip)
#   cd terraform && terraform init && terraform apply
#
# Then start workflows with VOW_QUEUE_URL=<queue_url>, VOW_TABLE_NAME=<table_name>
# and the orders table's name (orders_table_name) in the workflow's state.

terraform {
  required_version = ">= 1.5.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.31, < 7.0"
    }
    random = {
      source  = "hashicorp/random"
      version = ">= 3.1, < 4.0"
    }
  }
}

provider "aws" {
  region = var.region

  default_tags {
    tags = {
      application = "orders"
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

# Exactly what the orders tasks call, on the orders table only.
data "aws_iam_policy_document" "orders" {
  statement {
    sid       = "OrdersTable"
    actions   = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"]
    resources = [aws_dynamodb_table.orders.arn]
  }
}

locals {
  # cargo lambda's output directory in this project's workspace.
  lambda_dir = "${path.module}/../target/lambda"
}

module "vow" {
  source = "../../../infra/terraform/modules/vow"

  name_prefix         = var.name_prefix
  worker_zip          = "${local.lambda_dir}/orders-worker/bootstrap.zip"
  dead_letter_zip     = "${local.lambda_dir}/orders-dead-letter/bootstrap.zip"
  extra_policy_json   = data.aws_iam_policy_document.orders.json
  signing             = var.signing
  signing_secret_arn  = var.signing_secret_arn
  deletion_protection = var.deletion_protection
  producer_role_arns  = var.producer_role_arns
  alarm_topic_arn     = var.alarm_topic_arn
}
