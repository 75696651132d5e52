//! What `authing-otp import` reads: a file of records (JSON Lines, CSV, Key URIs), or a
//! Keycloak realm export (one file, or a directory of them). Each pass over it yields the same
//! entries in the same order, numbered from 0: a record to import, or, for a Keycloak user
//! whose credential cannot be imported, a refusal settled without a request. Keycloak users
//! without an OTP credential are counted and skipped, never numbered.

use std::{
    borrow::Cow,
    cell::Cell,
    collections::{HashMap, HashSet},
    io::{self, Read, Write},
    path::Path,
};

use authing_otp::{OtpImport, UserIdType, UserRef};
use authing_otp_cli::{
    files::{FileError, FileId, Input},
    fingerprints::UserFingerprints,
    import::{ImportFileError, ImportFormat, ImportReader},
    journal::{IdentifyingReader, InputIdentity, RecordSet},
    keycloak::{
        KeycloakExport, KeycloakFileError, KeycloakIdentifier, KeycloakOptions, KeycloakOutcome,
        KeycloakUser,
    },
};

/// One numbered entry of the source.
pub(crate) struct Entry {
    /// Its first line in its file, from 1.
    pub line: u64,
    /// The user and the item to import (messages name the user by the reference as given),
    /// or why the entry cannot be imported.
    pub item: Result<(UserRef, OtpImport), Unusable>,
}

/// An entry refused without a request: a Keycloak user whose credential cannot be imported.
pub(crate) struct Unusable {
    /// How messages name the user: its username (or id), cut and escaped.
    pub name: String,
    /// Why.
    pub why: String,
}

/// The source of a run.
pub(crate) enum Source {
    /// A file of records in one of the line formats.
    Records {
        input: Input,
        format: ImportFormat,
        user_id_type: UserIdType,
    },
    /// A Keycloak realm export.
    Keycloak {
        /// The export's files, opened (one for a file export).
        inputs: Vec<Input>,
        /// The export, when it is a directory (read by path, file after file).
        export: Option<KeycloakExport>,
        options: KeycloakOptions,
        user_id_type: UserIdType,
    },
}

/// How many Keycloak users the check pass found, by outcome.
#[derive(Clone, Copy, Default)]
pub(crate) struct KeycloakTally {
    pub refused: u64,
    pub no_otp: u64,
}

/// What the check pass found.
pub(crate) struct Checked {
    pub entries: u64,
    /// Entries whose users are named otherwise than by Authing user id.
    pub to_look_up: u64,
    pub identity: InputIdentity,
    pub keycloak: Option<KeycloakTally>,
}

/// The user type of a Keycloak identifier, and back.
pub(crate) fn keycloak_identifier(user_id_type: UserIdType) -> Option<KeycloakIdentifier> {
    match user_id_type {
        UserIdType::Username => Some(KeycloakIdentifier::Username),
        UserIdType::Email => Some(KeycloakIdentifier::Email),
        UserIdType::ExternalId => Some(KeycloakIdentifier::Id),
        _ => None,
    }
}

/// How much of a Keycloak user's username (or id) names it in messages and the report.
const MAX_NAME_CHARS: usize = 128;

/// The key duplicates are found by: the reference as given, typed (an Authing user id alone).
pub(crate) fn duplicate_key(user: &UserRef) -> Cow<'_, str> {
    match user.id_type() {
        UserIdType::UserId => Cow::Borrowed(user.id()),
        other => Cow::Owned(format!("{}\0{}", other.as_str(), user.id())),
    }
}

type Entries<'a> = Box<dyn Iterator<Item = Entry> + 'a>;

impl Source {
    /// The identities of the files read, for the outputs' checks.
    pub fn ids(&self) -> Vec<Option<&FileId>> {
        match self {
            Source::Records { input, .. } => vec![input.id()],
            Source::Keycloak { inputs, .. } => inputs.iter().map(Input::id).collect(),
        }
    }

