//! The proxy's two calendars and its epoch conversions.
//!
//! Daily statistics, the call log and the smart retry rule's "today" follow the user's local
//! date ([`stats_day`]); OpenRouter's free quotas reset at 00:00 UTC, so key allowances follow
//! the UTC date ([`quota_day`], [`next_quota_reset`]). Files and JSON carry epoch milliseconds.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use chrono::{Local, NaiveDate, Utc};

/// Today in the local time zone: the day of the statistics files.
pub(crate) fn stats_day() -> NaiveDate {
    Local::now().date_naive()
}

/// Today in UTC: the day of OpenRouter's free-model quotas.
pub(crate) fn quota_day() -> NaiveDate {
    Utc::now().date_naive()
}

/// The next 00:00 UTC, when OpenRouter's daily free quotas reset.
pub(crate) fn next_quota_reset() -> SystemTime {
    let tomorrow = quota_day().succ_opt().unwrap_or_default();
    let secs = tomorrow
        .and_hms_opt(0, 0, 0)
        .map_or(0, |t| t.and_utc().timestamp());
    UNIX_EPOCH + Duration::from_secs(u64::try_from(secs).unwrap_or(0))
}

pub(crate) fn epoch_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

pub(crate) fn from_epoch_ms(ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms)
}

/// Seconds since the epoch, now.
pub(crate) fn epoch_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Epoch seconds as an RFC 3339 UTC time (`2025-09-11T17:36:53Z`), as Anthropic's API writes
/// dates; the epoch itself for a time out of range.
pub(crate) fn rfc3339_utc(secs: u64) -> String {
    let secs = i64::try_from(secs).unwrap_or(0);
    chrono::DateTime::from_timestamp(secs, 0)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// A monotonic instant as epoch milliseconds of the wall clock, for JSON.
pub(crate) fn instant_epoch_ms(t: Instant) -> u64 {
    let now = Instant::now();
    let wall = match t.checked_duration_since(now) {
        Some(ahead) => SystemTime::now() + ahead,
        None => SystemTime::now() - now.duration_since(t),
    };
    epoch_ms(wall)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_quota_reset_is_the_next_utc_midnight() {
        let reset = next_quota_reset();
        let wait = reset.duration_since(SystemTime::now()).unwrap();
        assert!(wait <= Duration::from_secs(86_400));
        assert_eq!(epoch_ms(reset) % 86_400_000, 0);
        assert_eq!(from_epoch_ms(epoch_ms(reset)), reset);
    }

    #[test]
    fn dates_are_written_as_rfc_3339() {
        assert_eq!(rfc3339_utc(1_757_612_213), "2025-09-11T17:36:53Z");
        assert_eq!(rfc3339_utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339_utc(u64::MAX), "1970-01-01T00:00:00Z");
    }
}
