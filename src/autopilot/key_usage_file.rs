//! `CACHE_DIR/key_usage.json`: how much of today's free allowance each key has used, saved so
//! that a restart remembers it. The file names a key only by a one-way fingerprint and its
//! masked form, never by the key itself; a file from another UTC day is ignored.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::util::clock::{epoch_ms, from_epoch_ms};
use crate::util::fs::write_durably;
use crate::util::secret::{fingerprint, mask_key};

/// One key's day, as saved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SavedDay {
    pub(crate) used: u32,
    pub(crate) limit: u32,
    /// When a key that hit the per-day limit comes back.
    pub(crate) out_until: Option<SystemTime>,
}

/// The file's format.
#[derive(Serialize, Deserialize, Default)]
struct SavedUsage {
    date: String,
    keys: Vec<SavedKey>,
}

#[derive(Serialize, Deserialize)]
struct SavedKey {
    fingerprint: String,
    masked: String,
    used: u32,
    limit: u32,
    out_until_ms: Option<u64>,
}

/// The usage file of one cache folder.
pub(crate) struct KeyUsageFile {
    path: PathBuf,
}

impl KeyUsageFile {
    pub(crate) fn in_dir(cache_dir: &Path) -> KeyUsageFile {
        KeyUsageFile {
            path: cache_dir.join("key_usage.json"),
        }
    }

    /// What the file holds for each of `secrets` on `day`; `None` for a key it does not name,
    /// and for every key when the file is missing, unreadable or of another day.
    pub(crate) fn load<S: AsRef<str>>(
        &self,
        day: NaiveDate,
        secrets: &[S],
    ) -> Vec<Option<SavedDay>> {
        let saved = std::fs::read(&self.path)
            .ok()
            .and_then(|b| serde_json::from_slice::<SavedUsage>(&b).ok())
            .filter(|s| s.date == day.to_string())
            .unwrap_or_default();
        secrets
            .iter()
            .map(|secret| {
                let print = fingerprint(secret.as_ref());
                let key = saved.keys.iter().find(|k| k.fingerprint == print)?;
                Some(SavedDay {
                    used: key.used,
                    limit: key.limit.max(1),
                    out_until: key.out_until_ms.map(from_epoch_ms),
                })
            })
            .collect()
    }

    /// Replaces the file with each key's `day`; a failure is logged, since the counts are
    /// still right in memory.
    pub(crate) fn save<'a>(&self, day: NaiveDate, keys: impl Iterator<Item = (&'a str, SavedDay)>) {
        let saved = SavedUsage {
            date: day.to_string(),
            keys: keys
                .map(|(secret, k)| SavedKey {
                    fingerprint: fingerprint(secret),
                    masked: mask_key(secret),
                    used: k.used,
                    limit: k.limit,
                    out_until_ms: k.out_until.map(epoch_ms),
                })
                .collect(),
        };
        let bytes = serde_json::to_vec_pretty(&saved).unwrap_or_default();
        if let Err(e) = write_durably(&self.path, &bytes) {
            log::warn!("cannot save {}: {e}", self.path.display());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn a_day_is_saved_and_read_back_by_fingerprint_without_the_key() {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        let dir =
            std::env::temp_dir().join(format!("orp-key-usage-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = KeyUsageFile::in_dir(&dir);
        let day = NaiveDate::from_ymd_opt(2026, 12, 1).unwrap();
        let secrets = [
            "sk-or-v1-first-00000000000000000000000",
            "sk-or-v1-second-0000000000000000000000",
        ];
        let out = UNIX_EPOCH + Duration::from_millis(1_790_553_600_000);
        let first = SavedDay {
            used: 7,
            limit: 1000,
            out_until: Some(out),
        };
        file.save(day, [(secrets[0], first)].into_iter());
        let text = std::fs::read_to_string(dir.join("key_usage.json")).unwrap();
        assert!(!text.contains(secrets[0]), "{text}");
        assert!(text.contains(&mask_key(secrets[0])), "{text}");
        assert_eq!(file.load(day, &secrets), vec![Some(first), None]);
        let next_day = day.succ_opt().unwrap();
        assert_eq!(file.load(next_day, &secrets), vec![None, None]);
    }
}
