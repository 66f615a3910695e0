//! Helpers shared by the integration tests: start the real proxy in-process against the fake
//! upstream, and speak HTTP/1.1 to it over raw sockets (the library's own raw client, shared
//! with the daemon and the benchmark) so that framing, keep-alive and timing are seen exactly
//! as a client sees them.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use openrouter_proxy::AppState;
use openrouter_proxy::RawSettings;
use openrouter_proxy::demo::FakeUpstream;
use serde_json::Value;

pub const KEY: &str = "sk-or-v1-test0000000000000000000000000000000000000000000000000001";

pub struct TestProxy {
    pub addr: SocketAddr,
    pub state: Arc<AppState>,
    pub fake: FakeUpstream,
}

/// Starts a fake upstream and a proxy pointed at it, with the key set and `extra` settings.
pub fn start(extra: &[(&str, &str)]) -> TestProxy {
    let fake = FakeUpstream::start().expect("fake upstream");
    start_with(fake, extra)
}

/// Starts a proxy pointed at `fake`. Unless `extra` says otherwise, it has one key, its own
/// empty cache folder, 16 workers, and never retries (so that each scripted failure reaches
/// the client).
pub fn start_with(fake: FakeUpstream, extra: &[(&str, &str)]) -> TestProxy {
    let base = fake.base_url();
    let cache = scratch_dir();
    let cache = cache.to_str().unwrap();
    let mut pairs = vec![
        ("OPENROUTER_API_KEY", KEY),
        ("OPENROUTER_BASE_URL", base.as_str()),
        ("PORT", "0"),
        ("CACHE_DIR", cache),
        ("RETRY_POLICY", "never"),
    ];
    pairs.extend_from_slice(extra);
    let config = RawSettings::from_pairs(pairs).validate().expect("config");
    let (state, running) = openrouter_proxy::start(config).expect("start");
    let addr = running.local_addr();
    // The server runs until the test process ends.
    std::mem::forget(running);
    TestProxy { addr, state, fake }
}

/// A new empty folder under the system's temporary folder.
pub fn scratch_dir() -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "orp-test-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub const HELLO: &str = r#"{"messages":[{"role":"user","content":"Hi"}]}"#;
pub const HELLO_STREAM: &str = r#"{"stream":true,"messages":[{"role":"user","content":"Hi"}]}"#;

pub use openrouter_proxy::Response;

/// What the tests read out of a response, beyond the library client's own `header` and
/// `text`.
pub trait ResponseExt {
    fn json(&self) -> Value;
    /// The `data:` payloads of an event stream, `[DONE]` included.
    fn data_events(&self) -> Vec<String>;
    /// The answer text of an event stream: its `delta.content` pieces joined.
    fn streamed_content(&self) -> String;
    /// Asserts an OpenAI-style error with this status and returns its `error` object.
    fn expect_error(&self, status: u16) -> Value;
}

impl ResponseExt for Response {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }

    fn data_events(&self) -> Vec<String> {
        self.text()
            .split("\n\n")
            .filter_map(|e| e.trim().strip_prefix("data: ").map(str::to_string))
            .collect()
    }

    fn streamed_content(&self) -> String {
        self.data_events()
            .iter()
            .filter_map(|d| serde_json::from_str::<Value>(d).ok())
            .filter_map(|v| {
                v["choices"][0]["delta"]["content"]
                    .as_str()
                    .map(str::to_string)
            })
            .collect()
    }

    fn expect_error(&self, status: u16) -> Value {
        assert_eq!(self.status, status, "body: {}", self.text());
        let body = self.json();
        let error = body["error"].clone();
        assert!(error["message"].is_string(), "no message: {body}");
        assert!(error["type"].is_string(), "no type: {body}");
        assert!(!error["code"].is_null(), "no code: {body}");
        error
    }
}

/// A client connection that can carry several requests: the library's raw HTTP/1.1 client
/// (the one the daemon and the benchmark use), failing the test on any I/O error.
pub struct Conn {
    /// The connection itself; it is also `Read`, for the raw bytes after a head.
    pub reader: openrouter_proxy::Conn,
}

impl Conn {
    pub fn open(addr: SocketAddr) -> Conn {
        Conn {
            reader: openrouter_proxy::Conn::open(addr, Duration::from_secs(30)).expect("connect"),
        }
    }

    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.reader.send_raw(bytes).expect("send");
    }

    /// Sends a request with `Host: localhost`, `headers`, and a `Content-Length` when there is
    /// a body or the method is POST.
    pub fn send(&mut self, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) {
        self.reader.send(method, path, headers, body).expect("send");
    }

    /// Reads a whole response (Content-Length, chunked, or until close).
    pub fn read_response(&mut self) -> Response {
        self.reader.read_response().expect("response")
    }

    /// The status, the version and the headers of a response.
    pub fn read_head(&mut self) -> (u16, String, Vec<(String, String)>) {
        let head = self.reader.read_head().expect("head");
        (head.status, head.version, head.headers)
    }

    /// One chunk of a chunked body and when it arrived; `None` at the final chunk.
    pub fn read_chunk(&mut self) -> Option<(Vec<u8>, Instant)> {
        self.reader.read_chunk().expect("chunk")
    }
}

/// A chat call with `body` sent on a new connection; its answer is read from the `Conn`.
pub fn send_chat(addr: SocketAddr, body: &str) -> Conn {
    let mut conn = Conn::open(addr);
    conn.send(
        "POST",
        "/v1/chat/completions",
        &[("Content-Type", "application/json")],
        body.as_bytes(),
    );
    conn
}

/// A streamed chat call whose response head has been read; the events follow with
/// `read_chunk`.
pub fn open_stream(addr: SocketAddr) -> Conn {
    let mut conn = send_chat(addr, HELLO_STREAM);
    conn.read_head();
    conn
}

/// One request on its own connection.
pub fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Response {
    let mut conn = Conn::open(addr);
    let mut all = vec![("Connection", "close")];
    all.extend_from_slice(headers);
    conn.send(method, path, &all, body);
    conn.read_response()
}

pub fn get(addr: SocketAddr, path: &str) -> Response {
    request(addr, "GET", path, &[], b"")
}

pub fn post_chat(addr: SocketAddr, body: &str) -> Response {
    request(
        addr,
        "POST",
        "/v1/chat/completions",
        &[("Content-Type", "application/json")],
        body.as_bytes(),
    )
}

/// Polls `check` until it holds or `limit` passes.
pub fn eventually(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if check() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    check()
}
