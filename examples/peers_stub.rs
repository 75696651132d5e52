//! The loopback stub of the side-by-side benchmark (`benches/peers/run.sh`), in a process of its
//! own: answers the token endpoint and `getOtpSecretByUser` as fast as hyper can, accepts any
//! authentication, and counts (see `tests/support/stub_server.rs`).
//!
//! ```sh
//! cargo run --release --example peers_stub -- [--addr 127.0.0.1:0]
//! ```
//!
//! Prints `listening on http://ADDR` once it accepts connections. On SIGTERM or SIGINT it prints
//! its counters as one line of JSON on standard output and exits; `GET /__stats` answers the
//! same at any time. One thread (a current-thread runtime): pin it to a core of its own.

#[path = "../tests/support/stub_server.rs"]
mod stub_server;

use std::{io::Write, net::SocketAddr, sync::Arc};

use tokio::{
    net::TcpListener,
    signal::unix::{SignalKind, signal},
};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut addr: SocketAddr = "127.0.0.1:0".parse()?;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--addr" => addr = args.next().ok_or("--addr needs a value")?.parse()?,
            other => {
                return Err(format!("unknown argument {other:?}; usage: [--addr IP:PORT]").into());
            }
        }
    }
    if !addr.ip().is_loopback() {
        return Err("the stub listens on loopback addresses only".into());
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let listener = TcpListener::bind(addr).await?;
        let mut terminate = signal(SignalKind::terminate())?;
        let mut interrupt = signal(SignalKind::interrupt())?;
        println!("listening on http://{}", listener.local_addr()?);
        std::io::stdout().flush()?;
        let stats = Arc::new(stub_server::Stats::default());
        tokio::select! {
            _ = stub_server::serve(listener, stats.clone()) => {}
            _ = terminate.recv() => {}
            _ = interrupt.recv() => {}
        }
        println!("{}", stats.counts().to_json());
        std::io::stdout().flush()?;
        Ok(())
    })
}
