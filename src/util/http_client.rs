//! A small blocking HTTP/1.1 client on `std::net`, for speaking to a server on this machine:
//! the daemon's `/health` and shutdown calls, the integration tests and the benchmark. It sends
//! requests as given (`Host: localhost` on the ones it builds) and reads responses exactly as
//! they come: the head alone, a whole body (`Content-Length`, chunked, or until close), one
//! chunk with the moment it arrived, or the body piece by piece as it arrives.
//!
//! It is not the upstream client (only `upstream/` speaks to OpenRouter, through ureq) and it
//! never retries, redirects or decompresses: what the server wrote is what the caller sees.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// One connection to a server; it can carry several requests one after the other.
pub struct Conn {
    /// The socket, buffered for reading; writes go to the socket itself.
    reader: BufReader<TcpStream>,
    /// A line being read: kept to spare an allocation per line.
    line: String,
}

/// Raw reads of what the server sent, past whatever this client has buffered.
impl Read for Conn {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.reader.read(buf)
    }
}

impl BufRead for Conn {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        self.reader.fill_buf()
    }

    fn consume(&mut self, amount: usize) {
        self.reader.consume(amount);
    }
}

/// A response's status line and headers.
#[derive(Clone, Debug)]
pub struct Head {
    pub status: u16,
    /// As the status line says it: `HTTP/1.1`, `HTTP/1.0`.
    pub version: String,
    /// Names and values as sent, values trimmed.
    pub headers: Vec<(String, String)>,
}

/// A whole response.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub version: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// How a response body is delimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Framing {
    /// No body at all: a 1xx, 204 or 304 answer.
    Empty,
    Length(u64),
    Chunked,
    UntilClose,
}

