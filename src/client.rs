//! The management client: the operations the facade covers, each one call ([`crate::call`]).

use std::{borrow::Borrow, sync::Arc};

use secrecy::ExposeSecret;
use tracing::Instrument as _;

use crate::{
    Brand, Error, ImportReceipt, InputError, OtpImport, OtpSecret, UserIdType, UserRef,
    call::{self, CallReport, Operation, Policy},
    envelope::Envelope,
    error::{MESSAGE_CHARS, REQUEST_ID_CHARS},
    generated::{self, types},
    redact::{clean, truncate},
    resolve::{self, Resolution},
    state::Inner,
};

/// A client for the OTP operations of one Authing user pool. Cheap to clone; clones share the
/// connection pool and the cached token.
///
/// ```no_run
/// use authing_otp::{Lang, ManagementClient};
///
/// let client = ManagementClient::builder()
///     .access_key("6250f12d5dxxxx9bcfcf784b", "4ae78d3e579a6dxxxx1aeca7b1e29ec2")
///     .host("https://api.authing.cn")
///     .lang(Lang::EnUs)
///     .build()?;
/// assert!(!format!("{client:?}").contains("4ae78d3e579a6dxxxx1aeca7b1e29ec2"));
/// # Ok::<(), authing_otp::Error>(())
/// ```
#[derive(Clone)]
pub struct ManagementClient {
    inner: Arc<Inner>,
}

/// What the user configured: host, brand, auth scheme, access key id, pool, language, tenant,
/// timeouts, retries, rate limit; never the access key secret.
impl std::fmt::Debug for ManagementClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&self.inner, f)
    }
}

/// Counts of what a client (and its clones) sent: see [`ManagementClient::stats`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClientStats {
    /// HTTP requests sent, every attempt and token request included.
    pub requests: u64,
    /// Attempts that were retries of a failed one.
    pub retries: u64,
    /// Answers that said 429 (HTTP or `statusCode`).
    pub throttled: u64,
}

impl ManagementClient {
    pub(crate) fn from_inner(inner: Inner) -> Self {
        ManagementClient {
            inner: Arc::new(inner),
        }
    }

    /// The brand whose dialect the client speaks.
    ///
    /// ```
    /// use authing_otp::{Brand, ManagementClient};
    /// let client = ManagementClient::builder()
    ///     .access_key("ak", "sk")
    ///     .host("https://api.genauth.ai")
    ///     .build()?;
    /// assert_eq!(client.brand(), Brand::GenAuth);
    /// # Ok::<(), authing_otp::Error>(())
    /// ```
    pub fn brand(&self) -> Brand {
        self.inner.shown.brand
    }

    /// The API host requests go to.
    pub fn host(&self) -> &str {
        &self.inner.base_url
    }

    /// The generated client, decorated for one request as the facade's are (headers, and a
    /// token or a signature), without the facade's call around it: no retries, no deadline,
    /// no `statusCode` check, no scrubbing.
    ///
    /// Not part of the API: it exists so that this crate's conformance tests can send the
    /// official SDKs' recorded requests as they were, values the facade would refuse
    /// included.
    #[doc(hidden)]
    pub async fn generated(&self) -> Result<generated::Client, Error> {
        let auth = match &self.inner.auth {
            crate::state::Auth::Signature => crate::attempt::CallAuth::Signature,
            crate::state::Auth::Token { .. } => {
                crate::attempt::CallAuth::Token(call::token_for(&self.inner).await?)
            }
        };
        Ok(generated::Client::new_with_client(
            &self.inner.base_url,
            self.inner.http.clone(),
            crate::attempt::HookState {
                decor: self.inner.decor.clone(),
                auth,
                timeout: self
                    .inner
                    .decor
                    .foreign_client
                    .then_some(self.inner.timeout),
            },
        ))
    }

