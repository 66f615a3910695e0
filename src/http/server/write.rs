//! Writing a reply: the status line and headers (`Date` and `Server` on every reply, the
//! framing the server decides), then the body whole, or a stream event by event.
//!
//! A whole reply leaves in one system call (head and body through one vectored write). A
//! stream's head goes out with its first event, then each event is one chunk written at once
//! (the socket has TCP_NODELAY); HTTP/1.0 has no chunked framing, so a 1.0 client gets the
//! whole stream at its end with a length, up to [`MAX_HTTP10_STREAM`].

use std::borrow::Cow;
use std::fmt::Write as _;
use std::io;

use super::conn_io::ConnIo;
use crate::api::error::ApiError;
use crate::api::message::{Body, EventStream};
use crate::util::time_format::http_date;

/// The most of a stream held for an HTTP/1.0 client, which gets it whole; beyond it the
/// stream is ended and the client gets a 502 that says to use HTTP/1.1.
pub(crate) const MAX_HTTP10_STREAM: usize = 64 << 20;

/// How a reply is framed on this connection.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Framing {
    pub http10: bool,
    /// A HEAD request: headers only.
    pub head_only: bool,
    /// The connection stays open after this reply.
    pub keep_alive: bool,
}

/// How the body's length is told.
enum Length {
    Known(usize),
    Chunked,
}

/// Headers the server alone decides; a handler's copies are dropped.
const SERVER_HEADERS: [&str; 5] = [
    "content-length",
    "transfer-encoding",
    "connection",
    "date",
    "server",
];

fn head(status: u16, headers: &[(String, String)], length: Length, framing: Framing) -> Vec<u8> {
    let mut head = String::with_capacity(256);
    let _ = write!(
        head,
        "HTTP/1.{} {status} {}\r\nDate: {}\r\nServer: openrouter-proxy\r\n",
        if framing.http10 { 0 } else { 1 },
        reason_phrase(status),
        http_date(),
    );
    for (name, value) in headers {
        if SERVER_HEADERS.iter().any(|h| name.eq_ignore_ascii_case(h)) || !valid_name(name) {
            continue;
        }
        let _ = write!(head, "{name}: {}\r\n", header_value(value));
    }
    let bodyless = matches!(status, 100..=199 | 204 | 304);
    match length {
        _ if bodyless => {}
        Length::Known(n) => {
            let _ = write!(head, "Content-Length: {n}\r\n");
        }
        Length::Chunked => head.push_str("Transfer-Encoding: chunked\r\n"),
    }
    match (framing.keep_alive, framing.http10) {
        (false, _) => head.push_str("Connection: close\r\n"),
        (true, true) => head.push_str("Connection: keep-alive\r\n"),
        (true, false) => {}
    }
    head.push_str("\r\n");
    head.into_bytes()
}

/// Writes a reply with a whole body.
pub(crate) fn write_full(
    io: &ConnIo,
    status: u16,
    headers: &[(String, String)],
    body: &[u8],
    framing: Framing,
) -> io::Result<()> {
    let head = head(status, headers, Length::Known(body.len()), framing);
    let bodyless = framing.head_only || matches!(status, 100..=199 | 204 | 304);
    io.write_two(&head, if bodyless { &[] } else { body })
}

/// Writes a streamed reply, piece by piece as the stream yields them. A failed write means
/// the client left: the stream is then dropped, which releases its upstream connection and
/// its concurrency slot. `finish` is called only once the client has it all.
pub(crate) fn write_stream(
    io: &ConnIo,
    status: u16,
    headers: &[(String, String)],
    mut stream: Box<dyn EventStream>,
    framing: Framing,
) -> io::Result<()> {
    let mut piece = Vec::with_capacity(4096);
    if framing.http10 || framing.head_only {
        while stream.next_piece(&mut piece) {
            if piece.len() > MAX_HTTP10_STREAM {
                drop(stream);
                let error = ApiError::UpstreamInvalid {
                    detail: format!(
                        "the streamed answer grew past {} MiB, which an HTTP/1.0 client gets \
                         only whole; use HTTP/1.1",
                        MAX_HTTP10_STREAM >> 20
                    ),
                };
                let reply = error.into_reply();
                let Body::Full(body) = reply.body else {
                    return Ok(());
                };
                return write_full(io, reply.status, &reply.headers, &body, framing);
            }
        }
        let head = head(status, headers, Length::Known(piece.len()), framing);
        io.write_two(&head, if framing.head_only { &[] } else { &piece })?;
        stream.finish();
        return Ok(());
    }
    let mut pending_head = Some(head(status, headers, Length::Chunked, framing));
    let mut frame = Vec::with_capacity(4096 + 16);
    loop {
        piece.clear();
        let more = stream.next_piece(&mut piece);
        frame.clear();
        if !piece.is_empty() {
            let _ = write!(FrameWriter(&mut frame), "{:x}\r\n", piece.len());
            frame.extend_from_slice(&piece);
            frame.extend_from_slice(b"\r\n");
        }
        if !more {
            frame.extend_from_slice(b"0\r\n\r\n");
        }
        match pending_head.take() {
            Some(head) => io.write_two(&head, &frame)?,
            None if !frame.is_empty() => io.write_all(&frame)?,
            None => {}
        }
        if !more {
            break;
        }
    }
    stream.finish();
    Ok(())
}

