//! `authing-otp emulator`: run the local Authing emulator until Ctrl-C or SIGTERM.
//!
//! The first line on stdout is `listening on http://<ip>:<port>` (flushed at once, so scripts
//! and tests can read the port when they pass `--addr 127.0.0.1:0`); the user pool id and
//! access key id follow, then the line to paste into a shell so that the other commands talk
//! to this emulator: `export AUTHING_HOST=… AUTHING_ACCESS_KEY_ID=… AUTHING_ACCESS_KEY_SECRET=…`.
//! The secret appears there only when it is the emulator's published development secret; a
//! secret of your own is never printed (the line says to set it as you gave it).
//!
//! The key pair and pool id fall back to the same `AUTHING_*` variables the client commands
//! read, so one environment configures both sides.
//!
//! `GET <url>/__emulator/bindings` lists every bound secret as JSON Lines, without
//! authentication or rate limit, so that a script can check what was imported.

use std::io::{self, Write as _};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use authing_otp_emulator::{self as emulator, Emulator, Seed, UnauthorizedStyle};
use secrecy::SecretString;

/// Options of `authing-otp emulator`.
#[derive(Debug, clap::Args)]
pub struct EmulatorArgs {
    /// Address to listen on; loopback addresses only. Port 0 picks a free port.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:0")]
    addr: SocketAddr,

    /// Lifetime of issued management tokens, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = emulator::DEFAULT_TOKEN_TTL.as_secs())]
    token_ttl: u64,

    /// JSON file with the users to start with: {"users": [{"id", "email", "phone", "username",
    /// "externalId", "identities", "syncRelations", "customFields", "otp"}]}.
    #[arg(long, value_name = "FILE")]
    seed: Option<PathBuf>,

    /// JSON Lines file of users to create by id, with no OTP bound: one object per line with a
    /// string "userId", other keys ignored (an import file qualifies). Read line by line; ids
    /// already known are skipped. May be repeated.
    #[arg(long, value_name = "FILE")]
    seed_users_from: Vec<PathBuf>,

    /// Serve at most QPS requests in any one second (a sliding window, every path but
    /// /__emulator/bindings) and answer the others HTTP 429 as Authing does. 0: no limit.
    #[arg(long, value_name = "QPS", default_value_t = 0)]
    rate_limit: u32,

    /// Refuse an importOtp request whose list has more than N items, with HTTP 413 [default:
    /// no limit].
    #[arg(long, value_name = "N")]
    max_list: Option<usize>,

    /// Accept only this brand's dialect (authing: x-authing-* headers and `authing` signatures;
    /// genauth: x-genauth-* and `GenAuth`) [default: both].
    #[arg(long, value_name = "BRAND", value_parser = parse_brand)]
    only_brand: Option<authing_otp::Brand>,

    /// Access key id the token endpoint accepts.
    #[arg(
        long,
        value_name = "ID",
        env = "AUTHING_ACCESS_KEY_ID",
        default_value = emulator::DEFAULT_ACCESS_KEY_ID
    )]
    access_key_id: String,

    /// Access key secret the token endpoint accepts [default: the emulator's published
    /// development secret, see the library docs]. Prefer the environment variable: command
    /// lines are visible to other local users.
    #[arg(
        long,
        value_name = "SECRET",
        env = "AUTHING_ACCESS_KEY_SECRET",
        hide_env_values = true,
        value_parser = parse_secret
    )]
    access_key_secret: Option<SecretString>,

    /// User pool id the issued tokens are scoped to.
    #[arg(
        long,
        value_name = "ID",
        env = "AUTHING_USERPOOL_ID",
        default_value = emulator::DEFAULT_USER_POOL_ID
    )]
    user_pool_id: String,

    /// How authentication failures are answered: HTTP 401, or HTTP 200 with statusCode 401 in
    /// the body.
    #[arg(long, value_enum, value_name = "STYLE", default_value = "http401")]
    unauthorized_style: Style,
}

/// `--unauthorized-style` values.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Style {
    /// HTTP 401 with {"statusCode":401,…}.
    Http401,
    /// HTTP 200 with {"statusCode":401,…}.
    Http200,
}

fn parse_brand(value: &str) -> Result<authing_otp::Brand, String> {
    value.parse().map_err(|e: authing_otp::Error| e.to_string())
}

