//! `kawaraban sources list`: each configured source with how fetching it has gone, from
//! the fetch state the store keeps per source URL.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::store::SourceState;

/// One source as `sources list` shows it (and `--json` prints it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceStatus {
    pub name: String,
    pub url: String,
    /// "feed", or "page" for an index page whose links are the articles.
    pub kind: String,
    pub enabled: bool,
    pub tags: Vec<String>,
    /// As the configuration writes durations ("30m").
    pub interval: String,
    pub interval_seconds: u64,
    pub last_success: Option<DateTime<Utc>>,
    pub last_attempt: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub consecutive_failures: u32,
    /// Articles first stored from this source.
    pub articles: u64,
    pub next_poll: Option<DateTime<Utc>>,
    /// 410 Gone: not polled until its entry changes.
    pub gone: bool,
    /// Where a permanent redirect pointed (update the URL in the config).
    pub moved_to: Option<String>,
}

/// The configured sources, in file order, with their stored state (`states` by URL;
/// a source never polled has none).
pub fn rows(config: &Config, states: &[(String, SourceState)]) -> Vec<SourceStatus> {
    let by_url: HashMap<&str, &SourceState> = states.iter().map(|(u, s)| (u.as_str(), s)).collect();
    let empty = SourceState::default();
    config
        .sources
        .iter()
        .zip(config.resolved_sources())
        .map(|(s, r)| {
            let st = by_url.get(r.url.as_str()).copied().unwrap_or(&empty);
            SourceStatus {
                name: r.name.clone(),
                url: r.url.to_string(),
                kind: if r.links.is_some() { "page" } else { "feed" }.into(),
                enabled: r.enabled,
                tags: s.tags.clone(),
                interval: humantime::format_duration(r.interval).to_string(),
                interval_seconds: r.interval.as_secs(),
                last_success: st.last_success,
                last_attempt: st.last_attempt,
                last_error: st.last_error.clone(),
                consecutive_failures: st.consecutive_failures,
                articles: st.articles,
                next_poll: st.next_poll,
                gone: st.gone.is_some(),
                moved_to: st.moved_to.clone(),
            }
        })
        .collect()
}

/// A table for people: one line per source, its last error (if it is failing) on the
/// line below. Times are relative to `now`.
pub fn table(rows: &[SourceStatus], now: DateTime<Utc>) -> String {
    let header = [
        "NAME",
        "URL",
        "INTERVAL",
        "LAST SUCCESS",
        "FAILURES",
        "ARTICLES",
        "NEXT POLL",
    ];
    let cells: Vec<[String; 7]> = rows
        .iter()
        .map(|r| {
            let next = if !r.enabled {
                "disabled".to_owned()
            } else if r.gone {
                "gone (410)".to_owned()
            } else {
                r.next_poll
                    .map_or_else(|| "at start".to_owned(), |t| relative(t, now))
            };
            [
                r.name.clone(),
                r.url.clone(),
                r.interval.clone(),
                r.last_success
                    .map_or_else(|| "never".to_owned(), |t| relative(t, now)),
                r.consecutive_failures.to_string(),
                r.articles.to_string(),
                next,
            ]
        })
        .collect();
    let mut widths = header.map(display_width);
    for c in &cells {
        for (w, cell) in widths.iter_mut().zip(c) {
            *w = (*w).max(display_width(cell));
        }
    }
    let line = |cells: &[String]| {
        let mut s = String::new();
        for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
            let numeric = matches!(i, 4 | 5);
            let pad = " ".repeat(w - display_width(cell));
            if i > 0 {
                s.push_str("  ");
            }
            if numeric {
                s.push_str(&pad);
                s.push_str(cell);
            } else {
                s.push_str(cell);
                if i + 1 < cells.len() {
                    s.push_str(&pad);
                }
            }
        }
        s.push('\n');
        s
    };
    let mut out = line(&header.map(str::to_owned));
    for (r, c) in rows.iter().zip(&cells) {
        out.push_str(&line(c));
        if let Some(e) = &r.last_error {
            out.push_str(&format!("    last error: {e}\n"));
        }
        if let Some(m) = &r.moved_to {
            out.push_str(&format!(
                "    moved permanently to {m}: update its url in the config\n"
            ));
        }
    }
    out
}

