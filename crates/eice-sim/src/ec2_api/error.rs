//! Every way a simulated EC2 call can fail, as the status, `Code` and `Message` EC2
//! would send.
//!
//! The proxy's error handling keys on these codes (`InvalidInstanceID.NotFound`,
//! `UnauthorizedOperation`, `RequestLimitExceeded`…), so each is spelled as EC2 spells
//! it, and each message carries the words a user would need.

use std::borrow::Cow;

use http::StatusCode;

use super::Fault;
use crate::sigv4::SigV4Error;
use crate::world::ResourceKind;

/// A failed call, rendered by the server as EC2's `<Response><Errors>` document.
#[derive(Debug, thiserror::Error)]
pub(super) enum ApiError {
    /// The signature did not verify.
    #[error("{}", auth_message(.0))]
    Auth(SigV4Error),
    /// An injected failure.
    #[error("{message}")]
    Fault {
        /// Which one.
        fault: Fault,
        /// Its message, naming the action.
        message: String,
    },
    /// No `Action` parameter.
    #[error("The request must contain the parameter Action.")]
    MissingAction,
    /// An action the simulator does not implement (or EC2 does not have).
    #[error("The action {0} is not valid for this web service.")]
    InvalidAction(String),
    /// A parameter the action does not take; catches misspelt parameter names.
    #[error("The parameter {0} is not recognized")]
    UnknownParameter(String),
    /// A required part of a parameter is absent, e.g. a filter's `Name`.
    #[error("The request must contain the parameter {0}")]
    MissingParameter(String),
    /// A parameter's value is out of range or unknown (e.g. a filter name).
    #[error("{0}")]
    InvalidParameterValue(String),
    /// Two parameters that must not be combined.
    #[error("{0}")]
    InvalidParameterCombination(String),
    /// A `NextToken` this simulator did not issue for this action.
    #[error("The specified pagination token is not valid or is expired.")]
    InvalidPaginationToken,
    /// `DryRun=true` and the call would have succeeded.
    #[error("Request would have succeeded, but DryRun flag is set.")]
    DryRunOperation,
    /// The body is not a readable form (bad encoding, too large, too slow).
    #[error("{0}")]
    MalformedQueryString(String),
    /// Ids that are well formed but not in the account.
    #[error("{}", not_found_message(*.kind, .ids))]
    NotFound {
        /// What kind of id.
        kind: ResourceKind,
        /// Every unknown id of the request.
        ids: Vec<String>,
    },
    /// An id that EC2 could never have issued.
    #[error("Invalid id: \"{id}\" (expecting \"{}-...\")", .kind.prefix())]
    Malformed {
        /// What kind of id was expected.
        kind: ResourceKind,
        /// The id as sent.
        id: String,
    },
}

/// "The instance ID 'i-1' does not exist" / "The instance IDs 'i-1, i-2' do not exist".
fn not_found_message(kind: ResourceKind, ids: &[String]) -> String {
    let (plural, verb) = if ids.len() == 1 {
        ("", "does")
    } else {
        ("s", "do")
    };
    format!(
        "The {}{plural} '{}' {verb} not exist",
        kind.noun(),
        ids.join(", ")
    )
}

impl ApiError {
    /// EC2's error code.
    pub(super) fn code(&self) -> Cow<'static, str> {
        let code = match self {
            ApiError::Auth(err) => auth_code(err),
            ApiError::Fault { fault, .. } => fault.code(),
            ApiError::NotFound { kind, .. } => kind.not_found_code(),
            ApiError::Malformed { kind, .. } => kind.malformed_code(),
            ApiError::MissingAction => "MissingAction",
            ApiError::InvalidAction(_) => "InvalidAction",
            ApiError::UnknownParameter(_) => "UnknownParameter",
            ApiError::MissingParameter(_) => "MissingParameter",
            ApiError::InvalidParameterValue(_) => "InvalidParameterValue",
            ApiError::InvalidParameterCombination(_) => "InvalidParameterCombination",
            ApiError::InvalidPaginationToken => "InvalidPaginationToken",
            ApiError::DryRunOperation => "DryRunOperation",
            ApiError::MalformedQueryString(_) => "MalformedQueryString",
        };
        code.into()
    }

    /// The HTTP status EC2 sends with the error.
    pub(super) fn status(&self) -> StatusCode {
        match self {
            ApiError::Auth(err) => auth_status(err),
            ApiError::Fault { fault, .. } => fault.status(),
            ApiError::DryRunOperation => StatusCode::PRECONDITION_FAILED,
            _ => StatusCode::BAD_REQUEST,
        }
    }
}

