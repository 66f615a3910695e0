//! The servers the benchmark runs as processes of their own: the proxy (the release binary),
//! nginx (the floor for one proxy hop) and LiteLLM (the peer). Each runs in a process group of
//! its own, in a folder of its own under the scratch folder, and is stopped when dropped.

use std::fs;
use std::io;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use openrouter_proxy::demo::{FakeUpstream, MODELS_JSON};

use crate::args::Args;
use crate::client::{Client, get};
use crate::system::children;
use crate::target::{FAKE_KEY, MODEL, Target};

/// A server process the benchmark started; killed (with its process group) when dropped.
pub struct Process {
    child: Child,
    pub addr: SocketAddr,
    /// Its folder: its configuration, its log (`server.log`).
    dir: PathBuf,
}

impl Process {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.join("server.log")).unwrap_or_default()
    }

    /// The process and its children: nginx's master and worker, LiteLLM's workers.
    pub fn pids(&self) -> Vec<u32> {
        let mut pids = vec![self.pid()];
        pids.extend(children(self.pid()));
        pids
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        // The server runs in a process group of its own: end the group (LiteLLM may have
        // children), then the process itself.
        let _ = Command::new("kill")
            .args(["-TERM", "--", &format!("-{}", self.child.id())])
            .stderr(Stdio::null())
            .status();
        for _ in 0..50 {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts a server in a process group of its own (Unix), so that a signal to the driver does
/// not reach it before the driver has stopped it; elsewhere a plain start.
pub fn spawn_in_group(cmd: &mut Command) -> io::Result<Child> {
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        cmd.process_group(0);
    }
    cmd.spawn()
}

/// Starts the real proxy binary against the fake, with `extra` settings, in a folder of its own
/// under `scratch`. Its catalog comes from `CACHE_DIR/models.json` (the fixture); see `measure::start_fake`.
pub fn start_proxy(
    args: &Args,
    fake: &FakeUpstream,
    scratch: &Path,
    name: &str,
    extra: &[(&str, &str)],
) -> Result<Process, String> {
    let dir = scratch.join(name);
    let cache = dir.join("cache");
    // The proxy watches the folder it starts in (where `.env` would be) for changes: its log
    // must be written elsewhere, or every log line would wake the watcher.
    let work = dir.join("work");
    fs::create_dir_all(&cache).map_err(|e| e.to_string())?;
    fs::create_dir_all(&work).map_err(|e| e.to_string())?;
    fs::write(cache.join("models.json"), MODELS_JSON).map_err(|e| e.to_string())?;
    let log = fs::File::create(dir.join("server.log")).map_err(|e| e.to_string())?;
    let mut cmd = match &args.wrap {
        Some(wrap) => {
            let mut words = wrap.split_whitespace();
            let mut c = Command::new(words.next().ok_or("empty --wrap")?);
            c.args(words).arg(&args.proxy_bin);
            c
        }
        None => Command::new(&args.proxy_bin),
    };
    cmd.current_dir(&work)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("OPENROUTER_BASE_URL", fake.base_url())
        .env("OPENROUTER_API_KEY", FAKE_KEY)
        .env("RETRY_POLICY", "never")
        .env("CACHE_DIR", &cache)
        .env("HOST", "127.0.0.1")
        .env("PORT", "0")
        .env("FREE_DAILY_LIMIT", "1000000000")
        .env("DEBUG_MODE_FILE", dir.join("DEBUG_MODE.txt"))
        .envs(extra.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log);
    let child = spawn_in_group(&mut cmd).map_err(|e| format!("cannot start the proxy: {e}"))?;
    let mut process = Process {
        child,
        addr: "127.0.0.1:0".parse().expect("addr"),
        dir,
    };
    // "openrouter-proxy 0.1.0 listening on http://127.0.0.1:PORT/v1"
    let deadline = Instant::now() + Duration::from_secs(if args.wrap.is_some() { 120 } else { 15 });
    loop {
        let log = process.log();
        // The line is written in pieces: wait for its end.
        let line = log
            .split("listening on http://")
            .nth(1)
            .filter(|r| r.contains("/v1"));
        if let Some(rest) = line {
            let addr = rest.split("/v1").next().unwrap_or("");
            process.addr = addr
                .parse()
                .map_err(|_| format!("cannot read the address in {log:?}"))?;
            break;
        }
        if let Ok(Some(status)) = process.child.try_wait() {
            return Err(format!("the proxy exited ({status}): {log}"));
        }
        if Instant::now() > deadline {
            return Err(format!("the proxy did not say where it listens: {log}"));
        }
        thread::sleep(Duration::from_millis(5));
    }
    match get(process.addr, "/health") {
        Ok((200, body)) if body.contains("\"free\":") => Ok(process),
        other => Err(format!("the proxy's /health answered {other:?}")),
    }
}

pub fn free_port() -> io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Starts LiteLLM's proxy with one model entry that forwards to the fake as an
/// OpenAI-compatible endpoint. No database, no telemetry, no cost-map download.
pub fn start_litellm(bin: &Path, fake: &FakeUpstream, scratch: &Path) -> Result<Process, String> {
    let dir = scratch.join("litellm");
    fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let config = format!(
        "model_list:\n  - model_name: {MODEL}\n    litellm_params:\n      model: openai/{MODEL}\n      \
         api_base: {}\n      api_key: sk-bench-dummy\nlitellm_settings:\n  telemetry: false\n\
         general_settings:\n  master_key: {FAKE_KEY}\n",
        fake.base_url()
    );
    fs::write(dir.join("config.yaml"), config).map_err(|e| e.to_string())?;
    let port = free_port().map_err(|e| e.to_string())?;
    let log = fs::File::create(dir.join("server.log")).map_err(|e| e.to_string())?;
    let mut cmd = Command::new(bin);
    cmd.current_dir(&dir)
        .args(["--config", "config.yaml", "--host", "127.0.0.1", "--port"])
        .arg(port.to_string())
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", &dir)
        .env("LITELLM_TELEMETRY", "False")
        .env("LITELLM_LOCAL_MODEL_COST_MAP", "True")
        .env("LITELLM_MODE", "PRODUCTION")
        .stdin(Stdio::null())
        .stdout(log.try_clone().map_err(|e| e.to_string())?)
        .stderr(log);
    let child = spawn_in_group(&mut cmd).map_err(|e| format!("cannot start LiteLLM: {e}"))?;
    let mut process = Process {
        child,
        addr: SocketAddr::from(([127, 0, 0, 1], port)),
        dir,
    };
    let deadline = Instant::now() + Duration::from_secs(240);
    let target = Target::new("LiteLLM", process.addr, "/v1/chat/completions", MODEL);
    loop {
        if let Ok(Some(status)) = process.child.try_wait() {
            return Err(format!(
                "LiteLLM exited ({status}); its log:\n{}",
                tail(&process.log())
            ));
        }
        let mut conn = Client::new(process.addr);
        if let Ok(200) = conn.exchange(&target.whole) {
            return Ok(process);
        }
        if Instant::now() > deadline {
            return Err(format!(
                "LiteLLM did not answer within 240 s; its log:\n{}",
                tail(&process.log())
            ));
        }
        thread::sleep(Duration::from_millis(250));
    }
}

/// Starts nginx as a reverse proxy in front of the fake: the floor for what one proxy hop
/// costs. One worker process (the proxy has the same two cores to itself), in the foreground,
/// with its own prefix, configuration and logs under `scratch`; responses are not buffered
/// (`proxy_buffering off`, so streams flow event by event), and upstream connections are kept
/// alive (HTTP/1.1, a pool of 32), as the proxy keeps its own. Its access log is off: the floor
/// is the hop alone (the proxy's own log line costs it one `write` per request more).
pub fn start_nginx(bin: &Path, fake: &FakeUpstream, scratch: &Path) -> Result<Process, String> {
    let dir = scratch.join("nginx");
    fs::create_dir_all(dir.join("temp")).map_err(|e| e.to_string())?;
    let port = free_port().map_err(|e| e.to_string())?;
    let d = dir.display();
    // Requests keep the proxy's paths: /v1/chat/completions → the fake's /api/v1/….
    // keepalive_requests is raised from 1,000 so that nginx never closes a benchmark
    // connection the proxy would have kept; worker_connections leaves room for the idle
    // connections row.
    let config = format!(
        "daemon off;\nworker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/error.log warn;\n\
         worker_rlimit_nofile 8192;\nevents {{ worker_connections 4096; }}\n\
         http {{\n  access_log off;\n  client_body_temp_path {d}/temp/body;\n  \
         proxy_temp_path {d}/temp/proxy;\n  fastcgi_temp_path {d}/temp/fastcgi;\n  \
         uwsgi_temp_path {d}/temp/uwsgi;\n  scgi_temp_path {d}/temp/scgi;\n  \
         keepalive_requests 100000000;\n  keepalive_timeout 75s;\n  \
         upstream fake {{\n    server {upstream};\n    keepalive 32;\n    \
         keepalive_requests 100000000;\n  }}\n  \
         server {{\n    listen 127.0.0.1:{port};\n    location / {{\n      \
         proxy_pass http://fake/api/;\n      proxy_http_version 1.1;\n      \
         proxy_set_header Connection \"\";\n      proxy_buffering off;\n    }}\n  }}\n}}\n",
        upstream = fake.addr(),
    );
    fs::write(dir.join("nginx.conf"), config).map_err(|e| e.to_string())?;
    let log = fs::File::create(dir.join("server.log")).map_err(|e| e.to_string())?;
    let mut cmd = Command::new(bin);
    cmd.current_dir(&dir)
        .arg("-p")
        .arg(&dir)
        .arg("-c")
        .arg(dir.join("nginx.conf"))
        .arg("-e")
        .arg(dir.join("error.log"))
        .stdin(Stdio::null())
        .stdout(log.try_clone().map_err(|e| e.to_string())?)
        .stderr(log);
    let child = spawn_in_group(&mut cmd).map_err(|e| format!("cannot start nginx: {e}"))?;
    let mut process = Process {
        child,
        addr: SocketAddr::from(([127, 0, 0, 1], port)),
        dir,
    };
    let target = Target::new("nginx", process.addr, "/v1/chat/completions", MODEL);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(Some(status)) = process.child.try_wait() {
            let errors = fs::read_to_string(process.dir.join("error.log")).unwrap_or_default();
            return Err(format!(
                "nginx exited ({status}): {}{}",
                process.log(),
                tail(&errors)
            ));
        }
        if let Ok(200) = Client::new(process.addr).exchange(&target.whole) {
            return Ok(process);
        }
        if Instant::now() > deadline {
            return Err("nginx did not answer within 10 s".into());
        }
        thread::sleep(Duration::from_millis(50));
    }
}

pub fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}
