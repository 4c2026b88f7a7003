//! The bucket and the tracker's signals, stepping time by hand.

use super::*;
use reqwest::header::{HeaderMap, HeaderValue};

fn limit(per_minute: u32, burst: u32) -> RateLimitConfig {
    RateLimitConfig {
        requests_per_minute: per_minute,
        burst,
    }
}

#[test]
fn a_full_bucket_lets_a_burst_through_then_paces_at_the_rate() {
    // given 60/min with a burst of 3
    let t0 = Instant::now();
    let mut bucket = TokenBucket::new(limit(60, 3), t0);
    // when four requests come at once, then three go and the fourth waits ~1s
    for _ in 0..3 {
        assert_eq!(bucket.try_take(t0), Ok(()));
    }
    let wait = bucket.try_take(t0).unwrap_err();
    assert!(
        wait > Duration::from_millis(990) && wait <= Duration::from_secs(1),
        "{wait:?}"
    );
    // after one second exactly one more goes
    let t1 = t0 + Duration::from_secs(1);
    assert_eq!(bucket.try_take(t1), Ok(()));
    assert!(bucket.try_take(t1).is_err());
}

#[test]
fn a_thousand_requests_at_thirty_a_minute_take_the_time_the_budget_says() {
    // given 30/min, burst 10; when 1,000 requests each go as soon as allowed
    let t0 = Instant::now();
    let mut bucket = TokenBucket::new(limit(30, 10), t0);
    let mut now = t0;
    for _ in 0..1000 {
        while let Err(wait) = bucket.try_take(now) {
            now += wait;
        }
    }
    // then the last one goes after (1000 - 10) / 0.5 per second = 1980 s
    let took = (now - t0).as_secs_f64();
    assert!((took - 1980.0).abs() < 1.0, "{took}");
}

#[test]
fn a_pause_from_the_tracker_holds_every_request_until_it_ends() {
    let t0 = Instant::now();
    let mut bucket = TokenBucket::new(limit(60, 5), t0);
    bucket.pause_until(t0 + Duration::from_secs(30));
    // an earlier pause does not shorten it
    bucket.pause_until(t0 + Duration::from_secs(10));
    assert_eq!(
        bucket.try_take(t0 + Duration::from_secs(5)),
        Err(Duration::from_secs(25))
    );
    assert_eq!(bucket.try_take(t0 + Duration::from_secs(30)), Ok(()));
}

fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.insert(*name, HeaderValue::from_str(value).expect("header"));
    }
    map
}

#[test]
fn a_429_with_retry_after_is_a_throttle_for_that_long() {
    let signal = read_signal(429, &headers(&[("retry-after", "7")]), false, 0);
    assert_eq!(signal, Signal::Throttled(Duration::from_secs(7)));
}

#[test]
fn githubs_secondary_limit_403_is_a_throttle_and_a_plain_403_is_not() {
    assert_eq!(
        read_signal(403, &HeaderMap::new(), true, 0),
        Signal::Throttled(DEFAULT_THROTTLE_PAUSE)
    );
    assert_eq!(read_signal(403, &HeaderMap::new(), false, 0), Signal::Fine);
}

#[test]
fn remaining_zero_pauses_until_the_reset_time() {
    let h = headers(&[
        ("x-ratelimit-remaining", "0"),
        ("x-ratelimit-reset", "1100"),
    ]);
    assert_eq!(
        read_signal(201, &h, false, 1000),
        Signal::Exhausted(Duration::from_secs(100))
    );
    assert_eq!(
        read_signal(403, &h, false, 1000),
        Signal::Throttled(Duration::from_secs(100))
    );
    let plenty = headers(&[
        ("x-ratelimit-remaining", "4999"),
        ("x-ratelimit-reset", "1100"),
    ]);
    assert_eq!(read_signal(200, &plenty, false, 1000), Signal::Fine);
}

#[test]
fn gitlabs_unprefixed_ratelimit_headers_count_too() {
    // GitLab: `RateLimit-Remaining`, `RateLimit-Reset` (Unix seconds)
    // and `Retry-After` on its 429s (docs.gitlab.com, "Rate limits").
    let h = headers(&[("ratelimit-remaining", "0"), ("ratelimit-reset", "1030")]);
    assert_eq!(
        read_signal(200, &h, false, 1000),
        Signal::Exhausted(Duration::from_secs(30))
    );
}

#[test]
fn receivers_on_the_same_instance_and_token_share_one_budget() {
    let mut budgets = Budgets::default();
    let a = budgets.budget_for("github", "https://api.github.com", "t1", limit(30, 10));
    let b = budgets.budget_for("github", "https://api.github.com/", "t1", limit(30, 10));
    let other_token = budgets.budget_for("github", "https://api.github.com", "t2", limit(30, 10));
    assert!(Arc::ptr_eq(&a, &b));
    assert!(!Arc::ptr_eq(&a, &other_token));
}

#[tokio::test]
async fn a_request_waiting_for_the_budget_shows_in_the_waiting_gauge() {
    // given a budget of one request a minute, already spent
    let budget = Arc::new(RateBudget::new("gitlab", limit(1, 1)));
    budget.acquire().await;
    let gauge = || {
        metrics::TRACKER_WAITING
            .with_label_values(&["gitlab"])
            .get()
    };
    let before = gauge();
    // when a second request asks for a token, then it waits, visibly
    let waiting = tokio::spawn({
        let budget = Arc::clone(&budget);
        async move { budget.acquire().await }
    });
    for _ in 0..1000 {
        if gauge() == before + 1 {
            break;
        }
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    assert_eq!(gauge(), before + 1);
    // and a wait given up (shutdown) is no longer counted
    waiting.abort();
    let _ = waiting.await;
    assert_eq!(gauge(), before);
}
