//! One client connection, served on its own thread from its first request to its close:
//! read a head (bounded in size and time), refuse bad framing, let the router answer, write
//! the reply, and go on with the next request (keep-alive, pipelining) or close.
//!
//! The thread that reads a request calls the handler and writes the reply: nothing is handed
//! to another thread. While it serves a request the connection is named as this thread's
//! client (`api::client_watch`), so upstream waits notice a client that left. Between
//! requests the thread waits a moment for the next one, then parks a quiet connection
//! (`park.rs`) and is free for other work.

use std::net::{SocketAddr, TcpStream};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::body::BodyReader;
use super::conn_io::ConnIo;
use super::framing::{self, MAX_TARGET_BYTES, Refusal};
use super::protocol::{Head, Parsed, ProtocolError, parse_head};
use super::write::{Framing, write_full, write_stream};
use super::{Shared, WaitingMap};
use crate::api::client_watch::{ClientLink, serving};
use crate::api::error::ApiError;
use crate::api::error_shape::ErrorShape;
use crate::api::message::{Body, HttpRequest, Reply};
use crate::http::router::route;
use crate::util::net::{Peek, peek};
use crate::util::sync::lock;

/// How long a thread waits for the next request on its connection before parking it.
const LINGER: Duration = Duration::from_secs(1);
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
    /// Nothing arrived in the time allowed.
    Quiet,
    /// The client closed the connection (or it failed) between requests: close quietly.
    Close,
    /// A head that cannot be served: answer and close.
    Refuse(Refusal, Option<Head>),
}

/// An open client connection between its requests: what its thread needs to go on, and what
/// a parked connection keeps.
pub(crate) struct Conn {
    stream: Arc<TcpStream>,
    io: ConnIo,
    link: Arc<dyn ClientLink>,
    peer: SocketAddr,
    id: u64,
    /// Requests answered so far.
    served: u64,
    /// When the last answer left (the keep-alive time runs from there).
    idle_since: Instant,
    /// Its entry in `Shared::waiting` while it waits for a request; dropping the connection
    /// (whoever closes it: its thread, the parker, a failed resume) removes the entry.
    waiting: WaitingEntry,
    /// The send timeout as last set: a system call only when a reload changed it.
    write_timeout: Option<Duration>,
    /// Counts the connection as open until it is dropped.
    _open: OpenCount,
}

/// One of `Shared::open`, given back when the connection is dropped.
struct OpenCount(Arc<AtomicUsize>);

impl Drop for OpenCount {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A connection's place in `Shared::waiting`, removed when the connection is dropped, so that
/// the map never holds a socket that nobody serves.
struct WaitingEntry {
    map: Arc<WaitingMap>,
    key: Option<(Instant, u64)>,
}

impl Drop for WaitingEntry {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            lock(&self.map).remove(&key);
        }
    }
}

impl Conn {
    /// A connection just accepted (already counted in `Shared::open`).
    pub(crate) fn new(shared: &Shared, stream: TcpStream, peer: SocketAddr) -> Conn {
        let _ = stream.set_nodelay(true);
        let stream = Arc::new(stream);
        Conn {
            io: ConnIo::new(Arc::clone(&stream)),
            link: Arc::new(Link(Arc::clone(&stream))),
            stream,
            peer,
            id: shared.next_id.fetch_add(1, Ordering::Relaxed),
            served: 0,
            idle_since: Instant::now(),
            waiting: WaitingEntry {
                map: Arc::clone(&shared.waiting),
                key: None,
            },
            write_timeout: None,
            _open: OpenCount(Arc::clone(&shared.open)),
        }
    }

    pub(crate) fn id(&self) -> u64 {
        self.id
    }

    #[cfg_attr(not(unix), allow(dead_code))]
    pub(crate) fn stream(&self) -> &TcpStream {
        &self.stream
    }

    /// Ends the connection (see `ConnIo::close`).
    pub(crate) fn close(self, unread: bool) {
        self.io.close(unread);
    }

    /// Names this connection as waiting for a request, for `MAX_CONNECTIONS` to close the
    /// one that waited longest.
    fn start_waiting(&mut self) {
        if self.waiting.key.is_none() {
            let key = (Instant::now(), self.id);
            lock(&self.waiting.map).insert(key, Arc::clone(&self.stream));
            self.waiting.key = Some(key);
        }
    }

