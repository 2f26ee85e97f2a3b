//! Time bounds for `--since` / `--until` and the UTC day a ledger line belongs to.

use std::time::{Duration, SystemTime};

const DAY: Duration = Duration::from_secs(86_400);

/// Parses RFC 3339 (`2026-03-01T12:00:00Z`, fractions and `+03:00` offsets allowed) or a bare
/// `YYYY-MM-DD` (midnight UTC). With `end_of_day`, a bare date means the end of that day, so
/// `--until 2026-03-01` includes all of March 1st.
pub(crate) fn parse_bound(s: &str, end_of_day: bool) -> Result<SystemTime, String> {
    let s = s.trim();
    let bad = || format!("`{s}` is not a date (YYYY-MM-DD) or an RFC 3339 time");
    if s.len() == 10 && s.as_bytes().get(4) == Some(&b'-') {
        let t = humantime::parse_rfc3339(&format!("{s}T00:00:00Z")).map_err(|_| bad())?;
        return Ok(if end_of_day { t + DAY } else { t });
    }
    parse_rfc3339(s).ok_or_else(bad)
}

/// RFC 3339 with `Z`, no zone (taken as UTC) or a numeric `±HH:MM` offset.
pub(crate) fn parse_rfc3339(s: &str) -> Option<SystemTime> {
    if let Ok(t) = humantime::parse_rfc3339_weak(s.trim_end_matches(['Z', 'z'])) {
        return Some(t);
    }
    // A numeric offset: `...T12:00:00+03:00` is 09:00 UTC.
    let (head, tail) = s.split_at(s.len().checked_sub(6)?);
    let sign = match tail.as_bytes()[0] {
        b'+' => 1i64,
        b'-' => -1,
        _ => return None,
    };
    let (h, m) = tail[1..].split_once(':')?;
    let offset = sign * (h.parse::<i64>().ok()? * 3600 + m.parse::<i64>().ok()? * 60);
    let local = humantime::parse_rfc3339_weak(head).ok()?;
    let shift = Duration::from_secs(offset.unsigned_abs());
    if offset >= 0 {
        local.checked_sub(shift)
    } else {
        local.checked_add(shift)
    }
}

/// `YYYY-MM-DD` of a time in UTC: the `day` grouping key.
pub(crate) fn utc_day(t: SystemTime) -> String {
    let mut s = humantime::format_rfc3339_seconds(t).to_string();
    s.truncate(10);
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> SystemTime {
        humantime::parse_rfc3339(s).unwrap()
    }

    #[test]
    fn dates_times_and_offsets() {
        assert_eq!(
            parse_bound("2026-03-01", false).unwrap(),
            t("2026-03-01T00:00:00Z")
        );
        assert_eq!(
            parse_bound("2026-03-01", true).unwrap(),
            t("2026-03-02T00:00:00Z")
        );
        assert_eq!(
            parse_bound("2026-03-01T12:30:00.250Z", false).unwrap(),
            t("2026-03-01T12:30:00.250Z")
        );
        assert_eq!(
            parse_bound("2026-03-01T12:00:00+03:00", false).unwrap(),
            t("2026-03-01T09:00:00Z")
        );
        assert_eq!(
            parse_bound("2026-03-01T12:00:00-01:30", false).unwrap(),
            t("2026-03-01T13:30:00Z")
        );
        assert!(parse_bound("yesterday", false).is_err());
        assert!(parse_bound("2026-13-01", false).is_err());
        assert_eq!(utc_day(t("2026-03-01T23:59:59Z")), "2026-03-01");
    }
}
