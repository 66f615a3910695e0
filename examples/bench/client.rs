//! The benchmark's clients: keep-alive connections on the library's raw HTTP/1.1 client
//! ([`openrouter_proxy::Conn`], the one the tests and the daemon use), the same code for every
//! path so that the client's own cost is the same everywhere. A connection the server closed
//! between requests is reopened once; a stream's server-sent events are cut out of its body as
//! the pieces arrive, each with the moment it was in hand.

use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use openrouter_proxy::{Conn, Head};

use crate::target::FAKE_KEY;

/// One keep-alive connection to one server, reopened when the server closed it.
pub struct Client {
    addr: SocketAddr,
    conn: Option<Conn>,
    /// The body of the latest response.
    pub body: Vec<u8>,
    /// How long connecting, a read or a write may wait.
    pub timeout: Duration,
    /// Times a request had to open a new connection after the first.
    pub reconnects: usize,
    opened: bool,
}

impl Client {
    pub fn new(addr: SocketAddr) -> Client {
        Client {
            addr,
            conn: None,
            body: Vec::with_capacity(8192),
            timeout: Duration::from_secs(60),
            reconnects: 0,
            opened: false,
        }
    }

    /// Sends a request built beforehand and reads the response head. A kept-alive connection
    /// the server closed in the meantime is reopened once.
    fn send(&mut self, request: &[u8]) -> io::Result<Head> {
        for attempt in 0..2 {
            let fresh = self.conn.is_none();
            if fresh {
                self.conn = Some(Conn::open(self.addr, self.timeout)?);
                if self.opened {
                    self.reconnects += 1;
                }
                self.opened = true;
            }
            let conn = self.conn.as_mut().expect("connected");
            match conn.send_raw(request).and_then(|()| conn.read_head()) {
                Ok(head) => return Ok(head),
                Err(e) => {
                    self.conn = None;
                    if fresh || attempt == 1 {
                        return Err(e);
                    }
                }
            }
        }
        unreachable!("the second attempt returns")
    }

    /// A whole exchange: the status, with the body in `self.body`.
    pub fn exchange(&mut self, request: &[u8]) -> io::Result<u16> {
        let head = self.send(request)?;
        self.body.clear();
        let conn = self.conn.as_mut().expect("connected");
        let result = conn.read_body_into(&head, &mut self.body, &mut |_, _| true);
        if result.is_err() || !head.keeps_alive() {
            self.conn = None;
        }
        result.map(|_| head.status)
    }

    /// A streamed exchange: `on_event` gets each event with the moment it was in hand, and may
    /// stop reading by returning false. A stream stopped early keeps its connection, for the
    /// caller to hold (see [`Client::take_connection`]) or drop.
    pub fn stream(
        &mut self,
        request: &[u8],
        on_event: &mut dyn FnMut(Instant, &[u8]) -> bool,
    ) -> io::Result<u16> {
        let head = self.send(request)?;
        self.body.clear();
        let mut events = EventSplitter::default();
        let conn = self.conn.as_mut().expect("connected");
        let result = conn.read_body_into(&head, &mut self.body, &mut |at, piece| {
            events.feed(at, piece, on_event)
        });
        let finished = matches!(result, Ok(true));
        if result.is_err() || (finished && !head.keeps_alive()) {
            self.conn = None;
        }
        result.map(|_| head.status)
    }

    /// The open connection, to hold it open after an exchange (a stream stopped early).
    pub fn take_connection(&mut self) -> Option<Conn> {
        self.conn.take()
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

/// A chat call's bytes, built once so that building them costs nothing while timed.
pub fn chat_request(path: &str, body: &str) -> Vec<u8> {
    let auth = format!("Bearer {FAKE_KEY}");
    let headers = [
        ("Content-Type", "application/json"),
        ("Authorization", auth.as_str()),
    ];
    Conn::request_bytes("POST", path, &headers, body.as_bytes())
}

/// `GET path` on a connection of its own: the status and the body.
pub fn get(addr: SocketAddr, path: &str) -> io::Result<(u16, String)> {
    let mut conn = Conn::open(addr, Duration::from_secs(10))?;
    conn.send("GET", path, &[("Connection", "close")], b"")?;
    let response = conn.read_response()?;
    Ok((response.status, response.text()))
}
