//! The HTTP server: a listening socket, a bounded pool of worker threads taking requests from
//! tiny_http, and the one place where replies are written, whole or streamed.
//!
//! This is the only module that uses tiny_http. Whole replies go through tiny_http; streams
//! bypass its response writer, which buffers until the end: their head and chunked framing
//! are written here by hand and flushed after every event. A panic in a handler becomes a 500 and never ends a worker.
//! Each request gets one log line on stderr, without query strings (they could hold secrets).

use std::borrow::Cow;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use tiny_http::{HTTPVersion, Header, Response};

use crate::api::error::ApiError;
use crate::api::message::{Body, EventStream, HttpRequest};
use crate::app::state::AppState;
use crate::http::router::{reads_body, route};

/// How often the connection pool is poked while busy, and when idle (see
/// `poke_connection_pool`); busy means a request arrived within `BUSY_FOR`.
const POKE_EVERY: Duration = Duration::from_millis(20);
const IDLE_POKE_EVERY: Duration = Duration::from_secs(1);
const BUSY_FOR: Duration = Duration::from_secs(2);

/// A server accepting requests; dropping it does not stop it (see [`RunningServer::stop`]).
pub struct RunningServer {
    local_addr: SocketAddr,
    server: Arc<tiny_http::Server>,
    workers: Vec<JoinHandle<()>>,
    /// Tells the poker thread to stop.
    stopping: Arc<AtomicBool>,
}

impl RunningServer {
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Blocks until every worker has ended.
    pub fn wait(self) {
        for w in self.workers {
            let _ = w.join();
        }
    }

    /// Stops taking requests and waits, at most `grace`, for the workers to finish what they
    /// hold. Returns whether they all did.
    pub fn stop(self, grace: Duration) -> bool {
        self.stopping.store(true, Ordering::Relaxed);
        for _ in &self.workers {
            self.server.unblock();
        }
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if self.workers.iter().all(JoinHandle::is_finished) {
                return true;
            }
            thread::sleep(Duration::from_millis(20));
        }
        self.workers.iter().all(JoinHandle::is_finished)
    }
}

/// Binds the configured address and starts the worker pool.
pub fn start(state: Arc<AppState>) -> io::Result<RunningServer> {
    let config = state.config();
    let listener = listen(config.listen, config.idle_timeout)?;
    let local_addr = listener.local_addr()?;
    let server = tiny_http::Server::from_listener(listener, None)
        .map(Arc::new)
        .map_err(io::Error::other)?;
    let started = Instant::now();
    // When the last request arrived, in milliseconds since `started`: the poker's pace.
    let last_request = Arc::new(AtomicU64::new(0));
    let workers = (0..config.worker_threads.get())
        .map(|i| {
            let (server, state) = (Arc::clone(&server), Arc::clone(&state));
            let last_request = Arc::clone(&last_request);
            thread::Builder::new()
                .name(format!("worker-{i}"))
                .spawn(move || {
                    while let Ok(request) = server.recv() {
                        last_request.store(started.elapsed().as_millis() as u64, Ordering::Relaxed);
                        serve(&state, request);
                    }
                })
        })
        .collect::<io::Result<Vec<_>>>()?;
    let stopping = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&stopping);
    thread::Builder::new()
        .name("pool-poke".into())
        .spawn(move || poke_connection_pool(local_addr, &flag, started, &last_request))?;
    Ok(RunningServer {
        local_addr,
        server,
        workers,
        stopping,
    })
}

