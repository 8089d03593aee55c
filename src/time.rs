//! Wall-clock time as plain data.
//!
//! Decisions take `now` as a parameter (see STYLE.md), so this module only converts between
//! Unix milliseconds and the text forms we read and write: RFC 3339 in our own files, Pandora's
//! zone-less `YYYY/MM/DD HH:MM:SS`, and the HTTP date of a `Retry-After` header.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A point in time in UTC, with millisecond precision.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp {
    millis: i64,
}

impl Timestamp {
    /// The current system time.
    pub fn now() -> Self {
        let d = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        Timestamp {
            millis: i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
        }
    }

    /// A timestamp from Unix milliseconds.
    pub fn from_millis(millis: i64) -> Self {
        Timestamp { millis }
    }

    /// A file time (`Metadata::modified`) as a timestamp; `None` before 1970.
    pub fn from_system(t: SystemTime) -> Option<Self> {
        let d = t.duration_since(UNIX_EPOCH).ok()?;
        Some(Timestamp::from_millis(i64::try_from(d.as_millis()).ok()?))
    }

    /// This time as a file time (`File::set_modified`); 1970 for a time before it.
    pub fn system_time(self) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(u64::try_from(self.millis).unwrap_or(0))
    }

    /// Unix milliseconds.
    pub fn millis(self) -> i64 {
        self.millis
    }

    /// Unix seconds.
    pub fn secs(self) -> i64 {
        self.millis.div_euclid(1000)
    }

    /// This time plus a duration.
    pub fn plus(self, d: Duration) -> Self {
        let add = i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
        Timestamp {
            millis: self.millis.saturating_add(add),
        }
    }

    /// How long after `earlier` this is (zero if it is not later).
    pub fn since(self, earlier: Timestamp) -> Duration {
        Duration::from_millis(
            u64::try_from(self.millis.saturating_sub(earlier.millis)).unwrap_or(0),
        )
    }

    /// RFC 3339 in UTC with seconds, e.g. `2026-11-24T07:40:05Z`.
    pub fn rfc3339(self) -> String {
        let (date, secs_of_day) = (
            self.secs().div_euclid(86_400),
            self.secs().rem_euclid(86_400),
        );
        let (y, m, d) = civil_from_days(date);
        format!(
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
            secs_of_day / 3600,
            secs_of_day % 3600 / 60,
            secs_of_day % 60
        )
    }

    /// RFC 3339 with milliseconds, used in our own files so ordering survives a round trip.
    /// Every record and event-log line carries a few, so the usual years take the
    /// arithmetic path of `rfc3339_millis_bytes` (a tenth of `format!`'s instructions).
    pub fn rfc3339_millis(self) -> String {
        self.with_rfc3339_millis(str::to_owned)
    }

    /// Hands `rfc3339_millis`'s text to `f`, without allocating for years 0 to 9999 (which
    /// `rfc3339_millis_bytes` writes exactly).
    fn with_rfc3339_millis<R>(self, f: impl FnOnce(&str) -> R) -> R {
        // 0000-01-01T00:00:00Z and 10000-01-01T00:00:00Z in Unix milliseconds.
        if (-62_167_219_200_000..253_402_300_800_000).contains(&self.millis) {
            let text = self.rfc3339_millis_bytes();
            // ASCII digits and separators only.
            return f(std::str::from_utf8(&text).unwrap_or_default());
        }
        let s = self.rfc3339();
        f(&format!(
            "{}.{:03}Z",
            &s[..s.len() - 1],
            self.millis.rem_euclid(1000)
        ))
    }

    /// `rfc3339_millis` without allocating, for a signal handler's log line (years outside
    /// 0 to 9999 are clamped: a log line's clock, not data).
    pub fn rfc3339_millis_bytes(self) -> [u8; 24] {
        let (date, secs_of_day) = (
            self.secs().div_euclid(86_400),
            self.secs().rem_euclid(86_400),
        );
        let (y, m, d) = civil_from_days(date);
        let mut out = *b"0000-00-00T00:00:00.000Z";
        let mut put = |at: usize, width: usize, value: i64| {
            let mut v = value.clamp(0, 10_i64.pow(width as u32) - 1);
            for i in (at..at + width).rev() {
                out[i] = b'0' + (v % 10) as u8;
                v /= 10;
            }
        };
        put(0, 4, y);
        put(5, 2, m);
        put(8, 2, d);
        put(11, 2, secs_of_day / 3600);
        put(14, 2, secs_of_day % 3600 / 60);
        put(17, 2, secs_of_day % 60);
        put(20, 3, self.millis.rem_euclid(1000));
        out
    }

    /// Parses RFC 3339 as we write it (`Z` or a numeric offset, optional fraction).
    pub fn parse_rfc3339(text: &str) -> Option<Self> {
        let text = text.trim();
        let (date, rest) = text.split_once(['T', 't', ' '])?;
        let civil = parse_date(date, '-')?;
        let (clock, offset_secs) = if let Some(c) = rest.strip_suffix(['Z', 'z']) {
            (c, 0)
        } else {
            let pos = rest.rfind(['+', '-'])?;
            let (c, off) = rest.split_at(pos);
            let sign = if off.starts_with('-') { -1 } else { 1 };
            let (oh, om) = off[1..].split_once(':')?;
            (
                c,
                sign * (oh.parse::<i64>().ok()? * 3600 + om.parse::<i64>().ok()? * 60),
            )
        };
        let (clock, frac) = match clock.split_once('.') {
            Some((c, f)) => (c, f),
            None => (clock, ""),
        };
        let (h, mi, s) = parse_clock(clock)?;
        let mut millis = 0i64;
        for (i, ch) in frac.chars().take(3).enumerate() {
            millis += i64::from(ch.to_digit(10)?) * 10i64.pow(2 - i as u32);
        }
        let secs = days_from_civil(civil.0, civil.1, civil.2) * 86_400 + h * 3600 + mi * 60 + s
            - offset_secs;
        Some(Timestamp {
            millis: secs * 1000 + millis,
        })
    }

    /// Parses an HTTP date (`Wed, 21 Oct 2015 07:28:00 GMT`), as `Retry-After` may carry.
    pub fn parse_http_date(text: &str) -> Option<Self> {
        let parts: Vec<&str> = text.split_whitespace().collect();
        if parts.len() != 6 {
            return None;
        }
        let day: i64 = parts[1].parse().ok()?;
        let month = MONTHS
            .iter()
            .position(|m| m.eq_ignore_ascii_case(parts[2]))? as i64
            + 1;
        let year: i64 = parts[3].parse().ok()?;
        // A server's header is outside text: bound it so the arithmetic cannot overflow.
        if !(1..=9999).contains(&year) || !(1..=31).contains(&day) {
            return None;
        }
        let (h, mi, s) = parse_clock(parts[4])?;
        let secs = days_from_civil(year, month, day) * 86_400 + h * 3600 + mi * 60 + s;
        Some(Timestamp {
            millis: secs * 1000,
        })
    }
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.rfc3339())
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.with_rfc3339_millis(|text| s.serialize_str(text))
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Timestamp::parse_rfc3339(&text)
            .ok_or_else(|| serde::de::Error::custom(format!("not an RFC 3339 time: {text:?}")))
    }
}

