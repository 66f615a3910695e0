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
        let date = http_date();
        assert!(date.ends_with(" GMT") && date.len() == 29, "{date}");
    }
}
