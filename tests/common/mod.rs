//! A loopback Authing stand-in on httpmock that records every request exactly as it arrived.
#![allow(dead_code)]

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use base64::Engine as _;
use httpmock::{HttpMockRequest, HttpMockResponse, Method, MockServer};

pub const AK: &str = "ak-test";
pub const SK: &str = "sk-test-SECRET";
pub const POOL: &str = "up-test-1";
pub const OTP_SECRET: &str = "HZ2F6J3AGNAVSOTV";

/// One request as the server saw it.
#[derive(Clone, Debug)]
pub struct Seen {
    pub method: String,
    /// Path and raw query, as sent.
    pub target: String,
    /// Lower-cased names, in arrival order.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The header names, sorted.
    pub fn header_names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.headers.iter().map(|(n, _)| n.as_str()).collect();
        names.sort_unstable();
        names
    }
}

pub type Responder = Arc<dyn Fn(usize, &Seen) -> HttpMockResponse + Send + Sync>;

pub struct Wire {
    pub server: MockServer,
    log: Arc<Mutex<Vec<Seen>>>,
}

impl Wire {
    pub async fn start() -> Self {
        Wire {
            server: MockServer::start_async().await,
            log: Arc::default(),
        }
    }

    pub fn url(&self) -> String {
        self.server.base_url()
    }

    /// Answers `method path` with `respond(n, request)`, n counting this route's calls from 0.
    /// Requests are logged when answered, after `delay`; the returned mock counts them on
    /// arrival.
    pub async fn route(
        &self,
        method: Method,
        path: &str,
        delay: Duration,
        respond: impl Fn(usize, &Seen) -> HttpMockResponse + Send + Sync + 'static,
    ) -> httpmock::Mock<'_> {
        let log = self.log.clone();
        let calls = Arc::new(AtomicUsize::new(0));
        let respond: Responder = Arc::new(respond);
        self.server
            .mock_async(move |when, then| {
                when.method(method).path(path.to_owned());
                then.delay(delay)
                    .respond_with(move |req: &HttpMockRequest| {
                        let seen = Seen {
                            method: req.method_str().to_owned(),
                            target: req
                                .uri()
                                .path_and_query()
                                .map(|pq| pq.as_str().to_owned())
                                .unwrap_or_default(),
                            headers: req
                                .headers_vec()
                                .iter()
                                .map(|(n, v)| (n.to_ascii_lowercase(), v.clone()))
                                .collect(),
                            body: req.body_string(),
                        };
                        log.lock().unwrap().push(seen.clone());
                        respond(calls.fetch_add(1, Ordering::SeqCst), &seen)
                    });
            })
            .await
    }

    /// The token endpoint, issuing `token(n)` for the n-th request, valid `expires_in` seconds.
    pub async fn token_route(&self, expires_in: f64, delay: Duration) -> httpmock::Mock<'_> {
        self.route(
            Method::POST,
            "/api/v3/get-management-token",
            delay,
            move |n, _| {
                json(
                    200,
                    &serde_json::json!({
                        "statusCode": 200, "message": "ok",
                        "data": {"access_token": token(n), "expires_in": expires_in}
                    }),
                )
            },
        )
        .await
    }

    /// `GET /api/v3/get-otp-secret-by-user` answering `respond`.
    pub async fn get_secret_route(
        &self,
        respond: impl Fn(usize, &Seen) -> HttpMockResponse + Send + Sync + 'static,
    ) {
        self.route(
            Method::GET,
            "/api/v3/get-otp-secret-by-user",
            Duration::ZERO,
            respond,
        )
        .await;
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.log.lock().unwrap().clone()
    }

    pub fn seen_at(&self, path: &str) -> Vec<Seen> {
        self.seen()
            .into_iter()
            .filter(|s| s.target.split('?').next() == Some(path))
            .collect()
    }

    pub fn token_requests(&self) -> usize {
        self.seen_at("/api/v3/get-management-token").len()
    }
}

/// A JWT-shaped token whose payload scopes it to `POOL`, distinct for each `n`.
pub fn token(n: usize) -> String {
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    format!(
        "{}.{}.{}",
        b64.encode(br#"{"alg":"HS256","typ":"JWT"}"#),
        b64.encode(format!(
            r#"{{"scoped_userpool_id":"{POOL}","exp":4102444800,"n":{n}}}"#
        )),
        b64.encode(format!("sig-{n}")),
    )
}

pub fn json(status: u16, body: &serde_json::Value) -> HttpMockResponse {
    HttpMockResponse::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(body.to_string())
        .build()
}

pub fn raw(status: u16, content_type: &str, body: &str) -> HttpMockResponse {
    HttpMockResponse::builder()
        .status(status)
        .header("content-type", content_type)
        .body(body.to_owned())
        .build()
}

pub fn secret_ok() -> HttpMockResponse {
    json(
        200,
        &serde_json::json!({"statusCode": 200, "message": "ok", "data": {"secret": OTP_SECRET}}),
    )
}

pub fn client(wire: &Wire) -> authing_otp::ManagementClient {
    authing_otp::ManagementClient::builder()
        .access_key(AK, SK)
        .host(wire.url())
        .build()
        .unwrap()
}