/// tiny_http 0.12 hands each new connection to a thread pool that can leave it queued behind
/// connections that stay open (a race between a woken idle thread and the next accept), and a
/// queued connection is only picked up when some thread finishes its connection. A connection
/// that opens and closes at once finishes at once: making one frees a thread that then picks
/// up whatever was left queued. Pokes come every 20 ms while requests arrive (bursts happen
/// then) and every second when the proxy is idle, so that idle pool threads still time out and
/// end (each poke wakes one of them).
fn poke_connection_pool(
    addr: SocketAddr,
    stopping: &AtomicBool,
    started: Instant,
    last_request: &AtomicU64,
) {
    let target = match addr.ip() {
        ip if ip.is_unspecified() && ip.is_ipv4() => {
            SocketAddr::from(([127, 0, 0, 1], addr.port()))
        }
        ip if ip.is_unspecified() => SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, addr.port())),
        _ => addr,
    };
    let mut idle_for = Duration::ZERO;
    while !stopping.load(Ordering::Relaxed) {
        thread::sleep(POKE_EVERY);
        let since = started.elapsed().as_millis() as u64 - last_request.load(Ordering::Relaxed);
        idle_for += POKE_EVERY;
        if since < BUSY_FOR.as_millis() as u64 || idle_for >= IDLE_POKE_EVERY {
            idle_for = Duration::ZERO;
            let _ = std::net::TcpStream::connect_timeout(&target, Duration::from_secs(1));
        }
    }
}

/// A listener whose accepted sockets inherit TCP_NODELAY (on Linux), so that each small event
/// leaves at once, and a send timeout, with a backlog deep enough for bursts of clients.
fn listen(addr: SocketAddr, send_timeout: Duration) -> io::Result<TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    // On Windows SO_REUSEADDR would let a second process take the port; only set it elsewhere.
    #[cfg(unix)]
    socket.set_reuse_address(true)?;
    socket.set_tcp_nodelay(true)?;
    // A client that stops reading must not hold a stream (and its upstream slot) forever.
    // Accepted sockets inherit this on Linux. Never set a receive timeout here: accept() would
    // time out and end tiny_http's accept thread.
    socket.set_write_timeout(Some(send_timeout))?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    Ok(socket.into())
}

/// Answers one request: convert, route (catching panics), write, log.
fn serve(state: &AppState, mut request: tiny_http::Request) {
    let start = Instant::now();
    let method = request.method().as_str().to_string();
    let (path, query) = request.url().split_once('?').unwrap_or((request.url(), ""));
    let (path, query) = (path.to_string(), query.to_string());
    let headers: Vec<(String, String)> = request
        .headers()
        .iter()
        .map(|h| (h.field.as_str().to_string(), h.value.as_str().to_string()))
        .collect();
    let http10 = *request.http_version() == HTTPVersion(1, 0);

    // Bodies of up to 1 KiB are read by tiny_http before the request arrives; larger or
    // chunked ones are read (or waited for) when the request is dropped unread.
    let unread_risk = match request.body_length() {
        Some(n) => n > 1024,
        None => headers_have(&headers, "Transfer-Encoding"),
    };
    // Such a body may never arrive, and a read cannot be interrupted: a route that reads it
    // gets it read on a thread of its own, and the worker waits for it only so long.
    let config = state.config();
    let limit = config.max_body_bytes;
    let fits = request.body_length().is_none_or(|n| n as u64 <= limit);
    let mut prefetched = None;
    if unread_risk && fits && reads_body(&method, &path) {
        match prefetch(request, limit, config.body_timeout) {
            Ok((back, body)) => {
                request = back;
                prefetched = Some(body);
            }
            Err(()) => {
                log::info!(
                    "{method} {path} 408 - {}ms (the body did not arrive within {} s)",
                    start.elapsed().as_millis(),
                    config.body_timeout.as_secs_f64()
                );
                return;
            }
        }
    }
    let mut lazy = LazyBody {
        request: &mut request,
        finished: false,
    };
    let mut early = prefetched.map(|result| EarlyBody::new(result, limit));
    let finished_early = early.as_ref().is_some_and(|e| e.complete);
    let body: &mut dyn Read = match early.as_mut() {
        Some(early) => early,
        None => &mut lazy,
    };
    let mut req = HttpRequest {
        method,
        path,
        query,
        headers,
        body,
    };
    let reply = catch_unwind(AssertUnwindSafe(|| route(state, &mut req))).unwrap_or_else(|_| {
        ApiError::Internal {
            detail: "the handler panicked; see the proxy's log".into(),
        }
        .into_reply()
    });
    let HttpRequest { method, path, .. } = req;
    let unread = unread_risk && !lazy.finished && !finished_early;

    let status = reply.status;
    let model = reply.model.clone();
    let headers = reply.headers;
    let written = match reply.body {
        Body::Full(body) if unread => {
            // Dropping this request makes tiny_http read the rest of its body, which a client
            // may never send: let a thread of its own wait for that, not a worker.
            let _ = thread::Builder::new()
                .name("unread-body".into())
                .spawn(move || guarded(|| write_full(request, status, &headers, body)));
            Ok(())
        }
        Body::Full(body) => guarded(|| write_full(request, status, &headers, body)),
        Body::Stream(stream) => {
            guarded(|| write_stream(request.into_writer(), http10, status, &headers, stream))
        }
    };
    log::info!(
        "{method} {path} {status} {} {}ms{}",
        model.as_deref().unwrap_or("-"),
        start.elapsed().as_millis(),
        if written.is_err() {
            " (client went away)"
        } else {
            ""
        },
    );
}

