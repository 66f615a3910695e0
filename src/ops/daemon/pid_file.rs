//! The files of one daemon instance, in its `CACHE_DIR`: `daemon.pid` (who runs, on which
//! port, since when), `daemon.lock` (held by the supervisor for its whole life, so a stale pid
//! file shows as a free lock), `daemon.stop` (a stop request), `daemon.failed` (why the
//! supervisor gave up, written by it alone) and `daemon.log`. Reading and writing them is all
//! it does; deciding what to do is the commands' and the supervisor's.

use std::fs::{self, OpenOptions};
use std::path::PathBuf;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::util::fs::write_durably;
use crate::util::sync::lock;

/// What `daemon.pid` holds.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(super) struct PidFile {
    /// The supervisor.
    pub pid: u32,
    /// The proxy it runs now, and the port it listens on (once known).
    pub proxy_pid: Option<u32>,
    pub port: Option<u16>,
    /// When the supervisor started, in seconds since the epoch.
    pub started_at: u64,
    pub restarts: u32,
}

/// The supervisor's `daemon.pid`: the one copy of it in memory, and the only writer of the
/// file. Every change goes through [`PidRecord::update`], under one lock, so two threads (the
/// supervisor's loop, and the one that reads the proxy's port from its log) never write
/// stale copies over each other.
pub(super) struct PidRecord {
    path: PathBuf,
    current: Mutex<PidFile>,
}

impl PidRecord {
    /// Writes `first` and keeps it.
    pub(super) fn create(path: PathBuf, first: PidFile) -> PidRecord {
        let record = PidRecord {
            path,
            current: Mutex::new(first),
        };
        record.update(|_| {});
        record
    }

    /// Changes the record and writes it, durably.
    pub(super) fn update(&self, change: impl FnOnce(&mut PidFile)) {
        let mut current = lock(&self.current);
        change(&mut current);
        let bytes = serde_json::to_vec_pretty(&*current).unwrap_or_default();
        if let Err(e) = write_durably(&self.path, &bytes) {
            log::warn!("cannot write {}: {e}", self.path.display());
        }
    }

    pub(super) fn get(&self) -> PidFile {
        lock(&self.current).clone()
    }
}

/// The files of one instance, in its `CACHE_DIR`.
pub(super) struct Paths {
    /// The instance's `CACHE_DIR`.
    pub(super) dir: PathBuf,
}

impl Paths {
    pub(super) fn new(config: &Config) -> Paths {
        Paths {
            dir: config.cache_dir.clone(),
        }
    }
    pub(super) fn lock(&self) -> PathBuf {
        self.dir.join("daemon.lock")
    }
    pub(super) fn pid(&self) -> PathBuf {
        self.dir.join("daemon.pid")
    }
    pub(super) fn log(&self) -> PathBuf {
        self.dir.join("daemon.log")
    }
    pub(super) fn stop(&self) -> PathBuf {
        self.dir.join("daemon.stop")
    }
    /// Why the last supervisor gave up; `daemon start` removes it before it launches one.
    pub(super) fn failed(&self) -> PathBuf {
        self.dir.join("daemon.failed")
    }

    pub(super) fn read_pid(&self) -> Option<PidFile> {
        serde_json::from_slice(&fs::read(self.pid()).ok()?).ok()
    }

    /// Whether a supervisor holds the lock now.
    pub(super) fn running(&self) -> bool {
        let Ok(file) = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(self.lock())
        else {
            return false;
        };
        match file.try_lock() {
            Ok(()) => {
                let _ = file.unlock();
                false
            }
            Err(_) => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    /// Issue 12: the supervisor wrote the pid file while another thread read, changed and
    /// rewrote it, so one could undo the other's change.
    #[test]
    fn concurrent_changes_to_the_pid_file_are_all_kept() {
        let dir = std::env::temp_dir().join(format!("orp-pid-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let path = dir.join("daemon.pid");
        let record = Arc::new(PidRecord::create(path.clone(), PidFile::default()));
        let port_writer = {
            let record = Arc::clone(&record);
            std::thread::spawn(move || {
                for port in 1..=200 {
                    record.update(|p| p.port = Some(port));
                }
            })
        };
        for _ in 0..200 {
            record.update(|p| p.restarts += 1);
        }
        port_writer.join().unwrap();
        let saved: PidFile = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
        assert_eq!((saved.restarts, saved.port), (200, Some(200)));
    }
}
