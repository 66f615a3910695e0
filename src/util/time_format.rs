//! Every way the proxy writes a date, a time or a duration, in one place: file names and
//! records use local time, log lines UTC, people read durations as "3 h 5 min".

use std::time::Duration;

use chrono::{Local, NaiveDate, Utc};

/// `YYYYMMDD`, the day in the names of the statistics files.
pub(crate) fn day_name(date: NaiveDate) -> String {
    date.format("%Y%m%d").to_string()
}

/// Local time with microseconds (`2026-12-01T22:35:18.123456`), as the call records keep it.
pub(crate) fn local_timestamp() -> String {
    Local::now().format("%Y-%m-%dT%H:%M:%S%.6f").to_string()
}

/// The epoch milliseconds of a [`local_timestamp`] (read in the local time zone); `None` for
/// text of another form.
pub(crate) fn local_timestamp_ms(text: &str) -> Option<u64> {
    use chrono::TimeZone;
    let naive = chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f").ok()?;
    let local = Local.from_local_datetime(&naive).earliest()?;
    u64::try_from(local.timestamp_millis()).ok()
}

/// UTC time with milliseconds (`2026-12-01T22:35:18.123Z`), at the start of each log line.
pub(crate) fn log_timestamp() -> String {
    Utc::now().format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// The `Date` header's form (RFC 9110 IMF-fixdate): `Tue, 01 Dec 2026 22:35:18 GMT`.
pub(crate) fn http_date() -> String {
    Utc::now().format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

/// Local time for file names that sort by time (`20261201-223518-123456`).
pub(crate) fn file_stamp() -> String {
    Local::now().format("%Y%m%d-%H%M%S-%6f").to_string()
}

/// A moment as RFC 3339 in UTC to the second (`2026-12-02T00:00:00Z`), for JSON a browser or
/// a script reads.
pub(crate) fn utc_rfc3339(t: std::time::SystemTime) -> String {
    chrono::DateTime::<Utc>::from(t).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// "45 s", "12 min", "3 h 5 min".
pub(crate) fn human_duration(d: Duration) -> String {
    let secs = d.as_secs();
    match secs {
        0..=59 => format!("{} s", secs.max(1)),
        60..=3599 => format!("{} min", secs.div_ceil(60)),
        _ => format!("{} h {} min", secs / 3600, (secs % 3600) / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_well() {
        assert_eq!(human_duration(Duration::from_secs(5)), "5 s");
        assert_eq!(human_duration(Duration::from_secs(90)), "2 min");
        assert_eq!(
            human_duration(Duration::from_secs(3 * 3600 + 300)),
            "3 h 5 min"
        );
    }

    #[test]
    fn day_names_are_eight_digits() {
        let d = NaiveDate::from_ymd_opt(2026, 2, 3).unwrap();
        assert_eq!(day_name(d), "20260203");
        assert_eq!(file_stamp().len(), 22);
        assert!(log_timestamp().ends_with('Z'));
        use chrono::TimeZone;
        let moment = Local.timestamp_millis_opt(1_796_169_600_123).unwrap();
        let text = moment.format("%Y-%m-%dT%H:%M:%S%.6f").to_string();
        assert_eq!(local_timestamp_ms(&text), Some(1_796_169_600_123));
        assert_eq!(local_timestamp_ms("yesterday"), None);
        let midnight = std::time::UNIX_EPOCH + Duration::from_secs(1_796_169_600);
        assert_eq!(utc_rfc3339(midnight), "2026-12-02T00:00:00Z");
        let date = http_date();
        assert!(date.ends_with(" GMT") && date.len() == 29, "{date}");
    }
}
