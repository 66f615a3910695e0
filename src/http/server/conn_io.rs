//! One client connection's bytes: what has been read and not used yet, reads with a deadline,
//! and writes. Socket options change only when their value does, so a keep-alive connection
//! makes no `setsockopt` per request.

use std::io::{self, IoSlice, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::util::net::{Peek, peek};

/// How much one read asks for: a little while the connection waits for a request (an idle
/// connection holds no more than that), more once a request is arriving.
const FIRST_READ: usize = 4 * 1024;
const READ_SIZE: usize = 16 * 1024;
/// After a reply that ends the connection with part of a request unread, how much more is
/// read (and thrown away) so the client sees the reply rather than a reset.
const DRAIN_BYTES: usize = 256 * 1024;
const DRAIN_TIME: Duration = Duration::from_secs(1);

pub(crate) struct ConnIo {
    stream: Arc<TcpStream>,
    /// Bytes read from the client; `buf[used..]` are not consumed yet.
    buf: Vec<u8>,
    used: usize,
    /// The receive timeout as last set on the socket.
    read_timeout: Option<Duration>,
}

impl ConnIo {
    pub(super) fn new(stream: Arc<TcpStream>) -> ConnIo {
        ConnIo {
            stream,
            buf: Vec::new(),
            used: 0,
            read_timeout: None,
        }
    }

    /// Bytes read and not consumed yet.
    pub(super) fn pending(&self) -> &[u8] {
        &self.buf[self.used..]
    }

    pub(super) fn consume(&mut self, n: usize) {
        self.used = (self.used + n).min(self.buf.len());
        if self.used == self.buf.len() {
            // Everything read is used: an idle keep-alive connection keeps no buffer.
            self.buf = Vec::new();
            self.used = 0;
        }
    }

    /// Reads more bytes, waiting until `deadline` at most. Returns how many arrived (0: the
    /// client closed its side); a deadline that passes is an `io::ErrorKind::TimedOut` error.
    pub(super) fn fill(&mut self, deadline: Instant) -> io::Result<usize> {
        let mut left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            // Bytes that arrived in time still count when this thread comes late (a busy
            // machine may start it after the deadline); a head still arriving after it does not.
            if peek(&self.stream) != Peek::Data {
                return Err(io::Error::new(io::ErrorKind::TimedOut, "deadline passed"));
            }
            left = Duration::from_millis(10);
        }
        // Round up to whole 10 ms steps so that small changes of the deadline do not each
        // cost a system call.
        // (Whole steps of the time left in nanoseconds: under a millisecond left is one step,
        // never a zero timeout, which the socket refuses.)
        let steps = left.as_nanos().div_ceil(10_000_000).max(1);
        let wanted = Duration::from_millis(u64::try_from(steps).unwrap_or(u64::MAX / 10) * 10);
        if self
            .read_timeout
            .is_none_or(|t| t > wanted || wanted > t * 2)
        {
            self.stream.set_read_timeout(Some(wanted))?;
            self.read_timeout = Some(wanted);
        }
        if self.used > 0 && self.used == self.buf.len() {
            self.buf.clear();
            self.used = 0;
        } else if self.used > READ_SIZE {
            self.buf.drain(..self.used);
            self.used = 0;
        }
        let start = self.buf.len();
        let size = if start == 0 { FIRST_READ } else { READ_SIZE };
        self.buf.resize(start + size, 0);
        let result = loop {
            match (&*self.stream).read(&mut self.buf[start..]) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    // Some platforms report a receive timeout this way.
                    break Err(io::Error::new(io::ErrorKind::TimedOut, e));
                }
                other => break other,
            }
        };
        self.buf.truncate(start + *result.as_ref().unwrap_or(&0));
        if Instant::now() >= deadline
            && matches!(result, Err(ref e) if e.kind() == io::ErrorKind::TimedOut)
        {
            return Err(io::Error::new(io::ErrorKind::TimedOut, "deadline passed"));
        }
        match result {
            Err(e) if e.kind() == io::ErrorKind::TimedOut => {
                // The socket timed out before the deadline (it was rounded): try the rest.
                self.fill(deadline)
            }
            other => other,
        }
    }

    pub(super) fn write_all(&self, bytes: &[u8]) -> io::Result<()> {
        (&*self.stream).write_all(bytes)
    }

    /// Writes `head` and `body` with as few system calls as the socket allows (usually one).
    pub(super) fn write_two(&self, head: &[u8], body: &[u8]) -> io::Result<()> {
        let (mut head, mut body) = (head, body);
        while !head.is_empty() || !body.is_empty() {
            let n = match (&*self.stream).write_vectored(&[IoSlice::new(head), IoSlice::new(body)])
            {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            let from_head = n.min(head.len());
            head = &head[from_head..];
            body = &body[n - from_head..];
        }
        Ok(())
    }

    /// Ends the connection after a reply. When part of a request was left unread, the write
    /// side is closed first and what the client still sends is read and dropped for a moment:
    /// closing with unread bytes would reset the connection and could destroy the reply on
    /// its way.
    pub(super) fn close(self, unread: bool) {
        if unread {
            let _ = self.stream.shutdown(Shutdown::Write);
            let _ = self.stream.set_read_timeout(Some(DRAIN_TIME / 4));
            let deadline = Instant::now() + DRAIN_TIME;
            let mut sink = [0u8; 8192];
            let mut drained = 0;
            while drained < DRAIN_BYTES && Instant::now() < deadline {
                match (&*self.stream).read(&mut sink) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => drained += n,
                }
            }
        }
        let _ = self.stream.shutdown(Shutdown::Both);
    }
}
