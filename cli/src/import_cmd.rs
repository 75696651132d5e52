//! `authing-otp import`: a bulk migration of OTP enrolments, resumable, with an outcome for
//! every record.
//!
//! Passes over the file, none holding it in memory: check every line (and identify the file
//! for the journal), import what the journal does not list as done, read back what
//! `--verify` has not yet read back, then write the failures file and the report from the
//! journal. Throttling and outages slow the import and the read-back down; only a lack of
//! progress for `--stall-timeout`, or a refusal that is not about the records, stops them.

use std::{
    cell::Cell,
    io::{self, Write},
    path::PathBuf,
    process::ExitCode,
    time::{Duration, Instant},
};

use authing_otp::{
    ManagementClient, UserIdType, UserRef,
    bulk::{
        BatchDone, BulkEvent, BulkOptions, Outcome, ReadDone, ReadOutcome, ResolveDone,
        ResolveOutcome, StopReason,
    },
};
use authing_otp_cli::{
    files::{self, FileError, PendingOutput},
    import::ImportFormat,
    journal::{
        self, InputIdentity, Journal, JournalError, LockedJournal, Problem, Progress, RecordSet,
        RefusedRecord,
    },
    keycloak::KeycloakOptions,
};
use secrecy::SecretString;

use crate::{
    bulk_cmd::{
        Display, IMPORT_WORDS, LOOKUP_WORDS, VERIFY_WORDS, parse_user_id_type, stall_timeout,
    },
    client_cmd::{ClientArgs, fail},
    import_resolve::{self, Resolved},
    import_source::{self, CheckFailed, Source, keycloak_identifier},
};

/// Options of `authing-otp import`.
#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// JSON Lines ({"userId","secret","recoveryCode"?} or {"userId","otp":{…}} per line), CSV
    /// with the header userId,secret,recoveryCode, or Key URIs (`<userId> otpauth://totp/…` per
    /// line). The extension picks the format (.jsonl, .csv, .txt/.uri/.otpauth), else the content.
    /// `-` (or a pipe, a FIFO) is read once into an owner-only temporary file, removed at the end.
    #[arg(value_name = "FILE")]
    file: PathBuf,

    /// The input's format, when its extension should not decide: jsonl, csv, uri (Key URIs),
    /// or keycloak (a realm export: the file of `kc.sh export --file`, or the directory of
    /// `kc.sh export --dir`, read as a stream).
    #[arg(long, value_name = "FORMAT", value_enum)]
    format: Option<InputFormat>,

    /// How the file names users: user_id (Authing's user id, the default), email, phone,
    /// username, external_id, identity or sync_relation; a record's userIdType field or column
    /// says otherwise for itself. Users not named by user id are looked up first, 50 a
    /// request (get-user-batch). With --format keycloak: username (the default), email, or
    /// external_id (Keycloak's user id, as the users' external id).
    #[arg(long, value_name = "TYPE", value_parser = parse_user_id_type)]
    user_id_type: Option<UserIdType>,

    /// Which of a Keycloak user's several OTP credentials to import: newest (by createdDate).
    /// Without it, such a user is refused.
    #[arg(long, value_name = "WHICH", value_enum)]
    keycloak_pick: Option<KeycloakPick>,

    /// The realm to read, in a directory holding several realms' exports.
    #[arg(long, value_name = "REALM")]
    keycloak_realm: Option<String>,

    /// Records per request, at most 1,000; halved after a 413.
    #[arg(long, value_name = "N", default_value_t = 100,
          value_parser = clap::value_parser!(u16).range(1..=1000))]
    batch_size: u16,

    /// Requests in flight at once.
    #[arg(long, value_name = "N", default_value_t = 4,
          value_parser = clap::value_parser!(u16).range(1..=256))]
    concurrency: u16,

    /// Stop when no record has finished for this long, in seconds: throttling and outages are
    /// waited out until then. The same command continues a stopped run (with --journal).
    #[arg(long, value_name = "SECONDS", default_value_t = 600.0)]
    stall_timeout: f64,

    /// Where to keep what is done, so that the same command resumes after a crash (owner-only;
    /// one run at a time: a run holds its lock).
    #[arg(long, value_name = "PATH")]
    journal: Option<PathBuf>,

    /// Write the refused records' lines there, byte for byte (owner-only: it holds secrets).
    #[arg(long, value_name = "PATH")]
    failures: Option<PathBuf>,

    /// Write why each record was refused (and, with --verify, which secrets read back differ)
    /// there, as JSON Lines (no secrets).
    #[arg(long, value_name = "PATH")]
    report: Option<PathBuf>,

    /// After importing, read every imported user's secret back and compare (a phase of its
    /// own: progress, throttling and outage rules, and the journal, as for the import).
    #[arg(long)]
    verify: bool,

    /// Print the summary as JSON.
    #[arg(long)]
    json: bool,

    /// No progress output.
    #[arg(short, long)]
    quiet: bool,

    /// Check the file and stop: nothing is sent.
    #[arg(long)]
    dry_run: bool,

    // Last, so that the command's own options come first in --help.
    #[command(flatten)]
    client: ClientArgs,
}

