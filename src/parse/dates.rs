//! Dates as news feeds write them: RFC 822 (with the zone abbreviations real feeds use,
//! such as `JST`), RFC 3339 / W3CDTF (seconds optional, as RSS 1.0 allows), and the
//! Japanese forms (`2019年7月12日 11時12分`, `2019/07/12 11:12`). A value without a zone
//! is read in the source's time zone; a date without a time is midnight there.

use std::sync::LazyLock;

use chrono::{
    DateTime, FixedOffset, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc,
};
use chrono_tz::Tz;
use regex::Regex;

/// Parses a feed or page date; `tz` is used when the text names no zone.
pub fn parse_date(text: &str, tz: Tz) -> Option<DateTime<Utc>> {
    let s = normalize(text);
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    if let Ok(d) = DateTime::parse_from_rfc3339(s) {
        return Some(d.with_timezone(&Utc));
    }
    if let Some(d) = parse_rfc822(s) {
        return Some(d);
    }
    parse_numeric(s, tz, true)
}

/// Finds the first date written in running text (a page's "2019年7月3日 18時05分 配信").
pub fn find_date_in_text(text: &str, tz: Tz) -> Option<DateTime<Utc>> {
    parse_numeric(&normalize(text), tz, false)
}

/// Full-width digits and separators become ASCII, so one pattern covers both widths.
fn normalize(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '０'..='９' => char::from(b'0' + (c as u32 - '０' as u32) as u8),
            '：' => ':',
            '／' => '/',
            '－' | '‐' => '-',
            '＋' => '+',
            '　' => ' ',
            _ => c,
        })
        .collect()
}

/// Zone abbreviations RFC 822 allows, plus the ones feeds use anyway.
fn zone_offset(abbr: &str) -> Option<i32> {
    let h = match abbr.to_ascii_uppercase().as_str() {
        "UT" | "UTC" | "GMT" | "Z" => 0,
        "JST" | "KST" => 9,
        "EST" => -5,
        "EDT" => -4,
        "CST" => -6,
        "CDT" => -5,
        "MST" => -7,
        "MDT" => -6,
        "PST" => -8,
        "PDT" => -7,
        "BST" => 1,
        "CET" => 1,
        "CEST" => 2,
        "HKT" | "SGT" => 8,
        "IST" => 5,
        _ => return None,
    };
    Some(
        h * 3600
            + if abbr.eq_ignore_ascii_case("IST") {
                1800
            } else {
                0
            },
    )
}

static RFC822: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?ix)^(?:[a-z]{2,9},?\s*)?          # optional day name
        (\d{1,2})\s+([a-z]{3,9})\.?\s+(\d{2,4})   # day month year
        \s+(\d{1,2}):(\d{2})(?::(\d{2}))?        # time
        \s*([+-]\d{2}:?\d{2}|[a-z]{1,5})?\s*$",
    )
    .expect("static regex")
});

fn parse_rfc822(s: &str) -> Option<DateTime<Utc>> {
    if let Ok(d) = DateTime::parse_from_rfc2822(s) {
        return Some(d.with_timezone(&Utc));
    }
    let c = RFC822.captures(s)?;
    let day: u32 = c[1].parse().ok()?;
    let month = month_number(&c[2])?;
    let mut year: i32 = c[3].parse().ok()?;
    if year < 100 {
        year += if year < 50 { 2000 } else { 1900 };
    }
    let h: u32 = c[4].parse().ok()?;
    let m: u32 = c[5].parse().ok()?;
    let sec: u32 = c.get(6).map_or(Some(0), |x| x.as_str().parse().ok())?;
    let offset = match c.get(7).map(|z| z.as_str()) {
        None => 0,
        Some(z) if z.starts_with(['+', '-']) => parse_offset(z)?,
        Some(z) => zone_offset(z)?,
    };
    let naive = NaiveDate::from_ymd_opt(year, month, day)?.and_hms_opt(h, m, sec)?;
    let off = FixedOffset::east_opt(offset)?;
    off.from_local_datetime(&naive)
        .single()
        .map(|d| d.with_timezone(&Utc))
}

fn month_number(name: &str) -> Option<u32> {
    const MONTHS: [&str; 12] = [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ];
    let lower = name.to_ascii_lowercase();
    MONTHS
        .iter()
        .position(|m| lower.starts_with(m))
        .map(|i| i as u32 + 1)
}

fn parse_offset(z: &str) -> Option<i32> {
    let sign = if z.starts_with('-') { -1 } else { 1 };
    let digits: String = z[1..].chars().filter(char::is_ascii_digit).collect();
    if digits.len() != 4 {
        return None;
    }
    let h: i32 = digits[..2].parse().ok()?;
    let m: i32 = digits[2..].parse().ok()?;
    Some(sign * (h * 3600 + m * 60))
}

static NUMERIC: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?x)
        (\d{4})\s*[年/.\-]\s*(\d{1,2})\s*[月/.\-]\s*(\d{1,2})(?:\s*日)?   # date
        (?:\s*[(（][^)）]{1,3}[)）])?                                   # weekday: (金)
        (?:(?:T|\s*)(午前|午後|AM|PM)?\s*(\d{1,2})\s*[:時]\s*(\d{1,2})\s*分?   # time
           (?:\s*:?\s*(\d{1,2})(?:\.\d+)?\s*秒?)?)?
        \s*(Z|[+-]\d{2}:?\d{2}|JST|UTC|GMT)?",
    )
    .expect("static regex")
});

