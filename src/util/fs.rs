//! Files in `CACHE_DIR`, written so that a crash, a full disk, two writers or a planted symlink
//! never leave a wrong file.
//!
//! - Whole files are replaced atomically: written to a temporary file with a unique,
//!   unpredictable name created with `O_EXCL` in the same folder (the `tempfile` crate), then
//!   renamed over the target (a rename replaces a symlink at the target, it never writes
//!   through it). State files are also flushed to disk before the rename ([`write_durably`]).
//! - Logs are appended a line at a time to a file opened without following symlinks; a line
//!   always starts on a fresh line, even after a write that a full disk cut short.
//! - Files are served only when they are regular files, opened without following symlinks.
//! - A folder that is a symlink is refused.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::Path;

/// Replaces `path` with `bytes` (atomically; not flushed to disk: for files rewritten often).
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    replace(path, bytes, false)
}

/// Replaces `path` with `bytes`, atomically and flushed to disk first: for state a restart
/// must find (key counts, the console's settings, the daemon's pid file).
pub(crate) fn write_durably(path: &Path, bytes: &[u8]) -> io::Result<()> {
    replace(path, bytes, true)
}

fn replace(path: &Path, bytes: &[u8], durable: bool) -> io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    ensure_dir(dir)?;
    let mut tmp = tempfile::Builder::new().prefix(".tmp-").tempfile_in(dir)?;
    tmp.write_all(bytes)?;
    if durable {
        tmp.as_file().sync_all()?;
    }
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// Creates `dir` (and its parents) when missing; refuses it when it is a symlink.
pub(crate) fn ensure_dir(dir: &Path) -> io::Result<()> {
    match fs::symlink_metadata(dir) {
        Ok(meta) if meta.file_type().is_symlink() => Err(io::Error::other(format!(
            "{} is a symlink; the proxy writes only into real folders",
            dir.display()
        ))),
        Ok(meta) if meta.is_dir() => Ok(()),
        Ok(_) => Err(io::Error::other(format!(
            "{} is not a folder",
            dir.display()
        ))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => fs::create_dir_all(dir),
        Err(e) => Err(e),
    }
}

/// Opens `path` without following a symlink at its last component.
fn open_no_follow(path: &Path, options: &mut OpenOptions) -> io::Result<File> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NOFOLLOW);
    }
    #[cfg(not(unix))]
    {
        // No O_NOFOLLOW: look first (a narrow race, on a platform without the flag).
        if fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink()) {
            return Err(io::Error::other(format!(
                "{} is a symlink; not followed",
                path.display()
            )));
        }
    }
    options.open(path)
}

/// Appends `line` (which ends with a newline) to `path`, never through a symlink, and on a
/// fresh line when the file does not end with one (a write a full disk cut short).
pub(crate) fn append_line(path: &Path, line: &[u8]) -> io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        ensure_dir(dir)?;
    }
    let mut file = open_no_follow(
        path,
        OpenOptions::new().create(true).read(true).append(true),
    )?;
    let len = file.metadata()?.len();
    let mut out = Vec::with_capacity(line.len() + 1);
    if len > 0 {
        let mut last = [0u8; 1];
        file.seek(SeekFrom::Start(len - 1))?;
        file.read_exact(&mut last)?;
        if last[0] != b'\n' {
            out.push(b'\n');
        }
    }
    out.extend_from_slice(line);
    file.write_all(&out)
}

/// Reads `path` when it is a regular file (not a symlink, not a folder) of at most `limit`
/// bytes; `None` otherwise.
pub(crate) fn read_regular(path: &Path, limit: u64) -> Option<Vec<u8>> {
    let meta = fs::symlink_metadata(path).ok()?;
    if !meta.file_type().is_file() || meta.len() > limit {
        return None;
    }
    let file = open_no_follow(path, OpenOptions::new().read(true)).ok()?;
    let mut bytes = Vec::new();
    file.take(limit).read_to_end(&mut bytes).ok()?;
    Some(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn scratch(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("orp-fs-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// Issue 12: one temporary name per target made two writers collide (133 of 600 renames
    /// failed).
    #[test]
    fn concurrent_writers_of_one_file_never_fail() {
        let dir = scratch("race");
        let target = Arc::new(dir.join("state.json"));
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let target = Arc::clone(&target);
                std::thread::spawn(move || {
                    for i in 0..150 {
                        let body = format!("{{\"writer\":{t},\"i\":{i}}}");
                        write_atomically(&target, body.as_bytes()).unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let text = fs::read_to_string(&*target).unwrap();
        assert!(
            serde_json::from_str::<serde_json::Value>(&text).is_ok(),
            "{text}"
        );
        let leftovers = fs::read_dir(&dir).unwrap().count();
        assert_eq!(leftovers, 1, "no temporary file is left behind");
    }

    #[cfg(unix)]
    #[test]
    fn symlinks_are_never_written_through_or_served() {
        let dir = scratch("links");
        let outside = dir.join("outside.txt");
        fs::write(&outside, "precious\n").unwrap();
        let log = dir.join("calls_20260101.jsonl");
        std::os::unix::fs::symlink(&outside, &log).unwrap();
        assert!(append_line(&log, b"{}\n").is_err());
        let state = dir.join("key_usage.json");
        std::os::unix::fs::symlink(&outside, &state).unwrap();
        write_durably(&state, b"{}").unwrap();
        assert_eq!(fs::read_to_string(&outside).unwrap(), "precious\n");
        assert!(
            !fs::symlink_metadata(&state)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        let served = dir.join("served.json");
        std::os::unix::fs::symlink(&outside, &served).unwrap();
        assert!(read_regular(&served, 1 << 20).is_none());
        let folder = dir.join("captures");
        std::os::unix::fs::symlink(&dir, &folder).unwrap();
        assert!(write_atomically(&folder.join("x.json"), b"{}").is_err());
    }

    /// Issue 12: a half-written line (full disk) had the next append joined onto it.
    #[test]
    fn each_append_starts_on_a_fresh_line() {
        let dir = scratch("lines");
        let log = dir.join("calls.jsonl");
        fs::write(&log, "{\"a\":1}\n{\"cut\":").unwrap();
        append_line(&log, b"{\"b\":2}\n").unwrap();
        append_line(&log, b"{\"c\":3}\n").unwrap();
        let text = fs::read_to_string(&log).unwrap();
        assert_eq!(text, "{\"a\":1}\n{\"cut\":\n{\"b\":2}\n{\"c\":3}\n");
        assert!(read_regular(&log, 10).is_none(), "too large for the limit");
        assert!(read_regular(&log, 1000).is_some());
    }
}
