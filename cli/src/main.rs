//! The `authing-otp` command: read and import OTP secrets, run the local emulator, and keep the
//! OpenAPI fragment in step with upstream.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// `println!` that never panics: once stdout is closed (a pipe whose reader left, EPIPE), the
/// output ends quietly, as Unix tools' does, and the command goes on to its own exit code.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}

/// `eprintln!` that never panics, for the same reason as [`outln!`].
macro_rules! errln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr().lock(), $($arg)*);
    }};
}

// The import reader and the spec tooling are the library's (`authing_otp_cli`); the
// subcommands are the binary's own.
mod bulk_cmd;
mod client_cmd;
mod emulator_cmd;
mod export_cmd;
mod import_cmd;
mod import_resolve;
mod import_source;
mod quickstart_cmd;
mod spec_cmd;

#[derive(Debug, Parser)]
#[command(
    name = "authing-otp",
    version,
    about = "Manage users' OTP secrets in an Authing / GenAuth user pool"
)]
struct Cli {
    /// More log lines on stderr: -v for retries and throttling, -vv for every request. RUST_LOG,
    /// when set, takes precedence (e.g. RUST_LOG=authing_otp=debug). Logs never hold a secret
    /// or a user id.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,

    #[command(subcommand)]
    command: Command,
}

/// Logs to stderr, so that stdout stays the command's answer (`get-secret` prints only the
/// secret there). Colours only on a terminal, and never with `NO_COLOR` set (no-color.org):
/// a log file or a CI log gets plain text.
fn init_logging(verbose: u8) {
    use tracing_subscriber::EnvFilter;
    let level = match verbose {
        0 => "warn",
        1 => "authing_otp=info,warn",
        2 => "authing_otp=debug,info",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    let colour = std::io::IsTerminal::is_terminal(&std::io::stderr())
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colour)
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Import, then read back, an OTP secret: against the local emulator when no credentials
    /// are set, read-only against your host when they are.
    Quickstart(quickstart_cmd::QuickstartArgs),
    /// Print a user's OTP secret.
    GetSecret(client_cmd::GetSecretArgs),
    /// Import OTP secrets from a JSON Lines, CSV or Key URI file, or a Keycloak realm export,
    /// users named by id, email, username…: every line checked first, then batches at the
    /// pool's pace, resumable with --journal.
    Import(import_cmd::ImportArgs),
    /// Read back the OTP secrets of a list of users into a file `import` reads (JSON Lines,
    /// CSV or Key URIs): each user once, resumable with --journal.
    Export(export_cmd::ExportArgs),
    /// Run the local Authing emulator until stopped.
    Emulator(emulator_cmd::EmulatorArgs),
    /// Compare the OpenAPI fragment with upstream, or regenerate it from upstream.
    #[command(subcommand)]
    Spec(spec_cmd::SpecCommand),
}

// One thread: every command waits on the network (or serves loopback tests), and a bulk run
// that hands work between threads pays for each wake-up (measured: about 40% more CPU per
// record on two cores than on one thread).
#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.verbose);
    match cli.command {
        Command::Quickstart(args) => quickstart_cmd::run(args).await,
        Command::GetSecret(args) => client_cmd::get_secret(args).await,
        Command::Import(args) => import_cmd::import(args).await,
        Command::Export(args) => export_cmd::export(args).await,
        Command::Emulator(args) => emulator_cmd::run(args).await,
        Command::Spec(cmd) => spec_cmd::run(cmd).await,
    }
}
