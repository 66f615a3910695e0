//! The proxy's logger behind the `log` facade: one line per record on stderr, written in one
//! system call, `2026-12-01T22:35:18.123Z INFO message`. `LOG_LEVEL` (error, warn, info,
//! debug) sets how much is written, and a reload of `.env` can change it live.
//!
//! Lines go through `eprint!` so that the test harness captures them per test. Nothing logged
//! may hold a key: callers mask keys before they log (see `util::secret`).

use log::{LevelFilter, Log, Metadata, Record};

use crate::util::time_format::log_timestamp;

struct StderrLogger;

static LOGGER: StderrLogger = StderrLogger;

impl Log for StderrLogger {
    fn enabled(&self, metadata: &Metadata) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &Record) {
        if !self.enabled(record.metadata()) {
            return;
        }
        // Only our own crate logs: the libraries' debug chatter (ureq, rustls) would drown it.
        if !record.target().starts_with(env!("CARGO_CRATE_NAME")) {
            return;
        }
        let line = format!(
            "{} {:<5} {}\n",
            log_timestamp(),
            record.level(),
            record.args()
        );
        eprint!("{line}");
    }

    fn flush(&self) {}
}

/// Installs the logger (once per process; later calls only change the level).
pub(crate) fn init(level: LevelFilter) {
    let _ = log::set_logger(&LOGGER);
    log::set_max_level(level);
}

/// Changes how much is logged, from now on.
pub(crate) fn set_level(level: LevelFilter) {
    log::set_max_level(level);
}
