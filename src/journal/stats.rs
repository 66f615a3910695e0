//! Daily call statistics, written in debug mode: `CACHE_DIR/CALLS_YYYYMMDD.json` per local
//! date, and a call log `CACHE_DIR/calls_YYYYMMDD.jsonl` with one line per call.
//!
//! `total` counts client chat requests by their final outcome, so `total == success + failed +
//! timeout` always; `retry` counts automatic retries. One mutex guards the counters and the
//! file write, so concurrent calls never lose a count, and each write goes through a temporary
//! file renamed over the old one, so a crash at any moment leaves a valid file. A file that is
//! corrupt at start-up is moved aside with a warning.

use std::collections::{BTreeMap, VecDeque};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::util::clock::stats_day;
use crate::util::fs::{append_line, read_regular, write_atomically};
use crate::util::secret::normalize_mask;
use crate::util::sync::lock;
use crate::util::time_format::{day_name, local_timestamp};

/// The largest daily counters file read (a real one is a few KiB).
const MAX_DAY_FILE_BYTES: u64 = 16 << 20;
/// The largest call log read (about 300 bytes a call).
const MAX_CALL_LOG_BYTES: u64 = 512 << 20;

/// How many recent calls `/debug/concurrency` shows.
const RECENT: usize = 200;

/// The counters of one day, as saved in `CALLS_YYYYMMDD.json`. The first seven fields are
/// the documented format; the rest were added after and default when absent.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DayCounters {
    pub date: String,
    pub total: u64,
    pub success: u64,
    pub failed: u64,
    pub timeout: u64,
    pub retry: u64,
    pub last_updated: String,
    #[serde(default)]
    pub prompt_tokens: u64,
    #[serde(default)]
    pub completion_tokens: u64,
    #[serde(default)]
    pub models: BTreeMap<String, Tally>,
    #[serde(default)]
    pub keys: BTreeMap<String, Tally>,
}

/// Calls and tokens of one model or one key on one day.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Tally {
    pub total: u64,
    pub success: u64,
    pub failed: u64,
    pub timeout: u64,
    #[serde(default)]
    pub prompt_tokens: u64,
    #[serde(default)]
    pub completion_tokens: u64,
}

/// How a client's chat request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Success,
    Failed,
    Timeout,
}

/// One finished call, as the call log and the panel see it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CallSummary {
    /// Local time, ISO 8601 with microseconds.
    pub time: String,
    /// The protocol's route (`chat`, `responses`, `messages`); absent in older lines.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route: Option<String>,
    pub model: Option<String>,
    /// Masked.
    pub key: Option<String>,
    pub status: u16,
    pub outcome: Outcome,
    pub stream: bool,
    pub attempts: u32,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub latency_ms: u64,
    pub ttfb_ms: Option<u64>,
    pub error: Option<String>,
    /// The capture file's name under `captures/`, when one was written.
    pub capture: Option<String>,
}

impl DayCounters {
    /// The counters with each key under its one masked form: files written before counted a
    /// key under `sk-or-v1-abc…xyz` and `sk-or-v1-abc...xyz` both.
    fn normalized(mut self) -> DayCounters {
        if self.keys.keys().any(|k| k.contains('\u{2026}')) {
            let mut merged: BTreeMap<String, Tally> = BTreeMap::new();
            for (key, tally) in std::mem::take(&mut self.keys) {
                merged
                    .entry(normalize_mask(&key))
                    .or_default()
                    .merge(&tally);
            }
            self.keys = merged;
        }
        self
    }
}

impl Tally {
    fn merge(&mut self, other: &Tally) {
        self.total += other.total;
        self.success += other.success;
        self.failed += other.failed;
        self.timeout += other.timeout;
        self.prompt_tokens += other.prompt_tokens;
        self.completion_tokens += other.completion_tokens;
    }

    fn add(&mut self, call: &CallSummary) {
        self.total += 1;
        match call.outcome {
            Outcome::Success => self.success += 1,
            Outcome::Failed => self.failed += 1,
            Outcome::Timeout => self.timeout += 1,
        }
        self.prompt_tokens += call.prompt_tokens;
        self.completion_tokens += call.completion_tokens;
    }
}

