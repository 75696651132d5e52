//! The Rust side of the side-by-side benchmark (`benches/peers/run.sh`): reads OTP secrets by
//! email from a server (the stub, `examples/peers_stub.rs`) as plain reqwest or as the typed
//! client, in a process of its own so that its CPU time and memory can be measured alone.
//!
//! ```sh
//! cargo run --release --example peers_client -- --mode reqwest|authing-otp \
//!   [--auth token|signature] --calls N --concurrency C --host URL
//! ```
//!
//! - `reqwest`: a token obtained once (`POST /api/v3/get-management-token`, the pool id read from
//!   its payload), then the same GET each time with `authorization: Bearer` and
//!   `x-authing-userpool-id`, the answer decoded into a struct and checked.
//! - `authing-otp`: `ManagementClient::get_otp_secret_by_user(&UserRef::email(…))` with the
//!   client's defaults (retries, retry budget, answer cap), token mode unless `--auth signature`.
//!
//! One current-thread tokio runtime: the process is pinned to one core, as the official SDKs'
//! event loop (Node) and GIL-bound thread pool (Python) effectively are, so a second worker
//! thread would only add wake-ups. C tasks share the N calls (user `user-<i>@example.com` for
//! call i). Prints one line of JSON: calls, errors, wall seconds of the calls, calls per second,
//! and the process's CPU seconds spent in the calls (the rest of its CPU time is start-up).
//! The access key pair comes from `--access-key-id`/`--access-key-secret` (any value does for
//! the stub).

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use authing_otp::{AuthScheme, ExposeSecret, ManagementClient, UserRef};
use base64::Engine;

const SECRET: &str = "HZ2F6J3AGNAVSOTV";

#[derive(serde::Deserialize)]
struct TokenAnswer {
    data: TokenData,
}

#[derive(serde::Deserialize)]
struct TokenData {
    access_token: String,
}

#[derive(serde::Deserialize)]
struct TokenClaims {
    scoped_userpool_id: String,
}

#[derive(serde::Deserialize)]
struct SecretAnswer {
    #[serde(rename = "statusCode")]
    status_code: f64,
    data: SecretData,
}

#[derive(serde::Deserialize)]
struct SecretData {
    secret: String,
}

#[derive(Clone)]
enum Caller {
    Typed(ManagementClient),
    Plain {
        http: reqwest::Client,
        url: Arc<str>,
        token: Arc<str>,
        pool: Arc<str>,
    },
}

impl Caller {
    async fn call(&self, n: usize) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let user = format!("user-{n}@example.com");
        match self {
            Caller::Typed(client) => {
                let secret = client
                    .get_otp_secret_by_user(&UserRef::email(user)?)
                    .await?;
                if secret.expose_secret() != SECRET {
                    return Err("wrong secret".into());
                }
            }
            Caller::Plain {
                http,
                url,
                token,
                pool,
            } => {
                let answer: SecretAnswer = http
                    .get(&**url)
                    .query(&[("userId", user.as_str()), ("userIdType", "email")])
                    // The same request on the wire as the typed client's, header for header.
                    .header("accept", "application/json")
                    .header("api-version", "3.0")
                    .bearer_auth(token)
                    .header("x-authing-sdk-version", authing_otp::SDK_VERSION)
                    .header("x-authing-userpool-id", &**pool)
                    .send()
                    .await?
                    .error_for_status()?
                    .json()
                    .await?;
                if answer.status_code != 200.0 || answer.data.secret != SECRET {
                    return Err("wrong answer".into());
                }
            }
        }
        Ok(())
    }
}

