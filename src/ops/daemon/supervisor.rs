//! The supervisor (`daemon supervise`, started by `daemon start`): runs the proxy as a child
//! process with a fresh admin token, copies its log lines to the daemon log, notes its port
//! in the pid file, and on a stop request asks it to shut down through `POST /admin/shutdown`.
//!
//! It restarts only a proxy that had started, that is, had written its "listening on" line,
//! and at most `MAX_RESTARTS` times a minute. A proxy that stops before it listens (the port
//! is taken, a setting is refused) would stop the same way again: the supervisor gives up at
//! once, and writes why to `daemon.failed`, where `daemon start` reads it.

use std::collections::VecDeque;
use std::fs::{self, OpenOptions};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, ExitCode, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use super::pid_file::{Paths, PidFile, PidRecord};
use super::proxy_api::shutdown;
use super::rotating_log::RotatingLog;
use crate::app::state::ADMIN_TOKEN_VAR;
use crate::config::Config;
use crate::util::fs::write_durably;
use crate::util::sync::lock;

/// At most this many restarts within `RESTART_WINDOW`; one more and the supervisor gives up.
const MAX_RESTARTS: usize = 10;
const RESTART_WINDOW: Duration = Duration::from_secs(60);

/// The arguments the supervisor passes on to the proxy it runs.
pub(crate) struct ServeArgs {
    pub env_file: Option<PathBuf>,
    pub demo: bool,
}

impl ServeArgs {
    pub(super) fn to_args(&self) -> Vec<String> {
        let mut args = Vec::new();
        if let Some(f) = &self.env_file {
            let f = fs::canonicalize(f).unwrap_or_else(|_| f.clone());
            args.push("--env-file".to_string());
            args.push(f.display().to_string());
        }
        if self.demo {
            args.push("--demo".to_string());
        }
        args
    }
}

/// The supervisor: runs the proxy and brings it back when it dies.
pub(crate) fn supervise(config: &Config, serve: &ServeArgs) -> Result<ExitCode, String> {
    let paths = Paths::new(config);
    fs::create_dir_all(&paths.dir).map_err(|e| e.to_string())?;
    let log = Arc::new(Mutex::new(RotatingLog::open(paths.log())));
    let say = |line: &str| lock(&log).line(&format!("[supervisor] {line}"));
    let lock_file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(paths.lock())
        .map_err(|e| e.to_string())?;
    if lock_file.try_lock().is_err() {
        say("another supervisor holds the lock; exiting");
        return Err("already running".into());
    }
    // Ctrl-C or SIGTERM sent to the supervisor itself stops both cleanly, as `daemon stop` does.
    let stop_file = paths.stop();
    let _ = ctrlc::set_handler(move || {
        let _ = fs::write(&stop_file, b"stop");
    });
    let record = Arc::new(PidRecord::create(
        paths.pid(),
        PidFile {
            pid: std::process::id(),
            started_at: crate::util::clock::epoch_secs(),
            ..PidFile::default()
        },
    ));
    say(&format!("started (pid {})", std::process::id()));

    // Gives up: says why in the log and in `daemon.failed`, for `daemon start` to report.
    let give_up = |reason: &str| {
        say(reason);
        if let Err(e) = write_durably(&paths.failed(), reason.as_bytes()) {
            say(&format!("cannot write {}: {e}", paths.failed().display()));
        }
        let _ = fs::remove_file(paths.pid());
        Ok(ExitCode::FAILURE)
    };

    let mut recent: VecDeque<Instant> = VecDeque::new();
    loop {
        let token = crate::util::random::token();
        let (mut child, lines) = match spawn_proxy(serve, &token, &log, &record) {
            Ok(spawned) => spawned,
            Err(e) => return give_up(&format!("cannot start the proxy: {e}")),
        };
        let outcome = watch_child(&mut child, &paths, &token, &record, config.shutdown_grace);
        // The proxy has ended, so its stderr is closed and the reader ends too.
        let run = lines.join().unwrap_or_default();
        match outcome {
            ChildEnd::StopAsked => {
                say("stopped on request");
                break;
            }
            ChildEnd::Exited(status) if !run.listened => {
                let reason = run
                    .reason()
                    .unwrap_or_else(|| format!("it ended ({status}) before it listened"));
                say(
                    "the proxy stopped before it listened: not restarted, it would stop the same way",
                );
                return give_up(&format!("the proxy could not start: {reason}"));
            }
            ChildEnd::Exited(status) if status.success() => {
                say("the proxy exited normally; stopping");
                break;
            }
            ChildEnd::Exited(_) => {
                let now = Instant::now();
                recent.push_back(now);
                while recent
                    .front()
                    .is_some_and(|t| now.duration_since(*t) > RESTART_WINDOW)
                {
                    recent.pop_front();
                }
                if recent.len() > MAX_RESTARTS {
                    return give_up(&format!(
                        "the proxy died {} times within a minute; giving up (see the lines \
                         above in {})",
                        recent.len(),
                        paths.log().display()
                    ));
                }
                record.update(|pid| {
                    pid.restarts += 1;
                    pid.proxy_pid = None;
                    pid.port = None;
                });
                say(&format!(
                    "the proxy died; restart {}",
                    record.get().restarts
                ));
                thread::sleep(Duration::from_millis(300));
            }
        }
    }
    let _ = fs::remove_file(paths.pid());
    let _ = fs::remove_file(paths.stop());
    drop(lock_file);
    Ok(ExitCode::SUCCESS)
}

