//! The HTTP/1.1 server loop, with the connection hygiene a public endpoint needs:
//!
//! - a connection must deliver a request's headers within `header_timeout`, counted from when
//!   the server starts waiting for them: on a new connection, and after each answer on a
//!   kept-alive one (so it is also how long a kept-alive connection may sit idle);
//! - a connection on which no byte moves either way for `idle_timeout` is closed (a body that
//!   stopped, a client that stopped reading its answer);
//! - at most `max_connections` HTTP connections are served at once. At the limit, a new
//!   connection makes room by closing the oldest connection that has not yet been answered
//!   (idle, trickling its headers or its body: what stalled connections look like), so that
//!   connections held open cannot lock new clients out; only when every open connection has
//!   been answered at least once does a new one get `503` with `TOO_MANY_CONNECTIONS`;
//! - [`raise_fd_limit`] lifts the process's descriptor limit to its hard limit.
//!
//! Upgraded WebSocket connections leave the count when they upgrade (they have their own limit,
//! `WsSettings::max_connections`) and keep the idle timeout (they ping every few seconds).

use super::observability::CountedListener;
use super::rate_limit::ClientAddr;
use crate::error::ErrorCode;
use axum::extract::ConnectInfo;
use axum::serve::Listener as _;
use axum::Router;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch, Semaphore};
use tokio::time::{Instant, Sleep};
use tower_service::Service as _;

/// The `extensions.code` of a connection refused past the limit.
const TOO_MANY_CONNECTIONS: ErrorCode = ErrorCode::TooManyConnections;

/// Timeouts and the limit on open connections.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServerSettings {
    /// Time to deliver a request's headers, from when the server waits for them.
    pub header_timeout: Duration,
    /// Time a connection may go with no byte read or written.
    pub idle_timeout: Duration,
    /// HTTP connections served at once.
    pub max_connections: usize,
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_connections: 10_000,
        }
    }
}

/// Raises the soft limit on open file descriptors to the hard limit; the limit now in force
/// (`None` when unlimited or unknown).
pub fn raise_fd_limit() -> Option<u64> {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let limit = getrlimit(Resource::Nofile);
    if limit.current != limit.maximum {
        let raised = Rlimit {
            current: limit.maximum,
            maximum: limit.maximum,
        };
        if let Err(e) = setrlimit(Resource::Nofile, raised) {
            tracing::warn!(error = %e, soft = ?limit.current, hard = ?limit.maximum,
                "cannot raise the open file limit");
            return limit.current;
        }
    }
    getrlimit(Resource::Nofile).current
}

/// Serves `app` on `listener` until `shutdown` resolves, then lets open connections finish
/// their requests (each ends after its current answer) and returns once all are closed.
pub async fn serve(
    listener: CountedListener<TcpListener>,
    app: Router,
    settings: ServerSettings,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let mut listener = listener;
    let slots = Arc::new(Semaphore::new(settings.max_connections));
    let unanswered = Arc::new(Unanswered::default());
    let (stop, stopping) = watch::channel(false);
    let (refused, evicted) = (AtomicU64::new(0), AtomicU64::new(0));
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (io, addr) = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        let mut slot = slots.clone().try_acquire_owned().ok();
        if slot.is_none() && unanswered.evict_oldest() {
            let count = evicted.fetch_add(1, Ordering::Relaxed) + 1;
            if count == 1 || count.is_multiple_of(1000) {
                tracing::warn!(
                    limit = settings.max_connections,
                    evicted = count,
                    "connection limit reached: closing the oldest unanswered connections"
                );
            }
            // The evicted connection's task gives its slot back at its next poll.
            slot = tokio::time::timeout(EVICTION_WAIT, slots.clone().acquire_owned())
                .await
                .ok()
                .and_then(Result::ok);
        }
        let Some(slot) = slot else {
            let count = refused.fetch_add(1, Ordering::Relaxed) + 1;
            if count == 1 || count.is_multiple_of(1000) {
                tracing::warn!(
                    limit = settings.max_connections,
                    refused = count,
                    "connection limit reached: refusing new connections"
                );
            }
            tokio::spawn(refuse(io));
            continue;
        };
        let app = app.clone();
        let mut stopping = stopping.clone();
        let (ticket, mut eviction) = unanswered.enter();
        let unanswered = Arc::clone(&unanswered);
        tokio::spawn(async move {
            let answered = Arc::clone(&unanswered);
            let service =
                hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
                    request
                        .extensions_mut()
                        .insert(ConnectInfo(ClientAddr(addr)));
                    let answer = app.clone().call(request);
                    let answered = Arc::clone(&answered);
                    async move {
                        let response = answer.await;
                        answered.leave(ticket);
                        response
                    }
                });
            let io = TokioIo::new(Idle::new(io, settings.idle_timeout));
            let mut builder = http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(settings.header_timeout);
            let connection = builder.serve_connection(io, service).with_upgrades();
            let mut connection = std::pin::pin!(connection);
            let result = tokio::select! {
                result = connection.as_mut() => result,
                _ = async { let _ = stopping.wait_for(|stop| *stop).await; } => {
                    connection.as_mut().graceful_shutdown();
                    connection.await
                }
                // Dropping the connection closes it.
                Ok(()) = &mut eviction => Ok(()),
            };
            if let Err(e) = result {
                tracing::debug!(error = %e, "connection closed with an error");
            }
            unanswered.leave(ticket);
            drop(slot);
        });
    }
    drop(listener);
    let _ = stop.send(true);
    // Every slot back means every connection closed.
    let all = u32::try_from(settings.max_connections).unwrap_or(u32::MAX);
    let _ = slots.acquire_many(all).await;
    Ok(())
}

