//! The benchmark driver behind `scripts/bench`: how much the proxy adds to a request, measured
//! against the same fake OpenRouter reached directly, in the same run.
//!
//! One process holds the fake upstream (`openrouter_proxy::demo`) and the clients. The
//! proxy runs as its own process (the release binary, configured through its environment), and
//! so do nginx with `--nginx PATH` (the floor for one proxy hop, measured in the same run) and
//! LiteLLM with `--litellm PATH`. Clients speak HTTP/1.1 over keep-alive connections with a
//! small hand-written client, so that the client's own cost is the same for every path.
//!
//! ```text
//! bench [--proxy-bin target/release/openrouter-proxy] [--nginx /usr/sbin/nginx]
//!       [--strace /usr/bin/strace] [--litellm VENV/bin/litellm] [--litellm-version V]
//!       [--out FILE] [--quick]
//! ```
//!
//! For investigating, one part alone:
//!
//! ```text
//! bench --profile-load SECONDS [--clients N] [--stream] [--proxy-env NAME=VALUE]...
//!       [--wrap "valgrind --tool=callgrind"]   # load for a profiler; prints the proxy's pid
//! bench --held N [--hold SECONDS]            # N streams held open: the proxy's memory
//! ```
//!
//! It prints Markdown tables and writes them to `--out`. What each figure means is in
//! BENCHMARKS.md.

use std::fmt::Write as _;
use std::fs;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use openrouter_proxy::demo::{FakeUpstream, MODELS_JSON, Script};
use openrouter_proxy::{PromptSize, count_text};

/// A free model of the fixture catalog: the proxy uses it as given, with no choosing.
const MODEL: &str = "openai/gpt-oss-20b:free";
const FAKE_KEY: &str = "sk-or-v1-bench-0000000000000000000000000000000000000000000000000000";
/// Content events per benchmark stream; with the stop event and `[DONE]`, 20 events.
const STREAM_PARTS: usize = 18;

// ---------------------------------------------------------------------------------------------
// Settings

struct Args {
    proxy_bin: PathBuf,
    nginx: Option<PathBuf>,
    strace: Option<PathBuf>,
    litellm: Option<PathBuf>,
    litellm_version: String,
    out: Option<PathBuf>,
    quick: bool,
    profile_load: Option<f64>,
    wrap: Option<String>,
    clients: usize,
    proxy_env: Vec<String>,
    stream: bool,
    held: Option<usize>,
    hold: u64,
}

/// How much of each measurement to make.
struct Sizes {
    warmup: usize,
    sequential: usize,
    peer_sequential: usize,
    short_streams: usize,
    concurrent_clients: usize,
    block: Duration,
    blocks: usize,
    streams: usize,
    held_streams: usize,
    /// Bursts of new connections after an idle pause, per path.
    burst_rounds: usize,
    /// Requests counted for the system calls and context switches per request.
    cost_requests: usize,
    /// Idle keep-alive connections held open for the memory they cost.
    idle_connections: usize,
}

fn parse_args() -> Result<Args, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    // target/release/examples/bench → target/release/openrouter-proxy
    let default_bin = exe
        .parent()
        .and_then(Path::parent)
        .map(|d| d.join("openrouter-proxy"))
        .unwrap_or_default();
    let mut args = Args {
        proxy_bin: default_bin,
        nginx: None,
        strace: None,
        litellm: None,
        litellm_version: String::new(),
        out: None,
        quick: false,
        profile_load: None,
        wrap: None,
        clients: 1,
        proxy_env: Vec::new(),
        stream: false,
        held: None,
        hold: 0,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = |name: &str| it.next().ok_or(format!("{name} needs a value"));
        match a.as_str() {
            "--proxy-bin" => args.proxy_bin = PathBuf::from(value("--proxy-bin")?),
            "--nginx" => args.nginx = Some(PathBuf::from(value("--nginx")?)),
            "--strace" => args.strace = Some(PathBuf::from(value("--strace")?)),
            "--litellm" => args.litellm = Some(PathBuf::from(value("--litellm")?)),
            "--litellm-version" => args.litellm_version = value("--litellm-version")?,
            "--out" => args.out = Some(PathBuf::from(value("--out")?)),
            "--quick" => args.quick = true,
            "--profile-load" => {
                let v = value("--profile-load")?;
                args.profile_load = Some(v.parse().map_err(|_| format!("bad seconds {v:?}"))?);
            }
            "--wrap" => args.wrap = Some(value("--wrap")?),
            "--clients" => {
                let v = value("--clients")?;
                args.clients = v.parse().map_err(|_| format!("bad --clients {v:?}"))?;
            }
            "--proxy-env" => args.proxy_env.push(value("--proxy-env")?),
            "--stream" => args.stream = true,
            "--held" => {
                let v = value("--held")?;
                args.held = Some(v.parse().map_err(|_| format!("bad --held {v:?}"))?);
            }
            "--hold" => {
                let v = value("--hold")?;
                args.hold = v.parse().map_err(|_| format!("bad --hold {v:?}"))?;
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    if !args.proxy_bin.exists() {
        return Err(format!(
            "no proxy binary at {}; build it with cargo build --release",
            args.proxy_bin.display()
        ));
    }
    Ok(args)
}

// ---------------------------------------------------------------------------------------------
// A minimal HTTP/1.1 client over keep-alive connections

/// How a response body is delimited.
#[derive(Clone, Copy, Debug)]
enum Framing {
    Length(usize),
    Chunked,
    UntilClose,
}

struct Head {
    status: u16,
    framing: Framing,
    close: bool,
}

/// One keep-alive connection to one server, reopened when the server closed it.
struct Conn {
    addr: SocketAddr,
    io: Option<(BufReader<TcpStream>, TcpStream)>,
    line: String,
    body: Vec<u8>,
    /// How long a read may wait.
    timeout: Duration,
    /// Times a request had to open a new connection after the first.
    reconnects: usize,
    opened: bool,
}

impl Conn {
    fn new(addr: SocketAddr) -> Conn {
        Conn {
            addr,
            io: None,
            line: String::new(),
            body: Vec::with_capacity(8192),
            reconnects: 0,
            opened: false,
            timeout: Duration::from_secs(60),
        }
    }

    fn connect(&mut self) -> io::Result<()> {
        let stream = TcpStream::connect(self.addr)?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(self.timeout))?;
        let reader = BufReader::with_capacity(64 * 1024, stream.try_clone()?);
        self.io = Some((reader, stream));
        if self.opened {
            self.reconnects += 1;
        }
        self.opened = true;
        Ok(())
    }

    /// Sends a whole request and reads the response head. A kept-alive connection the server
    /// closed in the meantime is reopened once.
    fn send(&mut self, request: &[u8]) -> io::Result<Head> {
        for attempt in 0..2 {
            let fresh = self.io.is_none();
            if fresh {
                self.connect()?;
            }
            let (reader, writer) = self.io.as_mut().expect("connected");
            let result = writer
                .write_all(request)
                .and_then(|()| read_head(reader, &mut self.line));
            match result {
                Ok(head) => return Ok(head),
                Err(e) => {
                    self.io = None;
                    if fresh || attempt == 1 {
                        return Err(e);
                    }
                }
            }
        }
        unreachable!()
    }

    /// A whole exchange: the status, with the body in `self.body`.
    fn exchange(&mut self, request: &[u8]) -> io::Result<u16> {
        let head = self.send(request)?;
        let (reader, _) = self.io.as_mut().expect("connected");
        self.body.clear();
        let result = read_body(
            reader,
            head.framing,
            &mut self.line,
            &mut self.body,
            &mut |_, _| true,
        );
        if result.is_err() || head.close || matches!(head.framing, Framing::UntilClose) {
            self.io = None;
        }
        result.map(|_| head.status)
    }

    /// A streamed exchange: `on_event` gets each event with the time it arrived, and may stop
    /// reading by returning false (the connection is then dropped).
    fn stream(
        &mut self,
        request: &[u8],
        on_event: &mut dyn FnMut(Instant, &[u8]) -> bool,
    ) -> io::Result<u16> {
        let head = self.send(request)?;
        let (reader, _) = self.io.as_mut().expect("connected");
        self.body.clear();
        let mut events = EventSplitter::default();
        let mut on_piece = |at: Instant, piece: &[u8]| events.feed(at, piece, on_event);
        let result = read_body(
            reader,
            head.framing,
            &mut self.line,
            &mut self.body,
            &mut on_piece,
        );
        // A stream stopped early keeps its connection, for the caller to hold or drop.
        if result.is_err()
            || head.close
            || matches!(result, Ok(true) if matches!(head.framing, Framing::UntilClose))
        {
            self.io = None;
        }
        result.map(|_| head.status)
    }
}

fn read_head(reader: &mut BufReader<TcpStream>, line: &mut String) -> io::Result<Head> {
    line.clear();
    if reader.read_line(line)? == 0 {
        return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "closed"));
    }
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| io::Error::other(format!("bad status line {line:?}")))?;
    let http10 = line.starts_with("HTTP/1.0");
    let mut framing = Framing::UntilClose;
    let mut close = http10;
    loop {
        line.clear();
        if reader.read_line(line)? == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "closed in head",
            ));
        }
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        let Some((name, value)) = l.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            if let Ok(n) = value.parse() {
                framing = Framing::Length(n);
            }
        } else if name.eq_ignore_ascii_case("transfer-encoding")
            && value.to_ascii_lowercase().contains("chunked")
        {
            framing = Framing::Chunked;
        } else if name.eq_ignore_ascii_case("connection") {
            close = value.eq_ignore_ascii_case("close");
        }
    }
    Ok(Head {
        status,
        framing,
        close,
    })
}

/// Reads a body, handing each piece to `on_piece` as it arrives. Returns whether the body was
/// read to its end (false when `on_piece` stopped it).
fn read_body(
    reader: &mut BufReader<TcpStream>,
    framing: Framing,
    line: &mut String,
    body: &mut Vec<u8>,
    on_piece: &mut dyn FnMut(Instant, &[u8]) -> bool,
) -> io::Result<bool> {
    match framing {
        Framing::Length(n) => {
            body.resize(n, 0);
            let mut got = 0;
            while got < n {
                let k = reader.read(&mut body[got..])?;
                if k == 0 {
                    return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "short body"));
                }
                if !on_piece(Instant::now(), &body[got..got + k]) {
                    return Ok(false);
                }
                got += k;
            }
            Ok(true)
        }
        Framing::Chunked => loop {
            line.clear();
            if reader.read_line(line)? == 0 {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "cut chunk"));
            }
            let size = line.trim().split(';').next().unwrap_or("");
            let size = usize::from_str_radix(size, 16)
                .map_err(|_| io::Error::other(format!("bad chunk size {line:?}")))?;
            if size == 0 {
                // Trailers, then the blank line.
                loop {
                    line.clear();
                    if reader.read_line(line)? == 0 || line.trim_end().is_empty() {
                        return Ok(true);
                    }
                }
            }
            let start = body.len();
            body.resize(start + size, 0);
            reader.read_exact(&mut body[start..])?;
            let mut crlf = [0u8; 2];
            reader.read_exact(&mut crlf)?;
            if !on_piece(Instant::now(), &body[start..]) {
                return Ok(false);
            }
        },
        Framing::UntilClose => {
            let mut buf = [0u8; 16 * 1024];
            loop {
                let k = reader.read(&mut buf)?;
                if k == 0 {
                    return Ok(true);
                }
                body.extend_from_slice(&buf[..k]);
                if !on_piece(Instant::now(), &buf[..k]) {
                    return Ok(false);
                }
            }
        }
    }
}