/// `--format`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum InputFormat {
    /// JSON Lines.
    Jsonl,
    /// CSV with a header.
    Csv,
    /// `<userId> otpauth://totp/…` per line.
    Uri,
    /// A Keycloak realm export (a file or a directory).
    Keycloak,
}

/// `--keycloak-pick`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum KeycloakPick {
    /// The credential created last.
    Newest,
}

/// How many line errors are printed before the rest are only counted.
const MAX_SHOWN_ERRORS: usize = 20;

/// The line of the report for a record whose read-back failed.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct VerifyReportLine<'a> {
    phase: &'static str,
    #[serde(flatten)]
    record: &'a RefusedRecord,
}

/// The outputs of a run, created (beside their paths) before the first request.
struct Outputs {
    failures: Option<PendingOutput>,
    report: Option<PendingOutput>,
}

/// The first problems, for the summary, and how many there are in all.
#[derive(Default)]
struct Problems {
    first: Vec<RefusedRecord>,
}

/// Last pass: the failures file (refused lines, byte for byte, after the header for CSV, so
/// that it can be imported again) and the report (every refusal and read-back failure, each
/// once, in the order the batches finished), from the journal, one line at a time. Each is
/// written into its new file and renamed over its path. Returns the first problems, for the
/// summary.
fn write_outputs(
    source: &Source,
    journal: &std::path::Path,
    progress: &Progress,
    outputs: Outputs,
) -> Result<Problems, String> {
    let Outputs { failures, report } = outputs;
    if let Some(mut out) = failures {
        let broken = Cell::new(false);
        if progress.refused.count() > 0 {
            source.write_failures(&progress.refused, out.writer(), &broken)?;
        }
        if broken.get() {
            return Err("the input changed during the run".into());
        }
        out.commit().map_err(|e| format!("--failures: {e}"))?;
    }
    let mut problems = Problems::default();
    let mut report = report;
    let (mut refused, mut mismatched) = (RecordSet::default(), RecordSet::default());
    for problem in journal::problems(journal).map_err(|e| e.to_string())? {
        let problem = problem.map_err(|e| e.to_string())?;
        let (record, seen, phase) = match &problem {
            Problem::Refused(r) => (r, &mut refused, None),
            Problem::Mismatched(r) => (r, &mut mismatched, Some("verify")),
            _ => continue,
        };
        // A batch sent again after a crash is in the journal twice.
        if seen.contains(record.record) {
            continue;
        }
        seen.insert(record.record, record.record);
        if problems.first.len() < MAX_SHOWN_ERRORS {
            problems.first.push(record.clone());
        }
        if let Some(out) = report.as_mut() {
            let written = match phase {
                Some(phase) => {
                    serde_json::to_writer(&mut *out, &VerifyReportLine { phase, record })
                }
                None => serde_json::to_writer(&mut *out, record),
            };
            written
                .map_err(io::Error::from)
                .and_then(|()| out.write_all(b"\n"))
                .map_err(|e| format!("--report: {e}"))?;
        }
    }
    if let Some(out) = report {
        out.commit().map_err(|e| format!("--report: {e}"))?;
    }
    Ok(problems)
}

/// What one phase did in this run.
#[derive(Default)]
struct PhaseReport {
    /// Records this run took on (resumed ones not included).
    records: u64,
    good: u64,
    bad: u64,
    not_attempted: u64,
    requests: u64,
    throttled: u64,
    unavailable: u64,
    elapsed: Duration,
    stopped: Option<StopReason>,
}

impl PhaseReport {
    fn json(&self, good: &str, bad: &str, resumed: u64) -> serde_json::Value {
        let elapsed = self.elapsed.as_secs_f64();
        serde_json::json!({
            "records": self.records,
            good: self.good,
            bad: self.bad,
            "notAttempted": self.not_attempted,
            "resumedFrom": resumed,
            "requests": self.requests,
            "throttled": self.throttled,
            "unavailable": self.unavailable,
            "elapsedSeconds": elapsed,
            "recordsPerSecond": (self.good + self.bad) as f64 / elapsed.max(1e-3),
            "stopped": self.stopped.as_ref().map(StopReason::display_chain),
        })
    }
}

/// The journal (the one named by `--journal`, or a temporary one), and what became of writing
/// to it.
struct JournalState {
    journal: Journal,
    error: Option<JournalError>,
}