    /// Binds each item's OTP secret (and recovery code) to its user (`importOtp`). Items may be
    /// given by value or by reference.
    ///
    /// The items are checked before anything is sent: the list must not be empty and must not
    /// name a user twice. One call is one request; split very large imports into batches.
    ///
    /// ```no_run
    /// # async fn demo(client: authing_otp::ManagementClient) -> Result<(), authing_otp::Error> {
    /// use authing_otp::OtpImport;
    /// let receipt = client
    ///     .import_otp([OtpImport::new("6229ffaxxxxxxxxcade3e3d9", "HZ2F6J3AGNAVSOTV")?])
    ///     .await?;
    /// assert_eq!(receipt.imported, 1);
    /// # Ok(()) }
    /// ```
    pub async fn import_otp<I>(&self, items: I) -> Result<ImportReceipt, Error>
    where
        I: IntoIterator,
        I::Item: Borrow<OtpImport>,
    {
        // Kept (moved, not copied) so that their secrets can be scrubbed from what the server
        // says back.
        let items: Vec<I::Item> = items.into_iter().collect();
        self.import_with(&items, Policy::default()).await.0
    }

    /// [`import_otp`](Self::import_otp) under `policy`, with what it sent.
    pub(crate) async fn import_with<T: Borrow<OtpImport>>(
        &self,
        items: &[T],
        policy: Policy,
    ) -> (Result<ImportReceipt, Error>, CallReport) {
        // importOtp binds one secret per user: a list naming a user twice is refused.
        let mut seen = std::collections::HashMap::with_capacity(items.len());
        let mut list = Vec::with_capacity(items.len());
        for (index, item) in items.iter().enumerate() {
            let item = item.borrow();
            if let Some(first) = seen.insert(item.user_id(), index) {
                let error =
                    InputError::new("userId", format!("names the same user as item {first}"))
                        .at_item(index);
                return (Err(error.into()), CallReport::default());
            }
            list.push(item.to_wire());
        }
        if list.is_empty() {
            let error = InputError::new("list", "must contain at least one item");
            return (Err(error.into()), CallReport::default());
        }
        let imported = list.len();
        let span = tracing::info_span!("authing_otp.import_otp", items = imported);
        let secrets: Vec<&str> = items
            .iter()
            .flat_map(|item| {
                let item = item.borrow();
                std::iter::once(item.secret().expose_secret())
                    .chain(item.recovery_code().map(|code| code.expose_secret()))
            })
            .collect();
        // The body is built again for each attempt, from the items (not kept copied).
        let mut list = Some(list);
        let send = |client: generated::Client| {
            let list = list
                .take()
                .unwrap_or_else(|| items.iter().map(|item| item.borrow().to_wire()).collect());
            async move {
                client
                    .import_otp()
                    .body(types::ImportOtpReqDto { list })
                    .send()
                    .await
            }
        };
        let (answer, report) = call::run(&self.inner, Operation::ImportOtp, &secrets, policy, send)
            .instrument(span)
            .await;
        let answer = match answer {
            Ok(answer) => answer,
            Err(e) => return (Err(e), report),
        };
        // A success can quote the request back too; and it is the server's text, so bounded.
        let token = self.current_token();
        let said = |text: &str, chars: usize| {
            let mut all = vec![self.inner.access_key_secret.expose_secret()];
            all.extend(token.as_deref().map(crate::token::Token::bearer));
            all.extend_from_slice(&secrets);
            truncate(&clean(text, &all), chars)
        };
        let receipt = ImportReceipt {
            imported,
            message: said(&answer.message, MESSAGE_CHARS),
            request_id: answer.request_id.map(|id| said(&id, REQUEST_ID_CHARS)),
        };
        (Ok(receipt), report)
    }

    /// The token in the cache, for scrubbing a success's text.
    fn current_token(&self) -> Option<Arc<crate::token::Token>> {
        match &self.inner.auth {
            crate::state::Auth::Token { tokens, .. } => tokens.current(),
            crate::state::Auth::Signature => None,
        }
    }