/// Cuts a byte stream into server-sent events (each ends with a blank line).
#[derive(Default)]
struct EventSplitter {
    pending: Vec<u8>,
}

impl EventSplitter {
    fn feed(
        &mut self,
        at: Instant,
        piece: &[u8],
        on_event: &mut dyn FnMut(Instant, &[u8]) -> bool,
    ) -> bool {
        self.pending.extend_from_slice(piece);
        while let Some(end) = event_end(&self.pending) {
            let event: Vec<u8> = self.pending.drain(..end).collect();
            if !on_event(at, &event) {
                return false;
            }
        }
        true
    }
}

fn event_end(buf: &[u8]) -> Option<usize> {
    buf.windows(2)
        .position(|w| w == b"\n\n")
        .map(|i| i + 2)
        .or_else(|| buf.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4))
}

fn request_bytes(addr: SocketAddr, path: &str, body: &str) -> Vec<u8> {
    format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Authorization: Bearer {FAKE_KEY}\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

fn get(addr: SocketAddr, path: &str) -> io::Result<(u16, String)> {
    let mut conn = Conn::new(addr);
    let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    let status = conn.exchange(req.as_bytes())?;
    Ok((status, String::from_utf8_lossy(&conn.body).into_owned()))
}

// ---------------------------------------------------------------------------------------------
// The servers measured

/// One way to the fake upstream: directly, through the proxy, through LiteLLM.
#[derive(Clone)]
struct Target {
    label: String,
    addr: SocketAddr,
    whole: Vec<u8>,
    stream: Vec<u8>,
}

/// The size of the larger request body (one row of the one-at-a-time table): 4 KiB, four
/// times what tiny_http reads without a thread of its own.
const LARGE_BODY: usize = 4096;

/// A short conversation, as a chat client sends it; with `size` above its natural size the
/// question is preceded by plain ASCII filler (pasted notes) so that the body has `size` bytes.
fn chat_body(model: &str, stream: bool, size: usize) -> String {
    let question = "What is the capital of France, and what river runs through it?";
    let build = |content: &str| {
        serde_json::json!({
            "model": model,
            "stream": stream,
            "messages": [
                {"role": "system", "content": "You are a concise assistant. Answer in one sentence."},
                {"role": "user", "content": content}
            ],
            "temperature": 0.7
        })
        .to_string()
    };
    let short = build(question);
    if short.len() >= size {
        return short;
    }
    let filler: String = "notes on rivers and capitals "
        .chars()
        .cycle()
        .take(size - short.len())
        .collect();
    build(&format!("{filler}{question}"))
}

impl Target {
    fn new(label: &str, addr: SocketAddr, path: &str, model: &str) -> Target {
        Target::sized(label, addr, path, model, 0)
    }

    /// A target whose requests have bodies of `size` bytes (at least the natural size).
    fn sized(label: &str, addr: SocketAddr, path: &str, model: &str, size: usize) -> Target {
        Target {
            label: label.to_string(),
            addr,
            whole: request_bytes(addr, path, &chat_body(model, false, size)),
            stream: request_bytes(addr, path, &chat_body(model, true, size)),
        }
    }
}

/// A server process the benchmark started; killed (with its process group) when dropped.
struct Process {
    child: Child,
    addr: SocketAddr,
    dir: PathBuf,
}

impl Process {
    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn log(&self) -> String {
        fs::read_to_string(self.dir.join("server.log")).unwrap_or_default()
    }

    /// The process and its children: nginx's master and worker, LiteLLM's workers.
    fn pids(&self) -> Vec<u32> {
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

fn spawn_in_group(cmd: &mut Command) -> io::Result<Child> {
    use std::os::unix::process::CommandExt;
    cmd.process_group(0).spawn()
}

/// Starts the real proxy binary against the fake, with `extra` settings, in a folder of its own
/// under `scratch`. Its catalog comes from `CACHE_DIR/models.json` (the fixture), see main.
fn start_proxy(
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

fn free_port() -> io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Starts LiteLLM's proxy with one model entry that forwards to the fake as an
/// OpenAI-compatible endpoint. No database, no telemetry, no cost-map download.
fn start_litellm(bin: &Path, fake: &FakeUpstream, scratch: &Path) -> Result<Process, String> {
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
        let mut conn = Conn::new(process.addr);
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
fn start_nginx(bin: &Path, fake: &FakeUpstream, scratch: &Path) -> Result<Process, String> {
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
        if let Ok(200) = Conn::new(process.addr).exchange(&target.whole) {
            return Ok(process);
        }
        if Instant::now() > deadline {
            return Err("nginx did not answer within 10 s".into());
        }
        thread::sleep(Duration::from_millis(50));
    }
}

/// The processes whose parent is `pid` (from `/proc/*/stat`).
fn children(pid: u32) -> Vec<u32> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|child| {
            let stat = fs::read_to_string(format!("/proc/{child}/stat")).unwrap_or_default();
            // After the command name: the state, then the parent's pid.
            let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
            rest.split_whitespace().nth(1) == Some(pid.to_string().as_str())
        })
        .collect()
}

/// Context switches (voluntary and not) of every thread of these processes so far. Threads
/// that have ended no longer count: the figure is for threads that live across the requests.
fn context_switches(pids: &[u32]) -> u64 {
    let mut total = 0;
    for pid in pids {
        let Ok(tasks) = fs::read_dir(format!("/proc/{pid}/task")) else {
            continue;
        };
        for task in tasks.flatten() {
            let status = fs::read_to_string(task.path().join("status")).unwrap_or_default();
            total += status
                .lines()
                .filter(|l| l.contains("ctxt_switches:"))
                .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
                .sum::<u64>();
        }
    }
    total
}

fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

/// Resident memory of a process, in MiB.
fn rss_mib(pid: u32) -> f64 {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// Resident memory of several processes together, in MiB.
fn group_rss_mib(pids: &[u32]) -> f64 {
    pids.iter().map(|p| rss_mib(*p)).sum()
}

/// Resident memory once it has stopped changing (at most a few seconds).
fn settled_rss(pid: u32) -> f64 {
    settled_group_rss(&[pid])
}

/// Resident memory of several processes together, once it has stopped changing.
fn settled_group_rss(pids: &[u32]) -> f64 {
    let mut last = group_rss_mib(pids);
    let mut same = 0;
    for _ in 0..50 {
        thread::sleep(Duration::from_millis(100));
        let now = group_rss_mib(pids);
        if (now - last).abs() < 0.05 {
            same += 1;
            if same >= 3 {
                break;
            }
        } else {
            same = 0;
        }
        last = now;
    }
    last
}

// ---------------------------------------------------------------------------------------------
// Statistics

/// Latencies of one path, in microseconds.
#[derive(Default, Clone)]
struct Samples {
    us: Vec<f64>,
    /// Requests sent, warm-up included.
    sent: usize,
    errors: usize,
    first_error: Option<String>,
    /// Requests per second, when measured.
    rate: Option<f64>,
}

impl Samples {
    fn push(&mut self, d: Duration) {
        self.us.push(d.as_secs_f64() * 1e6);
    }

    fn error(&mut self, what: String) {
        self.errors += 1;
        self.first_error.get_or_insert(what);
    }

    fn pct(&self, p: f64) -> f64 {
        percentile(&self.us, p)
    }
}

fn percentile(values: &[f64], p: f64) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * v.len() as f64).ceil() as usize;
    v[rank.clamp(1, v.len()) - 1]
}

fn ms(us: f64) -> String {
    if us.is_nan() {
        "n/a".into()
    } else if us.abs() >= 10_000.0 {
        format!("{:.1}", us / 1000.0)
    } else {
        format!("{:.3}", us / 1000.0)
    }
}

fn check(met: bool) -> &'static str {
    if met { "met" } else { "**missed**" }
}

// ---------------------------------------------------------------------------------------------
// Measurements

/// A small deterministic generator for the order of the paths in each round.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// 0..n in a random order.
    fn order(&mut self, n: usize) -> Vec<usize> {
        let mut v: Vec<usize> = (0..n).collect();
        for i in (1..n).rev() {
            v.swap(i, (self.next() % (i as u64 + 1)) as usize);
        }
        v
    }
}

/// One request at a time, each round taking every path once in a random order.
fn sequential(targets: &[Target], warmup: usize, rounds: usize) -> Vec<Samples> {
    let mut conns: Vec<Conn> = targets.iter().map(|t| Conn::new(t.addr)).collect();
    let mut samples = vec![Samples::default(); targets.len()];
    let n = targets.len();
    let mut spent = vec![Duration::ZERO; n];
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for round in 0..warmup + rounds {
        for j in rng.order(n) {
            let t0 = Instant::now();
            let result = conns[j].exchange(&targets[j].whole);
            let took = t0.elapsed();
            samples[j].sent += 1;
            if round < warmup {
                continue;
            }
            match result {
                Ok(200) => {
                    samples[j].push(took);
                    spent[j] += took;
                }
                Ok(status) => samples[j].error(format!(
                    "{status}: {}",
                    String::from_utf8_lossy(&conns[j].body)
                )),
                Err(e) => samples[j].error(e.to_string()),
            }
        }
    }
    for (j, s) in samples.iter_mut().enumerate() {
        s.rate = Some(s.us.len() as f64 / spent[j].as_secs_f64());
        let reconnects: usize = conns[j].reconnects;
        if reconnects > 0 {
            eprintln!(
                "  note: {} reopened its connection {reconnects} times",
                targets[j].label
            );
        }
    }
    samples
}

