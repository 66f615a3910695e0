//! The proxy's logger behind the `log` facade: one line per record on stderr, written in one
//! system call, `2026-12-01T22:35:18.123Z INFO message`. `LOG_LEVEL` (error, warn, info,
//! debug) sets how much is written, and a reload of `.env` can change it live. On a terminal
//! the level is coloured (see `util::colour`); through a pipe or into a file, never.
//!
//! Lines go through `eprint!` so that the test harness captures them per test. Nothing logged
//! may hold a key: callers mask keys before they log (see `util::secret`).

use std::fmt::Arguments;

use log::{Level, LevelFilter, Log, Metadata, Record};

use crate::util::colour::Colour;
use crate::util::time_format::log_timestamp;

struct StderrLogger {
    /// Decided once, when the logger is installed: whether stderr shows colour.
    colour: Colour,
}

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
        eprint!("{}", line(self.colour, record.level(), record.args()));
    }

    fn flush(&self) {}
}

/// One log line, newline included.
fn line(colour: Colour, level: Level, message: &Arguments) -> String {
    let tag = format!("{level:<5}");
    let tag = match level {
        Level::Error => colour.red(&tag),
        Level::Warn => colour.yellow(&tag),
        Level::Info => colour.green(&tag),
        Level::Debug | Level::Trace => colour.dim(&tag),
    };
    format!("{} {tag} {message}\n", colour.dim(&log_timestamp()))
}

/// Installs the logger (once per process; later calls only change the level).
pub(crate) fn init(level: LevelFilter) {
    let _ = log::set_boxed_logger(Box::new(StderrLogger {
        colour: Colour::stderr(),
    }));
    log::set_max_level(level);
}

/// Changes how much is logged, from now on.
pub(crate) fn set_level(level: LevelFilter) {
    log::set_max_level(level);
}

/// Writes an info line whatever `LOG_LEVEL` says: for the one line others read (the
/// "listening on" line that the daemon's supervisor and the starters wait for).
pub(crate) fn announce(message: Arguments) {
    eprint!("{}", line(Colour::stderr(), Level::Info, &message));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_is_plain_without_colour_and_tagged_with_it() {
        let plain = line(Colour::off(), Level::Warn, &format_args!("hello"));
        assert!(plain.ends_with(" WARN  hello\n"), "{plain:?}");
        assert!(!plain.contains('\x1b'));
    }
}