/// A request body the handler may never read. Reading goes through tiny_http's `as_reader`
/// only on first use, so `Expect: 100-continue` is answered only for bodies the proxy wants.
struct LazyBody<'a> {
    request: &'a mut tiny_http::Request,
    /// The body was read to its end.
    finished: bool,
}

impl Read for LazyBody<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.request.as_reader().read(buf)?;
        if n == 0 && !buf.is_empty() {
            self.finished = true;
        }
        Ok(n)
    }
}

/// A body read ahead of the handler: its bytes, or the error that ended the read.
struct EarlyBody {
    bytes: io::Cursor<Vec<u8>>,
    error: Option<io::Error>,
    /// The whole body was read (it was within the limit).
    complete: bool,
}

impl EarlyBody {
    fn new(result: io::Result<Vec<u8>>, limit: u64) -> EarlyBody {
        match result {
            Ok(bytes) => EarlyBody {
                complete: bytes.len() as u64 <= limit,
                bytes: io::Cursor::new(bytes),
                error: None,
            },
            Err(e) => EarlyBody {
                bytes: io::Cursor::new(Vec::new()),
                error: Some(e),
                complete: false,
            },
        }
    }
}

impl Read for EarlyBody {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.error.take() {
            Some(e) => Err(e),
            None => self.bytes.read(buf),
        }
    }
}

/// Reads up to `limit + 1` bytes of the body on a thread of its own. Gives the request back
/// with them, or `Err` when they did not come within `timeout`: the thread then answers 408
/// itself once the read ends (the client sends the rest, or goes away).
fn prefetch(
    request: tiny_http::Request,
    limit: u64,
    timeout: Duration,
) -> Result<(tiny_http::Request, io::Result<Vec<u8>>), ()> {
    let (tx, rx) = std::sync::mpsc::channel();
    let spawned = thread::Builder::new()
        .name("body-reader".into())
        .spawn(move || {
            let mut request = request;
            let mut bytes = Vec::new();
            let result = request
                .as_reader()
                .take(limit.saturating_add(1))
                .read_to_end(&mut bytes)
                .map(|_| bytes);
            if let Err(std::sync::mpsc::SendError((late, _))) = tx.send((request, result)) {
                let error = ApiError::BodyTimeout { after: timeout };
                let reply = error.into_reply();
                let _ = guarded(|| {
                    write_full(late, reply.status, &reply.headers, reply_body(reply.body))
                });
            }
        });
    if spawned.is_err() {
        return Err(());
    }
    rx.recv_timeout(timeout).map_err(|_| ())
}

fn reply_body(body: Body) -> Vec<u8> {
    match body {
        Body::Full(bytes) => bytes,
        Body::Stream(_) => Vec::new(),
    }
}

