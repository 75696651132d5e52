//! `get-secret`, and the connection options every command that talks to a host shares.

use std::{process::ExitCode, time::Duration};

use authing_otp::{
    AuthScheme, Brand, Error, ErrorKind, Lang, ManagementClient, RetryConfig, UserRef,
};
use secrecy::{ExposeSecret, SecretString};

/// Where and as whom to connect. Each flag overrides its `AUTHING_*` variable and that
/// variable's `GENAUTH_*` twin, which the client reads itself (`with_env`), in its order.
#[derive(Debug, Clone, clap::Args)]
#[command(
    next_help_heading = "Connection (each flag overrides its AUTHING_* or GENAUTH_* variable)"
)]
pub struct ClientArgs {
    /// API host [env: AUTHING_HOST or GENAUTH_HOST] [default: https://api.authing.cn, or
    /// https://api.genauth.ai for GenAuth].
    #[arg(long, value_name = "URL")]
    host: Option<String>,

    /// Access key id: the user pool id, or a collaborator's access key id [env:
    /// AUTHING_ACCESS_KEY_ID or GENAUTH_ACCESS_KEY_ID].
    #[arg(long, value_name = "ID")]
    access_key_id: Option<String>,

    /// Access key secret. Prefer the environment variable (AUTHING_ACCESS_KEY_SECRET or
    /// GENAUTH_ACCESS_KEY_SECRET): command lines are visible to other local users.
    #[arg(long, value_name = "SECRET", value_parser = parse_secret)]
    access_key_secret: Option<SecretString>,

    /// User pool id [env: AUTHING_USERPOOL_ID or GENAUTH_USERPOOL_ID] [default: read from the
    /// management token].
    #[arg(long, value_name = "ID")]
    user_pool_id: Option<String>,

    /// Language of the API's messages: zh-CN, en-US, ja-JP or zh-TW [env: AUTHING_LANG or
    /// GENAUTH_LANG].
    #[arg(long, value_name = "LANG", value_parser = parse_lang)]
    lang: Option<Lang>,

    /// Tenant id, sent as x-authing-app-tenant-id (x-genauth-… for GenAuth) [env:
    /// AUTHING_TENANT_ID or GENAUTH_TENANT_ID].
    #[arg(long, value_name = "ID")]
    tenant_id: Option<String>,

    /// Brand: authing or genauth (headers, signature scheme, default host) [env: AUTHING_BRAND
    /// or GENAUTH_BRAND]. Unset, it follows the host (*.genauth.ai is GenAuth) and the
    /// environment (settings given only as GENAUTH_* mean GenAuth).
    #[arg(long, value_name = "BRAND", value_parser = parse_brand)]
    brand: Option<Brand>,

    /// Authentication: a management token, or AK/SK request signing [env: AUTHING_AUTH or
    /// GENAUTH_AUTH].
    #[arg(long, value_name = "SCHEME", value_parser = parse_auth)]
    auth: Option<AuthScheme>,

    /// Timeout of one request, in seconds [default: 10].
    #[arg(long, value_name = "SECONDS")]
    timeout: Option<f64>,

    /// Attempts per request, the first included; 1 turns retries off [env:
    /// AUTHING_MAX_ATTEMPTS or GENAUTH_MAX_ATTEMPTS] [default: 3].
    #[arg(long, value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..=100))]
    max_attempts: Option<u32>,

    /// Deadline of one whole call (token, attempts and waits), in seconds [default: 60].
    #[arg(long, value_name = "SECONDS")]
    call_timeout: Option<f64>,

    /// At most this many requests per second, token requests included (Authing's free plans
    /// allow 300 per user pool) [env: AUTHING_RPS or GENAUTH_RPS] [default: no limit].
    #[arg(long, value_name = "RPS")]
    rps: Option<f64>,

    /// Allow a plain http:// host that is not on this machine (secrets would cross the network
    /// in clear text).
    #[arg(long)]
    allow_http: bool,
}

/// Parses a secret flag straight into a type whose `Debug` hides it.
pub fn parse_secret(value: &str) -> Result<SecretString, String> {
    Ok(SecretString::from(value))
}

fn parse_lang(value: &str) -> Result<Lang, String> {
    value.parse().map_err(|e: Error| e.to_string())
}

fn parse_brand(value: &str) -> Result<Brand, String> {
    value.parse().map_err(|e: Error| e.to_string())
}

fn parse_auth(value: &str) -> Result<AuthScheme, String> {
    value.parse().map_err(|e: Error| e.to_string())
}

impl ClientArgs {
    /// The brand asked for, if any.
    pub fn brand(&self) -> Option<Brand> {
        self.brand
    }

    /// Whether credentials were given (by flag or environment).
    pub fn has_credentials(&self) -> bool {
        let given = |v: &Option<String>| v.as_deref().is_some_and(|v| !v.is_empty());
        let in_env = [
            "AUTHING_ACCESS_KEY_ID",
            "AUTHING_ACCESS_KEY_SECRET",
            "GENAUTH_ACCESS_KEY_ID",
            "GENAUTH_ACCESS_KEY_SECRET",
        ]
        .iter()
        .any(|name| std::env::var_os(name).is_some_and(|v| !v.is_empty()));
        given(&self.access_key_id)
            || in_env
            || self
                .access_key_secret
                .as_ref()
                .is_some_and(|s| !s.expose_secret().is_empty())
    }

