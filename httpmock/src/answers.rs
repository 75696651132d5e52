//! Answers the spec cannot say: Authing's envelope with a secret or a token, a refusal inside an
//! HTTP 200, throttling in either style.

use std::time::Duration;

use authing_otp::{UserIdType, UserRef};
use base64::Engine as _;
use serde_json::{Value, json};

use crate::operations::{
    GetManagementTokenThen, GetOtpSecretByUserThen, GetUserBatchThen, ImportOtpThen,
};

/// Authing saying no: `statusCode` (other than 200), `message`, and optionally `apiCode` and
/// `requestId`, in an HTTP 200 unless [`http_status`](Self::http_status) says otherwise, as
/// Authing answers its business errors.
///
/// ```
/// use authing_otp::UserRef;
/// use authing_otp_httpmock::{MockServerExt, Refusal, httpmock::MockServer};
///
/// let server = MockServer::start();
/// let nobody = UserRef::email("nobody@example.com")?;
/// server.get_otp_secret_by_user(|when, then| {
///     when.user(&nobody);
///     then.refused(&Refusal::new(404, "user not found").api_code(2004).request_id("req-9"));
/// });
/// # Ok::<(), authing_otp::InputError>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Refusal {
    http_status: u16,
    status_code: i64,
    api_code: Option<i64>,
    message: String,
    request_id: Option<String>,
}

impl Refusal {
    /// `statusCode` and `message`, in an HTTP 200, without `apiCode` or `requestId`.
    ///
    /// ```
    /// let refusal = authing_otp_httpmock::Refusal::new(400, "invalid userIdType");
    /// assert_eq!(
    ///     refusal.body(),
    ///     serde_json::json!({"statusCode": 400, "message": "invalid userIdType"})
    /// );
    /// ```
    pub fn new(status_code: i64, message: impl Into<String>) -> Self {
        Refusal {
            http_status: 200,
            status_code,
            api_code: None,
            message: message.into(),
            request_id: None,
        }
    }

    /// With this `apiCode`, Authing's finer error kind.
    ///
    /// ```
    /// let refusal = authing_otp_httpmock::Refusal::new(404, "user not found").api_code(2004);
    /// assert_eq!(refusal.body()["apiCode"], 2004);
    /// ```
    pub fn api_code(mut self, api_code: i64) -> Self {
        self.api_code = Some(api_code);
        self
    }

    /// With this `requestId`.
    ///
    /// ```
    /// let refusal = authing_otp_httpmock::Refusal::new(404, "user not found").request_id("r-1");
    /// assert_eq!(refusal.body()["requestId"], "r-1");
    /// ```
    pub fn request_id(mut self, request_id: impl Into<String>) -> Self {
        self.request_id = Some(request_id.into());
        self
    }

    /// In an answer of this HTTP status rather than 200 (Authing answers a bad token with
    /// HTTP 401 and `statusCode` 401, for one).
    ///
    /// ```
    /// let refusal = authing_otp_httpmock::Refusal::new(401, "token expired").http_status(401);
    /// assert_eq!(refusal.body()["statusCode"], 401);
    /// ```
    pub fn http_status(mut self, http_status: u16) -> Self {
        self.http_status = http_status;
        self
    }

    /// The JSON body of the answer.
    ///
    /// ```
    /// let refusal = authing_otp_httpmock::Refusal::new(404, "user not found")
    ///     .api_code(2004)
    ///     .request_id("r-1");
    /// assert_eq!(
    ///     refusal.body(),
    ///     serde_json::json!({
    ///         "statusCode": 404, "apiCode": 2004, "message": "user not found", "requestId": "r-1"
    ///     })
    /// );
    /// ```
    pub fn body(&self) -> Value {
        let mut body = json!({"statusCode": self.status_code, "message": self.message});
        if let Some(code) = self.api_code {
            body["apiCode"] = code.into();
        }
        if let Some(id) = &self.request_id {
            body["requestId"] = id.as_str().into();
        }
        body
    }
}

/// Authing throttling a caller: `statusCode` 429 (message `too many requests`), in an HTTP 429
/// or in an HTTP 200, with or without a `Retry-After` header. The client retries both.
///
/// ```
/// use std::time::Duration;
/// use authing_otp_httpmock::{MockServerExt, Throttling, httpmock::MockServer};
///
/// let server = MockServer::start();
/// server.get_otp_secret_by_user(|_, then| {
///     then.throttled(&Throttling::http_429().retry_after(Duration::from_secs(1)));
/// });
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Throttling {
    http_status: u16,
    retry_after: Option<Duration>,
    times: Option<usize>,
}

impl Throttling {
    /// An HTTP 429 answer, its body saying `statusCode` 429 too.
    ///
    /// ```
    /// let throttling = authing_otp_httpmock::Throttling::http_429();
    /// assert_eq!(throttling.retry_after_header(), None);
    /// ```
    pub fn http_429() -> Self {
        Throttling {
            http_status: 429,
            retry_after: None,
            times: None,
        }
    }

