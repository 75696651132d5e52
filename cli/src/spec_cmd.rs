//! `authing-otp spec check` and `authing-otp spec sync`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use authing_otp_cli::spec::{self, Difference, Severity, SpecError, printable};
use serde_json::{Value, json};

/// Exit status for drift that fails under `--fail-on` (check) or a sync that would drop an
/// operation.
const DRIFT: u8 = 1;
/// Exit status for usage, I/O, network and parse errors (clap uses 2 for usage errors too).
const FAILURE: u8 = 2;

#[derive(Debug, clap::Subcommand)]
pub enum SpecCommand {
    /// Compare the fragment with an upstream document and list the differences (breaking, then
    /// additive, then notes): exit 0 when none fails under --fail-on, 1 when one does, 2 when a
    /// document cannot be read or parsed. Notes (upstream's operationId, tags, ...) change
    /// neither the wire nor the generated code and never fail.
    Check {
        #[command(flatten)]
        source: Source,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        /// The least serious kind of difference that fails the check.
        #[arg(long, value_enum, default_value_t = FailOn::Additive)]
        fail_on: FailOn,
    },
    /// Rewrite the fragment from an upstream document, keeping our descriptions, summaries and
    /// examples, and list what changed. Writes only when something changed.
    Sync {
        #[command(flatten)]
        source: Source,
    },
}

#[derive(Debug, clap::Args)]
pub struct Source {
    /// The upstream OpenAPI 3.0 document (JSON or YAML): a file path or an https:// URL.
    #[arg(long, value_name = "PATH|URL")]
    upstream: String,
    /// The fragment to check or rewrite [default: openapi/authing-otp.json; `check` falls back
    /// to the fragment built into the command when that file is not there].
    #[arg(long, value_name = "PATH")]
    fragment: Option<PathBuf>,
}

/// Where the fragment is, in a checkout of the project.
const DEFAULT_FRAGMENT: &str = "openapi/authing-otp.json";

/// The copy the typed httpmock stubs generate from (a packaged crate builds from what it
/// ships), kept byte for byte the same by `sync` when it rewrites the default fragment.
const HTTPMOCK_COPY: &str = "httpmock/openapi/authing-otp.json";

impl Source {
    /// The file `sync` rewrites.
    fn fragment_path(&self) -> PathBuf {
        self.fragment
            .clone()
            .unwrap_or_else(|| PathBuf::from(DEFAULT_FRAGMENT))
    }

    /// The httpmock crate's copy of the fragment, in a checkout where `sync` rewrites the
    /// default fragment.
    fn httpmock_copy(&self) -> Option<PathBuf> {
        let copy = PathBuf::from(HTTPMOCK_COPY);
        (self.fragment.is_none() && copy.is_file()).then_some(copy)
    }
}

/// Writes `text` into the httpmock crate's copy when it differs; says so.
fn sync_httpmock_copy(source: &Source, text: &str) -> Result<(), SpecError> {
    let Some(copy) = source.httpmock_copy() else {
        return Ok(());
    };
    if std::fs::read_to_string(&copy).is_ok_and(|now| now == text) {
        return Ok(());
    }
    write_atomically(&copy, text)?;
    outln!("updated {HTTPMOCK_COPY}, the typed httpmock stubs' copy, to match");
    Ok(())
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Format {
    /// One line per difference (`<severity>: <difference>`), then a summary.
    Text,
    /// One JSON object on stdout: each difference with its severity, the count of each severity
    /// (`breaking`, `additive`, `note`), `failOn` and whether the check `failed`.
    Json,
}

/// Which differences make `spec check` exit 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FailOn {
    /// Only breaking differences.
    Breaking,
    /// Breaking and additive ones: anything that reaches the wire or the generated code.
    Additive,
}

impl FailOn {
    fn fails(self, severity: Severity) -> bool {
        match severity {
            Severity::Note => false,
            Severity::Additive => self == FailOn::Additive,
            // Breaking, and any class added later: better a red job than an unseen change.
            _ => true,
        }
    }

    fn name(self) -> &'static str {
        match self {
            FailOn::Breaking => "breaking",
            FailOn::Additive => "additive",
        }
    }
}

pub async fn run(cmd: SpecCommand) -> ExitCode {
    let result = match cmd {
        SpecCommand::Check {
            source,
            format,
            fail_on,
        } => check(&source, format, fail_on).await,
        SpecCommand::Sync { source } => sync(&source).await,
    };
    result.unwrap_or_else(|e| {
        errln!("error: {e}");
        ExitCode::from(FAILURE)
    })
}

struct Loaded {
    /// The fragment's file, or what stands for the built-in one, for messages.
    label: String,
    fragment_text: String,
    fragment: Value,
    upstream: Value,
    derived: Value,
    differences: Vec<Difference>,
}

/// Reads the fragment: the file given, else the checkout's, else (for `check` only, outside a
/// checkout) the one this command was built with.
async fn load(source: &Source, builtin_allowed: bool) -> Result<Loaded, SpecError> {
    let path = source.fragment_path();
    let (label, fragment_text) = if source.fragment.is_none() && builtin_allowed && !path.exists() {
        (
            format!(
                "the fragment built into authing-otp {}",
                env!("CARGO_PKG_VERSION")
            ),
            authing_otp::OPENAPI_FRAGMENT.to_owned(),
        )
    } else {
        (path.display().to_string(), spec::read_text(&path)?)
    };
    let fragment = spec::parse_document(&fragment_text, &label)?;
    let upstream = spec::load_document(&source.upstream).await?;
    let derived = spec::derive_fragment(&upstream, &fragment)?;
    let differences = spec::compare(&fragment, &derived);
    Ok(Loaded {
        label,
        fragment_text,
        fragment,
        upstream,
        derived,
        differences,
    })
}

