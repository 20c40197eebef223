//! The response cache: finished GraphQL answers, keyed on the request and the data version.
//!
//! - **Key**: a SHA-256 of the normalised document ([`normalise`]), the operation name, the
//!   variables and extensions (as JSON), the caller's role and the answer's variant (media type
//!   and content encoding), together with the **data version** read before the answer was
//!   computed. The data version is the store's change generation
//!   ([`Store::change_generation`], bumped by every change notice this process sends or
//!   receives, cluster-wide through PostgreSQL's `NOTIFY` or SQLite's `change_notices`) plus the
//!   mutations this process executed. An answer computed while a change committed is filed
//!   under the older version, so it is never served after the change.
//! - **Value**: the answer's status, headers and body bytes (compressed when the variant says
//!   so), and its `ETag`.
//! - **Bound**: the sum of the body sizes plus [`ENTRY_OVERHEAD`] per entry stays within
//!   `max_bytes`; the least recently used entries are evicted first. An answer larger than a
//!   quarter of the bound is not kept.
//! - **Single flight**: identical requests that arrive while the first is being computed wait
//!   for its answer instead of executing again (whether or not that answer is then kept).
//! - Nothing is served from the cache while PostgreSQL's change listener is disconnected (changes
//!   could be missed); its reconnection bumps the data version.

use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use futures_util::future::{BoxFuture, FutureExt, Shared};
use lru::LruCache;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::fmt::Write as _;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use techbalance_store::Store;
use tracing::Instrument as _;

/// What an entry costs beyond its body, in bytes: the key, the headers and the list node.
pub const ENTRY_OVERHEAD: usize = 256;

/// A finished answer, as it is sent.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    /// Content type, content encoding and the like (no `ETag`).
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// An answer the cache handed out.
#[derive(Clone, Debug)]
pub struct Cached {
    pub answer: Arc<Answer>,
    /// For an answer that may be kept: a strong entity tag from the key and the data version
    /// it was computed at (and this process: versions are counted per process, so a tag never
    /// matches another replica's answer).
    pub etag: Option<HeaderValue>,
}

/// The cache's counters, for `/metrics`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Bytes held (bodies plus [`ENTRY_OVERHEAD`] each).
    pub bytes: usize,
    pub entries: usize,
    /// The configured bound, in bytes.
    pub max_bytes: usize,
    pub hits: u64,
    pub misses: u64,
    /// Requests that waited for an identical request's answer instead of executing.
    pub coalesced: u64,
}

/// A cache shared by the clones of one server; off ([`ResponseCache::off`]) it keeps nothing.
#[derive(Clone, Default)]
pub struct ResponseCache(Option<Arc<Inner>>);

/// The identity of a request, before the data version is added.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RequestKey([u8; 32]);

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Key {
    request: RequestKey,
    version: u64,
}

type Flight = Shared<BoxFuture<'static, Cached>>;

struct Inner {
    max_bytes: usize,
    store: Store,
    /// Mutations executed by this process (their notices may arrive later, or not at all).
    local_changes: AtomicU64,
    /// Makes entity tags differ between processes.
    nonce: u64,
    state: Mutex<State>,
    hits: AtomicU64,
    misses: AtomicU64,
    coalesced: AtomicU64,
}

struct State {
    entries: LruCache<Key, Cached>,
    bytes: usize,
    in_flight: HashMap<Key, Flight>,
    /// The newest data version seen: entries of older ones are dropped when it grows.
    version: u64,
}

impl State {
    /// Drops every entry once the data version has passed theirs (none can be asked for again).
    fn forget_before(&mut self, version: u64) {
        if version > self.version {
            self.version = version;
            self.entries.clear();
            self.bytes = 0;
        }
    }
}

impl ResponseCache {
    /// A cache of at most `max_bytes` (see the module's bound); `0` is [`ResponseCache::off`].
    pub fn new(max_bytes: usize, store: Store) -> Self {
        if max_bytes == 0 {
            return Self::off();
        }
        let mut nonce = [0u8; 8];
        if getrandom::getrandom(&mut nonce).is_err() {
            nonce = u64::from(std::process::id()).to_le_bytes();
        }
        Self(Some(Arc::new(Inner {
            max_bytes,
            store,
            local_changes: AtomicU64::new(0),
            nonce: u64::from_le_bytes(nonce),
            state: Mutex::new(State {
                entries: LruCache::unbounded(),
                bytes: 0,
                in_flight: HashMap::new(),
                version: 0,
            }),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            coalesced: AtomicU64::new(0),
        })))
    }

    /// A cache that keeps nothing and coalesces nothing.
    pub fn off() -> Self {
        Self(None)
    }