/// A Pandora `_timestamp_`: local time of the agent or server, with no zone (reference §1.5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LocalDateTime {
    /// Year, month, day, hour, minute, second.
    pub parts: (i64, i64, i64, i64, i64, i64),
}

impl LocalDateTime {
    /// Parses `YYYY/MM/DD HH:MM:SS` or `YYYY-MM-DD HH:MM:SS` (a `T` separator is accepted too).
    pub fn parse_pandora(text: &str) -> Option<Self> {
        let text = text.trim();
        let (date, clock) = text.split_once([' ', 'T'])?;
        let sep = if date.contains('/') { '/' } else { '-' };
        let (y, m, d) = parse_date(date, sep)?;
        let (h, mi, s) = parse_clock(clock.trim())?;
        Some(LocalDateTime {
            parts: (y, m, d, h, mi, s),
        })
    }

    /// ISO 8601 without a zone, e.g. `2026-11-24T02:21:59`.
    pub fn iso(&self) -> String {
        let (y, m, d, h, mi, s) = self.parts;
        format!("{y:04}-{m:02}-{d:02}T{h:02}:{mi:02}:{s:02}")
    }
}

fn parse_date(text: &str, sep: char) -> Option<(i64, i64, i64)> {
    let mut it = text.split(sep);
    let y: i64 = it.next()?.parse().ok()?;
    let m: i64 = it.next()?.parse().ok()?;
    let d: i64 = it.next()?.parse().ok()?;
    if it.next().is_some()
        || !(1..=12).contains(&m)
        || !(1..=31).contains(&d)
        || !(1970..=9999).contains(&y)
    {
        return None;
    }
    Some((y, m, d))
}

fn parse_clock(text: &str) -> Option<(i64, i64, i64)> {
    let mut it = text.split(':');
    let h: i64 = it.next()?.parse().ok()?;
    let mi: i64 = it.next()?.parse().ok()?;
    let s: i64 = it.next()?.parse().ok()?;
    if it.next().is_some()
        || !(0..=23).contains(&h)
        || !(0..=59).contains(&mi)
        || !(0..=60).contains(&s)
    {
        return None;
    }
    Some((h, mi, s))
}

