//! Bounds on connections: how many are open at once, and how long each may wait on its client.
//!
//! Every state a connection can be in ends within a bound: hyper closes one whose request head
//! (or, between requests, whose next request) does not arrive within [`HEADER_READ_TIMEOUT`];
//! a handler stops waiting for a body after [`BODY_READ_TIMEOUT`]; [`StallGuard`] drops one
//! whose client stops reading the answer for [`WRITE_STALL_TIMEOUT`]. And at most
//! `max_connections` are open: while all are taken the listener accepts nothing (newcomers wait
//! in the kernel's backlog), and the [`Registry`] closes the connection that has waited longest
//! on its client, once that wait reaches [`EVICTABLE_AFTER`], so that clients who send requests
//! get served even while others hold every slot open without sending any.

use std::collections::HashMap;
use std::future::Future as _;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, Sleep};

/// How long hyper waits for a request head: on a new connection, and between the requests of a
/// kept-alive one (an idle connection is closed after this long).
pub(crate) const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a handler waits for the whole request body, once the head has arrived.
pub(crate) const BODY_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// How long an answer may go without any byte of it being taken by the client.
pub(crate) const WRITE_STALL_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a connection must have waited on its client before it may be closed to make room
/// for a new one. Long enough that a client of a busy burst is not closed between its connect
/// and its request; short enough that a flood of idle connections does not keep others out.
pub(crate) const EVICTABLE_AFTER: Duration = Duration::from_secs(1);

/// How often a full registry looks again for a connection to close.
const RECHECK: Duration = Duration::from_millis(100);

/// `Conn::waiting_since` while the server works on one of the connection's requests.
const BUSY: u64 = u64::MAX;

/// `Conn::waiting_since` once the connection has been told to close (until a request gets
/// under way).
const EVICTED: u64 = u64::MAX - 1;

/// The open connections, and which of them are waiting on their clients.
pub(crate) struct Registry {
    slots: Arc<Semaphore>,
    open: Mutex<HashMap<u64, Arc<Conn>>>,
    next_id: AtomicU64,
    /// The origin of every `Conn::waiting_since`.
    epoch: Instant,
}

/// What the registry knows of one open connection; its task marks it busy or waiting.
pub(crate) struct Conn {
    /// Since when it has been waiting on its client, in nanoseconds after the registry's epoch;
    /// [`BUSY`] while the server works on a request, [`EVICTED`] once told to close.
    waiting_since: AtomicU64,
    epoch: Instant,
    evict: Notify,
}

impl Conn {
    /// From now on, the connection waits on its client (for a request, a body, or to read an
    /// answer).
    pub(crate) fn waiting(&self) {
        let now = nanos_since(self.epoch);
        let _ = self
            .waiting_since
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |v| {
                (v != EVICTED).then_some(now)
            });
    }

    /// From now on, the server works on one of the connection's requests. This overrides an
    /// eviction not yet carried out: a connection is only closed while it waits on its client.
    pub(crate) fn busy(&self) {
        self.waiting_since.store(BUSY, Ordering::Release);
    }

    /// Resolves when the registry wants the connection closed; then [`Self::still_evicted`]
    /// tells whether it should be.
    pub(crate) async fn evicted(&self) {
        self.evict.notified().await;
    }

    /// Whether the eviction stands: false if a request got under way since.
    pub(crate) fn still_evicted(&self) -> bool {
        self.waiting_since.load(Ordering::Acquire) != BUSY
    }
}

/// A connection's place in the registry; leaving it frees the slot.
pub(crate) struct Slot {
    registry: Arc<Registry>,
    id: u64,
    conn: Arc<Conn>,
    _permit: OwnedSemaphorePermit,
}

impl Slot {
    /// The connection's state.
    pub(crate) fn conn(&self) -> &Arc<Conn> {
        &self.conn
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.registry.open().remove(&self.id);
    }
}

impl Registry {
    /// A registry of at most `max` open connections (at least one).
    pub(crate) fn new(max: usize) -> Arc<Self> {
        Arc::new(Self {
            slots: Arc::new(Semaphore::new(max.clamp(1, Semaphore::MAX_PERMITS))),
            open: Mutex::default(),
            next_id: AtomicU64::new(0),
            epoch: Instant::now(),
        })
    }

