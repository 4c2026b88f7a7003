//! When to try a failed delivery again: exponential backoff bounded by a
//! deadline, and the server's `Retry-After` honoured. Pure; the runner
//! sleeps.

use crate::config::DeliveryConfig;
use chrono::{DateTime, Utc};
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
    /// No attempt starts later than this after the first one.
    pub deadline: Duration,
}

impl From<&DeliveryConfig> for RetryPolicy {
    fn from(config: &DeliveryConfig) -> Self {
        RetryPolicy {
            initial_backoff: config.initial_backoff,
            max_backoff: config.max_backoff,
            deadline: config.deadline,
        }
    }
}

impl RetryPolicy {
    /// How long to wait after failed attempt number `attempt` (1-based),
    /// `elapsed` after the first attempt began; `None` means give up.
    /// A `Retry-After` longer than the backoff wins; one beyond the
    /// deadline means giving up now rather than ignoring the server.
    pub fn next_delay(
        &self,
        attempt: u32,
        elapsed: Duration,
        retry_after: Option<Duration>,
    ) -> Option<Duration> {
        let exponent = attempt.saturating_sub(1).min(30);
        let backoff = self
            .initial_backoff
            .saturating_mul(1u32 << exponent)
            .min(self.max_backoff);
        let delay = retry_after.map_or(backoff, |ra| ra.max(backoff));
        (elapsed.saturating_add(delay) <= self.deadline).then_some(delay)
    }
}

/// `Retry-After` as seconds or an HTTP date; a date in the past means now.
pub fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = DateTime::parse_from_rfc2822(value)
        .ok()?
        .with_timezone(&Utc);
    Some((at - now).to_std().unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(4),
            deadline: Duration::from_secs(10),
        }
    }

    #[test]
    fn backoff_doubles_each_attempt_up_to_the_maximum() {
        let delays: Vec<_> = (1..=5)
            .map(|a| policy().next_delay(a, Duration::ZERO, None))
            .collect();
        let ms = |v: u64| Some(Duration::from_millis(v));
        assert_eq!(
            delays,
            vec![ms(500), ms(1000), ms(2000), ms(4000), ms(4000)]
        );
    }

    #[test]
    fn a_retry_after_longer_than_the_backoff_is_honoured() {
        let delay = policy().next_delay(1, Duration::ZERO, Some(Duration::from_secs(3)));
        assert_eq!(delay, Some(Duration::from_secs(3)));
    }

    #[test]
    fn no_attempt_is_planned_past_the_deadline() {
        assert_eq!(policy().next_delay(3, Duration::from_secs(9), None), None);
        assert_eq!(
            policy().next_delay(1, Duration::ZERO, Some(Duration::from_secs(60))),
            None
        );
    }

    #[test]
    fn retry_after_is_read_as_seconds_or_as_an_http_date() {
        let now = DateTime::parse_from_rfc3339("2026-11-22T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse_retry_after("Sun, 22 Nov 2026 10:00:30 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(parse_retry_after("soon", now), None);
    }
}
