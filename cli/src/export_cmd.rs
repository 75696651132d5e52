//! `authing-otp export`: read back the OTP secrets of a list of users into a file that
//! `authing-otp import` reads, resumable, each user written once.
//!
//! Passes: check every line of the users file (and identify it for the journal), then read the
//! secrets of the users the journal does not list as done, writing each as one whole line,
//! then write the report of users without a secret from the journal.

use std::{
    collections::HashMap,
    fs::{File, OpenOptions},
    io::{self, Write},
    path::{Path, PathBuf},
    process::ExitCode,
    time::Instant,
};

use authing_otp::{
    UserIdType, UserRef,
    bulk::{BulkEvent, BulkOptions, ReadDone, ReadOutcome, StopReason},
};
use authing_otp_cli::{
    export::{
        ExportHeader, ExportJournal, ExportProgress, LineFormat, OutputFormat, OutputIdentity,
        UsersFormat, UsersReader,
    },
    files::{self, Input, PendingOutput},
    fingerprints::UserFingerprints,
    journal::{IdentifyingReader, InputIdentity, RecordSet, RefusedRecord},
};
use secrecy::{ExposeSecret, zeroize::Zeroize};

use crate::{
    bulk_cmd::{Display, EXPORT_WORDS, parse_user_id_type, stall_timeout},
    client_cmd::{ClientArgs, fail},
};

/// Options of `authing-otp export`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Exit status: 0 when every user's secret was written; 1 when a user has none (or was not \
found), or the run stopped before the end (run the same command again with --journal to \
continue); 2 when nothing was sent: a bad line, a flag, an output that exists.

Example, pool to pool (the output holds secrets: keep it owner-only, delete it after):
  authing-otp export users.txt --output otp.jsonl --journal export.journal
  authing-otp import otp.jsonl --brand genauth --journal import.journal --verify")]
pub struct ExportArgs {
    /// The users to read back. With --input-format lines (the default unless the name ends in
    /// .jsonl/.ndjson/.json or .csv): one value per line, all of the type --user-id-type
    /// gives; a value is never split at `:`. jsonl: {"userId", "userIdType"?} per line (other
    /// fields ignored: an import file will do). csv: a header naming userId and optionally
    /// userIdType. `-` reads standard input.
    #[arg(value_name = "USERS")]
    users: PathBuf,

    /// Where to write the secrets: a new file, created owner-only; never one that exists
    /// (except the one a --journal run created, which a resumed run continues).
    #[arg(short, long, value_name = "FILE")]
    output: PathBuf,

    /// The output's format: jsonl and csv are what `authing-otp import` reads; uri is
    /// `<userId> otpauth://totp/ISSUER:<userId>?secret=…&issuer=ISSUER` per line (needs
    /// --issuer).
    #[arg(long, value_name = "FORMAT", value_enum, default_value_t = OutputFormat::Jsonl)]
    format: OutputFormat,

    /// The issuer of --format uri's Key URIs, as authenticator apps show it.
    #[arg(long, value_name = "NAME", required_if_eq("format", "uri"))]
    issuer: Option<String>,

    /// The users file's format [default: from its extension, else lines].
    #[arg(long, value_name = "FORMAT", value_enum)]
    input_format: Option<UsersFormat>,

    /// The type of the users' ids, where a line does not say: user_id, email, phone,
    /// username, external_id, identity (<extIdpId>:<userIdInIdp>), sync_relation
    /// (<provider>:<userIdInIdp>) or custom_field.
    #[arg(long, value_name = "TYPE", default_value = "user_id", value_parser = parse_user_id_type)]
    user_id_type: UserIdType,