/// "5m ago", "in 2h 10m", rounded to the minute (seconds under a minute).
pub fn relative(t: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let d = t.signed_duration_since(now);
    let secs = d.num_seconds().unsigned_abs();
    let span = compact(secs);
    if d.num_seconds() >= 0 {
        if secs == 0 {
            "now".into()
        } else {
            format!("in {span}")
        }
    } else {
        format!("{span} ago")
    }
}

/// The two largest units, to the minute: "2d 3h", "1h 30m", "25m"; seconds only
/// under a minute.
fn compact(secs: u64) -> String {
    let (d, h, m) = (secs / 86_400, secs / 3600 % 24, secs / 60 % 60);
    let pair = |a: u64, ua: &str, b: u64, ub: &str| {
        if b == 0 {
            format!("{a}{ua}")
        } else {
            format!("{a}{ua} {b}{ub}")
        }
    };
    match secs {
        0..60 => format!("{secs}s"),
        60..3600 => format!("{m}m"),
        3600..86_400 => pair(h, "h", m, "m"),
        _ => pair(d, "d", h, "h"),
    }
}

/// Columns a string takes on a terminal: East Asian wide characters take two.
pub fn display_width(s: &str) -> usize {
    s.chars()
        .map(|c| {
            if ('\u{1100}'..='\u{115F}').contains(&c)
                || ('\u{2E80}'..='\u{A4CF}').contains(&c)
                || ('\u{AC00}'..='\u{D7A3}').contains(&c)
                || ('\u{F900}'..='\u{FAFF}').contains(&c)
                || ('\u{FE30}'..='\u{FE4F}').contains(&c)
                || ('\u{FF00}'..='\u{FF60}').contains(&c)
                || ('\u{FFE0}'..='\u{FFE6}').contains(&c)
            {
                2
            } else {
                1
            }
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn rows_join_config_and_state_and_the_table_lines_up() {
        let config = Config::parse(
            "[fetch]\ninterval = \"30m\"\n[[source]]\nname = \"山手新報\"\nurl = \"https://yamate.example/rss\"\ntags = \"News\"\n[[source]]\nname = \"B\"\nurl = \"https://b.example/feed\"\ninterval = \"2h\"\n",
            "t",
        )
        .unwrap();
        let now = Utc.with_ymd_and_hms(2026, 3, 14, 12, 0, 0).unwrap();
        let state = SourceState {
            last_success: Some(now - chrono::Duration::minutes(90)),
            last_error: Some("HTTP 503".into()),
            consecutive_failures: 2,
            articles: 12,
            next_poll: Some(now + chrono::Duration::minutes(25)),
            ..SourceState::default()
        };
        let rows = rows(&config, &[("https://b.example/feed".into(), state)]);
        assert_eq!(rows[0].articles, 0);
        assert_eq!(rows[0].last_success, None);
        assert_eq!(rows[0].tags, ["News"]);
        assert_eq!(rows[0].interval, "30m");
        assert_eq!(rows[1].interval, "2h");
        assert_eq!(rows[1].interval_seconds, 7200);
        assert_eq!(rows[1].consecutive_failures, 2);
        // Wide characters take two columns, counts are right-aligned, the error of
        // a failing source sits under it.
        assert_eq!(
            table(&rows, now),
            "NAME      URL                         INTERVAL  LAST SUCCESS  FAILURES  ARTICLES  NEXT POLL\n\
             山手新報  https://yamate.example/rss  30m       never                0         0  at start\n\
             B         https://b.example/feed      2h        1h 30m ago           2        12  in 25m\n    \
             last error: HTTP 503\n"
        );
    }

    #[test]
    fn relative_times() {
        let now = Utc.with_ymd_and_hms(2026, 3, 14, 12, 0, 0).unwrap();
        assert_eq!(relative(now + chrono::Duration::seconds(125), now), "in 2m");
        assert_eq!(
            relative(now - chrono::Duration::seconds(30), now),
            "30s ago"
        );
        assert_eq!(relative(now, now), "now");
        assert_eq!(
            relative(now - chrono::Duration::seconds(90 * 60 + 59), now),
            "1h 30m ago"
        );
        assert_eq!(
            relative(now + chrono::Duration::seconds(3600 + 5), now),
            "in 1h"
        );
        assert_eq!(relative(now - chrono::Duration::days(2), now), "2d ago");
    }
}