/// How long a new connection waits for the slot of the connection it evicted.
const EVICTION_WAIT: Duration = Duration::from_millis(500);

/// The open connections that have not been answered yet, oldest first: the ones a new
/// connection may evict at the limit. Each entry holds the sender that closes its connection.
#[derive(Default)]
struct Unanswered {
    next: AtomicU64,
    open: std::sync::Mutex<std::collections::BTreeMap<u64, oneshot::Sender<()>>>,
}

impl Unanswered {
    /// Registers a new connection: its ticket, and what resolves when it is evicted.
    fn enter(&self) -> (u64, oneshot::Receiver<()>) {
        let ticket = self.next.fetch_add(1, Ordering::Relaxed);
        let (evict, eviction) = oneshot::channel();
        self.lock().insert(ticket, evict);
        (ticket, eviction)
    }

    /// The connection was answered (or closed): it can no longer be evicted.
    fn leave(&self, ticket: u64) {
        self.lock().remove(&ticket);
    }

    /// Closes the oldest unanswered connection; false when there is none.
    fn evict_oldest(&self) -> bool {
        let mut open = self.lock();
        while let Some((_, evict)) = open.pop_first() {
            if evict.send(()).is_ok() {
                return true;
            }
        }
        false
    }

    fn lock(
        &self,
    ) -> std::sync::MutexGuard<'_, std::collections::BTreeMap<u64, oneshot::Sender<()>>> {
        // The map stays consistent whatever panicked while holding it.
        self.open
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// How long a connection over the limit has to send its request's headers before its refusal
/// is written anyway: a client that has not sent its request yet would not expect an answer.
const REFUSAL_READ: Duration = Duration::from_secs(1);

/// Answers a connection over the limit with 503 once its request's headers are in (or after
/// [`REFUSAL_READ`]), and closes it.
async fn refuse<T: AsyncRead + AsyncWrite + Unpin>(mut io: T) {
    let body = format!(
        r#"{{"errors":[{{"message":"the server has too many open connections; retry shortly","extensions":{{"code":"{TOO_MANY_CONNECTIONS}"}}}}]}}"#
    );
    let answer = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\
         retry-after: 1\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    let read_head = async {
        let mut head = Vec::with_capacity(1024);
        let mut buffer = [0u8; 1024];
        while head.len() < 16 * 1024 && !head.windows(4).any(|w| w == b"\r\n\r\n") {
            match io.read(&mut buffer).await {
                Ok(0) | Err(_) => return false,
                Ok(n) => head.extend_from_slice(&buffer[..n]),
            }
        }
        true
    };
    if let Ok(false) = tokio::time::timeout(REFUSAL_READ, read_head).await {
        return;
    }
    let write = async {
        io.write_all(answer.as_bytes()).await?;
        io.shutdown().await
    };
    if let Ok(Ok(())) = tokio::time::timeout(Duration::from_secs(1), write).await {
        // Closing with unread bytes would reset the connection, and the client could lose the
        // answer: read what is left of the request for a moment.
        let mut buffer = [0u8; 1024];
        let drain = async { while matches!(io.read(&mut buffer).await, Ok(n) if n > 0) {} };
        let _ = tokio::time::timeout(REFUSAL_READ, drain).await;
    }
}

/// A connection that fails with `TimedOut` once no byte has moved for `timeout`.
struct Idle<T> {
    io: T,
    timeout: Duration,
    deadline: Pin<Box<Sleep>>,
}

impl<T> Idle<T> {
    fn new(io: T, timeout: Duration) -> Self {
        Self {
            io,
            timeout,
            deadline: Box::pin(tokio::time::sleep(timeout)),
        }
    }

    fn moved(&mut self) {
        let next = Instant::now() + self.timeout;
        self.deadline.as_mut().reset(next);
    }

    /// On a pending operation: the timeout error once the deadline has passed.
    fn expired<R>(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<R>> {
        match self.deadline.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "no data moved on the connection within the idle timeout",
            ))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Idle<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        match Pin::new(&mut this.io).poll_read(cx, buf) {
            Poll::Ready(result) => {
                if buf.filled().len() > before {
                    this.moved();
                }
                Poll::Ready(result)
            }
            Poll::Pending => this.expired(cx),
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Idle<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        match Pin::new(&mut this.io).poll_write(cx, buf) {
            Poll::Ready(result) => {
                if matches!(result, Ok(n) if n > 0) {
                    this.moved();
                }
                Poll::Ready(result)
            }
            Poll::Pending => this.expired(cx),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        match Pin::new(&mut this.io).poll_write_vectored(cx, bufs) {
            Poll::Ready(result) => {
                if matches!(result, Ok(n) if n > 0) {
                    this.moved();
                }
                Poll::Ready(result)
            }
            Poll::Pending => this.expired(cx),
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        match Pin::new(&mut this.io).poll_flush(cx) {
            Poll::Pending => this.expired(cx),
            ready => ready,
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}
