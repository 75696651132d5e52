//! What each route answers: the four operations, the bindings endpoint and the 404 of any
//! other path, with the Authing-shaped bodies they share. Counting, the rate limit, latency and
//! faults have been applied by the server before a request gets here.

use std::collections::HashSet;
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::body::Body;
use axum::extract::{Query, Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use hyper::body::{Bytes, Frame};
use secrecy::ExposeSecret as _;
use serde::Serialize;
use serde_json::{Value, json};

use crate::auth::{self, RequestView};
use crate::codes;
use crate::connections::{BODY_READ_TIMEOUT, Conn};
use crate::credentials::AuthFailure;
use crate::echo::{ID_CHARS, METHOD_CHARS, PATH_CHARS, SHOWN, clip};
use crate::operation::Operation;
use crate::random::request_id;
use crate::schema::{OperationSpec, Problems, SPEC};
use crate::state::{Shared, UnauthorizedStyle};
use crate::user_dto::{Include, user_dto};
use crate::users::{LookupError, Otp};

/// The path of the emulator's own inspection endpoint, which lists every bound secret as JSON
/// Lines without authentication (see [the crate docs](crate#inspecting-bindings)).
pub const BINDINGS_PATH: &str = "/__emulator/bindings";

/// Largest request body read; larger ones are refused.
const MAX_BODY: usize = 1 << 20;

/// About how large each chunk of the bindings endpoint's body is.
const BINDINGS_CHUNK: usize = 64 * 1024;

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route(
            Operation::GetManagementToken.path(),
            post(get_management_token).fallback(not_found),
        )
        .route(
            Operation::ImportOtp.path(),
            post(import_otp).fallback(not_found),
        )
        .route(
            Operation::GetOtpSecretByUser.path(),
            get(get_otp_secret_by_user).fallback(not_found),
        )
        .route(
            Operation::GetUserBatch.path(),
            get(get_user_batch).fallback(not_found),
        )
        .route(BINDINGS_PATH, get(bindings).fallback(not_found))
        .fallback(not_found)
        .with_state(shared)
}

/// `{"statusCode", "message", "apiCode", "requestId"}`, the shape of every Authing failure.
fn error_body(status_code: u16, api_code: i64, message: &str) -> Value {
    json!({
        "statusCode": status_code,
        "message": message,
        "apiCode": api_code,
        "requestId": request_id(),
    })
}

/// A business error: HTTP 200 with the failure in the body.
fn business(status_code: u16, api_code: i64, message: &str) -> Response {
    Json(error_body(status_code, api_code, message)).into_response()
}

fn invalid_request(problems: &Problems) -> Response {
    business(400, codes::INVALID_REQUEST, &problems.message())
}

fn success(data: Option<Value>) -> Response {
    let mut body = json!({"statusCode": 200, "message": "success"});
    if let Some(data) = data {
        body["data"] = data;
    }
    Json(body).into_response()
}

/// What the NestJS server behind Authing answers for an unknown route (with a long method or
/// path cut short).
async fn not_found(method: Method, uri: Uri) -> Response {
    let body = json!({
        "statusCode": 404,
        "message": format!(
            "Cannot {} {}",
            clip(method.as_str(), METHOD_CHARS),
            clip(uri.path(), PATH_CHARS)
        ),
        "error": "Not Found",
    });
    (StatusCode::NOT_FOUND, Json(body)).into_response()
}

fn spec(op: Operation) -> OperationSpec<'static> {
    SPEC.operation(op.method(), op.path())
        .expect("the fragment describes every emulated operation")
}

fn content_type(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
}

/// Reads the whole body, for at most [`BODY_READ_TIMEOUT`]; the connection (from the request's
/// extensions) counts as waiting on its client meanwhile.
async fn read_body(
    body: Body,
    extensions: &http::Extensions,
) -> Result<axum::body::Bytes, Response> {
    let conn = extensions.get::<Arc<Conn>>();
    if let Some(conn) = conn {
        conn.waiting();
    }
    let read = tokio::time::timeout(BODY_READ_TIMEOUT, axum::body::to_bytes(body, MAX_BODY)).await;
    if let Some(conn) = conn {
        conn.busy();
    }
    match read {
        Ok(Ok(body)) => Ok(body),
        Ok(Err(_)) => Err(invalid_request(&Problems::one(format!(
            "body: larger than {MAX_BODY} bytes"
        )))),
        Err(_) => Err(body_timeout()),
    }
}

