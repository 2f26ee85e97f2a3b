//! UTC budget periods: the ids of the current day and month and when each ends.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The periods a moment falls in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Ids {
    /// `2026-11-23`
    pub day: String,
    /// `2026-11`
    pub month: String,
    /// The next UTC midnight.
    pub day_ends: SystemTime,
    /// The first of the next month at UTC midnight.
    pub month_ends: SystemTime,
}

impl Ids {
    /// The periods of `now` (moments before 1970 count as 1970-01-01).
    pub(super) fn at(now: SystemTime) -> Self {
        let secs = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let days = (secs / 86_400) as i64;
        let (y, m, d) = civil(days);
        let (my, mm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
        let midnight = |days: i64| UNIX_EPOCH + Duration::from_secs(days.max(0) as u64 * 86_400);
        Self {
            day: format!("{y:04}-{m:02}-{d:02}"),
            month: format!("{y:04}-{m:02}"),
            day_ends: midnight(days + 1),
            month_ends: midnight(days_from_civil(my, mm, 1)),
        }
    }
}

/// Year, month, day of a count of days since 1970-01-01 (H. Hinnant's `civil_from_days`).
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// Days since 1970-01-01 of a civil date (the inverse of [`civil`], H. Hinnant's `days_from_civil`).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = i64::from((m + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn at(rfc: &str) -> Ids {
        Ids::at(humantime::parse_rfc3339(rfc).unwrap())
    }

    fn text(t: SystemTime) -> String {
        humantime::format_rfc3339_seconds(t).to_string()
    }

    #[test]
    fn ids_and_ends_follow_the_utc_calendar() {
        let i = at("2026-11-23T17:04:05Z");
        assert_eq!(i.day, "2026-11-23");
        assert_eq!(i.month, "2026-11");
        assert_eq!(text(i.day_ends), "2026-11-24T00:00:00Z");
        assert_eq!(text(i.month_ends), "2026-12-01T00:00:00Z");
        let i = at("2026-12-31T23:59:59Z");
        assert_eq!(text(i.day_ends), "2027-01-01T00:00:00Z");
        assert_eq!(text(i.month_ends), "2027-01-01T00:00:00Z");
        let i = at("2028-02-28T00:00:00Z");
        assert_eq!(text(i.day_ends), "2028-02-29T00:00:00Z", "leap day");
        assert_eq!(
            at("2026-11-24T00:00:00Z").day,
            "2026-11-24",
            "midnight starts a day"
        );
    }

    #[test]
    fn every_day_of_a_long_span_matches_humantime() {
        let start = humantime::parse_rfc3339("1999-12-25T12:00:00Z").unwrap();
        for n in 0..20_000u64 {
            let t = start + Duration::from_secs(n * 86_400);
            let text = humantime::format_rfc3339_seconds(t).to_string();
            assert_eq!(Ids::at(t).day, text[..10]);
            let days = (t.duration_since(UNIX_EPOCH).unwrap().as_secs() / 86_400) as i64;
            let (y, m, d) = civil(days);
            assert_eq!(days_from_civil(y, m, d), days, "{text}");
        }
        assert_eq!(
            Ids::at(UNIX_EPOCH - Duration::from_secs(5)).day,
            "1970-01-01"
        );
    }
}