    /// Requests in flight at once.
    #[arg(long, value_name = "N", default_value_t = 4,
          value_parser = clap::value_parser!(u16).range(1..=256))]
    concurrency: u16,

    /// Stop when no user has finished for this long, in seconds: throttling and outages are
    /// waited out until then. The same command continues a stopped run (with --journal).
    #[arg(long, value_name = "SECONDS", default_value_t = 600.0)]
    stall_timeout: f64,

    /// Where to keep what is done, so that the same command resumes after a crash without
    /// writing a user twice (owner-only; one run at a time).
    #[arg(long, value_name = "PATH")]
    journal: Option<PathBuf>,

    /// Write the users that have no OTP secret (or were not found), and why, there as JSON
    /// Lines (no secrets).
    #[arg(long, value_name = "PATH")]
    report: Option<PathBuf>,

    /// Print the summary as JSON.
    #[arg(long)]
    json: bool,

    /// No progress output.
    #[arg(short, long)]
    quiet: bool,

    /// Check the users file and stop: nothing is sent, no file is created.
    #[arg(long)]
    dry_run: bool,

    // Last, so that the command's own options come first in --help.
    #[command(flatten)]
    client: ClientArgs,
}

const MAX_SHOWN_ERRORS: usize = 20;

fn usage(e: &dyn std::fmt::Display) -> ExitCode {
    errln!("authing-otp export: {e}; nothing was sent");
    ExitCode::from(2)
}

fn reader(input: &Input, args: &ExportArgs) -> io::Result<UsersReader<io::Take<std::fs::File>>> {
    let format = args
        .input_format
        .unwrap_or_else(|| UsersFormat::from_path(input.path()));
    Ok(UsersReader::new(input.reader()?, format, args.user_id_type))
}

/// The key a user is compared by, for duplicates.
fn key(user: &UserRef) -> String {
    format!("{}:{}", user.id_type(), user.id())
}

/// What the check pass found.
struct Checked {
    users: u64,
    identity: InputIdentity,
    any_typed: bool,
}

/// Pass 1: every line checked, duplicates found, the input identified. `Err` is the exit code.
fn check(input: &Input, args: &ExportArgs) -> Result<Checked, ExitCode> {
    let shown = input.path().display();
    let fail = |e: &dyn std::fmt::Display| usage(&format!("{shown}: {e}"));
    let format = args
        .input_format
        .unwrap_or_else(|| UsersFormat::from_path(input.path()));
    let mut identified = IdentifyingReader::new(input.reader().map_err(|e| fail(&e))?);
    let mut fingerprints = UserFingerprints::with_capacity(0);
    let (mut errors, mut users, mut any_typed) = (0usize, 0u64, false);
    let mut show = |message: String| {
        errors += 1;
        if errors <= MAX_SHOWN_ERRORS {
            errln!("authing-otp export: {shown}: {message}");
        }
    };
    for user in UsersReader::new(&mut identified, format, args.user_id_type) {
        match user {
            Ok(u) => {
                if args.format == OutputFormat::Uri
                    && (u.user.id().contains([' ', '\t']) || u.user.id().starts_with('#'))
                {
                    show(format!(
                        "line {}: userId: a Key URI line cannot start with this id (it holds a \
                         space or a tab, or starts with #); use --format jsonl",
                        u.line
                    ));
                    continue;
                }
                any_typed |= u.user.id_type() != UserIdType::UserId;
                fingerprints.push(&key(&u.user));
                users += 1;
            }
            Err(e) => show(e.to_string()),
        }
    }
    let identity = match io::copy(&mut identified, &mut io::sink()) {
        Ok(_) => identified.identity(),
        Err(e) => return Err(fail(&e)),
    };
    let repeated = fingerprints.repeated();
    drop(fingerprints);
    if !repeated.is_empty() {
        let mut lines_of: HashMap<String, Vec<u64>> = HashMap::new();
        if let Ok(reader) = reader(input, args) {
            // The hashes are of a keyed hasher that is gone: compare the keys themselves,
            // kept only for users whose key was seen twice by a fresh set.
            let mut again = UserFingerprints::with_capacity(0);
            let all: Vec<_> = reader.flatten().collect();
            for u in &all {
                again.push(&key(&u.user));
            }
            let twice = again.repeated();
            for u in all {
                let k = key(&u.user);
                if twice.contains(&again.hash(&k)) {
                    lines_of.entry(k).or_default().push(u.line);
                }
            }
        }
        let mut duplicates: Vec<(u64, u64)> = lines_of
            .values()
            .filter(|lines| lines.len() > 1)
            .flat_map(|lines| lines[1..].iter().map(|&line| (line, lines[0])))
            .collect();
        duplicates.sort_unstable();
        for (line, first) in duplicates {
            show(format!(
                "line {line}: userId: the same user as line {first}"
            ));
        }
    }
    if errors > 0 {
        if errors > MAX_SHOWN_ERRORS {
            errln!(
                "authing-otp export: … and {} more errors",
                errors - MAX_SHOWN_ERRORS
            );
        }
        errln!("authing-otp export: {shown}: {errors} invalid lines; nothing was sent");
        return Err(ExitCode::from(2));
    }
    if users == 0 {
        errln!("authing-otp export: {shown}: no users; nothing was sent");
        return Err(ExitCode::from(2));
    }
    Ok(Checked {
        users,
        identity,
        any_typed,
    })
}

