//! Per-client rate limiting of anonymous GraphQL traffic: a token bucket per client address,
//! in this process (each instance limits on its own). A request with a valid operator token is
//! not limited. Past the limit: 429 with `Retry-After`.
//!
//! The bucket is checked first: a request within its client's budget goes on without any token
//! lookup here (the handler identifies its caller), and a request over it is exempt only if its
//! bearer token is one of the operator tokens this limiter last read from the database (read
//! again at most once per [`OPERATORS_REFRESH`]). So a flood with made-up `Authorization`
//! headers costs what anonymous traffic costs: a hash and a comparison, no database query. A
//! token created or revoked a moment ago is seen by the limiter within that interval.
//!
//! The client is the peer address of the connection, or, behind a trusted reverse proxy
//! (`trust_forwarded_for`), the last address of `X-Forwarded-For` (the one the proxy added).
//! IPv6 clients are limited per /64, the block one subscriber usually holds.

use super::observability::CountedListener;
use super::reply::{refusal, Media};
use crate::auth;
use crate::error::ErrorCode;
use axum::extract::connect_info::Connected;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use axum::serve::{IncomingStream, Listener};
use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use techbalance_store::Store;
use tokio::net::TcpListener;

/// The `extensions.code` of a limited request.
pub(super) const CODE: ErrorCode = ErrorCode::RateLimited;

/// How long the operator tokens read from the database are trusted to exempt a request.
pub(super) const OPERATORS_REFRESH: Duration = Duration::from_secs(1);

/// Clients remembered at most; past it, clients whose bucket has refilled are forgotten.
const MAX_CLIENTS: usize = 100_000;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RateLimitSettings {
    /// Requests per second each client may sustain; 0 turns limiting off.
    pub per_second: f64,
    /// Requests a client may make at once after being idle.
    pub burst: u32,
    /// Whether the client address is taken from `X-Forwarded-For` (behind a reverse proxy).
    pub trust_forwarded_for: bool,
}

impl Default for RateLimitSettings {
    fn default() -> Self {
        Self {
            per_second: 10.0,
            burst: 100,
            trust_forwarded_for: false,
        }
    }
}

/// The peer address of a connection, for `into_make_service_with_connect_info::<ClientAddr>()`
/// on the server's listener, counted or not (axum provides `SocketAddr` for a bare `TcpListener`
/// only).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientAddr(pub SocketAddr);

impl<L> Connected<IncomingStream<'_, CountedListener<L>>> for ClientAddr
where
    L: Listener<Addr = SocketAddr>,
{
    fn connect_info(stream: IncomingStream<'_, CountedListener<L>>) -> Self {
        ClientAddr(*stream.remote_addr())
    }
}

impl Connected<IncomingStream<'_, TcpListener>> for ClientAddr {
    fn connect_info(stream: IncomingStream<'_, TcpListener>) -> Self {
        ClientAddr(*stream.remote_addr())
    }
}

/// The limiter of a router, shared by its requests.
pub(super) struct RateLimiter {
    buckets: Buckets,
    operators: Operators,
}

/// The hashes of the operator tokens in force, as last read.
struct Operators {
    store: Store,
    known: tokio::sync::Mutex<Known>,
}

#[derive(Default)]
struct Known {
    hashes: Vec<String>,
    read_at: Option<Instant>,
}

impl Operators {
    /// Whether the `Authorization` header carries an operator token, as far as the tokens read
    /// at most [`OPERATORS_REFRESH`] ago tell. Reads them again when older (one reader at a
    /// time; the others wait for it, then use what it read).
    async fn include(&self, authorization: &str) -> bool {
        let Some(token) = auth::bearer_token(authorization) else {
            return false;
        };
        let presented = auth::hash(token);
        let mut known = self.known.lock().await;
        if known
            .read_at
            .is_none_or(|at| at.elapsed() >= OPERATORS_REFRESH)
        {
            match self.store.tokens().await {
                Ok(tokens) => {
                    known.hashes = tokens
                        .into_iter()
                        .filter(|t| t.revoked_at.is_none())
                        .map(|t| t.token_hash)
                        .collect();
                }
                Err(e) => tracing::warn!(error = %e, "could not read tokens"),
            }
            known.read_at = Some(Instant::now());
        }
        // Compare against every token, without stopping at the first match.
        known.hashes.iter().fold(false, |found, hash| {
            auth::constant_time_eq(presented.as_bytes(), hash.as_bytes()) | found
        })
    }
}

/// One token bucket per client.
struct Buckets {
    settings: RateLimitSettings,
    map: Mutex<HashMap<IpAddr, Bucket>>,
}

#[derive(Clone, Copy, Debug)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