impl Conn {
    /// Connects within `timeout`; every later read and write may wait as long. Small writes
    /// leave at once (no Nagle delay), so timings are the server's.
    pub fn open(addr: SocketAddr, timeout: Duration) -> io::Result<Conn> {
        let stream = TcpStream::connect_timeout(&addr, timeout)?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(timeout))?;
        stream.set_write_timeout(Some(timeout))?;
        Ok(Conn {
            reader: BufReader::with_capacity(64 * 1024, stream),
            line: String::new(),
        })
    }

    /// The bytes of a request: `Host: localhost`, then `headers`, then `Content-Length` when
    /// there is a body or the method is `POST` (a POST without a length is refused by some
    /// servers), then the body. Built apart from sending so that a caller timing requests can
    /// build them beforehand.
    pub fn request_bytes(
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Vec<u8> {
        let mut head = format!("{method} {path} HTTP/1.1\r\n");
        // `Host: localhost` unless the caller names another.
        if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("Host")) {
            head.push_str("Host: localhost\r\n");
        }
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        if !body.is_empty() || method == "POST" {
            head.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        head.push_str("\r\n");
        let mut bytes = head.into_bytes();
        bytes.extend_from_slice(body);
        bytes
    }

    /// Sends a request built by [`Conn::request_bytes`], in one write.
    pub fn send(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> io::Result<()> {
        self.send_raw(&Conn::request_bytes(method, path, headers, body))
    }

    /// The socket itself (to shut it down, or to read what the server sends as it is).
    pub fn stream(&self) -> &TcpStream {
        self.reader.get_ref()
    }

    /// Sends these bytes as they are: a request built beforehand, or a malformed one.
    pub fn send_raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        let stream = self.reader.get_mut();
        stream.write_all(bytes)?;
        stream.flush()
    }

    /// Reads a status line and headers.
    pub fn read_head(&mut self) -> io::Result<Head> {
        self.read_line("status line")?;
        let mut parts = self.line.split_whitespace();
        let version = parts.next().unwrap_or("").to_string();
        let status = parts
            .next()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| invalid(format!("bad status line {:?}", self.line)))?;
        let mut headers = Vec::new();
        loop {
            self.read_line("header")?;
            let line = self.line.trim_end();
            if line.is_empty() {
                break;
            }
            let (name, value) = line
                .split_once(':')
                .ok_or_else(|| invalid(format!("bad header line {line:?}")))?;
            headers.push((name.trim().to_string(), value.trim().to_string()));
        }
        Ok(Head {
            status,
            version,
            headers,
        })
    }

    /// Reads a whole response: its head, then its body however it is delimited.
    pub fn read_response(&mut self) -> io::Result<Response> {
        let head = self.read_head()?;
        let mut body = Vec::new();
        self.read_body_into(&head, &mut body, &mut |_, _| true)?;
        Ok(Response {
            status: head.status,
            version: head.version,
            headers: head.headers,
            body,
        })
    }

    /// Reads the body that follows `head` into `body` (appended), handing each piece to
    /// `on_piece` with the moment it had been read whole, as it arrives. Returns whether the
    /// body was read to its end: false when `on_piece` said to stop, and the rest is unread.
    pub fn read_body_into(
        &mut self,
        head: &Head,
        body: &mut Vec<u8>,
        on_piece: &mut dyn FnMut(Instant, &[u8]) -> bool,
    ) -> io::Result<bool> {
        match head.framing()? {
            Framing::Empty => Ok(true),
            Framing::Length(n) => {
                let mut left = n;
                while left > 0 {
                    let start = body.len();
                    let want = left.min(64 * 1024) as usize;
                    body.resize(start + want, 0);
                    let got = self.reader.read(&mut body[start..])?;
                    body.truncate(start + got);
                    if got == 0 {
                        return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "short body"));
                    }
                    left -= got as u64;
                    if !on_piece(Instant::now(), &body[start..]) {
                        return Ok(false);
                    }
                }
                Ok(true)
            }
            Framing::Chunked => loop {
                let start = body.len();
                match self.read_chunk_into(body)? {
                    Some(_) => {
                        if !on_piece(Instant::now(), &body[start..]) {
                            return Ok(false);
                        }
                    }
                    None => return Ok(true),
                }
            },
            Framing::UntilClose => {
                let mut buf = [0u8; 16 * 1024];
                loop {
                    let got = self.reader.read(&mut buf)?;
                    if got == 0 {
                        return Ok(true);
                    }
                    body.extend_from_slice(&buf[..got]);
                    if !on_piece(Instant::now(), &buf[..got]) {
                        return Ok(false);
                    }
                }
            }
        }
    }

    /// One chunk of a chunked body and when its first line arrived; `None` after the last
    /// chunk (and its trailers).
    pub fn read_chunk(&mut self) -> io::Result<Option<(Vec<u8>, Instant)>> {
        let mut piece = Vec::new();
        Ok(self
            .read_chunk_into(&mut piece)?
            .map(|arrived| (piece, arrived)))
    }

    /// Appends one chunk's data to `body`; the moment its size line was read, or `None` at
    /// the last chunk.
    fn read_chunk_into(&mut self, body: &mut Vec<u8>) -> io::Result<Option<Instant>> {
        self.read_line("chunk size")?;
        let arrived = Instant::now();
        let size = self.line.trim().split(';').next().unwrap_or("");
        let size = usize::from_str_radix(size, 16)
            .map_err(|_| invalid(format!("bad chunk size {:?}", self.line)))?;
        if size == 0 {
            // Trailers, if any, then the blank line that ends the body.
            loop {
                self.read_line("trailer")?;
                if self.line.trim_end().is_empty() {
                    return Ok(None);
                }
            }
        }
        let start = body.len();
        body.resize(start + size, 0);
        self.reader.read_exact(&mut body[start..])?;
        let mut crlf = [0u8; 2];
        self.reader.read_exact(&mut crlf)?;
        if crlf != *b"\r\n" {
            return Err(invalid("a chunk not followed by CRLF".into()));
        }
        Ok(Some(arrived))
    }

    /// Reads one line into `self.line`; the end of the stream is an error (`what` was due).
    fn read_line(&mut self, what: &str) -> io::Result<()> {
        self.line.clear();
        if self.reader.read_line(&mut self.line)? == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("the connection closed before the {what}"),
            ));
        }
        Ok(())
    }
}

impl Head {
    /// A header's value (the first, if sent several times), by name in any case.
    pub fn header(&self, name: &str) -> Option<&str> {
        header(&self.headers, name)
    }