/// `write!` into a byte vector.
struct FrameWriter<'a>(&'a mut Vec<u8>);

impl std::fmt::Write for FrameWriter<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
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

pub(crate) fn reason_phrase(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        402 => "Payment Required",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        413 => "Content Too Large",
        414 => "URI Too Long",
        415 => "Unsupported Media Type",
        422 => "Unprocessable Content",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        499 => "Client Closed Request",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        _ => "Status",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(status: u16, headers: &[(&str, &str)], length: Length, framing: Framing) -> String {
        let headers: Vec<(String, String)> = headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        String::from_utf8(head(status, &headers, length, framing)).unwrap()
    }

    const KEEP: Framing = Framing {
        http10: false,
        head_only: false,
        keep_alive: true,
    };

    #[test]
    fn heads_carry_date_server_and_the_servers_own_framing() {
        let t = text(
            200,
            &[
                ("Content-Type", "application/json"),
                ("Content-Length", "999"),
                ("Connection", "upgrade"),
                ("X-Model", "bad\r\nInjected: yes"),
            ],
            Length::Known(2),
            KEEP,
        );
        assert!(t.starts_with("HTTP/1.1 200 OK\r\nDate: "), "{t}");
        assert!(t.contains("\r\nServer: openrouter-proxy\r\n"));
        assert!(t.contains("\r\nContent-Length: 2\r\n") && !t.contains("999"));
        assert!(!t.contains("upgrade") && !t.contains("\r\nInjected"));
        assert!(t.ends_with("\r\n\r\n"));
        let t = text(204, &[], Length::Known(0), KEEP);
        assert!(!t.contains("Content-Length"), "{t}");
        let t = text(
            200,
            &[],
            Length::Chunked,
            Framing {
                keep_alive: false,
                ..KEEP
            },
        );
        assert!(t.contains("Transfer-Encoding: chunked\r\n") && t.contains("Connection: close"));
        let t = text(
            200,
            &[],
            Length::Known(0),
            Framing {
                http10: true,
                ..KEEP
            },
        );
        assert!(t.starts_with("HTTP/1.0 200") && t.contains("Connection: keep-alive"));
    }

    /// An endless stream of 1 MiB events, counting how many were asked for.
    struct Endless(std::sync::Arc<std::sync::atomic::AtomicUsize>);

    impl EventStream for Endless {
        fn next_piece(&mut self, out: &mut Vec<u8>) -> bool {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            out.extend_from_slice(&[b'x'; 1 << 20]);
            true
        }
    }

    #[test]
    fn an_http10_stream_is_held_up_to_its_bound_then_refused() {
        use std::io::Read;
        use std::net::{TcpListener, TcpStream};
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        let reader = std::thread::spawn(move || {
            let mut answer = Vec::new();
            let _ = (&client).read_to_end(&mut answer);
            answer
        });
        let asked = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let io = ConnIo::new(std::sync::Arc::new(server));
        let framing = Framing {
            http10: true,
            head_only: false,
            keep_alive: false,
        };
        let stream = Box::new(Endless(std::sync::Arc::clone(&asked)));
        write_stream(&io, 200, &[], stream, framing).unwrap();
        io.close(false);
        let answer = String::from_utf8_lossy(&reader.join().unwrap()).to_string();
        assert!(answer.starts_with("HTTP/1.0 502"), "{}", &answer[..80]);
        assert!(answer.contains("use HTTP/1.1"), "{answer}");
        assert_eq!(
            asked.load(std::sync::atomic::Ordering::SeqCst),
            (MAX_HTTP10_STREAM >> 20) + 1
        );
    }
}