/// The output, open for appending whole lines, and how long it is.
struct Output {
    file: File,
    len: u64,
}

impl Output {
    /// Writes one line with one `write`, and wipes it.
    fn write_line(&mut self, line: &mut Vec<u8>) -> io::Result<()> {
        let written = self.file.write_all(line);
        line.zeroize();
        written
    }
}

/// Opens the output: a new file for a new journal, or the one a journal's run created,
/// cut back to the length the journal last recorded.
fn open_output(
    args: &ExportArgs,
    checked: &Checked,
    journal: &mut ExportJournal,
    progress: &ExportProgress,
) -> Result<Output, String> {
    let shown = args.output.display();
    match &progress.header {
        None => {
            if std::fs::symlink_metadata(&args.output).is_ok() {
                return Err(format!(
                    "--output {shown} exists: refused, and left untouched (an export never \
                     overwrites a file; a run killed before its journal recorded anything \
                     leaves an empty file: remove it)"
                ));
            }
            let format = LineFormat {
                format: args.format,
                typed_column: checked.any_typed,
                issuer: args.issuer.clone().unwrap_or_default(),
            };
            let mut file = files::create_new_private(&args.output)
                .map_err(|e| format!("--output {shown}: {e}"))?;
            let header = format.header().unwrap_or("");
            file.write_all(header.as_bytes())
                .and_then(|()| file.sync_all())
                .map_err(|e| format!("--output {shown}: {e}"))?;
            let identity =
                OutputIdentity::of(&file).map_err(|e| format!("--output {shown}: {e}"))?;
            journal
                .start(&ExportHeader {
                    authing_otp_export_journal: 1,
                    input: checked.identity.clone(),
                    output: identity,
                    format: args.format,
                    issuer: args.issuer.clone(),
                    typed_column: checked.any_typed,
                    output_start: header.len() as u64,
                })
                .map_err(|e| e.to_string())?;
            Ok(Output {
                file,
                len: header.len() as u64,
            })
        }
        Some(header) => {
            if header.input != checked.identity {
                return Err(format!(
                    "the journal was made for another users file, or the file changed since \
                     ({} bytes, SHA-1 {} then; {} bytes, SHA-1 {} now): use a new journal, or \
                     the original file",
                    header.input.bytes,
                    header.input.sha1,
                    checked.identity.bytes,
                    checked.identity.sha1
                ));
            }
            if header.format != args.format || header.issuer != args.issuer {
                return Err(
                    "the journal was made for another --format or --issuer: give the same \
                     ones, or use a new journal and output"
                        .into(),
                );
            }
            let file = OpenOptions::new()
                .read(true)
                .append(true)
                .open(&args.output)
                .map_err(|e| {
                    format!(
                        "--output {shown}: {e} (the journal's run wrote there; resuming needs it)"
                    )
                })?;
            let id = OutputIdentity::of(&file).map_err(|e| format!("--output {shown}: {e}"))?;
            if id != header.output {
                return Err(format!(
                    "--output {shown} is not the file the journal's run created: refused, and \
                     left untouched"
                ));
            }
            let len = file
                .metadata()
                .map_err(|e| format!("--output {shown}: {e}"))?
                .len();
            if len < progress.output_bytes {
                return Err(format!(
                    "--output {shown} is shorter ({len} bytes) than the journal recorded ({} \
                     bytes): it was changed since; use a new journal and output",
                    progress.output_bytes
                ));
            }
            // The lines of a batch the journal does not list, and a line cut short.
            file.set_len(progress.output_bytes)
                .and_then(|()| file.sync_all())
                .map_err(|e| format!("--output {shown}: {e}"))?;
            Ok(Output {
                file,
                len: progress.output_bytes,
            })
        }
    }
}

