//! The EC2 client's retry classification against the AWS SDK's own: for
//! every HTTP status and every error code either side knows (and a few
//! look-alikes), aws-sdk-rust's classifiers (aws-smithy-runtime's status
//! classifier, then aws-runtime's error-code classifier, run by the SDK's own
//! `run_classifiers_on_ctx` in their priority order) and
//! `eice_proxy::ec2::retry::classify_answer` must reach the same verdict. An
//! SDK upgrade that adds a throttling code fails here until ours has it too.

use aws_runtime::retries::classifiers::{
    AwsErrorCodeClassifier, THROTTLING_ERRORS, TRANSIENT_ERRORS,
};
use aws_smithy_runtime::client::retries::classifiers::{
    HttpStatusCodeClassifier, run_classifiers_on_ctx,
};
use aws_smithy_runtime_api::client::interceptors::context::{Error, Input, InterceptorContext};
use aws_smithy_runtime_api::client::orchestrator::{HttpResponse, OrchestratorError};
use aws_smithy_runtime_api::client::retries::classifiers::{
    RetryAction, RetryReason, SharedRetryClassifier,
};
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::error::ErrorMetadata;
use aws_smithy_types::retry::ErrorKind;
use eice_proxy::ec2::retry::{RetryKind, THROTTLING_CODES, TRANSIENT_CODES, classify_answer};

/// What the SDK decides for an answer with `status` and error `code`.
fn sdk_verdict(status: u16, code: Option<&str>) -> Option<RetryKind> {
    let mut error = ErrorMetadata::builder();
    if let Some(code) = code {
        error = error.code(code);
    }
    let status_code = StatusCode::try_from(status).unwrap();
    let mut ctx = InterceptorContext::new(Input::erase(()));
    ctx.set_response(HttpResponse::new(status_code, SdkBody::empty()));
    ctx.set_output_or_error(Err(OrchestratorError::operation(Error::erase(
        error.build(),
    ))));
    // In the SDK's priority order: the status classifier (0) runs before the
    // error-code one (9), which may override it.
    let classifiers = [
        SharedRetryClassifier::new(HttpStatusCodeClassifier::default()),
        SharedRetryClassifier::new(AwsErrorCodeClassifier::<ErrorMetadata>::new()),
    ];
    match run_classifiers_on_ctx(classifiers.into_iter(), &ctx) {
        RetryAction::RetryIndicated(RetryReason::RetryableError { kind, .. }) => match kind {
            ErrorKind::ThrottlingError => Some(RetryKind::Throttling),
            ErrorKind::TransientError => Some(RetryKind::Transient),
            other => panic!("the SDK classified {status} {code:?} as {other:?}"),
        },
        _ => None,
    }
}

#[test]
fn the_code_lists_are_the_sdks_own() {
    let mut ours = THROTTLING_CODES.to_vec();
    let mut theirs = THROTTLING_ERRORS.to_vec();
    ours.sort_unstable();
    theirs.sort_unstable();
    assert_eq!(ours, theirs);
    assert_eq!(TRANSIENT_CODES.as_slice(), TRANSIENT_ERRORS);
}

#[test]
fn every_status_and_code_is_classified_as_the_sdk_does() {
    let mut codes: Vec<Option<&str>> = vec![None];
    codes.extend(
        THROTTLING_ERRORS
            .iter()
            .chain(TRANSIENT_ERRORS)
            .map(|c| Some(*c)),
    );
    codes.extend(
        [
            "UnauthorizedOperation",
            "AuthFailure",
            "InvalidInstanceID.NotFound",
            "InternalError",
            "Unavailable",
            "ServiceUnavailable",
            "RequestLimitExceededException",
            "TooManyRequests",
        ]
        .map(Some),
    );
    let mut compared = 0;
    for status in 200..600 {
        for code in &codes {
            assert_eq!(
                classify_answer(status, *code),
                sdk_verdict(status, *code),
                "HTTP {status} {code:?}"
            );
            compared += 1;
        }
    }
    assert_eq!(compared, 400 * codes.len());
}
