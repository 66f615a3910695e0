//! When a failed upstream attempt is tried again.
//!
//! The default policy is the smart single-retry rule: after a retryable failure, retry once
//! (never more than once per client request) if today's first three upstream attempts include
//! a failure, or the last three include a success. The idea: a day that started badly is one
//! where transient errors are normal, so retrying pays; a day that started well but whose last
//! three attempts all failed looks like an outage, so a retry would only burn quota.
//! "Today" is the local date, as for the daily statistics.

use std::collections::VecDeque;
use std::sync::Mutex;

use crate::util::sync::lock;
use chrono::NaiveDate;

pub(crate) use crate::config::RetryPolicy;

/// The smart rule on today's attempts in order (true = success), the one that just failed
/// included.
pub(crate) fn smart_rule_allows(first_three: &[bool], last_three: &[bool]) -> bool {
    first_three.iter().any(|ok| !ok) || last_three.iter().any(|ok| *ok)
}

/// Today's attempts, as much of them as the rule reads: the first three and the last three.
#[derive(Default)]
pub struct AttemptHistory {
    day: Mutex<Day>,
}

#[derive(Default)]
struct Day {
    date: Option<NaiveDate>,
    first: Vec<bool>,
    last: VecDeque<bool>,
}

impl AttemptHistory {
    /// Records one upstream attempt's outcome, starting a new day when the date changed.
    pub fn record(&self, success: bool) {
        self.record_on(crate::util::clock::stats_day(), success);
    }

    fn record_on(&self, date: NaiveDate, success: bool) {
        let mut day = lock(&self.day);
        if day.date != Some(date) {
            *day = Day {
                date: Some(date),
                ..Day::default()
            };
        }
        if day.first.len() < 3 {
            day.first.push(success);
        }
        if day.last.len() == 3 {
            day.last.pop_front();
        }
        day.last.push_back(success);
    }

    /// Whether a client request that has made `attempts` attempts (the last one failed) may
    /// make another.
    pub fn may_retry(&self, policy: RetryPolicy, attempts: u32) -> bool {
        match policy {
            RetryPolicy::Never => false,
            RetryPolicy::Attempts(n) => attempts < n,
            RetryPolicy::Smart => {
                let day = lock(&self.day);
                let last: Vec<bool> = day.last.iter().copied().collect();
                attempts < 2 && smart_rule_allows(&day.first, &last)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The rule on a whole day's list of attempts.
    fn smart_rule_allows_day(calls: &[bool]) -> bool {
        let first = &calls[..calls.len().min(3)];
        let last = &calls[calls.len().saturating_sub(3)..];
        smart_rule_allows(first, last)
    }

    const S: bool = true;
    const F: bool = false;

    #[test]
    fn the_smart_rule_table() {
        // (today's attempts in order, the last one being the failure just seen; retry?)
        let table: &[(&[bool], bool)] = &[
            // The first attempt of the day fails: the first three include a failure.
            (&[F], true),
            (&[S, F], true),
            (&[S, S, F], true),
            // Exactly three attempts: first three and last three are the same three.
            (&[F, F, F], true),
            // The day started clean; the last three include a success.
            (&[S, S, S, S, F], true),
            (&[S, S, S, S, S, F, F], true),
            // The day started clean and the last three all failed: looks like an outage.
            (&[S, S, S, F, F, F], false),
            (&[S, S, S, S, S, S, F, F, F], false),
            // All failures all day: the first three include failures, so retry.
            (&[F, F, F, F, F, F, F], true),
            // A bad start is remembered all day.
            (&[F, S, S, S, F, F, F], true),
            // Four attempts: first three clean, last three hold a success.
            (&[S, S, S, F], true),
        ];
        for (calls, expected) in table {
            assert_eq!(smart_rule_allows_day(calls), *expected, "{calls:?}");
        }
    }

    #[test]
    fn history_keeps_the_first_and_last_three_per_day() {
        let h = AttemptHistory::default();
        let day1 = NaiveDate::from_ymd_opt(2026, 2, 16).unwrap();
        for ok in [S, S, S, F, F, F] {
            h.record_on(day1, ok);
        }
        assert!(!h.may_retry(RetryPolicy::Smart, 1));
        // A new day starts afresh: its first attempt failing allows a retry.
        let day2 = day1.succ_opt().unwrap();
        h.record_on(day2, F);
        assert!(h.may_retry(RetryPolicy::Smart, 1));
        // Never more than one retry per request.
        assert!(!h.may_retry(RetryPolicy::Smart, 2));
    }

    #[test]
    fn other_policies() {
        let h = AttemptHistory::default();
        h.record(F);
        assert!(!h.may_retry(RetryPolicy::Never, 1));
        assert!(h.may_retry(RetryPolicy::Attempts(3), 2));
        assert!(!h.may_retry(RetryPolicy::Attempts(3), 3));
        assert_eq!("smart".parse(), Ok(RetryPolicy::Smart));
        assert_eq!("never".parse(), Ok(RetryPolicy::Never));
        assert_eq!("3".parse(), Ok(RetryPolicy::Attempts(3)));
        assert!("often".parse::<RetryPolicy>().is_err());
    }
}
