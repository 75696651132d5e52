//! What one attempt carries: the client's headers, and the token or the signature the call
//! chose for it. The generated client holds it (progenitor's "inner type"), and its hooks
//! ([`crate::transport`]) decorate the request with it.

use std::{fmt, sync::Arc, time::Duration};

use reqwest::header::{HeaderName, HeaderValue};

use crate::{signing::Signer, token::Token};

/// What every request of a client carries, whatever its attempt.
pub(crate) struct Decor {
    /// The dialect's headers with their values: the SDK version, and the language and tenant
    /// when set.
    pub(crate) headers: Vec<(HeaderName, HeaderValue)>,
    /// The header the user pool id goes in (token mode).
    pub(crate) userpool: HeaderName,
    /// Signs requests, in signature mode.
    pub(crate) signer: Option<Signer>,
    /// Whether the HTTP client may follow redirects by itself (one the caller gave): then an
    /// answer from another URL than the request's is refused.
    pub(crate) foreign_client: bool,
}

/// How one attempt proves who sends it.
#[derive(Clone)]
pub(crate) enum CallAuth {
    /// The token request itself.
    None,
    /// `authorization: Bearer …` and the user pool header.
    Token(Arc<Token>),
    /// AK/SK signing, afresh for this attempt.
    Signature,
}

/// What the hooks of one attempt decorate its request with: the generated client's inner type
/// (public only because the generated client's constructor names it).
#[derive(Clone)]
#[allow(unreachable_pub)]
pub struct HookState {
    pub(crate) decor: Arc<Decor>,
    pub(crate) auth: CallAuth,
    /// This attempt's timeout, when the HTTP client's own is not it: the client's timeout on a
    /// caller's HTTP client, or what is left of the call's deadline when that is shorter.
    pub(crate) timeout: Option<Duration>,
}

impl fmt::Debug for HookState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let auth = match self.auth {
            CallAuth::None => "none",
            CallAuth::Token(_) => "token",
            CallAuth::Signature => "signature",
        };
        f.debug_struct("HookState")
            .field("auth", &auth)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}
