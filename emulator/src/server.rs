//! The HTTP side: the accept loop, serving each connection, and what every request goes
//! through before its handler (counting, the rate limit, latency and injected faults).

use std::convert::Infallible;
use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::response::Response;
use http::StatusCode;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::{Service as _, service_fn};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, watch};
use tokio::task::JoinSet;

use crate::connections::{HEADER_READ_TIMEOUT, Registry, Slot, StallGuard};
use crate::faults;
use crate::handlers::{self, BINDINGS_PATH};
use crate::operation::Operation;
use crate::state::Shared;

/// How long a shutdown waits for in-flight requests before closing their connections.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Accepts connections until `shutdown` turns true, then lets in-flight requests finish (for
/// up to [`SHUTDOWN_GRACE`]) and closes everything.
///
/// A connection is accepted only once it has a slot (see [`Registry::reserve`]): while all are
/// taken, new connections wait in the kernel's backlog.
pub(crate) async fn serve(
    listener: TcpListener,
    shared: Arc<Shared>,
    shutdown: watch::Receiver<bool>,
) {
    let router = handlers::router(shared.clone());
    let registry = Registry::new(shared.max_connections);
    let mut connections = JoinSet::new();
    let mut stop = shutdown.clone();
    let mut reserved = None;
    loop {
        tokio::select! {
            () = stopped(&mut stop) => break,
            permit = registry.reserve(), if reserved.is_none() => reserved = Some(permit),
            accepted = listener.accept(), if reserved.is_some() => match accepted {
                Ok((stream, _peer)) => {
                    let Some(permit) = reserved.take() else { continue };
                    connections.spawn(serve_connection(
                        stream,
                        router.clone(),
                        shared.clone(),
                        shutdown.clone(),
                        registry.register(permit),
                    ));
                }
                // Out of file descriptors (the process's limit may be below max_connections):
                // free one if a connection idles. Either way, back off instead of spinning.
                Err(e) => {
                    if out_of_descriptors(&e) {
                        registry.evict_longest_waiting();
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drop(listener);
    let drain = async { while connections.join_next().await.is_some() {} };
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, drain).await;
    connections.abort_all();
}

/// Whether `accept` failed for want of a file descriptor: `EMFILE` or `ENFILE` (numbered
/// alike on Linux and the BSDs), `WSAEMFILE` on Windows.
fn out_of_descriptors(e: &io::Error) -> bool {
    let codes: &[i32] = if cfg!(windows) { &[10024] } else { &[23, 24] };
    e.raw_os_error().is_some_and(|code| codes.contains(&code))
}

/// Resolves once `shutdown` is true (or its sender is gone).
async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}

/// Serves one connection in `slot`. A [`Fault::DropConnection`](crate::Fault::DropConnection)
/// notifies `kill`, which drops the connection (closing the socket) without writing a response;
/// so does the registry evicting it while it waits on its client.
async fn serve_connection(
    stream: TcpStream,
    router: Router,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
    slot: Slot,
) {
    let _ = stream.set_nodelay(true);
    let kill = Arc::new(Notify::new());
    let conn = slot.conn().clone();
    let service = {
        let kill = kill.clone();
        let conn = conn.clone();
        let inner = TowerToHyperService::new(router);
        service_fn(move |mut request: hyper::Request<Incoming>| {
            // The head has arrived: the server works on it, except while a handler waits for
            // the body.
            conn.busy();
            request.extensions_mut().insert(conn.clone());
            let shared = shared.clone();
            let kill = kill.clone();
            let conn = conn.clone();
            let inner = inner.clone();
            async move {
                let response = handle(&shared, &kill, inner, request).await;
                // Then it is up to the client to read the answer and send the next request.
                conn.waiting();
                Ok::<_, Infallible>(response)
            }
        })
    };
    let connection = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .serve_connection(TokioIo::new(StallGuard::new(stream)), service);
    tokio::pin!(connection);
    loop {
        tokio::select! {
            _ = connection.as_mut() => return,
            () = kill.notified() => return,
            () = conn.evicted() => if conn.still_evicted() { return },
            () = stopped(&mut shutdown) => break,
        }
    }
    connection.as_mut().graceful_shutdown();
    loop {
        tokio::select! {
            _ = connection.as_mut() => return,
            () = kill.notified() => return,
            () = conn.evicted() => if conn.still_evicted() { return },
        }
    }
}

/// Counts the request, applies latency and faults, and hands the rest to the router.
async fn handle(
    shared: &Shared,
    kill: &Notify,
    router: TowerToHyperService<Router>,
    request: hyper::Request<Incoming>,
) -> Response {
    let op = Operation::from_path(request.uri().path());
    shared.counters.record(op);
    // Decided on arrival; the bindings endpoint is exempt (and does not count).
    let over_limit = shared.rate_limited
        && request.uri().path() != BINDINGS_PATH
        && !shared.rate().admit(Instant::now());
    let latency = shared.knobs().latency;
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    if let Some(fault) = shared.take_fault(op) {
        return match faults::response(fault) {
            Some(response) => response,
            None => {
                kill.notify_one();
                std::future::pending().await
            }
        };
    }
    if over_limit {
        return faults::throttled(StatusCode::TOO_MANY_REQUESTS, None);
    }
    match router.call(request).await {
        Ok(response) => response,
        Err(never) => match never {},
    }
}