impl JournalState {
    fn write(&mut self, write: impl FnOnce(&mut Journal) -> Result<(), JournalError>) {
        if self.error.is_none()
            && let Err(e) = write(&mut self.journal)
        {
            errln!("authing-otp import: {e}; the run goes on, but cannot be resumed");
            self.error = Some(e);
        }
    }

    fn sync(&mut self) {
        if let Err(e) = self.journal.sync() {
            errln!("authing-otp import: {e}");
            self.error.get_or_insert(e);
        }
    }
}

/// What both phases of a run read from.
struct Phases<'a> {
    args: &'a ImportArgs,
    source: &'a Source,
    /// The Authing user ids of the entries that name their users otherwise.
    resolved: &'a Resolved,
    client: &'a ManagementClient,
    options: BulkOptions,
    /// Set when a record read differently from the check pass (the input changed).
    broken: &'a Cell<bool>,
}

/// The import phase: every record the journal does not list as done.
async fn import_phase(
    phases: &Phases<'_>,
    journal: &mut JournalState,
    progress: &mut Progress,
    total: u64,
) -> Result<(PhaseReport, usize), String> {
    let Phases {
        args,
        source,
        resolved,
        client,
        ref options,
        broken,
    } = *phases;
    let options = options.clone();
    let already = progress.done.clone();
    // Entries refused before any request are settled by then; users that could not be looked
    // up (the lookup stopped) are left for the next run.
    let todo = source
        .entries(broken)?
        .enumerate()
        .map(|(n, entry)| (n as u64, entry))
        .filter(move |(n, _)| !already.contains(*n))
        .filter_map(|(n, entry)| {
            let (user, item) = entry.item.ok()?;
            let item = resolved.item_for(n, &user, item)?;
            Some(((n, entry.line), item))
        });
    let mut display = Display::new(args.quiet, total - progress.done.count(), &IMPORT_WORDS);
    let summary = client
        .bulk_import(options, todo, |event| {
            let done: BatchDone<(u64, u64)> = match event {
                BulkEvent::Done(done) => done,
                other => return display.event(&other),
            };
            let mut settled = Vec::new();
            let mut refused = Vec::new();
            let mut imported = 0;
            for ((n, line), user_id, outcome) in done.outcomes {
                match outcome {
                    Outcome::Imported => {
                        imported += 1;
                        settled.push(n);
                    }
                    Outcome::Refused(why) => {
                        settled.push(n);
                        refused.push(RefusedRecord {
                            record: n,
                            line,
                            user_id,
                            http_status: why.http_status,
                            status_code: why.status_code,
                            api_code: why.api_code,
                            message: why.message,
                        });
                    }
                    // Not sent (the command checked the file for duplicates, and the run
                    // stopped): left for the next run.
                    _ => {}
                }
            }
            let settled_count = settled.len() as u64;
            let done_set = RecordSet::of(settled);
            progress.apply(&done_set, &refused);
            // A batch that settled nothing (the run stopped) leaves no line.
            if settled_count > 0 {
                journal.write(|j| j.record(&done_set, &refused));
            }
            display.batch(imported, refused.len() as u64, settled_count);
        })
        .await;
    display.finish();
    let report = PhaseReport {
        records: summary.records,
        good: summary.imported,
        bad: summary.refused,
        not_attempted: summary.not_attempted,
        requests: summary.requests,
        throttled: summary.throttled,
        unavailable: summary.unavailable,
        elapsed: summary.elapsed,
        stopped: summary.stopped,
    };
    Ok((report, summary.final_batch_size))
}

/// The users an entry names otherwise than by Authing user id, looked up (get-user-batch)
/// before the import, with the entries refused without a request settled first.
struct LookUp<'a> {
    args: &'a ImportArgs,
    source: &'a Source,
    client: &'a ManagementClient,
    options: &'a BulkOptions,
    broken: &'a Cell<bool>,
}

/// Settles `refused` in the progress and the journal, and empties it.
fn settle_refused(
    journal: &mut JournalState,
    progress: &mut Progress,
    refused: &mut Vec<RefusedRecord>,
) {
    if refused.is_empty() {
        return;
    }
    let set = import_resolve::numbers(refused);
    progress.apply(&set, refused);
    journal.write(|j| j.record(&set, refused));
    refused.clear();
}

/// What the run still needs the server for, for entry `n`: its import, or its read-back.
fn needs_server(progress: &Progress, verify: bool, n: u64) -> bool {
    !progress.done.contains(n) || (verify && progress.imported(n) && !progress.verified.contains(n))
}

/// How a refusal names a user id type: "no user with that email".
fn type_words(user_id_type: UserIdType) -> &'static str {
    match user_id_type {
        UserIdType::ExternalId => "external id",
        UserIdType::SyncRelation => "sync relation",
        UserIdType::CustomField => "custom field",
        other => other.as_str(),
    }
}

