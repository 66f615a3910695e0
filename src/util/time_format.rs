//! Every way the proxy writes a date, a time or a duration, in one place: file names and
//! records use local time, log lines UTC, people read durations as "3 h 5 min" and moments as
//! `2026-12-01 22:35 UTC+1`: 24-hour, local, with the zone's offset from UTC.
//!
//! The zone is written as its offset because that is what the standard library and chrono
//! know on every system; a zone's name (CET) would take a time-zone database. The admin
//! console's page writes moments the same way.

use std::time::{Duration, SystemTime};

use chrono::{DateTime, FixedOffset, Local, NaiveDate, Utc};

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
    this_second(|stamp, _, millis| format!("{stamp}.{millis:03}Z"))
}

/// The `Date` header's form (RFC 9110 IMF-fixdate): `Tue, 01 Dec 2026 22:35:18 GMT`.
pub(crate) fn http_date() -> String {
    this_second(|_, date, _| date.to_string())
}

/// The current UTC second in the log's form and in the `Date` header's, formatted once per
/// second per thread (every request writes both), with the milliseconds.
fn this_second<R>(use_it: impl FnOnce(&str, &str, u32) -> R) -> R {
    thread_local! {
        static SECOND: std::cell::RefCell<(i64, String, String)> =
            const { std::cell::RefCell::new((i64::MIN, String::new(), String::new())) };
    }
    let now = Utc::now();
    SECOND.with(|second| {
        let mut second = second.borrow_mut();
        if second.0 != now.timestamp() {
            *second = (
                now.timestamp(),
                now.format("%Y-%m-%dT%H:%M:%S").to_string(),
                now.format("%a, %d %b %Y %H:%M:%S GMT").to_string(),
            );
        }
        use_it(&second.1, &second.2, now.timestamp_subsec_millis().min(999))
    })
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

/// "45 s", "12 min", "3 h 5 min", "2 d 4 h".
pub(crate) fn human_duration(d: Duration) -> String {
    let secs = d.as_secs();
    match secs {
        0..=59 => format!("{} s", secs.max(1)),
        60..=3599 => format!("{} min", secs.div_ceil(60)),
        3600..=86_399 => format!("{} h {} min", secs / 3600, (secs % 3600) / 60),
        _ => format!("{} d {} h", secs / 86_400, (secs % 86_400) / 3600),
    }
}

/// A moment in the local time zone, to the minute: `2026-12-01 22:35 UTC+1`.
pub(crate) fn local_time(t: SystemTime) -> String {
    let local = DateTime::<Local>::from(t);
    moment(local.fixed_offset())
}

/// A moment yet to come, with how far off it is: `2026-12-02 01:00 UTC+1 (in 2 h 10 min)`;
/// one already past reads `2026-12-01 22:35 UTC+1 (passed)`.
pub(crate) fn local_time_ahead(t: SystemTime, now: SystemTime) -> String {
    match t.duration_since(now) {
        Ok(left) => format!("{} (in {})", local_time(t), human_duration(left)),
        Err(_) => format!("{} (passed)", local_time(t)),
    }
}

/// `2026-12-01 22:35 UTC+1`, in the moment's own offset.
fn moment(t: DateTime<FixedOffset>) -> String {
    format!(
        "{} {}",
        t.format("%Y-%m-%d %H:%M"),
        zone(t.offset().local_minus_utc())
    )
}

/// An offset from UTC as people write it: `UTC`, `UTC+1`, `UTC-3`, `UTC+5:30`.
fn zone(offset_secs: i32) -> String {
    let sign = if offset_secs < 0 { '-' } else { '+' };
    let minutes = offset_secs.unsigned_abs() / 60;
    match (minutes / 60, minutes % 60) {
        (0, 0) => "UTC".into(),
        (h, 0) => format!("UTC{sign}{h}"),
        (h, m) => format!("UTC{sign}{h}:{m:02}"),
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
        assert_eq!(
            human_duration(Duration::from_secs(50 * 3600 + 300)),
            "2 d 2 h"
        );
    }

    #[test]
    fn moments_are_24_hour_with_the_offset_from_utc() {
        let at = |offset_secs: i32, text: &str| {
            let t = DateTime::parse_from_rfc3339(text).unwrap();
            moment(t.with_timezone(&FixedOffset::east_opt(offset_secs).unwrap()))
        };
        assert_eq!(at(3600, "2026-12-01T21:35:18Z"), "2026-12-01 22:35 UTC+1");
        assert_eq!(at(0, "2026-12-01T00:05:00Z"), "2026-12-01 00:05 UTC");
        assert_eq!(
            at(-3 * 3600, "2026-12-01T02:00:00Z"),
            "2026-11-30 23:00 UTC-3"
        );
        assert_eq!(
            at(5 * 3600 + 1800, "2026-12-01T12:00:00Z"),
            "2026-12-01 17:30 UTC+5:30"
        );
    }

    #[test]
    fn a_moment_ahead_says_how_far_off_it_is() {
        let now = SystemTime::now();
        let later = now + Duration::from_secs(2 * 3600 + 600);
        let text = local_time_ahead(later, now);
        assert!(text.ends_with(" (in 2 h 10 min)"), "{text}");
        assert!(text.starts_with(&local_time(later)), "{text}");
        let earlier = now - Duration::from_secs(60);
        assert!(local_time_ahead(earlier, now).ends_with("(passed)"));
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