/// `clients` clients at once, all on one path for a block of time, the paths taking turns
/// block by block; the first round is a warm-up. Without `pace` each client sends its next
/// request as soon as it has the answer; with it, each client sends one request every `pace`
/// (spread out over the clients) and a latency counts from when the request was due.
fn concurrent(
    targets: &[Target],
    clients: usize,
    block: Duration,
    rounds: usize,
    pace: Option<Duration>,
) -> Vec<Samples> {
    let n = targets.len();
    let barrier = Arc::new(Barrier::new(clients + 1));
    let current = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let recording = Arc::new(AtomicBool::new(false));
    const DONE: usize = usize::MAX;
    let mut elapsed = vec![Duration::ZERO; n];
    let mut counts = vec![0usize; n];
    let results: Vec<Vec<Samples>> = thread::scope(|scope| {
        let turn: Arc<Turn> = Arc::default();
        let handles: Vec<_> = (0..clients)
            .map(|i| {
                let (barrier, current, stop, recording, turn) = (
                    Arc::clone(&barrier),
                    Arc::clone(&current),
                    Arc::clone(&stop),
                    Arc::clone(&recording),
                    Arc::clone(&turn),
                );
                thread::Builder::new()
                    .stack_size(256 * 1024)
                    .spawn_scoped(scope, move || {
                        let mut conns: Vec<Conn> =
                            targets.iter().map(|t| Conn::new(t.addr)).collect();
                        let mut samples = vec![Samples::default(); n];
                        // Connections are opened one client after the other (see `ramp`).
                        wait_turn(&turn, i);
                        for (conn, target) in conns.iter_mut().zip(targets) {
                            let _ = conn.exchange(&target.whole);
                        }
                        next_turn(&turn);
                        loop {
                            barrier.wait();
                            let j = current.load(Ordering::SeqCst);
                            if j == DONE {
                                break;
                            }
                            let record = recording.load(Ordering::SeqCst);
                            let mut due = Instant::now()
                                + pace.map_or(Duration::ZERO, |p| p * i as u32 / clients as u32);
                            while !stop.load(Ordering::Relaxed) {
                                let t0 = match pace {
                                    Some(p) => {
                                        let now = Instant::now();
                                        if due > now {
                                            thread::sleep(due - now);
                                        }
                                        let t = due;
                                        due += p;
                                        t
                                    }
                                    None => Instant::now(),
                                };
                                let result = conns[j].exchange(&targets[j].whole);
                                let took = t0.elapsed();
                                samples[j].sent += 1;
                                if !record {
                                    continue;
                                }
                                match result {
                                    Ok(200) => samples[j].push(took),
                                    Ok(status) => samples[j].error(format!(
                                        "{status}: {}",
                                        String::from_utf8_lossy(&conns[j].body)
                                    )),
                                    Err(e) => samples[j].error(e.to_string()),
                                }
                            }
                            barrier.wait();
                        }
                        samples
                    })
                    .expect("client thread")
            })
            .collect();
        for round in 0..=rounds {
            for k in 0..n {
                let j = (round + k) % n;
                current.store(j, Ordering::SeqCst);
                recording.store(round > 0, Ordering::SeqCst);
                stop.store(false, Ordering::SeqCst);
                barrier.wait();
                let t0 = Instant::now();
                let length = if round == 0 { block / 2 } else { block };
                thread::sleep(length);
                stop.store(true, Ordering::SeqCst);
                barrier.wait();
                if round > 0 {
                    elapsed[j] += t0.elapsed();
                    counts[j] += 1;
                }
            }
        }
        current.store(DONE, Ordering::SeqCst);
        barrier.wait();
        handles
            .into_iter()
            .map(|h| h.join().expect("client"))
            .collect()
    });
    let mut merged = vec![Samples::default(); n];
    for per_client in results {
        for (j, s) in per_client.into_iter().enumerate() {
            merged[j].us.extend(s.us);
            merged[j].sent += s.sent;
            merged[j].errors += s.errors;
            if merged[j].first_error.is_none() {
                merged[j].first_error = s.first_error;
            }
        }
    }
    for (j, m) in merged.iter_mut().enumerate() {
        m.rate = Some(m.us.len() as f64 / elapsed[j].as_secs_f64());
    }
    merged
}

/// Streaming figures of one path.
#[derive(Default)]
struct StreamSamples {
    /// Request sent → first content event in hand.
    ttfb: Samples,
    /// Each later content event: written by the fake → in the client's hand.
    per_event: Samples,
    /// Request sent → the fake about to write the first event (the way there).
    to_upstream: Samples,
    /// The first event: written by the fake → in the client's hand (the way back).
    first_event: Samples,
    /// Streams whose events could not all be matched.
    incomplete: usize,
}

/// The marker of content event `i`: a word no other part of an event contains.
fn marker(i: usize) -> String {
    format!("zq{i:02}")
}

fn find_marker(event: &[u8]) -> Option<usize> {
    let pos = event.windows(2).position(|w| w == b"zq")?;
    let digits = event.get(pos + 2..pos + 4)?;
    std::str::from_utf8(digits).ok()?.parse().ok()
}

/// Streams one at a time, each round taking every path once in a random order. Each stream
/// has `parts` content events (then a stop event and `[DONE]`), `gap(stream)` apart; the fake
/// stamps each event just before writing it, the client stamps it when it has it whole.
fn streaming(
    fake: &FakeUpstream,
    targets: &[Target],
    warmup: usize,
    rounds: usize,
    parts: usize,
    gap: &dyn Fn(usize) -> Duration,
) -> Vec<StreamSamples> {
    let n = targets.len();
    let mut conns: Vec<Conn> = targets.iter().map(|t| Conn::new(t.addr)).collect();
    let mut out: Vec<StreamSamples> = (0..n).map(|_| StreamSamples::default()).collect();
    let texts: Vec<String> = (0..parts).map(|i| format!("{} ", marker(i))).collect();
    let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let mut count = 0;
    for round in 0..warmup + rounds {
        for j in rng.order(n) {
            count += 1;
            wait_fake_idle(fake);
            fake.push(Script::stream_text(&texts, gap(count)));
            let mut arrivals: Vec<Option<Instant>> = vec![None; parts];
            let t0 = Instant::now();
            let result = conns[j].stream(&targets[j].stream, &mut |at, event| {
                if let Some(i) = find_marker(event).filter(|i| *i < parts) {
                    arrivals[i].get_or_insert(at);
                }
                true
            });
            let sent = fake.event_times();
            if round < warmup {
                continue;
            }
            match result {
                Ok(200) => {}
                Ok(status) => {
                    out[j].ttfb.error(format!(
                        "{status}: {}",
                        String::from_utf8_lossy(&conns[j].body)
                    ));
                    continue;
                }
                Err(e) => {
                    out[j].ttfb.error(e.to_string());
                    continue;
                }
            }
            match arrivals[0] {
                Some(first) => out[j].ttfb.push(first - t0),
                None => out[j].ttfb.error("no first event".into()),
            }
            if let (Some(first), Some(stamp)) = (arrivals[0], sent.first()) {
                out[j].to_upstream.push(stamp.saturating_duration_since(t0));
                out[j]
                    .first_event
                    .push(first.saturating_duration_since(*stamp));
            }
            if arrivals.iter().any(Option::is_none) || sent.len() < parts {
                out[j].incomplete += 1;
            }
            for (at, sent) in arrivals.iter().zip(&sent).skip(1) {
                if let Some(at) = at {
                    out[j].per_event.push(at.saturating_duration_since(*sent));
                }
            }
        }
    }
    out
}

/// Waits until it is client `i`'s turn to open its connections. The clients of a concurrent
/// run open their connections one after the other, each waiting for its first answer: the
/// proxy's HTTP library (tiny_http 0.12) can leave a connection that arrives in a burst with
/// no thread to serve it until another connection closes (see BENCHMARKS.md), and this
/// benchmark measures latency, not that.
fn wait_turn(turn: &Turn, i: usize) {
    let mut now = turn.0.lock().unwrap_or_else(|e| e.into_inner());
    while *now < i {
        now = turn.1.wait(now).unwrap_or_else(|e| e.into_inner());
    }
}

/// Whose turn it is, and a signal when that changes.
type Turn = (std::sync::Mutex<usize>, std::sync::Condvar);

fn next_turn(turn: &Turn) {
    *turn.0.lock().unwrap_or_else(|e| e.into_inner()) += 1;
    turn.1.notify_all();
}

/// Waits until the fake has no chat call in flight (a stream's last write included).
fn wait_fake_idle(fake: &FakeUpstream) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while fake.active() > 0 && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(1));
    }
    thread::sleep(Duration::from_millis(1));
}

/// Opens `count` streams through `target` at once, each held open by long gaps between its
/// events, and returns the proxy's resident memory once every client has its first event.
fn held_streams(
    fake: &FakeUpstream,
    target: &Target,
    pid: u32,
    count: usize,
    hold: Option<Duration>,
) -> Result<f64, String> {
    for _ in 0..count {
        fake.push(Script::stream_text(
            &["held ", "open "],
            Duration::from_secs(4),
        ));
    }
    let opened = Arc::new(AtomicUsize::new(0));
    let failures = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let release = Arc::new(Barrier::new(count + 1));
    let turn: Arc<Turn> = Arc::default();
    let mut handles = Vec::new();
    for i in 0..count {
        let (target, opened, failures, release, turn) = (
            target.clone(),
            Arc::clone(&opened),
            Arc::clone(&failures),
            Arc::clone(&release),
            Arc::clone(&turn),
        );
        handles.push(
            thread::Builder::new()
                .stack_size(128 * 1024)
                .spawn(move || {
                    let mut conn = Conn::new(target.addr);
                    conn.timeout = Duration::from_secs(20);
                    let mut first = true;
                    // Streams are opened one after the other (see `wait_turn`).
                    wait_turn(&turn, i);
                    let result = conn.stream(&target.stream, &mut |_, _| {
                        if first {
                            first = false;
                            opened.fetch_add(1, Ordering::SeqCst);
                        }
                        false
                    });
                    next_turn(&turn);
                    if !matches!(result, Ok(200)) || first {
                        let what = match result {
                            Ok(status) => {
                                format!("{status}: {}", String::from_utf8_lossy(&conn.body))
                            }
                            Err(e) => e.to_string(),
                        };
                        failures
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .push(what);
                    }
                    // Hold the connection (the proxy keeps relaying) until measured.
                    let held = conn.io.take();
                    release.wait();
                    drop(held);
                })
                .map_err(|e| e.to_string())?,
        );
    }
    let failed = || failures.lock().unwrap_or_else(|e| e.into_inner()).len();
    let deadline = Instant::now() + Duration::from_secs(30);
    while opened.load(Ordering::SeqCst) + failed() < count && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(10));
    }
    thread::sleep(Duration::from_millis(200));
    let rss = rss_mib(pid);
    if let Some(secs) = hold {
        eprintln!("bench: holding {count} streams to pid {pid} for {secs:?}");
        thread::sleep(secs);
    }
    let open = opened.load(Ordering::SeqCst);
    release.wait();
    for h in handles {
        let _ = h.join();
    }
    if open < count {
        let failures = failures.lock().unwrap_or_else(|e| e.into_inner());
        return Err(format!(
            "only {open} of {count} streams opened; failures: {:?}",
            &failures[..failures.len().min(5)]
        ));
    }
    Ok(rss)
}

