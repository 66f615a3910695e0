//! Daemon mode: `openrouter-proxy daemon start | stop | status | restart`.
//!
//! `start` launches a supervisor in the background and returns once the proxy it runs answers
//! `/health`, or as soon as the supervisor gives up, with its reason (a proxy that cannot
//! start at all, because its port is taken or a setting is refused, ends the supervisor at
//! once; the settings themselves are checked before anything is launched). The supervisor
//! runs the proxy as a child process, writes its log to `CACHE_DIR/daemon.log` (rotated by
//! size), and restarts it when it exits abnormally after it had started, at most 10 times a
//! minute. One instance per `CACHE_DIR`: the supervisor holds a lock on
//! `CACHE_DIR/daemon.lock` for its whole life, which the system releases whatever way it
//! ends, so a stale `daemon.pid` is recognised by the lock being free.
//!
//! `stop` asks the supervisor through a file (`daemon.stop`), and the supervisor asks its
//! proxy through `POST /admin/shutdown` with a token only it knows: no signals, so it works the
//! same on Windows. Only when that fails does `stop` kill the processes.
//!
//! The files: this one holds the commands but `status`, which is in `status`; `supervisor`
//! runs and restarts the proxy; `pid_file` is the instance's files in `CACHE_DIR` (pid file,
//! lock, stop request, failure reason); `proxy_api` is what the daemon asks its proxy over
//! HTTP; `rotating_log` is the log.

mod pid_file;
mod proxy_api;
mod rotating_log;
mod status;
mod supervisor;

use std::fs;
use std::path::Path;
use std::process::{Command, ExitCode, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::config::Config;
use crate::util::colour::Colour;
use pid_file::Paths;
use proxy_api::health;
pub(crate) use status::status;
pub(crate) use supervisor::{ServeArgs, supervise};

/// How long `start` waits for the proxy to answer `/health` while the supervisor runs: a
/// bound for a proxy that neither listens nor fails.
const START_TIMEOUT: Duration = Duration::from_secs(30);

pub(crate) fn start(config: &Config, serve: &ServeArgs) -> Result<ExitCode, String> {
    let paths = Paths::new(config);
    fs::create_dir_all(&paths.dir)
        .map_err(|e| format!("cannot create {}: {e}", paths.dir.display()))?;
    if paths.running() {
        let pid = paths.read_pid().unwrap_or_default();
        return Err(format!(
            "already running for {} (pid {}, port {}); use `daemon stop` or `daemon restart`",
            paths.dir.display(),
            pid.pid,
            pid.port.map_or("unknown".into(), |p| p.to_string())
        ));
    }
    if paths.pid().exists() {
        eprintln!("a stale daemon.pid was found (its process is gone); replacing it");
        let _ = fs::remove_file(paths.pid());
    }
    let _ = fs::remove_file(paths.stop());
    let _ = fs::remove_file(paths.failed());
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this program: {e}"))?;
    let mut command = Command::new(exe);
    command
        .arg("daemon")
        .arg("supervise")
        .args(serve.to_args())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    detach(&mut command);
    let mut supervisor = command
        .spawn()
        .map_err(|e| format!("cannot start the supervisor: {e}"))?;
    let supervisor_pid = supervisor.id();

    let deadline = Instant::now() + START_TIMEOUT;
    while Instant::now() < deadline {
        thread::sleep(Duration::from_millis(100));
        if let Ok(Some(_)) = supervisor.try_wait() {
            return Err(gave_up(&paths));
        }
        let Some(pid) = paths.read_pid().filter(|p| p.pid == supervisor_pid) else {
            continue;
        };
        if let Some(port) = pid.port
            && health(port).is_some()
        {
            println!(
                "{}: supervisor pid {supervisor_pid}, proxy pid {}, listening on \
                 http://127.0.0.1:{port}/v1\nlog: {}",
                Colour::stdout().green("started"),
                pid.proxy_pid.unwrap_or(0),
                paths.log().display()
            );
            return Ok(ExitCode::SUCCESS);
        }
    }
    Err(format!(
        "the proxy did not answer /health within {} s; the end of {}:\n{}",
        START_TIMEOUT.as_secs(),
        paths.log().display(),
        log_tail(&paths.log(), 15)
    ))
}

/// What `start` says when its supervisor ended before the proxy answered: the reason the
/// supervisor wrote, or the end of the log.
fn gave_up(paths: &Paths) -> String {
    match fs::read_to_string(paths.failed()) {
        Ok(reason) => format!("{}\nthe log: {}", reason.trim(), paths.log().display()),
        Err(_) => format!(
            "the supervisor stopped before the proxy answered; the end of {}:\n{}",
            paths.log().display(),
            log_tail(&paths.log(), 15)
        ),
    }
}

pub(crate) fn stop(config: &Config) -> Result<ExitCode, String> {
    let paths = Paths::new(config);
    if !paths.running() {
        if paths.pid().exists() {
            let _ = fs::remove_file(paths.pid());
            println!("not running (removed a stale daemon.pid)");
        } else {
            println!("not running");
        }
        return Ok(ExitCode::SUCCESS);
    }
    let pid = paths.read_pid().unwrap_or_default();
    fs::write(paths.stop(), b"stop").map_err(|e| format!("cannot ask for a stop: {e}"))?;
    let deadline = Instant::now() + config.shutdown_grace + Duration::from_secs(10);
    while Instant::now() < deadline {
        if !paths.running() {
            let _ = fs::remove_file(paths.pid());
            let _ = fs::remove_file(paths.stop());
            println!("stopped (supervisor pid {})", pid.pid);
            return Ok(ExitCode::SUCCESS);
        }
        thread::sleep(Duration::from_millis(100));
    }
    // The supervisor did not answer: end both processes.
    for p in [Some(pid.pid), pid.proxy_pid].into_iter().flatten() {
        force_kill(p);
    }
    thread::sleep(Duration::from_millis(300));
    let _ = fs::remove_file(paths.pid());
    let _ = fs::remove_file(paths.stop());
    println!("stopped by force (supervisor pid {})", pid.pid);
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn restart(config: &Config, serve: &ServeArgs) -> Result<ExitCode, String> {
    stop(config)?;
    start(config, serve)
}

/// Detaches the supervisor from the terminal that started it, so Ctrl-C there does not reach it.
fn detach(command: &mut Command) {
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        command.process_group(0);
    }
    #[cfg(windows)]
    {
        use std::os::windows::process::CommandExt;
        const DETACHED_PROCESS: u32 = 0x0000_0008;
        const CREATE_NEW_PROCESS_GROUP: u32 = 0x0000_0200;
        command.creation_flags(DETACHED_PROCESS | CREATE_NEW_PROCESS_GROUP);
    }
}

/// Ends a process that did not stop when asked.
fn force_kill(pid: u32) {
    let pid = pid.to_string();
    #[cfg(unix)]
    let _ = Command::new("kill").args(["-9", &pid]).status();
    #[cfg(windows)]
    let _ = Command::new("taskkill")
        .args(["/PID", &pid, "/F", "/T"])
        .status();
}

fn log_tail(path: &Path, lines: usize) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
