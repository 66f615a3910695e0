//! The files of one daemon instance, in its `CACHE_DIR`: `daemon.pid` (who runs, on which
//! port, since when), `daemon.lock` (held by the supervisor for its whole life, so a stale pid
//! file shows as a free lock), `daemon.stop` (a stop request) and `daemon.log`. Reading and
//! writing them is all it does; deciding what to do is the commands' and the supervisor's.

use std::fs::{self, OpenOptions};
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::config::Config;

/// What `daemon.pid` holds.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PidFile {
    /// The supervisor.
    pub pid: u32,
    /// The proxy it runs now, and the port it listens on (once known).
    pub proxy_pid: Option<u32>,
    pub port: Option<u16>,
    /// When the supervisor started, in seconds since the epoch.
    pub started_at: u64,
    pub restarts: u32,
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

    pub(super) fn read_pid(&self) -> Option<PidFile> {
        serde_json::from_slice(&fs::read(self.pid()).ok()?).ok()
    }

    pub(super) fn write_pid(&self, pid: &PidFile) {
        let bytes = serde_json::to_vec_pretty(pid).unwrap_or_default();
        let _ = crate::util::fs::write_atomically(&self.pid(), &bytes);
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