fn parse_secret(value: &str) -> Result<SecretString, String> {
    if value.is_empty() {
        Err("the access key secret must not be empty".to_owned())
    } else {
        Ok(SecretString::from(value))
    }
}

/// Runs the emulator until Ctrl-C or SIGTERM.
pub async fn run(args: EmulatorArgs) -> ExitCode {
    match serve(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            errln!("authing-otp emulator: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(args: EmulatorArgs) -> Result<(), String> {
    let mut builder = Emulator::builder()
        .addr(args.addr)
        .user_pool_id(args.user_pool_id)
        .access_key_id(args.access_key_id)
        .token_ttl(Duration::from_secs(args.token_ttl))
        .rate_limit(args.rate_limit)
        .unauthorized_style(match args.unauthorized_style {
            Style::Http401 => UnauthorizedStyle::Http401,
            Style::Http200 => UnauthorizedStyle::Http200,
        });
    if let Some(secret) = args.access_key_secret {
        builder = builder.access_key_secret(secret);
    }
    if let Some(path) = &args.seed {
        builder = builder.seed(Seed::from_path(path).map_err(|e| e.to_string())?);
    }
    for path in args.seed_users_from {
        builder = builder.seed_users_from(path);
    }
    if let Some(n) = args.max_list {
        builder = builder.max_list(n);
    }
    if let Some(brand) = args.only_brand {
        builder = builder.only_brand(brand);
    }
    // Listen for signals before announcing the address, so that a signal sent as soon as the
    // first line is read stops the emulator cleanly.
    let mut signals = Signals::new().map_err(|e| format!("installing signal handlers: {e}"))?;
    let emulator = builder.start().await.map_err(|e| e.to_string())?;
    announce(&emulator).map_err(|e| format!("writing to stdout: {e}"))?;
    signals.recv().await;
    emulator.shutdown().await;
    Ok(())
}

/// Prints the address (which must get out) and then the ids and the settings to paste (which
/// may not: a reader that only wanted the first line may have closed the pipe already).
fn announce(emulator: &Emulator) -> io::Result<()> {
    let mut out = io::stdout().lock();
    writeln!(out, "listening on {}", emulator.base_url())?;
    out.flush()?;
    let _ = writeln!(out, "user pool id: {}", emulator.user_pool_id())
        .and_then(|()| writeln!(out, "access key id: {}", emulator.access_key_id()))
        .and_then(|()| writeln!(out, "{}", paste_line(emulator)))
        .and_then(|()| out.flush());
    Ok(())
}

/// `export AUTHING_HOST=… AUTHING_ACCESS_KEY_ID=… AUTHING_ACCESS_KEY_SECRET=…`, for a shell.
/// The secret is written only when it is the published development one.
fn paste_line(emulator: &Emulator) -> String {
    use secrecy::ExposeSecret as _;
    let mut line = format!(
        "export AUTHING_HOST={} AUTHING_ACCESS_KEY_ID={}",
        shell_word(emulator.base_url()),
        shell_word(emulator.access_key_id())
    );
    if emulator.access_key_secret().expose_secret() == emulator::DEFAULT_ACCESS_KEY_SECRET {
        line.push_str(" AUTHING_ACCESS_KEY_SECRET=");
        line.push_str(emulator::DEFAULT_ACCESS_KEY_SECRET);
    } else {
        line.push_str("   # and AUTHING_ACCESS_KEY_SECRET, as you gave it to the emulator");
    }
    line
}

/// `word` as one shell word: as it is when it holds only safe characters, else single-quoted.
fn shell_word(word: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "-_./:@%+=,".contains(c);
    if !word.is_empty() && word.chars().all(safe) {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// Ctrl-C, and SIGTERM where there is one.
struct Signals {
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
}

impl Signals {
    fn new() -> io::Result<Self> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(Self {
                interrupt: signal(SignalKind::interrupt())?,
                terminate: signal(SignalKind::terminate())?,
            })
        }
        #[cfg(not(unix))]
        {
            Ok(Self {})
        }
    }

    async fn recv(&mut self) {
        #[cfg(unix)]
        {
            tokio::select! {
                _ = self.interrupt.recv() => {}
                _ = self.terminate.recv() => {}
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
