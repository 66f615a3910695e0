//! The daemon log, `CACHE_DIR/daemon.log`: the supervisor's lines and the proxy's, appended,
//! and moved to `daemon.log.1` once the file passes `LOG_LIMIT`, so it never grows without
//! bound.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::PathBuf;

/// The log is rotated to `daemon.log.1` beyond this size.
const LOG_LIMIT: u64 = 10 << 20;

/// The daemon log: lines appended, moved to `daemon.log.1` beyond `LOG_LIMIT`.
pub(super) struct RotatingLog {
    path: PathBuf,
    file: Option<File>,
}

impl RotatingLog {
    pub(super) fn open(path: PathBuf) -> RotatingLog {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .ok();
        RotatingLog { path, file }
    }

    pub(super) fn line(&mut self, line: &str) {
        let too_big = self
            .file
            .as_ref()
            .and_then(|f| f.metadata().ok())
            .is_some_and(|m| m.len() > LOG_LIMIT);
        if too_big {
            let _ = fs::rename(&self.path, self.path.with_extension("log.1"));
            self.file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)
                .ok();
        }
        if let Some(f) = &mut self.file {
            let _ = writeln!(f, "{line}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_rotates_beyond_its_limit() {
        let dir = std::env::temp_dir().join(format!("orp-log-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("daemon.log");
        fs::write(&path, vec![b'x'; (LOG_LIMIT + 1) as usize]).unwrap();
        let mut log = RotatingLog::open(path.clone());
        log.line("fresh");
        assert_eq!(fs::read_to_string(&path).unwrap(), "fresh\n");
        assert!(dir.join("daemon.log.1").exists());
    }
}