/// Opens `count` keep-alive connections at once, each asking `GET /health` and then staying
/// open; returns how many were answered within 3 s.
fn burst_check(addr: SocketAddr, count: usize) -> (usize, usize) {
    let answered = Arc::new(AtomicUsize::new(0));
    let release = Arc::new(Barrier::new(count + 1));
    let handles: Vec<_> = (0..count)
        .map(|_| {
            let (answered, release) = (Arc::clone(&answered), Arc::clone(&release));
            thread::spawn(move || {
                let mut conn = Conn::new(addr);
                conn.timeout = Duration::from_secs(3);
                let req = format!("GET /health HTTP/1.1\r\nHost: {addr}\r\n\r\n");
                if let Ok(200) = conn.exchange(req.as_bytes()) {
                    answered.fetch_add(1, Ordering::SeqCst);
                }
                let held = conn.io.take();
                release.wait();
                drop(held);
            })
        })
        .collect();
    release.wait();
    for h in handles {
        let _ = h.join();
    }
    (answered.load(Ordering::SeqCst), count)
}

/// Bursts of `count` new connections opened at once after `idle` with no request anywhere.
/// Each connection sends one request; its wait counts from when its client started (all are
/// released together) to its whole answer, connection set-up included. Each round pauses, then
/// bursts every path in a random order; connections stay open until the whole burst has been
/// answered, as keep-alive clients would keep them.
fn burst_after_idle(
    targets: &[Target],
    count: usize,
    idle: Duration,
    rounds: usize,
) -> Vec<Samples> {
    let mut samples = vec![Samples::default(); targets.len()];
    let mut rng = Rng(0x5851_f42d_4c95_7f2d);
    for _ in 0..rounds {
        thread::sleep(idle);
        for j in rng.order(targets.len()) {
            let target = &targets[j];
            let (start, done) = (Barrier::new(count + 1), Barrier::new(count + 1));
            let results: Vec<Result<Duration, String>> = thread::scope(|scope| {
                let handles: Vec<_> = (0..count)
                    .map(|_| {
                        let (start, done) = (&start, &done);
                        thread::Builder::new()
                            .stack_size(256 * 1024)
                            .spawn_scoped(scope, move || {
                                let mut conn = Conn::new(target.addr);
                                conn.timeout = Duration::from_secs(10);
                                start.wait();
                                let t0 = Instant::now();
                                let result = match conn.exchange(&target.whole) {
                                    Ok(200) => Ok(t0.elapsed()),
                                    Ok(status) => Err(format!(
                                        "{status}: {}",
                                        String::from_utf8_lossy(&conn.body)
                                    )),
                                    Err(e) => Err(e.to_string()),
                                };
                                done.wait();
                                result
                            })
                            .expect("burst client thread")
                    })
                    .collect();
                start.wait();
                done.wait();
                handles
                    .into_iter()
                    .map(|h| h.join().expect("burst client"))
                    .collect()
            });
            for result in results {
                samples[j].sent += 1;
                match result {
                    Ok(took) => samples[j].push(took),
                    Err(e) => samples[j].error(e),
                }
            }
        }
    }
    samples
}

/// What one request costs a server's processes, counted over requests sent one at a time on
/// one keep-alive connection.
struct Costs {
    /// Context switches of the server's threads per request.
    switches: f64,
    /// System calls per request (`strace -c -f`) and the most frequent ones, when strace ran.
    syscalls: Option<(f64, String)>,
}

/// Sends `n` requests through `target` counting the context switches of `pids`, then `n` more
/// under `strace -c -f` (when given) counting their system calls. The two passes are apart
/// because tracing slows every system call down, and with it the scheduling.
fn request_costs(
    target: &Target,
    pids: &[u32],
    n: usize,
    strace: Option<&Path>,
    summary: &Path,
) -> Result<Costs, String> {
    let mut conn = Conn::new(target.addr);
    let mut send = |count: usize| -> Result<(), String> {
        for _ in 0..count {
            match conn.exchange(&target.whole) {
                Ok(200) => {}
                other => return Err(format!("{}: {other:?}", target.label)),
            }
        }
        Ok(())
    };
    send(50)?;
    let before = context_switches(pids);
    send(n)?;
    let switches = context_switches(pids).saturating_sub(before) as f64 / n as f64;
    let syscalls = match strace {
        Some(bin) => Some(count_syscalls(bin, pids, summary, n, || send(n))?),
        None => None,
    };
    Ok(Costs { switches, syscalls })
}

