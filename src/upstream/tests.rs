//! Tests of the upstream client and its transport against servers scripted on loopback.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use super::client::{Upstream, UpstreamError, UpstreamResponse, is_client_gone};
use crate::api::client_watch::{self, ClientLink, POLL_EVERY};
use crate::config::RawSettings;

/// An `Upstream` aimed at a loopback server, with the given settings on top.
fn upstream_at(addr: SocketAddr, settings: &[(&str, &str)]) -> Upstream {
    let base = format!("http://{addr}/api/v1");
    let mut pairs = vec![("OPENROUTER_BASE_URL", base.as_str())];
    pairs.extend_from_slice(settings);
    let config = RawSettings::from_pairs(pairs).validate().unwrap();
    Upstream::new(&config).unwrap()
}

/// Reads one request (head and `Content-Length` body); `None` once the client closed.
fn read_request(reader: &mut BufReader<TcpStream>) -> Option<Vec<u8>> {
    let mut head = Vec::new();
    let mut length = 0;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            length = value.trim().parse().unwrap();
        }
        head.extend_from_slice(line.as_bytes());
        if line == "\r\n" {
            break;
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    head.extend_from_slice(&body);
    Some(head)
}

const ANSWER: &str =
    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{\"ok\":true}";
const CHAT_BODY: &[u8] = br#"{"model":"a/b:free","messages":[{"role":"user","content":"Say hello in one short sentence, please."}]}"#;

/// A keep-alive server answering every request on every connection with [`ANSWER`].
fn keep_alive_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            thread::spawn(move || {
                let mut writer = stream.try_clone().unwrap();
                let mut reader = BufReader::new(stream);
                while read_request(&mut reader).is_some() {
                    if writer.write_all(ANSWER.as_bytes()).is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}

/// A measurement rather than a test: run it under `strace -f -ff` to count the system calls of
/// the upstream leg (the test thread) per request.
#[test]
#[ignore = "a measurement, run by hand under strace"]
fn a_thousand_keep_alive_requests() {
    let upstream = upstream_at(keep_alive_server(), &[]);
    let started = std::time::Instant::now();
    for _ in 0..1000 {
        let response = upstream
            .post("/chat/completions", "sk-test", CHAT_BODY, false, &[])
            .unwrap();
        assert_eq!(response.status, 200);
        response.body.read_all(1 << 20).unwrap();
    }
    eprintln!("1000 requests in {:?}", started.elapsed());
}

/// A client that leaves when the test says so.
#[derive(Default)]
struct FakeClient(AtomicBool);

impl ClientLink for FakeClient {
    fn gone(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

impl FakeClient {
    fn leave_after(self: &Arc<Self>, delay: Duration) {
        let client = self.clone();
        thread::spawn(move || {
            thread::sleep(delay);
            client.0.store(true, Ordering::SeqCst);
        });
    }
}

/// When the client leaves, how long a wait may take to notice: two polls, and slack for a busy
/// machine. Far below the 30 s the waits would otherwise last.
const NOTICE: Duration = Duration::from_secs(2);
const LEAVES_AFTER: Duration = Duration::from_millis(300);

/// Settings for tests in which only the client's leaving can end the wait.
const PATIENT: &[(&str, &str)] = &[
    ("UPSTREAM_RESPONSE_TIMEOUT", "30"),
    ("UPSTREAM_IDLE_TIMEOUT", "30"),
];

/// A server that takes one connection, reads one request, sends `answer`, then stalls. It
/// reports on `closed` when the connection it stalls on is closed by the proxy.
fn stalling_server(answer: &'static str) -> (SocketAddr, mpsc::Receiver<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (closed, closed_seen) = mpsc::channel();
    thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut writer = stream.try_clone().unwrap();
        let mut reader = BufReader::new(stream);
        read_request(&mut reader).unwrap();
        writer.write_all(answer.as_bytes()).unwrap();
        // Nothing more is sent; the read ends when the proxy closes the connection.
        let _ = reader.read(&mut [0; 1]);
        let _ = closed.send(());
    });
    (addr, closed_seen)
}

fn expect_error(result: Result<UpstreamResponse, UpstreamError>) -> UpstreamError {
    match result {
        Ok(response) => panic!("an answer, status {}", response.status),
        Err(e) => e,
    }
}

#[test]
fn a_client_leaving_ends_the_wait_for_response_headers() {
    let (addr, closed) = stalling_server("");
    let upstream = upstream_at(addr, PATIENT);
    let client = Arc::new(FakeClient::default());
    client.leave_after(LEAVES_AFTER);
    let started = Instant::now();
    let result = client_watch::serving(client, || {
        upstream.post("/chat/completions", "sk-test", CHAT_BODY, false, &[])
    });
    let took = started.elapsed();
    let error = expect_error(result);
    assert!(matches!(error, UpstreamError::ClientGone), "{error:?}");
    noticed_in_time(took, &closed);
}

/// The wait ended after the client left, within the time its polling allows, and the
/// upstream connection was closed for it.
fn noticed_in_time(took: Duration, closed: &mpsc::Receiver<()>) {
    assert!(
        took >= LEAVES_AFTER,
        "ended before the client left: {took:?}"
    );
    assert!(
        took < NOTICE,
        "noticed after {took:?} (polls every {POLL_EVERY:?})"
    );
    closed
        .recv_timeout(NOTICE)
        .expect("the upstream connection stays open after the client left");
}

#[test]
fn a_client_leaving_ends_a_stalled_stream() {
    let (addr, closed) = stalling_server(
        "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n\
         13\r\ndata: {\"id\":\"x1\"}\n\n\r\n",
    );
    let upstream = upstream_at(addr, PATIENT);
    let client = Arc::new(FakeClient::default());
    let (error, took) = client_watch::serving(client.clone(), || {
        let mut response = upstream
            .post("/chat/completions", "sk-test", CHAT_BODY, true, &[])
            .unwrap();
        let mut buf = [0; 1024];
        let n = response.body.read(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"data: {\"id\":\"x1\"}\n\n");
        client.leave_after(LEAVES_AFTER);
        let started = Instant::now();
        let error = response.body.read(&mut buf).unwrap_err();
        (error, started.elapsed())
    });
    assert!(is_client_gone(&error), "{error:?}");
    assert_ne!(error.kind(), io::ErrorKind::TimedOut);
    noticed_in_time(took, &closed);
}

#[test]
fn without_a_watched_client_a_stall_ends_with_the_configured_timeout() {
    let (addr, _closed) = stalling_server("");
    let upstream = upstream_at(addr, &[("UPSTREAM_RESPONSE_TIMEOUT", "400ms")]);
    let started = Instant::now();
    let error = expect_error(upstream.post("/chat/completions", "sk-test", CHAT_BODY, false, &[]));
    let took = started.elapsed();
    assert!(
        matches!(
            error,
            UpstreamError::Timeout {
                phase: "waiting for the response headers",
                ..
            }
        ),
        "{error:?}"
    );
    assert!(took >= Duration::from_millis(400), "{took:?}");
    assert!(took < NOTICE, "{took:?}");
}

#[test]
fn a_watched_client_that_stays_still_sees_the_real_timeouts() {
    let (addr, _closed) = stalling_server("");
    let upstream = upstream_at(addr, &[("UPSTREAM_RESPONSE_TIMEOUT", "450ms")]);
    let client = Arc::new(FakeClient::default());
    let started = Instant::now();
    let result = client_watch::serving(client.clone(), || {
        upstream.post("/chat/completions", "sk-test", CHAT_BODY, false, &[])
    });
    let took = started.elapsed();
    let error = expect_error(result);
    assert!(matches!(error, UpstreamError::Timeout { .. }), "{error:?}");
    assert!(took >= Duration::from_millis(450), "{took:?}");
    assert!(took < NOTICE, "{took:?}");

    let (addr, _closed) = stalling_server(
        "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n\
         13\r\ndata: {\"id\":\"x1\"}\n\n\r\n",
    );
    let upstream = upstream_at(addr, &[("UPSTREAM_IDLE_TIMEOUT", "350ms")]);
    let (error, took) = client_watch::serving(client, || {
        let mut response = upstream
            .post("/chat/completions", "sk-test", CHAT_BODY, true, &[])
            .unwrap();
        let mut buf = [0; 1024];
        let n = response.body.read(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"data: {\"id\":\"x1\"}\n\n");
        let started = Instant::now();
        (response.body.read(&mut buf).unwrap_err(), started.elapsed())
    });
    assert_eq!(error.kind(), io::ErrorKind::TimedOut, "{error:?}");
    assert!(!is_client_gone(&error));
    assert!(took >= Duration::from_millis(350), "{took:?}");
    assert!(took < NOTICE, "{took:?}");
}

/// A server answering one request per connection and keeping the connection open, with
/// `after_answer` run on it: it records which connection served each request.
fn one_answer_per_connection(
    after_answer: fn(&mut TcpStream),
) -> (SocketAddr, mpsc::Receiver<usize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (served, served_on) = mpsc::channel();
    thread::spawn(move || {
        for (number, stream) in listener.incoming().flatten().enumerate() {
            let served = served.clone();
            thread::spawn(move || {
                let mut writer = stream.try_clone().unwrap();
                let mut reader = BufReader::new(stream);
                while read_request(&mut reader).is_some() {
                    let _ = served.send(number);
                    writer.write_all(ANSWER.as_bytes()).unwrap();
                    after_answer(&mut writer);
                }
            });
        }
    });
    (addr, served_on)
}

fn ask(upstream: &Upstream) {
    let response = upstream
        .post("/chat/completions", "sk-test", CHAT_BODY, false, &[])
        .unwrap();
    assert_eq!(response.status, 200);
    assert_eq!(response.body.read_all(1024).unwrap(), b"{\"ok\":true}");
}

#[test]
fn a_pooled_connection_the_server_closed_is_not_reused() {
    let (addr, served_on) = one_answer_per_connection(|stream| {
        // Give the client time to read the answer and pool the connection, then close it.
        thread::sleep(Duration::from_millis(100));
        stream.shutdown(std::net::Shutdown::Both).unwrap();
    });
    let upstream = upstream_at(addr, &[]);
    ask(&upstream);
    thread::sleep(Duration::from_millis(300));
    ask(&upstream);
    let connections: Vec<usize> = served_on.try_iter().collect();
    assert_eq!(connections, [0, 1]);
}

#[test]
fn a_pooled_connection_with_bytes_nobody_asked_for_is_not_reused() {
    let (addr, served_on) = one_answer_per_connection(|stream| {
        // A stray answer: reused, the connection would hand it to the next request.
        thread::sleep(Duration::from_millis(100));
        stream.write_all(ANSWER.as_bytes()).unwrap();
    });
    let upstream = upstream_at(addr, &[]);
    ask(&upstream);
    thread::sleep(Duration::from_millis(300));
    ask(&upstream);
    let connections: Vec<usize> = served_on.try_iter().collect();
    assert_eq!(connections, [0, 1]);
}

#[test]
fn an_open_pooled_connection_is_reused() {
    let (addr, served_on) = one_answer_per_connection(|_| {});
    let upstream = upstream_at(addr, &[]);
    ask(&upstream);
    ask(&upstream);
    ask(&upstream);
    let connections: Vec<usize> = served_on.try_iter().collect();
    assert_eq!(connections, [0, 0, 0]);
}

#[test]
fn a_held_back_request_arrives_whole_and_in_order() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        // Give a second write, if there were one, every chance to arrive, then read once.
        thread::sleep(Duration::from_millis(50));
        let mut buf = vec![0; 64 * 1024];
        let n = stream.read(&mut buf).unwrap();
        stream.write_all(ANSWER.as_bytes()).unwrap();
        buf.truncate(n);
        buf
    });
    ask(&upstream_at(addr, &[]));
    let request = server.join().unwrap();
    assert!(request.starts_with(b"POST /api/v1/chat/completions HTTP/1.1\r\n"));
    assert!(
        request.ends_with(CHAT_BODY),
        "{}",
        String::from_utf8_lossy(&request)
    );
}

