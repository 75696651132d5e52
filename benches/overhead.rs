//! What the typed client costs over plain reqwest: the same GET (`getOtpSecretByUser`, token
//! mode, the answer parsed into a struct) against the same minimal in-process server on
//! loopback, at concurrency 1 and 32. `cargo bench -p authing-otp --bench overhead`.
//!
//! Reports the process's CPU time per call (user + system, from getrusage: client and server
//! together, the server's share being the same for both) and the ratio typed / plain, as the
//! median of several interleaved rounds. The typed client runs with its defaults (retries and
//! the retry budget on), and once more with a rate limit configured far above the achieved
//! rate, so that its bookkeeping is paid and its waits are not.

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
        let typed_client = |rps: Option<f64>| {
            let builder = ManagementClient::builder()
                .access_key("ak-bench", "sk-bench")
                .host(server.url());
            let builder = match rps {
                Some(rps) => builder.rate_limit(rps),
                None => builder,
            };
            Caller::Typed(builder.build().unwrap())
        };
        let typed = typed_client(None);
        // A limit far above the achieved rate: its bookkeeping costs, its waits do not.
        let limited = typed_client(Some(1_000_000.0));
        let plain = Caller::Plain(
            authing_otp::tls::http_client_builder()
                .unwrap()
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap(),
            server.url(),
        );
        println!(
            "{:<12} {:>12} {:>18} {:>12} {:>14} {:>14}",
            "concurrency", "plain", "typed (retries)", "ratio", "+ rate limit", "ratio"
        );
        for (concurrency, calls) in [(1usize, 20_000usize), (32, 60_000)] {
            let calls = if quick { 50 } else { calls };
            // Warm all three: connections, the token, the allocator.
            for caller in [&plain, &typed, &limited] {
                measure(caller, calls / 10 + 1, concurrency).await;
            }
            let (mut p, mut t, mut l) = (Vec::new(), Vec::new(), Vec::new());
            let (mut rt, mut rl) = (Vec::new(), Vec::new());
            for _ in 0..if quick { 1 } else { ROUNDS } {
                let (plain_cpu, _) = measure(&plain, calls, concurrency).await;
                let (typed_cpu, _) = measure(&typed, calls, concurrency).await;
                let (limited_cpu, _) = measure(&limited, calls, concurrency).await;
                rt.push(typed_cpu.as_secs_f64() / plain_cpu.as_secs_f64());
                rl.push(limited_cpu.as_secs_f64() / plain_cpu.as_secs_f64());
                p.push(plain_cpu);
                t.push(typed_cpu);
                l.push(limited_cpu);
            }
            let mid = |mut v: Vec<f64>| {
                v.sort_by(f64::total_cmp);
                v[v.len() / 2]
            };
            let us = |d: Duration| format!("{:.1} µs", d.as_secs_f64() * 1e6);
            println!(
                "{concurrency:<12} {:>12} {:>18} {:>11.3}x {:>14} {:>13.3}x",
                us(median(p)),
                us(median(t)),
                mid(rt),
                us(median(l)),
                mid(rl),
            );
        }
    });
}