// Howard Hinnant's civil calendar algorithms (public domain).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (
        if m <= 2 {
            yoe + era * 400 + 1
        } else {
            yoe + era * 400
        },
        m,
        d,
    )
}

/// Parses a human duration such as `30s`, `15m`, `2h`, `7d` or a bare number of seconds.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (num, unit) = text.split_at(split);
    let n: u64 = num.parse().ok()?;
    let secs = match unit.trim() {
        "" | "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86_400,
        "w" => n * 604_800,
        _ => return None,
    };
    Some(Duration::from_secs(secs))
}

/// Formats a duration the short way people read it: `45s`, `12m`, `3h5m`, `2d4h`.
pub fn human_duration(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m{}s", s / 60, s % 60),
        3600..=86_399 => format!("{}h{}m", s / 3600, s % 3600 / 60),
        _ => format!("{}d{}h", s / 86_400, s % 86_400 / 3600),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_times_convert_both_ways() {
        let t = Timestamp::from_millis(1_800_000_000_123);
        assert_eq!(Timestamp::from_system(t.system_time()), Some(t));
        assert_eq!(
            Timestamp::from_system(UNIX_EPOCH - Duration::from_secs(1)),
            None
        );
        assert_eq!(Timestamp::from_millis(-5).system_time(), UNIX_EPOCH);
    }

    #[test]
    fn rfc3339_round_trips_with_millis() {
        let t = Timestamp::from_millis(1_795_000_000_123);
        assert_eq!(Timestamp::parse_rfc3339(&t.rfc3339_millis()), Some(t));
        // The arithmetic form agrees with the formatted one wherever it is used.
        let formatted = |t: Timestamp| {
            let s = t.rfc3339();
            format!("{}.{:03}Z", &s[..s.len() - 1], t.millis.rem_euclid(1000))
        };
        for millis in [
            0,
            1_795_000_000_123,
            951_782_400_999,
            -1,
            -62_167_219_200_000,
            253_402_300_799_999,
        ] {
            let t = Timestamp::from_millis(millis);
            assert_eq!(t.rfc3339_millis(), formatted(t), "{millis}");
            assert_eq!(
                t.rfc3339_millis().as_bytes(),
                t.rfc3339_millis_bytes(),
                "{millis}"
            );
            let json = serde_json::to_string(&t).unwrap();
            assert_eq!(json, format!("\"{}\"", formatted(t)), "{millis}");
        }
        // Beyond year 9999 the formatted path is taken (five-digit years).
        let far = Timestamp::from_millis(253_402_300_800_000);
        assert_eq!(far.rfc3339_millis(), formatted(far));
        assert!(far.rfc3339_millis().starts_with("10000-01-01T00:00:00.000"));
        assert_eq!(Timestamp::from_millis(0).rfc3339(), "1970-01-01T00:00:00Z");
    }

    #[test]
    fn rfc3339_with_offset_is_converted_to_utc() {
        let a = Timestamp::parse_rfc3339("2026-11-24T09:00:00+02:00").unwrap();
        assert_eq!(a.rfc3339(), "2026-11-24T07:00:00Z");
    }

    #[test]
    fn pandora_timestamps_parse_with_both_separators() {
        let a = LocalDateTime::parse_pandora("2026/11/24 02:21:59").unwrap();
        let b = LocalDateTime::parse_pandora("2026-11-24 02:21:59").unwrap();
        assert_eq!(a, b);
        assert_eq!(a.iso(), "2026-11-24T02:21:59");
        assert!(LocalDateTime::parse_pandora("N/A").is_none());
        assert!(LocalDateTime::parse_pandora("2026/13/24 02:21:59").is_none());
        for odd in [
            "2026/11/24 -1:00:00",
            "2026/11/24 02:-5:00",
            "99999/11/24 02:21:59",
        ] {
            assert!(LocalDateTime::parse_pandora(odd).is_none(), "{odd}");
        }
    }

    #[test]
    fn http_date_parses() {
        let t = Timestamp::parse_http_date("Wed, 21 Oct 2015 07:28:00 GMT").unwrap();
        assert_eq!(t.rfc3339(), "2015-10-21T07:28:00Z");
    }

    #[test]
    fn durations_parse_and_print() {
        assert_eq!(parse_duration("7d"), Some(Duration::from_secs(604_800)));
        assert_eq!(parse_duration("90"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("5x"), None);
        assert_eq!(human_duration(Duration::from_secs(3725)), "1h2m");
    }
}