impl RateLimiter {
    pub(super) fn new(settings: RateLimitSettings, store: Store) -> Arc<Self> {
        Arc::new(Self {
            buckets: Buckets::new(settings),
            operators: Operators {
                store,
                known: tokio::sync::Mutex::new(Known::default()),
            },
        })
    }
}

impl Buckets {
    fn new(settings: RateLimitSettings) -> Self {
        Self {
            settings,
            map: Mutex::new(HashMap::new()),
        }
    }

    fn enabled(&self) -> bool {
        self.settings.per_second > 0.0
    }

    /// Takes a token for `client`, or says how long until one is there.
    fn take(&self, client: IpAddr, now: Instant) -> Result<(), Duration> {
        let RateLimitSettings {
            per_second, burst, ..
        } = self.settings;
        let burst = f64::from(burst.max(1));
        let mut buckets = self.map.lock().unwrap_or_else(|e| e.into_inner());
        if buckets.len() >= MAX_CLIENTS && !buckets.contains_key(&client) {
            buckets.retain(|_, b| {
                b.tokens + now.duration_since(b.updated).as_secs_f64() * per_second < burst
            });
            if buckets.len() >= MAX_CLIENTS {
                tracing::warn!(
                    clients = buckets.len(),
                    "rate limiter full: forgetting clients"
                );
                buckets.clear();
            }
        }
        let bucket = buckets.entry(client).or_insert(Bucket {
            tokens: burst,
            updated: now,
        });
        let elapsed = now.duration_since(bucket.updated).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * per_second).min(burst);
        bucket.updated = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - bucket.tokens) / per_second))
        }
    }
}

/// The middleware: limits `/graphql`, before any token is looked up (see the module
/// documentation).
pub(super) async fn limit(
    State(limiter): State<Arc<RateLimiter>>,
    request: Request,
    next: Next,
) -> Response {
    if !limiter.buckets.enabled() || request.uri().path() != "/graphql" {
        return next.run(request).await;
    }
    let Some(client) = client_address(&request, limiter.buckets.settings.trust_forwarded_for)
    else {
        return next.run(request).await;
    };
    let Err(wait) = limiter.buckets.take(client, Instant::now()) else {
        return next.run(request).await;
    };
    let authorization = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    if let Some(authorization) = authorization {
        if limiter.operators.include(authorization).await {
            return next.run(request).await;
        }
    }
    let seconds = wait.as_secs_f64().ceil().max(1.0) as u64;
    tracing::info!(%client, retry_after = seconds, "rate limited");
    let mut response = refusal(
        Media::negotiate(request.headers()),
        StatusCode::TOO_MANY_REQUESTS,
        CODE,
        format!("too many requests from this address; retry in {seconds} s"),
    );
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    response
}

/// The client's address as the limiter keys it; `None` when the server was not started with
/// connection info (an in-process router under test).
pub(super) fn client_address(request: &Request, trust_forwarded_for: bool) -> Option<IpAddr> {
    let forwarded = trust_forwarded_for
        .then(|| {
            request
                .headers()
                .get_all("x-forwarded-for")
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(','))
                .next_back()
                .and_then(|last| last.trim().parse::<IpAddr>().ok())
        })
        .flatten();
    let extensions = request.extensions();
    let address = forwarded
        .or_else(|| {
            extensions
                .get::<ConnectInfo<ClientAddr>>()
                .map(|ConnectInfo(ClientAddr(peer))| peer.ip())
        })
        .or_else(|| {
            extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|ConnectInfo(peer)| peer.ip())
        })?;
    Some(match address {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
        v4 => v4,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(per_second: f64, burst: u32) -> Buckets {
        Buckets::new(RateLimitSettings {
            per_second,
            burst,
            trust_forwarded_for: false,
        })
    }

    #[test]
    fn a_client_gets_its_burst_then_the_sustained_rate() {
        let limiter = limiter(2.0, 3);
        let client: IpAddr = "192.0.2.1".parse().expect("ip");
        let other: IpAddr = "192.0.2.2".parse().expect("ip");
        let start = Instant::now();
        for _ in 0..3 {
            assert_eq!(limiter.take(client, start), Ok(()));
        }
        let wait = limiter.take(client, start).expect_err("limited");
        assert!(
            wait <= Duration::from_millis(500) && wait > Duration::ZERO,
            "{wait:?}"
        );
        // Another client has its own bucket.
        assert_eq!(limiter.take(other, start), Ok(()));
        // Half a second later, one more.
        let later = start + Duration::from_millis(500);
        assert_eq!(limiter.take(client, later), Ok(()));
        assert!(limiter.take(client, later).is_err());
    }
}
