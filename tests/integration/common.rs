//! Helpers shared by the integration tests: start the real proxy in-process against the fake
//! upstream, and speak HTTP/1.1 to it over raw sockets so that framing, keep-alive and timing
//! are seen exactly as a client sees them.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
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

#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub version: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The `data:` payloads of an event stream, `[DONE]` included.
    pub fn data_events(&self) -> Vec<String> {
        self.text()
            .split("\n\n")
            .filter_map(|e| e.trim().strip_prefix("data: ").map(str::to_string))
            .collect()
    }

    /// The answer text of an event stream: its `delta.content` pieces joined.
    pub fn streamed_content(&self) -> String {
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

    /// Asserts an OpenAI-style error with this status and returns its `error` object.
    pub fn expect_error(&self, status: u16) -> Value {
        assert_eq!(self.status, status, "body: {}", self.text());
        let body = self.json();
        let error = body["error"].clone();
        assert!(error["message"].is_string(), "no message: {body}");
        assert!(error["type"].is_string(), "no type: {body}");
        assert!(!error["code"].is_null(), "no code: {body}");
        error
    }
}

/// A client connection that can carry several requests.
pub struct Conn {
    pub reader: BufReader<TcpStream>,
}

impl Conn {
    pub fn open(addr: SocketAddr) -> Conn {
        let stream = TcpStream::connect(addr).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        Conn {
            reader: BufReader::new(stream),
        }
    }

    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.reader.get_mut().write_all(bytes).expect("send");
    }

    pub fn send(&mut self, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) {
        let mut head = format!("{method} {path} HTTP/1.1\r\n");
        if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("Host")) {
            head.push_str("Host: localhost\r\n");
        }
        for (k, v) in headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        if !body.is_empty() || method == "POST" {
            head.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        head.push_str("\r\n");
        let mut bytes = head.into_bytes();
        bytes.extend_from_slice(body);
        self.send_raw(&bytes);
    }

    /// Reads a whole response (Content-Length, chunked, or until close).
    pub fn read_response(&mut self) -> Response {
        let (status, version, headers) = self.read_head();
        let mut body = Vec::new();
        let chunked = header(&headers, "Transfer-Encoding").is_some_and(|v| v.contains("chunked"));
        if chunked {
            while let Some((piece, _)) = self.read_chunk() {
                body.extend_from_slice(&piece);
            }
        } else if let Some(n) = header(&headers, "Content-Length").and_then(|v| v.parse().ok()) {
            body.resize(n, 0);
            self.reader.read_exact(&mut body).expect("body");
        } else {
            self.reader.read_to_end(&mut body).expect("body to close");
        }
        Response {
            status,
            version,
            headers,
            body,
        }
    }

    pub fn read_head(&mut self) -> (u16, String, Vec<(String, String)>) {
        let mut line = String::new();
        self.reader.read_line(&mut line).expect("status line");
        let mut parts = line.split_whitespace();
        let version = parts.next().unwrap_or("").to_string();
        let status = parts
            .next()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("bad status line {line:?}"));
        let mut headers = Vec::new();
        loop {
            line.clear();
            self.reader.read_line(&mut line).expect("header");
            let trimmed = line.trim_end();
            if trimmed.is_empty() {
                break;
            }
            let (k, v) = trimmed.split_once(':').expect("header line");
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
        (status, version, headers)
    }

    /// One chunk of a chunked body and when it arrived; `None` at the final chunk.
    pub fn read_chunk(&mut self) -> Option<(Vec<u8>, Instant)> {
        let mut line = String::new();
        self.reader.read_line(&mut line).expect("chunk size");
        let arrived = Instant::now();
        let size = usize::from_str_radix(line.trim(), 16)
            .unwrap_or_else(|_| panic!("bad chunk size {line:?}"));
        let mut piece = vec![0; size + 2];
        self.reader.read_exact(&mut piece).expect("chunk");
        assert_eq!(&piece[size..], b"\r\n", "chunk not followed by CRLF");
        piece.truncate(size);
        (size > 0).then_some((piece, arrived))
    }
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// A streamed chat call whose response head has been read; the events follow with
/// `read_chunk`.
pub fn open_stream(addr: SocketAddr) -> Conn {
    let mut conn = Conn::open(addr);
    conn.send(
        "POST",
        "/v1/chat/completions",
        &[("Content-Type", "application/json")],
        HELLO_STREAM.as_bytes(),
    );
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
