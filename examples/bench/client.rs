//! A minimal HTTP/1.1 client over keep-alive connections: the same code for every path, so
//! that the client's own cost is the same everywhere. A connection the server closed between
//! requests is reopened once; a body is read whole, or piece by piece with each piece's arrival
//! time (server-sent events are cut out of the pieces).

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use crate::target::FAKE_KEY;

/// How a response body is delimited.
#[derive(Clone, Copy, Debug)]
pub enum Framing {
    Length(usize),
    Chunked,
    UntilClose,
}

pub struct Head {
    pub status: u16,
    pub framing: Framing,
    pub close: bool,
}

/// One keep-alive connection to one server, reopened when the server closed it.
pub struct Conn {
    pub addr: SocketAddr,
    pub io: Option<(BufReader<TcpStream>, TcpStream)>,
    pub line: String,
    pub body: Vec<u8>,
    /// How long a read may wait.
    pub timeout: Duration,
    /// Times a request had to open a new connection after the first.
    pub reconnects: usize,
    pub opened: bool,
}

impl Conn {
    pub fn new(addr: SocketAddr) -> Conn {
        Conn {
            addr,
            io: None,
            line: String::new(),
            body: Vec::with_capacity(8192),
            reconnects: 0,
            opened: false,
            timeout: Duration::from_secs(60),
        }
    }

    fn connect(&mut self) -> io::Result<()> {
        let stream = TcpStream::connect(self.addr)?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(self.timeout))?;
        let reader = BufReader::with_capacity(64 * 1024, stream.try_clone()?);
        self.io = Some((reader, stream));
        if self.opened {
            self.reconnects += 1;
        }
        self.opened = true;
        Ok(())
    }

    /// Sends a whole request and reads the response head. A kept-alive connection the server
    /// closed in the meantime is reopened once.
    pub fn send(&mut self, request: &[u8]) -> io::Result<Head> {
        for attempt in 0..2 {
            let fresh = self.io.is_none();
            if fresh {
                self.connect()?;
            }
            let (reader, writer) = self.io.as_mut().expect("connected");
            let result = writer
                .write_all(request)
                .and_then(|()| read_head(reader, &mut self.line));
            match result {
                Ok(head) => return Ok(head),
                Err(e) => {
                    self.io = None;
                    if fresh || attempt == 1 {
                        return Err(e);
                    }
                }
            }
        }
        unreachable!()
    }

    /// A whole exchange: the status, with the body in `self.body`.
    pub fn exchange(&mut self, request: &[u8]) -> io::Result<u16> {
        let head = self.send(request)?;
        let (reader, _) = self.io.as_mut().expect("connected");
        self.body.clear();
        let result = read_body(
            reader,
            head.framing,
            &mut self.line,
            &mut self.body,
            &mut |_, _| true,
        );
        if result.is_err() || head.close || matches!(head.framing, Framing::UntilClose) {
            self.io = None;
        }
        result.map(|_| head.status)
    }

    /// A streamed exchange: `on_event` gets each event with the time it arrived, and may stop
    /// reading by returning false (the connection is then dropped).
    pub fn stream(
        &mut self,
        request: &[u8],
        on_event: &mut dyn FnMut(Instant, &[u8]) -> bool,
    ) -> io::Result<u16> {
        let head = self.send(request)?;
        let (reader, _) = self.io.as_mut().expect("connected");
        self.body.clear();
        let mut events = EventSplitter::default();
        let mut on_piece = |at: Instant, piece: &[u8]| events.feed(at, piece, on_event);
        let result = read_body(
            reader,
            head.framing,
            &mut self.line,
            &mut self.body,
            &mut on_piece,
        );
        // A stream stopped early keeps its connection, for the caller to hold or drop.
        if result.is_err()
            || head.close
            || matches!(result, Ok(true) if matches!(head.framing, Framing::UntilClose))
        {
            self.io = None;
        }
        result.map(|_| head.status)
    }
}