/// Year-month-day forms with any of the separators above. `whole` requires the
/// match to be the whole text (a feed field), else it may sit inside running text.
fn parse_numeric(s: &str, tz: Tz, whole: bool) -> Option<DateTime<Utc>> {
    for c in NUMERIC.captures_iter(s) {
        let m = c.get(0)?;
        if whole && (m.start() != 0 || !s[m.end()..].trim().is_empty()) {
            return None;
        }
        let date =
            NaiveDate::from_ymd_opt(c[1].parse().ok()?, c[2].parse().ok()?, c[3].parse().ok()?);
        let Some(date) = date else { continue };
        let time = match c.get(5) {
            Some(h) => {
                let mut hour: u32 = h.as_str().parse().ok()?;
                if matches!(c.get(4).map(|x| x.as_str()), Some("午後" | "PM")) && hour < 12 {
                    hour += 12;
                }
                let min: u32 = c[6].parse().ok()?;
                let sec: u32 = c.get(7).map_or(Some(0), |x| x.as_str().parse().ok())?;
                NaiveTime::from_hms_opt(hour, min, sec)
            }
            None => NaiveTime::from_hms_opt(0, 0, 0),
        };
        let Some(time) = time else { continue };
        let naive = NaiveDateTime::new(date, time);
        return match c.get(8).map(|z| z.as_str()) {
            Some(z) => {
                let off = if z.starts_with(['+', '-']) {
                    parse_offset(z)?
                } else {
                    zone_offset(z)?
                };
                FixedOffset::east_opt(off)?
                    .from_local_datetime(&naive)
                    .single()
                    .map(|d| d.with_timezone(&Utc))
            }
            None => in_zone(naive, tz),
        };
    }
    None
}

fn in_zone(naive: NaiveDateTime, tz: Tz) -> Option<DateTime<Utc>> {
    match tz.from_local_datetime(&naive) {
        LocalResult::Single(d) => Some(d.with_timezone(&Utc)),
        // In a DST overlap either reading is an hour off at most; take the earlier.
        LocalResult::Ambiguous(a, _) => Some(a.with_timezone(&Utc)),
        // A time skipped by DST: read it as the standard-time equivalent.
        LocalResult::None => tz
            .from_local_datetime(&(naive + chrono::Duration::hours(1)))
            .earliest()
            .map(|d| d.with_timezone(&Utc)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }
    const TOKYO: Tz = chrono_tz::Asia::Tokyo;

    #[test]
    fn rfc_forms() {
        let want = utc("2019-07-12T02:12:00Z");
        for s in [
            "Fri, 12 Jul 2019 11:12:00 +0900",
            "Fri, 12 Jul 2019 11:12:00 JST",
            "12 Jul 2019 11:12 +09:00",
            "Fri, 12 Jul 2019 02:12:00 GMT",
            "2019-07-12T11:12:00+09:00",
            "2019-07-12T11:12+09:00",
            "2019-07-12T02:12:00Z",
        ] {
            assert_eq!(parse_date(s, chrono_tz::UTC), Some(want), "{s}");
        }
        assert_eq!(
            parse_date("Sun, 8 Dec 2024 09:00:00 EST", TOKYO),
            Some(utc("2024-12-08T14:00:00Z"))
        );
    }

    #[test]
    fn japanese_and_zoneless_forms_use_the_source_zone() {
        let want = utc("2019-07-12T02:12:00Z");
        for s in [
            "2019年7月12日 11時12分",
            "2019年07月12日(金) 11:12",
            "２０１９年７月１２日　１１時１２分",
            "2019/07/12 11:12",
            "2019/7/12 11:12:00",
            "2019-07-12 11:12:00",
            "2019年7月12日 午前11時12分",
        ] {
            assert_eq!(parse_date(s, TOKYO), Some(want), "{s}");
        }
        assert_eq!(
            parse_date("2019/07/12 11:12 JST", chrono_tz::UTC),
            Some(want)
        );
        assert_eq!(
            parse_date("2019年7月12日", TOKYO),
            Some(utc("2019-07-11T15:00:00Z"))
        );
        assert_eq!(
            parse_date("2019年7月12日 午後1時5分", TOKYO),
            Some(utc("2019-07-12T04:05:00Z"))
        );
    }

    #[test]
    fn garbage_is_none() {
        for s in [
            "",
            "yesterday",
            "2019年13月40日",
            "Fri, 32 Foo 2019 11:12:00 +0900",
            "12:30",
        ] {
            assert_eq!(parse_date(s, TOKYO), None, "{s}");
        }
    }

    #[test]
    fn date_inside_text() {
        let t = "社会 | 2019年7月3日 18時05分 配信 | 共有";
        assert_eq!(
            find_date_in_text(t, TOKYO),
            Some(utc("2019-07-03T09:05:00Z"))
        );
        assert_eq!(parse_date(t, TOKYO), None);
    }
}
