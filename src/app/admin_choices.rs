//! `CACHE_DIR/admin.json`: the keys and models the console disabled, kept across restarts.
//!
//! One writer: [`AdminChoices::change`] writes the file (durably, through a temporary file)
//! under the same lock that guards the choices in memory, and keeps the old choices when the
//! write fails, so the file and the proxy never disagree. Keys are named by their fingerprint
//! (with the masked form beside it, for a person reading the file), never by the key itself.
//! The file is read at start and on every `.env` reload; a file that is not valid is set aside
//! with a warning and counts as empty.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::util::fs::{read_regular, write_durably};
use crate::util::sync::lock;
use crate::util::time_format::file_stamp;

/// The largest `admin.json` read (a real one is a few KiB).
const MAX_FILE_BYTES: u64 = 4 << 20;

/// What the console disabled.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Choices {
    /// Key fingerprint → the key's masked form.
    #[serde(default)]
    pub(crate) disabled_keys: BTreeMap<String, String>,
    /// Model ids.
    #[serde(default)]
    pub(crate) disabled_models: BTreeSet<String>,
}

impl Choices {
    pub(crate) fn key_ids(&self) -> HashSet<String> {
        self.disabled_keys.keys().cloned().collect()
    }

    pub(crate) fn model_ids(&self) -> HashSet<String> {
        self.disabled_models.iter().cloned().collect()
    }
}

pub(crate) struct AdminChoices {
    path: PathBuf,
    /// The choices in force; the file is written while this is held.
    current: Mutex<Choices>,
}

impl AdminChoices {
    /// The choices saved in `cache_dir` (none when there is no file).
    pub(crate) fn load(cache_dir: &Path) -> AdminChoices {
        let path = cache_dir.join("admin.json");
        let current = read(&path).unwrap_or_default();
        AdminChoices {
            path,
            current: Mutex::new(current),
        }
    }

    /// Reads the file again (a reload): a valid file replaces the choices in memory; a
    /// missing file means nothing is disabled; an invalid one is set aside and the choices in
    /// memory are kept.
    pub(crate) fn reload(&self) {
        let mut current = lock(&self.current);
        if !self.path.exists() {
            *current = Choices::default();
        } else if let Some(saved) = read(&self.path) {
            *current = saved;
        }
    }

    pub(crate) fn get(&self) -> Choices {
        lock(&self.current).clone()
    }

    /// Applies `edit` and saves the result; on a failed write nothing changes.
    pub(crate) fn change(&self, edit: impl FnOnce(&mut Choices)) -> io::Result<Choices> {
        let mut current = lock(&self.current);
        let mut next = current.clone();
        edit(&mut next);
        let bytes = serde_json::to_vec_pretty(&next).map_err(io::Error::other)?;
        write_durably(&self.path, &bytes)?;
        *current = next.clone();
        Ok(next)
    }
}

/// The file's choices; `None` (with a warning, the file moved aside) when it is not valid.
fn read(path: &Path) -> Option<Choices> {
    let bytes = read_regular(path, MAX_FILE_BYTES)?;
    match serde_json::from_slice::<Choices>(&bytes) {
        Ok(choices) => Some(choices),
        Err(e) => {
            let aside = path.with_extension(format!("json.corrupt-{}", file_stamp()));
            let moved = fs::rename(path, &aside);
            log::warn!(
                "{} is not valid ({e}), so nothing counts as disabled in the console; {}",
                path.display(),
                match moved {
                    Ok(()) => format!("moved aside to {}", aside.display()),
                    Err(m) => format!("could not move it aside ({m})"),
                }
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("orp-admin-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn choices_survive_a_restart_and_name_no_key() {
        let dir = scratch("restart");
        let choices = AdminChoices::load(&dir);
        assert_eq!(choices.get(), Choices::default());
        choices
            .change(|c| {
                c.disabled_keys
                    .insert("0123456789abcdef".into(), "sk-or-v1-abc...xyz".into());
                c.disabled_models.insert("a/b:free".into());
            })
            .unwrap();
        let again = AdminChoices::load(&dir);
        assert_eq!(again.get(), choices.get());
        assert_eq!(
            again.get().key_ids(),
            HashSet::from(["0123456789abcdef".to_string()])
        );
        // A reload reads the file again: removed by hand, nothing is disabled.
        fs::remove_file(dir.join("admin.json")).unwrap();
        again.reload();
        assert_eq!(again.get(), Choices::default());
    }

    #[test]
    fn a_failed_write_changes_nothing_and_a_bad_file_is_set_aside() {
        let dir = scratch("failures");
        let choices = AdminChoices::load(&dir);
        // The file's place is taken by a folder: the write fails.
        fs::create_dir_all(dir.join("admin.json").join("x")).unwrap();
        let result = choices.change(|c| {
            c.disabled_models.insert("a/b:free".into());
        });
        assert!(result.is_err());
        assert_eq!(choices.get(), Choices::default());
        fs::remove_dir_all(dir.join("admin.json")).unwrap();

        fs::write(dir.join("admin.json"), "{\"disabled_models\": [").unwrap();
        assert_eq!(AdminChoices::load(&dir).get(), Choices::default());
        let aside = fs::read_dir(&dir)
            .unwrap()
            .filter_map(Result::ok)
            .any(|e| e.file_name().to_string_lossy().contains(".corrupt-"));
        assert!(aside, "the bad file was kept aside");
    }
}