pub fn read_head(reader: &mut BufReader<TcpStream>, line: &mut String) -> io::Result<Head> {
    line.clear();
    if reader.read_line(line)? == 0 {
        return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "closed"));
    }
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| io::Error::other(format!("bad status line {line:?}")))?;
    let http10 = line.starts_with("HTTP/1.0");
    let mut framing = Framing::UntilClose;
    let mut close = http10;
    loop {
        line.clear();
        if reader.read_line(line)? == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "closed in head",
            ));
        }
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        let Some((name, value)) = l.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            if let Ok(n) = value.parse() {
                framing = Framing::Length(n);
            }
        } else if name.eq_ignore_ascii_case("transfer-encoding")
            && value.to_ascii_lowercase().contains("chunked")
        {
            framing = Framing::Chunked;
        } else if name.eq_ignore_ascii_case("connection") {
            close = value.eq_ignore_ascii_case("close");
        }
    }
    Ok(Head {
        status,
        framing,
        close,
    })
}

/// Reads a body, handing each piece to `on_piece` as it arrives. Returns whether the body was
/// read to its end (false when `on_piece` stopped it).
pub fn read_body(
    reader: &mut BufReader<TcpStream>,
    framing: Framing,
    line: &mut String,
    body: &mut Vec<u8>,
    on_piece: &mut dyn FnMut(Instant, &[u8]) -> bool,
) -> io::Result<bool> {
    match framing {
        Framing::Length(n) => {
            body.resize(n, 0);
            let mut got = 0;
            while got < n {
                let k = reader.read(&mut body[got..])?;
                if k == 0 {
                    return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "short body"));
                }
                if !on_piece(Instant::now(), &body[got..got + k]) {
                    return Ok(false);
                }
                got += k;
            }
            Ok(true)
        }
        Framing::Chunked => loop {
            line.clear();
            if reader.read_line(line)? == 0 {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "cut chunk"));
            }
            let size = line.trim().split(';').next().unwrap_or("");
            let size = usize::from_str_radix(size, 16)
                .map_err(|_| io::Error::other(format!("bad chunk size {line:?}")))?;
            if size == 0 {
                // Trailers, then the blank line.
                loop {
                    line.clear();
                    if reader.read_line(line)? == 0 || line.trim_end().is_empty() {
                        return Ok(true);
                    }
                }
            }
            let start = body.len();
            body.resize(start + size, 0);
            reader.read_exact(&mut body[start..])?;
            let mut crlf = [0u8; 2];
            reader.read_exact(&mut crlf)?;
            if !on_piece(Instant::now(), &body[start..]) {
                return Ok(false);
            }
        },
        Framing::UntilClose => {
            let mut buf = [0u8; 16 * 1024];
            loop {
                let k = reader.read(&mut buf)?;
                if k == 0 {
                    return Ok(true);
                }
                body.extend_from_slice(&buf[..k]);
                if !on_piece(Instant::now(), &buf[..k]) {
                    return Ok(false);
                }
            }
        }
    }
}

/// Cuts a byte stream into server-sent events (each ends with a blank line).
#[derive(Default)]
pub struct EventSplitter {
    pub pending: Vec<u8>,
}

impl EventSplitter {
    pub fn feed(
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

pub fn event_end(buf: &[u8]) -> Option<usize> {
    buf.windows(2)
        .position(|w| w == b"\n\n")
        .map(|i| i + 2)
        .or_else(|| buf.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4))
}

pub fn request_bytes(addr: SocketAddr, path: &str, body: &str) -> Vec<u8> {
    format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Authorization: Bearer {FAKE_KEY}\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

pub fn get(addr: SocketAddr, path: &str) -> io::Result<(u16, String)> {
    let mut conn = Conn::new(addr);
    let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    let status = conn.exchange(req.as_bytes())?;
    Ok((status, String::from_utf8_lossy(&conn.body).into_owned()))
}
