//! What the typed client costs over plain reqwest: the same GET (`getOtpSecretByUser`, token
//! mode, the same headers, the answer decoded into a struct) against the same minimal server, at
//! concurrency 1 and 32. `cargo bench -p authing-otp --bench overhead`.
//!
//! Only the client is measured. The server is this same program started again as a child
//! process (`OVERHEAD_SERVER=1`), so its work is not in the figures: the CPU time reported is the
//! client process's own (user + system, `getrusage(RUSAGE_SELF)`, which leaves children out).
//! On a machine with two cores or more the client is pinned to one core and the server to
//! another, so that neither takes the other's. The client runs on a current-thread runtime, the
//! same for both callers.
//!
//! Each round runs plain reqwest, the typed client with its defaults (retries and the retry
//! budget on) and the typed client with a rate limit far above the achieved rate (its
//! bookkeeping paid, its waits not), one after the other; the figures are the medians of the
//! rounds, the ratio's range across them beside it.
//!
//! Knobs: `OVERHEAD_ROUNDS` (default 7), `OVERHEAD_CALLS` (calls per round at concurrency 1;
//! three times as many at 32; default 20,000), `OVERHEAD_ONLY=typed|plain` (one caller alone,
//! for a profiler).

#[path = "../tests/support/fixed_server.rs"]
mod fixed_server;

use std::{
    io::{BufRead, BufReader, Write},
    process::{Child, Command, Stdio},
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use authing_otp::{ExposeSecret, ManagementClient, UserRef};
use fixed_server::{Canned, FixedServer, TOKEN};

const SECRET: &str = "HZ2F6J3AGNAVSOTV";

#[derive(serde::Deserialize)]
struct PlainAnswer {
    #[serde(rename = "statusCode")]
    status_code: f64,
    data: PlainData,
}

#[derive(serde::Deserialize)]
struct PlainData {
    secret: String,
}

/// User + system CPU time of this process so far (its children not included).
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

/// Pins this process (every thread it starts from now on) to `core`, when the machine has more
/// than one. Returns whether it did.
fn pin_to(core: usize) -> bool {
    // SAFETY: plain system calls on a zeroed, owned cpu_set_t.
    unsafe {
        if libc::sysconf(libc::_SC_NPROCESSORS_ONLN) < 2 {
            return false;
        }
        let mut set = std::mem::zeroed::<libc::cpu_set_t>();
        libc::CPU_SET(core, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) == 0
    }
}

/// The server side: serve on loopback, print the URL, run until the parent closes stdin.
fn serve() {
    pin_to(1);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let server = FixedServer::start(Canned::secret(SECRET)).await;
        println!("{}", server.url());
        std::io::stdout().flush().unwrap();
        // The parent's end of stdin closes when it exits, however it exits.
        tokio::task::spawn_blocking(|| std::io::stdin().lines().count())
            .await
            .unwrap();
    });
}

/// The server child, killed when dropped.
struct ServerProcess {
    child: Child,
    url: String,
}