/// Reads every user's secret, writes it, and resumes with `--journal`.
pub async fn export(args: ExportArgs) -> ExitCode {
    let shown = args.users.display().to_string();
    let started = Instant::now();
    let stall = match stall_timeout(args.stall_timeout) {
        Ok(stall) => stall,
        Err(why) => {
            errln!("authing-otp export: {why}");
            return ExitCode::from(2);
        }
    };
    let mut input = match Input::open(&args.users) {
        Ok(input) => input,
        Err(e) => return usage(&e),
    };
    let outputs: Vec<(&'static str, &Path)> = [
        ("--output", Some(&args.output)),
        ("--journal", args.journal.as_ref()),
        ("--report", args.report.as_ref()),
    ]
    .into_iter()
    .filter_map(|(flag, path)| Some((flag, path?.as_path())))
    .collect();
    if let Err(e) = files::check_outputs(input.id(), &outputs) {
        return usage(&e);
    }
    let checked = match check(&input, &args) {
        Ok(checked) => checked,
        Err(code) => return code,
    };
    input.limit_to(checked.identity.bytes);
    if args.dry_run {
        outln!(
            "{shown}: {} valid users; nothing was sent (--dry-run)",
            checked.users
        );
        return ExitCode::SUCCESS;
    }
    let opened = match &args.journal {
        Some(path) => ExportJournal::open(path),
        None => ExportJournal::temporary(),
    };
    let (mut journal, progress) = match opened {
        Ok(opened) => opened,
        Err(e) => return usage(&e),
    };
    if progress
        .done
        .ranges()
        .last()
        .is_some_and(|&(_, last)| last >= checked.users)
    {
        return usage(&format!(
            "the journal lists users beyond the {} of {shown}: it was not made for this file",
            checked.users
        ));
    }
    let report = match args
        .report
        .as_deref()
        .map(|path| PendingOutput::create("--report", path))
        .transpose()
    {
        Ok(report) => report,
        Err(e) => return usage(&e),
    };
    let client = match args.client.client(None) {
        Ok(client) => client,
        Err(e) => return fail("export", &e),
    };
    let mut output = match open_output(&args, &checked, &mut journal, &progress) {
        Ok(output) => output,
        Err(e) => return usage(&e),
    };
    let header = progress.header.clone();
    let format = LineFormat {
        format: args.format,
        typed_column: header
            .as_ref()
            .map_or(checked.any_typed, |h| h.typed_column),
        issuer: args.issuer.clone().unwrap_or_default(),
    };
    let resumed = progress.done.count();
    if resumed > 0 && !args.quiet {
        errln!(
            "authing-otp export: resuming: {resumed} of {} users were done before",
            checked.users
        );
    }
    let mut done = progress.done.clone();
    let mut refused_set = progress.refused.clone();
    let options = BulkOptions::default()
        .concurrency(usize::from(args.concurrency))
        .stall_timeout(stall);
    let already = progress.done.clone();
    let todo = match reader(&input, &args) {
        Ok(reader) => reader
            .map_while(Result::ok)
            .enumerate()
            .map(|(n, u)| ((n as u64, u.line), u.user))
            .filter(move |((n, _), _)| !already.contains(*n)),
        Err(e) => return usage(&format!("{shown}: {e}")),
    };
    let mut display = Display::new(args.quiet, checked.users - resumed, &EXPORT_WORDS);
    let mut failure: Option<String> = None;
    let mut line = Vec::with_capacity(256);
    let summary = client
        .bulk_get_otp_secrets(options, todo, |event| {
            let batch: ReadDone<(u64, u64)> = match event {
                BulkEvent::Done(batch) => batch,
                other => return display.event(&other),
            };
            if failure.is_some() {
                return;
            }
            let mut settled = Vec::new();
            let mut refused = Vec::new();
            let mut written = 0;
            for ((n, line_number), user, outcome) in batch.outcomes {
                match outcome {
                    ReadOutcome::Secret(secret) => {
                        format.write_line(&user, secret.expose_secret(), &mut line);
                        let len = line.len() as u64;
                        if let Err(e) = output.write_line(&mut line) {
                            failure = Some(format!("--output {}: {e}", args.output.display()));
                            break;
                        }
                        output.len += len;
                        written += 1;
                        settled.push(n);
                    }
                    ReadOutcome::Refused(why) => {
                        settled.push(n);
                        refused.push(RefusedRecord {
                            record: n,
                            line: line_number,
                            // As given: the bare id, or `type:id` for another type.
                            user_id: if user.id_type() == UserIdType::UserId {
                                user.id().to_owned()
                            } else {
                                user.to_string()
                            },
                            http_status: why.http_status,
                            status_code: why.status_code,
                            api_code: why.api_code,
                            message: why.message,
                        });
                    }
                    _ => {}
                }
            }
            if failure.is_some() || settled.is_empty() {
                return;
            }
            // The lines first, durably, then the journal that counts them.
            if let Err(e) = output.file.sync_data() {
                failure = Some(format!("--output {}: {e}", args.output.display()));
                return;
            }
            let set = RecordSet::of(settled);
            if let Err(e) = journal.record(&set, &refused, output.len) {
                failure = Some(format!("{e}; stopped writing, so that a run can resume"));
                return;
            }
            for &(first, last) in set.ranges() {
                done.insert(first, last);
            }
            for r in &refused {
                refused_set.insert(r.record, r.record);
            }
            display.batch(
                written,
                refused.len() as u64,
                written + refused.len() as u64,
            );
        })
        .await;
    display.finish();
    if let Err(e) = journal.sync() {
        failure.get_or_insert(e.to_string());
    }
    if let Some(e) = &failure {
        errln!("authing-otp export: {e}");
    }
    // The refusals, each user once: every one into the report, the first few kept for the
    // summary.
    let mut first: Vec<RefusedRecord> = Vec::new();
    let mut report = report;
    let written = journal.for_each_refusal(|r| {
        if let Some(report) = report.as_mut() {
            serde_json::to_writer(&mut *report, &r)?;
            report.write_all(b"\n")?;
        }
        if first.len() < MAX_SHOWN_ERRORS {
            first.push(r);
        }
        Ok(())
    });
    if let Err(e) = written {
        errln!("authing-otp export: --report: {e}");
        return ExitCode::FAILURE;
    }
    if let Some(report) = report
        && let Err(e) = report.commit()
    {
        errln!("authing-otp export: --report: {e}");
        return ExitCode::FAILURE;
    }
    let refused = refused_set.count();
    let exported = done.count() - refused;
    let not_attempted = checked.users - done.count();
    let stats = client.stats();
    let elapsed = started.elapsed().as_secs_f64();
    let stopped = summary.stopped.as_ref().map(StopReason::display_chain);
    if args.json {
        let answer = serde_json::json!({
            "file": shown,
            "output": args.output.display().to_string(),
            "users": checked.users,
            "exported": exported,
            "withoutOtp": refused,
            "notAttempted": not_attempted,
            "resumedFrom": resumed,
            "requests": stats.requests,
            "retries": stats.retries,
            "throttled": stats.throttled,
            "elapsedSeconds": elapsed,
            "stopped": stopped,
            "error": failure,
            "refused": first,
        });
        outln!("{answer}");
    } else {
        outln!(
            "{shown}: {} users: {exported} written to {}, {refused} without OTP, \
             {not_attempted} not attempted; {} requests in {elapsed:.1} s",
            checked.users,
            args.output.display(),
            stats.requests
        );
        for r in &first {
            let code = match (r.status_code, r.http_status) {
                (Some(code), _) => format!("statusCode {code}: "),
                (None, Some(status)) => format!("HTTP {status}: "),
                (None, None) => String::new(),
            };
            outln!("  line {}: {}: {code}{}", r.line, r.user_id, r.message);
        }
        if refused > first.len() as u64 {
            outln!(
                "  … and {} more (see --report)",
                refused - first.len() as u64
            );
        }
        if let Some(why) = &stopped {
            let again = if args.journal.is_some() {
                "run the same command again to continue"
            } else {
                "run it again with --journal (and a new --output) to continue where a run stops"
            };
            outln!("stopped: {why}; {again}");
        }
    }
    if refused == 0 && not_attempted == 0 && stopped.is_none() && failure.is_none() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
