//! The rate budget of one tracker instance (API URL + credential), shared
//! by every receiver that files there: a token bucket from the receivers'
//! `rate_limit`, paused further by what the tracker itself says — 429,
//! GitHub's 403 secondary limit, `Retry-After`, `X-RateLimit-Remaining`
//! (GitLab: `RateLimit-Remaining`) reaching 0 until `X-RateLimit-Reset`. The bucket decides purely from
//! the `now` it is given; [`RateBudget`] is the thin async runner around
//! it that adapters send every request through.

use crate::config::RateLimitConfig;
use crate::error::DeliveryError;
use crate::http::{into_result, USER_AGENT};
use crate::metrics;
use crate::retry::parse_retry_after;
use chrono::Utc;
use reqwest::header::HeaderMap;
use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tracing::warn;

/// When a tracker throttles without saying for how long: GitHub's docs
/// ask to wait at least a minute before retrying after a secondary limit.
const DEFAULT_THROTTLE_PAUSE: Duration = Duration::from_secs(60);
/// The longest one pause lasts before the request is tried again: a far
/// `X-RateLimit-Reset` is probed at least this often.
const MAX_PAUSE: Duration = Duration::from_secs(15 * 60);

/// A token bucket: `burst` tokens, refilled at `requests_per_minute`, and
/// an optional pause imposed by the tracker. Pure: every method takes now.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    capacity: f64,
    per_second: f64,
    tokens: f64,
    updated: Instant,
    paused_until: Option<Instant>,
}

impl TokenBucket {
    pub fn new(limit: RateLimitConfig, now: Instant) -> TokenBucket {
        let capacity = f64::from(limit.burst.max(1));
        TokenBucket {
            capacity,
            per_second: f64::from(limit.requests_per_minute.max(1)) / 60.0,
            tokens: capacity,
            updated: now,
            paused_until: None,
        }
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.updated).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.per_second).min(self.capacity);
        self.updated = self.updated.max(now);
    }

    /// Takes a token now, or says how long to wait before asking again.
    pub fn try_take(&mut self, now: Instant) -> Result<(), Duration> {
        if let Some(until) = self.paused_until {
            if now < until {
                return Err(until - now);
            }
            self.paused_until = None;
        }
        self.refill(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            return Ok(());
        }
        let missing = 1.0 - self.tokens;
        Err(Duration::from_secs_f64(missing / self.per_second).max(Duration::from_millis(1)))
    }

    /// The tracker asked for quiet until `until`; an earlier pause never
    /// shortens a later one.
    pub fn pause_until(&mut self, until: Instant) {
        self.paused_until = Some(self.paused_until.map_or(until, |p| p.max(until)));
    }

    pub fn paused_until(&self) -> Option<Instant> {
        self.paused_until
    }
}

/// What the tracker's answer says about the budget, read from headers
/// (and the status): pure, so it is tested without a server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// Nothing to do.
    Fine,
    /// Requests may go on, but none after this one until the pause ends
    /// (`X-RateLimit-Remaining: 0`).
    Exhausted(Duration),
    /// This request was refused for the rate; send it again after the
    /// pause.
    Throttled(Duration),
}

/// `now_unix`: wall-clock seconds, for `X-RateLimit-Reset`.
/// `body_says_rate_limit`: a 403 whose body mentions a rate limit (GitHub's
/// secondary limit answers 403 with "You have exceeded a secondary rate
/// limit"); a plain 403 is a permission error and no signal.
pub fn read_signal(
    status: u16,
    headers: &HeaderMap,
    body_says_rate_limit: bool,
    now_unix: i64,
) -> Signal {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let retry_after = text("retry-after").and_then(|v| parse_retry_after(v, Utc::now()));
    // GitHub says `X-RateLimit-*`; GitLab the unprefixed `RateLimit-*`.
    let header = |name: &str| text(&format!("x-{name}")).or_else(|| text(name));
    let remaining = header("ratelimit-remaining").and_then(|v| v.trim().parse::<u64>().ok());
    let until_reset = header("ratelimit-reset")
        .and_then(|v| v.trim().parse::<i64>().ok())
        .map(|reset| Duration::from_secs(u64::try_from(reset - now_unix).unwrap_or(0)));
    let exhausted = remaining == Some(0);
    let throttled = status == 429
        || (status == 403 && (body_says_rate_limit || exhausted || retry_after.is_some()));
    let pause = retry_after
        .or(if exhausted { until_reset } else { None })
        .unwrap_or(DEFAULT_THROTTLE_PAUSE);
    if throttled {
        Signal::Throttled(pause)
    } else if exhausted {
        Signal::Exhausted(until_reset.unwrap_or(DEFAULT_THROTTLE_PAUSE))
    } else {
        Signal::Fine
    }
}

/// One tracker instance's budget, shared by the receivers using it.
pub struct RateBudget {
    /// Metric label: the tracker kind (`github`, ...), bounded.
    tracker: &'static str,
    bucket: Mutex<TokenBucket>,
}

impl RateBudget {
    pub fn new(tracker: &'static str, limit: RateLimitConfig) -> RateBudget {
        RateBudget {
            tracker,
            bucket: Mutex::new(TokenBucket::new(limit, Instant::now())),
        }
    }

