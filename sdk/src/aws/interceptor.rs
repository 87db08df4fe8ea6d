//! [`FaultInterceptor`]: HTTP-level faults for the AWS SDK clients. It replaces a
//! fraction of *successful* responses with 500s after the service applied the
//! request: the SDK retries (a second `UpdateItem` meets its own condition, a
//! second `SendMessageBatch` duplicates messages), which is the hardest case for
//! exactly-once settlement.

use crate::fault::Faults;
use aws_sdk_sqs::config::interceptors::BeforeDeserializationInterceptorContextMut;
use aws_sdk_sqs::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;
use std::sync::Arc;

/// Injects lost replies into SDK calls, drawing from shared [`Faults`]
/// (`fail_after`). Add it to a client config with `.interceptor(...)`.
#[derive(Debug, Clone)]
pub struct FaultInterceptor {
    faults: Arc<Faults>,
}

impl FaultInterceptor {
    /// An interceptor drawing from `faults`.
    pub fn new(faults: Arc<Faults>) -> Self {
        FaultInterceptor { faults }
    }
}

impl Intercept for FaultInterceptor {
    fn name(&self) -> &'static str {
        "vow::FaultInterceptor"
    }

    fn modify_before_deserialization(
        &self,
        context: &mut BeforeDeserializationInterceptorContextMut<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let response = context.response_mut();
        if response.status().is_success() && self.faults.lose_reply() {
            *response.status_mut() = StatusCode::try_from(500u16)?;
            *response.body_mut() = SdkBody::from(
                r#"{"__type":"InternalFailure","message":"injected fault: reply lost after the request took effect"}"#,
            );
        }
        Ok(())
    }
}
