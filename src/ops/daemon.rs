//! Daemon mode: `openrouter-proxy daemon start | stop | status | restart`.
//!
//! `start` launches a supervisor in the background and returns once the proxy it runs answers
//! `/health`. The supervisor runs the proxy as a child process, writes its log to
//! `CACHE_DIR/daemon.log` (rotated by size), and restarts it when it exits abnormally, at most
//! 10 times a minute. One instance per `CACHE_DIR`: the supervisor holds a lock on
//! `CACHE_DIR/daemon.lock` for its whole life, which the system releases whatever way it
//! ends, so a stale `daemon.pid` is recognised by the lock being free.
//!
//! `stop` asks the supervisor through a file (`daemon.stop`), and the supervisor asks its
//! proxy through `POST /admin/shutdown` with a token only it knows: no signals, so it works the
//! same on Windows. Only when that fails does `stop` kill the processes.

use std::collections::VecDeque;
use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::app::state::ADMIN_TOKEN_VAR;
use crate::config::Config;
use crate::util::http_client::Conn;
use crate::util::sync::lock;

/// At most this many restarts within `RESTART_WINDOW`; one more and the supervisor gives up.
const MAX_RESTARTS: usize = 10;
const RESTART_WINDOW: Duration = Duration::from_secs(60);
/// The log is rotated to `daemon.log.1` beyond this size.
const LOG_LIMIT: u64 = 10 << 20;
/// How long `start` waits for the proxy to answer `/health`.
const START_TIMEOUT: Duration = Duration::from_secs(30);

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
struct Paths {
    dir: PathBuf,
}

impl Paths {
    fn new(config: &Config) -> Paths {
        Paths {
            dir: config.cache_dir.clone(),
        }
    }
    fn lock(&self) -> PathBuf {
        self.dir.join("daemon.lock")
    }
    fn pid(&self) -> PathBuf {
        self.dir.join("daemon.pid")
    }
    fn log(&self) -> PathBuf {
        self.dir.join("daemon.log")
    }
    fn stop(&self) -> PathBuf {
        self.dir.join("daemon.stop")
    }

    fn read_pid(&self) -> Option<PidFile> {
        serde_json::from_slice(&fs::read(self.pid()).ok()?).ok()
    }

    fn write_pid(&self, pid: &PidFile) {
        let bytes = serde_json::to_vec_pretty(pid).unwrap_or_default();
        let _ = crate::util::fs::write_atomically(&self.pid(), &bytes);
    }

