//! What the typed client costs over plain reqwest: the same GET (`getOtpSecretByUser`, token
//! mode, the answer parsed into a struct) against the same minimal in-process server on
//! loopback, at concurrency 1 and 32. `cargo bench -p authing-otp --bench overhead`.
//!
//! Reports the process's CPU time per call (user + system, from getrusage: client and server
//! together, the server's share being the same for both) and the ratio typed / plain, as the
//! median of several interleaved rounds. The typed client runs with its retries, retry budget
//! and a rate limit compiled in and configured (the limit far above the achieved rate).

#[path = "../tests/support/fixed_server.rs"]
mod fixed_server;

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use authing_otp::{ExposeSecret, ManagementClient, UserRef};
use fixed_server::{Canned, FixedServer, TOKEN};

const SECRET: &str = "HZ2F6J3AGNAVSOTV";
const ROUNDS: usize = 5;

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
                    .bearer_auth(TOKEN)
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

/// `calls` calls spread over `concurrency` tasks; the CPU time they took, per call.
async fn measure(caller: &Caller, calls: usize, concurrency: usize) -> (Duration, Duration) {
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let (cpu, wall) = (cpu_time(), Instant::now());
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            let (caller, next) = (caller.clone(), next.clone());
            tokio::spawn(async move {
                loop {
                    let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
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
    let per_call = |d: Duration| d / calls as u32;
    (per_call(cpu_time() - cpu), per_call(wall.elapsed()))
}

fn median(mut values: Vec<Duration>) -> Duration {
    values.sort();
    values[values.len() / 2]
}

fn main() {
    // Under `cargo test --benches` only check that it runs.
    let quick = std::env::args().any(|a| a == "--test" || a == "--list");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let server = FixedServer::start(Canned::secret(SECRET)).await;
        let typed = Caller::Typed(
            ManagementClient::builder()
                .access_key("ak-bench", "sk-bench")
                .host(server.url())
                .rate_limit(1_000_000.0)
                .build()
                .unwrap(),
        );
        let plain = Caller::Plain(
            authing_otp::tls::http_client_builder()
                .unwrap()
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap(),
            server.url(),
        );
        println!(
            "{:<14} {:>14} {:>14} {:>8}",
            "concurrency", "typed CPU/call", "plain CPU/call", "ratio"
        );
        for (concurrency, calls) in [(1usize, 20_000usize), (32, 60_000)] {
            let calls = if quick { 50 } else { calls };
            // Warm both: connections, the token, the allocator.
            measure(&typed, calls / 10 + 1, concurrency).await;
            measure(&plain, calls / 10 + 1, concurrency).await;
            let (mut t, mut p, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
            for _ in 0..if quick { 1 } else { ROUNDS } {
                let (typed_cpu, _) = measure(&typed, calls, concurrency).await;
                let (plain_cpu, _) = measure(&plain, calls, concurrency).await;
                ratios.push(typed_cpu.as_secs_f64() / plain_cpu.as_secs_f64());
                t.push(typed_cpu);
                p.push(plain_cpu);
            }
            ratios.sort_by(f64::total_cmp);
            println!(
                "{concurrency:<14} {:>11.1} µs {:>11.1} µs {:>7.3}x   (ratios {:.3}..{:.3})",
                median(t).as_secs_f64() * 1e6,
                median(p).as_secs_f64() * 1e6,
                ratios[ratios.len() / 2],
                ratios[0],
                ratios[ratios.len() - 1],
            );
        }
    });
}
