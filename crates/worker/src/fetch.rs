//! The HTTP fetcher shared by the public sources: a polite client (User-Agent, timeouts, a few
//! requests at once) that retries what is worth retrying and says why it gave up.

use crate::sources::SourceError;
use chrono::{DateTime, Utc};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

const USER_AGENT: &str = concat!(
    "techbalance/",
    env!("CARGO_PKG_VERSION"),
    " (+https://github.com/techbalance/techbalance)"
);

#[derive(Clone, Debug)]
pub struct FetchSettings {
    pub connect_timeout: Duration,
    /// Whole attempt, body included.
    pub request_timeout: Duration,
    pub max_attempts: u32,
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    /// A 429 (or 5xx) whose Retry-After asks for longer than this gives up at once; the run then
    /// waits in the queue until the time the source asked for.
    pub max_retry_after: Duration,
    /// Requests in flight at once through one fetcher.
    pub concurrency: usize,
}

impl Default for FetchSettings {
    /// A dead source costs at most 3 × 15 s plus 2.25 s of backoff: given up within a minute.
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(15),
            max_attempts: 3,
            backoff_base: Duration::from_millis(500),
            backoff_max: Duration::from_secs(8),
            max_retry_after: Duration::from_secs(20),
            concurrency: 2,
        }
    }
}

/// A successful (2xx) answer to a GET.
#[derive(Clone, Debug)]
pub struct Response {
    pub status: u16,
    pub body: Vec<u8>,
    pub url: String,
}

/// Why a GET gave no 2xx answer.
#[derive(Debug)]
pub enum FetchError {
    /// Unreachable or throttled after every attempt allowed (or the client could not be built).
    Source(SourceError),
    /// The source answered a status outside 2xx that is not worth retrying (a 4xx; a 3xx, since
    /// redirects are not followed beyond the client's policy).
    Rejected(Rejection),
}

impl From<FetchError> for SourceError {
    /// A rejection is a refusal of the request ([`SourceError::Refused`]), its problem
    /// [`Rejection::problem`].
    fn from(error: FetchError) -> Self {
        match error {
            FetchError::Source(error) => error,
            FetchError::Rejected(rejection) => rejection.into_error(),
        }
    }
}

/// An answer outside 2xx that the fetcher does not retry, for the source to interpret (a 4xx
/// may refuse only some of the countries asked for; OECD's 404 `NoRecordsFound` means no data).
#[derive(Clone, Debug)]
pub struct Rejection {
    pub source_id: &'static str,
    pub status: u16,
    pub body: Vec<u8>,
    pub url: String,
}

impl Rejection {
    /// A 4xx: the source refused what was asked for.
    pub fn is_client_error(&self) -> bool {
        (400..500).contains(&self.status)
    }

    /// The body as text (invalid UTF-8 replaced).
    pub fn text(&self) -> std::borrow::Cow<'_, str> {
        String::from_utf8_lossy(&self.body)
    }

    /// `HTTP 400: <the body's first 200 characters, trimmed>` (`…` marks a cut).
    pub fn problem(&self) -> String {
        let text = self.text();
        let text = text.trim();
        let snippet = match text.char_indices().nth(200) {
            Some((end, _)) => format!("{}…", &text[..end]),
            None => text.to_owned(),
        };
        format!("HTTP {}: {snippet}", self.status)
    }

    /// [`SourceError::Refused`] naming the URL and [`Rejection::problem`].
    pub fn into_error(self) -> SourceError {
        SourceError::Refused {
            source_id: self.source_id,
            problem: self.problem(),
            url: self.url,
        }
    }
}

#[derive(Clone, Debug)]
pub struct Fetcher {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    source_id: &'static str,
    client: reqwest::Client,
    permits: Semaphore,
    settings: FetchSettings,
}

impl Fetcher {
    pub fn new(source_id: &'static str, settings: FetchSettings) -> Result<Self, SourceError> {
        let client = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .connect_timeout(settings.connect_timeout)
            .timeout(settings.request_timeout)
            .build()
            .map_err(|e| SourceError::Unreachable {
                source_id,
                url: String::new(),
                problem: format!("cannot build the HTTP client: {}", chain(&e)),
            })?;
        let permits = Semaphore::new(settings.concurrency.max(1));
        Ok(Self {
            inner: Arc::new(Inner {
                source_id,
                client,
                permits,
                settings,
            }),
        })
    }

