//! Users named by email, username, phone, external id, …: which Authing user id each names,
//! from `getUserBatch`'s answer.
//!
//! The answer lists the users found, in no documented order, without saying which id found
//! which: each user is matched to the ids asked by its own fields (the emulator's crate docs,
//! "Matching a batch's users to the ids asked"). Where no field says (`sync_relation`, and
//! `custom_field`, whose format upstream does not document), one id is asked per request.

use std::collections::BTreeSet;

use crate::{InputError, UserIdType, UserRef, wire::BatchUserDto};

/// The most users one `getUserBatch` request may name (the spec's `maxItems` of `userIds`, and
/// the emulator's limit): [`ManagementClient::resolve_user_ids`](crate::ManagementClient::resolve_user_ids)
/// takes at most this many, and a bulk resolution's batches are at most this large.
///
/// ```
/// assert_eq!(authing_otp::MAX_USERS_PER_LOOKUP, 50);
/// ```
pub const MAX_USERS_PER_LOOKUP: usize = 50;

/// Which user a [`UserRef`] names, as the server answered.
///
/// ```
/// use authing_otp::Resolution;
///
/// let found = Resolution::Found("6229ffaxxxxxxxxcade3e3d9".into());
/// assert_eq!(found.user_id(), Some("6229ffaxxxxxxxxcade3e3d9"));
/// assert_eq!(Resolution::NotFound.user_id(), None);
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Resolution {
    /// Exactly one user: its Authing user id.
    Found(String),
    /// No user.
    NotFound,
    /// More than one user answered for this reference: none is chosen.
    Ambiguous,
}

impl Resolution {
    /// The user id, when exactly one user was found.
    pub fn user_id(&self) -> Option<&str> {
        match self {
            Resolution::Found(id) => Some(id),
            _ => None,
        }
    }
}

/// Whether references of this type are asked one per request: no field of the answer says
/// which id found a user.
pub(crate) fn one_per_request(t: UserIdType) -> bool {
    matches!(t, UserIdType::SyncRelation | UserIdType::CustomField)
}

/// The type all of `users` share, or why they cannot be looked up in one request.
pub(crate) fn check(users: &[UserRef]) -> Result<UserIdType, InputError> {
    let Some(first) = users.first() else {
        return Err(InputError::new("userIds", "must name at least one user"));
    };
    if users.len() > MAX_USERS_PER_LOOKUP {
        return Err(InputError::new(
            "userIds",
            format!(
                "names {} users; at most {MAX_USERS_PER_LOOKUP} per lookup",
                users.len()
            ),
        ));
    }
    let t = first.id_type();
    if let Some((at, other)) = users.iter().enumerate().find(|(_, u)| u.id_type() != t) {
        return Err(InputError::new(
            "userIdType",
            format!(
                "is {}, but item 0's is {t}: one lookup takes one userIdType",
                other.id_type()
            ),
        )
        .at_item(at));
    }
    Ok(t)
}

/// Whether `user` is one `wanted` names.
fn names(wanted: &UserRef, user: &BatchUserDto) -> bool {
    let id = wanted.id();
    let is = |field: &Option<String>| field.as_deref() == Some(id);
    match wanted.id_type() {
        UserIdType::UserId => user.user_id == id,
        UserIdType::Email => user
            .email
            .as_deref()
            .is_some_and(|email| email.eq_ignore_ascii_case(id)),
        UserIdType::Username => is(&user.username),
        UserIdType::ExternalId => is(&user.external_id),
        // Authing may split a number into `phoneCountryCode` and `phone`.
        UserIdType::Phone => {
            is(&user.phone)
                || match (&user.phone_country_code, &user.phone) {
                    (Some(code), Some(phone)) => id
                        .strip_prefix(code.as_str())
                        .is_some_and(|rest| rest.trim_start() == phone),
                    _ => false,
                }
        }
        UserIdType::Identity => {
            let (idp, in_idp) = id.split_once(':').unwrap_or((id, ""));
            user.identities
                .iter()
                .any(|i| i.ext_idp_id == idp && i.user_id_in_idp == in_idp)
        }
        // Asked one per request: every user answered is this one's.
        UserIdType::SyncRelation | UserIdType::CustomField => true,
    }
}

