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
//! rounds, each ratio taken round by round, its range across rounds beside it. User time alone
//! is the client's code without the kernel's share of the network, which varies most.
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

/// CPU time of this process so far (its children not included): user + system, and user alone.
#[derive(Clone, Copy, Debug, Default, PartialEq, PartialOrd)]
struct Cpu {
    total: Duration,
    user: Duration,
}

impl Cpu {
    fn now() -> Self {
        // SAFETY: getrusage only writes the struct it is given.
        let usage = unsafe {
            let mut usage = std::mem::zeroed::<libc::rusage>();
            libc::getrusage(libc::RUSAGE_SELF, &mut usage);
            usage
        };
        let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
        Cpu {
            total: tv(usage.ru_utime) + tv(usage.ru_stime),
            user: tv(usage.ru_utime),
        }
    }

    /// Per call, since `start`.
    fn per_call_since(start: Cpu, calls: usize) -> Self {
        let now = Cpu::now();
        Cpu {
            total: (now.total - start.total) / calls as u32,
            user: (now.user - start.user) / calls as u32,
        }
    }
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
async fn measure(caller: &Caller, calls: usize, concurrency: usize) -> Cpu {
    let next = Arc::new(AtomicUsize::new(0));
    let start = Cpu::now();
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
    Cpu::per_call_since(start, calls)
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
                println!(
                    "{only} c={concurrency}: {:.1} µs",
                    cpu.total.as_secs_f64() * 1e6
                );
            }
            return;
        }
        println!(
            "the client's CPU per call (server in another process{}); median of {rounds} \
             interleaved rounds, the ratio's range across rounds in brackets",
            if pinned {
                "; client and server pinned to cores 0 and 1"
            } else {
                ""
            }
        );
        println!(
            "{:<12} {:<22} {:>10} {:>22} {:>10} {:>22}",
            "concurrency", "client", "user+sys", "ratio to plain", "user", "ratio to plain"
        );
        let us = |d: Duration| format!("{:.1} µs", d.as_secs_f64() * 1e6);
        let ratio = |r: Vec<f64>| format!("{:.3}× ({})", median(r.clone()), range(&r));
        for (concurrency, calls) in [(1usize, base_calls), (32, 3 * base_calls)] {
            let callers = [
                ("plain reqwest", &plain),
                ("authing-otp", &typed),
                ("  + rate limit", &limited),
            ];
            // Warm all three: connections, the token, the allocator.
            for (_, caller) in callers {
                measure(caller, calls / 10 + 1, concurrency).await;
            }
            let mut cpu: [Vec<Cpu>; 3] = Default::default();
            for _ in 0..rounds {
                for (i, (_, caller)) in callers.iter().enumerate() {
                    cpu[i].push(measure(caller, calls, concurrency).await);
                }
            }
            for (i, (name, _)) in callers.iter().enumerate() {
                let ratios = |of: fn(&Cpu) -> Duration| -> Vec<f64> {
                    cpu[i]
                        .iter()
                        .zip(&cpu[0])
                        .map(|(a, b)| of(a).as_secs_f64() / of(b).as_secs_f64())
                        .collect()
                };
                let total = median(cpu[i].iter().map(|c| c.total).collect());
                let user = median(cpu[i].iter().map(|c| c.user).collect());
                let (total_ratio, user_ratio) = if i == 0 {
                    (String::new(), String::new())
                } else {
                    (ratio(ratios(|c| c.total)), ratio(ratios(|c| c.user)))
                };
                println!(
                    "{:<12} {name:<22} {:>10} {total_ratio:>22} {:>10} {user_ratio:>22}",
                    if i == 0 {
                        concurrency.to_string()
                    } else {
                        String::new()
                    },
                    us(total),
                    us(user),
                );
            }
        }
    });
}