    /// Whether answers may be served from the cache now: it is on and changes reach this
    /// process.
    pub fn usable(&self) -> bool {
        self.0
            .as_ref()
            .is_some_and(|inner| inner.store.change_listener_connected())
    }

    /// Counts a change this process made outside the change notices (an executed mutation):
    /// every answer computed before it is stale from now on.
    pub fn note_local_change(&self) {
        if let Some(inner) = &self.0 {
            inner.local_changes.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// The kept answer to the request `key` at the current data version, if any. `None` too
    /// when the cache is not [`usable`](Self::usable).
    pub fn get(&self, key: RequestKey) -> Option<Cached> {
        let inner = self.0.as_ref().filter(|_| self.usable())?;
        let key = inner.key(key);
        let mut state = inner.lock();
        state.forget_before(key.version);
        let found = state.entries.get(&key).cloned();
        drop(state);
        if found.is_some() {
            inner.hits.fetch_add(1, Ordering::Relaxed);
        }
        found
    }

    /// The answer to the request `key`: from the cache, from an identical request being
    /// computed now, or from `compute`, whose answer is kept when it says so (`true`).
    /// `compute` runs as a task of its own, so it finishes (and frees what it holds) even
    /// when every request waiting for it has gone. `Err(compute)` when the cache is not
    /// [`usable`](Self::usable): compute it yourself.
    pub async fn get_or_compute<F>(&self, key: RequestKey, compute: F) -> Result<Cached, F>
    where
        F: Future<Output = (Answer, bool)> + Send + 'static,
    {
        let Some(inner) = self.0.as_ref().filter(|_| self.usable()) else {
            return Err(compute);
        };
        let key = inner.key(key);
        let flight = {
            let mut state = inner.lock();
            state.forget_before(key.version);
            if let Some(found) = state.entries.get(&key) {
                inner.hits.fetch_add(1, Ordering::Relaxed);
                return Ok(found.clone());
            }
            inner.misses.fetch_add(1, Ordering::Relaxed);
            if let Some(flight) = state.in_flight.get(&key) {
                inner.coalesced.fetch_add(1, Ordering::Relaxed);
                flight.clone()
            } else {
                let owner = inner.clone();
                let task = tokio::spawn(
                    async move {
                        let (answer, keep) = compute.await;
                        owner.settle(key, answer, keep)
                    }
                    .instrument(tracing::Span::current()),
                );
                let flight = async move {
                    task.await.unwrap_or_else(|error| {
                        tracing::error!(%error, "a GraphQL execution failed");
                        Cached {
                            answer: Arc::new(Answer {
                                status: StatusCode::INTERNAL_SERVER_ERROR,
                                headers: HeaderMap::new(),
                                body: Bytes::new(),
                            }),
                            etag: None,
                        }
                    })
                }
                .boxed()
                .shared();
                state.in_flight.insert(key, flight.clone());
                flight
            }
        };
        Ok(flight.await)
    }

    /// The entity tag a kept answer to `key` has at the current data version: a client that
    /// holds it holds the current answer.
    pub fn etag(&self, key: RequestKey) -> Option<HeaderValue> {
        let inner = self.0.as_ref().filter(|_| self.usable())?;
        Some(inner.etag(inner.key(key)))
    }

    /// The counters now (all zero when off).
    pub fn stats(&self) -> CacheStats {
        let Some(inner) = &self.0 else {
            return CacheStats::default();
        };
        let state = inner.lock();
        CacheStats {
            bytes: state.bytes,
            entries: state.entries.len(),
            max_bytes: inner.max_bytes,
            hits: inner.hits.load(Ordering::Relaxed),
            misses: inner.misses.load(Ordering::Relaxed),
            coalesced: inner.coalesced.load(Ordering::Relaxed),
        }
    }
}

impl Inner {
    fn key(&self, request: RequestKey) -> Key {
        Key {
            request,
            version: self.version(),
        }
    }

    fn etag(&self, key: Key) -> HeaderValue {
        let mut tag = String::with_capacity(2 + 32 + 34);
        tag.push('"');
        for byte in &key.request.0[..16] {
            let _ = write!(tag, "{byte:02x}");
        }
        let _ = write!(tag, "-{:x}-{:x}\"", self.nonce, key.version);
        HeaderValue::from_str(&tag).unwrap_or_else(|_| HeaderValue::from_static("\"\""))
    }

    fn version(&self) -> u64 {
        // Both only grow, so their sum grows with every change either counts.
        self.store
            .change_generation()
            .wrapping_add(self.local_changes.load(Ordering::SeqCst))
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves a consistent map (no invariant spans a panic).
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Ends the flight of `key` and keeps its answer, unless it is not to be kept, is too
    /// large, or the data changed while it was computed (it would never be asked for again).
    fn settle(&self, key: Key, answer: Answer, keep: bool) -> Cached {
        let weight = answer.body.len() + ENTRY_OVERHEAD;
        let cached = Cached {
            answer: Arc::new(answer),
            etag: keep.then(|| self.etag(key)),
        };
        let mut state = self.lock();
        state.in_flight.remove(&key);
        if !keep || weight > self.max_bytes / 4 || key.version != self.version() {
            return cached;
        }
        if let Some(old) = state.entries.put(key, cached.clone()) {
            state.bytes -= old.answer.body.len() + ENTRY_OVERHEAD;
        }
        state.bytes += weight;
        while state.bytes > self.max_bytes {
            let Some((_, evicted)) = state.entries.pop_lru() else {
                break;
            };
            state.bytes -= evicted.answer.body.len() + ENTRY_OVERHEAD;
        }
        cached
    }
}

impl RequestKey {
    /// The key of a request: its normalised document, operation name, variables, extensions,
    /// the caller's `role` and the answer's `variant`.
    pub fn of(request: &async_graphql::Request, role: &str, variant: &str) -> Self {
        let mut hasher = Sha256::new();
        let mut part = |bytes: &[u8]| {
            hasher.update((bytes.len() as u64).to_le_bytes());
            hasher.update(bytes);
        };
        part(normalise(&request.query).as_bytes());
        part(request.operation_name.as_deref().unwrap_or("").as_bytes());
        part(&serde_json::to_vec(&request.variables).unwrap_or_default());
        let mut extensions: Vec<_> = request.extensions.0.iter().collect();
        extensions.sort_by(|a, b| a.0.cmp(b.0));
        for (name, value) in extensions {
            part(name.as_bytes());
            part(&serde_json::to_vec(value).unwrap_or_default());
        }
        part(role.as_bytes());
        part(variant.as_bytes());
        Self(hasher.finalize().into())
    }
}

/// A GraphQL document with its insignificant characters removed: comments, and runs of white
/// space and commas, which become one space between two names and nothing elsewhere. Strings
/// and block strings are kept as they are. Two documents that differ only in layout normalise
/// to the same text.
pub fn normalise(document: &str) -> String {
    let mut out = String::with_capacity(document.len());
    let mut chars = document.chars().peekable();
    let mut gap = false;
    let is_name = |c: char| c.is_ascii_alphanumeric() || c == '_';
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' | '\n' | '\r' | ',' | '\u{feff}' => gap = true,
            '#' => {
                gap = true;
                for c in chars.by_ref() {
                    if c == '\n' || c == '\r' {
                        break;
                    }
                }
            }
            _ => {
                if gap && out.chars().next_back().is_some_and(is_name) && (is_name(c) || c == '$') {
                    out.push(' ');
                }
                gap = false;
                out.push(c);
                if c == '"' {
                    copy_string(&mut chars, &mut out);
                }
            }
        }
    }
    out
}

/// Copies the rest of a string (or a block string) whose first quote is already copied.
fn copy_string(chars: &mut std::iter::Peekable<std::str::Chars<'_>>, out: &mut String) {
    let mut probe = chars.clone();
    let block = probe.next() == Some('"') && probe.next() == Some('"');
    if block {
        out.push_str("\"\"");
        chars.nth(1);
        let mut quotes = 0;
        for c in chars.by_ref() {
            out.push(c);
            quotes = if c == '"' { quotes + 1 } else { 0 };
            if quotes == 3 {
                return;
            }
        }
        return;
    }
    let mut escaped = false;
    for c in chars.by_ref() {
        out.push(c);
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '"' | '\n' => return,
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_that_differ_only_in_layout_normalise_alike() {
        let a = "query Q($y: Int) {\n  a: metric(slug: \"x\") { name, unit }  # comment\n  b }";
        let b = "query Q($y:Int){a:metric(slug:\"x\"){name unit} b}";
        assert_eq!(normalise(a), normalise(b));
        assert_eq!(
            normalise(b),
            "query Q($y:Int){a:metric(slug:\"x\"){name unit}b}"
        );
        // Spaces, commas and # inside strings are the document's data.
        assert_eq!(
            normalise("{ f(s: \"a,  b # c\\\" d\") }"),
            "{f(s:\"a,  b # c\\\" d\")}"
        );
        assert_eq!(
            normalise("{ f(s: \"\"\"x,  \"y\"\n z\"\"\") g }"),
            "{f(s:\"\"\"x,  \"y\"\n z\"\"\")g}"
        );
        assert_ne!(normalise("{ a b }"), normalise("{ ab }"));
        assert_eq!(
            normalise("query ($a: Int) { f(a: $a) }"),
            "query($a:Int){f(a:$a)}"
        );
        assert_eq!(normalise("query Q $a"), "query Q $a");
    }
}