    /// Whether a supervisor holds the lock now.
    fn running(&self) -> bool {
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

/// The arguments the supervisor passes on to the proxy it runs.
pub struct ServeArgs {
    pub env_file: Option<PathBuf>,
    pub demo: bool,
}

impl ServeArgs {
    fn to_args(&self) -> Vec<String> {
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

pub fn start(config: &Config, serve: &ServeArgs) -> Result<ExitCode, String> {
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
    let supervisor = command
        .spawn()
        .map_err(|e| format!("cannot start the supervisor: {e}"))?;
    let supervisor_pid = supervisor.id();

    let deadline = Instant::now() + START_TIMEOUT;
    while Instant::now() < deadline {
        thread::sleep(Duration::from_millis(100));
        let Some(pid) = paths.read_pid().filter(|p| p.pid == supervisor_pid) else {
            continue;
        };
        if let Some(port) = pid.port
            && health(port).is_some()
        {
            println!(
                "started: supervisor pid {supervisor_pid}, proxy pid {}, listening on \
                 http://127.0.0.1:{port}/v1\nlog: {}",
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

pub fn stop(config: &Config) -> Result<ExitCode, String> {
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

pub fn status(config: &Config, json: bool) -> Result<ExitCode, String> {
    let paths = Paths::new(config);
    let running = paths.running();
    let pid = paths.read_pid().filter(|_| running);
    let health = pid.as_ref().and_then(|p| p.port).and_then(health);
    let uptime = pid
        .as_ref()
        .map(|p| crate::util::clock::epoch_secs().saturating_sub(p.started_at));
    if json {
        let value = serde_json::json!({
            "running": running,
            "pid": pid.as_ref().map(|p| p.pid),
            "proxy_pid": pid.as_ref().and_then(|p| p.proxy_pid),
            "port": pid.as_ref().and_then(|p| p.port),
            "uptime_seconds": uptime,
            "restarts": pid.as_ref().map(|p| p.restarts),
            "health": health.as_ref().and_then(|h| serde_json::from_str::<serde_json::Value>(h).ok()),
            "log": paths.log(),
        });
        println!(
            "{}",
            serde_json::to_string_pretty(&value).unwrap_or_default()
        );
    } else if let Some(p) = &pid {
        println!("running");
        println!("  supervisor pid  {}", p.pid);
        println!(
            "  proxy pid       {}",
            p.proxy_pid.map_or("-".into(), |v| v.to_string())
        );
        println!(
            "  port            {}",
            p.port.map_or("-".into(), |v| v.to_string())
        );
        println!(
            "  uptime          {}",
            crate::util::time_format::human_duration(Duration::from_secs(uptime.unwrap_or(0)))
        );
        println!("  restarts        {}", p.restarts);
        println!("  health          {}", health_summary(health.as_deref()));
        println!("  log             {}", paths.log().display());
    } else {
        println!("not running");
    }
    // 3 is the usual "not running" status of service scripts.
    Ok(if running {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(3)
    })
}

pub fn restart(config: &Config, serve: &ServeArgs) -> Result<ExitCode, String> {
    stop(config)?;
    start(config, serve)
}

/// The supervisor: runs the proxy and brings it back when it dies.
pub fn supervise(config: &Config, serve: &ServeArgs) -> Result<ExitCode, String> {
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
    let mut pid = PidFile {
        pid: std::process::id(),
        started_at: crate::util::clock::epoch_secs(),
        ..PidFile::default()
    };
    paths.write_pid(&pid);
    say(&format!("started (pid {})", pid.pid));

    let mut recent: VecDeque<Instant> = VecDeque::new();
    loop {
        let token = crate::util::random::token();
        let mut child = spawn_proxy(serve, &token, &log, &paths, &mut pid)
            .map_err(|e| format!("cannot start the proxy: {e}"))?;
        let outcome = watch_child(&mut child, &paths, &token, &pid, config.shutdown_grace);
        match outcome {
            ChildEnd::StopAsked => {
                say("stopped on request");
                break;
            }
            ChildEnd::Exited(true) => {
                say("the proxy exited normally; stopping");
                break;
            }
            ChildEnd::Exited(false) => {
                let now = Instant::now();
                recent.push_back(now);
                while recent
                    .front()
                    .is_some_and(|t| now.duration_since(*t) > RESTART_WINDOW)
                {
                    recent.pop_front();
                }
                if recent.len() > MAX_RESTARTS {
                    say(&format!(
                        "the proxy died {} times within a minute; giving up (see the lines above)",
                        recent.len()
                    ));
                    let _ = fs::remove_file(paths.pid());
                    return Ok(ExitCode::FAILURE);
                }
                pid.restarts += 1;
                pid.proxy_pid = None;
                paths.write_pid(&pid);
                say(&format!("the proxy died; restart {}", pid.restarts));
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
    /// The proxy exited by itself; true when it exited successfully.
    Exited(bool),
}

fn spawn_proxy(
    serve: &ServeArgs,
    token: &str,
    log: &Arc<Mutex<RotatingLog>>,
    paths: &Paths,
    pid: &mut PidFile,
) -> std::io::Result<Child> {
    let exe = std::env::current_exe()?;
    let mut child = Command::new(exe)
        .arg("serve")
        .args(serve.to_args())
        .env(ADMIN_TOKEN_VAR, token)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()?;
    pid.proxy_pid = Some(child.id());
    paths.write_pid(pid);
    // The proxy's log lines go to the daemon log; its "listening on" line gives the port.
    if let Some(stderr) = child.stderr.take() {
        let log = Arc::clone(log);
        let pid_path = paths.pid();
        thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(port) = listening_port(&line) {
                    let mut pid: PidFile = fs::read(&pid_path)
                        .ok()
                        .and_then(|b| serde_json::from_slice(&b).ok())
                        .unwrap_or_default();
                    pid.port = Some(port);
                    let bytes = serde_json::to_vec_pretty(&pid).unwrap_or_default();
                    let _ = crate::util::fs::write_atomically(&pid_path, &bytes);
                }
                lock(&log).line(&line);
            }
        });
    }
    Ok(child)
}

/// Waits for the child to end, or for a stop request (then asks the proxy to shut down).
fn watch_child(
    child: &mut Child,
    paths: &Paths,
    token: &str,
    pid: &PidFile,
    grace: Duration,
) -> ChildEnd {
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return ChildEnd::Exited(status.success());
        }
        if paths.stop().exists() {
            let port = paths.read_pid().and_then(|p| p.port).or(pid.port);
            if let Some(port) = port {
                let _ = http(port, "POST", "/admin/shutdown", &[("X-Admin-Token", token)]);
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

/// One line out of `/health`'s answer.
fn health_summary(body: Option<&str>) -> String {
    let Some(h) = body.and_then(|b| serde_json::from_str::<serde_json::Value>(b).ok()) else {
        return "(no answer)".into();
    };
    let c = &h["concurrency"];
    format!(
        "{}, {} key(s), {} free models, {}/{} calls in flight, {} waiting",
        h["status"].as_str().unwrap_or("?"),
        h["keys"].as_array().map_or(0, Vec::len),
        h["models"]["free"],
        c["in_flight"],
        c["limit"],
        c["waiting"]
    )
}

/// `GET /health` on loopback; the body when it answered 200.
fn health(port: u16) -> Option<String> {
    let (status, body) = http(port, "GET", "/health", &[])?;
    (status == 200).then_some(body)
}

/// One exchange with the local proxy through the raw HTTP client (the daemon must not depend
/// on the upstream client): its status and body, or `None` when it did not answer.
fn http(port: u16, method: &str, path: &str, headers: &[(&str, &str)]) -> Option<(u16, String)> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut conn = Conn::open(addr, Duration::from_secs(5)).ok()?;
    let mut all = vec![("Connection", "close")];
    all.extend_from_slice(headers);
    conn.send(method, path, &all, b"").ok()?;
    let response = conn.read_response().ok()?;
    Some((response.status, response.text()))
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

/// The daemon log: lines appended, moved to `daemon.log.1` beyond `LOG_LIMIT`.
struct RotatingLog {
    path: PathBuf,
    file: Option<File>,
}

impl RotatingLog {
    fn open(path: PathBuf) -> RotatingLog {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .ok();
        RotatingLog { path, file }
    }

    fn line(&mut self, line: &str) {
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
    fn the_port_is_read_from_the_banner() {
        assert_eq!(
            listening_port("openrouter-proxy 0.1.0 listening on http://127.0.0.1:5000/v1"),
            Some(5000)
        );
        assert_eq!(listening_port("something else"), None);
    }

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
