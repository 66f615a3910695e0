//! One client connection, served on its own thread from its first request to its close:
//! read a head (bounded in size and time), refuse bad framing, let the router answer, write
//! the reply, and go on with the next request (keep-alive, pipelining) or close.
//!
//! The thread that reads a request calls the handler and writes the reply: nothing is handed
//! to another thread. While it serves a request the connection is named as this thread's
//! client (`api::client_watch`), so upstream waits notice a client that left.

use std::net::{SocketAddr, TcpStream};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::Shared;
use super::body::BodyReader;
use super::conn_io::ConnIo;
use super::framing::{self, MAX_TARGET_BYTES, Refusal};
use super::protocol::{Head, Parsed, ProtocolError, parse_head};
use super::write::{Framing, write_full, write_stream};
use crate::api::client_watch::{ClientLink, serving};
use crate::api::error::ApiError;
use crate::api::error_shape::ErrorShape;
use crate::api::message::{Body, HttpRequest, Reply};
use crate::http::router::route;
use crate::util::net::{Peek, peek};
use crate::util::sync::lock;
use crate::util::text::clip;

/// The most a request line and its headers may take.
pub(crate) const MAX_HEAD_BYTES: usize = 64 * 1024;

/// The client end of a connection, for `client_watch`.
struct Link(Arc<TcpStream>);

impl ClientLink for Link {
    fn gone(&self) -> bool {
        peek(&self.0) == Peek::Closed
    }
}

/// What reading a head gave.
enum Next {
    Request(Box<Parsed>),
    /// The connection ended between requests (closed, or idle too long): close quietly.
    Close,
    /// A head that cannot be served: answer and close.
    Refuse(Refusal, Option<Head>),
}

/// Serves every request of one connection, then closes it.
pub(crate) fn serve(shared: &Shared, stream: TcpStream, peer: SocketAddr) {
    let _ = stream.set_nodelay(true);
    let stream = Arc::new(stream);
    let mut io = ConnIo::new(Arc::clone(&stream));
    let link: Arc<dyn ClientLink> = Arc::new(Link(Arc::clone(&stream)));
    let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
    let mut first = true;
    // The send timeout as last set: a system call only when a reload changed it.
    let mut write_timeout = None;
    loop {
        let config = shared.state.config();
        if write_timeout != Some(config.idle_timeout) {
            match stream.set_write_timeout(Some(config.idle_timeout)) {
                Ok(()) => write_timeout = Some(config.idle_timeout),
                Err(e) => log::debug!("cannot set a send timeout: {e}"),
            }
        }
        let idle = if first {
            config.header_timeout
        } else {
            config.keepalive_timeout
        };
        first = false;
        let key = (Instant::now(), id);
        lock(&shared.waiting).insert(key, Arc::clone(&stream));
        let next = read_head(&mut io, idle, config.header_timeout);
        lock(&shared.waiting).remove(&key);
        let started = Instant::now();
        let parsed = match next {
            Next::Close => return io.close(false),
            Next::Refuse(refusal, head) => return refuse(io, &refusal, head.as_ref(), started),
            Next::Request(parsed) => parsed,
        };
        let Parsed { head, body, .. } = *parsed;
        if let Some(refusal) = framing::check(&head) {
            return refuse(io, &refusal, Some(&head), started);
        }
        let _busy = Busy::enter(shared);
        let mut decoder = body;
        let (path, query) = match head.target.split_once('?') {
            Some((p, q)) => (p.to_string(), q.to_string()),
            None => (head.target.clone(), String::new()),
        };
        let wants_keep_alive = keep_alive_asked(&head);
        let outcome = serving(Arc::clone(&link), || {
            let reply = {
                let mut body = BodyReader::new(&mut io, &mut decoder, config.body_timeout);
                let mut req = HttpRequest {
                    method: head.method.clone(),
                    path: path.clone(),
                    query,
                    headers: head.headers.clone(),
                    body: &mut body,
                    peer,
                };
                catch_unwind(AssertUnwindSafe(|| route(&shared.state, &mut req))).unwrap_or_else(
                    |_| {
                        ApiError::Internal {
                            detail: "the handler panicked; see the proxy's log".into(),
                        }
                        .into_reply()
                    },
                )
            };
            let keep_alive =
                wants_keep_alive && decoder.is_ended() && !shared.stopping.load(Ordering::Relaxed);
            let framing = Framing {
                http10: head.http10,
                head_only: head.method == "HEAD",
                keep_alive,
            };
            let status = reply.status;
            let model = reply.model.clone();
            let written = send(&io, reply, framing);
            (status, model, written, keep_alive)
        });
        let (status, model, written, keep_alive) = outcome;
        log::info!(
            "{} {} {status} {} {}ms{}",
            clip(&head.method, 16),
            clip(&path, 200),
            model.as_deref().map_or("-".into(), |m| clip(m, 200)),
            started.elapsed().as_millis(),
            if written { "" } else { " (client went away)" }
        );
        if !written || !keep_alive {
            return io.close(!decoder.is_ended());
        }
    }
}