    /// The OTP secret bound to `user` (`getOtpSecretByUser`). `userIdType` is always sent.
    ///
    /// An answer whose `data.secret` is not a non-empty base32 string is an
    /// [`Error::UnexpectedResponse`], never a secret.
    ///
    /// ```no_run
    /// # async fn demo(client: authing_otp::ManagementClient) -> Result<(), authing_otp::Error> {
    /// use authing_otp::UserRef;
    /// use authing_otp::ExposeSecret;
    /// let secret = client
    ///     .get_otp_secret_by_user(&UserRef::identity("62f20932716fbcc10d966ee5", "ou_8bae")?)
    ///     .await?;
    /// let _base32: &str = secret.expose_secret();
    /// # Ok(()) }
    /// ```
    pub async fn get_otp_secret_by_user(&self, user: &UserRef) -> Result<OtpSecret, Error> {
        self.get_secret_with(user, Policy::default()).await.0
    }

    /// [`get_otp_secret_by_user`](Self::get_otp_secret_by_user) under `policy`, with what it
    /// sent.
    pub(crate) async fn get_secret_with(
        &self,
        user: &UserRef,
        policy: Policy,
    ) -> (Result<OtpSecret, Error>, CallReport) {
        let span = tracing::info_span!(
            "authing_otp.get_otp_secret_by_user",
            user_id_type = user.id_type().as_str(),
            user_id = tracing::field::Empty,
        );
        if self.inner.log_user_ids {
            span.record("user_id", user.id());
        }
        let send = |client: generated::Client| async move {
            client
                .get_otp_secret_by_user()
                .user_id(user.id())
                .user_id_type(types::GetOtpSecretByUserUserIdType::from(user.id_type()))
                .send()
                .await
        };
        let (answer, report) = call::run(
            &self.inner,
            Operation::GetOtpSecretByUser,
            &[],
            policy,
            send,
        )
        .instrument(span)
        .await;
        let secret = answer.and_then(|answer| {
            let secret = match answer {
                Envelope {
                    data: Some(data), ..
                } => data.secret,
                _ => String::new(),
            };
            if crate::otp::check_base32(&secret).is_err() || secret.is_empty() {
                return Err(Error::UnexpectedResponse {
                    status: 200,
                    reason: "data.secret is not a base32 OTP secret".into(),
                    excerpt: format!("<{} characters withheld>", secret.chars().count()),
                });
            }
            Ok(OtpSecret::from(secret))
        });
        (secret, report)
    }

    /// Which Authing user id each of `users` names (`getUserBatch`), in input order: for
    /// migrations that name users by email, username, phone or external id, when
    /// [`import_otp`](Self::import_otp) takes only user ids.
    ///
    /// All of `users` must share one [`UserIdType`], and there must be 1 to
    /// [`MAX_USERS_PER_LOOKUP`](crate::MAX_USERS_PER_LOOKUP) of them; otherwise an
    /// [`Error::InvalidInput`] is returned and nothing is sent. User ids
    /// ([`UserIdType::UserId`]) are [`Resolution::Found`] as they are, without a request. Other
    /// types are one request, the users answered matched to the references by the field of
    /// their type (emails ignoring ASCII case; `identity` through the users' identities);
    /// `sync_relation` and `custom_field` references, which no field of the answer matches,
    /// are one request each. A reference more than one user answers for is
    /// [`Resolution::Ambiguous`].
    ///
    /// An answer that is not the promised shape is an [`Error::UnexpectedResponse`].
    ///
    /// ```no_run
    /// use authing_otp::{Resolution, UserRef};
    ///
    /// # async fn demo(client: authing_otp::ManagementClient) -> Result<(), authing_otp::Error> {
    /// let users = [UserRef::email("alice@example.com")?, UserRef::email("bob@example.com")?];
    /// for (user, found) in users.iter().zip(client.resolve_user_ids(&users).await?) {
    ///     match found {
    ///         Resolution::Found(user_id) => println!("{user} is {user_id}"),
    ///         other => eprintln!("{user}: {other:?}"),
    ///     }
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn resolve_user_ids(&self, users: &[UserRef]) -> Result<Vec<Resolution>, Error> {
        self.resolve_with(users, Policy::default()).await.0
    }

