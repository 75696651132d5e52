//! The one place every request passes through: progenitor's `ClientHooks` for the generated
//! client.
//!
//! `pre` sets the headers every call carries, then authenticates (token or signature) last, so
//! that a signature covers the request exactly as it leaves. `exec` sends it and, in token mode,
//! refreshes the token and sends once more when the answer says "unauthenticated" (HTTP 401, or
//! HTTP 200 with `statusCode` 401). Retries with backoff and tracing belong here too.
//!
//! Hooks can only fail with progenitor's stringly `Error::Custom`; the typed [`Error`] travels
//! beside it in a task-local slot that [`run`] opens around each facade call.

use std::{cell::RefCell, fmt, future::Future, sync::Arc, time::Duration};

use progenitor_client::{ClientHooks, OperationInfo};
use reqwest::header::{AUTHORIZATION, HeaderName, HeaderValue};

use crate::{
    Error, SDK_VERSION,
    auth::{Auth, TOKEN_OPERATION, Token},
    generated::Client,
};

const SDK_VERSION_HEADER: HeaderName = HeaderName::from_static("x-authing-sdk-version");
const LANG_HEADER: HeaderName = HeaderName::from_static("x-authing-lang");
const TENANT_HEADER: HeaderName = HeaderName::from_static("x-authing-app-tenant-id");
const USERPOOL_HEADER: HeaderName = HeaderName::from_static("x-authing-userpool-id");

/// What the hooks need, stored in the generated client (`with_inner_type`). Cheap to clone.
#[derive(Clone)]
pub struct HookState(pub(crate) Arc<Shared>);

pub(crate) struct Shared {
    pub(crate) auth: Auth,
    pub(crate) lang: Option<HeaderValue>,
    pub(crate) tenant_id: Option<HeaderValue>,
    pub(crate) timeout: Duration,
}

impl fmt::Debug for HookState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HookState")
            .field("auth", &self.0.auth)
            .field("lang", &self.0.lang)
            .field("tenant_id", &self.0.tenant_id)
            .field("timeout", &self.0.timeout)
            .finish()
    }
}

tokio::task_local! {
    static HOOK_ERROR: RefCell<Option<Error>>;
}

/// Keeps `error` for the facade call that is running, and returns its message for progenitor.
fn stash(error: Error) -> String {
    let message = error.to_string();
    let _ = HOOK_ERROR.try_with(|slot| *slot.borrow_mut() = Some(error));
    message
}

/// Runs a generated call and maps its outcome to the crate's error, preferring a typed error
/// stashed by a hook over progenitor's rendering of it.
pub(crate) async fn run<T, F>(call: F) -> Result<T, Error>
where
    F: Future<Output = Result<T, progenitor_client::Error>>,
{
    HOOK_ERROR
        .scope(RefCell::new(None), async move {
            let outcome = call.await;
            let stashed = HOOK_ERROR.with(|slot| slot.borrow_mut().take());
            match (outcome, stashed) {
                (_, Some(error)) => Err(error),
                (Ok(value), None) => Ok(value),
                (Err(e), None) => Err(Error::from_generated(e).await),
            }
        })
        .await
}

impl ClientHooks<HookState> for Client {
    async fn pre<E>(
        &self,
        request: &mut reqwest::Request,
        info: &OperationInfo,
    ) -> Result<(), progenitor_client::Error<E>> {
        let shared = &self.inner.0;
        // A per-request timeout also bounds a caller-supplied reqwest::Client.
        request.timeout_mut().get_or_insert(shared.timeout);
        let headers = request.headers_mut();
        headers.insert(SDK_VERSION_HEADER, HeaderValue::from_static(SDK_VERSION));
        if let Some(lang) = &shared.lang {
            headers.insert(LANG_HEADER, lang.clone());
        }
        if let Some(tenant) = &shared.tenant_id {
            headers.insert(TENANT_HEADER, tenant.clone());
        }
        if info.operation_id == TOKEN_OPERATION {
            return Ok(());
        }
        match &shared.auth {
            Auth::Token(tokens) => {
                let token = tokens
                    .token(self)
                    .await
                    .map_err(|e| progenitor_client::Error::Custom(stash(e)))?;
                apply_token(request, &token);
            }
            Auth::Signature(signer) => signer.sign_request(request),
        }
        Ok(())
    }

    async fn exec(
        &self,
        request: reqwest::Request,
        info: &OperationInfo,
    ) -> reqwest::Result<reqwest::Response> {
        let Auth::Token(tokens) = &self.inner.0.auth else {
            return self.client.execute(request).await;
        };
        if info.operation_id == TOKEN_OPERATION {
            return self.client.execute(request).await;
        }
        // The credentials this request actually carries, whatever the cache holds by now.
        let sent = request.headers().get(AUTHORIZATION).cloned();
        let retry = request.try_clone();
        let (response, unauthenticated) = inspect(self.client.execute(request).await?).await?;
        let (true, Some(sent), Some(mut retry)) = (unauthenticated, sent, retry) else {
            return Ok(response);
        };
        // The token was refused before it expired (revoked, or the server's clock disagrees):
        // fetch a new one, once, and send again. A second refusal is the caller's error.
        tokens.invalidate(&sent);
        match tokens.token(self).await {
            Ok(token) => {
                apply_token(&mut retry, &token);
                self.client.execute(retry).await
            }
            Err(e) => {
                stash(e);
                Ok(response)
            }
        }
    }
}

fn apply_token(request: &mut reqwest::Request, token: &Token) {
    let headers = request.headers_mut();
    headers.insert(AUTHORIZATION, token.authorization.clone());
    headers.insert(USERPOOL_HEADER, token.user_pool_id.clone());
}

/// Whether an answer says "unauthenticated", with the answer itself (its body read, if that
/// was needed to tell).
async fn inspect(response: reqwest::Response) -> reqwest::Result<(reqwest::Response, bool)> {
    let status = response.status();
    if status != reqwest::StatusCode::OK {
        return Ok((response, status == reqwest::StatusCode::UNAUTHORIZED));
    }
    // Authing also says 401 inside an HTTP 200 body; the body has to be read to know.
    let version = response.version();
    let headers = response.headers().clone();
    let body = response.bytes().await?;
    // Only `statusCode` is read: serde skips the rest without allocating.
    #[derive(serde::Deserialize)]
    struct Status {
        #[serde(rename = "statusCode")]
        status_code: f64,
    }
    let unauthenticated =
        serde_json::from_slice::<Status>(&body).is_ok_and(|s| s.status_code == 401.0);
    let mut rebuilt = http::Response::new(body);
    *rebuilt.status_mut() = status;
    *rebuilt.version_mut() = version;
    *rebuilt.headers_mut() = headers;
    Ok((rebuilt.into(), unauthenticated))
}