/// Runs `work` (`n` requests) with strace attached to every thread of `pids`, and returns the
/// system calls per request and the six most frequent ones, per request.
fn count_syscalls(
    bin: &Path,
    pids: &[u32],
    summary: &Path,
    n: usize,
    work: impl FnOnce() -> Result<(), String>,
) -> Result<(f64, String), String> {
    let mut cmd = Command::new(bin);
    cmd.args(["-c", "-f", "-o"]).arg(summary);
    for pid in pids {
        cmd.arg("-p").arg(pid.to_string());
    }
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start strace: {e}"))?;
    // strace says "Process N attached" (with "with M threads" when it has several) once it
    // has attached every thread of a process given: all must be traced before the requests
    // start, and waiting longer would count the idle threads' timers as the requests' cost.
    let attached = Arc::new(AtomicUsize::new(0));
    let stderr = child.stderr.take().expect("piped stderr");
    let seen = Arc::clone(&attached);
    let reader = thread::spawn(move || {
        let mut said = String::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.contains(" attached") {
                seen.fetch_add(1, Ordering::SeqCst);
            } else {
                said.push_str(&line);
                said.push('\n');
            }
        }
        said
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    while attached.load(Ordering::SeqCst) < pids.len() {
        if Instant::now() > deadline {
            let _ = child.kill();
            return Err(format!(
                "strace attached {} of {} processes within 20 s",
                attached.load(Ordering::SeqCst),
                pids.len()
            ));
        }
        if let Ok(Some(status)) = child.try_wait() {
            let said = reader.join().unwrap_or_default();
            return Err(format!("strace exited ({status}): {said}"));
        }
        thread::sleep(Duration::from_millis(20));
    }
    thread::sleep(Duration::from_millis(200));
    let t0 = Instant::now();
    let result = work();
    progress(&format!(
        "  {n} requests under strace: {:.2} ms each",
        t0.elapsed().as_secs_f64() * 1000.0 / n as f64
    ));
    let _ = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status();
    let _ = child.wait();
    let said = reader.join().unwrap_or_default();
    result?;
    let text = fs::read_to_string(summary).map_err(|e| format!("no strace summary: {e} {said}"))?;
    let mut calls: Vec<(String, u64)> = text
        .lines()
        .filter(|l| !l.starts_with('%') && !l.starts_with('-'))
        .filter_map(|l| {
            let fields: Vec<&str> = l.split_whitespace().collect();
            Some((fields.last()?.to_string(), fields.get(3)?.parse().ok()?))
        })
        .collect();
    let total = calls
        .iter()
        .find(|(name, _)| name == "total")
        .map(|(_, n)| *n)
        .ok_or_else(|| format!("no total in the strace summary: {text}"))?;
    calls.retain(|(name, _)| name != "total");
    calls.sort_by_key(|c| std::cmp::Reverse(c.1));
    let top: Vec<String> = calls
        .iter()
        .take(6)
        .map(|(name, c)| format!("{name} {:.1}", *c as f64 / n as f64))
        .collect();
    Ok((total as f64 / n as f64, top.join(", ")))
}

/// Opens `count` keep-alive connections one after the other, each served one request and then
/// left idle, and returns the resident memory of `pids` before and with them all open.
fn idle_connections(target: &Target, pids: &[u32], count: usize) -> Result<(f64, f64), String> {
    let before = settled_group_rss(pids);
    let mut conns = Vec::with_capacity(count);
    for i in 0..count {
        let mut conn = Conn::new(target.addr);
        conn.timeout = Duration::from_secs(10);
        match conn.exchange(&target.whole) {
            Ok(200) => conns.push(conn),
            other => {
                return Err(format!(
                    "{}: idle connection {i} of {count}: {other:?}",
                    target.label
                ));
            }
        }
    }
    let with = settled_group_rss(pids);
    drop(conns);
    Ok((before, with))
}

// ---------------------------------------------------------------------------------------------
// Token counting

#[rustfmt::skip]
const WORDS: &[&str] = &[
    "the", "of", "and", "to", "in", "a", "is", "that", "for", "it", "as", "was", "with", "be",
    "by", "on", "not", "he", "this", "are", "or", "his", "from", "at", "which", "but", "have",
    "an", "had", "they", "you", "were", "their", "one", "all", "we", "can", "her", "has",
    "there", "been", "if", "more", "when", "will", "would", "who", "so", "no", "request",
    "proxy", "model", "stream", "latency", "function", "returns", "value", "configuration",
    "server", "client", "memory", "thread", "benchmark", "tokenizer", "context", "answer",
    "rust", "python", "error", "timeout", "connection", "header", "body", "event", "during",
    "between", "through", "because", "however", "system", "program", "question", "people",
    "important", "example", "different", "following", "government", "information", "2024",
    "3.14", "x86_64", "HTTP/1.1", "user_id", "fn", "let", "mut", "{", "}", "(", ")", ";",
];

/// Deterministic prose-like text of `words` words.
fn text(words: usize, seed: u64) -> String {
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let mut out = String::with_capacity(words * 7);
    for i in 0..words {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let w = WORDS[(state >> 33) as usize % WORDS.len()];
        out.push_str(w);
        out.push(if i % 13 == 12 { '.' } else { ' ' });
        if i % 13 == 12 {
            out.push(' ');
        }
    }
    out
}

/// A chat request of about `tokens` prompt tokens: a system prompt, then user and assistant
/// turns of about 2,000 tokens each.
fn prompt_body(tokens: usize, words_per_token: f64) -> serde_json::Value {
    let mut messages = vec![
        serde_json::json!({"role": "system", "content": "You are a careful assistant. Answer from the documents given."}),
    ];
    let words = (tokens as f64 * words_per_token) as usize;
    let per_turn = ((2000.0 * words_per_token) as usize).min(words.max(1));
    let mut left = words;
    let mut i = 0;
    while left > 0 {
        let n = per_turn.min(left);
        let role = if i % 2 == 0 { "user" } else { "assistant" };
        messages.push(serde_json::json!({"role": role, "content": text(n, i as u64)}));
        left -= n;
        i += 1;
    }
    serde_json::json!({"model": MODEL, "messages": messages})
}

fn median_time(runs: usize, mut f: impl FnMut() -> u64) -> (Duration, u64) {
    let mut times = Vec::with_capacity(runs);
    let mut last = 0;
    for _ in 0..runs {
        let t0 = Instant::now();
        last = std::hint::black_box(f());
        times.push(t0.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    (Duration::from_secs_f64(times[times.len() / 2]), last)
}

fn fmt_dur(d: Duration) -> String {
    let us = d.as_secs_f64() * 1e6;
    if us < 1000.0 {
        format!("{us:.1} µs")
    } else {
        format!("{:.2} ms", us / 1000.0)
    }
}

fn token_counting(quick: bool, report: &mut String) {
    let t0 = Instant::now();
    std::hint::black_box(count_text("warm up"));
    let build = t0.elapsed();
    // Words per token for this text, measured on a sample.
    let sample = text(20_000, 99);
    let words_per_token = 20_000.0 / count_text(&sample) as f64;
    let _ = writeln!(
        report,
        "\n### Prompt token counting (in-process, `tokens::PromptSize`)\n\n\
         | prompt | body | JSON parse | cheap bound (`PromptSize::new`) | full count (`tokens()`) | tokens counted | bound (bytes) |\n\
         |---|---:|---:|---:|---:|---:|---:|"
    );
    for (label, tokens, runs) in [
        ("~1k tokens", 1_000, 301),
        ("~32k tokens", 32_000, 31),
        ("~128k tokens", 128_000, 9),
    ] {
        let runs = if quick { runs / 4 + 1 } else { runs };
        let body = prompt_body(tokens, words_per_token);
        let bytes = serde_json::to_vec(&body).expect("json");
        let (parse, _) = median_time(runs, || {
            serde_json::from_slice::<serde_json::Value>(&bytes)
                .map_or(0, |v| v.as_object().map_or(0, |o| o.len() as u64))
        });
        let (cheap, _) = median_time(runs, || {
            let size = PromptSize::new(&body, true, 100);
            // room() with plenty of context answers from the bound alone.
            size.room(u64::MAX / 4, 1)
        });
        let bound = {
            // The bound `room` used: context minus what it left.
            let size = PromptSize::new(&body, true, 0);
            let big = 1u64 << 40;
            let left = size.room(big, 1);
            let p11 = big - left; // prompt + prompt/10
            p11 * 10 / 11
        };
        let (full, counted) = median_time(runs, || PromptSize::new(&body, true, 100).tokens());
        let _ = writeln!(
            report,
            "| {label} | {:.0} KiB | {} | {} | {} | {counted} | {bound} |",
            bytes.len() as f64 / 1024.0,
            fmt_dur(parse),
            fmt_dur(cheap),
            fmt_dur(full)
        );
    }
    let _ = writeln!(
        report,
        "\nMedians. The tokenizer (o200k_base) is built once per process, in the background at \
         start-up: {} here. The proxy makes the full count only when the byte bound cannot \
         prove the prompt leaves the room wanted.",
        fmt_dur(build)
    );
}

// ---------------------------------------------------------------------------------------------
// The run

fn machine() -> String {
    let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|l| l.trim_start_matches([' ', '\t', ':']).to_string())
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = thread::available_parallelism().map_or(0, |n| n.get());
    let kernel = fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!("{cores} cores, {model}, Linux {}", kernel.trim())
}

static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();

/// A progress line on stderr, with the time since the start.
fn progress(what: &str) {
    let t = START.get().map_or(0.0, |s| s.elapsed().as_secs_f64());
    eprintln!("bench [{t:6.1} s] {what}");
}

fn main() {
    if let Err(e) = run() {
        eprintln!("bench: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), String> {
    let args = parse_args()?;
    let _ = START.set(Instant::now());
    let sizes = if args.quick {
        Sizes {
            warmup: 50,
            sequential: 300,
            peer_sequential: 100,
            short_streams: 60,
            concurrent_clients: 32,
            block: Duration::from_millis(300),
            blocks: 2,
            streams: 10,
            held_streams: 200,
            burst_rounds: 1,
            cost_requests: 200,
            idle_connections: 1000,
        }
    } else {
        Sizes {
            warmup: 300,
            sequential: 5000,
            peer_sequential: 1000,
            short_streams: 600,
            concurrent_clients: 32,
            block: Duration::from_millis(750),
            blocks: 6,
            streams: 80,
            held_streams: 200,
            // 4 rounds of 32: the p99 is the second longest wait, not the longest.
            burst_rounds: 4,
            cost_requests: 2000,
            idle_connections: 1000,
        }
    };
    let scratch =
        std::env::temp_dir().join(format!("openrouter-proxy-bench-{}", std::process::id()));
    fs::create_dir_all(&scratch).map_err(|e| e.to_string())?;
    let result = measure(&args, &sizes, &scratch);
    let _ = fs::remove_dir_all(&scratch);
    result
}

fn measure(args: &Args, sizes: &Sizes, scratch: &Path) -> Result<(), String> {
    let fake = FakeUpstream::start().map_err(|e| e.to_string())?;
    // The fake's `GET /key` reports OpenRouter's real free allowance (50 calls a day), which a
    // benchmark exceeds in a moment. With `/models` and `/key` unavailable the proxy takes its
    // catalog from `CACHE_DIR/models.json` (the same fixture) and the allowance from
    // FREE_DAILY_LIMIT; chat calls are served as usual.
    fake.set_models_down(true);

    if let Some(n) = args.held {
        let p = start_proxy(
            args,
            &fake,
            scratch,
            "held",
            &[("MAX_CONCURRENT_REQUESTS", "256")],
        )?;
        let t = Target::new("proxy", p.addr, "/v1/chat/completions", MODEL);
        let _ = sequential(std::slice::from_ref(&t), 0, 1);
        let idle = settled_rss(p.pid());
        let hold = (args.hold > 0).then(|| Duration::from_secs(args.hold));
        let rss = held_streams(&fake, &t, p.pid(), n, hold)?;
        println!("proxy VmRSS: {idle:.1} MiB after 1 request, {rss:.1} MiB with {n} streams open");
        return Ok(());
    }
    if let Some(secs) = args.profile_load {
        return profile_load(args, &fake, scratch, secs);
    }
    let load_before = loadavg();
    let (busy0, own0, t_start) = (machine_busy(), own_cpu(), Instant::now());
    let direct = Target::new("direct", fake.addr(), "/api/v1/chat/completions", MODEL);

    // Memory, idle: smart max_tokens off, default settings otherwise; then with idle
    // connections open. The same process then shows the connection-burst problem (see
    // BENCHMARKS.md).
    progress("memory, idle");
    let idle = start_proxy(
        args,
        &fake,
        scratch,
        "idle",
        &[("SMART_MAX_TOKENS", "false")],
    )?;
    let via_idle = Target::new("proxy", idle.addr, "/v1/chat/completions", MODEL);
    let _ = sequential(std::slice::from_ref(&via_idle), 0, 1);
    thread::sleep(Duration::from_millis(300));
    let rss_idle = settled_rss(idle.pid());
    progress(&format!("{} idle connections", sizes.idle_connections));
    let (_, rss_idle_conns) = idle_connections(&via_idle, &idle.pids(), sizes.idle_connections)?;
    thread::sleep(Duration::from_millis(500));
    let burst = burst_check(idle.addr, 64);
    drop(idle);

    // nginx, the floor: its idle memory and its idle connections first, as for the proxy.
    let nginx = match &args.nginx {
        Some(bin) => {
            progress("nginx: memory, idle");
            let process = start_nginx(bin, &fake, scratch)?;
            let target = Target::new("nginx", process.addr, "/v1/chat/completions", MODEL);
            let (rss, with) = idle_connections(&target, &process.pids(), sizes.idle_connections)?;
            Some((process, rss, with))
        }
        None => None,
    };

    // The proxies measured: default settings (smart max_tokens on), and smart max_tokens off;
    // both with the concurrency limit raised so that it is not what is measured.
    let main = start_proxy(
        args,
        &fake,
        scratch,
        "main",
        &[("MAX_CONCURRENT_REQUESTS", "256")],
    )?;
    let off = start_proxy(
        args,
        &fake,
        scratch,
        "off",
        &[
            ("MAX_CONCURRENT_REQUESTS", "256"),
            ("SMART_MAX_TOKENS", "false"),
        ],
    )?;
    let rss_off_idle = settled_rss(off.pid());
    let proxy = Target::new("proxy", main.addr, "/v1/chat/completions", MODEL);
    let _ = sequential(std::slice::from_ref(&proxy), 0, 1);
    let rss_warm = settled_rss(main.pid());
    let path = "/v1/chat/completions";
    let via_nginx = nginx
        .as_ref()
        .map(|(p, _, _)| Target::new("nginx", p.addr, path, MODEL));

    // One at a time: the paths of the goals first (their indices are the `ONE_*` constants),
    // then the informative ones, nginx's last when it runs.
    progress("non-streaming, one client");
    let mut one = vec![
        direct.clone(),
        proxy.clone(),
        Target::sized(
            "direct",
            fake.addr(),
            "/api/v1/chat/completions",
            MODEL,
            LARGE_BODY,
        ),
        Target::sized("proxy", main.addr, path, MODEL, LARGE_BODY),
        Target::new("proxy, model `auto`", main.addr, path, "auto"),
        Target::new("proxy, SMART_MAX_TOKENS=false", off.addr, path, MODEL),
    ];
    if let Some((p, _, _)) = &nginx {
        one.push(Target::new("nginx", p.addr, path, MODEL));
        one.push(Target::sized("nginx", p.addr, path, MODEL, LARGE_BODY));
    }
    let cpu0 = cpu_seconds(main.pid());
    let seq = sequential(&one, sizes.warmup, sizes.sequential);
    let served_by_main = seq[ONE_PROXY].sent + seq[ONE_PROXY_LARGE].sent + seq[ONE_AUTO].sent;
    let cpu_seq = cpu_per_request(cpu0, cpu_seconds(main.pid()), served_by_main);

    let c = sizes.concurrent_clients;
    progress(&format!("non-streaming, {c} clients"));
    let mut trio = vec![direct.clone(), proxy.clone()];
    trio.extend(via_nginx.clone());
    let cpu0 = cpu_seconds(main.pid());
    let conc = concurrent(&trio, c, sizes.block, sizes.blocks, None);
    let cpu_conc = cpu_per_request(cpu0, cpu_seconds(main.pid()), conc[1].sent);
    progress(&format!("non-streaming, {c} clients, paced"));
    let pace = Duration::from_micros(c as u64 * 1_000_000 / PACED_RATE);
    let paced = concurrent(&trio, c, sizes.block, sizes.blocks, Some(pace));
    let rss_after_load = rss_mib(main.pid());

    progress("streaming");
    let ttfb = streaming(&fake, &trio, 20, sizes.short_streams, 1, &|_| {
        Duration::ZERO
    });
    let streams = streaming(&fake, &trio, 3, sizes.streams, STREAM_PARTS, &|k| {
        Duration::from_millis(5 + (k % 6) as u64)
    });

    progress(&format!(
        "bursts of {c} new connections after {} s idle",
        BURST_IDLE.as_secs()
    ));
    let bursts = burst_after_idle(&trio, c, BURST_IDLE, sizes.burst_rounds);

    // What a request costs the server's processes: the proxy (one process, all its threads)
    // and nginx (master and worker).
    progress("system calls and context switches per request");
    let strace = args.strace.as_deref();
    let n = sizes.cost_requests;
    let trace_file = scratch.join("strace.txt");
    let mut costs = vec![
        request_costs(&proxy, &[main.pid()], n, strace, &trace_file)?,
        request_costs(&one[ONE_PROXY_LARGE], &[main.pid()], n, strace, &trace_file)?,
    ];
    if let Some((p, _, _)) = &nginx {
        let pids = p.pids();
        costs.push(request_costs(
            &one[ONE_NGINX],
            &pids,
            n,
            strace,
            &trace_file,
        )?);
        costs.push(request_costs(
            &one[ONE_NGINX_LARGE],
            &pids,
            n,
            strace,
            &trace_file,
        )?);
    }
    // nginx's part ends here: the held streams below are the proxy's alone, and the peer is
    // measured with nothing else running.
    let nginx_rss = nginx.map(|(process, idle, with)| {
        drop(process);
        (idle, with)
    });

    // Memory with streams held open (these streams end only when their proxy is stopped): a
    // fresh proxy with the tokenizer warm, then the proxies measured above.
    progress(&format!("{} streams held open", sizes.held_streams));
    let fresh = start_proxy(
        args,
        &fake,
        scratch,
        "streams",
        &[("MAX_CONCURRENT_REQUESTS", "256")],
    )?;
    let fresh_target = Target::new("proxy", fresh.addr, "/v1/chat/completions", MODEL);
    let _ = sequential(std::slice::from_ref(&fresh_target), 0, 1);
    let _ = settled_rss(fresh.pid());
    let rss_streams = held_streams(&fake, &fresh_target, fresh.pid(), sizes.held_streams, None)?;
    drop(fresh);
    let rss_streams_loaded = held_streams(&fake, &proxy, main.pid(), sizes.held_streams, None)?;
    drop(main);
    let off_stream = Target::new("proxy", off.addr, "/v1/chat/completions", MODEL);
    let rss_streams_off = held_streams(&fake, &off_stream, off.pid(), sizes.held_streams, None)?;
    drop(off);

    // The peer, measured alone against the fake after the proxies have stopped.
    let peer = match &args.litellm {
        Some(bin) => {
            wait_fake_quiet(&fake);
            progress("starting LiteLLM (this takes a while)");
            let process = start_litellm(bin, &fake, scratch)?;
            let target = Target::new("LiteLLM", process.addr, "/v1/chat/completions", MODEL);
            let rss = settled_rss(process.pid());
            let pair = [direct.clone(), target];
            progress("LiteLLM: non-streaming, one client");
            let seq = sequential(&pair, sizes.warmup / 3, sizes.peer_sequential);
            progress(&format!("LiteLLM: non-streaming, {c} clients"));
            let conc = concurrent(&pair, c, sizes.block * 2, sizes.blocks, None);
            progress("LiteLLM: streaming");
            let ttfb = streaming(&fake, &pair, 5, sizes.short_streams / 4, 1, &|_| {
                Duration::ZERO
            });
            let streams = streaming(&fake, &pair, 3, sizes.streams, STREAM_PARTS, &|k| {
                Duration::from_millis(5 + (k % 6) as u64)
            });
            let rss_after = rss_mib(process.pid());
            drop(process);
            Some(Peer {
                seq,
                conc,
                ttfb,
                streams,
                rss,
                rss_after,
            })
        }
        None => None,
    };
    let others = (machine_busy() - busy0) - (own_cpu() - own0);
    let cores = thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    let others_share = 100.0 * others.max(0.0) / (t_start.elapsed().as_secs_f64() * cores);

    // ---- the report
    let mut r = String::new();
    let date = chrono::Local::now().format("%Y-%m-%d %H:%M %Z");
    let _ = writeln!(r, "## Results, {date}\n");
    let _ = writeln!(r, "Machine: {}.", machine());
    if let Ok(rustc) = std::env::var("BENCH_RUSTC") {
        let _ = writeln!(r, "Built with {rustc}, release profile.");
    }
    let _ = writeln!(
        r,
        "Other processes used {others_share:.0}% of the machine's CPU during the run (load average \
         {load_before} before it); the more, the noisier the figures."
    );
    if args.quick {
        let _ = writeln!(
            r,
            "\n**Quick run (`--quick`): too few samples for p99; for checking the script only.**"
        );
    }

    // The goals of the front-door rewrite (issue 11), each figure beside nginx's.
    let p50 =
        |v: &[Samples], i: usize, base: usize| v.get(i).map(|s| s.pct(50.0) - v[base].pct(50.0));
    let p99 = |v: &[Samples], i: usize| v.get(i).map(|s| s.pct(99.0));
    let max = |v: &[Samples], i: usize| v.get(i).map(|s| s.pct(100.0));
    let ttfb_only: Vec<Samples> = ttfb.iter().map(|t| t.ttfb.clone()).collect();
    let syscalls = |i: usize| costs.get(i).and_then(|c| c.syscalls.as_ref().map(|s| s.0));
    let switches = |i: usize| costs.get(i).map(|c| c.switches);
    let mib = |mb: f64| mb * 1e6 / (1024.0 * 1024.0);
    let big_body = format!("{} KiB body", LARGE_BODY / 1024);
    let goals = [
        GoalRow::new(
            "added p50, one request at a time (ms)",
            p50(&seq, ONE_PROXY, ONE_DIRECT),
            p50(&seq, ONE_NGINX, ONE_DIRECT),
            Show::Ms,
            Goal::TimesNginx(1.5),
        ),
        GoalRow::new(
            &format!("added p50, one at a time, {big_body} (ms)"),
            p50(&seq, ONE_PROXY_LARGE, ONE_DIRECT_LARGE),
            p50(&seq, ONE_NGINX_LARGE, ONE_DIRECT_LARGE),
            Show::Ms,
            Goal::TimesNginx(1.5),
        ),
        GoalRow::new(
            &format!("p99 at {c} clients (ms)"),
            p99(&conc, 1),
            p99(&conc, 2),
            Show::Ms,
            Goal::AtMost(10_000.0, "≤ 10 ms"),
        ),
        GoalRow::new(
            &format!(
                "p99 wait, {c} new connections at once after {} s idle (ms)",
                BURST_IDLE.as_secs()
            ),
            p99(&bursts, 1),
            p99(&bursts, 2),
            Show::Ms,
            Goal::AtMost(10_000.0, "≤ 10 ms"),
        ),
        GoalRow::new(
            "longest wait in those bursts (ms)",
            max(&bursts, 1),
            max(&bursts, 2),
            Show::Ms,
            Goal::None,
        ),
        GoalRow::new(
            "stream: first event, added p50 (ms)",
            p50(&ttfb_only, 1, 0),
            p50(&ttfb_only, 2, 0),
            Show::Ms,
            Goal::AtMost(150.0, "≤ 0.15 ms"),
        ),
        GoalRow::new(
            "system calls per request (`strace -c -f`)",
            syscalls(0),
            syscalls(2),
            Show::Count,
            Goal::AtMost(12.0, "≤ 12"),
        ),
        GoalRow::new(
            &format!("system calls per request, {big_body}"),
            syscalls(1),
            syscalls(3),
            Show::Count,
            Goal::None,
        ),
        GoalRow::new(
            "context switches per request (all threads)",
            switches(0),
            switches(2),
            Show::Count,
            Goal::None,
        ),
        GoalRow::new(
            &format!("context switches per request, {big_body}"),
            switches(1),
            switches(3),
            Show::Count,
            Goal::None,
        ),
        GoalRow::new(
            "idle RSS, SMART_MAX_TOKENS=false, after 1 request (MiB)",
            Some(rss_idle),
            nginx_rss.map(|(idle, _)| idle),
            Show::Mib,
            Goal::AtMost(mib(20.0), "≤ 20 MB (19.1 MiB)"),
        ),
        GoalRow::new(
            &format!(
                "RSS added by {} idle keep-alive connections (MiB)",
                sizes.idle_connections
            ),
            Some(rss_idle_conns - rss_idle),
            nginx_rss.map(|(idle, with)| with - idle),
            Show::Mib,
            Goal::AtMost(mib(30.0), "≤ +30 MB (28.6 MiB)"),
        ),
    ];
    let _ = writeln!(
        r,
        "\n### The front door (issue 11): the proxy beside nginx\n\n\
         nginx {} as a reverse proxy in front of the same fake, in the same run: one worker \
         process, `proxy_buffering off`, HTTP/1.1 keep-alive to the fake (`keepalive 32`). \
         \"Added\" is a path's percentile minus the direct path's.\n\n\
         | figure | proxy | nginx | proxy ÷ nginx | goal | |\n|---|---:|---:|---:|---|---|",
        nginx_version(args.nginx.as_deref())
    );
    for g in &goals {
        g.write(&mut r);
    }
    if args.strace.is_none() {
        let _ = writeln!(r, "\nNo strace: system calls not counted.");
    }

    let _ = writeln!(
        r,
        "\n### Non-streaming overhead\n\n\
         The same requests sent directly to the fake upstream and through the proxy, in the same \
         run; \"added\" is a path's percentile minus the direct path's. Latencies in ms. Proxy CPU: \
         the proxy process's CPU time (user + system) per request it served.\n\n\
         | clients | path | requests | p50 | p99 | added p50 | added p99 | req/s | proxy CPU | goal: added p50 ≤ 0.2, p99 ≤ 1 |\n\
         |---|---|---:|---:|---:|---:|---:|---:|---:|---|"
    );
    let d = &seq[ONE_DIRECT];
    row(&mut r, "1", "direct", d, d, "", "");
    row(&mut r, "1", "proxy", &seq[ONE_PROXY], d, &cpu_seq, "goal");
    if let Some(s) = seq.get(ONE_NGINX) {
        row(&mut r, "1", "nginx", s, d, "", "(floor)");
    }
    let d4 = &seq[ONE_DIRECT_LARGE];
    let big = format!("1, {} KiB body", LARGE_BODY / 1024);
    row(&mut r, &big, "direct", d4, d4, "", "");
    row(&mut r, &big, "proxy", &seq[ONE_PROXY_LARGE], d4, "", "goal");
    if let Some(s) = seq.get(ONE_NGINX_LARGE) {
        row(&mut r, &big, "nginx", s, d4, "", "(floor)");
    }
    for (i, label) in [
        (ONE_AUTO, "proxy, model `auto`"),
        (ONE_OFF, "proxy, SMART_MAX_TOKENS=false"),
    ] {
        row(&mut r, "1", label, &seq[i], d, "", "(informative)");
    }
    let cs = format!("{c}");
    row(&mut r, &cs, "direct", &conc[0], &conc[0], "", "");
    row(&mut r, &cs, "proxy", &conc[1], &conc[0], &cpu_conc, "goal");
    if let Some(s) = conc.get(2) {
        row(&mut r, &cs, "nginx", s, &conc[0], "", "(floor)");
    }
    let cp = format!("{c}, paced to {PACED_RATE} req/s in all");
    row(&mut r, &cp, "direct", &paced[0], &paced[0], "", "");
    row(
        &mut r,
        &cp,
        "proxy",
        &paced[1],
        &paced[0],
        "",
        "(informative)",
    );
    if let Some(s) = paced.get(2) {
        row(&mut r, &cp, "nginx", s, &paced[0], "", "(floor)");
    }
    if let Some(p) = &peer {
        row(
            &mut r,
            "1",
            "direct (LiteLLM pass)",
            &p.seq[0],
            &p.seq[0],
            "",
            "",
        );
        row(&mut r, "1", "LiteLLM", &p.seq[1], &p.seq[0], "", "");
        row(
            &mut r,
            &cs,
            "direct (LiteLLM pass)",
            &p.conc[0],
            &p.conc[0],
            "",
            "",
        );
        row(&mut r, &cs, "LiteLLM", &p.conc[1], &p.conc[0], "", "");
        let ratio = |l: &[Samples], q: &[Samples], p: f64| {
            (l[1].pct(p) - l[0].pct(p)) / (q[1].pct(p) - q[0].pct(p))
        };
        let ratios = [
            ratio(&p.seq, &seq[..2], 50.0),
            ratio(&p.seq, &seq[..2], 99.0),
            ratio(&p.conc, &conc, 50.0),
            ratio(&p.conc, &conc, 99.0),
        ];
        let _ = writeln!(
            r,
            "\nLiteLLM's added latency ÷ the proxy's (goal ≥ 20): one client p50 {:.0}x, p99 {:.0}x; \
             {c} clients p50 {:.0}x, p99 {:.0}x: {}. Throughput at {c} clients: proxy {:.0} req/s, \
             LiteLLM {:.0} req/s.",
            ratios[0],
            ratios[1],
            ratios[2],
            ratios[3],
            check(ratios.iter().all(|x| *x >= 20.0)),
            conc[1].rate.unwrap_or(0.0),
            p.conc[1].rate.unwrap_or(0.0),
        );
    }

    let _ = writeln!(
        r,
        "\n### Streaming\n\n\
         One stream at a time. TTFB: request sent → first content event received, over {} short \
         streams per path. Per event: the fake's stamp just before it writes an event → the \
         client has the whole event, events 2-18 of {} streams per path of 18 content events, \
         a stop event and `[DONE]`, 5-10 ms apart. ms.\n\n\
         | path | TTFB p50 | TTFB p99 | added TTFB p50 | added TTFB p99 | per event p50 | per event p99 | added p50 | added p99 | goal: added TTFB ≤ 1, added per-event p99 ≤ 1 |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
        sizes.short_streams, sizes.streams
    );
    stream_row(&mut r, "direct", &ttfb, &streams, 0, "");
    stream_row(&mut r, "proxy", &ttfb, &streams, 1, "goal");
    if ttfb.len() > 2 {
        stream_row(&mut r, "nginx", &ttfb, &streams, 2, "(floor)");
    }
    if let Some(p) = &peer {
        stream_row(&mut r, "direct (LiteLLM pass)", &p.ttfb, &p.streams, 0, "");
        stream_row(&mut r, "LiteLLM", &p.ttfb, &p.streams, 1, "");
        let added = |t: &[StreamSamples], q: f64| t[1].ttfb.pct(q) - t[0].ttfb.pct(q);
        let event = |t: &[StreamSamples], q: f64| t[1].per_event.pct(q) - t[0].per_event.pct(q);
        let _ = writeln!(
            r,
            "\nLiteLLM ÷ proxy: added TTFB p50 {:.0}x, p99 {:.0}x; added per-event delay p50 {:.0}x.",
            added(&p.ttfb, 50.0) / added(&ttfb, 50.0),
            added(&p.ttfb, 99.0) / added(&ttfb, 99.0),
            event(&p.streams, 50.0) / event(&streams, 50.0),
        );
    }

    let _ = writeln!(
        r,
        "\n### Memory (VmRSS, MiB)\n\n| process, state | MiB | goal |\n|---|---:|---|"
    );
    let _ = writeln!(
        r,
        "| proxy idle, SMART_MAX_TOKENS=false, default settings (128 workers), after 1 request | {rss_idle:.1} | < 20: {} |",
        check(rss_idle < 20.0)
    );
    let idle_n = sizes.idle_connections;
    let _ = writeln!(
        r,
        "| the same proxy with {idle_n} idle keep-alive connections open (one request each) | {rss_idle_conns:.1} | (see the goals above) |"
    );
    if let Some((idle, with)) = nginx_rss {
        let _ = writeln!(
            r,
            "| nginx idle (master and its worker), after 1 request | {idle:.1} | (floor) |\n\
             | nginx with {idle_n} idle keep-alive connections open | {with:.1} | (floor) |"
        );
    }
    let _ = writeln!(
        r,
        "| proxy idle, SMART_MAX_TOKENS=false, MAX_CONCURRENT_REQUESTS=256 (260 workers: the limit + 4) | {rss_off_idle:.1} | (informative) |"
    );
    let _ = writeln!(
        r,
        "| proxy, tokenizer warm (SMART_MAX_TOKENS=true), after 1 request, 260 workers | {rss_warm:.1} | < 80: {} |",
        check(rss_warm < 80.0)
    );
    let _ = writeln!(
        r,
        "| the same proxy after the non-streaming and streaming runs above | {rss_after_load:.1} | (informative) |"
    );
    let n = sizes.held_streams;
    let _ = writeln!(
        r,
        "| a fresh proxy, tokenizer warm, after 1 request, with {n} streams open | {rss_streams:.1} | < 120: {} |",
        check(rss_streams < 120.0)
    );
    let _ = writeln!(
        r,
        "| the proxy of the runs above (tokenizer warm), with {n} streams open | {rss_streams_loaded:.1} | (informative) |"
    );
    let _ = writeln!(
        r,
        "| proxy, SMART_MAX_TOKENS=false, with {n} streams open | {rss_streams_off:.1} | (informative) |"
    );
    if let Some(p) = &peer {
        let _ = writeln!(
            r,
            "| LiteLLM {}, idle after start-up | {:.1} | (comparison) |",
            args.litellm_version, p.rss
        );
        let _ = writeln!(
            r,
            "| LiteLLM after its runs | {:.1} | (comparison) |",
            p.rss_after
        );
    }

    let _ = writeln!(
        r,
        "\n### New connections after an idle pause\n\n\
         {} rounds: nothing for {} s, then {c} connections opened at once on each path in turn, \
         each sending one request; the wait is from a client's start to its whole answer \
         (connection set-up included). ms.\n\n\
         | path | connections | p50 | p99 | max |\n|---|---:|---:|---:|---:|",
        sizes.burst_rounds,
        BURST_IDLE.as_secs()
    );
    for (label, b) in ["direct", "proxy", "nginx"].iter().zip(&bursts) {
        let errors = if b.errors > 0 {
            format!(" ({} errors)", b.errors)
        } else {
            String::new()
        };
        let _ = writeln!(
            r,
            "| {label}{errors} | {} | {} | {} | {} |",
            b.us.len(),
            ms(b.pct(50.0)),
            ms(b.pct(99.0)),
            ms(b.pct(100.0))
        );
    }
    let _ = writeln!(
        r,
        "\n### What a request costs the server's processes\n\n\
         {cost_n} requests one at a time on one keep-alive connection, counting the context switches \
         of the server's threads (`/proc/PID/task/*/status`, voluntary and not; threads that end \
         meanwhile are not counted); then {cost_n} more with `strace -c -f` attached to every \
         thread (nginx: master and worker).\n\n\
         | server, request | context switches | system calls | the most frequent, per request |\n\
         |---|---:|---:|---|",
        cost_n = sizes.cost_requests
    );
    let labels = [
        "proxy, plain".to_string(),
        format!("proxy, {big_body}"),
        "nginx, plain".to_string(),
        format!("nginx, {big_body}"),
    ];
    for (label, cost) in labels.iter().zip(&costs) {
        let (calls, top) = cost
            .syscalls
            .as_ref()
            .map_or(("n/a".to_string(), ""), |(n, top)| {
                (format!("{n:.1}"), top.as_str())
            });
        let _ = writeln!(r, "| {label} | {:.1} | {calls} | {top} |", cost.switches);
    }

    token_counting(args.quick, &mut r);

    let _ = writeln!(
        r,
        "\n### Connection burst\n\n{} of {} keep-alive connections opened at once to a fresh proxy \
         got their answer (`GET /health`) within 3 s; the rest wait until another connection \
         closes (tiny_http 0.12's thread pool; see BENCHMARKS.md). The measurements above open \
         their connections one after the other.",
        burst.0, burst.1
    );

    let mut errors = Vec::new();
    let mut note = |label: &str, s: &Samples| {
        if let Some(e) = &s.first_error {
            errors.push(format!("{label}: {} errors, first: {e}", s.errors));
        }
    };
    for (t, s) in one.iter().zip(&seq) {
        note(&format!("{}, one at a time", t.label), s);
    }
    for (what, runs) in [("clients", &conc), ("paced", &paced), ("burst", &bursts)] {
        for (t, s) in trio.iter().zip(runs) {
            note(&format!("{}, {what}", t.label), s);
        }
    }
    for (t, s) in trio.iter().cycle().zip(ttfb.iter().chain(&streams)) {
        note(&format!("{}, stream", t.label), &s.ttfb);
    }
    if let Some(p) = &peer {
        for s in p.seq.iter().chain(&p.conc) {
            note("LiteLLM pass", s);
        }
        for t in p.ttfb.iter().chain(&p.streams) {
            note("LiteLLM pass stream", &t.ttfb);
        }
    }
    if !errors.is_empty() {
        let _ = writeln!(r, "\nErrors:\n");
        for e in errors {
            let _ = writeln!(r, "- {}", e.chars().take(300).collect::<String>());
        }
    }

    print!("{r}");
    if let Some(out) = &args.out {
        fs::write(out, &r).map_err(|e| format!("cannot write {}: {e}", out.display()))?;
        progress(&format!("written to {}", out.display()));
    }
    Ok(())
}

/// Total request rate of the paced runs.
const PACED_RATE: u64 = 1000;

/// How long no request reaches any server before a burst of new connections: long enough for
/// tiny_http's connection pool to have let its idle threads go.
const BURST_IDLE: Duration = Duration::from_secs(8);

/// Where each path is in the one-at-a-time run (`measure`).
const ONE_DIRECT: usize = 0;
const ONE_PROXY: usize = 1;
const ONE_DIRECT_LARGE: usize = 2;
const ONE_PROXY_LARGE: usize = 3;
const ONE_AUTO: usize = 4;
const ONE_OFF: usize = 5;
const ONE_NGINX: usize = 6;
const ONE_NGINX_LARGE: usize = 7;

/// What the peer's pass measured.
struct Peer {
    seq: Vec<Samples>,
    conc: Vec<Samples>,
    ttfb: Vec<StreamSamples>,
    streams: Vec<StreamSamples>,
    rss: f64,
    rss_after: f64,
}

/// How a figure of the front-door table is shown.
#[derive(Clone, Copy)]
enum Show {
    /// Microseconds, shown in ms.
    Ms,
    Count,
    Mib,
}

impl Show {
    fn show(self, v: f64) -> String {
        match self {
            Show::Ms => ms(v),
            Show::Count | Show::Mib => format!("{v:.1}"),
        }
    }
}

/// What a figure of the front-door table must be.
enum Goal {
    None,
    /// At most this many times nginx's figure.
    TimesNginx(f64),
    /// At most this value (in the figure's unit), said so.
    AtMost(f64, &'static str),
}

/// One row of the front-door table: a figure for the proxy and for nginx, and its goal.
struct GoalRow {
    figure: String,
    proxy: Option<f64>,
    nginx: Option<f64>,
    show: Show,
    goal: Goal,
}

impl GoalRow {
    fn new(
        figure: &str,
        proxy: Option<f64>,
        nginx: Option<f64>,
        show: Show,
        goal: Goal,
    ) -> GoalRow {
        GoalRow {
            figure: figure.to_string(),
            proxy,
            nginx,
            show,
            goal,
        }
    }

    fn write(&self, r: &mut String) {
        let shown = |v: Option<f64>| v.map_or("n/a".to_string(), |v| self.show.show(v));
        let ratio = match (self.proxy, self.nginx) {
            (Some(p), Some(n)) if n > 0.0 => format!("{:.1}×", p / n),
            _ => String::new(),
        };
        let (goal, met) = match (&self.goal, self.proxy) {
            (Goal::None, _) => ("(informative)".to_string(), None),
            (Goal::TimesNginx(k), p) => (
                format!("≤ {k}× nginx's"),
                p.zip(self.nginx).map(|(p, n)| p <= k * n),
            ),
            (Goal::AtMost(limit, said), p) => (said.to_string(), p.map(|p| p <= *limit)),
        };
        let met = match met {
            Some(true) => "met",
            Some(false) => "**not met**",
            None => "",
        };
        let _ = writeln!(
            r,
            "| {} | {} | {} | {ratio} | {goal} | {met} |",
            self.figure,
            shown(self.proxy),
            shown(self.nginx)
        );
    }
}

/// nginx's version as `nginx -v` says it, or a note that it did not run.
fn nginx_version(bin: Option<&Path>) -> String {
    let Some(bin) = bin else {
        return "(not run: no `--nginx`)".into();
    };
    let said = Command::new(bin)
        .arg("-v")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stderr).into_owned())
        .unwrap_or_default();
    said.trim()
        .strip_prefix("nginx version: nginx/")
        .map_or_else(|| "(version unknown)".into(), |v| v.to_string())
}

/// One row of the non-streaming table.
fn row(
    r: &mut String,
    clients: &str,
    label: &str,
    s: &Samples,
    base: &Samples,
    cpu: &str,
    goal: &str,
) {
    let (a50, a99) = (s.pct(50.0) - base.pct(50.0), s.pct(99.0) - base.pct(99.0));
    let is_base = std::ptr::eq(s, base);
    let added = |v: f64| if is_base { String::new() } else { ms(v) };
    let goal = if goal == "goal" {
        check(a50 <= 200.0 && a99 <= 1000.0).to_string()
    } else {
        goal.to_string()
    };
    let errors = if s.errors > 0 {
        format!(" ({} errors)", s.errors)
    } else {
        String::new()
    };
    let _ = writeln!(
        r,
        "| {clients} | {label}{errors} | {} | {} | {} | {} | {} | {:.0} | {cpu} | {goal} |",
        s.us.len(),
        ms(s.pct(50.0)),
        ms(s.pct(99.0)),
        added(a50),
        added(a99),
        s.rate.unwrap_or(f64::NAN)
    );
}

/// One row of the streaming table: TTFB from `ttfb[i]`, events from `streams[i]`, each against
/// entry 0 (direct).
fn stream_row(
    r: &mut String,
    label: &str,
    ttfb: &[StreamSamples],
    streams: &[StreamSamples],
    i: usize,
    goal: &str,
) {
    let (t, e) = (&ttfb[i].ttfb, &streams[i].per_event);
    let (t0, e0) = (&ttfb[0].ttfb, &streams[0].per_event);
    let bad =
        ttfb[i].ttfb.errors + streams[i].ttfb.errors + ttfb[i].incomplete + streams[i].incomplete;
    let note = if bad > 0 {
        format!(" ({bad} streams failed or incomplete)")
    } else {
        String::new()
    };
    let added = |a: f64| if i == 0 { String::new() } else { ms(a) };
    let at50 = t.pct(50.0) - t0.pct(50.0);
    let at99 = t.pct(99.0) - t0.pct(99.0);
    let ae50 = e.pct(50.0) - e0.pct(50.0);
    let ae99 = e.pct(99.0) - e0.pct(99.0);
    let goal = if goal == "goal" {
        check(at50 <= 1000.0 && at99 <= 1000.0 && ae99 <= 1000.0)
    } else {
        goal
    };
    let _ = writeln!(
        r,
        "| {label}{note} | {} | {} | {} | {} | {} | {} | {} | {} | {goal} |",
        ms(t.pct(50.0)),
        ms(t.pct(99.0)),
        added(at50),
        added(at99),
        ms(e.pct(50.0)),
        ms(e.pct(99.0)),
        added(ae50),
        added(ae99),
    );
}

/// CPU seconds the whole machine has been busy (all cores, from /proc/stat).
fn machine_busy() -> f64 {
    let stat = fs::read_to_string("/proc/stat").unwrap_or_default();
    let line = stat.lines().next().unwrap_or("");
    let v: Vec<f64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal
    let busy: f64 =
        v.iter().take(8).sum::<f64>() - v.get(3).unwrap_or(&0.0) - v.get(4).unwrap_or(&0.0);
    busy / 100.0
}

/// CPU seconds used by this process and the children it has waited for (the servers).
fn own_cpu() -> f64 {
    let stat = fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<f64> = rest
        .split_whitespace()
        .filter_map(|x| x.parse().ok())
        .collect();
    // After the name: state is not a number, so utime, stime, cutime, cstime are 10..14 here.
    f.get(10..14).map_or(0.0, |x| x.iter().sum::<f64>()) / 100.0
}

/// The 1-minute load average.
fn loadavg() -> String {
    fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .next()
        .unwrap_or("?")
        .to_string()
}

/// CPU time per request between two readings, as "user + system µs".
fn cpu_per_request(before: (f64, f64), after: (f64, f64), requests: usize) -> String {
    let n = requests.max(1) as f64;
    let user = (after.0 - before.0) / n * 1e6;
    let system = (after.1 - before.1) / n * 1e6;
    format!("{user:.0} + {system:.0} µs")
}

/// Waits (at most 10 s) until the streams left by stopped proxies have ended in the fake.
fn wait_fake_quiet(fake: &FakeUpstream) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while fake.active() > 0 && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(20));
    }
}

