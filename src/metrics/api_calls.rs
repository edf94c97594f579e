//! EC2 API calls, counted where they are made ([`crate::resolve::ec2`]) by
//! action and a short result, for `eice_proxy_aws_api_calls_total`.

use aws_sdk_ec2::error::{ProvideErrorMetadata, SdkError};

use super::Counter;

/// EC2 API calls by (action, result), process-wide.
///
/// The calls are made by [`Ec2`](crate::resolve::Ec2), which the command layer
/// builds and the resolver owns; handing it a [`Metrics`](super::Metrics)
/// would change both constructors and every caller for one counter. A process
/// runs one proxy, so one table, rendered by every `Metrics`, says the same.
pub(super) static AWS_CALLS: Counter<(&'static str, &'static str)> = Counter::new();

/// Counts one EC2 call and hands its result back unchanged.
pub fn counted<T, E, R>(
    action: &'static str,
    result: Result<T, SdkError<E, R>>,
) -> Result<T, SdkError<E, R>>
where
    E: ProvideErrorMetadata,
{
    let label = match &result {
        Ok(_) => "ok",
        Err(SdkError::TimeoutError(_)) => "timeout",
        Err(e) => result_label(e.code()),
    };
    AWS_CALLS.add((action, label));
    result
}

/// [`counted`] for a paginator's next page; its final `Ok(None)` made no call.
pub fn counted_page<T, E, R>(
    action: &'static str,
    result: Result<Option<T>, SdkError<E, R>>,
) -> Result<Option<T>, SdkError<E, R>>
where
    E: ProvideErrorMetadata,
{
    match result {
        Ok(None) => Ok(None),
        result => counted(action, result),
    }
}

/// An AWS error code as one of a few labels, so that the series stay bounded.
fn result_label(code: Option<&str>) -> &'static str {
    match code {
        Some(code) if code.ends_with(".NotFound") || code.ends_with("NotFoundException") => {
            "not_found"
        }
        Some("RequestLimitExceeded" | "Throttling" | "ThrottlingException") => "throttled",
        Some(
            "UnauthorizedOperation"
            | "AccessDenied"
            | "AccessDeniedException"
            | "AuthFailure"
            | "AuthException",
        ) => "denied",
        _ => "error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_codes_fold_into_a_few_labels() {
        assert_eq!(
            result_label(Some("InvalidInstanceID.NotFound")),
            "not_found"
        );
        assert_eq!(result_label(Some("RequestLimitExceeded")), "throttled");
        assert_eq!(result_label(Some("UnauthorizedOperation")), "denied");
        assert_eq!(result_label(Some("InternalError")), "error");
        assert_eq!(result_label(None), "error");
    }
}