    /// Whether the server keeps the connection open after this response: HTTP/1.1 unless it
    /// says `Connection: close`, HTTP/1.0 only when it says `keep-alive`; and never when the
    /// body runs until the connection closes.
    pub fn keeps_alive(&self) -> bool {
        let connection = self.header("Connection").map(str::to_ascii_lowercase);
        let said = match connection.as_deref() {
            Some("close") => false,
            Some("keep-alive") => true,
            _ => self.version != "HTTP/1.0",
        };
        said && !matches!(self.framing(), Ok(Framing::UntilClose))
    }

    fn framing(&self) -> io::Result<Framing> {
        if (100..200).contains(&self.status) || self.status == 204 || self.status == 304 {
            return Ok(Framing::Empty);
        }
        let chunked = self
            .header("Transfer-Encoding")
            .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
        if chunked {
            return Ok(Framing::Chunked);
        }
        match self.header("Content-Length") {
            Some(n) => n
                .parse()
                .map(Framing::Length)
                .map_err(|_| invalid(format!("bad Content-Length {n:?}"))),
            None => Ok(Framing::UntilClose),
        }
    }
}

impl Response {
    /// A header's value (the first, if sent several times), by name in any case.
    pub fn header(&self, name: &str) -> Option<&str> {
        header(&self.headers, name)
    }

    /// The body as text, invalid UTF-8 replaced.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

fn invalid(what: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;
    use std::thread;

    /// A server that reads one request head and answers with `answer`, then closes.
    fn serve_once(answer: &'static [u8]) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            while reader.read_line(&mut line).unwrap() > 2 {
                line.clear();
            }
            stream.write_all(answer).unwrap();
        });
        addr
    }

    fn exchange(answer: &'static [u8]) -> Response {
        let mut conn = Conn::open(serve_once(answer), Duration::from_secs(5)).unwrap();
        conn.send("GET", "/", &[], b"").unwrap();
        conn.read_response().unwrap()
    }

    #[test]
    fn requests_name_localhost_and_carry_their_length() {
        let bytes = Conn::request_bytes("POST", "/x", &[("A", "b")], b"hi");
        assert_eq!(
            bytes,
            b"POST /x HTTP/1.1\r\nHost: localhost\r\nA: b\r\nContent-Length: 2\r\n\r\nhi"
        );
        let get = Conn::request_bytes("GET", "/", &[], b"");
        assert_eq!(get, b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n");
    }

    #[test]
    fn bodies_are_read_by_length_chunks_or_close() {
        let r = exchange(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello");
        assert_eq!((r.status, r.text()), (200, "hello".into()));
        let r = exchange(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;x=1\r\nhel\r\n2\r\nlo\r\n0\r\nT: 1\r\n\r\n",
        );
        assert_eq!(r.text(), "hello");
        let r = exchange(b"HTTP/1.0 200 OK\r\nX-A:  spaced \r\n\r\nuntil close");
        assert_eq!(
            (r.version.as_str(), r.text()),
            ("HTTP/1.0", "until close".into())
        );
        assert_eq!(r.header("x-a"), Some("spaced"));
        let r = exchange(b"HTTP/1.1 204 No Content\r\n\r\n");
        assert!(r.body.is_empty());
    }

    #[test]
    fn chunks_are_read_one_at_a_time() {
        let addr =
            serve_once(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\n\r\n");
        let mut conn = Conn::open(addr, Duration::from_secs(5)).unwrap();
        conn.send("GET", "/", &[], b"").unwrap();
        let head = conn.read_head().unwrap();
        assert!(head.keeps_alive());
        assert_eq!(conn.read_chunk().unwrap().unwrap().0, b"a");
        assert!(conn.read_chunk().unwrap().is_none());
    }

    #[test]
    fn broken_framing_is_an_error_not_a_guess() {
        let addr = serve_once(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nshort");
        let mut conn = Conn::open(addr, Duration::from_secs(5)).unwrap();
        conn.send("GET", "/", &[], b"").unwrap();
        assert!(conn.read_response().is_err());
        let addr = serve_once(b"HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\n");
        let mut conn = Conn::open(addr, Duration::from_secs(5)).unwrap();
        conn.send("GET", "/", &[], b"").unwrap();
        assert!(conn.read_response().is_err());
    }
}
