//! Load generator: the typed client against the in-process emulator, on loopback only.
//!
//! ```sh
//! cargo run --release --example loadgen -- [REQUESTS] [CONCURRENCY] [token|signature]
//! ```
//!
//! Seeds 1,000 users with OTP secrets, then reads REQUESTS secrets (default 20,000) by email
//! from CONCURRENCY tasks (default 32) sharing one client, and reports throughput, latency
//! percentiles and how many token requests were made. Client and emulator share the machine (and
//! its cores), so the figures bound the client's overhead from above. It stops by itself after
//! the requests, or after 60 seconds, whichever comes first.

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use authing_otp::{AuthScheme, ManagementClient, UserRef};
use authing_otp_emulator::{Emulator, User};
use secrecy::ExposeSecret;

const USERS: usize = 1_000;
const DEADLINE: Duration = Duration::from_secs(60);

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let requests: usize = args.next().map_or(Ok(20_000), |a| a.parse())?;
    let concurrency: usize = args.next().map_or(Ok(32), |a| a.parse())?;
    let auth: AuthScheme = args.next().map_or(Ok(AuthScheme::Token), |a| a.parse())?;

    let emulator = Emulator::builder()
        .users((0..USERS).map(|i| {
            User::new(format!("u-{i}"))
                .email(format!("user{i}@example.com"))
                .otp("HZ2F6J3AGNAVSOTV")
        }))
        .start()
        .await?;
    let client = ManagementClient::builder()
        .host(emulator.base_url())
        .access_key(
            emulator.access_key_id(),
            emulator.access_key_secret().expose_secret(),
        )
        .auth(auth)
        .build()?;
    let users: Arc<Vec<UserRef>> = Arc::new(
        (0..USERS)
            .map(|i| UserRef::email(format!("user{i}@example.com")))
            .collect::<Result<_, _>>()?,
    );

    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let (client, users, next) = (client.clone(), users.clone(), next.clone());
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut errors = 0usize;
                loop {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    if n >= requests || started.elapsed() > DEADLINE {
                        break;
                    }
                    let t = Instant::now();
                    match client.get_otp_secret_by_user(&users[n % users.len()]).await {
                        Ok(_) => latencies.push(t.elapsed()),
                        Err(_) => errors += 1,
                    }
                }
                (latencies, errors)
            })
        })
        .collect();
    let mut latencies = Vec::with_capacity(requests);
    let mut errors = 0;
    for worker in workers {
        let (l, e) = worker.await?;
        latencies.extend(l);
        errors += e;
    }
    let elapsed = started.elapsed();
    latencies.sort_unstable();
    let pct = |p: f64| {
        latencies
            .get(((latencies.len() as f64 - 1.0) * p) as usize)
            .map_or(0.0, |d| d.as_secs_f64() * 1e3)
    };
    let counters = emulator.counters();
    println!(
        "auth={auth:?} requests={} concurrency={concurrency} errors={errors} elapsed={:.2}s",
        latencies.len(),
        elapsed.as_secs_f64()
    );
    println!(
        "throughput={:.0} req/s  p50={:.3}ms p90={:.3}ms p99={:.3}ms max={:.3}ms  token_requests={}",
        latencies.len() as f64 / elapsed.as_secs_f64(),
        pct(0.50),
        pct(0.90),
        pct(0.99),
        pct(1.0),
        counters.token_requests
    );
    emulator.shutdown().await;
    Ok(())
}
