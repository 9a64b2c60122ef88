//! Time for the rest of the crate: where live sessions and the job queue read "now" ([`Clock`],
//! the system's clock in production, a [`ManualClock`] that only a test moves), and calendar
//! arithmetic for the places that show or read wall-clock time: Daraja's `Timestamp` and the
//! administrator's listings, both in Africa/Nairobi time (UTC+3 all year, no daylight saving),
//! so no time-zone database is needed; and the UTC `date` of inbound SMS.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Where the session stores and the job queue read "now", both as unix milliseconds (what is
/// stored) and as an [`Instant`] (what memory sessions keep).
///
/// An enum rather than a trait object: production's [`Clock::System`] costs a hop one
/// well-predicted branch before the system call it made anyway, with no allocation and no
/// dynamic call, and a test's [`Clock::Manual`] needs no type parameter threaded through the
/// stores and the server.
#[derive(Clone, Debug, Default)]
pub enum Clock {
    /// The system's clock.
    #[default]
    System,
    /// A clock that stands still until a test moves it, so expiry and ordering are proved by
    /// moving time instead of sleeping through it.
    Manual(ManualClock),
}

impl Clock {
    /// Unix milliseconds now.
    #[inline]
    pub fn now_ms(&self) -> i64 {
        match self {
            Clock::System => system_now_ms(),
            Clock::Manual(m) => m.now_ms(),
        }
    }

    /// Now, as an [`Instant`].
    #[inline]
    pub fn instant(&self) -> Instant {
        match self {
            Clock::System => Instant::now(),
            Clock::Manual(m) => m.instant(),
        }
    }
}

impl From<ManualClock> for Clock {
    fn from(m: ManualClock) -> Clock {
        Clock::Manual(m)
    }
}

/// The system's time in unix milliseconds, the time unit of every stored timestamp.
pub fn system_now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// A clock that starts at the system's time when it is made and then stands still until
/// [`ManualClock::advance`] moves it. Clones share one time, so a test keeps a clone and moves
/// the time every store built on the others reads.
#[derive(Clone, Debug)]
pub struct ManualClock(Arc<ManualTime>);

#[derive(Debug)]
struct ManualTime {
    start: Instant,
    start_ms: i64,
    /// Milliseconds moved forward since `start`.
    advanced_ms: AtomicU64,
}

impl ManualClock {
    pub fn new() -> ManualClock {
        ManualClock(Arc::new(ManualTime {
            start: Instant::now(),
            start_ms: system_now_ms(),
            advanced_ms: AtomicU64::new(0),
        }))
    }

    /// Moves the time forward by `by` (whole milliseconds, the stores' unit).
    pub fn advance(&self, by: Duration) {
        let ms = u64::try_from(by.as_millis()).unwrap_or(u64::MAX);
        self.0.advanced_ms.fetch_add(ms, Ordering::SeqCst);
    }

    fn advanced(&self) -> u64 {
        self.0.advanced_ms.load(Ordering::SeqCst)
    }

    /// Unix milliseconds now on this clock.
    pub fn now_ms(&self) -> i64 {
        self.0.start_ms.saturating_add(i64::try_from(self.advanced()).unwrap_or(i64::MAX))
    }

    /// Now on this clock, as an [`Instant`].
    pub fn instant(&self) -> Instant {
        self.0.start + Duration::from_millis(self.advanced())
    }
}

impl Default for ManualClock {
    fn default() -> ManualClock {
        ManualClock::new()
    }
}

/// Nairobi's offset from UTC.
pub const EAT_OFFSET_SECS: i64 = 3 * 3600;

/// A wall-clock time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Civil {
    pub year: i64,
    pub month: i64,
    pub day: i64,
    pub hour: i64,
    pub minute: i64,
    pub second: i64,
}

/// The wall-clock time in Nairobi at `unix_secs`.
pub fn eat(unix_secs: i64) -> Civil {
    let local = unix_secs.saturating_add(EAT_OFFSET_SECS);
    let (days, secs) = (local.div_euclid(86_400), local.rem_euclid(86_400));
    let (year, month, day) = civil_from_days(days);
    Civil { year, month, day, hour: secs / 3600, minute: secs % 3600 / 60, second: secs % 60 }
}

/// The day in Nairobi at unix milliseconds `ms`, as days since 1970-01-01: the day statistics
/// are counted by.
pub fn eat_day(ms: i64) -> i64 {
    ms.div_euclid(1000).saturating_add(EAT_OFFSET_SECS).div_euclid(86_400)
}

/// `2026-12-05` for an [`eat_day`].
pub fn format_day(day: i64) -> String {
    let (y, m, d) = civil_from_days(day);
    format!("{y:04}-{m:02}-{d:02}")
}