    /// The client these options describe; `overrides` replaces host and keys (the quickstart's
    /// emulator).
    pub fn client(
        &self,
        overrides: Option<(&str, &str, &str)>,
    ) -> Result<ManagementClient, Failure> {
        let nonempty = |v: &Option<String>| v.clone().filter(|v| !v.is_empty());
        let mut builder = ManagementClient::builder();
        match overrides {
            Some((host, id, secret)) => builder = builder.host(host).access_key(id, secret),
            None => {
                // AUTHING_* and their GENAUTH_* twins first, then the flags on top.
                builder = builder.with_env()?;
                if let Some(host) = nonempty(&self.host) {
                    builder = builder.host(host);
                }
                if let Some(id) = nonempty(&self.access_key_id) {
                    builder = builder.access_key_id(id);
                }
                // The secret stays a SecretString all the way into the client.
                if let Some(secret) = self
                    .access_key_secret
                    .clone()
                    .filter(|s| !s.expose_secret().is_empty())
                {
                    builder = builder.access_key_secret(secret);
                }
                if let Some(pool) = nonempty(&self.user_pool_id) {
                    builder = builder.user_pool_id(pool);
                }
            }
        }
        if let Some(brand) = self.brand {
            builder = builder.brand(brand);
        }
        if let Some(lang) = self.lang {
            builder = builder.lang(lang);
        }
        if let Some(tenant) = nonempty(&self.tenant_id) {
            builder = builder.tenant_id(tenant);
        }
        if let Some(auth) = self.auth {
            builder = builder.auth(auth);
        }
        if let Some(seconds) = self.timeout {
            builder = builder.timeout(seconds_flag("--timeout", seconds)?);
        }
        if self.max_attempts.is_some() || self.call_timeout.is_some() {
            let mut retry = RetryConfig::default();
            if let Some(attempts) = self.max_attempts {
                retry = retry.max_attempts(attempts);
            }
            if let Some(seconds) = self.call_timeout {
                retry = retry.call_timeout(seconds_flag("--call-timeout", seconds)?);
            }
            builder = builder.retry(retry);
        }
        builder = builder.allow_insecure_http(self.allow_http);
        if let Some(rps) = self.rps {
            builder = builder.rate_limit(rps);
        }
        Ok(builder.build()?)
    }
}

/// The longest `--timeout` or `--call-timeout` accepted.
const MAX_TIMEOUT: Duration = Duration::from_secs(3600);

/// A duration flag given in seconds: more than 0, at most an hour.
fn seconds_flag(flag: &str, seconds: f64) -> Result<Duration, Failure> {
    Duration::try_from_secs_f64(seconds)
        .ok()
        .filter(|t| !t.is_zero() && *t <= MAX_TIMEOUT)
        .ok_or_else(|| {
            Failure::Usage(format!(
                "{flag} must be more than 0 and at most {} seconds",
                MAX_TIMEOUT.as_secs()
            ))
        })
}

/// Why a command failed: the client's error, or one of the command's own.
#[derive(Debug)]
pub enum Failure {
    /// The client's.
    Client(Error),
    /// A flag or value the user can fix (exit 2).
    Usage(String),
    /// Anything else (exit 1).
    Other(String),
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Failure::Client(e)
    }
}

impl From<authing_otp::InputError> for Failure {
    fn from(e: authing_otp::InputError) -> Self {
        Failure::Client(e.into())
    }
}

/// Prints `failure` with its causes and returns the exit code for it.
pub fn fail(command: &str, failure: &Failure) -> ExitCode {
    match failure {
        Failure::Client(error) => {
            errln!("authing-otp {command}: {}", error.display_chain());
            fail_code(error)
        }
        Failure::Usage(message) => {
            errln!("authing-otp {command}: {message}");
            ExitCode::from(2)
        }
        Failure::Other(message) => {
            errln!("authing-otp {command}: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Options of `authing-otp get-secret`.
#[derive(Debug, clap::Args)]
pub struct GetSecretArgs {
    /// The user: user_id:…, email:…, phone:…, username:…, external_id:…,
    /// identity:<extIdpId>:<userIdInIdp>, sync_relation:<provider>:<userIdInIdp>,
    /// custom_field:…, or a bare id meaning user_id.
    // Parsed by the command, not by clap: clap's message would repeat the value whole (it may
    // be 120 KB, or someone's email address); ours names the field and the rule.
    #[arg(value_name = "USER")]
    user: String,

    /// Print the whole answer as JSON instead of the secret alone.
    #[arg(long)]
    json: bool,

    // Last, so that the command's own options come first in --help.
    #[command(flatten)]
    client: ClientArgs,
}

/// Prints the user's OTP secret alone on stdout.
pub async fn get_secret(args: GetSecretArgs) -> ExitCode {
    let result = async {
        // Before the client: a bad reference is refused before anything is sent.
        let user: UserRef = args.user.parse()?;
        let client = args.client.client(None)?;
        let secret = client.get_otp_secret_by_user(&user).await?;
        Ok::<_, Failure>((user, secret))
    }
    .await;
    match result {
        Ok((user, secret)) if args.json => {
            let answer = serde_json::json!({
                "userId": user.id(),
                "userIdType": user.id_type(),
                "secret": secret.expose_secret(),
            });
            outln!("{answer:#}");
            ExitCode::SUCCESS
        }
        Ok((_, secret)) => {
            outln!("{}", secret.expose_secret());
            ExitCode::SUCCESS
        }
        Err(e) => fail("get-secret", &e),
    }
}

/// 2 for what the user can fix in the command or its input, 1 for everything else.
fn fail_code(error: &Error) -> ExitCode {
    match error.kind() {
        ErrorKind::InvalidInput | ErrorKind::Config => ExitCode::from(2),
        _ => ExitCode::FAILURE,
    }
}
