//! Authing's answer envelope, decoded once.
//!
//! Every answer of the V3 management API is `{statusCode, message, apiCode?, requestId?,
//! data?}`, success or not, and often in an HTTP 200 even when it says no. The generated
//! client decodes each answer (`build.rs` replaces the spec's four response schemas with the
//! [`Envelope`] aliases here), and the call's decision (return, refresh the token, retry) and
//! its result both read that one value: `data` is optional, so a refusal in an HTTP 200 decodes
//! as well as a success. An answer with another HTTP status is decoded once too, by the call,
//! from the bounded body it reads.

use serde::{Deserialize, Serialize};

use crate::{
    ApiError, Error,
    error::{KEPT_UNTIL_SCRUBBED, MESSAGE_CHARS, REQUEST_ID_CHARS},
    redact::{clean, excerpt, json_error_summary, truncate},
    wire,
};

/// An answer of the management API.
///
/// ```
/// use authing_otp::envelope::SecretAnswer;
///
/// let refusal: SecretAnswer = serde_json::from_str(
///     r#"{"statusCode":404,"message":"user not found","apiCode":2004,"requestId":"r-1"}"#,
/// )?;
/// assert_eq!(refusal.status_code, 404.0);
/// assert!(refusal.data.is_none());
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[non_exhaustive]
pub struct Envelope<D> {
    /// `statusCode`: 200 for a success.
    #[serde(rename = "statusCode")]
    pub status_code: f64,
    /// `message`.
    #[serde(default)]
    pub message: String,
    /// `apiCode`, a finer error kind, with failures.
    #[serde(rename = "apiCode", default, skip_serializing_if = "Option::is_none")]
    pub api_code: Option<f64>,
    /// `requestId`, with failures: quote it to Authing support.
    #[serde(rename = "requestId", default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// `data`, with successes that carry some.
    #[serde(default = "Option::default", skip_serializing_if = "Option::is_none")]
    pub data: Option<D>,
}

/// `importOtp`'s answer (the spec's `CommonResponseDto`): no data.
pub type ImportAnswer = Envelope<NoData>;
/// `getOtpSecretByUser`'s answer (the spec's `GetOtpSecretRespDto`).
pub type SecretAnswer = Envelope<wire::OtpSecretRespDto>;
/// The management token's answer (the spec's `GetManagementTokenRespDto`).
pub type TokenAnswer = Envelope<wire::AccessTokenResDto>;
/// `getUserBatch`'s answer (the spec's `UserListRespDto`): the users found, each read
/// leniently ([`wire::BatchUserDto`]).
///
/// ```
/// use authing_otp::envelope::UserListAnswer;
///
/// let answer: UserListAnswer = serde_json::from_str(
///     r#"{"statusCode":200,"message":"success","data":[{"userId":"u1","status":"Activated"}]}"#,
/// )?;
/// assert_eq!(answer.data.unwrap()[0].user_id, "u1");
/// # Ok::<(), serde_json::Error>(())
/// ```
pub type UserListAnswer = Envelope<Vec<wire::BatchUserDto>>;

/// The `data` of an answer that carries none worth reading: whatever is there is skipped
/// without being kept.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct NoData;

impl<'de> Deserialize<'de> for NoData {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        serde::de::IgnoredAny::deserialize(deserializer).map(|_| NoData)
    }
}

/// 2⁵³: below it every integer is exactly one `f64`; from it on, `2⁵³ + 1` reads as `2⁵³`.
const MAX_EXACT_CODE: f64 = 9_007_199_254_740_992.0;

/// A code the spec types as a JSON number, as the integer it must be; `Err` says why it is not
/// one, rather than showing another number (`200.5 as i64` is 200).
fn whole_code(field: &str, value: f64) -> Result<i64, String> {
    if !value.is_finite() || value.fract() != 0.0 {
        Err(format!("the body's {field} is not a whole number"))
    } else if value.abs() >= MAX_EXACT_CODE {
        Err(format!("the body's {field} is too large to be a code"))
    } else {
        Ok(value as i64)
    }
}

/// What an answer says, for the call's decision.
pub(crate) enum Verdict<D> {
    /// `statusCode` 200 (in an answer that is not HTTP 401).
    Success(Envelope<D>),
    /// A refusal, typed.
    Refused(Error),
}

impl<D: Serialize> Envelope<D> {
    /// Success, or the refusal the answer says: `statusCode` other than 200 (or HTTP 401) is
    /// [`Error::Api`] or [`Error::Unauthenticated`], codes that are not whole numbers an
    /// [`Error::UnexpectedResponse`].
    pub(crate) fn verdict(self, http_status: u16) -> Verdict<D> {
        if self.status_code == 200.0 && http_status != 401 {
            return Verdict::Success(self);
        }
        Verdict::Refused(self.into_error(http_status))
    }