    fn open(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Arc<Conn>>> {
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits for a free slot. While there is none, closes the connection that has waited
    /// longest on its client, if it has waited at least [`EVICTABLE_AFTER`].
    pub(crate) async fn reserve(&self) -> OwnedSemaphorePermit {
        loop {
            if let Ok(permit) = self.slots.clone().try_acquire_owned() {
                return permit;
            }
            self.evict_longest_waiting();
            tokio::select! {
                permit = self.slots.clone().acquire_owned() => {
                    return permit.expect("the semaphore is never closed");
                }
                () = tokio::time::sleep(RECHECK) => {}
            }
        }
    }

    /// Tells the connection that has waited longest on its client to close, if it has waited
    /// at least [`EVICTABLE_AFTER`]. Returns whether one was told.
    pub(crate) fn evict_longest_waiting(&self) -> bool {
        let Some(deadline) = nanos_since(self.epoch).checked_sub(nanos(EVICTABLE_AFTER)) else {
            return false;
        };
        let open = self.open();
        let oldest = open
            .values()
            .map(|conn| (conn.waiting_since.load(Ordering::Acquire), conn))
            .filter(|&(since, _)| since <= deadline)
            .min_by_key(|&(since, _)| since);
        let Some((since, conn)) = oldest else {
            return false;
        };
        // Unless it turned busy meanwhile: then it is not waiting on its client after all.
        let told = conn
            .waiting_since
            .compare_exchange(since, EVICTED, Ordering::AcqRel, Ordering::Acquire)
            .is_ok();
        if told {
            conn.evict.notify_one();
        }
        told
    }

    /// Registers a new connection in the slot `permit` holds; it starts waiting on its client.
    pub(crate) fn register(self: &Arc<Self>, permit: OwnedSemaphorePermit) -> Slot {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let conn = Arc::new(Conn {
            waiting_since: AtomicU64::new(nanos_since(self.epoch)),
            epoch: self.epoch,
            evict: Notify::new(),
        });
        self.open().insert(id, conn.clone());
        Slot {
            registry: self.clone(),
            id,
            conn,
            _permit: permit,
        }
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// Nanoseconds from `epoch` to now; never [`BUSY`] or [`EVICTED`] (that would take 584 years).
fn nanos_since(epoch: Instant) -> u64 {
    nanos(epoch.elapsed()).min(EVICTED - 1)
}

/// A connection's socket that fails a write the client has not made room for within
/// [`WRITE_STALL_TIMEOUT`], so that a client that stops reading cannot hold its connection
/// (and the answer being written) forever. Writes that are merely spaced out, as
/// [`Fault::Trickle`](crate::Fault::Trickle) spaces them, never stall.
pub(crate) struct StallGuard<S> {
    inner: S,
    /// Armed while a write waits for room; disarmed by any progress.
    stalled: Option<Pin<Box<Sleep>>>,
}

impl<S> StallGuard<S> {
    pub(crate) fn new(inner: S) -> Self {
        Self {
            inner,
            stalled: None,
        }
    }

    fn track<T>(&mut self, cx: &mut Context<'_>, poll: Poll<io::Result<T>>) -> Poll<io::Result<T>> {
        if poll.is_ready() {
            self.stalled = None;
            return poll;
        }
        let timer = self
            .stalled
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(WRITE_STALL_TIMEOUT)));
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the client took none of the answer for too long",
            ))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for StallGuard<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for StallGuard<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.inner).poll_write(cx, buf);
        this.track(cx, poll)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        this.track(cx, poll)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.inner).poll_flush(cx);
        this.track(cx, poll)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.inner).poll_shutdown(cx);
        this.track(cx, poll)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_longest_waiting_connection_is_evicted_once_it_has_waited_long_enough() {
        let registry = Registry::new(2);
        let first = registry.register(registry.reserve().await);
        tokio::time::advance(Duration::from_millis(10)).await;
        let second = registry.register(registry.reserve().await);
        assert!(registry.slots.clone().try_acquire_owned().is_err(), "full");
        assert!(
            !registry.evict_longest_waiting(),
            "nobody waited a second yet"
        );

        tokio::time::advance(EVICTABLE_AFTER).await;
        first.conn().busy();
        assert!(
            registry.evict_longest_waiting(),
            "the second has waited long enough"
        );
        assert_eq!(second.conn().waiting_since.load(Ordering::Acquire), EVICTED);
        second.conn().evicted().await;
        second.conn().waiting();
        assert_eq!(
            second.conn().waiting_since.load(Ordering::Acquire),
            EVICTED,
            "stays evicted while it waits"
        );
        assert!(second.conn().still_evicted());
        assert!(!registry.evict_longest_waiting(), "busy or already told");
        // A request got under way before the eviction was carried out: it stands no more.
        first.conn().waiting();
        tokio::time::advance(EVICTABLE_AFTER).await;
        assert!(registry.evict_longest_waiting());
        first.conn().busy();
        assert!(!first.conn().still_evicted());
        first.conn().evicted().await;

        drop(second);
        assert_eq!(registry.open().len(), 1);
        let third = registry.register(registry.reserve().await);
        drop((first, third));
        assert!(registry.open().is_empty());
    }
}
