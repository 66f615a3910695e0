//! Files in `CACHE_DIR`: whole files replaced atomically, logs appended a line at a time.

use std::fs;
use std::path::Path;

/// Writes through a temporary file renamed over the target, so a crash never leaves half a file.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    fs::write(&tmp, bytes)?;
    fs::rename(&tmp, path)
}