    /// An HTTP 200 answer whose body says `statusCode` 429.
    ///
    /// ```
    /// let throttling = authing_otp_httpmock::Throttling::in_200();
    /// assert_eq!(throttling.body()["statusCode"], 429);
    /// ```
    pub fn in_200() -> Self {
        Throttling {
            http_status: 200,
            retry_after: None,
            times: None,
        }
    }

    /// With a `Retry-After` header of this many whole seconds (rounded up).
    ///
    /// ```
    /// use std::time::Duration;
    /// let throttling =
    ///     authing_otp_httpmock::Throttling::in_200().retry_after(Duration::from_millis(1500));
    /// assert_eq!(throttling.retry_after_header().as_deref(), Some("2"));
    /// ```
    pub fn retry_after(mut self, after: Duration) -> Self {
        self.retry_after = Some(after);
        self
    }

    /// Only for the first `n` (at least 1) requests the mock matches; later ones go to the next
    /// mock that matches them, so that a client's retry can be answered with a success.
    ///
    /// ```
    /// use authing_otp_httpmock::{MockServerExt, Throttling, httpmock::MockServer};
    ///
    /// let server = MockServer::start();
    /// let throttled = server.get_otp_secret_by_user(|_, then| {
    ///     then.throttled(&Throttling::in_200().times(1));
    /// });
    /// let answered = server.get_otp_secret_by_user(|_, then| {
    ///     then.secret("JBSWY3DPEHPK3PXP");
    /// });
    /// # let _ = (throttled, answered);
    /// ```
    pub fn times(mut self, n: usize) -> Self {
        self.times = Some(n.max(1));
        self
    }

    /// The `Retry-After` header's value, if any.
    ///
    /// ```
    /// use std::time::Duration;
    /// let throttling =
    ///     authing_otp_httpmock::Throttling::http_429().retry_after(Duration::from_secs(3));
    /// assert_eq!(throttling.retry_after_header().as_deref(), Some("3"));
    /// ```
    pub fn retry_after_header(&self) -> Option<String> {
        self.retry_after.map(|after| {
            let seconds = after.as_secs() + u64::from(after.subsec_nanos() > 0);
            seconds.to_string()
        })
    }

    /// The JSON body of the answer.
    ///
    /// ```
    /// assert_eq!(
    ///     authing_otp_httpmock::Throttling::http_429().body(),
    ///     serde_json::json!({"statusCode": 429, "message": "too many requests"})
    /// );
    /// ```
    pub fn body(&self) -> Value {
        json!({"statusCode": 429, "message": "too many requests"})
    }
}

/// A JWT-shaped management token scoped to a user pool (its payload's `scoped_userpool_id`
/// claim, from which the client takes the pool's id when none is configured), expiring in
/// 2100. Not signed: the client never checks a token's signature.
///
/// ```
/// let token = authing_otp_httpmock::management_token("up-1");
/// assert_eq!(token.split('.').count(), 3);
/// assert_ne!(token, authing_otp_httpmock::management_token("up-2"));
/// ```
pub fn management_token(user_pool_id: &str) -> String {
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let claims = json!({"scoped_userpool_id": user_pool_id, "exp": 4_102_444_800u64});
    format!(
        "{}.{}.{}",
        b64.encode(br#"{"alg":"HS256","typ":"JWT"}"#),
        b64.encode(claims.to_string()),
        b64.encode("authing-otp-httpmock"),
    )
}

/// Answers HTTP 200 with Authing's success envelope around `data`.
fn success(then: httpmock::Then, message: &str, data: Option<Value>) -> httpmock::Then {
    let mut body = json!({"statusCode": 200, "message": message});
    if let Some(data) = data {
        body["data"] = data;
    }
    json_answer(then, 200, &body)
}

fn json_answer(then: httpmock::Then, status: u16, body: &Value) -> httpmock::Then {
    then.status(status)
        .header("content-type", "application/json")
        .body(body.to_string())
}

impl GetOtpSecretByUserThen {
    /// Answers with this OTP secret: HTTP 200,
    /// `{"statusCode":200,"message":"ok","data":{"secret":…}}`.
    ///
    /// ```
    /// use authing_otp_httpmock::{MockServerExt, httpmock::MockServer};
    ///
    /// let server = MockServer::start();
    /// server.get_otp_secret_by_user(|_, then| {
    ///     then.secret("JBSWY3DPEHPK3PXP");
    /// });
    /// ```
    pub fn secret(self, secret: &str) -> Self {
        Self(success(self.0, "ok", Some(json!({"secret": secret}))))
    }
}

impl GetUserBatchThen {
    /// Answers a lookup with these users, each an Authing user id and the reference it
    /// answers, carried in the field of its type (`email`, `username`, `phone`, `externalId`,
    /// or an `identities` entry), as get-user-batch answers: HTTP 200,
    /// `{"statusCode":200,"message":"ok","data":[{"userId":…,"email":…}]}`. References left
    /// out are the ones no user has.
    ///
    /// ```
    /// use authing_otp::UserRef;
    /// use authing_otp_httpmock::{MockServerExt, httpmock::MockServer};
    ///
    /// let server = MockServer::start();
    /// let alice = UserRef::email("alice@example.com")?;
    /// server.get_user_batch(|_, then| {
    ///     then.users([("62f2a1", &alice)]);
    /// });
    /// # Ok::<(), authing_otp::InputError>(())
    /// ```
    pub fn users<'a>(self, users: impl IntoIterator<Item = (&'a str, &'a UserRef)>) -> Self {
        let data: Vec<Value> = users
            .into_iter()
            .map(|(user_id, user)| {
                let mut entry = json!({"userId": user_id});
                let field = match user.id_type() {
                    UserIdType::Email => Some("email"),
                    UserIdType::Username => Some("username"),
                    UserIdType::Phone => Some("phone"),
                    UserIdType::ExternalId => Some("externalId"),
                    _ => None,
                };
                if let Some(field) = field {
                    entry[field] = user.id().into();
                }
                if user.id_type() == UserIdType::Identity {
                    let (idp, in_idp) = user.id().split_once(':').unwrap_or((user.id(), ""));
                    entry["identities"] = json!([{"extIdpId": idp, "userIdInIdp": in_idp}]);
                }
                entry
            })
            .collect();
        Self(success(self.0, "ok", Some(Value::Array(data))))
    }
}