/// Runs requests through one proxy for `secs` seconds from `--clients` clients, for a
/// profiler: the proxy's pid is printed first (or the proxy runs under `--wrap`). Prints the
/// rate and the proxy's CPU time per request.
fn profile_load(args: &Args, fake: &FakeUpstream, scratch: &Path, secs: f64) -> Result<(), String> {
    let env: Vec<(&str, &str)> = args
        .proxy_env
        .iter()
        .filter_map(|kv| kv.split_once('='))
        .collect();
    let proxy = start_proxy(args, fake, scratch, "profile", &env)?;
    eprintln!("bench: proxy pid {} at {}", proxy.pid(), proxy.addr);
    println!("{}", proxy.pid());
    let _ = io::stdout().flush();
    let target = Target::new("proxy", proxy.addr, "/v1/chat/completions", MODEL);
    if args.stream {
        // Short streams: the time to the first event, and where it goes.
        let direct = Target::new("direct", fake.addr(), "/api/v1/chat/completions", MODEL);
        let rounds = ((secs * 200.0) as usize).max(1);
        let out = streaming(fake, &[direct, target], 20, rounds, 1, &|_| Duration::ZERO);
        for (label, s) in ["direct", "proxy"].iter().zip(&out) {
            let q = |x: &Samples| [50.0, 90.0, 99.0, 100.0].map(|p| ms(x.pct(p))).join(" / ");
            progress(&format!(
                "{label}: {} streams, p50 / p90 / p99 / max in ms: TTFB {}; request → fake \
                 writes the event {}; event written → client has it {}",
                s.ttfb.us.len(),
                q(&s.ttfb),
                q(&s.to_upstream),
                q(&s.first_event),
            ));
        }
        return Ok(());
    }
    let cpu0 = cpu_seconds(proxy.pid());
    let samples = concurrent(
        std::slice::from_ref(&target),
        args.clients,
        Duration::from_secs_f64(secs),
        1,
        None,
    );
    let cpu1 = cpu_seconds(proxy.pid());
    let s = &samples[0];
    let n = s.sent.max(1) as f64;
    progress(&format!(
        "{} requests ({} errors), {:.0} req/s, p50 {} ms, p99 {} ms; proxy CPU per request: \
         user {:.1} µs, system {:.1} µs",
        s.us.len(),
        s.errors,
        s.rate.unwrap_or(0.0),
        ms(s.pct(50.0)),
        ms(s.pct(99.0)),
        (cpu1.0 - cpu0.0) / n * 1e6,
        (cpu1.1 - cpu0.1) / n * 1e6,
    ));
    drop(proxy);
    Ok(())
}

/// User and system CPU time a process has used, in seconds (all its threads).
fn cpu_seconds(pid: u32) -> (f64, f64) {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The fields after the command name (which may hold spaces) start after the last ')'.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    let tick = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
            / 100.0
    };
    (tick(11), tick(12))
}
