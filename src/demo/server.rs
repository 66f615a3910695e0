//! The fake upstream's server: a loopback listener, one thread per connection, just enough
//! HTTP/1.1 (keep-alive, Content-Length requests, chunked streams) to play each call's
//! [`Script`], and the record of what it received.

use std::collections::VecDeque;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crate::demo::answer::{
    Answer, DEMO_RATE_LIMITED, DEMO_UNAVAILABLE, GREETING, Wire, answer_for,
};
use crate::demo::script::{Script, StreamEnd};
use crate::demo::shapes;
use crate::demo::{DEFAULT_MODEL, ERR_NO_AUTH, ERR_PROVIDER_RATE_LIMITED, MODELS_JSON, SSE_LFM};
use crate::util::sync::lock;

/// What the fake answers `[demo:503]`: no provider can take the call.
const ERR_UNAVAILABLE: &str = r#"{"error":{"message":"No endpoints available: every provider of this model is down (a demo failure)","code":503}}"#;

/// A request as the fake received it.
#[derive(Clone, Debug)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Default)]
struct Shared {
    /// Scripts for the next generation calls (any protocol), in order.
    script: Mutex<VecDeque<Script>>,
    /// Every request received, in order.
    seen: Mutex<Vec<Seen>>,
    /// Chat calls being answered now, and the most there ever were at once.
    active: AtomicUsize,
    peak: AtomicUsize,
    /// Streams the proxy closed before their end.
    aborted: AtomicUsize,
    /// When each event of the latest stream was written.
    event_times: Mutex<Vec<Instant>>,
    /// Gap between events of default streams.
    default_gap: Mutex<Duration>,
    /// When set, `GET /models` answers 503 (OpenRouter down for the catalog).
    models_down: AtomicBool,
    /// The free-model calls a day `GET /key` reports for every key.
    daily_limit: AtomicUsize,
    /// Free-model chat calls per `Authorization` value, as `GET /key` reports them.
    key_uses: Mutex<std::collections::HashMap<String, usize>>,
    /// Whether requests are kept for `requests()` (not in the demo, which runs for long).
    forget_requests: AtomicBool,
}

/// A running fake upstream. It serves until the process ends.
#[derive(Clone)]
pub struct FakeUpstream {
    addr: SocketAddr,
    shared: Arc<Shared>,
}