/// The answer to a request whose body did not arrive in time: HTTP 408 in Authing's shape,
/// and the connection closes (what is left of the body can no longer be told from a next
/// request).
fn body_timeout() -> Response {
    let body = json!({
        "statusCode": 408,
        "message": format!(
            "request timeout: the body did not arrive within {} s",
            BODY_READ_TIMEOUT.as_secs()
        ),
        "requestId": request_id(),
    });
    let mut response = (StatusCode::REQUEST_TIMEOUT, Json(body)).into_response();
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

/// The `expires_in` for a lifetime: whole seconds as an integer, as Authing writes it; a
/// sub-second part (only for tests that want fast expiry) makes it fractional.
pub(crate) fn expires_in(ttl: Duration) -> Value {
    if ttl.subsec_nanos() == 0 {
        json!(ttl.as_secs())
    } else {
        json!(ttl.as_secs_f64())
    }
}

async fn get_management_token(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    if let Err(failure) = auth::check_dialect(&shared, &parts.headers) {
        return unauthorized(&shared, failure);
    }
    let body = match read_body(body, &parts.extensions).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let value =
        match spec(Operation::GetManagementToken).check_body(content_type(&parts.headers), &body) {
            Ok(v) => v.unwrap_or_default(),
            Err(problems) => return invalid_request(&problems),
        };
    let id = value["accessKeyId"].as_str().unwrap_or_default();
    let secret = value["accessKeySecret"].as_str().unwrap_or_default();
    if !auth::access_key_matches(&shared, id, secret) {
        return business(
            403,
            codes::INVALID_ACCESS_KEY,
            "invalid access key pair: accessKeyId or accessKeySecret is wrong",
        );
    }
    let (token, ttl) = auth::issue_token(&shared);
    success(Some(
        json!({"access_token": token, "expires_in": expires_in(ttl)}),
    ))
}

async fn import_otp(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = match read_body(body, &parts.extensions).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let view = RequestView {
        method: &parts.method,
        path: parts.uri.path(),
        query: parts.uri.query(),
        headers: &parts.headers,
        body: &body,
    };
    if let Err(failure) = auth::authenticate(&shared, &view) {
        return unauthorized(&shared, failure);
    }
    let value = match spec(Operation::ImportOtp).check_body(content_type(&parts.headers), &body) {
        Ok(v) => v.unwrap_or_default(),
        Err(problems) => return invalid_request(&problems),
    };
    let listed = value["list"].as_array().map_or(0, Vec::len);
    let max_list = shared.knobs().max_list;
    if let Some(max) = max_list.filter(|&max| listed > max) {
        let message = format!(
            "request entity too large: list has {listed} items, at most {max} are accepted; \
             nothing was imported"
        );
        let body = error_body(413, codes::LIST_TOO_LARGE, &message);
        return (StatusCode::PAYLOAD_TOO_LARGE, Json(body)).into_response();
    }
    let items: Vec<(&str, Otp)> = value["list"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|item| {
            let mut otp = Otp::new(item["otp"]["secret"].as_str().unwrap_or_default());
            if let Some(code) = item["otp"]["recoveryCode"].as_str() {
                otp = otp.with_recovery_code(code);
            }
            (item["userId"].as_str().unwrap_or_default(), otp)
        })
        .collect();
    // Under the lock, one lookup per item and nothing else: all bound, or none.
    let unknown: Vec<&str> = {
        let mut directory = shared.directory();
        let unknown: Vec<&str> = items
            .iter()
            .map(|(id, _)| *id)
            .filter(|id| !directory.contains(id))
            .collect();
        if unknown.is_empty() {
            for (id, otp) in items {
                directory.bind(id, otp);
            }
            return success(None);
        }
        unknown
    };
    business(
        404,
        codes::USER_NOT_FOUND,
        &format!(
            "users not found: {}; nothing was imported",
            unknown_users(unknown)
        ),
    )
}

/// The first [`SHOWN`] distinct ids of `unknown`, each cut to [`ID_CHARS`] characters, and
/// ` and <n> more` for the other distinct ones.
fn unknown_users(unknown: Vec<&str>) -> String {
    let mut seen = HashSet::with_capacity(unknown.len());
    let distinct: Vec<&str> = unknown.into_iter().filter(|id| seen.insert(*id)).collect();
    let mut names = distinct
        .iter()
        .take(SHOWN)
        .map(|id| clip(id, ID_CHARS))
        .collect::<Vec<_>>()
        .join(", ");
    if distinct.len() > SHOWN {
        names.push_str(&format!(" and {} more", distinct.len() - SHOWN));
    }
    names
}

async fn get_otp_secret_by_user(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let (parts, _) = request.into_parts();
    let view = RequestView {
        method: &parts.method,
        path: parts.uri.path(),
        query: parts.uri.query(),
        headers: &parts.headers,
        body: &[],
    };
    if let Err(failure) = auth::authenticate(&shared, &view) {
        return unauthorized(&shared, failure);
    }
    let Ok(Query(pairs)) = Query::<Vec<(String, String)>>::try_from_uri(&parts.uri) else {
        return invalid_request(&Problems::one("query: not a valid query string".to_owned()));
    };
    let params = match spec(Operation::GetOtpSecretByUser).check_parameters(&pairs, &parts.headers)
    {
        Ok(p) => p,
        Err(problems) => return invalid_request(&problems),
    };
    let user_id = params
        .get("userId")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let id_type = params
        .get("userIdType")
        .and_then(Value::as_str)
        .unwrap_or("user_id");
    let directory = shared.directory();
    match directory.resolve(id_type, user_id) {
        Ok(user) => match &user.otp {
            Some(otp) => success(Some(json!({"secret": otp.secret.expose_secret()}))),
            None => business(404, codes::OTP_NOT_BOUND, "the user has no OTP bound"),
        },
        Err(LookupError::NotFound) => business(
            404,
            codes::USER_NOT_FOUND,
            &format!("user not found (userIdType {id_type})"),
        ),
        Err(LookupError::Ambiguous(n)) => business(
            409,
            codes::AMBIGUOUS_USER,
            &format!("{n} users match this custom_field id; it must identify exactly one user"),
        ),
        Err(LookupError::Malformed(shape)) => invalid_request(&Problems::one(format!(
            "userId: a {id_type} id must be {shape}"
        ))),
    }
}

/// `GET /api/v3/get-user-batch`: the users `userIds` name, each once, in the order of the first
/// id that names it; unknown ids are left out. Under the directory's lock, one lookup per id and
/// a copy of each user found; the answer is built after the lock is released.
async fn get_user_batch(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let (parts, _) = request.into_parts();
    let view = RequestView {
        method: &parts.method,
        path: parts.uri.path(),
        query: parts.uri.query(),
        headers: &parts.headers,
        body: &[],
    };
    if let Err(failure) = auth::authenticate(&shared, &view) {
        return unauthorized(&shared, failure);
    }
    let Ok(Query(pairs)) = Query::<Vec<(String, String)>>::try_from_uri(&parts.uri) else {
        return invalid_request(&Problems::one("query: not a valid query string".to_owned()));
    };
    let params = match spec(Operation::GetUserBatch).check_parameters(&pairs, &parts.headers) {
        Ok(p) => p,
        Err(problems) => return invalid_request(&problems),
    };
    // The schema check made `userIds` an array of 1 to 50 strings.
    let ids: Vec<&str> = params
        .get("userIds")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let id_type = params
        .get("userIdType")
        .and_then(Value::as_str)
        .unwrap_or("user_id");
    let flag = |name: &str| params.get(name) == Some(&Value::Bool(true));
    let include = Include {
        identities: flag("withIdentities"),
        custom_data: flag("withCustomData"),
        department_ids: flag("withDepartmentIds"),
    };
    let batch = shared
        .directory()
        .resolve_batch(id_type, ids.iter().copied());
    if !batch.refused.is_empty() {
        return refused_ids(id_type, &batch.refused);
    }
    let users = batch.found.iter().map(|p| user_dto(p, include)).collect();
    success(Some(Value::Array(users)))
}

/// The answer to a batch naming some ids that are malformed (statusCode 400, as a request that
/// does not match the schema) or that match several users (409): each named by its position,
/// never by its value.
fn refused_ids(id_type: &str, refused: &[(usize, LookupError)]) -> Response {
    let mut malformed = Problems::default();
    let mut ambiguous = Problems::default();
    for (at, problem) in refused {
        match problem {
            LookupError::Malformed(shape) => {
                malformed.push(format!("userIds[{at}]: a {id_type} id must be {shape}"));
            }
            LookupError::Ambiguous(n) => ambiguous.push(format!(
                "userIds[{at}]: {n} users match this custom_field id; it must identify exactly \
                 one user"
            )),
            LookupError::NotFound => {}
        }
    }
    if malformed.is_empty() {
        business(409, codes::AMBIGUOUS_USER, &ambiguous.message())
    } else {
        invalid_request(&malformed)
    }
}

/// `GET /__emulator/bindings`: every binding as JSON Lines, sorted by user id. Not
/// authenticated: the emulator only listens on loopback.
async fn bindings(State(shared): State<Arc<Shared>>) -> Response {
    let mut response = Response::new(Body::new(BindingLines {
        shared,
        after: None,
        done: false,
    }));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-ndjson"),
    );
    response
}

