//! When to poll a source next: its interval with jitter, exponential backoff after
//! failures, and the delays a server asks for (Retry-After, Cache-Control max-age,
//! RSS `<ttl>`). Pure functions, so the schedule is testable without a clock.

use std::time::Duration;

use chrono::{DateTime, Utc};

/// Longest delay a server's own hint can impose: a hostile or broken header must not
/// park a source for weeks.
pub const MAX_SERVER_HINT: Duration = Duration::from_secs(24 * 3600);

/// `Retry-After` as seconds or as an HTTP-date.
pub fn retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let v = value.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs).min(MAX_SERVER_HINT));
    }
    let at = DateTime::parse_from_rfc2822(v).ok()?.with_timezone(&Utc);
    Some(
        (at - now)
            .to_std()
            .unwrap_or(Duration::ZERO)
            .min(MAX_SERVER_HINT),
    )
}

/// `max-age` from a Cache-Control header.
pub fn max_age(cache_control: &str) -> Option<Duration> {
    cache_control.split(',').find_map(|d| {
        let (k, v) = d.split_once('=')?;
        if k.trim().eq_ignore_ascii_case("max-age") {
            v.trim()
                .trim_matches('"')
                .parse::<u64>()
                .ok()
                .map(Duration::from_secs)
        } else {
            None
        }
    })
}

/// The delay before the next poll.
///
/// - `failures`: consecutive failures so far (0 after a success).
/// - `server_min`: the longest delay the server asked for (Retry-After, max-age, ttl).
/// - `jitter`: a number in [-1, 1]; spreads polls by ±10 % so sources sharing an
///   interval do not all fire together.
pub fn next_delay(
    interval: Duration,
    failures: u32,
    max_backoff: Duration,
    server_min: Option<Duration>,
    jitter: f64,
) -> Duration {
    let base = if failures == 0 {
        interval
    } else {
        let factor = 2u32.saturating_pow(failures.saturating_sub(1).min(20));
        interval
            .saturating_mul(factor)
            .min(max_backoff.max(interval))
    };
    let jittered = base.mul_f64(1.0 + 0.1 * jitter.clamp(-1.0, 1.0));
    match server_min {
        Some(min) => jittered.max(min.min(MAX_SERVER_HINT)),
        None => jittered,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_forms() {
        let now = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(retry_after("120", now), Some(Duration::from_secs(120)));
        assert_eq!(
            retry_after("Thu, 01 Jan 2026 00:10:00 GMT", now),
            Some(Duration::from_secs(600))
        );
        assert_eq!(
            retry_after("Wed, 31 Dec 2025 00:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(retry_after("99999999", now), Some(MAX_SERVER_HINT));
        assert_eq!(retry_after("soon", now), None);
    }

    #[test]
    fn max_age_is_read() {
        assert_eq!(
            max_age("public, max-age=600"),
            Some(Duration::from_secs(600))
        );
        assert_eq!(max_age("no-cache"), None);
    }

    #[test]
    fn backoff_doubles_up_to_the_cap_and_honours_the_server() {
        let i = Duration::from_secs(600);
        let cap = Duration::from_secs(6 * 3600);
        assert_eq!(next_delay(i, 0, cap, None, 0.0), i);
        assert_eq!(next_delay(i, 1, cap, None, 0.0), i);
        assert_eq!(next_delay(i, 2, cap, None, 0.0), i * 2);
        assert_eq!(next_delay(i, 3, cap, None, 0.0), i * 4);
        assert_eq!(next_delay(i, 30, cap, None, 0.0), cap);
        assert_eq!(
            next_delay(i, 0, cap, Some(Duration::from_secs(7200)), 0.0),
            Duration::from_secs(7200)
        );
        assert_eq!(next_delay(i, 0, cap, Some(Duration::from_secs(5)), 0.0), i);
        let j = next_delay(i, 0, cap, None, 1.0);
        assert_eq!(j, Duration::from_secs(660));
        assert_eq!(next_delay(i, 0, cap, None, -1.0), Duration::from_secs(540));
    }
}
