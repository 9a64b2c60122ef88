//! Calendar arithmetic for the two places that show wall-clock time: Daraja's `Timestamp`
//! and the administrator's listings, both in Africa/Nairobi time (UTC+3 all year, no daylight
//! saving), so no time-zone database is needed.

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

/// `2026-11-29 09:41:59 EAT` for unix milliseconds.
pub fn format_eat_ms(ms: i64) -> String {
    let c = eat(ms.div_euclid(1000));
    format!("{:04}-{:02}-{:02} {:02}:{:02}:{:02} EAT", c.year, c.month, c.day, c.hour, c.minute, c.second)
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
    fn nairobi_wall_clock() {
        assert_eq!(format_eat_ms(0), "1970-01-01 03:00:00 EAT");
        // 2024-02-29 21:30:00 UTC is already 1 March in Nairobi.
        assert_eq!(format_eat_ms(1_709_242_200_000), "2024-03-01 00:30:00 EAT");
        assert_eq!(format_eat_ms(-1000), "1970-01-01 02:59:59 EAT");
    }
}