impl ServerProcess {
    fn start() -> Self {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .env("OVERHEAD_SERVER", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut url = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut url)
            .unwrap();
        ServerProcess {
            child,
            url: url.trim().to_owned(),
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[derive(Clone)]
enum Caller {
    Typed(ManagementClient),
    Plain(reqwest::Client, String),
}

impl Caller {
    async fn call(&self, n: usize) {
        let user = format!("user-{n}@example.com");
        match self {
            Caller::Typed(client) => {
                let secret = client
                    .get_otp_secret_by_user(&UserRef::email(user).unwrap())
                    .await
                    .unwrap();
                assert_eq!(secret.expose_secret(), SECRET);
            }
            Caller::Plain(http, base) => {
                let answer: PlainAnswer = http
                    .get(format!("{base}/api/v3/get-otp-secret-by-user"))
                    .query(&[("userId", user.as_str()), ("userIdType", "email")])
                    // The same request on the wire as the typed client's, header for header.
                    .header("accept", "application/json")
                    .header("api-version", "3.0")
                    .bearer_auth(TOKEN)
                    .header("x-authing-sdk-version", authing_otp::SDK_VERSION)
                    .header("x-authing-userpool-id", "up-fixed")
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                assert_eq!(answer.status_code, 200.0);
                assert_eq!(answer.data.secret, SECRET);
            }
        }
    }
}

/// `calls` calls spread over `concurrency` tasks: the client's CPU time per call.
async fn measure(caller: &Caller, calls: usize, concurrency: usize) -> Duration {
    let next = Arc::new(AtomicUsize::new(0));
    let cpu = cpu_time();
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            let (caller, next) = (caller.clone(), next.clone());
            tokio::spawn(async move {
                loop {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    if n >= calls {
                        break;
                    }
                    caller.call(n).await;
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    (cpu_time() - cpu) / calls as u32
}

fn median<T: Copy + PartialOrd>(mut values: Vec<T>) -> T {
    values.sort_by(|a, b| a.partial_cmp(b).unwrap());
    values[values.len() / 2]
}

fn range(values: &[f64]) -> String {
    let lo = values.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = values.iter().copied().fold(0.0, f64::max);
    format!("{lo:.3}–{hi:.3}")
}

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    if std::env::var_os("OVERHEAD_SERVER").is_some() {
        return serve();
    }
    // Under `cargo test --benches` only check that it runs.
    let quick = std::env::args().any(|a| a == "--test" || a == "--list");
    let rounds = if quick {
        1
    } else {
        env_number("OVERHEAD_ROUNDS", 7)
    };
    let base_calls = if quick {
        50
    } else {
        env_number("OVERHEAD_CALLS", 20_000)
    };
    let only = std::env::var("OVERHEAD_ONLY").ok();
    let server = ServerProcess::start();
    let pinned = pin_to(0);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let typed_client = |rps: Option<f64>| {
            let builder = ManagementClient::builder()
                .access_key("ak-bench", "sk-bench")
                .host(&server.url);
            let builder = match rps {
                Some(rps) => builder.rate_limit(rps),
                None => builder,
            };
            Caller::Typed(builder.build().unwrap())
        };
        let plain = Caller::Plain(
            authing_otp::tls::http_client_builder()
                .unwrap()
                .user_agent(concat!("authing-otp-rust/", env!("CARGO_PKG_VERSION")))
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap(),
            server.url.clone(),
        );
        let typed = typed_client(None);
        // A limit far above the achieved rate: its bookkeeping costs, its waits do not.
        let limited = typed_client(Some(1_000_000.0));
        if let Some(only) = only {
            let caller = if only == "plain" { &plain } else { &typed };
            for concurrency in [1, 32] {
                let cpu = measure(caller, base_calls * rounds, concurrency).await;
                println!("{only} c={concurrency}: {:.1} µs", cpu.as_secs_f64() * 1e6);
            }
            return;
        }
        println!(
            "client CPU per call (server in another process{}), median of {rounds} interleaved rounds",
            if pinned { "; client and server pinned to cores 0 and 1" } else { "" }
        );
        println!(
            "{:<12} {:>10} {:>10} {:>20} {:>14} {:>20}",
            "concurrency", "plain", "typed", "ratio (range)", "+ rate limit", "ratio (range)"
        );
        for (concurrency, calls) in [(1usize, base_calls), (32, 3 * base_calls)] {
            // Warm all three: connections, the token, the allocator.
            for caller in [&plain, &typed, &limited] {
                measure(caller, calls / 10 + 1, concurrency).await;
            }
            let (mut p, mut t, mut l) = (Vec::new(), Vec::new(), Vec::new());
            let (mut rt, mut rl) = (Vec::new(), Vec::new());
            for _ in 0..rounds {
                let plain_cpu = measure(&plain, calls, concurrency).await;
                let typed_cpu = measure(&typed, calls, concurrency).await;
                let limited_cpu = measure(&limited, calls, concurrency).await;
                rt.push(typed_cpu.as_secs_f64() / plain_cpu.as_secs_f64());
                rl.push(limited_cpu.as_secs_f64() / plain_cpu.as_secs_f64());
                p.push(plain_cpu);
                t.push(typed_cpu);
                l.push(limited_cpu);
            }
            let us = |d: Duration| format!("{:.1} µs", d.as_secs_f64() * 1e6);
            println!(
                "{concurrency:<12} {:>10} {:>10} {:>20} {:>14} {:>20}",
                us(median(p)),
                us(median(t)),
                format!("{:.3}× ({})", median(rt.clone()), range(&rt)),
                us(median(l)),
                format!("{:.3}× ({})", median(rl.clone()), range(&rl)),
            );
        }
    });
}
