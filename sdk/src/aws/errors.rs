//! How AWS SDK errors met along a task error's source chain are classified (see
//! [`crate::Error::from`]), and the error codes that mean "try again later".
//!
//! An `SdkError<E, R>` is generic over its service, so it cannot be downcast
//! without knowing the service. What can be recognised by type is recognised by
//! type (`ConnectorError` for dispatch failures, `ErrorMetadata` for service
//! errors the SDK did not model, such as `AccessDeniedException`). The
//! `SdkError` itself is recognised by its variant (its `Debug` names it, its
//! `Display` is fixed per variant), and a modeled service error by its code,
//! which its `Display` starts with (`ResourceNotFoundException: ...`).

use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_types::error::ErrorMetadata;
use std::error::Error as StdError;

/// Error codes of throttling and transient server errors (the AWS SDKs' retry
/// classifiers' lists, plus DynamoDB's and SQS's own).
pub(crate) fn transient_code(code: &str) -> bool {
    matches!(
        code,
        "Throttling"
            | "ThrottlingException"
            | "ThrottledException"
            | "RequestThrottledException"
            | "RequestThrottled"
            | "TooManyRequestsException"
            | "ProvisionedThroughputExceededException"
            | "TransactionInProgressException"
            | "RequestLimitExceeded"
            | "BandwidthLimitExceeded"
            | "LimitExceededException"
            | "SlowDown"
            | "PriorRequestNotComplete"
            | "EC2ThrottledException"
            | "RequestTimeout"
            | "RequestTimeoutException"
            | "InternalError"
            | "InternalFailure"
            | "InternalServerError"
            | "InternalServerException"
            | "ServiceUnavailable"
            | "ServiceUnavailableException"
            | "TransactionConflictException"
            | "KMSThrottled"
            | "KMSThrottlingException"
    )
}