/// The [`eat_day`] a date written `YYYY-MM-DD` names (how an accountant gives a day), `None`
/// for anything else, an impossible date (`2026-02-30`) included.
pub fn parse_day(s: &str) -> Option<i64> {
    let digits = |t: &str, len: usize| -> Option<i64> {
        (t.len() == len && t.bytes().all(|b| b.is_ascii_digit())).then(|| t.parse().ok()).flatten()
    };
    let mut parts = s.split('-');
    let (year, month, day) = (digits(parts.next()?, 4)?, digits(parts.next()?, 2)?, digits(parts.next()?, 2)?);
    if parts.next().is_some() || !(1..=12).contains(&month) || day < 1 {
        return None;
    }
    let days = days_from_civil(year, month, day);
    // A day past the month's end rolls into the next month; only a real date comes back.
    (civil_from_days(days) == (year, month, day)).then_some(days)
}

/// Unix milliseconds at which the [`eat_day`] `day` begins in Nairobi (midnight EAT); the day
/// ends where `day + 1` begins.
pub fn eat_day_start_ms(day: i64) -> i64 {
    day.saturating_mul(86_400).saturating_sub(EAT_OFFSET_SECS).saturating_mul(1000)
}

/// `2026-11-29 09:41:59 EAT` for unix milliseconds.
pub fn format_eat_ms(ms: i64) -> String {
    let c = eat(ms.div_euclid(1000));
    format!("{:04}-{:02}-{:02} {:02}:{:02}:{:02} EAT", c.year, c.month, c.day, c.hour, c.minute, c.second)
}

