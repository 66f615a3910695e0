//! Reloads `.env` when it changes, without a restart.
//!
//! The file's folder is watched, not the file: an editor that saves by writing a new file and
//! renaming it over the old one would end a watch on the file itself. After a change, a short
//! quiet period lets the save finish; an invalid or half-written file keeps the running
//! configuration (the next change is read again), a removed file too. Settings that cannot
//! change while running (`HOST`, `PORT`, `CACHE_DIR`) are logged as needing a
//! restart.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use notify::{Event, EventKind, RecursiveMode, Watcher};

use crate::app::state::AppState;
use crate::config::RawSettings;
use crate::util::secret::mask_key;

/// How long the file must stay untouched before it is read.
const QUIET: Duration = Duration::from_millis(250);

/// Watches `path` for the rest of the process's life.
pub fn spawn(state: Arc<AppState>, path: PathBuf) {
    let _ = thread::Builder::new()
        .name("env-reload".into())
        .spawn(move || watch(&state, &path));
}

fn watch(state: &AppState, path: &Path) {
    let (tx, rx) = mpsc::channel::<notify::Result<Event>>();
    let mut watcher = match notify::recommended_watcher(tx) {
        Ok(w) => w,
        Err(e) => {
            log::warn!("cannot watch {} for changes: {e}", path.display());
            return;
        }
    };
    let folder = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if let Err(e) = watcher.watch(&folder, RecursiveMode::NonRecursive) {
        log::warn!("cannot watch {} for changes: {e}", folder.display());
        return;
    }
    let Some(name) = path.file_name().map(|n| n.to_os_string()) else {
        return;
    };
    let touches = |event: &notify::Result<Event>| match event {
        // Reading the file is an access event: ignoring those keeps a reload from triggering itself.
        Ok(e) => {
            !matches!(e.kind, EventKind::Access(_))
                && e.paths.iter().any(|p| p.file_name() == Some(&name))
        }
        Err(_) => false,
    };
    while let Ok(event) = rx.recv() {
        if !touches(&event) {
            continue;
        }
        while rx.recv_timeout(QUIET).is_ok() {}
        apply(state, path);
    }
}

/// Reads the file again and, when it is valid, makes it the running configuration.
pub(crate) fn apply(state: &AppState, path: &Path) {
    if !path.exists() {
        log::warn!(
            "{} was removed; keeping the running configuration",
            path.display()
        );
        return;
    }
    let config = match RawSettings::load(path, true).and_then(|raw| {
        for note in raw.unknown_settings() {
            log::warn!("{note}");
        }
        raw.validate()
    }) {
        Ok(config) => config,
        Err(e) => {
            log::warn!(
                "{} has a problem ({e}); keeping the running configuration",
                path.display()
            );
            return;
        }
    };
    let summary = format!(
        "{} key(s) {}, {}, at most {} calls at once",
        config.keys.len(),
        config
            .keys
            .iter()
            .map(|k| mask_key(k))
            .collect::<Vec<_>>()
            .join(", "),
        config.strategy,
        config.max_concurrent
    );
    crate::util::logger::set_level(config.log_level);
    match state.reload(config) {
        Ok(restart) => {
            log::info!("settings reloaded from {}: {summary}", path.display());
            if !restart.is_empty() {
                log::info!(
                    "{} changed in {}; that takes a restart",
                    restart.join(", "),
                    path.display()
                );
            }
        }
        Err(e) => log::warn!(
            "cannot apply {} ({e}); keeping the running configuration",
            path.display()
        ),
    }
}