#[test]
fn a_socks_proxy_is_refused_not_bypassed() {
    let (addr, served_on) = one_answer_per_connection(|_| {});
    let socks = TcpListener::bind("127.0.0.1:0").unwrap();
    let proxy = format!("socks5://user:secret@{}", socks.local_addr().unwrap());
    // The settings refuse a SOCKS proxy at start; the transport refuses it too, should a
    // configuration ever carry one.
    let base = format!("http://{addr}/api/v1");
    let pairs = [
        ("OPENROUTER_BASE_URL", base.as_str()),
        ("HTTP_PROXY", proxy.as_str()),
    ];
    let refused = RawSettings::from_pairs(pairs).validate().unwrap_err();
    assert!(refused.reason.contains("SOCKS"), "{refused:?}");
    let mut config = RawSettings::from_pairs(pairs[..1].to_vec())
        .validate()
        .unwrap();
    config.http_proxy = Some(proxy.clone());
    let upstream = Upstream::new(&config).unwrap();
    let error = expect_error(upstream.post("/chat/completions", "sk-test", CHAT_BODY, false, &[]));
    match error {
        UpstreamError::Unreachable(detail) => {
            assert!(detail.contains("SOCKS"), "{detail}");
            assert!(!detail.contains("secret"), "{detail}");
        }
        other => panic!("{other:?}"),
    }
    assert!(
        served_on.try_iter().next().is_none(),
        "the call bypassed HTTP_PROXY"
    );
}