impl LookUp<'_> {
    /// Runs the phase; `None` when no user needed looking up.
    async fn run(
        &self,
        journal: &mut JournalState,
        progress: &mut Progress,
        resolved: &mut Resolved,
    ) -> Result<Option<PhaseReport>, String> {
        let verify = self.args.verify;
        let mut local = Vec::new();
        let mut to_look_up = 0u64;
        for (n, entry) in self.source.entries(self.broken)?.enumerate() {
            let n = n as u64;
            match entry.item {
                Err(unusable) if !progress.done.contains(n) => local.push(RefusedRecord {
                    record: n,
                    line: entry.line,
                    user_id: unusable.name,
                    http_status: None,
                    status_code: None,
                    api_code: None,
                    message: unusable.why,
                }),
                Ok((user, _))
                    if user.id_type() != UserIdType::UserId
                        && needs_server(progress, verify, n) =>
                {
                    to_look_up += 1
                }
                _ => {}
            }
            if local.len() >= 1000 {
                settle_refused(journal, progress, &mut local);
            }
        }
        settle_refused(journal, progress, &mut local);
        if to_look_up == 0 {
            return Ok(None);
        }
        let snapshot = progress.clone();
        let todo = self
            .source
            .entries(self.broken)?
            .enumerate()
            .filter_map(move |(n, entry)| {
                let n = n as u64;
                let (user, _) = entry.item.ok()?;
                (user.id_type() != UserIdType::UserId && needs_server(&snapshot, verify, n))
                    .then_some(((n, entry.line), user))
            });
        let mut display = Display::new(self.args.quiet, to_look_up, &LOOKUP_WORDS);
        let (mut found_total, mut refused_total) = (0, 0);
        let summary = self
            .client
            .bulk_resolve_users(self.options.clone(), todo, |event| {
                let done: ResolveDone<(u64, u64)> = match event {
                    BulkEvent::Done(done) => done,
                    other => return display.event(&other),
                };
                let mut refused = Vec::new();
                let mut unreadable = Vec::new();
                let mut found = 0;
                for ((n, line), user, outcome) in done.outcomes {
                    let refusal = |message: String| RefusedRecord {
                        record: n,
                        line,
                        user_id: user.id().to_owned(),
                        http_status: None,
                        status_code: None,
                        api_code: None,
                        message,
                    };
                    let words = type_words(user.id_type());
                    let why = match outcome {
                        // An id the client would refuse to send is the server's mistake: the
                        // record is refused, not skipped on every run.
                        ResolveOutcome::Found(id) if UserRef::user_id(id.as_str()).is_err() => {
                            refusal("the look-up answered a user id that cannot be used".into())
                        }
                        ResolveOutcome::Found(id) => {
                            resolved.insert(n, &id);
                            found += 1;
                            continue;
                        }
                        ResolveOutcome::NotFound => refusal(format!("no user with that {words}")),
                        ResolveOutcome::Ambiguous => {
                            refusal(format!("more than one user with that {words}"))
                        }
                        ResolveOutcome::Refused(why) => RefusedRecord {
                            http_status: why.http_status,
                            status_code: why.status_code,
                            api_code: why.api_code,
                            ..refusal(format!("could not be looked up: {}", why.message))
                        },
                        _ => continue,
                    };
                    // An entry imported before (only read back now) stays imported: it is
                    // settled as not read back, with why.
                    if progress.done.contains(n) {
                        unreadable.push(RefusedRecord {
                            message: format!("could not be read back: {}", why.message),
                            ..why
                        });
                    } else {
                        refused.push(why);
                    }
                }
                let settled = found + (refused.len() + unreadable.len()) as u64;
                found_total += found;
                refused_total += (refused.len() + unreadable.len()) as u64;
                display.batch(found, (refused.len() + unreadable.len()) as u64, settled);
                settle_refused(journal, progress, &mut refused);
                if !unreadable.is_empty() {
                    let set = import_resolve::numbers(&unreadable);
                    progress.apply_verified(&set, &unreadable);
                    journal.write(|j| j.record_verified(&set, &unreadable));
                    unreadable.clear();
                }
            })
            .await;
        display.finish();
        resolved.finish();
        // Two references to one user: all of them refused.
        let done = progress.done.clone();
        let mut same =
            import_resolve::same_users(self.source, resolved, &|n| !done.contains(n), self.broken)?;
        refused_total += same.len() as u64;
        for chunk in same.chunks(1000) {
            settle_refused(journal, progress, &mut chunk.to_vec());
        }
        same.clear();
        Ok(Some(PhaseReport {
            records: summary.records,
            good: found_total,
            bad: refused_total,
            not_attempted: summary.not_attempted,
            requests: summary.requests,
            throttled: summary.throttled,
            unavailable: summary.unavailable,
            elapsed: summary.elapsed,
            stopped: summary.stopped,
        }))
    }
}

