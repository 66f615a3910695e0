//! Issue 11, the front door: our own HTTP/1.1 server. Limits with numbers, strict framing,
//! `100 Continue` only for bodies that will be read, `Date` and `Server` on every reply, a
//! connection limit that still answers, an accept loop that survives fd exhaustion, clients
//! that leave costing nothing, and the `Host`/`Origin` gate. Raw sockets throughout, so every
//! byte is seen as a client sees it.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use openrouter_proxy::demo::{Script, StreamEnd as FakeStreamEnd};

use crate::common::*;

/// Sends raw bytes on a new connection and reads everything until the server closes.
fn exchange(addr: SocketAddr, bytes: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(bytes).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// How many HTTP responses a byte stream holds (status lines at the start of a line).
fn responses(text: &str) -> usize {
    text.split("\r\n")
        .filter(|line| line.starts_with("HTTP/1."))
        .count()
}

fn status_of(text: &str) -> u16 {
    text.split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

#[test]
fn framing_errors_get_one_answer_and_nothing_after_them_is_served() {
    let proxy = start(&[]);
    let smuggled = "GET /v1/models HTTP/1.1\r\nHost: localhost\r\n\r\n";
    let cases: Vec<(String, u16)> = vec![
        // Content-Length and Transfer-Encoding together.
        (
            format!(
                "POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n{smuggled}"
            ),
            400,
        ),
        // Two different lengths.
        (
            format!(
                "POST /health HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2\r\nContent-Length: 40\r\n\r\nab{smuggled}"
            ),
            400,
        ),
        (
            format!(
                "POST /health HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2, 40\r\n\r\nab{smuggled}"
            ),
            400,
        ),
        (
            format!(
                "POST /health HTTP/1.1\r\nHost: localhost\r\nContent-Length: abc\r\n\r\n{smuggled}"
            ),
            400,
        ),
        (
            format!(
                "POST /health HTTP/1.1\r\nHost: localhost\r\nContent-Length: +60\r\n\r\n{smuggled}"
            ),
            400,
        ),
        (
            format!(
                "POST /health HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: gzip\r\n\r\n{smuggled}"
            ),
            501,
        ),
        (
            format!(
                "POST /health HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked, gzip\r\n\r\n{smuggled}"
            ),
            501,
        ),
        (
            format!(
                "POST /health HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n{smuggled}"
            ),
            400,
        ),
        (format!("GET /health HTTP/1.1\r\n\r\n{smuggled}"), 400),
        (
            format!("GET /health HTTP/1.1\r\nHost: localhost\r\nHost: other\r\n\r\n{smuggled}"),
            400,
        ),
        (
            format!("GET /health HTTP/2.0\r\nHost: localhost\r\n\r\n{smuggled}"),
            505,
        ),
    ];
    for (raw, status) in cases {
        let answer = exchange(proxy.addr, raw.as_bytes());
        assert_eq!(status_of(&answer), status, "{raw:?} got {answer}");
        assert_eq!(
            responses(&answer),
            1,
            "exactly one answer to {raw:?}: {answer}"
        );
        assert!(answer.contains("Connection: close"), "{answer}");
        assert!(answer.contains("\"error\""), "{answer}");
    }
    // An HTTP/0.9 request line gets no HTTP/0.9 answer.
    let answer = exchange(proxy.addr, b"GET /health\r\n\r\n");
    assert!(!answer.contains("HTTP/0.9"), "{answer}");
    assert!(answer.is_empty() || status_of(&answer) == 400, "{answer}");
    assert!(
        proxy
            .fake
            .requests()
            .iter()
            .all(|r| !r.path.ends_with("/models") || r.method == "GET")
    );
    still_serving(&proxy);
}

#[test]
fn heads_have_numbered_limits() {
    let proxy = start(&[]);
    // 128 headers pass, 129 do not.
    let headers = |n: usize| -> String { (0..n).map(|i| format!("X-H{i}: v\r\n")).collect() };
    let ok = format!(
        "GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n{}\r\n",
        headers(120)
    );
    assert_eq!(status_of(&exchange(proxy.addr, ok.as_bytes())), 200);
    let many = format!(
        "GET /health HTTP/1.1\r\nHost: localhost\r\n{}\r\n",
        headers(200)
    );
    assert_eq!(status_of(&exchange(proxy.addr, many.as_bytes())), 431);
    // A header line that never ends stops being read at 64 KiB.
    let mut s = TcpStream::connect(proxy.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(b"GET /health HTTP/1.1\r\nHost: localhost\r\nX-Endless: ")
        .unwrap();
    let chunk = vec![b'a'; 16 * 1024];
    let mut sent = 0;
    while sent < 10 << 20 {
        if s.write_all(&chunk).is_err() {
            break;
        }
        sent += chunk.len();
    }
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    assert_eq!(status_of(&answer), 431, "{answer}");
    assert!(
        sent < 10 << 20,
        "the server kept reading a header line of {sent} bytes"
    );
    // A long URL: 414, and neither the answer nor the log line echoes it whole.
    let path = format!("/v1/{}", "p".repeat(9000));
    let r = get(proxy.addr, &path);
    let error = r.expect_error(414);
    assert!(r.body.len() < 1000, "{}", r.body.len());
    assert!(
        !error["message"]
            .as_str()
            .unwrap()
            .contains(&"p".repeat(300))
    );
    // A 404 names at most ~200 bytes of the path.
    let path = format!("/x/{}", "q".repeat(5000));
    let r = get(proxy.addr, &path);
    r.expect_error(404);
    assert!(r.body.len() < 1000, "{}", r.text());
    still_serving(&proxy);
}

#[test]
fn any_declared_length_gets_an_answer_with_memory_flat() {
    let proxy = start(&[("MAX_BODY_BYTES", "1000")]);
    let rss_before = rss_kib();
    for length in ["10000000000000", "18446744073709551615", "1001"] {
        for (method, path, ct) in [
            ("GET", "/health", ""),
            ("POST", "/v1/models", ""),
            (
                "POST",
                "/v1/chat/completions",
                "Content-Type: application/json\r\n",
            ),
            ("GET", "/nope", ""),
        ] {
            let raw = format!(
                "{method} {path} HTTP/1.1\r\nHost: localhost\r\n{ct}Content-Length: {length}\r\n\r\n"
            );
            let answer = exchange(proxy.addr, raw.as_bytes());
            let status = status_of(&answer);
            assert!((200..500).contains(&status), "{raw:?}: {answer}");
            if path == "/v1/chat/completions" {
                assert_eq!(status, 413, "{answer}");
            }
        }
    }
    // A chunked body counted past the limit: 413 too.
    let mut conn = Conn::open(proxy.addr);
    conn.send_raw(
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n",
    );
    let piece = format!("{:x}\r\n{}\r\n", 600, "x".repeat(600));
    conn.send_raw(piece.as_bytes());
    conn.send_raw(piece.as_bytes());
    assert_eq!(conn.read_response().status, 413);
    if let (Some(before), Some(after)) = (rss_before, rss_kib()) {
        assert!(
            after < before + 50 * 1024,
            "RSS grew from {before} to {after} KiB"
        );
    }
    assert!(proxy.fake.chat_requests().is_empty());
    still_serving(&proxy);
}

/// How long the server took to close `conn`, which must stay silent until then.
fn closed_after(conn: &mut Conn, what: &str) -> Duration {
    let idle = Instant::now();
    let n = conn.reader.read(&mut [0u8; 1]).unwrap_or(0);
    assert_eq!(n, 0, "{what}");
    idle.elapsed()
}

/// This process's resident memory, where the system says.
fn rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[test]
fn a_head_must_arrive_within_header_timeout_and_idle_connections_close() {
    let proxy = start(&[("HEADER_TIMEOUT", "400ms"), ("KEEPALIVE_TIMEOUT", "500ms")]);
    // Slowloris: a byte every 100 ms never completes a head within 400 ms.
    let mut s = TcpStream::connect(proxy.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let start = Instant::now();
    for byte in b"GET /health HTTP/1.1\r\nHost: localhost\r\n".iter() {
        if s.write_all(&[*byte]).is_err() {
            break;
        }
        thread::sleep(Duration::from_millis(100));
        // Stop once the server has answered: a byte sent after its close would make it reset
        // the connection, and the reset can overtake the answer.
        s.set_nonblocking(true).unwrap();
        let answered = !matches!(s.peek(&mut [0u8; 1]), Err(ref e) if e.kind() == std::io::ErrorKind::WouldBlock);
        s.set_nonblocking(false).unwrap();
        if answered || start.elapsed() > Duration::from_secs(2) {
            break;
        }
    }
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    assert_eq!(status_of(&answer), 408, "{answer}");
    assert!(answer.contains("HEADER_TIMEOUT"), "{answer}");
    // A keep-alive connection left idle is closed after KEEPALIVE_TIMEOUT.
    let mut conn = Conn::open(proxy.addr);
    conn.send("GET", "/health", &[], b"");
    assert_eq!(conn.read_response().status, 200);
    let waited = closed_after(&mut conn, "the server closed the idle connection");
    assert!(
        waited >= Duration::from_millis(400) && waited < Duration::from_secs(4),
        "{waited:?}"
    );
}

#[test]
fn a_quiet_keep_alive_connection_is_parked_then_served_or_closed_on_time() {
    // Past LINGER (1 s) a quiet connection waits without a thread; its next request is still
    // served, and it is still closed when KEEPALIVE_TIMEOUT runs out.
    let proxy = start(&[("KEEPALIVE_TIMEOUT", "2500ms"), ("MAX_CONNECTIONS", "8")]);
    let mut conn = Conn::open(proxy.addr);
    conn.send("GET", "/health", &[], b"");
    assert_eq!(conn.read_response().status, 200);
    thread::sleep(Duration::from_millis(1600));
    conn.send(
        "POST",
        "/v1/chat/completions",
        &[("Content-Type", "application/json")],
        HELLO.as_bytes(),
    );
    assert_eq!(conn.read_response().status, 200);
    let waited = closed_after(&mut conn, "the server closed the quiet connection");
    assert!(
        waited >= Duration::from_millis(2000) && waited < Duration::from_secs(6),
        "{waited:?}"
    );
    drop(conn);
    // The closed connection is gone from the server's books: with eight new quiet
    // connections open (MAX_CONNECTIONS=8), one more client closes the one that waited
    // longest, not the ghost of the connection the parker closed.
    let mut older = TcpStream::connect(proxy.addr).unwrap();
    thread::sleep(Duration::from_millis(100));
    let _newer: Vec<TcpStream> = (0..7)
        .map(|_| TcpStream::connect(proxy.addr).unwrap())
        .collect();
    thread::sleep(Duration::from_millis(200));
    assert_eq!(get(proxy.addr, "/health").status, 200);
    older
        .set_read_timeout(Some(Duration::from_secs(3)))
        .unwrap();
    assert_eq!(
        older.read(&mut [0u8; 1]).unwrap_or(1),
        0,
        "the longest-waiting live connection was closed to make room"
    );
}

#[test]
fn continue_is_sent_only_for_bodies_that_will_be_read() {
    let proxy = start(&[
        ("PROXY_API_KEY", "proxy-secret-123"),
        ("MAX_BODY_BYTES", "100000"),
    ]);
    let head = |extra: &str, length: usize| {
        format!(
            "POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nExpect: 100-continue\r\nContent-Length: {length}\r\n{extra}\r\n"
        )
    };
    // Refused before the body: the final answer at once, no 100.
    for (raw, status) in [
        (head("", HELLO.len()), 401),
        (
            head("Authorization: Bearer proxy-secret-123\r\n", 200_000),
            413,
        ),
    ] {
        let mut s = TcpStream::connect(proxy.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.write_all(raw.as_bytes()).unwrap();
        let mut answer = Vec::new();
        let _ = s.read_to_end(&mut answer);
        let answer = String::from_utf8_lossy(&answer);
        assert!(
            answer.starts_with(&format!("HTTP/1.1 {status}")),
            "{answer}"
        );
        assert!(!answer.contains("100 Continue"), "{answer}");
    }
    // Accepted: a bare 100 Continue, then the answer once the body came.
    let mut conn = Conn::open(proxy.addr);
    conn.send_raw(head("Authorization: Bearer proxy-secret-123\r\n", HELLO.len()).as_bytes());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut conn.reader, &mut line).unwrap();
    assert_eq!(line, "HTTP/1.1 100 Continue\r\n");
    line.clear();
    std::io::BufRead::read_line(&mut conn.reader, &mut line).unwrap();
    assert_eq!(line, "\r\n", "a 100 carries no headers");
    conn.send_raw(HELLO.as_bytes());
    let r = conn.read_response();
    assert_eq!(r.status, 200, "{}", r.text());
}

#[test]
fn every_reply_has_date_and_server_streams_included() {
    let proxy = start(&[]);
    let check = |r: &Response| {
        assert_eq!(r.header("Server"), Some("openrouter-proxy"));
        let date = r.header("Date").expect("a Date header");
        assert!(date.ends_with(" GMT") && date.len() == 29, "{date}");
    };
    check(&get(proxy.addr, "/health"));
    check(&get(proxy.addr, "/nope"));
    check(&post_chat(proxy.addr, HELLO));
    check(&post_chat(proxy.addr, HELLO_STREAM));
    let mut conn = Conn::open(proxy.addr);
    conn.send("HEAD", "/health", &[], b"");
    let (status, _, headers) = conn.read_head();
    assert_eq!(status, 200);
    let head = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    };
    assert_eq!(head("Server").as_deref(), Some("openrouter-proxy"));
    assert!(head("Date").is_some() && head("Content-Length").is_some());
}

#[test]
fn a_full_server_still_answers_at_once() {
    let proxy = start(&[("MAX_CONNECTIONS", "8"), ("MAX_CONCURRENT_REQUESTS", "8")]);
    // Eight idle connections: a new client closes the longest idle one and is served.
    let mut idle: Vec<TcpStream> = (0..8)
        .map(|_| TcpStream::connect(proxy.addr).unwrap())
        .collect();
    thread::sleep(Duration::from_millis(200));
    let t = Instant::now();
    assert_eq!(get(proxy.addr, "/health").status, 200);
    assert!(t.elapsed() < Duration::from_secs(2));
    idle[0]
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut byte = [0u8; 1];
    assert_eq!(
        idle[0].read(&mut byte).unwrap_or(0),
        0,
        "the oldest idle one was closed"
    );
    idle.clear();
    thread::sleep(Duration::from_millis(200));
    // Eight connections busy with calls that hang upstream: a new one gets 503 at once.
    for _ in 0..8 {
        proxy.fake.push(Script::Hang);
    }
    let busy: Vec<Conn> = (0..8).map(|_| send_chat(proxy.addr, HELLO)).collect();
    assert!(eventually(Duration::from_secs(5), || proxy.fake.active() == 8));
    let t = Instant::now();
    let r = get(proxy.addr, "/health");
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    r.expect_error(503);
    assert_eq!(r.header("Retry-After"), Some("1"));
    drop(busy);
    assert!(eventually(Duration::from_secs(5), || get(
        proxy.addr, "/health"
    )
    .status
        == 200));
}

#[test]
fn queued_clients_that_leave_are_never_sent_upstream() {
    let proxy = start(&[("MAX_CONCURRENT_REQUESTS", "1")]);
    proxy
        .fake
        .push(Script::completion("slow").with_delay(Duration::from_millis(1500)));
    let first = thread::spawn({
        let addr = proxy.addr;
        move || post_chat(addr, HELLO).status
    });
    assert!(eventually(Duration::from_secs(5), || proxy.fake.active() == 1));
    // Three clients queue behind it, then give up.
    let waiting: Vec<Conn> = (0..3).map(|_| send_chat(proxy.addr, HELLO)).collect();
    assert!(eventually(Duration::from_secs(5), || proxy
        .state
        .limiter
        .usage()
        .waiting
        == 3));
    for c in &waiting {
        let _ = c.reader.stream().shutdown(Shutdown::Both);
    }
    drop(waiting);
    assert_eq!(first.join().unwrap(), 200);
    assert!(eventually(Duration::from_secs(5), || {
        let u = proxy.state.limiter.usage();
        u.in_flight == 0 && u.waiting == 0
    }));
    thread::sleep(Duration::from_millis(200));
    assert_eq!(
        proxy.fake.chat_requests().len(),
        1,
        "only the first call went upstream"
    );
}

#[test]
fn a_stream_its_client_closes_frees_its_slot_quickly() {
    let proxy = start(&[("MAX_CONCURRENT_REQUESTS", "1")]);
    // Events two seconds apart: the client leaves after the first.
    proxy.fake.push(Script::stream_text(
        &["one", "two", "three"],
        Duration::from_secs(2),
    ));
    let mut conn = open_stream(proxy.addr);
    assert!(conn.read_chunk().is_some());
    let left = Instant::now();
    let _ = conn.reader.stream().shutdown(Shutdown::Both);
    drop(conn);
    assert!(eventually(Duration::from_secs(5), || proxy
        .state
        .limiter
        .usage()
        .in_flight
        == 0));
    let freed = left.elapsed();
    assert!(
        freed < Duration::from_millis(1500),
        "the slot came back after {freed:?}"
    );
    assert!(eventually(Duration::from_secs(5), || proxy
        .fake
        .aborted_streams()
        == 1
        || proxy.fake.active() == 0));
}

#[test]
fn a_client_that_leaves_before_the_answer_begins_costs_one_call_and_no_blame() {
    let proxy = start(&[]);
    // OpenRouter's keep-alive comments only: the answer has not begun when the client leaves.
    proxy.fake.push(Script::Stream {
        events: vec![": OPENROUTER PROCESSING\n\n".to_string(); 50],
        gap: Duration::from_millis(100),
        end: FakeStreamEnd::Stall,
    });
    let conn = send_chat(proxy.addr, HELLO_STREAM);
    assert!(eventually(Duration::from_secs(5), || proxy.fake.active() == 1));
    thread::sleep(Duration::from_millis(300));
    let _ = conn.reader.stream().shutdown(Shutdown::Both);
    drop(conn);
    assert!(eventually(Duration::from_secs(5), || proxy
        .state
        .limiter
        .usage()
        .in_flight
        == 0));
    thread::sleep(Duration::from_millis(300));
    let calls = proxy.fake.chat_requests();
    assert_eq!(calls.len(), 1, "no retry for a client that left");
    let sent: serde_json::Value = serde_json::from_slice(&calls[0].body).unwrap();
    let model = sent["model"].as_str().unwrap();
    assert_eq!(
        proxy.state.health.get(model).attempts,
        0,
        "the model is not blamed for a client that left"
    );
}

#[test]
fn the_host_header_must_name_this_proxy() {
    let proxy = start(&[]);
    for path in [
        "/v1/models",
        "/health",
        "/debug/stats",
        "/debug/capture/x.json",
    ] {
        let r = request(
            proxy.addr,
            "GET",
            path,
            &[("Host", "attacker.example")],
            b"",
        );
        let error = r.expect_error(403);
        assert!(
            error["message"].as_str().unwrap().contains("ALLOWED_HOSTS"),
            "{error}"
        );
    }
    let r = request(
        proxy.addr,
        "POST",
        "/v1/chat/completions",
        &[
            ("Host", "attacker.example:5000"),
            ("Content-Type", "application/json"),
        ],
        HELLO.as_bytes(),
    );
    r.expect_error(403);
    assert!(
        proxy.fake.chat_requests().is_empty(),
        "a rebinding page spent quota"
    );
    for host in ["localhost:5000", "127.0.0.1", "[::1]:5000"] {
        assert_eq!(
            request(proxy.addr, "GET", "/health", &[("Host", host)], b"").status,
            200
        );
    }
    let listed = start(&[("ALLOWED_HOSTS", "proxy.lan")]);
    let r = request(
        listed.addr,
        "GET",
        "/health",
        &[("Host", "proxy.lan:5000")],
        b"",
    );
    assert_eq!(r.status, 200);
    let open = start(&[("ALLOWED_HOSTS", "*")]);
    let r = request(
        open.addr,
        "GET",
        "/health",
        &[("Host", "anything.example")],
        b"",
    );
    assert_eq!(r.status, 200);
}

#[test]
fn pages_of_other_origins_are_refused_unless_listed() {
    let proxy = start(&[("CORS_ORIGINS", "https://app.example")]);
    let chat = |origin: &str| {
        request(
            proxy.addr,
            "POST",
            "/v1/chat/completions",
            &[("Origin", origin), ("Content-Type", "application/json")],
            HELLO.as_bytes(),
        )
    };
    let r = chat("https://evil.example");
    let error = r.expect_error(403);
    assert!(error["message"].as_str().unwrap().contains("CORS_ORIGINS"));
    assert!(proxy.fake.chat_requests().is_empty());
    // The panel's own requests (same origin) pass.
    let r = request(
        proxy.addr,
        "GET",
        "/health",
        &[("Origin", "http://localhost")],
        b"",
    );
    assert_eq!(r.status, 200);
    // A listed origin: preflight, then answers (streams too) carry the CORS header.
    let r = request(
        proxy.addr,
        "OPTIONS",
        "/v1/chat/completions",
        &[
            ("Origin", "https://app.example"),
            ("Access-Control-Request-Method", "POST"),
            (
                "Access-Control-Request-Headers",
                "authorization, content-type",
            ),
        ],
        b"",
    );
    assert_eq!(r.status, 204);
    assert_eq!(
        r.header("Access-Control-Allow-Origin"),
        Some("https://app.example")
    );
    let headers = r.header("Access-Control-Allow-Headers").unwrap();
    assert!(headers.contains("authorization") && headers.contains("content-type"));
    assert!(
        r.header("Access-Control-Allow-Methods")
            .unwrap()
            .contains("POST")
    );
    assert!(r.header("Access-Control-Max-Age").is_some());
    let r = chat("https://app.example");
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("Access-Control-Allow-Origin"),
        Some("https://app.example")
    );
    let r = request(
        proxy.addr,
        "POST",
        "/v1/chat/completions",
        &[
            ("Origin", "https://app.example"),
            ("Content-Type", "application/json"),
        ],
        HELLO_STREAM.as_bytes(),
    );
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("Access-Control-Allow-Origin"),
        Some("https://app.example")
    );
    assert!(r.text().ends_with("data: [DONE]\n\n"));
    let r = request(
        proxy.addr,
        "OPTIONS",
        "/v1/chat/completions",
        &[
            ("Origin", "https://evil.example"),
            ("Access-Control-Request-Method", "POST"),
        ],
        b"",
    );
    r.expect_error(403);
}

/// `/health` and a chat answer at once.
fn still_serving(proxy: &TestProxy) {
    let t = Instant::now();
    assert_eq!(get(proxy.addr, "/health").status, 200);
    assert_eq!(post_chat(proxy.addr, HELLO).status, 200);
    assert!(
        t.elapsed() < Duration::from_secs(3),
        "slow: {:?}",
        t.elapsed()
    );
}
