//! AWS API calls, counted where they are made ([`crate::ec2`], [`crate::keys`])
//! by action and a short result, for `eice_proxy_aws_api_calls_total`.

use super::Counter;

/// AWS API calls by (action, result), process-wide.
///
/// The calls are made by [`Ec2`](crate::ec2::Ec2), which the command layer
/// builds and the resolver owns; handing it a [`Metrics`](super::Metrics)
/// would change both constructors and every caller for one counter. A process
/// runs one proxy, so one table, rendered by every `Metrics`, says the same.
pub(super) static AWS_CALLS: Counter<(&'static str, &'static str)> = Counter::new();

/// How one API call (retries included) ended, in plain values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiOutcome<'a> {
    Ok,
    TimedOut,
    /// Failed, with AWS's error code when it sent one.
    Failed(Option<&'a str>),
}

/// Counts one API call, e.g. `count_api_call("DescribeVpcs", ApiOutcome::Ok)`.
pub fn count_api_call(action: &'static str, outcome: ApiOutcome<'_>) {
    let label = match outcome {
        ApiOutcome::Ok => "ok",
        ApiOutcome::TimedOut => "timeout",
        ApiOutcome::Failed(code) => result_label(code),
    };
    AWS_CALLS.add((action, label));
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
