//! The HTTP server: a listening socket, a bounded pool of worker threads taking requests from
//! tiny_http, and the one place where replies are written, whole or streamed.
//!
//! This is the only module that uses tiny_http. Whole replies go through tiny_http; streams
//! bypass its response writer, which buffers until the end: their head and chunked framing
//! are written here by hand and flushed after every event. A panic in a handler becomes a 500 and never ends a worker.
//! Each request gets one log line on stderr, without query strings (they could hold secrets).

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Instant;

use tiny_http::{HTTPVersion, Header, Response};

use crate::error::ApiError;
use crate::http::{Body, EventStream, HttpRequest};
use crate::router::route;
use crate::state::AppState;

/// A server accepting requests; dropping it does not stop it (see [`RunningServer::stop`]).
pub struct RunningServer {
    local_addr: SocketAddr,
    server: Arc<tiny_http::Server>,
    workers: Vec<JoinHandle<()>>,
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

    /// Stops taking requests and waits for the workers to finish what they hold.
    pub fn stop(self) {
        for _ in &self.workers {
            self.server.unblock();
        }
        self.wait();
    }
}

/// Binds the configured address and starts the worker pool.
pub fn start(state: Arc<AppState>) -> io::Result<RunningServer> {
    let listener = listen(state.config.listen)?;
    let local_addr = listener.local_addr()?;
    let server = tiny_http::Server::from_listener(listener, None)
        .map(Arc::new)
        .map_err(io::Error::other)?;
    let workers = (0..state.config.worker_threads.get())
        .map(|i| {
            let (server, state) = (Arc::clone(&server), Arc::clone(&state));
            thread::Builder::new()
                .name(format!("worker-{i}"))
                .spawn(move || {
                    while let Ok(request) = server.recv() {
                        serve(&state, request);
                    }
                })
        })
        .collect::<io::Result<Vec<_>>>()?;
    Ok(RunningServer {
        local_addr,
        server,
        workers,
    })
}

/// A listener whose accepted sockets inherit TCP_NODELAY (on Linux), so that each small event
/// leaves at once, with a backlog deep enough for bursts of clients.
fn listen(addr: SocketAddr) -> io::Result<TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    // On Windows SO_REUSEADDR would let a second process take the port; only set it elsewhere.
    #[cfg(unix)]
    socket.set_reuse_address(true)?;
    socket.set_tcp_nodelay(true)?;
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
    let headers = request
        .headers()
        .iter()
        .map(|h| (h.field.as_str().to_string(), h.value.as_str().to_string()))
        .collect();
    let http10 = *request.http_version() == HTTPVersion(1, 0);

    let mut req = HttpRequest {
        method,
        path,
        query,
        headers,
        body: &mut LazyBody(&mut request),
    };
    let reply = catch_unwind(AssertUnwindSafe(|| route(state, &mut req))).unwrap_or_else(|_| {
        ApiError::Internal {
            detail: "the handler panicked; see the proxy's log".into(),
        }
        .into_reply()
    });
    let HttpRequest { method, path, .. } = req;

    let status = reply.status;
    let model = reply.model.clone();
    let written = match reply.body {
        Body::Full(body) => write_full(request, status, &reply.headers, body),
        Body::Stream(stream) => write_stream(
            request.into_writer(),
            http10,
            status,
            &reply.headers,
            stream,
        ),
    };
    eprintln!(
        "{} {method} {path} {status} {} {}ms{}",
        chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.3fZ"),
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
struct LazyBody<'a>(&'a mut tiny_http::Request);

impl Read for LazyBody<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.as_reader().read(buf)
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
        if let Ok(header) = Header::from_bytes(name.as_bytes(), value.as_bytes()) {
            response.add_header(header);
        }
    }
    request.respond(response)
}

/// Writes a stream by hand: tiny_http's own writer buffers a body of unknown length until the
/// end. The head goes out at once, then each piece as it comes, flushed at once: chunked for
/// HTTP/1.1 (the connection stays usable), raw for HTTP/1.0 (the connection closes after it).
/// A failed write means the client left: the stream is then dropped, which releases its
/// upstream connection and slot.
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
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(if http10 {
        "Connection: close\r\n\r\n"
    } else {
        "Transfer-Encoding: chunked\r\n\r\n"
    });
    writer.write_all(head.as_bytes())?;
    writer.flush()?;

    let mut piece = Vec::with_capacity(4096);
    loop {
        piece.clear();
        let more = catch_unwind(AssertUnwindSafe(|| stream.next_piece(&mut piece)))
            .map_err(|_| io::Error::other("the stream panicked"))?;
        if !more {
            break;
        }
        if piece.is_empty() {
            continue;
        }
        if http10 {
            writer.write_all(&piece)?;
        } else {
            writer.write_all(format!("{:x}\r\n", piece.len()).as_bytes())?;
            writer.write_all(&piece)?;
            writer.write_all(b"\r\n")?;
        }
        writer.flush()?;
    }
    if !http10 {
        writer.write_all(b"0\r\n\r\n")?;
    }
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
