//! A minimal HTTP/1.1 server on loopback that answers every request with whatever answer is
//! set, as fast as hyper can: for the response-path property test and the overhead benchmark,
//! where the emulator's validation and bookkeeping would get in the way.
//!
//! The token endpoint always answers with a valid token, so that token mode needs no set-up.
#![allow(dead_code)] // each includer uses part of it

use std::{
    convert::Infallible,
    net::SocketAddr,
    sync::{Arc, Mutex},
};

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Request, Response, body::Incoming, server::conn::http1, service::service_fn};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

/// One answer: status, headers and body bytes.
#[derive(Clone, Debug)]
pub struct Canned {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
}

impl Canned {
    /// A getOtpSecretByUser success carrying `secret`.
    pub fn secret(secret: &str) -> Self {
        Canned {
            status: 200,
            headers: vec![("content-type".into(), "application/json".into())],
            body: Bytes::from(format!(
                r#"{{"statusCode":200,"message":"success","requestId":"r-1","data":{{"secret":"{secret}"}}}}"#
            )),
        }
    }
}

/// The token every token request gets: JWT-shaped, scoped to pool `up-fixed`.
pub const TOKEN: &str =
    "eyJhbGciOiJIUzI1NiJ9.eyJzY29wZWRfdXNlcnBvb2xfaWQiOiJ1cC1maXhlZCJ9.c2lnLWZpeGVk";

pub struct FixedServer {
    pub addr: SocketAddr,
    answer: Arc<Mutex<Canned>>,
}

impl FixedServer {
    /// Starts serving on 127.0.0.1 on the current runtime, answering `answer` until changed.
    pub async fn start(answer: Canned) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let answer = Arc::new(Mutex::new(answer));
        let shared = answer.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let _ = stream.set_nodelay(true);
                let shared = shared.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |request: Request<Incoming>| {
                        let canned = if request.uri().path() == "/api/v3/get-management-token" {
                            token_answer()
                        } else {
                            shared.lock().unwrap().clone()
                        };
                        async move { Ok::<_, Infallible>(respond(canned)) }
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        FixedServer { addr, answer }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Answers `answer` from now on.
    pub fn set(&self, answer: Canned) {
        *self.answer.lock().unwrap() = answer;
    }
}

fn token_answer() -> Canned {
    Canned {
        status: 200,
        headers: vec![("content-type".into(), "application/json".into())],
        body: Bytes::from(format!(
            r#"{{"statusCode":200,"message":"ok","data":{{"access_token":"{TOKEN}","expires_in":7200}}}}"#
        )),
    }
}

fn respond(canned: Canned) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(canned.body));
    *response.status_mut() =
        hyper::StatusCode::from_u16(canned.status).unwrap_or(hyper::StatusCode::OK);
    for (name, value) in canned.headers {
        if let (Ok(name), Ok(value)) = (
            hyper::header::HeaderName::from_bytes(name.as_bytes()),
            hyper::header::HeaderValue::from_str(&value),
        ) {
            response.headers_mut().append(name, value);
        }
    }
    response
}