pub struct Stats {
    dir: PathBuf,
    /// The counters of the day being written, loaded from its file on first use.
    today: Mutex<Option<DayCounters>>,
    /// The latest calls, newest last.
    recent: Mutex<VecDeque<CallSummary>>,
}

impl Stats {
    /// Statistics kept in `dir`. Today's file is checked now, so a corrupt one is set aside at
    /// start-up rather than on the first call.
    pub fn new(dir: &Path) -> Stats {
        let stats = Stats {
            dir: dir.to_path_buf(),
            today: Mutex::new(None),
            recent: Mutex::new(VecDeque::new()),
        };
        let today = day_name(stats_day());
        *lock(&stats.today) = stats.load_day(&today, true);
        stats
    }

    fn file(&self, day: &str) -> PathBuf {
        self.dir.join(format!("CALLS_{day}.json"))
    }

    /// Reads a day's file; a corrupt one is moved aside (when `repair`) and counts as empty.
    fn load_day(&self, day: &str, repair: bool) -> Option<DayCounters> {
        let path = self.file(day);
        let bytes = read_regular(&path, MAX_DAY_FILE_BYTES)?;
        match serde_json::from_slice::<DayCounters>(&bytes) {
            Ok(counters) => Some(counters.normalized()),
            Err(e) => {
                if repair {
                    let aside = path.with_extension(format!(
                        "json.corrupt-{}",
                        crate::util::time_format::file_stamp()
                    ));
                    let moved = fs::rename(&path, &aside);
                    log::warn!(
                        "{} is not valid ({e}); {}",
                        path.display(),
                        match moved {
                            Ok(()) => format!("moved aside to {}", aside.display()),
                            Err(m) => format!("could not move it aside ({m})"),
                        }
                    );
                }
                None
            }
        }
    }

    /// Counts one finished call, saves the day's file and appends to the call log.
    pub fn record(&self, call: CallSummary) {
        let day = day_name(stats_day());
        {
            let mut today = lock(&self.today);
            if today.as_ref().is_none_or(|t| t.date != day) {
                *today = self.load_day(&day, true);
            }
            let counters = today.get_or_insert_with(|| DayCounters {
                date: day.clone(),
                ..DayCounters::default()
            });
            counters.total += 1;
            match call.outcome {
                Outcome::Success => counters.success += 1,
                Outcome::Failed => counters.failed += 1,
                Outcome::Timeout => counters.timeout += 1,
            }
            counters.retry += u64::from(call.attempts.saturating_sub(1));
            counters.prompt_tokens += call.prompt_tokens;
            counters.completion_tokens += call.completion_tokens;
            let model = call.model.clone().unwrap_or_else(|| "(none)".into());
            counters.models.entry(model).or_default().add(&call);
            if let Some(key) = &call.key {
                counters.keys.entry(key.clone()).or_default().add(&call);
            }
            counters.last_updated = local_timestamp();
            let bytes = serde_json::to_vec_pretty(&*counters).unwrap_or_default();
            if let Err(e) = write_atomically(&self.file(&day), &bytes) {
                log::warn!("cannot save the statistics: {e}");
            }
            // The log line is written under the same lock, so lines and counts agree.
            self.append_log(&day, &call);
        }
        let mut recent = lock(&self.recent);
        if recent.len() == RECENT {
            recent.pop_front();
        }
        recent.push_back(call);
    }

    fn append_log(&self, day: &str, call: &CallSummary) {
        let mut line = serde_json::to_vec(call).unwrap_or_default();
        line.push(b'\n');
        let path = self.dir.join(format!("calls_{day}.jsonl"));
        if let Err(e) = append_line(&path, &line) {
            log::warn!("cannot append to {}: {e}", path.display());
        }
    }

