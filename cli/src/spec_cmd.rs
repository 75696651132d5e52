//! `authing-otp spec check` and `authing-otp spec sync`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use authing_otp_cli::spec::{self, Difference, Severity, SpecError};
use serde_json::{Value, json};

/// Exit status for drift (check) or a sync that would drop an operation.
const DRIFT: u8 = 1;
/// Exit status for usage, I/O, network and parse errors (clap uses 2 for usage errors too).
const FAILURE: u8 = 2;

#[derive(Debug, clap::Subcommand)]
pub enum SpecCommand {
    /// Compare the fragment with an upstream document: exit 0 when they match, 1 on drift (the
    /// differences are listed, breaking first), 2 when a document cannot be read or parsed.
    Check {
        #[command(flatten)]
        source: Source,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
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

impl Source {
    /// The file `sync` rewrites.
    fn fragment_path(&self) -> PathBuf {
        self.fragment
            .clone()
            .unwrap_or_else(|| PathBuf::from(DEFAULT_FRAGMENT))
    }
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Format {
    /// One line per difference, then a summary.
    Text,
    /// One JSON object on stdout.
    Json,
}

pub async fn run(cmd: SpecCommand) -> ExitCode {
    let result = match cmd {
        SpecCommand::Check { source, format } => check(&source, format).await,
        SpecCommand::Sync { source } => sync(&source).await,
    };
    result.unwrap_or_else(|e| {
        eprintln!("error: {e}");
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
        let text = std::fs::read_to_string(&path).map_err(|e| SpecError::Io {
            action: "reading",
            path: path.clone(),
            source: e,
        })?;
        (path.display().to_string(), text)
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

fn counts(differences: &[Difference]) -> (usize, usize) {
    let breaking = differences
        .iter()
        .filter(|d| d.severity == Severity::Breaking)
        .count();
    (breaking, differences.len() - breaking)
}

fn print_lines(differences: &[Difference]) {
    for d in differences {
        println!("{}: {d}", d.severity);
    }
}

async fn check(source: &Source, format: Format) -> Result<ExitCode, SpecError> {
    let loaded = load(source, true).await?;
    let fragment = &loaded.label;
    let (breaking, additive) = counts(&loaded.differences);
    // Structurally equal but not byte-equal: upstream added descriptions where we have none, or
    // reordered keys. Not drift, but `sync` would rewrite the file.
    let cosmetic = loaded.differences.is_empty()
        && spec::to_json_text(&loaded.derived) != loaded.fragment_text;
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
                "breaking": breaking,
                "additive": additive,
                "syncWouldRewrite": spec::to_json_text(&loaded.derived) != loaded.fragment_text,
                "differences": differences,
            });
            println!(
                "{}",
                serde_json::to_string_pretty(&report).expect("JSON values always serialize")
            );
        }
        Format::Text if loaded.differences.is_empty() => {
            // The derivation list names what the fragment covers.
            let operations = loaded.fragment["x-authing-otp-derivation"]["operations"]
                .as_array()
                .map_or(0, Vec::len);
            println!(
                "{fragment} matches {} ({operations} operations, no structural differences)",
                source.upstream
            );
            if cosmetic {
                println!(
                    "note: `spec sync` would still rewrite the file (key order, or descriptions/examples upstream added where the fragment has none)"
                );
            }
        }
        Format::Text => {
            print_lines(&loaded.differences);
            println!(
                "{} difference(s) between {fragment} and {}: {breaking} breaking, {additive} additive; `authing-otp spec sync` updates the fragment",
                loaded.differences.len(),
                source.upstream,
            );
        }
    }
    Ok(ExitCode::from(if loaded.differences.is_empty() {
        0
    } else {
        DRIFT
    }))
}

async fn sync(source: &Source) -> Result<ExitCode, SpecError> {
    let loaded = load(source, false).await?;
    let fragment = &loaded.label;
    let missing = spec::missing_operations(&loaded.upstream, &loaded.fragment)?;
    if !missing.is_empty() {
        // Syncing would delete these from the generated client without anyone deciding to.
        eprintln!(
            "not syncing: upstream {} no longer has these operations:",
            source.upstream
        );
        for op in &missing {
            eprintln!("  {op}");
        }
        eprintln!(
            "remove them from x-authing-otp-derivation.operations in {fragment} if they are really gone"
        );
        return Ok(ExitCode::from(DRIFT));
    }
    let text = spec::to_json_text(&loaded.derived);
    if text == loaded.fragment_text {
        println!(
            "{fragment} is up to date with {}; nothing written",
            source.upstream
        );
        return Ok(ExitCode::SUCCESS);
    }
    write_atomically(&source.fragment_path(), &text)?;
    print_lines(&loaded.differences);
    let (breaking, additive) = counts(&loaded.differences);
    if loaded.differences.is_empty() {
        println!(
            "updated {fragment} from {}: no structural change (key order, or descriptions/examples upstream added where the fragment had none)",
            source.upstream
        );
    } else {
        println!(
            "updated {fragment} from {}: {} difference(s), {breaking} breaking, {additive} additive; rebuild to regenerate the client",
            source.upstream,
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