/// The key of a record being read back: its number, its line, and the secret it imported.
type VerifyKey = (u64, u64, SecretString);

/// The read-back phase: every imported record the journal does not list as read back,
/// compared by canonical secret.
async fn verify_phase(
    phases: &Phases<'_>,
    journal: &mut JournalState,
    progress: &mut Progress,
) -> Result<PhaseReport, String> {
    let Phases {
        args,
        source,
        resolved,
        client,
        ref options,
        broken,
    } = *phases;
    let options = options.clone();
    let imported = progress.done.count() - progress.refused.count();
    let remaining = imported.saturating_sub(progress.verified.count());
    let snapshot = progress.clone();
    let todo = source
        .entries(broken)?
        .enumerate()
        .map(|(n, entry)| (n as u64, entry))
        .filter(move |(n, _)| snapshot.imported(*n) && !snapshot.verified.contains(*n))
        .filter_map(|(n, entry)| {
            let (user, item) = entry.item.ok()?;
            let item = resolved.item_for(n, &user, item)?;
            let user = UserRef::user_id(item.user_id()).ok()?;
            let key: VerifyKey = (n, entry.line, item.secret().clone());
            Some((key, user))
        });
    let mut display = Display::new(args.quiet, remaining, &VERIFY_WORDS);
    let (mut matched_total, mut mismatched_total) = (0, 0);
    let summary = client
        .bulk_get_otp_secrets(options, todo, |event| {
            let done: ReadDone<VerifyKey> = match event {
                BulkEvent::Done(done) => done,
                other => return display.event(&other),
            };
            let mut settled = Vec::new();
            let mut mismatched = Vec::new();
            let mut matched = 0;
            for ((n, line, expected), user, outcome) in done.outcomes {
                let failure = |message: String| RefusedRecord {
                    record: n,
                    line,
                    user_id: user.id().to_owned(),
                    http_status: None,
                    status_code: None,
                    api_code: None,
                    message,
                };
                match outcome {
                    ReadOutcome::Secret(secret) => {
                        settled.push(n);
                        if secret.is_same_key(secrecy::ExposeSecret::expose_secret(&expected)) {
                            matched += 1;
                        } else {
                            mismatched.push(failure(
                                "the secret read back differs from the one imported".into(),
                            ));
                        }
                    }
                    ReadOutcome::Refused(why) => {
                        settled.push(n);
                        mismatched.push(RefusedRecord {
                            http_status: why.http_status,
                            status_code: why.status_code,
                            api_code: why.api_code,
                            ..failure(format!("could not be read back: {}", why.message))
                        });
                    }
                    _ => {}
                }
            }
            let settled_count = settled.len() as u64;
            let verified = RecordSet::of(settled);
            progress.apply_verified(&verified, &mismatched);
            if settled_count > 0 {
                journal.write(|j| j.record_verified(&verified, &mismatched));
            }
            matched_total += matched;
            mismatched_total += mismatched.len() as u64;
            display.batch(matched, mismatched.len() as u64, settled_count);
        })
        .await;
    display.finish();
    Ok(PhaseReport {
        records: summary.records,
        good: matched_total,
        bad: mismatched_total,
        not_attempted: summary.not_attempted,
        requests: summary.requests,
        throttled: summary.throttled,
        unavailable: summary.unavailable,
        elapsed: summary.elapsed,
        stopped: summary.stopped,
    })
}

/// Peak resident memory and CPU time of this process, where the platform tells.
fn resources() -> (Option<u64>, Option<f64>) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let peak = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kib| kib * 1024);
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which may hold spaces, inside parentheses).
    let cpu = stat.rsplit_once(')').and_then(|(_, rest)| {
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let ticks = |i: usize| fields.get(i)?.parse::<f64>().ok();
        // utime and stime are fields 14 and 15 of the whole line: 11 and 12 after `) state`.
        Some((ticks(11)? + ticks(12)?) / 100.0)
    });
    (peak, cpu)
}

/// The identity a journal is bound to: the input's, with the options that are not the
/// defaults folded into its hash (a journal of the defaults keeps the input's own).
fn bound_to_options(identity: &InputIdentity, options: Option<String>) -> InputIdentity {
    use sha1::{Digest, Sha1};
    let Some(options) = options else {
        return identity.clone();
    };
    let digest = Sha1::new()
        .chain_update(identity.sha1.as_bytes())
        .chain_update(b"\n")
        .chain_update(options.as_bytes())
        .finalize();
    InputIdentity {
        bytes: identity.bytes,
        sha1: digest.iter().map(|b| format!("{b:02x}")).collect(),
    }
}