    fn stop_waiting(&mut self) {
        if let Some(key) = self.waiting.key.take() {
            lock(&self.waiting.map).remove(&key);
        }
    }
}

/// Serves the requests of one connection until it closes, or until it goes quiet and is
/// parked (it then comes back here, on some pool thread, when its client speaks again).
pub(crate) fn serve(shared: &Shared, mut conn: Conn) {
    loop {
        let config = shared.state.config();
        if conn.write_timeout != Some(config.idle_timeout) {
            match conn.stream.set_write_timeout(Some(config.idle_timeout)) {
                Ok(()) => conn.write_timeout = Some(config.idle_timeout),
                Err(e) => log::debug!("cannot set a send timeout: {e}"),
            }
        }
        conn.start_waiting();
        // The first request has HEADER_TIMEOUT to begin; later ones the keep-alive time, of
        // which the thread waits LINGER before it parks the connection.
        let keep_until = if conn.served == 0 {
            conn.idle_since + config.header_timeout
        } else {
            conn.idle_since + config.keepalive_timeout
        };
        let linger_until = match &shared.parker {
            Some(_) if conn.served > 0 => keep_until.min(Instant::now() + LINGER),
            _ => keep_until,
        };
        let next = read_head(&mut conn.io, linger_until, config.header_timeout);
        let started = Instant::now();
        let parsed = match next {
            Next::Quiet if linger_until < keep_until => {
                let Some(parker) = &shared.parker else {
                    return conn.close(false);
                };
                match parker.park(conn, keep_until) {
                    Ok(()) => return,
                    Err(back) => conn = back,
                }
                continue;
            }
            Next::Quiet | Next::Close => {
                conn.stop_waiting();
                return conn.close(false);
            }
            Next::Refuse(refusal, head) => {
                conn.stop_waiting();
                return refuse(conn, &refusal, head.as_ref(), started);
            }
            Next::Request(parsed) => parsed,
        };
        conn.stop_waiting();
        let Parsed { head, body, .. } = *parsed;
        if let Some(refusal) = framing::check(&head) {
            return refuse(conn, &refusal, Some(&head), started);
        }
        let _busy = Busy::enter(shared);
        let mut decoder = body;
        let (path, query) = match head.target.split_once('?') {
            Some((p, q)) => (p.to_string(), q.to_string()),
            None => (head.target.clone(), String::new()),
        };
        let wants_keep_alive = keep_alive_asked(&head);
        let Head {
            method,
            http10,
            headers,
            ..
        } = head;
        let (io, peer) = (&mut conn.io, conn.peer);
        let outcome = serving(Arc::clone(&conn.link), || {
            let reply = {
                let mut body = BodyReader::new(io, &mut decoder, config.body_timeout);
                let mut req = HttpRequest {
                    method: method.clone(),
                    path: path.clone(),
                    query,
                    headers,
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
                http10,
                head_only: method == "HEAD",
                keep_alive,
            };
            let status = reply.status;
            let model = reply.model.clone();
            let written = send(io, reply, framing);
            (status, model, written, keep_alive)
        });
        let (status, model, written, keep_alive) = outcome;
        log::info!(
            "{} {} {status} {} {}ms{}",
            clip(&method, 16),
            clip(&path, 200),
            model.as_deref().map_or("-".into(), |m| clip(m, 200)),
            started.elapsed().as_millis(),
            if written { "" } else { " (client went away)" }
        );
        if !written || !keep_alive {
            return conn.close(!decoder.is_ended());
        }
        conn.served += 1;
        conn.idle_since = Instant::now();
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

/// Waits (until `begin_by`) for a request to begin, then (at most `header_timeout` from its
/// first byte) for its whole head.
fn read_head(io: &mut ConnIo, begin_by: Instant, header_timeout: Duration) -> Next {
    if io.pending().is_empty() {
        match io.fill(begin_by) {
            Ok(0) => return Next::Close,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => return Next::Quiet,
            Err(_) => return Next::Close,
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
fn refuse(conn: Conn, refusal: &Refusal, head: Option<&Head>, started: Instant) {
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
    let written = send(&conn.io, reply, framing);
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
    conn.close(true);
}