/// Writes a reply; false when the client went away first. A panic while producing a stream
/// ends the connection (the status line may already be out).
fn send(io: &ConnIo, reply: Reply, framing: Framing) -> bool {
    let Reply {
        status,
        headers,
        body,
        ..
    } = reply;
    let result = catch_unwind(AssertUnwindSafe(|| match body {
        Body::Full(bytes) => write_full(io, status, &headers, &bytes, framing),
        Body::Stream(stream) => write_stream(io, status, &headers, stream, framing),
    }));
    matches!(result, Ok(Ok(())))
}

/// Counts a request as in progress, for a shutdown that waits for them.
struct Busy<'a>(&'a Shared);

impl<'a> Busy<'a> {
    fn enter(shared: &'a Shared) -> Busy<'a> {
        shared.busy.fetch_add(1, Ordering::SeqCst);
        Busy(shared)
    }
}

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        self.0.busy.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Whether the client wants the connection kept after this request.
fn keep_alive_asked(head: &Head) -> bool {
    let tokens = || {
        head.values("connection")
            .flat_map(|v| v.split(','))
            .map(|t| t.trim().to_ascii_lowercase())
    };
    if head.http10 {
        tokens().any(|t| t == "keep-alive")
    } else {
        !tokens().any(|t| t == "close")
    }
}

/// Waits (at most `idle`) for a request to begin, then (at most `header_timeout` from its
/// first byte) for its whole head.
fn read_head(io: &mut ConnIo, idle: Duration, header_timeout: Duration) -> Next {
    if io.pending().is_empty() {
        match io.fill(Instant::now() + idle) {
            Ok(0) | Err(_) => return Next::Close,
            Ok(_) => {}
        }
    }
    let deadline = Instant::now() + header_timeout;
    loop {
        match parse_head(io.pending()) {
            Ok(Some(parsed)) => {
                io.consume(parsed.used);
                return Next::Request(Box::new(parsed));
            }
            Ok(None) => {}
            Err(e) => return Next::Refuse(protocol_refusal(e), None),
        }
        let pending = io.pending();
        if pending.len() >= MAX_HEAD_BYTES {
            return Next::Refuse(
                Refusal {
                    status: 431,
                    message: "the request line and headers are larger than 64 KiB".into(),
                },
                None,
            );
        }
        if pending.len() > MAX_TARGET_BYTES + 64 && !pending.contains(&b'\n') {
            return Next::Refuse(
                Refusal {
                    status: 414,
                    message: "the request URL is longer than 8 KiB; send long input in the body"
                        .into(),
                },
                None,
            );
        }
        match io.fill(deadline) {
            Ok(0) => return Next::Close,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                return Next::Refuse(
                    Refusal {
                        status: 408,
                        message: format!(
                            "the request head did not arrive within {} s (HEADER_TIMEOUT)",
                            header_timeout.as_secs_f64()
                        ),
                    },
                    None,
                );
            }
            Err(_) => return Next::Close,
        }
    }
}

fn protocol_refusal(e: ProtocolError) -> Refusal {
    let (status, message) = match e {
        ProtocolError::TooManyHeaders => (431, "the request has more than 128 headers".into()),
        ProtocolError::Version => (
            505,
            "only HTTP/1.1 and HTTP/1.0 are served here".to_string(),
        ),
        ProtocolError::Malformed(m) => (
            400,
            format!("the request is not valid HTTP/1.1 ({})", clip(&m, 200)),
        ),
    };
    Refusal { status, message }
}

/// Answers a request that cannot be served, closes the connection, and logs one line.
fn refuse(io: ConnIo, refusal: &Refusal, head: Option<&Head>, started: Instant) {
    let error = ApiError::Refused {
        status: refusal.status,
        message: refusal.message.clone(),
    };
    // In the shape of the API the client speaks on that route, when the head says which.
    let shape = head.map_or(ErrorShape::OpenAi, |h| {
        let path = h.target.split('?').next().unwrap_or("");
        ErrorShape::for_request(path, &h.headers)
    });
    let reply = shape.reply(error);
    let framing = Framing {
        http10: head.is_some_and(|h| h.http10),
        head_only: head.is_some_and(|h| h.method == "HEAD"),
        keep_alive: false,
    };
    let written = send(&io, reply, framing);
    log::info!(
        "{} {} {} - {}ms ({}){}",
        head.map_or("-".into(), |h| clip(&h.method, 16)),
        head.map_or("-".into(), |h| clip(
            h.target.split('?').next().unwrap_or(""),
            200
        )),
        refusal.status,
        started.elapsed().as_millis(),
        clip(&refusal.message, 200),
        if written { "" } else { " (client went away)" }
    );
    io.close(true);
}