/// What the answer `users` says of each of `wanted`, in order.
pub(crate) fn match_answer(wanted: &[UserRef], users: &[BatchUserDto]) -> Vec<Resolution> {
    wanted
        .iter()
        .map(|w| {
            let ids: BTreeSet<&str> = users
                .iter()
                .filter(|u| names(w, u))
                .map(|u| u.user_id.as_str())
                .collect();
            let mut ids = ids.into_iter();
            match (ids.next(), ids.next()) {
                (None, _) => Resolution::NotFound,
                (Some(id), None) => Resolution::Found(id.to_owned()),
                (Some(_), Some(_)) => Resolution::Ambiguous,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(json: serde_json::Value) -> BatchUserDto {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn each_type_matches_by_its_own_field() {
        let users = [
            user(
                serde_json::json!({"userId": "u1", "email": "Alice@Example.com",
                "username": "alice", "externalId": "E-1", "phone": "13800000000",
                "phoneCountryCode": "+86",
                "identities": [{"extIdpId": "idp", "userIdInIdp": "ou:1"}]}),
            ),
            user(serde_json::json!({"userId": "u2", "email": "bob@example.com"})),
        ];
        let cases = [
            (UserRef::email("alice@EXAMPLE.com").unwrap(), Some("u1")),
            (UserRef::email("carol@example.com").unwrap(), None),
            (UserRef::username("alice").unwrap(), Some("u1")),
            (UserRef::username("Alice").unwrap(), None),
            (UserRef::external_id("E-1").unwrap(), Some("u1")),
            (UserRef::phone("13800000000").unwrap(), Some("u1")),
            (UserRef::phone("+8613800000000").unwrap(), Some("u1")),
            (UserRef::phone("+86 13800000000").unwrap(), Some("u1")),
            (UserRef::phone("+8713800000000").unwrap(), None),
            (UserRef::identity("idp", "ou:1").unwrap(), Some("u1")),
            (UserRef::identity("idp", "ou").unwrap(), None),
        ];
        for (wanted, expected) in cases {
            let got = match_answer(std::slice::from_ref(&wanted), &users);
            assert_eq!(got[0].user_id(), expected, "{wanted}: {got:?}");
        }
    }

    #[test]
    fn two_users_for_one_reference_are_ambiguous_and_one_user_twice_is_not() {
        let users = [
            user(serde_json::json!({"userId": "u1", "email": "a@x.com"})),
            user(serde_json::json!({"userId": "u2", "email": "A@x.com"})),
            user(serde_json::json!({"userId": "u3", "email": "b@x.com"})),
            user(serde_json::json!({"userId": "u3", "email": "b@x.com"})),
        ];
        let wanted = [
            UserRef::email("a@x.com").unwrap(),
            UserRef::email("b@x.com").unwrap(),
            UserRef::email("B@X.com").unwrap(),
        ];
        assert_eq!(
            match_answer(&wanted, &users),
            [
                Resolution::Ambiguous,
                Resolution::Found("u3".into()),
                Resolution::Found("u3".into())
            ]
        );
    }

    #[test]
    fn lookups_take_one_type_and_one_to_fifty_users() {
        assert_eq!(check(&[]).unwrap_err().field(), "userIds");
        let many: Vec<_> = (0..=MAX_USERS_PER_LOOKUP)
            .map(|n| UserRef::username(format!("u{n}")).unwrap())
            .collect();
        assert_eq!(
            check(&many[..MAX_USERS_PER_LOOKUP]),
            Ok(UserIdType::Username)
        );
        assert_eq!(check(&many).unwrap_err().field(), "userIds");
        let mixed = [
            UserRef::username("a").unwrap(),
            UserRef::email("a@x.com").unwrap(),
        ];
        let err = check(&mixed).unwrap_err();
        assert_eq!((err.field(), err.item()), ("userIdType", Some(1)));
        assert!(!err.to_string().contains("a@x.com"), "{err}");
    }
}