    pub fn source_id(&self) -> &'static str {
        self.inner.source_id
    }

    /// GETs `url`, retrying 5xx, 429, timeouts and connection errors. A 2xx is the response; any
    /// other status is [`FetchError::Rejected`] (convert it with `?` into
    /// [`SourceError::Refused`], or interpret it first). The permit is held across retries, so a
    /// struggling source sees no more than `concurrency`.
    pub async fn get(&self, url: &str) -> Result<Response, FetchError> {
        let response = self.get_any(url).await.map_err(FetchError::Source)?;
        if (200..300).contains(&response.status) {
            return Ok(response);
        }
        Err(FetchError::Rejected(Rejection {
            source_id: self.inner.source_id,
            status: response.status,
            body: response.body,
            url: response.url,
        }))
    }

    /// [`Fetcher::get`] without the status check: the final answer, whatever its status.
    async fn get_any(&self, url: &str) -> Result<Response, SourceError> {
        let Inner {
            source_id,
            client,
            permits,
            settings,
        } = &*self.inner;
        let give_up = |problem: String| SourceError::Unreachable {
            source_id,
            url: url.to_owned(),
            problem,
        };
        let _permit = permits
            .acquire()
            .await
            .map_err(|_| give_up("the fetcher was shut down".into()))?;
        let max_attempts = settings.max_attempts.max(1);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let (problem, asked_wait) = match send(client, url).await {
                Ok((r, _)) if r.status != 429 && r.status < 500 => return Ok(r),
                Ok((r, retry_after)) => {
                    let now = Utc::now();
                    let asked = retry_after.and_then(|v| parse_retry_after(&v, now));
                    let throttled = |wait: Duration, problem: String| SourceError::Throttled {
                        source_id,
                        url: url.to_owned(),
                        problem,
                        retry_at: now
                            + chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::MAX),
                    };
                    if let Some(wait) = asked.filter(|w| *w > settings.max_retry_after) {
                        return Err(throttled(wait, format!(
                            "HTTP {} asking to retry after {}s, longer than the {}s waited within a run; gave up after {attempt} attempt(s)",
                            r.status,
                            wait.as_secs(),
                            settings.max_retry_after.as_secs()
                        )));
                    }
                    if let Some(wait) = asked.filter(|_| attempt >= max_attempts) {
                        return Err(throttled(
                            wait,
                            format!(
                            "HTTP {} asking to retry after {}s; gave up after {attempt} attempt(s)",
                            r.status,
                            wait.as_secs()
                        ),
                        ));
                    }
                    (format!("HTTP {}", r.status), asked)
                }
                Err(e) if e.is_builder() || e.is_redirect() => {
                    return Err(give_up(chain(&e.without_url())))
                }
                Err(e) if e.is_timeout() => (
                    format!("timed out after {:?}", settings.request_timeout),
                    None,
                ),
                Err(e) => (chain(&e.without_url()), None),
            };
            if attempt >= max_attempts {
                return Err(give_up(format!(
                    "{problem}; gave up after {attempt} attempt(s)"
                )));
            }
            let delay =
                asked_wait.unwrap_or_else(|| jittered(backoff(settings, attempt), fastrand::f64()));
            tracing::warn!(
                source = source_id,
                url = %crate::redact::text(url),
                attempt,
                problem = %crate::redact::text(&problem),
                ?delay,
                "retrying"
            );
            tokio::time::sleep(delay).await;
        }
    }
}

/// One attempt: the response and its `Retry-After` header.
async fn send(
    client: &reqwest::Client,
    url: &str,
) -> Result<(Response, Option<String>), reqwest::Error> {
    let response = client.get(url).send().await?;
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = response.bytes().await?.to_vec();
    Ok((
        Response {
            status,
            body,
            url: url.to_owned(),
        },
        retry_after,
    ))
}

/// `base × 2^(attempt-1)`, capped at `backoff_max`.
fn backoff(settings: &FetchSettings, attempt: u32) -> Duration {
    let factor = 2u32.saturating_pow(attempt.saturating_sub(1));
    settings
        .backoff_base
        .saturating_mul(factor)
        .min(settings.backoff_max)
}

/// Adds up to 50% of `delay`; `random` is in [0, 1).
fn jittered(delay: Duration, random: f64) -> Duration {
    delay + delay.mul_f64(random.clamp(0.0, 1.0) * 0.5)
}

/// `Retry-After` as delay-seconds or an HTTP-date (a date in the past means now).
fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = DateTime::parse_from_rfc2822(value).ok()?;
    Some(
        (at.with_timezone(&Utc) - now)
            .to_std()
            .unwrap_or(Duration::ZERO),
    )
}

/// An error with its causes, without the URL (the caller names it).
fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(e) = cause {
        text.push_str(": ");
        text.push_str(&e.to_string());
        cause = e.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_the_base_and_stops_at_the_cap() {
        let settings = FetchSettings::default();
        let delays: Vec<u64> = (1..=7)
            .map(|a| backoff(&settings, a).as_millis() as u64)
            .collect();
        assert_eq!(delays, [500, 1000, 2000, 4000, 8000, 8000, 8000]);
        assert_eq!(backoff(&settings, 200), settings.backoff_max);
    }

    #[test]
    fn jitter_adds_at_most_half_the_delay() {
        let delay = Duration::from_millis(1000);
        assert_eq!(jittered(delay, 0.0), delay);
        assert_eq!(jittered(delay, 0.5), Duration::from_millis(1250));
        assert!(jittered(delay, 0.999_999) <= Duration::from_millis(1500));
    }

    #[test]
    fn retry_after_is_read_as_seconds_or_as_an_http_date() {
        let now = DateTime::parse_from_rfc3339("2015-10-21T07:28:00Z")
            .expect("date")
            .with_timezone(&Utc);
        assert_eq!(
            parse_retry_after(" 120 ", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-5", now), None);
    }

    #[test]
    fn a_rejection_names_its_status_and_the_start_of_its_body() {
        let rejection = |status: u16, body: String| Rejection {
            source_id: "test",
            status,
            body: body.into_bytes(),
            url: "http://127.0.0.1:9/x".into(),
        };
        let short = rejection(400, "  Semantic Error \n".into());
        assert_eq!(short.problem(), "HTTP 400: Semantic Error");
        assert!(short.is_client_error());
        let long = rejection(302, "é".repeat(300));
        assert_eq!(long.problem(), format!("HTTP 302: {}…", "é".repeat(200)));
        assert!(!long.is_client_error());
        assert!(matches!(
            long.into_error(),
            SourceError::Refused { source_id: "test", url, .. } if url == "http://127.0.0.1:9/x"
        ));
    }

    #[test]
    fn the_user_agent_names_the_project_and_its_version() {
        assert!(USER_AGENT.starts_with(&format!(
            "techbalance/{} (+https://",
            env!("CARGO_PKG_VERSION")
        )));
    }
}