/// Checks the whole file, then imports it in batches, resumable with `--journal`.
pub async fn import(args: ImportArgs) -> ExitCode {
    let shown = args.file.display().to_string();
    let started = Instant::now();
    let stall = match stall_timeout(args.stall_timeout) {
        Ok(stall) => stall,
        Err(why) => {
            errln!("authing-otp import: {why}");
            return ExitCode::from(2);
        }
    };
    // Every file is checked, and the journal locked, before the input is read: nothing is sent
    // on a run that could not record what it does.
    let refuse = |e: &dyn std::fmt::Display| {
        errln!("authing-otp import: {e}; nothing was sent");
        ExitCode::from(2)
    };
    let keycloak = args.format == Some(InputFormat::Keycloak);
    let user_id_type = match (args.user_id_type, keycloak) {
        (Some(t), true) if keycloak_identifier(t).is_none() => {
            errln!(
                "authing-otp import: --user-id-type {t} does not name Keycloak users: use \
                 username, email or external_id (Keycloak's user id)"
            );
            return ExitCode::from(2);
        }
        (Some(t), _) => t,
        (None, true) => UserIdType::Username,
        (None, false) => UserIdType::UserId,
    };
    if !keycloak && (args.keycloak_pick.is_some() || args.keycloak_realm.is_some()) {
        errln!(
            "authing-otp import: --keycloak-pick and --keycloak-realm go with --format keycloak"
        );
        return ExitCode::from(2);
    }
    let keycloak_options = keycloak.then(|| {
        let identifier = keycloak_identifier(user_id_type).unwrap_or_default();
        (
            KeycloakOptions::default()
                .identifier(identifier)
                .newest(args.keycloak_pick == Some(KeycloakPick::Newest)),
            args.keycloak_realm.as_deref(),
        )
    });
    let format = match args.format {
        Some(InputFormat::Jsonl) => Some(ImportFormat::JsonLines),
        Some(InputFormat::Csv) => Some(ImportFormat::Csv),
        Some(InputFormat::Uri) => Some(ImportFormat::KeyUri),
        Some(InputFormat::Keycloak) | None => None,
    };
    let mut source = match import_source::open(&args.file, format, keycloak_options, user_id_type) {
        Ok(source) => source,
        Err(e) => return refuse(&e),
    };
    let outputs: Vec<(&'static str, &std::path::Path)> = [
        ("--journal", &args.journal),
        ("--failures", &args.failures),
        ("--report", &args.report),
    ]
    .into_iter()
    .filter_map(|(flag, path)| Some((flag, path.as_deref()?)))
    .collect();
    for id in source.ids() {
        if let Err(e) = files::check_outputs(id, &outputs) {
            return refuse(&e);
        }
    }
    let locked: LockedJournal = match args
        .journal
        .as_deref()
        .map_or_else(Journal::temporary, Journal::lock)
    {
        Ok(locked) => locked,
        Err(e) => return refuse(&e),
    };
    let checked = match source.check(&shown, MAX_SHOWN_ERRORS) {
        Ok(checked) => checked,
        Err(CheckFailed) => return ExitCode::from(2),
    };
    let (records_total, identity) = (checked.entries, checked.identity.clone());
    // From now on only the bytes checked are read: lines appended during the run are not.
    source.limit_to_checked(&identity);
    if args.dry_run {
        if args.json {
            let (peak_rss, cpu) = resources();
            let answer = serde_json::json!({
                "file": shown,
                "dryRun": true,
                "records": records_total,
                "toLookUp": checked.to_look_up,
                "keycloak": checked.keycloak.map(|k| serde_json::json!({
                    "users": records_total + k.no_otp,
                    "refused": k.refused,
                    "withoutOtp": k.no_otp,
                })),
                "elapsedSeconds": started.elapsed().as_secs_f64(),
                "peakRssBytes": peak_rss,
                "cpuSeconds": cpu,
            });
            outln!("{answer}");
            return ExitCode::SUCCESS;
        }
        match checked.keycloak {
            Some(tally) => outln!(
                "{shown}: {} users to import, {} refused, {} without OTP; nothing was sent \
                 (--dry-run)",
                records_total - tally.refused,
                tally.refused,
                tally.no_otp
            ),
            None => {
                outln!("{shown}: {records_total} valid records; nothing was sent (--dry-run)")
            }
        }
        if checked.to_look_up > 0 {
            outln!(
                "  {} users named otherwise than by user id are looked up when the import \
                 runs: one that names no user, or a user another record names, is refused then",
                checked.to_look_up
            );
        }
        return ExitCode::SUCCESS;
    }
    let create = |flag, path: &Option<PathBuf>| -> Result<Option<PendingOutput>, FileError> {
        path.as_deref()
            .map(|path| PendingOutput::create(flag, path))
            .transpose()
    };
    let outputs = match (
        create("--failures", &args.failures),
        create("--report", &args.report),
    ) {
        (Ok(failures), Ok(report)) => Outputs { failures, report },
        (Err(e), _) | (_, Err(e)) => return refuse(&e),
    };
    let client = match args.client.client(None) {
        Ok(client) => client,
        Err(e) => return fail("import", &e),
    };
    // The journal is bound to the input and to the options that give its records their
    // meaning: resumed with another --user-id-type or --keycloak-pick, it is refused.
    let options_tag = match (&source, user_id_type) {
        (Source::Keycloak { .. }, t) => Some(format!(
            "keycloak user-id-type={t} pick-newest={}",
            args.keycloak_pick == Some(KeycloakPick::Newest)
        )),
        (Source::Records { .. }, UserIdType::UserId) => None,
        (Source::Records { .. }, t) => Some(format!("user-id-type={t}")),
    };
    let (journal, mut progress) = match locked.open(&bound_to_options(&identity, options_tag)) {
        Ok(opened) => opened,
        Err(e) => return refuse(&e),
    };
    let mut journal = JournalState {
        journal,
        error: None,
    };
    let beyond = |set: &RecordSet| {
        set.ranges()
            .last()
            .is_some_and(|&(_, last)| last >= records_total)
    };
    if beyond(&progress.done) || beyond(&progress.verified) {
        errln!(
            "authing-otp import: the journal lists records beyond the {records_total} of \
             {shown}: it was not made by this command for this file; nothing was sent"
        );
        return ExitCode::from(2);
    }
    let resumed = progress.done.count();
    let resumed_verified = progress.verified.count();
    if resumed > 0 && !args.quiet {
        errln!(
            "authing-otp import: resuming: {resumed} of {records_total} records were done before"
        );
    }
    // The command checked the whole file for duplicates: the engine need not keep a
    // fingerprint per record again.
    let options = BulkOptions::default()
        .batch_size(usize::from(args.batch_size))
        .concurrency(usize::from(args.concurrency))
        .stall_timeout(stall)
        .check_duplicates(false);
    let broken = Cell::new(false);
    let mut resolved = Resolved::default();
    let lookup = LookUp {
        args: &args,
        source: &source,
        client: &client,
        options: &options,
        broken: &broken,
    };
    // Nothing to look up and nothing refused before a request: no pass of its own.
    let nothing_to_settle =
        checked.to_look_up == 0 && checked.keycloak.is_none_or(|k| k.refused == 0);
    let resolve = match nothing_to_settle {
        true => None,
        false => match lookup.run(&mut journal, &mut progress, &mut resolved).await {
            Ok(report) => report,
            Err(e) => {
                errln!("authing-otp import: {shown}: {e}");
                return ExitCode::from(2);
            }
        },
    };
    journal.sync();
    let phases = Phases {
        args: &args,
        source: &source,
        resolved: &resolved,
        client: &client,
        options,
        broken: &broken,
    };
    let resolve_stopped = resolve.as_ref().and_then(|r| r.stopped.as_ref()).is_some();
    let (import, batch_size) = if resolve_stopped || broken.get() {
        // Users that could not be looked up would be left out: the same command continues.
        (PhaseReport::default(), usize::from(args.batch_size))
    } else {
        match import_phase(&phases, &mut journal, &mut progress, records_total).await {
            Ok(done) => done,
            Err(e) => {
                errln!("authing-otp import: {shown}: {e}");
                return ExitCode::from(2);
            }
        }
    };
    journal.sync();
    let all_imported = progress.done.count() == records_total;
    let verify = if args.verify && import.stopped.is_none() && all_imported && !broken.get() {
        if resumed_verified > 0 && !args.quiet {
            errln!(
                "authing-otp import: verify: resuming: {resumed_verified} records were read \
                 back before"
            );
        }
        match verify_phase(&phases, &mut journal, &mut progress).await {
            Ok(report) => Some(report),
            Err(e) => {
                errln!("authing-otp import: {shown}: {e}");
                return ExitCode::from(2);
            }
        }
    } else {
        None
    };
    journal.sync();
    let problems = match write_outputs(&source, journal.journal.path(), &progress, outputs) {
        Ok(problems) => problems,
        Err(e) => {
            errln!("authing-otp import: writing the failures file or the report: {e}");
            return ExitCode::FAILURE;
        }
    };

    let refused = progress.refused.count();
    let imported = progress.done.count().saturating_sub(refused);
    let not_attempted = records_total.saturating_sub(progress.done.count());
    let mismatched = progress.mismatched.count();
    let verified = progress.verified.count();
    // Only the bytes checked were sent; the numbering holds only for them.
    let changed = source.changed_since_checked(&identity, &broken);
    if let Some(how) = &changed {
        errln!(
            "authing-otp import: {shown} {how} during the run: only the {} bytes checked \
             were read and sent, and a journal of this run does not apply to the file as it \
             is now; start again with a new journal",
            identity.bytes
        );
    }
    let changed = changed.is_some();
    let stats = client.stats();
    let elapsed = started.elapsed().as_secs_f64();
    let (peak_rss, cpu) = resources();
    let stopped = resolve
        .as_ref()
        .and_then(|r| r.stopped.as_ref())
        .or(import.stopped.as_ref())
        .or(verify.as_ref().and_then(|v| v.stopped.as_ref()))
        .map(StopReason::display_chain);
    let import_rate = (import.good + import.bad) as f64 / import.elapsed.as_secs_f64().max(1e-3);
    if args.json {
        let answer = serde_json::json!({
            "file": shown,
            "records": records_total,
            "imported": imported,
            "refused": refused,
            "notAttempted": not_attempted,
            "resumedFrom": resumed,
            "requests": stats.requests,
            "retries": stats.retries,
            "throttled": stats.throttled,
            "elapsedSeconds": elapsed,
            "recordsPerSecond": import_rate,
            "batchSize": batch_size,
            "stopped": stopped,
            "resolve": resolve.as_ref().map(|r| r.json("found", "refused", 0)),
            "keycloak": checked.keycloak.map(|k| serde_json::json!({
                "users": records_total + k.no_otp,
                "refused": k.refused,
                "withoutOtp": k.no_otp,
            })),
            "import": import.json("imported", "refused", resumed),
            "verify": verify.as_ref().map(|v| {
                let mut json = v.json("matched", "mismatched", resumed_verified);
                json["verified"] = verified.into();
                json["mismatchedInAll"] = mismatched.into();
                json
            }),
            "peakRssBytes": peak_rss,
            "cpuSeconds": cpu,
        });
        outln!("{answer}");
    } else {
        outln!(
            "{shown}: {records_total} records: {imported} imported, {refused} refused, \
             {not_attempted} not attempted; {} requests in {elapsed:.1} s",
            stats.requests
        );
        if let Some(k) = checked.keycloak {
            outln!(
                "  keycloak: {} users: {} with an OTP credential to import, {} refused, {} \
                 without OTP (skipped)",
                records_total + k.no_otp,
                records_total - k.refused,
                k.refused,
                k.no_otp
            );
        }
        if let Some(r) = &resolve {
            outln!(
                "  look-up: {} users in {:.1} s, {} found, {} refused, {} requests ({} \
                 throttled, {} unavailable)",
                r.records,
                r.elapsed.as_secs_f64(),
                r.good,
                r.bad,
                r.requests,
                r.throttled,
                r.unavailable
            );
        }
        outln!(
            "  import: {} records in {:.1} s ({import_rate:.0}/s), {} requests ({} throttled, \
             {} unavailable)",
            import.good + import.bad,
            import.elapsed.as_secs_f64(),
            import.requests,
            import.throttled,
            import.unavailable
        );
        if let Some(v) = &verify {
            outln!(
                "  verify: {} read back in {:.1} s, {} requests ({} throttled, {} unavailable); \
                 in all {verified} of {imported} read back, {mismatched} differ",
                v.good + v.bad,
                v.elapsed.as_secs_f64(),
                v.requests,
                v.throttled,
                v.unavailable
            );
        }
        let line_of = |r: &RefusedRecord| {
            let code = match (r.status_code, r.http_status) {
                (Some(code), _) => format!("statusCode {code}: "),
                (None, Some(status)) => format!("HTTP {status}: "),
                (None, None) => String::new(),
            };
            let api = r
                .api_code
                .map(|c| format!("apiCode {c}: "))
                .unwrap_or_default();
            format!("  line {}: {}: {code}{api}{}", r.line, r.user_id, r.message)
        };
        for r in &problems.first {
            outln!("{}", line_of(r));
        }
        let all = refused + mismatched;
        if all > problems.first.len() as u64 {
            outln!(
                "  … and {} more (see --report)",
                all - problems.first.len() as u64
            );
        }
        if let Some(why) = &stopped {
            let again = if args.journal.is_some() {
                "run the same command again to continue"
            } else {
                "run it again with --journal to continue where a run stops"
            };
            outln!("stopped: {why}; {again}");
        }
    }
    let verify_ok = !args.verify || (verified == imported && mismatched == 0);
    if refused == 0
        && not_attempted == 0
        && verify_ok
        && stopped.is_none()
        && journal.error.is_none()
        && !changed
    {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