/// One line of the bindings endpoint.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct BindingLine<'a> {
    user_id: &'a str,
    secret: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    recovery_code: Option<&'a str>,
}

/// The bindings endpoint's body, written a page of lines at a time as the client reads, each
/// page read from the directory then: neither the lock nor a copy of every binding is held
/// while the client reads.
struct BindingLines {
    shared: Arc<Shared>,
    /// The last user id written.
    after: Option<String>,
    done: bool,
}

impl hyper::body::Body for BindingLines {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = self.get_mut();
        if this.done {
            return Poll::Ready(None);
        }
        let page = this
            .shared
            .directory()
            .bindings_after(this.after.as_deref(), BINDINGS_CHUNK);
        let Some((last, _)) = page.last() else {
            this.done = true;
            return Poll::Ready(None);
        };
        this.after = Some(last.clone());
        let mut chunk = Vec::new();
        for (user_id, otp) in &page {
            let line = BindingLine {
                user_id,
                secret: otp.secret.expose_secret(),
                recovery_code: otp.recovery_code.as_ref().map(|c| c.expose_secret()),
            };
            serde_json::to_writer(&mut chunk, &line).expect("strings serialize into a Vec");
            chunk.push(b'\n');
        }
        Poll::Ready(Some(Ok(Frame::data(Bytes::from(chunk)))))
    }

    fn is_end_stream(&self) -> bool {
        self.done
    }
}