    /// Deletes the daily counters and call logs older than `max_days` days.
    pub fn prune(&self, max_days: u32) {
        let Some(oldest) = stats_day().checked_sub_days(chrono::Days::new(u64::from(max_days)))
        else {
            return;
        };
        let oldest = day_name(oldest);
        let Ok(entries) = fs::read_dir(&self.dir) else {
            return;
        };
        for entry in entries.filter_map(Result::ok) {
            let Some(name) = entry.file_name().to_str().map(str::to_string) else {
                continue;
            };
            let day = name
                .strip_prefix("CALLS_")
                .and_then(|rest| rest.strip_suffix(".json"))
                .or_else(|| {
                    name.strip_prefix("calls_")
                        .and_then(|rest| rest.strip_suffix(".jsonl"))
                });
            let is_day = day.is_some_and(|d| d.len() == 8 && d.bytes().all(|b| b.is_ascii_digit()));
            if is_day && day.is_some_and(|d| d < oldest.as_str()) {
                match fs::remove_file(entry.path()) {
                    Ok(()) => log::debug!("deleted {name} (older than STATS_MAX_DAYS)"),
                    Err(e) => log::warn!("cannot delete {name}: {e}"),
                }
            }
        }
    }

    /// Today's counters (empty when nothing was recorded today).
    pub fn today(&self) -> DayCounters {
        let day = day_name(stats_day());
        let today = lock(&self.today);
        match today.as_ref() {
            Some(t) if t.date == day => t.clone(),
            _ => DayCounters {
                date: day,
                ..DayCounters::default()
            },
        }
    }

    /// The counters of the last `days` days, oldest first; days without a file count zero.
    pub fn last_days(&self, days: u32) -> Vec<DayCounters> {
        read_days(&self.dir, days, Some(self.today()))
    }

    /// The latest calls, newest first.
    pub fn recent(&self) -> Vec<CallSummary> {
        lock(&self.recent).iter().rev().cloned().collect()
    }

    /// A day's call log, newest first.
    pub fn call_log(&self, day: &str) -> Vec<CallSummary> {
        let path = self.dir.join(format!("calls_{day}.jsonl"));
        let bytes = read_regular(&path, MAX_CALL_LOG_BYTES).unwrap_or_default();
        // Lines a crash or a full disk cut short are skipped.
        let mut calls: Vec<CallSummary> = bytes
            .split(|b| *b == b'\n')
            .filter_map(|l| serde_json::from_slice::<CallSummary>(l).ok())
            .map(|mut c| {
                c.key = c.key.as_deref().map(normalize_mask);
                c
            })
            .collect();
        calls.reverse();
        calls
    }
}