/// Unix milliseconds of a wall-clock time as SMS providers write it: `2006-01-02 15:04:05` or
/// ISO 8601 `2006-01-02T15:04:05`, either with optional fractional seconds (`.250`, up to nine
/// digits) and an optional zone, `Z` or an offset from UTC (`+03:00`, `+0300`, `+03`, `-05:00`).
/// A time without a zone is UTC. `None` for anything else, including impossible dates.
pub fn parse_utc_ms(s: &str) -> Option<i64> {
    let s = s.trim();
    let (date, time) = s.split_once('T').or_else(|| s.split_once(' '))?;
    let (time, offset_secs) = split_zone(time)?;
    let num = |t: &str, len: usize| -> Option<i64> {
        (t.len() == len && t.bytes().all(|b| b.is_ascii_digit())).then(|| t.parse().ok()).flatten()
    };
    let mut d = date.split('-');
    let (year, month, day) = (num(d.next()?, 4)?, num(d.next()?, 2)?, num(d.next()?, 2)?);
    let (time, fraction) = match time.split_once('.') {
        Some((t, f)) if !f.is_empty() && f.len() <= 9 && f.bytes().all(|b| b.is_ascii_digit()) => (t, f),
        Some(_) => return None,
        None => (time, ""),
    };
    let mut t = time.split(':');
    let (hour, minute, second) = (num(t.next()?, 2)?, num(t.next()?, 2)?, num(t.next()?, 2)?);
    if d.next().is_some() || t.next().is_some() {
        return None;
    }
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let month_days = [31, if leap { 29 } else { 28 }, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    let valid_day =
        usize::try_from(month - 1).ok().and_then(|m| month_days.get(m)).is_some_and(|&n| (1..=n).contains(&day));
    if !valid_day || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let millis: i64 = format!("{fraction:0<3}")[..3].parse().ok()?;
    let secs = days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second;
    Some((secs - offset_secs) * 1000 + millis)
}

/// Splits the zone off a time of day: `Z` is UTC, `+03:00`, `+0300` and `+03` (or with `-`)
/// are offsets from UTC in seconds, and no zone at all is UTC. `None` for an offset that is
/// not two-digit hours (0 to 23) with optional two-digit minutes (0 to 59).
fn split_zone(time: &str) -> Option<(&str, i64)> {
    if let Some(t) = time.strip_suffix(['Z', 'z']) {
        return Some((t, 0));
    }
    // The time itself has no sign, so the first one starts the offset.
    let Some(at) = time.find(['+', '-']) else { return Some((time, 0)) };
    let (time, zone) = time.split_at(at);
    let sign = if zone.starts_with('-') { -1 } else { 1 };
    let digits = &zone[1..];
    let (hours, minutes) = match (digits.len(), digits.as_bytes().get(2)) {
        (2, _) => (digits, "00"),
        (4, _) => digits.split_at(2),
        (5, Some(b':')) => (&digits[..2], &digits[3..]),
        _ => return None,
    };
    let two = |t: &str| -> Option<i64> {
        (t.len() == 2 && t.bytes().all(|b| b.is_ascii_digit())).then(|| t.parse().ok()).flatten()
    };
    let (hours, minutes) = (two(hours)?, two(minutes)?);
    if hours > 23 || minutes > 59 {
        return None;
    }
    Some((time, sign * (hours * 3600 + minutes * 60)))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`,
/// the inverse of [`civil_from_days`]).
pub fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Converts days since 1970-01-01 into a proleptic Gregorian (year, month, day).
///
/// This is Howard Hinnant's `civil_from_days`: it counts in 400-year eras that start on
/// 1 March, so that the leap day falls at the end of each computed year.
pub fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_moves_only_when_told_and_its_clones_move_together() {
        let manual = ManualClock::new();
        let clock = Clock::from(manual.clone());
        let (ms, instant) = (clock.now_ms(), clock.instant());
        assert_eq!((clock.now_ms(), clock.instant()), (ms, instant), "it stands still");
        manual.advance(Duration::from_millis(1500));
        assert_eq!(clock.now_ms(), ms + 1500);
        assert_eq!(clock.instant(), instant + Duration::from_millis(1500));
        let system = Clock::System.now_ms();
        assert!((system - system_now_ms()).abs() < 60_000, "the system clock is the system's");
    }

    #[test]
    fn nairobi_wall_clock() {
        assert_eq!(format_eat_ms(0), "1970-01-01 03:00:00 EAT");
        // 2024-02-29 21:30:00 UTC is already 1 March in Nairobi.
        assert_eq!(format_eat_ms(1_709_242_200_000), "2024-03-01 00:30:00 EAT");
        assert_eq!(format_eat_ms(-1000), "1970-01-01 02:59:59 EAT");
    }

    #[test]
    fn kenyan_days_by_their_dates() {
        assert_eq!(parse_day("1970-01-01"), Some(0));
        assert_eq!(parse_day("2024-02-29"), Some(19_782));
        for bad in ["", "2023-02-29", "2026-02-30", "2026-13-01", "2026-00-10", "2026-1-01", "2026-01-01x", "26-01-01"]
        {
            assert_eq!(parse_day(bad), None, "{bad:?}");
        }
        // A Nairobi day begins at 21:00 UTC the evening before, and every instant in it is of it.
        let day = parse_day("2024-03-01").unwrap();
        let start = eat_day_start_ms(day);
        assert_eq!(start, 1_709_240_400_000, "2024-02-29 21:00:00 UTC");
        assert_eq!((eat_day(start - 1), eat_day(start), eat_day(eat_day_start_ms(day + 1) - 1)), (day - 1, day, day));
        assert_eq!(format_day(day), "2024-03-01");
    }

    #[test]
    fn provider_dates() {
        assert_eq!(parse_utc_ms("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_utc_ms("2024-02-29 21:30:00"), Some(1_709_242_200_000));
        assert_eq!(parse_utc_ms("2024-02-29T21:30:00Z"), Some(1_709_242_200_000));
        assert_eq!(parse_utc_ms("2024-02-29 21:30:00.250"), Some(1_709_242_200_250));
        assert_eq!(parse_utc_ms("2024-02-29T21:30:00"), Some(1_709_242_200_000));
        assert_eq!(parse_utc_ms("2024-02-29T21:30:00.25Z"), Some(1_709_242_200_250));
        // Offsets from UTC: 1 March 00:30 in Nairobi is 29 February 21:30 UTC.
        for nairobi in ["2024-03-01T00:30:00+03:00", "2024-03-01T00:30:00+0300", "2024-03-01T00:30:00+03"] {
            assert_eq!(parse_utc_ms(nairobi), Some(1_709_242_200_000), "{nairobi:?}");
        }
        assert_eq!(parse_utc_ms("2024-02-29T16:30:00.5-05:00"), Some(1_709_242_200_500));
        assert_eq!(parse_utc_ms("2024-02-29 21:30:00+00:00"), Some(1_709_242_200_000));
        for bad in [
            "",
            "2023-02-29 10:00:00",
            "2024-13-01 10:00:00",
            "2024-01-01",
            "2024-01-01 24:00:00",
            "2024-1-01 10:00:00",
            "2024-01-01 10:00:00:00",
            "2024-01-01 10:00:00.",
            "2024-01-01T10:00:00+3",
            "2024-01-01T10:00:00+03:0",
            "2024-01-01T10:00:00+24:00",
            "2024-01-01T10:00:00+03:60",
            "2024-01-01T10:00:00 03:00",
            "2024-01-01T10:00:00+03:00Z",
            "2024-01-01T10:00:00Z+03:00",
            "2024-01-01T10:00:00.+03:00",
        ] {
            assert_eq!(parse_utc_ms(bad), None, "{bad:?}");
        }
        for days in [-1000, 0, 19_782, 100_000] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }
}