impl FakeUpstream {
    /// Starts on a free loopback port.
    pub fn start() -> io::Result<FakeUpstream> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            daily_limit: AtomicUsize::new(50),
            ..Shared::default()
        });
        let accept_shared = Arc::clone(&shared);
        thread::Builder::new()
            .name("fake-upstream".into())
            .spawn(move || {
                for conn in listener.incoming().flatten() {
                    let shared = Arc::clone(&accept_shared);
                    let _ = thread::Builder::new()
                        .name("fake-conn".into())
                        .spawn(move || serve_connection(conn, &shared));
                }
            })?;
        Ok(FakeUpstream { addr, shared })
    }

    /// Starts with default streams spaced out so a person can watch them arrive, for an
    /// account whose free allowance never runs out.
    pub fn start_demo() -> io::Result<FakeUpstream> {
        let fake = FakeUpstream::start()?;
        fake.set_default_gap(Duration::from_millis(60));
        fake.set_daily_limit(1_000_000);
        fake.shared.forget_requests.store(true, Ordering::SeqCst);
        Ok(fake)
    }

    /// The free-model calls a day `GET /key` reports (50 unless set).
    pub fn set_daily_limit(&self, limit: usize) {
        self.shared.daily_limit.store(limit, Ordering::SeqCst);
    }

    /// The value for `OPENROUTER_BASE_URL`.
    pub fn base_url(&self) -> String {
        format!("http://{}/api/v1", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Queues what the next chat call gets.
    pub fn push(&self, script: Script) {
        lock(&self.shared.script).push_back(script);
    }

    /// Makes `GET /models` fail (or work again).
    pub fn set_models_down(&self, down: bool) {
        self.shared.models_down.store(down, Ordering::SeqCst);
    }

    pub fn set_default_gap(&self, gap: Duration) {
        *lock(&self.shared.default_gap) = gap;
    }

    /// Every request received so far.
    pub fn requests(&self) -> Vec<Seen> {
        lock(&self.shared.seen).clone()
    }

    /// The chat calls received so far.
    pub fn chat_requests(&self) -> Vec<Seen> {
        self.requests()
            .into_iter()
            .filter(|s| s.path.ends_with("/chat/completions"))
            .collect()
    }

    /// The generation calls received so far, whichever the protocol (chat completions,
    /// Responses, Messages).
    pub fn model_calls(&self) -> Vec<Seen> {
        self.requests()
            .into_iter()
            .filter(|s| Wire::of_path(&s.path).is_some())
            .collect()
    }

    /// The most chat calls that were ever in flight at once.
    pub fn peak_concurrency(&self) -> usize {
        self.shared.peak.load(Ordering::SeqCst)
    }

    /// Chat calls in flight now.
    pub fn active(&self) -> usize {
        self.shared.active.load(Ordering::SeqCst)
    }

    /// Streams cut short because the proxy closed the connection.
    pub fn aborted_streams(&self) -> usize {
        self.shared.aborted.load(Ordering::SeqCst)
    }

    /// When each event of the latest stream left the fake.
    pub fn event_times(&self) -> Vec<Instant> {
        lock(&self.shared.event_times).clone()
    }
}

fn serve_connection(conn: TcpStream, shared: &Shared) {
    let _ = conn.set_nodelay(true);
    let Ok(read_half) = conn.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(read_half);
    let mut writer = conn;
    while let Ok(Some(request)) = read_request(&mut reader) {
        if !shared.forget_requests.load(Ordering::Relaxed) {
            lock(&shared.seen).push(request.clone());
        }
        let keep_alive = if let Some(wire) = Wire::of_path(&request.path) {
            let call = ActiveCall::begin(shared);
            if asks_free_model(&request) {
                let key = request.header("Authorization").unwrap_or("").to_string();
                *lock(&shared.key_uses).entry(key).or_default() += 1;
            }
            let script = lock(&shared.script).pop_front();
            let script = script
                .unwrap_or_else(|| default_answer(wire, &request, shared))
                .quoting(request.header("Authorization").unwrap_or(""));
            answer(&mut writer, &mut reader, script, shared, Some(call))
        } else {
            let script = if shared.models_down.load(Ordering::SeqCst) {
                Script::json(
                    503,
                    r#"{"error":{"message":"Service Unavailable","code":503}}"#,
                )
            } else {
                other_route(&request, shared)
            };
            answer(&mut writer, &mut reader, script, shared, None)
        };
        if !keep_alive {
            let _ = writer.shutdown(Shutdown::Both);
            return;
        }
    }
}

/// The default answer to a generation call: an error for the demo markers, else the answer
/// `answer_for` chooses, whole or streamed, in the protocol's shape, for the model asked. A
/// plain chat stream replays a real capture.
fn default_answer(wire: Wire, request: &Seen, shared: &Shared) -> Script {
    if request
        .header("Authorization")
        .is_none_or(|a| !a.starts_with("Bearer "))
    {
        return Script::json(401, shapes::error_body(wire, 401, ERR_NO_AUTH));
    }
    let text = String::from_utf8_lossy(&request.body);
    if text.contains(DEMO_RATE_LIMITED) {
        return Script::json(
            429,
            shapes::error_body(wire, 429, ERR_PROVIDER_RATE_LIMITED),
        );
    }
    if text.contains(DEMO_UNAVAILABLE) {
        return Script::json(503, shapes::error_body(wire, 503, ERR_UNAVAILABLE));
    }
    let body: serde_json::Value = serde_json::from_slice(&request.body).unwrap_or_default();
    let model = body["model"]
        .as_str()
        .filter(|m| !m.is_empty() && *m != "auto")
        .unwrap_or(DEFAULT_MODEL);
    let answer = answer_for(wire, &body);
    let gap = *lock(&shared.default_gap);
    if body["stream"] != true {
        return Script::json(200, shapes::whole(wire, model, &answer));
    }
    if wire == Wire::Chat && answer == Answer::Text(GREETING.into()) {
        // The real capture, answered in the name of the model asked for.
        let sse = SSE_LFM.replace(DEFAULT_MODEL, model);
        return Script::stream_fixture(&sse, gap);
    }
    Script::Stream {
        events: shapes::stream(wire, model, &answer),
        gap,
        end: StreamEnd::Complete,
    }
}

fn other_route(request: &Seen, shared: &Shared) -> Script {
    match (request.method.as_str(), request.path.as_str()) {
        ("GET", "/api/v1/models") => Script::json(200, MODELS_JSON),
        ("GET", "/api/v1/key") => {
            // Like OpenRouter: today's free-model calls made with this key.
            let limit = shared.daily_limit.load(Ordering::SeqCst);
            let key = request.header("Authorization").unwrap_or("");
            let used = lock(&shared.key_uses).get(key).copied().unwrap_or(0);
            Script::json(
                200,
                serde_json::json!({"data": {
                    "label": "sk-or-v1-fak...789", "limit": null, "usage": 0, "is_free_tier": true,
                    "free_model_daily_requests": {"limit": limit, "remaining": limit.saturating_sub(used), "used": used},
                }})
                .to_string(),
            )
        }
        _ => Script::json(404, r#"{"error":{"message":"Not Found","code":404}}"#),
    }
}

/// Whether a chat call names a free model.
fn asks_free_model(request: &Seen) -> bool {
    let body: serde_json::Value = serde_json::from_slice(&request.body).unwrap_or_default();
    let model = body["model"].as_str().unwrap_or("");
    model.ends_with(":free") || model == "openrouter/free"
}

/// Reads one request; `None` when the peer closed the connection between requests.
fn read_request(reader: &mut BufReader<TcpStream>) -> io::Result<Option<Seen>> {
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Ok(None);
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("").to_string();
    let path = parts.next().unwrap_or("").to_string();
    let mut headers = Vec::new();
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            return Ok(None);
        }
        let trimmed = line.trim_end();
        if trimmed.is_empty() {
            break;
        }
        if let Some((k, v)) = trimmed.split_once(':') {
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    let mut seen = Seen {
        method,
        path,
        headers,
        body: Vec::new(),
    };
    let length: usize = seen
        .header("Content-Length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    seen.body.resize(length, 0);
    reader.read_exact(&mut seen.body)?;
    Ok(Some(seen))
}

/// Counts a chat call as in flight from its arrival until just before its last bytes leave,
/// so that the proxy, which may start its next call as soon as it has read them, never sees
/// the fake count one call too many.
struct ActiveCall<'a>(&'a Shared);

impl<'a> ActiveCall<'a> {
    fn begin(shared: &'a Shared) -> ActiveCall<'a> {
        let now = shared.active.fetch_add(1, Ordering::SeqCst) + 1;
        shared.peak.fetch_max(now, Ordering::SeqCst);
        ActiveCall(shared)
    }
}

impl Drop for ActiveCall<'_> {
    fn drop(&mut self) {
        self.0.active.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Plays one script; returns whether the connection can carry another request. `call` is
/// ended before the last write.
fn answer(
    writer: &mut TcpStream,
    reader: &mut BufReader<TcpStream>,
    script: Script,
    shared: &Shared,
    call: Option<ActiveCall>,
) -> bool {
    match script {
        Script::Json {
            status,
            headers,
            body,
            delay,
        } => {
            thread::sleep(delay);
            let mut head = format!(
                "HTTP/1.1 {status} Fake\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
                body.len()
            );
            for (k, v) in headers {
                head.push_str(&format!("{k}: {v}\r\n"));
            }
            head.push_str("\r\n");
            head.push_str(&body);
            drop(call);
            writer.write_all(head.as_bytes()).is_ok() && writer.flush().is_ok()
        }
        Script::Stream { events, gap, end } => {
            lock(&shared.event_times).clear();
            let head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\
                        Cache-Control: no-cache\r\nTransfer-Encoding: chunked\r\n\r\n";
            if writer.write_all(head.as_bytes()).is_err() {
                return false;
            }
            let mut call = call;
            for (i, event) in events.iter().enumerate() {
                if i > 0 {
                    thread::sleep(gap);
                }
                if i + 1 == events.len() && end == StreamEnd::Complete {
                    call.take();
                }
                // Stamped before the write: the client may have it before a stamp after.
                lock(&shared.event_times).push(Instant::now());
                let sent = write!(writer, "{:x}\r\n{event}\r\n", event.len())
                    .and_then(|()| writer.flush());
                if sent.is_err() {
                    shared.aborted.fetch_add(1, Ordering::SeqCst);
                    return false;
                }
            }
            drop(call);
            match end {
                StreamEnd::Complete => writer.write_all(b"0\r\n\r\n").is_ok(),
                StreamEnd::Drop => false,
                StreamEnd::Stall => {
                    wait_for_close(reader);
                    false
                }
            }
        }
        Script::Hang => {
            wait_for_close(reader);
            false
        }
        Script::Close => false,
        Script::Raw(bytes) => {
            let _ = writer.write_all(&bytes);
            false
        }
    }
}

/// Blocks until the peer closes its side (or an hour passes).
fn wait_for_close(reader: &mut BufReader<TcpStream>) {
    let _ = reader
        .get_ref()
        .set_read_timeout(Some(Duration::from_secs(3600)));
    let mut byte = [0u8; 1];
    while matches!(reader.read(&mut byte), Ok(n) if n > 0) {}
}