    /// The Keycloak users read from the start, one file after the other.
    fn keycloak_users<'a>(
        inputs: &'a [Input],
        export: &'a Option<KeycloakExport>,
        options: KeycloakOptions,
        reader: Option<&'a mut dyn Read>,
    ) -> Result<Box<dyn Iterator<Item = Result<KeycloakUser, KeycloakFileError>> + 'a>, String>
    {
        if let Some(export) = export {
            return Ok(Box::new(export.users(options)));
        }
        let input = inputs.first().ok_or("no input")?;
        let reader: Box<dyn Read + 'a> = match reader {
            Some(reader) => Box::new(reader),
            None => Box::new(input.reader().map_err(|e| e.to_string())?),
        };
        Ok(Box::new(authing_otp_cli::keycloak::KeycloakReader::new(
            reader,
            input.path(),
            options,
        )))
    }

    /// The entry a Keycloak user makes, if it makes one.
    fn keycloak_entry(user: KeycloakUser, user_id_type: UserIdType) -> Option<Entry> {
        let line = user.position.line;
        // What the export says, which may be anything: cut, and escaped for terminals.
        let name = match user.username.as_deref().or(user.id.as_deref()) {
            Some(name) => name
                .chars()
                .take(MAX_NAME_CHARS)
                .collect::<String>()
                .escape_debug()
                .to_string(),
            None => format!("users[{}]", user.position.index_in_file),
        };
        let unusable = |why: String| Unusable {
            name: name.clone(),
            why,
        };
        let item = match user.outcome {
            KeycloakOutcome::NoOtp => return None,
            KeycloakOutcome::Refused(why) => Err(unusable(format!("{}: {why}", user.position))),
            KeycloakOutcome::Record(record) => {
                let user = UserRef::new(user_id_type, record.item.user_id())
                    .map_err(|e| unusable(format!("{}: {e}", user.position)));
                user.map(|user| (user, record.item))
            }
            _ => Err(unusable(format!("{}: not read", user.position))),
        };
        Some(Entry { line, item })
    }

    /// Every entry, numbered from 0. The check pass found every one readable, so one that is
    /// not now means the source changed: the entries stop there and `broken` says so.
    pub fn entries<'a>(&'a self, broken: &'a Cell<bool>) -> Result<Entries<'a>, String> {
        match self {
            Source::Records {
                input,
                format,
                user_id_type,
            } => {
                let reader = ImportReader::new(input.reader().map_err(|e| e.to_string())?, *format)
                    .user_id_type(*user_id_type);
                Ok(Box::new(
                    reader
                        .map_while(move |record| record.map_err(|_| broken.set(true)).ok())
                        .map(|record| Entry {
                            line: record.line,
                            item: Ok((record.user, record.item)),
                        }),
                ))
            }
            Source::Keycloak {
                inputs,
                export,
                options,
                user_id_type,
                ..
            } => {
                let user_id_type = *user_id_type;
                let users = Source::keycloak_users(inputs, export, options.clone(), None)?;
                Ok(Box::new(
                    users
                        .map_while(move |user| user.map_err(|_| broken.set(true)).ok())
                        .filter_map(move |user| Source::keycloak_entry(user, user_id_type)),
                ))
            }
        }
    }

    /// Writes the refused entries (`refused` numbers them) for a failures file: the lines as
    /// they were (after the CSV header), or one JSON line per Keycloak user, its entry as
    /// exported.
    pub fn write_failures(
        &self,
        refused: &RecordSet,
        out: &mut dyn Write,
        broken: &Cell<bool>,
    ) -> Result<(), String> {
        let write = |out: &mut dyn Write, bytes: &[u8]| {
            out.write_all(bytes)
                .and_then(|()| out.write_all(b"\n"))
                .map_err(|e| format!("--failures: {e}"))
        };
        match self {
            Source::Records {
                input,
                format,
                user_id_type,
            } => {
                let mut reader =
                    ImportReader::new(input.reader().map_err(|e| e.to_string())?, *format)
                        .user_id_type(*user_id_type);
                let first = reader.next();
                if let Some(header) = reader.csv_header() {
                    write(out, header)?;
                }
                let records = first
                    .into_iter()
                    .chain(reader)
                    .map_while(|record| record.map_err(|_| broken.set(true)).ok())
                    .enumerate();
                for (n, record) in records {
                    if refused.contains(n as u64) {
                        write(out, record.raw())?;
                    }
                }
            }
            Source::Keycloak {
                inputs,
                export,
                options,
                ..
            } => {
                let users = Source::keycloak_users(inputs, export, options.clone(), None)?
                    .map_while(|user| user.map_err(|_| broken.set(true)).ok())
                    .filter(|user| !matches!(user.outcome, KeycloakOutcome::NoOtp))
                    .enumerate();
                for (n, user) in users {
                    // An entry too large or malformed to rewrite is in the report only.
                    let entry = if refused.contains(n as u64) {
                        user.entry_json()
                    } else {
                        continue;
                    };
                    if !entry.is_empty() {
                        write(out, &entry)?;
                    }
                }
            }
        }
        Ok(())
    }

    /// The identity of the source's bytes as they are now: the files' bytes one after the
    /// other.
    fn identity_now(&self) -> io::Result<InputIdentity> {
        match self {
            Source::Records { input, .. } => {
                let mut reader = IdentifyingReader::new(input.reader()?);
                io::copy(&mut reader, &mut io::sink())?;
                Ok(reader.identity())
            }
            Source::Keycloak { inputs, .. } => {
                let mut chained: Box<dyn Read> = Box::new(io::empty());
                for input in inputs {
                    chained = Box::new(chained.chain(input.reader()?));
                }
                let mut reader = IdentifyingReader::new(chained);
                io::copy(&mut reader, &mut io::sink())?;
                Ok(reader.identity())
            }
        }
    }

    /// How the source differs from what the check pass read, if it does.
    pub fn changed_since_checked(
        &self,
        identity: &InputIdentity,
        broken: &Cell<bool>,
    ) -> Option<String> {
        // The size first: later passes read only the bytes checked, so a hash alone would
        // not see lines appended.
        let size_now: io::Result<u64> = match self {
            Source::Records { input, .. } => input.len_now(),
            Source::Keycloak { inputs, .. } => inputs.iter().map(Input::len_now).sum(),
        };
        match size_now {
            Err(e) => return Some(format!("could not be read ({e})")),
            Ok(now) if now != identity.bytes => {
                return Some(format!(
                    "changed ({} bytes when checked, {now} now)",
                    identity.bytes
                ));
            }
            Ok(_) => {}
        }
        match self.identity_now() {
            Err(e) => Some(format!("could not be read ({e})")),
            Ok(now) if now != *identity || broken.get() => Some("changed".to_owned()),
            Ok(_) => None,
        }
    }

    /// From now on, only the bytes checked are read (files of records and one-file exports).
    pub fn limit_to_checked(&mut self, identity: &InputIdentity) {
        match self {
            Source::Records { input, .. } => input.limit_to(identity.bytes),
            Source::Keycloak { inputs, export, .. } if export.is_none() => {
                if let Some(input) = inputs.first_mut() {
                    input.limit_to(identity.bytes);
                }
            }
            Source::Keycloak { .. } => {}
        }
    }

    /// Pass 1: every entry checked, duplicates found (on the user as given, typed), the source
    /// identified. Prints what is wrong; `Err` says how many problems there were.
    pub fn check(&self, shown: &str, max_shown: usize) -> Result<Checked, CheckFailed> {
        let mut problems = Problems::new(shown, max_shown);
        // Grown as records come, not sized from the file: a file of blank lines costs nothing.
        let mut fingerprints = UserFingerprints::with_capacity(0);
        let mut entries = 0u64;
        let mut to_look_up = 0u64;
        let mut tally = KeycloakTally::default();
        let identity = match self {
            Source::Records {
                input,
                format,
                user_id_type,
            } => {
                let mut identified = IdentifyingReader::new(input.reader().map_err(|e| {
                    problems.fatal(&e);
                    CheckFailed
                })?);
                let mut reader =
                    ImportReader::new(&mut identified, *format).user_id_type(*user_id_type);
                for record in reader.by_ref() {
                    match record {
                        Ok(record) => {
                            fingerprints.push(&duplicate_key(&record.user));
                            entries += 1;
                            to_look_up += u64::from(record.user.id_type() != UserIdType::UserId);
                        }
                        Err(e) => problems.line(&e),
                    }
                }
                drop(reader);
                // Whatever the reader left unread (it stops after a read error) is hashed too.
                if let Err(e) = io::copy(&mut identified, &mut io::sink()) {
                    problems.fatal(&e);
                    return Err(CheckFailed);
                }
                identified.identity()
            }
            Source::Keycloak {
                inputs,
                export,
                options,
                user_id_type,
                ..
            } => {
                let mut identified = match export {
                    Some(_) => None,
                    None => Some(IdentifyingReader::new(
                        inputs.first().ok_or(CheckFailed)?.reader().map_err(|e| {
                            problems.fatal(&e);
                            CheckFailed
                        })?,
                    )),
                };
                let users = Source::keycloak_users(
                    inputs,
                    export,
                    options.clone(),
                    identified.as_mut().map(|r| r as &mut dyn Read),
                )
                .map_err(|e| {
                    problems.fatal(&e);
                    CheckFailed
                })?;
                for user in users {
                    let user = match user {
                        Ok(user) => user,
                        Err(e) => {
                            problems.fatal(&e);
                            return Err(CheckFailed);
                        }
                    };
                    match Source::keycloak_entry(user, *user_id_type) {
                        None => tally.no_otp += 1,
                        Some(Entry { item: Err(_), .. }) => {
                            tally.refused += 1;
                            entries += 1;
                        }
                        Some(Entry {
                            item: Ok((user, _)),
                            ..
                        }) => {
                            fingerprints.push(&duplicate_key(&user));
                            entries += 1;
                            to_look_up += u64::from(user.id_type() != UserIdType::UserId);
                        }
                    }
                }
                match identified {
                    Some(mut identified) => {
                        if let Err(e) = io::copy(&mut identified, &mut io::sink()) {
                            problems.fatal(&e);
                            return Err(CheckFailed);
                        }
                        identified.identity()
                    }
                    None => self.identity_now().map_err(|e| {
                        problems.fatal(&e);
                        CheckFailed
                    })?,
                }
            }
        };
        let repeated = fingerprints.repeated();
        if !repeated.is_empty() {
            self.name_duplicates(&fingerprints, &repeated, &mut problems);
        }
        drop(fingerprints);
        problems.finish()?;
        if entries == 0 {
            errln!("authing-otp import: {shown}: no records; nothing was sent");
            return Err(CheckFailed);
        }
        Ok(Checked {
            entries,
            to_look_up,
            identity,
            keycloak: matches!(self, Source::Keycloak { .. }).then_some(tally),
        })
    }

    /// A second pass names the lines of each repeated user, as strings only for those (and
    /// settles a hash collision: two different users, no duplicate).
    fn name_duplicates(
        &self,
        fingerprints: &UserFingerprints,
        repeated: &HashSet<u64>,
        problems: &mut Problems,
    ) {
        let mut lines_of: HashMap<String, (&'static str, Vec<u64>)> = HashMap::new();
        let broken = Cell::new(false);
        let entries = match self.entries(&broken) {
            Ok(entries) => entries,
            Err(e) => return problems.fatal(&e),
        };
        for entry in entries {
            let Ok((user, _)) = &entry.item else { continue };
            let key = duplicate_key(user);
            if repeated.contains(&fingerprints.hash(&key)) {
                lines_of
                    .entry(key.into_owned())
                    .or_insert_with(|| (user.id_type().as_str(), Vec::new()))
                    .1
                    .push(entry.line);
            }
        }
        let mut duplicates: Vec<(u64, u64, &'static str)> = lines_of
            .values()
            .filter(|(_, lines)| lines.len() > 1)
            .flat_map(|(kind, lines)| lines[1..].iter().map(move |&line| (line, lines[0], *kind)))
            .collect();
        duplicates.sort_unstable();
        for (line, first, kind) in duplicates {
            let field = if kind == "user_id" {
                "userId".to_owned()
            } else {
                format!("userId ({kind})")
            };
            problems.say(&format!(
                "line {line}: {field}: the same user as line {first}"
            ));
        }
    }
}

/// The check found problems (they were printed): nothing is sent.
pub(crate) struct CheckFailed;

/// Problems found by the check pass: the first few printed, the rest counted.
struct Problems<'a> {
    shown: &'a str,
    max_shown: usize,
    count: usize,
}

