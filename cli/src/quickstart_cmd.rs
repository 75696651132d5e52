//! `authing-otp quickstart`: the crate's main job end to end, runnable on a fresh machine.
//!
//! Without credentials it starts the emulator in-process, imports an OTP secret for a demo user
//! and reads it back by email and by identity. With credentials it talks to that host and only
//! reads, unless `--import-user-id` and `--secret` tell it to write first.

use std::process::ExitCode;

use authing_otp::{Brand, ManagementClient, OtpImport, UserRef};
use authing_otp_emulator::{Emulator, User};
use secrecy::{ExposeSecret, SecretString};

use crate::client_cmd::{ClientArgs, Failure, fail, parse_secret};

/// The classic RFC 6238 demonstration secret: public, so printing it leaks nothing.
const DEMO_SECRET: &str = "JBSWY3DPEHPK3PXP";
const DEMO_USER_ID: &str = "demo-user-1";
const DEMO_EMAIL: &str = "alice@example.com";
const DEMO_IDP: &str = "62f20932716fbcc10d966ee5";
const DEMO_IDP_USER: &str = "ou_8bae746eac07cd2564654140d2a9ac61";

/// Options of `authing-otp quickstart`.
#[derive(Debug, clap::Args)]
pub struct QuickstartArgs {
    /// With credentials: the user whose secret to read (as for get-secret).
    #[arg(long, value_name = "USER")]
    user: Option<String>,

    /// With credentials: import --secret for this Authing user id before reading.
    #[arg(long, value_name = "USER_ID", requires = "secret")]
    import_user_id: Option<String>,

    /// With credentials: the base32 secret to import.
    #[arg(
        long,
        value_name = "BASE32",
        requires = "import_user_id",
        value_parser = parse_secret
    )]
    secret: Option<SecretString>,

    // Last, so that the command's own options come first in --help.
    #[command(flatten)]
    client: ClientArgs,
}

/// Runs the quickstart.
pub async fn run(args: QuickstartArgs) -> ExitCode {
    let outcome = if args.client.has_credentials() {
        against_host(args).await
    } else {
        against_emulator(&args.client).await
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail("quickstart", &e),
    }
}

async fn against_emulator(args: &ClientArgs) -> Result<(), Failure> {
    // The emulator accepts only the chosen brand's dialect: the run proves the client speaks it.
    let named = ["AUTHING_BRAND", "GENAUTH_BRAND"]
        .iter()
        .find_map(|name| std::env::var(name).ok().filter(|v| !v.is_empty()));
    let brand = match (args.brand(), named) {
        (Some(brand), _) => brand,
        (None, Some(name)) => name.parse()?,
        (None, None) => Brand::default(),
    };
    outln!(
        "No AUTHING_* or GENAUTH_* credentials are set: starting the local emulator, as {brand}."
    );
    let emulator = Emulator::builder()
        .only_brand(brand)
        .user(
            User::new(DEMO_USER_ID)
                .email(DEMO_EMAIL)
                .identity(DEMO_IDP, DEMO_IDP_USER),
        )
        .start()
        .await
        .map_err(|e| Failure::Other(format!("starting the emulator: {e}")))?;
    outln!(
        "  emulator listening on {}, accepting only {brand}'s dialect ({}* headers)",
        emulator.base_url(),
        brand.header_prefix()
    );
    let client = args.client(Some((
        emulator.base_url(),
        emulator.access_key_id(),
        emulator.access_key_secret().expose_secret(),
    )))?;

    let item = OtpImport::new(DEMO_USER_ID, DEMO_SECRET)?.with_recovery_code("b471-8ec0-874a")?;
    let receipt = client.import_otp([item]).await?;
    outln!(
        "importOtp: bound secret {DEMO_SECRET} (the public RFC 6238 demo secret) to user \
         {DEMO_USER_ID}: {} item imported, server said \"{}\"",
        receipt.imported,
        receipt.message
    );
    for user in [
        UserRef::email(DEMO_EMAIL)?,
        UserRef::identity(DEMO_IDP, DEMO_IDP_USER)?,
    ] {
        let secret = client.get_otp_secret_by_user(&user).await?;
        let verdict = if secret.expose_secret() == DEMO_SECRET {
            "matches the import"
        } else {
            "DOES NOT match the import"
        };
        outln!(
            "getOtpSecretByUser {user}: {} ({verdict})",
            secret.expose_secret()
        );
        if secret.expose_secret() != DEMO_SECRET {
            return Err(Failure::Other(
                "the emulator returned another secret".into(),
            ));
        }
    }
    let counters = emulator.counters();
    outln!(
        "done: {} token request served {} OTP requests; the emulator stops now.",
        counters.token_requests,
        counters.otp_requests()
    );
    emulator.shutdown().await;
    Ok(())
}

async fn against_host(args: QuickstartArgs) -> Result<(), Failure> {
    let client: ManagementClient = args.client.client(None)?;
    outln!("Credentials are set: talking to {}.", client.host());
    if let (Some(user_id), Some(secret)) = (&args.import_user_id, &args.secret) {
        let receipt = client
            .import_otp([OtpImport::new(user_id.as_str(), secret.expose_secret())?])
            .await?;
        outln!(
            "importOtp: bound the given secret to user {user_id}: server said \"{}\"",
            receipt.message
        );
    } else {
        outln!("Read-only: pass --import-user-id and --secret to import first.");
    }
    let Some(user) = args.user else {
        outln!("Pass --user <USER> (e.g. email:alice@example.com) to read a user's secret.");
        return Ok(());
    };
    let user: UserRef = user.parse()?;
    let secret = client.get_otp_secret_by_user(&user).await?;
    // A real user's secret is not printed here; `authing-otp get-secret` prints it on request.
    outln!(
        "getOtpSecretByUser {user}: a secret of {} characters is bound (not shown; use \
         get-secret to print it)",
        secret.expose_secret().len()
    );
    Ok(())
}