/// The answer to a request that failed authentication, in the configured style.
fn unauthorized(shared: &Shared, failure: AuthFailure) -> Response {
    let (api_code, message) = failure.describe();
    let body = error_body(401, api_code, message);
    match shared.knobs().unauthorized_style {
        UnauthorizedStyle::Http401 => (StatusCode::UNAUTHORIZED, Json(body)).into_response(),
        UnauthorizedStyle::Http200 => Json(body).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn success_bodies_match_the_documented_responses() {
        let token = json!({"statusCode": 200, "message": "success",
            "data": {"access_token": "a.b.c", "expires_in": expires_in(Duration::from_secs(7200))}});
        assert!(
            spec(Operation::GetManagementToken)
                .check_response(&token)
                .is_empty()
        );
        let fractional = json!({"statusCode": 200, "message": "success",
            "data": {"access_token": "a.b.c", "expires_in": expires_in(Duration::from_millis(1500))}});
        assert!(
            spec(Operation::GetManagementToken)
                .check_response(&fractional)
                .is_empty()
        );
        let import = json!({"statusCode": 200, "message": "success"});
        assert!(
            spec(Operation::ImportOtp)
                .check_response(&import)
                .is_empty()
        );
        let secret = json!({"statusCode": 200, "message": "success", "data": {"secret": "S"}});
        assert!(
            spec(Operation::GetOtpSecretByUser)
                .check_response(&secret)
                .is_empty()
        );
        // A user with every id and every option, and one with none.
        let mut directory = crate::users::Directory::default();
        directory
            .add(
                crate::users::User::new("u1")
                    .email("a@x.com")
                    .phone("+8613800000000")
                    .username("alice")
                    .external_id("emp-1")
                    .identity("idp", "ou_1")
                    .custom_field("no", "E-1"),
            )
            .unwrap();
        directory.add(crate::users::User::new("u2")).unwrap();
        let batch = directory.resolve_batch("user_id", ["u1", "u2"].into_iter());
        let all = Include {
            identities: true,
            custom_data: true,
            department_ids: true,
        };
        for include in [all, Include::default()] {
            let users: Vec<Value> = batch.found.iter().map(|p| user_dto(p, include)).collect();
            let answer = json!({"statusCode": 200, "message": "success", "data": users});
            let problems = spec(Operation::GetUserBatch).check_response(&answer);
            assert!(problems.is_empty(), "{}", problems.message());
        }
        // Failures carry no data, which the documented schemas (written for success) require;
        // only the common fields are checked.
        let failure = error_body(404, codes::USER_NOT_FOUND, "user not found");
        assert!(
            spec(Operation::ImportOtp)
                .check_response(&failure)
                .is_empty()
        );
    }
}
