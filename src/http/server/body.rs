//! The request body as a handler reads it: decoded (by length or chunked) from the
//! connection's bytes as the handler asks for them, `100 Continue` sent on the first read when
//! the client waits for it, and the whole body due within `BODY_TIMEOUT` of that first read.

use std::io::{self, Read};
use std::time::{Duration, Instant};

use super::conn_io::ConnIo;
use super::protocol::BodyDecoder;

pub(crate) struct BodyReader<'c> {
    io: &'c mut ConnIo,
    decoder: &'c mut BodyDecoder,
    timeout: Duration,
    /// Set on the first read.
    deadline: Option<Instant>,
}

impl<'c> BodyReader<'c> {
    pub(super) fn new(io: &'c mut ConnIo, decoder: &'c mut BodyDecoder, timeout: Duration) -> Self {
        BodyReader {
            io,
            decoder,
            timeout,
            deadline: None,
        }
    }
}

impl Read for BodyReader<'_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if out.is_empty() {
            return Ok(0);
        }
        if self.decoder.expects_continue() {
            // The client waits for our go-ahead: the handler wants the body, so give it.
            let line = self.decoder.accept_continue();
            self.io.write_all(&line)?;
        }
        let deadline = *self
            .deadline
            .get_or_insert_with(|| Instant::now() + self.timeout);
        loop {
            if self.decoder.is_ended() {
                return Ok(0);
            }
            let (used, written) = self
                .decoder
                .decode(self.io.pending(), out)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
            self.io.consume(used);
            if written > 0 {
                return Ok(written);
            }
            if used > 0 {
                continue;
            }
            match self.io.fill(deadline) {
                Ok(0) => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the client closed the connection in the middle of the body",
                    ));
                }
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::TimedOut => {
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!(
                            "the request body did not arrive within {} s (BODY_TIMEOUT)",
                            self.timeout.as_secs_f64()
                        ),
                    ));
                }
                Err(e) => return Err(e),
            }
        }
    }
}