/// The decision for one error of a chain, if it is an AWS SDK error.
pub(crate) fn retryable(e: &(dyn StdError + 'static)) -> Option<bool> {
    if let Some(c) = e.downcast_ref::<ConnectorError>() {
        return Some(connector(c));
    }
    if let Some(meta) = e.downcast_ref::<ErrorMetadata>() {
        return meta.code().map(transient_code);
    }
    match sdk_variant(e)? {
        "ConstructionFailure" => Some(false),
        "TimeoutError" | "ResponseError" => Some(true),
        "DispatchFailure" => Some(
            e.source()
                .and_then(|s| s.downcast_ref::<ConnectorError>())
                .is_none_or(connector),
        ),
        // A service error: decided by its code, found further down the chain.
        _ => service_code(e).map(|code| transient_code(&code)),
    }
}

/// A "user" connector error is a bad request configuration: it stays bad. The
/// others (I/O, timeouts) are the network's.
fn connector(c: &ConnectorError) -> bool {
    !c.is_user()
}

/// The variant of an `SdkError`, if `e` is one.
fn sdk_variant(e: &(dyn StdError + 'static)) -> Option<&'static str> {
    const VARIANTS: [(&str, &str); 5] = [
        ("ConstructionFailure", "failed to construct request"),
        ("TimeoutError", "request has timed out"),
        ("DispatchFailure", "dispatch failure"),
        ("ResponseError", "response error"),
        ("ServiceError", "service error"),
    ];
    let shown = e.to_string();
    let (variant, _) = VARIANTS.iter().find(|(_, text)| shown == *text)?;
    let debug = format!("{e:?}");
    let named = debug
        .strip_prefix(variant)
        .is_some_and(|rest| rest.starts_with('('));
    (named && e.source().is_some()).then_some(*variant)
}

/// The code of the service error under the `SdkError` `e`: from the error's
/// metadata when it is in the chain, else from the modeled error's text.
fn service_code(e: &(dyn StdError + 'static)) -> Option<String> {
    let mut next = e.source();
    let mut from_text = None;
    for _ in 0..8 {
        let Some(cause) = next else { break };
        if let Some(meta) = cause.downcast_ref::<ErrorMetadata>() {
            if let Some(code) = meta.code() {
                return Some(code.to_owned());
            }
        }
        if from_text.is_none() {
            from_text = code_of_text(&cause.to_string());
        }
        next = cause.source();
    }
    from_text
}

/// `ResourceNotFoundException` from `ResourceNotFoundException: Requested
/// resource not found`: a modeled error's `Display` starts with its code.
fn code_of_text(text: &str) -> Option<String> {
    let head = text.split(':').next()?.trim();
    let looks_like_code = head.len() >= 3
        && head.starts_with(|c: char| c.is_ascii_uppercase())
        && head.chars().all(|c| c.is_ascii_alphanumeric());
    looks_like_code.then(|| head.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_dynamodb::operation::get_item::GetItemError;
    use aws_sdk_dynamodb::types::error::{
        ProvisionedThroughputExceededException, ResourceNotFoundException,
    };
    use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
    use aws_smithy_runtime_api::client::result::SdkError;
    use aws_smithy_types::body::SdkBody;

    fn service(err: GetItemError, status: u16) -> SdkError<GetItemError, HttpResponse> {
        let raw = HttpResponse::new(
            status.try_into().expect("valid status"),
            SdkBody::from("{}"),
        );
        SdkError::service_error(err, raw)
    }

    fn class(e: SdkError<GetItemError, HttpResponse>) -> (bool, String) {
        let e = crate::Error::from(e);
        (e.is_retryable(), e.failure().message().to_owned())
    }

    #[test]
    fn unmodeled_service_errors_go_by_their_code() {
        let meta = |code: &str| {
            ErrorMetadata::builder()
                .code(code)
                .message("not for you")
                .build()
        };
        let (retry, message) = class(service(
            GetItemError::generic(meta("AccessDeniedException")),
            400,
        ));
        assert!(!retry, "{message}");
        assert!(message.contains("AccessDeniedException"), "{message}");
        assert!(message.contains("not for you"), "{message}");
        let (retry, _) = class(service(
            GetItemError::generic(meta("ThrottlingException")),
            400,
        ));
        assert!(retry);
        let (retry, _) = class(service(
            GetItemError::generic(meta("ValidationException")),
            400,
        ));
        assert!(!retry);
    }

    #[test]
    fn modeled_service_errors_go_by_their_code() {
        let missing = ResourceNotFoundException::builder()
            .message("Requested resource not found")
            .build();
        let (retry, message) = class(service(
            GetItemError::ResourceNotFoundException(missing),
            400,
        ));
        assert!(!retry);
        assert_eq!(
            message,
            "service error: ResourceNotFoundException: Requested resource not found"
        );
        let busy = ProvisionedThroughputExceededException::builder()
            .message("slow down")
            .build();
        let (retry, _) = class(service(
            GetItemError::ProvisionedThroughputExceededException(busy),
            400,
        ));
        assert!(retry);
    }

    #[test]
    fn transport_errors_are_retryable_and_bad_requests_are_not() {
        let timeout: SdkError<GetItemError, HttpResponse> =
            SdkError::timeout_error(std::io::Error::other("operation timed out"));
        assert!(class(timeout).0);
        let dispatch: SdkError<GetItemError, HttpResponse> = SdkError::dispatch_failure(
            ConnectorError::io(std::io::Error::other("connection refused").into()),
        );
        assert!(class(dispatch).0);
        let user: SdkError<GetItemError, HttpResponse> = SdkError::dispatch_failure(
            ConnectorError::user(std::io::Error::other("bad endpoint").into()),
        );
        assert!(!class(user).0);
        let build: SdkError<GetItemError, HttpResponse> =
            SdkError::construction_failure(std::io::Error::other("missing table name"));
        assert!(!class(build).0);
    }

    #[test]
    fn a_lookalike_is_not_an_sdk_error() {
        #[derive(Debug)]
        struct Pretend(std::io::Error);
        impl std::fmt::Display for Pretend {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("failed to construct request")
            }
        }
        impl StdError for Pretend {
            fn source(&self) -> Option<&(dyn StdError + 'static)> {
                Some(&self.0)
            }
        }
        assert_eq!(retryable(&Pretend(std::io::Error::other("x"))), None);
    }

    #[test]
    fn codes_from_text() {
        assert_eq!(
            code_of_text("ConditionalCheckFailedException: The conditional request failed"),
            Some("ConditionalCheckFailedException".to_owned())
        );
        assert_eq!(code_of_text("unhandled error (Foo)"), None);
        assert_eq!(code_of_text("x"), None);
    }
}