    /// [`resolve_user_ids`](Self::resolve_user_ids) under `policy`, with what it sent.
    pub(crate) async fn resolve_with(
        &self,
        users: &[UserRef],
        policy: Policy,
    ) -> (Result<Vec<Resolution>, Error>, CallReport) {
        let id_type = match resolve::check(users) {
            Ok(t) => t,
            Err(e) => return (Err(e.into()), CallReport::default()),
        };
        if id_type == UserIdType::UserId {
            let found = users
                .iter()
                .map(|u| Resolution::Found(u.id().to_owned()))
                .collect();
            return (Ok(found), CallReport::default());
        }
        if resolve::one_per_request(id_type) && users.len() > 1 {
            let mut all = Vec::with_capacity(users.len());
            let mut report = CallReport::default();
            for user in users {
                let (answer, one) = self
                    .lookup(std::slice::from_ref(user), id_type, policy)
                    .await;
                report.sent += one.sent;
                report.retry_after = one.retry_after.or(report.retry_after);
                match answer {
                    Ok(mut found) => all.append(&mut found),
                    Err(e) => return (Err(e), report),
                }
            }
            return (Ok(all), report);
        }
        self.lookup(users, id_type, policy).await
    }

    /// One `getUserBatch` request for `users`, all of `id_type`.
    async fn lookup(
        &self,
        users: &[UserRef],
        id_type: UserIdType,
        policy: Policy,
    ) -> (Result<Vec<Resolution>, Error>, CallReport) {
        let span = tracing::info_span!(
            "authing_otp.get_user_batch",
            user_id_type = id_type.as_str(),
            users = users.len(),
        );
        let identities = id_type == UserIdType::Identity;
        let send = |client: generated::Client| {
            let ids: Vec<String> = users.iter().map(|u| u.id().to_owned()).collect();
            async move {
                let request = client
                    .get_user_batch()
                    .user_ids(ids)
                    .user_id_type(types::GetUserBatchUserIdType::from(id_type));
                let request = if identities {
                    request.with_identities(true)
                } else {
                    request
                };
                request.send().await
            }
        };
        let (answer, report) = call::run(&self.inner, Operation::GetUserBatch, &[], policy, send)
            .instrument(span)
            .await;
        let found = answer.and_then(|answer| {
            let Some(data) = answer.data else {
                return Err(Error::UnexpectedResponse {
                    status: 200,
                    reason: "a success without data, where the spec promises the users found"
                        .into(),
                    excerpt: String::new(),
                });
            };
            if data.iter().any(|u| u.user_id.is_empty()) {
                return Err(Error::UnexpectedResponse {
                    status: 200,
                    reason: "a user with an empty userId".into(),
                    excerpt: String::new(),
                });
            }
            Ok(resolve::match_answer(users, &data))
        });
        (found, report)
    }

    /// The rate limit configured on the client, in requests per second.
    pub(crate) fn configured_rps(&self) -> Option<f64> {
        self.inner
            .rate_limit
            .as_ref()
            .map(crate::rate_limit::RateLimit::rps)
    }

    /// What this client and its clones have sent so far.
    ///
    /// ```
    /// let client = authing_otp::ManagementClient::builder().access_key("ak", "sk").build()?;
    /// assert_eq!(client.stats().requests, 0);
    /// # Ok::<(), authing_otp::Error>(())
    /// ```
    pub fn stats(&self) -> ClientStats {
        let stats = &self.inner.stats;
        let read = |n: &std::sync::atomic::AtomicU64| n.load(std::sync::atomic::Ordering::Relaxed);
        ClientStats {
            requests: read(&stats.requests),
            retries: read(&stats.retries),
            throttled: read(&stats.throttled),
        }
    }
}
