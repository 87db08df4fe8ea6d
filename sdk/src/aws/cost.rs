//! What requests cost: AWS list prices in one table, and DynamoDB's rules for
//! how many capacity units a request consumes.
//!
//! ```
//! use vow::aws::{Counts, LIST_PRICES};
//! let counts = Counts { sqs_send: 1, sqs_receive: 1, sqs_delete: 1, write_units: 10, ..Counts::default() };
//! // 3 SQS requests and 10 write units.
//! assert!((counts.usd(&LIST_PRICES) - (3.0 * 0.40 + 10.0 * 0.625) / 1e6).abs() < 1e-12);
//! ```

use crate::store::number_size;
use aws_sdk_dynamodb::types::AttributeValue;
use std::collections::HashMap;

/// Prices in US dollars per request or capacity unit.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Prices {
    /// One SQS standard-queue request (each 64 KiB of payload counts as one).
    pub sqs_request: f64,
    /// One DynamoDB on-demand write request unit (a write of up to 1 KB).
    pub write_unit: f64,
    /// One DynamoDB on-demand read request unit (a consistent read of up to 4 KB).
    pub read_unit: f64,
    /// One Lambda request.
    pub lambda_request: f64,
    /// One GB-second of Lambda compute on arm64.
    pub lambda_gb_second: f64,
}

/// List prices in US East (N. Virginia), on demand, past the free tiers:
///
/// | what | USD per million |
/// |---|---|
/// | SQS standard request | 0.40 |
/// | DynamoDB write request unit | 0.625 |
/// | DynamoDB read request unit | 0.125 |
/// | Lambda request | 0.20 |
/// | Lambda GB-second, arm64 | 13.3334 |
///
/// Change them here and every figure vow prints follows.
pub const LIST_PRICES: Prices = Prices {
    sqs_request: 0.40e-6,
    write_unit: 0.625e-6,
    read_unit: 0.125e-6,
    lambda_request: 0.20e-6,
    lambda_gb_second: 13.3334e-6,
};

/// The size DynamoDB bills an item at: attribute names plus values (strings and
/// binaries by length, numbers by significant digits), as documented in "Item
/// sizes and formats".
pub fn item_size(item: &HashMap<String, AttributeValue>) -> usize {
    item.iter().map(|(k, v)| k.len() + value_size(v)).sum()
}

fn value_size(v: &AttributeValue) -> usize {
    match v {
        AttributeValue::S(s) => s.len(),
        AttributeValue::N(n) => number_size(n),
        AttributeValue::B(b) => b.as_ref().len(),
        AttributeValue::Bool(_) | AttributeValue::Null(_) => 1,
        AttributeValue::Ss(list) => list.iter().map(String::len).sum(),
        AttributeValue::Ns(list) => list.iter().map(|n| number_size(n)).sum(),
        AttributeValue::Bs(list) => list.iter().map(|b| b.as_ref().len()).sum(),
        AttributeValue::L(list) => 3 + list.iter().map(|v| 1 + value_size(v)).sum::<usize>(),
        AttributeValue::M(map) => {
            3 + map
                .iter()
                .map(|(k, v)| 1 + k.len() + value_size(v))
                .sum::<usize>()
        }
        _ => 0,
    }
}

/// Write units a write consumes: one per started KB of the larger of the item
/// before and after.
pub fn write_units(bytes: usize) -> u64 {
    bytes.div_ceil(1024).max(1) as u64
}

/// Read units a strongly consistent read consumes: one per started 4 KB.
pub fn read_units(bytes: usize) -> u64 {
    bytes.div_ceil(4096).max(1) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_follow_dynamodb_rules() {
        let item = HashMap::from([
            ("pk".to_owned(), AttributeValue::S("abc".into())),
            ("n".to_owned(), AttributeValue::N("12345".into())),
            ("ok".to_owned(), AttributeValue::Bool(true)),
        ]);
        // 2+3, 1+(3+1), 2+1
        assert_eq!(item_size(&item), 13);
        assert_eq!(number_size("1000"), 2);
        assert_eq!(number_size("-0.0125"), 3);
        assert_eq!(write_units(0), 1);
        assert_eq!(write_units(1024), 1);
        assert_eq!(write_units(1025), 2);
        assert_eq!(read_units(4097), 2);
    }
}