/// The counters of the last `days` days in `dir`, oldest first. `today`, when given, replaces
/// what the file says for today (it is newer).
pub(crate) fn read_days(dir: &Path, days: u32, today: Option<DayCounters>) -> Vec<DayCounters> {
    let now = stats_day();
    (0..days)
        .rev()
        .filter_map(|back| now.checked_sub_days(chrono::Days::new(u64::from(back))))
        .map(|date| {
            let day = day_name(date);
            if let Some(t) = today.as_ref().filter(|t| t.date == day) {
                return t.clone();
            }
            read_regular(&dir.join(format!("CALLS_{day}.json")), MAX_DAY_FILE_BYTES)
                .and_then(|b| serde_json::from_slice::<DayCounters>(&b).ok())
                .map(DayCounters::normalized)
                .unwrap_or(DayCounters {
                    date: day,
                    ..DayCounters::default()
                })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("orp-stats-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn call(outcome: Outcome, attempts: u32) -> CallSummary {
        CallSummary {
            time: local_timestamp(),
            route: Some("chat".into()),
            model: Some("m:free".into()),
            key: Some("sk-or-v1-abc...xyz".into()),
            status: 200,
            outcome,
            stream: false,
            attempts,
            prompt_tokens: 10,
            completion_tokens: 5,
            latency_ms: 12,
            ttfb_ms: None,
            error: None,
            capture: None,
        }
    }

    /// Issue 12: statistics files were never pruned.
    #[test]
    fn old_daily_files_are_deleted_and_others_kept() {
        let dir = scratch("prune");
        let old = day_name(
            stats_day()
                .checked_sub_days(chrono::Days::new(100))
                .unwrap(),
        );
        let recent = day_name(stats_day());
        for name in [
            format!("CALLS_{old}.json"),
            format!("calls_{old}.jsonl"),
            format!("CALLS_{recent}.json"),
            format!("calls_{recent}.jsonl"),
            "CALLS_x.json".to_string(),
            "key_usage.json".to_string(),
        ] {
            fs::write(dir.join(name), "{}").unwrap();
        }
        Stats::new(&dir).prune(90);
        let mut left: Vec<String> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        assert_eq!(left.len(), 4, "{left:?}");
        assert!(!left.iter().any(|n| n.contains(&old)), "{left:?}");
    }

    /// Issue 12: one key was counted under two masked forms.
    #[test]
    fn a_key_counted_under_both_masks_is_merged_on_reading() {
        let dir = scratch("masks");
        let day = day_name(stats_day());
        let text = format!(
            r#"{{"date":"{day}","total":3,"success":3,"failed":0,"timeout":0,"retry":0,"last_updated":"x","keys":{{"sk-or-v1-abc\u2026xyz":{{"total":2,"success":2,"failed":0,"timeout":0}},"sk-or-v1-abc...xyz":{{"total":1,"success":1,"failed":0,"timeout":0}}}}}}"#
        );
        fs::write(dir.join(format!("CALLS_{day}.json")), text).unwrap();
        let stats = Stats::new(&dir);
        let today = stats.today();
        assert_eq!(today.keys.len(), 1, "{:?}", today.keys);
        assert_eq!(today.keys["sk-or-v1-abc...xyz"].total, 3);
    }

    #[test]
    fn the_file_has_the_documented_fields_in_order() {
        let dir = scratch("fields");
        let stats = Stats::new(&dir);
        stats.record(call(Outcome::Success, 2));
        let day = day_name(stats_day());
        let text = fs::read_to_string(dir.join(format!("CALLS_{day}.json"))).unwrap();
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        let fields = [
            "date",
            "total",
            "success",
            "failed",
            "timeout",
            "retry",
            "last_updated",
        ];
        let at: Vec<usize> = fields
            .iter()
            .map(|f| text.find(&format!("\"{f}\":")).unwrap())
            .collect();
        assert!(
            at.windows(2).all(|w| w[0] < w[1]),
            "fields out of order: {text}"
        );
        assert_eq!(value["date"], day);
        assert_eq!(value["retry"], 1);
        let stamp = value["last_updated"].as_str().unwrap();
        assert_eq!(stamp.len(), "2026-02-16T20:30:45.123456".len(), "{stamp}");
        assert_eq!(value["models"]["m:free"]["prompt_tokens"], 10);
    }

    #[test]
    fn concurrent_calls_never_lose_a_count() {
        let dir = scratch("concurrent");
        let stats = Arc::new(Stats::new(&dir));
        let threads: Vec<_> = (0..8)
            .map(|i| {
                let stats = Arc::clone(&stats);
                std::thread::spawn(move || {
                    for j in 0..25 {
                        let outcome =
                            [Outcome::Success, Outcome::Failed, Outcome::Timeout][(i + j) % 3];
                        stats.record(call(outcome, 1));
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let day = day_name(stats_day());
        let saved: DayCounters =
            serde_json::from_slice(&fs::read(dir.join(format!("CALLS_{day}.json"))).unwrap())
                .unwrap();
        assert_eq!(saved.total, 200);
        assert_eq!(saved.total, saved.success + saved.failed + saved.timeout);
        assert_eq!(stats.call_log(&day).len(), 200);
        // A restart continues from the file.
        let again = Stats::new(&dir);
        again.record(call(Outcome::Success, 1));
        assert_eq!(again.today().total, 201);
    }

    #[test]
    fn a_corrupt_file_is_set_aside_not_fatal() {
        let dir = scratch("corrupt");
        let day = day_name(stats_day());
        fs::write(dir.join(format!("CALLS_{day}.json")), b"{\"date\": \"2026").unwrap();
        let stats = Stats::new(&dir);
        assert_eq!(stats.today().total, 0);
        let aside = fs::read_dir(&dir)
            .unwrap()
            .filter_map(Result::ok)
            .any(|e| e.file_name().to_string_lossy().contains(".corrupt-"));
        assert!(aside, "the corrupt file was not kept aside");
        stats.record(call(Outcome::Failed, 1));
        assert_eq!(stats.today().failed, 1);
    }

    #[test]
    fn last_days_fill_gaps_with_zeros() {
        let dir = scratch("days");
        let stats = Stats::new(&dir);
        stats.record(call(Outcome::Success, 1));
        let days = stats.last_days(14);
        assert_eq!(days.len(), 14);
        assert_eq!(days.last().unwrap().total, 1);
        assert!(days[..13].iter().all(|d| d.total == 0));
    }
}
