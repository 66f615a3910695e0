//! A look at a TCP connection without reading from it or waiting: has the peer closed it,
//! sent something, or nothing yet? The server asks this of a client before each upstream
//! call; on Unix it costs one system call (a non-blocking `MSG_PEEK`).

use std::io;
use std::net::TcpStream;

/// What a non-blocking peek found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Peek {
    /// The connection is open and nothing is waiting to be read.
    Quiet,
    /// Bytes are waiting (on a client connection: a pipelined request).
    Data,
    /// The peer closed the connection, or it failed.
    Closed,
}

/// Peeks at `stream` without blocking and without consuming anything.
pub(crate) fn peek(stream: &TcpStream) -> Peek {
    match peek_once(stream) {
        Ok(0) => Peek::Closed,
        Ok(_) => Peek::Data,
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Peek::Quiet,
        Err(e) if e.kind() == io::ErrorKind::Interrupted => Peek::Quiet,
        Err(_) => Peek::Closed,
    }
}

#[cfg(unix)]
fn peek_once(stream: &TcpStream) -> io::Result<usize> {
    let mut byte = [std::mem::MaybeUninit::<u8>::uninit(); 1];
    socket2::SockRef::from(stream).recv_with_flags(&mut byte, libc::MSG_PEEK | libc::MSG_DONTWAIT)
}

#[cfg(not(unix))]
fn peek_once(stream: &TcpStream) -> io::Result<usize> {
    // No per-call non-blocking flag here: switch the socket for the one peek.
    stream.set_nonblocking(true)?;
    let mut byte = [0u8; 1];
    let result = stream.peek(&mut byte);
    stream.set_nonblocking(false)?;
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::net::{Shutdown, TcpListener};

    #[test]
    fn a_peek_tells_quiet_data_and_closed_apart() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        assert_eq!(peek(&server), Peek::Quiet);
        client.write_all(b"x").unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while peek(&server) != Peek::Data && std::time::Instant::now() < deadline {}
        assert_eq!(peek(&server), Peek::Data, "peeking twice consumes nothing");
        assert_eq!(peek(&server), Peek::Data);
        drop(client);
        let mut buf = [0u8; 1];
        std::io::Read::read(&mut &server, &mut buf).unwrap();
        while peek(&server) != Peek::Closed && std::time::Instant::now() < deadline {}
        assert_eq!(peek(&server), Peek::Closed);
        let _ = server.shutdown(Shutdown::Both);
    }
}