enum ChildEnd {
    StopAsked,
    /// The proxy exited by itself.
    Exited(ExitStatus),
}

/// What one run of the proxy said on stderr, as far as the supervisor cares.
#[derive(Debug, Default)]
struct ProxyLines {
    /// It wrote its "listening on" line: it had started.
    listened: bool,
    /// Its last lines, for the reason when it stops before it listens.
    last: VecDeque<String>,
}

impl ProxyLines {
    const KEPT: usize = 20;

    fn push(&mut self, line: &str) {
        if self.last.len() == Self::KEPT {
            self.last.pop_front();
        }
        self.last.push_back(line.to_string());
    }

    /// Why it stopped, in its own words: its last error (the binary writes one as
    /// "openrouter-proxy: ..."), else its last line (a panic's own line, not the note that
    /// follows it).
    fn reason(&self) -> Option<String> {
        let mut lines = self.last.iter().rev().map(String::as_str);
        let error = lines
            .clone()
            .find_map(|l| l.strip_prefix("openrouter-proxy: "));
        error
            .or_else(|| lines.find(|l| !l.trim().is_empty() && !l.starts_with("note: ")))
            .map(str::to_string)
    }
}

/// Starts the proxy, and a thread that copies its log lines to the daemon log, notes its port
/// from its "listening on" line, and returns what it saw once the proxy's stderr closes.
fn spawn_proxy(
    serve: &ServeArgs,
    token: &str,
    log: &Arc<Mutex<RotatingLog>>,
    record: &Arc<PidRecord>,
) -> std::io::Result<(Child, JoinHandle<ProxyLines>)> {
    let exe = std::env::current_exe()?;
    let mut child = Command::new(exe)
        .arg("serve")
        .args(serve.to_args())
        .env(ADMIN_TOKEN_VAR, token)
        // The daemon log is a file: no colour codes in it, whatever the terminal that ran
        // `daemon start` asked for.
        .env("NO_COLOR", "1")
        .env_remove("CLICOLOR_FORCE")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()?;
    let proxy_pid = child.id();
    record.update(|pid| pid.proxy_pid = Some(proxy_pid));
    let stderr = child.stderr.take();
    let log = Arc::clone(log);
    let record = Arc::clone(record);
    let reader = thread::spawn(move || {
        let mut seen = ProxyLines::default();
        let Some(stderr) = stderr else {
            return seen;
        };
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(port) = listening_port(&line) {
                record.update(|pid| pid.port = Some(port));
                seen.listened = true;
            }
            seen.push(&line);
            lock(&log).line(&line);
        }
        seen
    });
    Ok((child, reader))
}

/// Waits for the child to end, or for a stop request (then asks the proxy to shut down).
fn watch_child(
    child: &mut Child,
    paths: &Paths,
    token: &str,
    record: &PidRecord,
    grace: Duration,
) -> ChildEnd {
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return ChildEnd::Exited(status);
        }
        if paths.stop().exists() {
            let port = record.get().port;
            if let Some(port) = port {
                shutdown(port, token);
            }
            let deadline = Instant::now() + grace + Duration::from_secs(2);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    return ChildEnd::StopAsked;
                }
                thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
            return ChildEnd::StopAsked;
        }
        thread::sleep(Duration::from_millis(100));
    }
}

/// The port in the proxy's "listening on http://HOST:PORT/v1" line.
fn listening_port(line: &str) -> Option<u16> {
    let rest = line.split("listening on http://").nth(1)?;
    let addr = rest.split('/').next()?;
    addr.parse::<SocketAddr>().ok().map(|a| a.port())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_port_is_read_from_the_banner() {
        assert_eq!(
            listening_port("openrouter-proxy 0.1.0 listening on http://127.0.0.1:5000/v1"),
            Some(5000)
        );
        assert_eq!(listening_port("something else"), None);
    }

    #[test]
    fn the_reason_is_the_proxys_last_error_else_its_last_line() {
        let mut lines = ProxyLines::default();
        assert_eq!(lines.reason(), None);
        lines.push("2026-12-01T22:35:18.123Z INFO  settings loaded");
        assert_eq!(
            lines.reason().as_deref(),
            Some("2026-12-01T22:35:18.123Z INFO  settings loaded")
        );
        lines.push("openrouter-proxy: cannot listen on 127.0.0.1:5000: Address already in use");
        lines.push("");
        assert_eq!(
            lines.reason().as_deref(),
            Some("cannot listen on 127.0.0.1:5000: Address already in use")
        );
        for n in 0..100 {
            lines.push(&format!("line {n}"));
        }
        assert_eq!(lines.last.len(), ProxyLines::KEPT);
    }
}