impl<'a> Problems<'a> {
    fn new(shown: &'a str, max_shown: usize) -> Self {
        Problems {
            shown,
            max_shown,
            count: 0,
        }
    }

    fn say(&mut self, what: &str) {
        self.count += 1;
        if self.count <= self.max_shown {
            errln!("authing-otp import: {}: {what}", self.shown);
        }
    }

    fn line(&mut self, e: &ImportFileError) {
        self.say(&e.to_string());
    }

    fn fatal(&mut self, e: &dyn std::fmt::Display) {
        errln!("authing-otp import: {}: {e}", self.shown);
        self.count = self.count.max(1);
        // A fatal problem is printed whatever the count.
        self.max_shown = self.max_shown.max(self.count);
    }

    fn finish(self) -> Result<(), CheckFailed> {
        if self.count == 0 {
            return Ok(());
        }
        if self.count > self.max_shown {
            errln!(
                "authing-otp import: … and {} more errors",
                self.count - self.max_shown
            );
        }
        errln!(
            "authing-otp import: {}: {} invalid lines; nothing was sent",
            self.shown,
            self.count
        );
        Err(CheckFailed)
    }
}

/// Opens the source at `path`.
pub(crate) fn open(
    path: &Path,
    format: Option<ImportFormat>,
    keycloak: Option<(KeycloakOptions, Option<&str>)>,
    user_id_type: UserIdType,
) -> Result<Source, String> {
    if let Some((options, realm)) = keycloak {
        let is_dir = path != Path::new("-") && std::fs::metadata(path).is_ok_and(|m| m.is_dir());
        if !is_dir {
            if realm.is_some() {
                return Err(format!(
                    "{}: --keycloak-realm names a realm in a directory of exports",
                    path.display()
                ));
            }
            let input = Input::open(path).map_err(|e| e.to_string())?;
            return Ok(Source::Keycloak {
                inputs: vec![input],
                export: None,
                options,
                user_id_type,
            });
        }
        let export = match realm {
            Some(realm) => KeycloakExport::open_realm(path, realm),
            None => KeycloakExport::open(path),
        }
        .map_err(|e| e.to_string())?;
        let inputs = export
            .files()
            .into_iter()
            .map(Input::open)
            .collect::<Result<Vec<_>, FileError>>()
            .map_err(|e| e.to_string())?;
        return Ok(Source::Keycloak {
            inputs,
            export: Some(export),
            options,
            user_id_type,
        });
    }
    let input = Input::open(path).map_err(|e| e.to_string())?;
    let format = match format {
        Some(format) => format,
        None => ImportFormat::detect_in(input.path(), input.reader().map_err(|e| e.to_string())?)
            .map_err(|e| e.to_string())?,
    };
    Ok(Source::Records {
        input,
        format,
        user_id_type,
    })
}
