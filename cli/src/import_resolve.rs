//! Users named by email, username, external id…: the Authing user ids they were looked up as,
//! and the entries that turn out to name one user twice.

use std::{cell::Cell, collections::HashMap};

use authing_otp::{ExposeSecret, OtpImport, UserIdType, UserRef};
use authing_otp_cli::{
    fingerprints::UserFingerprints,
    journal::{RecordSet, RefusedRecord},
};

use crate::import_source::Source;

/// The Authing user ids of entries that name their users otherwise, by entry number: one
/// string buffer and 16 bytes an entry (a million users looked up cost about 40 MB).
#[derive(Default)]
pub(crate) struct Resolved {
    /// (entry, start in `text`, length), sorted by entry once [`finish`](Self::finish)ed.
    at: Vec<(u64, u32, u32)>,
    text: String,
}

impl Resolved {
    /// Entry `n`'s user is Authing user `id`.
    pub fn insert(&mut self, n: u64, id: &str) {
        let (Ok(start), Ok(len)) = (u32::try_from(self.text.len()), u32::try_from(id.len())) else {
            // Past 4 GiB of ids: the entry stays unresolved, left for another run.
            return;
        };
        if start.checked_add(len).is_none() {
            return;
        }
        self.text.push_str(id);
        self.at.push((n, start, len));
    }

    /// Sorts what was inserted, for [`get`](Self::get).
    pub fn finish(&mut self) {
        self.at.sort_unstable_by_key(|&(n, _, _)| n);
    }

    /// Entry `n`'s Authing user id, if it was looked up and found.
    pub fn get(&self, n: u64) -> Option<&str> {
        let i = self.at.binary_search_by_key(&n, |&(n, _, _)| n).ok()?;
        let (_, start, len) = self.at[i];
        self.text.get(start as usize..start as usize + len as usize)
    }

    /// The Authing user id entry `n` names its user by, if known.
    pub fn user_id<'a>(&'a self, n: u64, user: &'a UserRef) -> Option<&'a str> {
        match user.id_type() {
            UserIdType::UserId => Some(user.id()),
            _ => self.get(n),
        }
    }

    /// Entry `n`'s item, for its user's Authing user id, if known.
    pub fn item_for(&self, n: u64, user: &UserRef, item: OtpImport) -> Option<OtpImport> {
        if user.id_type() == UserIdType::UserId {
            return Some(item);
        }
        let id = self.get(n)?;
        OtpImport::from_parts(
            id.to_owned(),
            item.secret().expose_secret().to_owned(),
            item.recovery_code().map(|c| c.expose_secret().to_owned()),
        )
        .ok()
    }
}

/// The entries `todo` admits whose users are one Authing user: every one of them refused
/// (which of two emails was meant for the user is not for the command to guess). Two passes,
/// as the check's: fingerprints of every user id, then the strings of the repeated ones only.
pub(crate) fn same_users(
    source: &Source,
    resolved: &Resolved,
    todo: &dyn Fn(u64) -> bool,
    broken: &Cell<bool>,
) -> Result<Vec<RefusedRecord>, String> {
    let mut fingerprints = UserFingerprints::with_capacity(0);
    for (n, entry) in source.entries(broken)?.enumerate() {
        let n = n as u64;
        if let (true, Ok((user, _))) = (todo(n), &entry.item)
            && let Some(id) = resolved.user_id(n, user)
        {
            fingerprints.push(id);
        }
    }
    let repeated = fingerprints.repeated();
    if repeated.is_empty() {
        return Ok(Vec::new());
    }
    // Each user id repeated: the entries naming it (number, line, name as given).
    let mut named: HashMap<String, Vec<(u64, u64, String)>> = HashMap::new();
    for (n, entry) in source.entries(broken)?.enumerate() {
        let n = n as u64;
        if let (true, Ok((user, _))) = (todo(n), &entry.item)
            && let Some(id) = resolved.user_id(n, user)
            && repeated.contains(&fingerprints.hash(id))
        {
            named
                .entry(id.to_owned())
                .or_default()
                .push((n, entry.line, user.id().to_owned()));
        }
    }
    let mut refused = Vec::new();
    for (id, entries) in named.into_iter().filter(|(_, e)| e.len() > 1) {
        for (n, line, name) in &entries {
            let others: Vec<String> = entries
                .iter()
                .filter(|(m, _, _)| m != n)
                .take(3)
                .map(|(_, line, _)| line.to_string())
                .collect();
            let more = if entries.len() > 4 { ", …" } else { "" };
            refused.push(RefusedRecord {
                record: *n,
                line: *line,
                user_id: name.clone(),
                http_status: None,
                status_code: None,
                api_code: None,
                message: format!(
                    "the same user ({id}) as line {}{more}: every record of a user is refused",
                    others.join(", ")
                ),
            });
        }
    }
    refused.sort_unstable_by_key(|r| r.record);
    Ok(refused)
}

/// The entries a resolution refusal or duplicate settles, as a set.
pub(crate) fn numbers(refused: &[RefusedRecord]) -> RecordSet {
    RecordSet::of(refused.iter().map(|r| r.record).collect::<Vec<_>>())
}