fn headers_have(headers: &[(String, String)], name: &str) -> bool {
    headers.iter().any(|(k, _)| k.eq_ignore_ascii_case(name))
}

/// Runs a write that consumes the request, turning a panic into an error: tiny_http can panic
/// while dropping a request with an absurd declared length, and a worker must survive it.
fn guarded(write: impl FnOnce() -> io::Result<()>) -> io::Result<()> {
    catch_unwind(AssertUnwindSafe(write))
        .unwrap_or_else(|_| Err(io::Error::other("panicked while answering")))
}

/// A header value as it may go on the wire: visible ASCII and spaces only, so that text from
/// upstream (a model name) can never split a header or break the response.
fn header_value(value: &str) -> Cow<'_, str> {
    if value
        .bytes()
        .all(|b| b == b'\t' || (0x20..0x7f).contains(&b))
    {
        Cow::Borrowed(value)
    } else {
        Cow::Owned(
            value
                .chars()
                .filter(|c| *c == '\t' || (' '..='~').contains(c))
                .collect(),
        )
    }
}

/// A whole reply goes through tiny_http, which writes it before draining any unread request
/// body (`into_writer` would drain first, and a client that never sends its body would then
/// never get its answer).
fn write_full(
    request: tiny_http::Request,
    status: u16,
    headers: &[(String, String)],
    body: Vec<u8>,
) -> io::Result<()> {
    let mut response = Response::from_data(body).with_status_code(status);
    let server = ("Server", "openrouter-proxy");
    for (name, value) in headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .chain([server])
    {
        if let Ok(header) = Header::from_bytes(name.as_bytes(), header_value(value).as_bytes()) {
            response.add_header(header);
        }
    }
    request.respond(response)
}

/// Writes a stream by hand: tiny_http's own writer buffers a body of unknown length until the
/// end. The head goes out at once, then each piece as it comes, flushed at once, in chunked
/// framing (the connection stays usable). A failed write means the client left: the stream is
/// then dropped, which releases its upstream connection and slot. HTTP/1.0 has no chunked
/// framing, and tiny_http may keep a 1.0 keep-alive connection open, so a 1.0 client gets the
/// whole stream at the end with its length.
fn write_stream(
    mut writer: Box<dyn Write + Send>,
    http10: bool,
    status: u16,
    headers: &[(String, String)],
    mut stream: Box<dyn EventStream>,
) -> io::Result<()> {
    let mut head = format!(
        "HTTP/1.{} {status} {}\r\nServer: openrouter-proxy\r\n",
        if http10 { 0 } else { 1 },
        reason_phrase(status),
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {}\r\n", header_value(value)));
    }
    let mut piece = Vec::with_capacity(4096);
    if http10 {
        while stream.next_piece(&mut piece) {}
        head.push_str(&format!("Content-Length: {}\r\n\r\n", piece.len()));
        writer.write_all(head.as_bytes())?;
        writer.write_all(&piece)?;
        writer.flush()?;
        drop(writer);
        stream.finish();
        return Ok(());
    }
    head.push_str("Transfer-Encoding: chunked\r\n\r\n");
    writer.write_all(head.as_bytes())?;
    writer.flush()?;
    loop {
        piece.clear();
        if !stream.next_piece(&mut piece) {
            break;
        }
        if piece.is_empty() {
            continue;
        }
        writer.write_all(format!("{:x}\r\n", piece.len()).as_bytes())?;
        writer.write_all(&piece)?;
        writer.write_all(b"\r\n")?;
        writer.flush()?;
    }
    writer.write_all(b"0\r\n\r\n")?;
    writer.flush()?;
    drop(writer);
    stream.finish();
    Ok(())
}

fn reason_phrase(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        402 => "Payment Required",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        413 => "Payload Too Large",
        415 => "Unsupported Media Type",
        408 => "Request Timeout",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "",
    }
}