impl ImportOtpThen {
    /// Answers that the import succeeded: HTTP 200, `{"statusCode":200,"message":…}` (the
    /// client's `ImportReceipt::message`).
    ///
    /// ```
    /// use authing_otp_httpmock::{MockServerExt, httpmock::MockServer};
    ///
    /// let server = MockServer::start();
    /// server.import_otp(|_, then| {
    ///     then.imported("imported");
    /// });
    /// ```
    pub fn imported(self, message: &str) -> Self {
        Self(success(self.0, message, None))
    }
}

impl GetManagementTokenThen {
    /// Answers with this management token, valid `expires_in` seconds: HTTP 200,
    /// `{"statusCode":200,"message":"ok","data":{"access_token":…,"expires_in":…}}`. An opaque
    /// token needs the client's `user_pool_id`; [`pool_token`](Self::pool_token) answers one
    /// that names its pool.
    ///
    /// ```
    /// use authing_otp_httpmock::{MockServerExt, httpmock::MockServer};
    ///
    /// let server = MockServer::start();
    /// server.get_management_token(|_, then| {
    ///     then.token("opaque-token", 7200);
    /// });
    /// ```
    pub fn token(self, access_token: &str, expires_in: u64) -> Self {
        let data = json!({"access_token": access_token, "expires_in": expires_in});
        Self(success(self.0, "ok", Some(data)))
    }

    /// Answers with a [`management_token`] scoped to this user pool, valid `expires_in`
    /// seconds: the client needs no `user_pool_id` of its own.
    ///
    /// ```
    /// use authing_otp_httpmock::{MockServerExt, httpmock::MockServer};
    ///
    /// let server = MockServer::start();
    /// server.get_management_token(|_, then| {
    ///     then.pool_token("up-1", 7200);
    /// });
    /// ```
    pub fn pool_token(self, user_pool_id: &str, expires_in: u64) -> Self {
        self.token(&management_token(user_pool_id), expires_in)
    }
}

macro_rules! envelope_answers {
    ($($then:ident),*) => {$(
        impl $then {
            /// Answers with this refusal (see [`Refusal`]).
            ///
            /// ```
            /// use authing_otp_httpmock::{MockServerExt, Refusal, httpmock::MockServer};
            ///
            /// let server = MockServer::start();
            /// server.import_otp(|_, then| {
            ///     then.refused(&Refusal::new(400, "secret is not base32").request_id("r-2"));
            /// });
            /// ```
            pub fn refused(self, refusal: &Refusal) -> Self {
                Self(json_answer(self.0, refusal.http_status, &refusal.body()))
            }

            /// Answers that the caller is throttled (see [`Throttling`]).
            ///
            /// ```
            /// use authing_otp_httpmock::{MockServerExt, Throttling, httpmock::MockServer};
            ///
            /// let server = MockServer::start();
            /// server.get_management_token(|_, then| {
            ///     then.throttled(&Throttling::in_200());
            /// });
            /// ```
            pub fn throttled(self, throttling: &Throttling) -> Self {
                let mut then = json_answer(self.0, throttling.http_status, &throttling.body());
                if let Some(after) = throttling.retry_after_header() {
                    then = then.header("retry-after", after);
                }
                if let Some(n) = throttling.times {
                    then = then.up_to_n_times(n);
                }
                Self(then)
            }
        }
    )*};
}

envelope_answers!(
    GetOtpSecretByUserThen,
    ImportOtpThen,
    GetManagementTokenThen,
    GetUserBatchThen
);