/// How many differences of each severity.
#[derive(Debug, Clone, Copy)]
struct Counts {
    breaking: usize,
    additive: usize,
    note: usize,
}

impl Counts {
    fn of(differences: &[Difference]) -> Self {
        let count = |s: Severity| differences.iter().filter(|d| d.severity == s).count();
        Counts {
            breaking: count(Severity::Breaking),
            additive: count(Severity::Additive),
            note: count(Severity::Note),
        }
    }
}

/// `1 breaking, 0 additive, 2 notes`
impl std::fmt::Display for Counts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let notes = if self.note == 1 { "note" } else { "notes" };
        write!(
            f,
            "{} breaking, {} additive, {} {notes}",
            self.breaking, self.additive, self.note
        )
    }
}

fn print_lines(differences: &[Difference]) {
    for d in differences {
        outln!("{}: {d}", d.severity);
    }
}

async fn check(source: &Source, format: Format, fail_on: FailOn) -> Result<ExitCode, SpecError> {
    let loaded = load(source, true).await?;
    let fragment = &loaded.label;
    let counts = Counts::of(&loaded.differences);
    let failed = loaded.differences.iter().any(|d| fail_on.fails(d.severity));
    let rewrite = spec::to_json_text(&loaded.derived) != loaded.fragment_text;
    match format {
        Format::Json => {
            let differences: Vec<Value> = loaded
                .differences
                .iter()
                .map(|d| {
                    let mut v = serde_json::to_value(d).expect("a Difference always serializes");
                    v["line"] = Value::String(d.to_string());
                    v
                })
                .collect();
            let report = json!({
                "fragment": fragment,
                "upstream": source.upstream,
                "matches": loaded.differences.is_empty(),
                "failOn": fail_on.name(),
                "failed": failed,
                "breaking": counts.breaking,
                "additive": counts.additive,
                "note": counts.note,
                "syncWouldRewrite": rewrite,
                "differences": differences,
            });
            let text = serde_json::to_string_pretty(&report).expect("JSON values always serialize");
            outln!("{}", spec::printable_json(&text));
        }
        Format::Text if loaded.differences.is_empty() => {
            // The derivation list names what the fragment covers.
            let operations = loaded.fragment["x-authing-otp-derivation"]["operations"]
                .as_array()
                .map_or(0, Vec::len);
            outln!(
                "{} matches {} ({operations} operations, no structural differences)",
                printable(fragment),
                printable(&source.upstream)
            );
            // Structurally equal but not byte-equal: upstream added descriptions where we have
            // none, or reordered keys. Not drift, but `sync` would rewrite the file.
            if rewrite {
                outln!(
                    "`authing-otp spec sync` would still rewrite the file (key order, or \
                     descriptions/examples upstream added where the fragment has none)"
                );
            }
        }
        Format::Text => {
            print_lines(&loaded.differences);
            let verdict = if failed { "fails" } else { "passes" };
            outln!(
                "{} difference(s) between {} and {}: {counts}; {verdict} with --fail-on {}; \
                 `authing-otp spec sync` updates the fragment",
                loaded.differences.len(),
                printable(fragment),
                printable(&source.upstream),
                fail_on.name(),
            );
        }
    }
    Ok(ExitCode::from(if failed { DRIFT } else { 0 }))
}

async fn sync(source: &Source) -> Result<ExitCode, SpecError> {
    let loaded = load(source, false).await?;
    let fragment = &printable(&loaded.label);
    let upstream = &printable(&source.upstream);
    let missing = spec::missing_operations(&loaded.upstream, &loaded.fragment)?;
    if !missing.is_empty() {
        // Syncing would delete these from the generated client without anyone deciding to.
        errln!("not syncing: upstream {upstream} no longer has these operations:");
        for op in &missing {
            errln!("  {}", printable(op));
        }
        errln!(
            "remove them from x-authing-otp-derivation.operations in {fragment} if they are \
             really gone"
        );
        return Ok(ExitCode::from(DRIFT));
    }
    let text = spec::to_json_text(&loaded.derived);
    if text == loaded.fragment_text {
        sync_httpmock_copy(source, &text)?;
        outln!("{fragment} is up to date with {upstream}; nothing written");
        return Ok(ExitCode::SUCCESS);
    }
    write_atomically(&source.fragment_path(), &text)?;
    sync_httpmock_copy(source, &text)?;
    print_lines(&loaded.differences);
    let counts = Counts::of(&loaded.differences);
    if loaded.differences.is_empty() {
        outln!(
            "updated {fragment} from {upstream}: no structural change (key order, or \
             descriptions/examples upstream added where the fragment had none)"
        );
    } else if loaded
        .differences
        .iter()
        .all(|d| !d.severity.reaches_client())
    {
        // Recorded in the fragment, but the generated client comes out the same.
        outln!(
            "updated {fragment} from {upstream}: {} difference(s), {counts}; notes only, \
             nothing on the wire or in the generated code changes",
            loaded.differences.len()
        );
    } else {
        outln!(
            "updated {fragment} from {upstream}: {} difference(s), {counts}; rebuild to \
             regenerate the client",
            loaded.differences.len()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Writes next to the target and renames, so an interrupted sync never leaves half a fragment.
fn write_atomically(path: &Path, text: &str) -> Result<(), SpecError> {
    let io = |source| SpecError::Io {
        action: "writing",
        path: path.to_owned(),
        source,
    };
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".sync-tmp");
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, text).map_err(io)?;
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        io(e)
    })
}