    fn with_bucket<T>(&self, f: impl FnOnce(&mut TokenBucket) -> T) -> T {
        // A poisoned lock only means a panic elsewhere mid-update; the
        // bucket's numbers are still usable.
        let mut bucket = self.bucket.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut bucket)
    }

    /// Waits for a token; the wait shows in
    /// `closeloop_tracker_requests_waiting`.
    pub async fn acquire(&self) {
        // Counted while waiting, and uncounted even if the wait is
        // dropped (shutdown, an aborted task).
        let mut waiting: Option<Waiting> = None;
        loop {
            match self.with_bucket(|b| b.try_take(Instant::now())) {
                Ok(()) => return,
                Err(wait) => {
                    waiting.get_or_insert_with(|| Waiting::new(self.tracker));
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }

    pub fn pause_for(&self, pause: Duration) {
        self.with_bucket(|b| b.pause_until(Instant::now() + pause));
    }

    /// Sends the request `build` makes, within the budget: waits for a
    /// token, honours the tracker's signals, and sends again (rebuilding
    /// it) when the tracker throttled it, for as long as it keeps
    /// throttling: a throttled request waits rather than fail, so a storm
    /// loses nothing to the retry deadline (the wait shows in
    /// `closeloop_tracker_requests_waiting`, and a record left waiting at
    /// shutdown is redelivered and found by its marker). A non-2xx answer
    /// that is no throttle becomes `DeliveryError::Status`, as
    /// `http::send` does.
    pub async fn send(
        &self,
        what: &str,
        build: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, DeliveryError> {
        let mut throttled = 0;
        loop {
            self.acquire().await;
            metrics::TRACKER_REQUESTS
                .with_label_values(&[self.tracker])
                .inc();
            let response = build()
                .header(reqwest::header::USER_AGENT, USER_AGENT)
                .send()
                .await
                .map_err(|e| DeliveryError::from_reqwest(what, &e))?;
            let status = response.status().as_u16();
            let headers = response.headers().clone();
            if status != 403 && status != 429 {
                if let Signal::Exhausted(pause) =
                    read_signal(status, &headers, false, Utc::now().timestamp())
                {
                    self.pause_for(pause.min(MAX_PAUSE));
                }
                return into_result(what, response).await;
            }
            let body = response.text().await.unwrap_or_default();
            let says_rate = body.to_ascii_lowercase().contains("rate limit");
            let Signal::Throttled(pause) =
                read_signal(status, &headers, says_rate, Utc::now().timestamp())
            else {
                return Err(crate::http::status_error(what, status, &headers, &body));
            };
            throttled += 1;
            metrics::TRACKER_THROTTLED
                .with_label_values(&[self.tracker])
                .inc();
            warn!(
                tracker = self.tracker,
                status,
                pause_s = pause.as_secs_f64(),
                attempt = throttled,
                "tracker throttled a request; pausing its budget"
            );
            self.pause_for(pause.min(MAX_PAUSE));
        }
    }
}

/// One request counted in `closeloop_tracker_requests_waiting`.
struct Waiting(&'static str);

impl Waiting {
    fn new(tracker: &'static str) -> Waiting {
        metrics::TRACKER_WAITING.with_label_values(&[tracker]).inc();
        Waiting(tracker)
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        metrics::TRACKER_WAITING.with_label_values(&[self.0]).dec();
    }
}

/// Hands out one [`RateBudget`] per tracker instance: the same API URL and
/// credential share one, whichever receivers configure it.
#[derive(Default)]
pub struct Budgets {
    by_instance: HashMap<(String, u64), Arc<RateBudget>>,
    limits: HashMap<(String, u64), RateLimitConfig>,
}

impl Budgets {
    /// `credential` is hashed at once and never kept.
    pub fn budget_for(
        &mut self,
        tracker: &'static str,
        api_url: &str,
        credential: &str,
        limit: RateLimitConfig,
    ) -> Arc<RateBudget> {
        let mut hasher = DefaultHasher::new();
        credential.hash(&mut hasher);
        let key = (api_url.trim_end_matches('/').to_string(), hasher.finish());
        let limit = match self.limits.get(&key) {
            // The strictest configured limit wins for a shared instance.
            Some(seen) => RateLimitConfig {
                requests_per_minute: seen.requests_per_minute.min(limit.requests_per_minute),
                burst: seen.burst.min(limit.burst),
            },
            None => limit,
        };
        if self.limits.get(&key) != Some(&limit) {
            self.limits.insert(key.clone(), limit);
            let budget = self
                .by_instance
                .entry(key.clone())
                .or_insert_with(|| Arc::new(RateBudget::new(tracker, limit)));
            budget.with_bucket(|b| *b = TokenBucket::new(limit, Instant::now()));
        }
        Arc::clone(
            self.by_instance
                .entry(key)
                .or_insert_with(|| Arc::new(RateBudget::new(tracker, limit))),
        )
    }
}

#[cfg(test)]
#[path = "rate_budget_tests.rs"]
mod tests;