    /// The refusal this envelope says.
    fn into_error(self, http_status: u16) -> Error {
        let codes = whole_code("statusCode", self.status_code).and_then(|status_code| {
            let api_code = self
                .api_code
                .map(|code| whole_code("apiCode", code))
                .transpose()?;
            Ok((status_code, api_code))
        });
        let (status_code, api_code) = match codes {
            Ok(codes) => codes,
            Err(reason) => {
                // The data is left out: only the codes are in question.
                let shown = Envelope::<NoData> {
                    data: None,
                    status_code: self.status_code,
                    message: self.message,
                    api_code: self.api_code,
                    request_id: self.request_id,
                };
                return Error::UnexpectedResponse {
                    status: http_status,
                    reason,
                    excerpt: serde_json::to_vec(&shown)
                        .map(|json| excerpt(&json))
                        .unwrap_or_default(),
                };
            }
        };
        // Kept longer than shown until the call's secrets are scrubbed (see `excerpt`).
        let api = ApiError {
            http_status,
            status_code,
            api_code,
            message: truncate(
                &clean(&self.message, &[]),
                MESSAGE_CHARS * KEPT_UNTIL_SCRUBBED,
            ),
            request_id: self
                .request_id
                .as_deref()
                .map(|id| truncate(&clean(id, &[]), REQUEST_ID_CHARS * KEPT_UNTIL_SCRUBBED)),
        };
        if api.is_unauthenticated() {
            Error::Unauthenticated(api)
        } else {
            Error::Api(api)
        }
    }
}

/// The error an answer with an HTTP status other than 200 says, from its (bounded) body: an
/// Authing envelope is decoded once into its refusal; anything else is an
/// [`Error::UnexpectedResponse`] with an excerpt.
pub(crate) fn refusal(http_status: u16, body: &[u8]) -> Error {
    match serde_json::from_slice::<ImportAnswer>(body) {
        Ok(envelope) => match envelope.verdict(http_status) {
            Verdict::Refused(error) => error,
            // `statusCode` 200 in an answer that is not HTTP 200: not what the spec promises.
            Verdict::Success(_) => Error::UnexpectedResponse {
                status: http_status,
                reason: "an HTTP status other than 200 with a success in the body".into(),
                excerpt: excerpt(body),
            },
        },
        Err(_) => Error::UnexpectedResponse {
            status: http_status,
            reason: "unexpected HTTP status".into(),
            excerpt: excerpt(body),
        },
    }
}

/// The error for an HTTP 200 answer that is not an envelope of the promised shape.
pub(crate) fn malformed(body: &[u8], error: &serde_json::Error) -> Error {
    Error::UnexpectedResponse {
        status: 200,
        reason: format!(
            "{}; the spec promises another shape",
            json_error_summary(error)
        ),
        excerpt: excerpt(body),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_decode_serves_the_decision_and_the_result() {
        let answer: SecretAnswer = serde_json::from_str(
            r#"{"statusCode":200,"message":"success","data":{"secret":"HZ2F6J3AGNAVSOTV"}}"#,
        )
        .unwrap();
        let Verdict::Success(answer) = answer.verdict(200) else {
            panic!("a success")
        };
        assert_eq!(answer.data.unwrap().secret, "HZ2F6J3AGNAVSOTV");
        let refused: SecretAnswer = serde_json::from_str(
            r#"{"statusCode":404,"message":"user not found","apiCode":2004,"requestId":"r"}"#,
        )
        .unwrap();
        let Verdict::Refused(Error::Api(api)) = refused.verdict(200) else {
            panic!("a refusal")
        };
        assert_eq!((api.status_code, api.api_code), (404, Some(2004)));
        let unauthenticated: ImportAnswer =
            serde_json::from_str(r#"{"statusCode":200,"message":"ok"}"#).unwrap();
        assert!(matches!(
            unauthenticated.verdict(401),
            Verdict::Refused(Error::Unauthenticated(_))
        ));
    }

    #[test]
    fn codes_are_whole_numbers_or_not_codes() {
        for (body, says) in [
            (
                r#"{"statusCode":200.5,"message":"m"}"#,
                "statusCode is not a whole number",
            ),
            (
                r#"{"statusCode":404,"apiCode":1.5,"message":"m"}"#,
                "apiCode is not a whole number",
            ),
            (
                r#"{"statusCode":1e300,"message":"m"}"#,
                "statusCode is too large",
            ),
        ] {
            let error = refusal(200, body.as_bytes());
            assert!(error.to_string().contains(says), "{body}: {error}");
            assert_eq!(error.kind(), crate::ErrorKind::UnexpectedResponse);
        }
        let html = refusal(502, b"<html>bad gateway</html>");
        assert_eq!(html.http_status(), Some(502));
        assert!(html.is_retryable());
    }
}