/// EC2 words signature failures in its own vocabulary rather than the generic SigV4
/// one: an unknown key or token is `AuthFailure`, and so is a signature more than
/// five minutes from EC2's clock (only the answer's `Date` tells the two apart); an
/// expired session token is `RequestExpired`.
fn auth_code(err: &SigV4Error) -> &'static str {
    use SigV4Error::*;
    match err {
        MissingAuthentication => "MissingAuthenticationToken",
        UnknownAccessKey(_) | InvalidSecurityToken => "AuthFailure",
        WrongRegion { .. }
        | WrongService { .. }
        | ScopeDateMismatch { .. }
        | WrongTerminator(_)
        | InvalidExpires(_) => "AuthFailure",
        Expired(_) | NotYetCurrent(_) => "AuthFailure",
        ExpiredToken => "RequestExpired",
        SignatureDoesNotMatch | ContentHashMismatch => "SignatureDoesNotMatch",
        _ => "IncompleteSignature",
    }
}

/// EC2's own words for an unknown key, a skewed clock and an expired token; the
/// verifier's text otherwise, which names the region or service that was wrong.
fn auth_message(err: &SigV4Error) -> String {
    match err {
        SigV4Error::UnknownAccessKey(_) | SigV4Error::Expired(_) | SigV4Error::NotYetCurrent(_) => {
            "AWS was not able to validate the provided access credentials".to_owned()
        }
        SigV4Error::ExpiredToken => "Request has expired.".to_owned(),
        other => other.to_string(),
    }
}

fn auth_status(err: &SigV4Error) -> StatusCode {
    match auth_code(err) {
        "MissingAuthenticationToken" | "AuthFailure" => StatusCode::UNAUTHORIZED,
        "SignatureDoesNotMatch" => StatusCode::FORBIDDEN,
        _ => StatusCode::BAD_REQUEST,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_found_lists_every_unknown_id() {
        let one = ApiError::NotFound {
            kind: ResourceKind::Instance,
            ids: vec!["i-0123456789abcdef0".into()],
        };
        assert_eq!(one.code(), "InvalidInstanceID.NotFound");
        assert_eq!(
            one.to_string(),
            "The instance ID 'i-0123456789abcdef0' does not exist"
        );
        let two = ApiError::NotFound {
            kind: ResourceKind::Vpc,
            ids: vec!["vpc-01234567".into(), "vpc-89abcdef".into()],
        };
        assert_eq!(
            two.to_string(),
            "The vpc IDs 'vpc-01234567, vpc-89abcdef' do not exist"
        );
    }

    #[test]
    fn an_unknown_security_group_is_invalid_group_not_found() {
        let err = ApiError::NotFound {
            kind: ResourceKind::SecurityGroup,
            ids: vec!["sg-0123456789abcdef0".into()],
        };
        assert_eq!(err.code(), "InvalidGroup.NotFound");
        assert_eq!(
            err.to_string(),
            "The security group 'sg-0123456789abcdef0' does not exist"
        );
        assert_eq!(err.status(), StatusCode::BAD_REQUEST);
        let malformed = ApiError::Malformed {
            kind: ResourceKind::SecurityGroup,
            id: "default".into(),
        };
        assert_eq!(malformed.code(), "InvalidGroupId.Malformed");
    }

    #[test]
    fn malformed_ids_say_what_was_expected() {
        let err = ApiError::Malformed {
            kind: ResourceKind::Instance,
            id: "web-1".into(),
        };
        assert_eq!(err.code(), "InvalidInstanceID.Malformed");
        assert_eq!(
            err.to_string(),
            r#"Invalid id: "web-1" (expecting "i-...")"#
        );
        assert_eq!(err.status(), StatusCode::BAD_REQUEST);
    }

    #[test]
    fn signature_failures_use_ec2_codes() {
        let wrong = ApiError::Auth(SigV4Error::SignatureDoesNotMatch);
        assert_eq!(
            (wrong.code().as_ref(), wrong.status()),
            ("SignatureDoesNotMatch", StatusCode::FORBIDDEN)
        );
        let unknown = ApiError::Auth(SigV4Error::UnknownAccessKey("AKIA".into()));
        assert_eq!(
            (unknown.code().as_ref(), unknown.status()),
            ("AuthFailure", StatusCode::UNAUTHORIZED)
        );
    }
}
