//! Request matchers the spec cannot say: a user as the client names it, an import list as the
//! client sends it, the access key pair of a token request.

use std::borrow::Borrow;

use authing_otp::{
    ExposeSecret, OtpImport, UserRef,
    generated::types::{ImportOtpItemDto, ImportOtpReqDto},
    wire::{GetManagementAccessTokenDto, ImportOtpItemDataDto},
};

use crate::operations::{
    GetManagementTokenWhen, GetOtpSecretByUserWhen, GetUserBatchWhen, ImportOtpWhen,
};

impl GetOtpSecretByUserWhen {
    /// Matches a request for this user: its `userId` and `userIdType` query parameters, as the
    /// client sends them (`userIdType` always, `user_id` included).
    ///
    /// ```
    /// use authing_otp::UserRef;
    /// use authing_otp_httpmock::{MockServerExt, httpmock::MockServer};
    ///
    /// let server = MockServer::start();
    /// let alice = UserRef::email("alice@example.com")?;
    /// let mock = server.get_otp_secret_by_user(|when, then| {
    ///     when.user(&alice);
    ///     then.secret("JBSWY3DPEHPK3PXP");
    /// });
    /// mock.assert_calls(0);
    /// # Ok::<(), authing_otp::InputError>(())
    /// ```
    pub fn user(self, user: &UserRef) -> Self {
        Self(
            self.0
                .query_param("userId", user.id())
                .query_param("userIdType", user.id_type().as_str()),
        )
    }
}

impl GetUserBatchWhen {
    /// Matches a lookup of these users, as `resolve_user_ids` sends it: their `userIdType`
    /// and each id as a `userIds` pair of its own (all of one type, as the client sends them).
    ///
    /// ```
    /// use authing_otp::UserRef;
    /// use authing_otp_httpmock::{MockServerExt, httpmock::MockServer};
    ///
    /// let server = MockServer::start();
    /// let users = [UserRef::email("a@example.com")?, UserRef::email("b@example.com")?];
    /// let mock = server.get_user_batch(|when, then| {
    ///     when.users(&users);
    ///     then.users([("u-1", &users[0])]);
    /// });
    /// mock.assert_calls(0);
    /// # Ok::<(), authing_otp::InputError>(())
    /// ```
    pub fn users<'a>(self, users: impl IntoIterator<Item = &'a UserRef>) -> Self {
        let mut when = self.0;
        let mut id_type = None;
        for user in users {
            when = when.query_param("userIds", user.id());
            id_type.get_or_insert(user.id_type());
        }
        if let Some(id_type) = id_type {
            when = when.query_param("userIdType", id_type.as_str());
        }
        Self(when)
    }
}

impl ImportOtpWhen {
    /// Matches an `importOtp` request whose body is exactly the one the client sends for these
    /// items, in this order (`{"list":[{"userId":…,"otp":{"secret":…,"recoveryCode":…}}]}`,
    /// secrets in their canonical form).
    ///
    /// ```
    /// use authing_otp::OtpImport;
    /// use authing_otp_httpmock::{MockServerExt, httpmock::MockServer};
    ///
    /// let server = MockServer::start();
    /// let items = [OtpImport::new("u1", "HZ2F6J3AGNAVSOTV")?];
    /// let mock = server.import_otp(|when, then| {
    ///     when.items(&items);
    ///     then.imported("ok");
    /// });
    /// mock.assert_calls(0);
    /// # Ok::<(), authing_otp::InputError>(())
    /// ```
    pub fn items<I>(self, items: I) -> Self
    where
        I: IntoIterator,
        I::Item: Borrow<OtpImport>,
    {
        let list = items
            .into_iter()
            .map(|item| {
                let item = item.borrow();
                ImportOtpItemDto {
                    user_id: item.user_id().to_owned(),
                    otp: ImportOtpItemDataDto {
                        secret: item.secret().expose_secret().to_owned(),
                        recovery_code: item
                            .recovery_code()
                            .map(|code| code.expose_secret().to_owned()),
                    },
                }
            })
            .collect();
        self.body(&ImportOtpReqDto { list })
    }
}

impl GetManagementTokenWhen {
    /// Matches a token request for this access key pair (the body the client sends in token
    /// mode, `{"accessKeyId":…,"accessKeySecret":…}`).
    ///
    /// ```
    /// use authing_otp_httpmock::{MockServerExt, httpmock::MockServer};
    ///
    /// let server = MockServer::start();
    /// let mock = server.get_management_token(|when, then| {
    ///     when.access_key("ak", "sk");
    ///     then.pool_token("up-1", 7200);
    /// });
    /// mock.assert_calls(0);
    /// ```
    pub fn access_key(self, id: &str, secret: &str) -> Self {
        self.body(&GetManagementAccessTokenDto {
            access_key_id: id.to_owned(),
            access_key_secret: secret.to_owned(),
        })
    }
}
