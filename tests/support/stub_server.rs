//! A minimal, fast HTTP/1.1 stand-in for the two endpoints a read of an OTP secret needs, meant
//! to run in a process of its own (`examples/peers_stub.rs`) so that a client's CPU time and
//! memory can be measured apart from the server's: the side-by-side benchmark of the official
//! SDKs (`benches/peers/`) runs it, and any benchmark can.
//!
//! - `POST /api/v3/get-management-token`: a JWT-shaped token ([`TOKEN`], its payload carries
//!   `scoped_userpool_id` [`USER_POOL_ID`]) that lasts 7200 s;
//! - `GET /api/v3/get-otp-secret-by-user`: [`SECRET`], whatever the user;
//! - `POST /api/v3/import-otp`: success, binding nothing;
//! - `GET /__stats`: the counters as JSON ([`Counts`]; the connection asking is counted);
//! - anything else: HTTP 404 with `{"statusCode":404,…}`.
//!
//! Nothing is checked: any `authorization` (a bearer token, an AK/SK signature, none), any
//! header, any query. What is counted: accepted TCP connections, token requests, OTP reads,
//! imports and other requests.
#![allow(dead_code)] // each includer uses part of it

use std::{
    convert::Infallible,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{
    Method, Request, Response, StatusCode, body::Incoming, header, server::conn::http1,
    service::service_fn,
};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

macro_rules! token {
    () => {
        // {"alg":"HS256","typ":"JWT"} . {"scoped_userpool_id":"up-stub","exp":4102444800} . sig
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.\
         eyJzY29wZWRfdXNlcnBvb2xfaWQiOiJ1cC1zdHViIiwiZXhwIjo0MTAyNDQ0ODAwfQ.\
         c2lnLXN0dWI"
    };
}

/// The management token every token request gets (JWT-shaped, not signed by anyone).
pub const TOKEN: &str = token!();
/// The pool the token is scoped to (`scoped_userpool_id` in its payload).
pub const USER_POOL_ID: &str = "up-stub";
/// The secret every OTP read gets.
pub const SECRET: &str = "HZ2F6J3AGNAVSOTV";

const TOKEN_BODY: &str = concat!(
    r#"{"statusCode":200,"message":"success","data":{"access_token":""#,
    token!(),
    r#"","expires_in":7200}}"#
);
const SECRET_BODY: &str =
    r#"{"statusCode":200,"message":"success","data":{"secret":"HZ2F6J3AGNAVSOTV"}}"#;
const IMPORT_BODY: &str = r#"{"statusCode":200,"message":"success"}"#;
const NOT_FOUND_BODY: &str = r#"{"statusCode":404,"message":"no such path on the stub"}"#;

/// Live counters, shared by every connection.
#[derive(Debug, Default)]
pub struct Stats {
    connections: AtomicU64,
    token_requests: AtomicU64,
    otp_requests: AtomicU64,
    import_requests: AtomicU64,
    other_requests: AtomicU64,
}

/// The counters at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// TCP connections accepted.
    pub connections: u64,
    /// `POST /api/v3/get-management-token`.
    pub token_requests: u64,
    /// `GET /api/v3/get-otp-secret-by-user`.
    pub otp_requests: u64,
    /// `POST /api/v3/import-otp`.
    pub import_requests: u64,
    /// Everything else, `/__stats` included.
    pub other_requests: u64,
}

impl Stats {
    pub fn counts(&self) -> Counts {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        Counts {
            connections: get(&self.connections),
            token_requests: get(&self.token_requests),
            otp_requests: get(&self.otp_requests),
            import_requests: get(&self.import_requests),
            other_requests: get(&self.other_requests),
        }
    }
}

impl Counts {
    /// One line of JSON, camelCase keys.
    pub fn to_json(self) -> String {
        format!(
            r#"{{"connections":{},"tokenRequests":{},"otpRequests":{},"importRequests":{},"otherRequests":{}}}"#,
            self.connections,
            self.token_requests,
            self.otp_requests,
            self.import_requests,
            self.other_requests
        )
    }
}

/// Serves `listener` on the current runtime until the future is dropped, counting into `stats`.
/// Each connection is a task of its own.
pub async fn serve(listener: TcpListener, stats: Arc<Stats>) {
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            // Out of descriptors and the like: try again rather than spin on the same error.
            Err(_) => {
                tokio::task::yield_now().await;
                continue;
            }
        };
        stats.connections.fetch_add(1, Ordering::Relaxed);
        let _ = stream.set_nodelay(true);
        let stats = stats.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request: Request<Incoming>| {
                let stats = stats.clone();
                async move { Ok::<_, Infallible>(answer(request, &stats).await) }
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn answer(request: Request<Incoming>, stats: &Stats) -> Response<Full<Bytes>> {
    let count = |c: &AtomicU64| c.fetch_add(1, Ordering::Relaxed);
    let (parts, body) = request.into_parts();
    // Read what was sent, so that the connection stays usable for the next request.
    if parts.method != Method::GET && parts.method != Method::HEAD {
        let _ = body.collect().await;
    }
    let (status, body) = match (&parts.method, parts.uri.path()) {
        (&Method::GET, "/api/v3/get-otp-secret-by-user") => {
            count(&stats.otp_requests);
            (StatusCode::OK, Bytes::from_static(SECRET_BODY.as_bytes()))
        }
        (&Method::POST, "/api/v3/get-management-token") => {
            count(&stats.token_requests);
            (StatusCode::OK, Bytes::from_static(TOKEN_BODY.as_bytes()))
        }
        (&Method::POST, "/api/v3/import-otp") => {
            count(&stats.import_requests);
            (StatusCode::OK, Bytes::from_static(IMPORT_BODY.as_bytes()))
        }
        (&Method::GET, "/__stats") => {
            count(&stats.other_requests);
            (StatusCode::OK, Bytes::from(stats.counts().to_json()))
        }
        _ => {
            count(&stats.other_requests);
            (
                StatusCode::NOT_FOUND,
                Bytes::from_static(NOT_FOUND_BODY.as_bytes()),
            )
        }
    };
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    response
}
