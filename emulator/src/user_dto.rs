//! The `UserDto` getUserBatch answers for a user, shaped as the fragment's schema requires: its
//! required fields filled with what the emulator knows or a fixed, plausible value, its ids when
//! the user has them, and what `withIdentities`, `withCustomData` and `withDepartmentIds` ask
//! for. Built from a [`Profile`] copied out of the directory, so no lock is held meanwhile.

use serde_json::{Map, Value, json};

use crate::users::Profile;

/// What the request asked to include besides the user's own fields.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Include {
    /// `withIdentities`: `identities`, one `IdentityDto` per identity.
    pub(crate) identities: bool,
    /// `withCustomData`: `customData`, the custom fields as strings.
    pub(crate) custom_data: bool,
    /// `withDepartmentIds`: `departmentIds`, always empty (the emulator has no departments).
    pub(crate) department_ids: bool,
}

/// The `UserDto` of `profile`, with the keys in the schema's order.
pub(crate) fn user_dto(profile: &Profile, include: Include) -> Value {
    let at = timestamp(profile.added_ms);
    let mut dto = Map::new();
    dto.insert("userId".into(), json!(profile.id));
    // The emulator's users never change after being added (an OTP binding is not part of the
    // profile), so they were last updated when they were created.
    dto.insert("createdAt".into(), json!(at));
    dto.insert("updatedAt".into(), json!(at));
    dto.insert("status".into(), json!("Activated"));
    dto.insert("workStatus".into(), json!("Active"));
    // Absent rather than null: the schema does not make them nullable.
    let ids = [
        ("externalId", &profile.external_id),
        ("email", &profile.email),
        ("phone", &profile.phone),
        ("username", &profile.username),
    ];
    for (key, value) in ids {
        if let Some(value) = value {
            dto.insert(key.into(), json!(value));
        }
    }
    dto.insert("gender".into(), json!("U"));
    dto.insert("emailVerified".into(), json!(false));
    dto.insert("phoneVerified".into(), json!(false));
    // Seeded by whoever runs the emulator: an administrator, in Authing's terms.
    dto.insert("userSourceType".into(), json!("adminCreated"));
    if include.department_ids {
        dto.insert("departmentIds".into(), json!([]));
    }
    if include.identities {
        let identities: Vec<Value> = profile
            .identities
            .iter()
            .enumerate()
            .map(|(n, identity)| {
                json!({
                    "identityId": format!("{}-identity-{}", profile.id, n + 1),
                    "extIdpId": identity.ext_idp_id,
                    // The emulator does not model kinds of identity source.
                    "provider": "oidc",
                    "type": "primary",
                    "userIdInIdp": identity.user_id_in_idp,
                    "userInfoInIdp": {},
                    "originConnIds": [identity.ext_idp_id],
                })
            })
            .collect();
        dto.insert("identities".into(), Value::Array(identities));
    }
    if include.custom_data {
        let fields: Map<String, Value> = profile
            .custom_fields
            .iter()
            .map(|(k, v)| (k.clone(), json!(v)))
            .collect();
        dto.insert("customData".into(), Value::Object(fields));
    }
    Value::Object(dto)
}

/// `2022-07-03T02:20:30.000Z`, the way Authing writes its times, for `ms` milliseconds since the
/// Unix epoch (UTC, proleptic Gregorian calendar).
pub(crate) fn timestamp(ms: u64) -> String {
    let (days, ms_of_day) = (ms / 86_400_000, ms % 86_400_000);
    let (year, month, day) = civil_from_days(days);
    let secs = ms_of_day / 1000;
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60,
        ms_of_day % 1000
    )
}

/// Year, month (1-12) and day (1-31) of the day `days` after 1970-01-01: Howard Hinnant's
/// `civil_from_days`, for days on or after the epoch.
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_written_as_authing_writes_them() {
        assert_eq!(timestamp(0), "1970-01-01T00:00:00.000Z");
        // Upstream's example.
        assert_eq!(timestamp(1_656_814_830_000), "2022-07-03T02:20:30.000Z");
        assert_eq!(timestamp(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(timestamp(4_102_444_799_999), "2099-12-31T23:59:59.999Z");
        assert_eq!(timestamp(1_709_208_000_123), "2024-02-29T12:00:00.123Z");
    }
}