/// User + system CPU time of the whole process so far.
fn cpu_time() -> Duration {
    // SAFETY: getrusage only writes the struct it is given.
    let usage = unsafe {
        let mut usage = std::mem::zeroed::<libc::rusage>();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

struct Options {
    mode: String,
    auth: AuthScheme,
    calls: usize,
    concurrency: usize,
    host: String,
    access_key_id: String,
    access_key_secret: String,
}

fn options() -> Result<Options, Box<dyn std::error::Error>> {
    let mut options = Options {
        mode: "authing-otp".into(),
        auth: AuthScheme::Token,
        calls: 20_000,
        concurrency: 32,
        host: String::new(),
        access_key_id: "ak-bench".into(),
        access_key_secret: "sk-bench".into(),
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--mode" => options.mode = value()?,
            "--auth" => options.auth = value()?.parse()?,
            "--calls" => options.calls = value()?.parse()?,
            "--concurrency" => options.concurrency = value()?.parse()?,
            "--host" => options.host = value()?,
            "--access-key-id" => options.access_key_id = value()?,
            "--access-key-secret" => options.access_key_secret = value()?,
            other => return Err(format!("unknown argument {other:?}").into()),
        }
    }
    if options.host.is_empty() {
        return Err("--host URL is required".into());
    }
    if !["reqwest", "authing-otp"].contains(&options.mode.as_str()) {
        return Err("--mode is reqwest or authing-otp".into());
    }
    options.concurrency = options.concurrency.max(1);
    Ok(options)
}

/// The plain client: one token, obtained now, used for every call.
async fn plain(options: &Options) -> Result<Caller, Box<dyn std::error::Error>> {
    let http = authing_otp::tls::http_client_builder()?
        .user_agent(concat!("authing-otp-rust/", env!("CARGO_PKG_VERSION")))
        .timeout(Duration::from_secs(10))
        .build()?;
    let host = options.host.trim_end_matches('/');
    let answer: TokenAnswer = http
        .post(format!("{host}/api/v3/get-management-token"))
        .json(&serde_json::json!({
            "accessKeyId": options.access_key_id,
            "accessKeySecret": options.access_key_secret,
        }))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let token = answer.data.access_token;
    let payload = token.split('.').nth(1).ok_or("the token is not a JWT")?;
    let claims: TokenClaims = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload.trim_end_matches('='))?,
    )?;
    Ok(Caller::Plain {
        http,
        url: format!("{host}/api/v3/get-otp-secret-by-user").into(),
        token: token.into(),
        pool: claims.scoped_userpool_id.into(),
    })
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let options = options()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        // What a program does once, before its calls: build the client (and, for plain
        // reqwest, get the token; the typed client gets its token in the first call).
        let caller = match options.mode.as_str() {
            "reqwest" => plain(&options).await?,
            _ => Caller::Typed(
                ManagementClient::builder()
                    .host(options.host.clone())
                    .access_key(
                        options.access_key_id.clone(),
                        options.access_key_secret.clone(),
                    )
                    .auth(options.auth)
                    .build()?,
            ),
        };
        let next = Arc::new(AtomicUsize::new(0));
        let errors = Arc::new(AtomicUsize::new(0));
        let first_error = Arc::new(std::sync::Mutex::new(None::<String>));
        let calls = options.calls;
        let (cpu, wall) = (cpu_time(), Instant::now());
        let tasks: Vec<_> = (0..options.concurrency)
            .map(|_| {
                let (caller, next) = (caller.clone(), next.clone());
                let (errors, first_error) = (errors.clone(), first_error.clone());
                tokio::spawn(async move {
                    loop {
                        let n = next.fetch_add(1, Ordering::Relaxed);
                        if n >= calls {
                            break;
                        }
                        if let Err(e) = caller.call(n).await {
                            errors.fetch_add(1, Ordering::Relaxed);
                            first_error.lock().unwrap().get_or_insert(e.to_string());
                        }
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await?;
        }
        let (cpu, wall) = (cpu_time() - cpu, wall.elapsed());
        let first_error = first_error.lock().unwrap().take();
        println!(
            "{}",
            serde_json::json!({
                "client": match (options.mode.as_str(), options.auth) {
                    ("reqwest", _) => "reqwest",
                    (_, AuthScheme::Token) => "authing-otp",
                    _ => "authing-otp (signature)",
                },
                "calls": calls,
                "concurrency": options.concurrency,
                "errors": errors.load(Ordering::Relaxed),
                "firstError": first_error,
                "seconds": wall.as_secs_f64(),
                "callsPerSecond": calls as f64 / wall.as_secs_f64(),
                "loopCpuSeconds": cpu.as_secs_f64(),
            })
        );
        Ok(())
    })
}
