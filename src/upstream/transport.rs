//! The sockets under the ureq agent: our own TCP transport in ureq's connector chain (HTTP
//! CONNECT proxy, then this, then rustls).
//!
//! It owns the three things ureq's own TCP transport cannot do for us. A wait on OpenRouter
//! looks at the client being served ([`client_watch`]) every [`POLL_EVERY`], and ends with an
//! error of its own type ([`is_client_gone`]) once that client has left, so that a client that
//! gave up holds no slot and spends no quota. A pooled connection is checked with one
//! non-blocking peek instead of three system calls. And what ureq asks to send is held back
//! until the transport is next asked to read (or the output buffer is nearly full), so that a
//! request's head and a small body leave in one write. This file and `client.rs` are the only
//! ones that use ureq; the transport API is outside ureq's semver promise, hence its exact pin
//! in Cargo.toml.

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use ureq::unversioned::transport::time::Duration as UreqDuration;
use ureq::unversioned::transport::{
    Buffers, ConnectProxyConnector, ConnectionDetails, Connector, Either, LazyBuffers, NextTimeout,
    RustlsConnector, ShutdownHandle, Transport,
};
use ureq::{Error, ProxyProtocol, Timeout};

use crate::api::client_watch::{self, POLL_EVERY};

/// The connector chain the agent uses: a CONNECT proxy when `HTTP_PROXY` names one, else a
/// direct socket; TLS on top for `https`.
pub(crate) fn connector() -> impl Connector {
    ().chain(ConnectProxyConnector::default())
        .chain(SocketConnector)
        .chain(RustlsConnector::default())
}

/// Whether an upstream read ended because the client being served went away (see
/// [`client_watch`]) rather than because OpenRouter failed.
pub(crate) fn is_client_gone(error: &io::Error) -> bool {
    error
        .get_ref()
        .is_some_and(|inner| inner.is::<ClientGone>())
}

/// The error inside the `io::Error` an upstream wait ends with when its client went away. Its
/// kind is `Other` on purpose: ureq reads `UnexpectedEof`, `ConnectionAborted` and
/// `ConnectionReset` during a body as the end of the body, and `TimedOut` is a real timeout.
#[derive(Debug)]
struct ClientGone;

impl fmt::Display for ClientGone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the client went away")
    }
}

impl std::error::Error for ClientGone {}

/// Opens plain TCP connections, to OpenRouter or to the CONNECT proxy.
#[derive(Debug)]
struct SocketConnector;

impl<In: Transport> Connector<In> for SocketConnector {
    type Out = Either<In, SocketTransport>;

    fn connect(
        &self,
        details: &ConnectionDetails,
        chained: Option<In>,
    ) -> Result<Option<Self::Out>, Error> {
        if let Some(tunnel) = chained {
            return Ok(Some(Either::A(tunnel)));
        }
        // ureq connects a SOCKS proxy only with a feature we do not build with; a direct
        // connection here would silently bypass the proxy the user configured.
        if let Some(proxy) = details.config.proxy()
            && !matches!(proxy.protocol(), ProxyProtocol::Http | ProxyProtocol::Https)
            && !proxy.is_no_proxy(details.uri)
        {
            return Err(Error::Io(io::Error::new(
                io::ErrorKind::Unsupported,
                "HTTP_PROXY names a SOCKS proxy, which this build cannot use; \
                 give an http:// or https:// proxy",
            )));
        }
        let stream = open(&details.addrs, details.timeout)?;
        let config = details.config;
        let transport = SocketTransport::new(
            stream,
            config.input_buffer_size(),
            config.output_buffer_size(),
        );
        (details.register_shutdown)(Arc::downgrade(&transport.stream) as Weak<dyn ShutdownHandle>)?;
        // Nagle's algorithm would only delay what we already send in as few writes as we can.
        transport.stream.set_nodelay(true)?;
        Ok(Some(Either::B(transport)))
    }
}

/// The shortest connection attempt worth making on one address.
const MIN_ATTEMPT: Duration = Duration::from_millis(10);

/// Connects to the first address that answers within the budget. Every address but the last
/// gets half the time left, so that one that never answers (an IPv6 address without a route,
/// say) still leaves time for the next.
fn open(addrs: &[SocketAddr], budget: NextTimeout) -> Result<TcpStream, Error> {
    let started = Instant::now();
    let total = remaining(budget)?;
    let mut last = None;
    for (i, addr) in addrs.iter().enumerate() {
        let attempt = match total {
            None => TcpStream::connect(addr),
            Some(total) => {
                let left = total.saturating_sub(started.elapsed());
                let share = if i + 1 < addrs.len() { left / 2 } else { left };
                TcpStream::connect_timeout(addr, share.max(MIN_ATTEMPT))
            }
        };
        match attempt {
            Ok(stream) => return Ok(stream),
            Err(e) if timed_out(&e) => last = Some(Error::Timeout(Timeout::Connect)),
            Err(e) if another_address_may_work(&e) => last = Some(Error::Io(e)),
            Err(e) => return Err(Error::Io(e)),
        }
        if total.is_some_and(|total| started.elapsed() >= total) {
            return Err(Error::Timeout(budget.reason));
        }
    }
    Err(last.unwrap_or_else(|| {
        Error::Io(io::Error::new(
            io::ErrorKind::ConnectionRefused,
            "no address to connect to",
        ))
    }))
}

/// Failures that concern one address only: it refused, or this machine has no route to it.
fn another_address_may_work(e: &io::Error) -> bool {
    use io::ErrorKind as K;
    matches!(
        e.kind(),
        K::ConnectionRefused
            | K::HostUnreachable
            | K::NetworkUnreachable
            | K::NetworkDown
            | K::AddrNotAvailable
    )
}

/// The time left in a ureq budget: `None` when it never runs out, a timeout error when it has.
fn remaining(timeout: NextTimeout) -> Result<Option<Duration>, Error> {
    match timeout.after {
        UreqDuration::NotHappening => Ok(None),
        UreqDuration::Exact(left) if left.is_zero() => Err(Error::Timeout(timeout.reason)),
        UreqDuration::Exact(left) => Ok(Some(left)),
    }
}

/// The time left until `deadline`: `None` without one, a timeout error once it has passed.
fn time_left(deadline: Option<Instant>, reason: Timeout) -> Result<Option<Duration>, Error> {
    match deadline.map(|at| at.saturating_duration_since(Instant::now())) {
        Some(left) if left.is_zero() => Err(Error::Timeout(reason)),
        left => Ok(left),
    }
}

/// Keep at least this much of the output buffer free for ureq's next piece; below it, what is
/// held goes out at once.
const MIN_ROOM: usize = 4 * 1024;

/// One upstream TCP connection as ureq's agent uses it (and pools it).
pub(crate) struct SocketTransport {
    /// Shared (weakly) with the agent's shutdown handle, which may shut it down from another
    /// thread; all I/O goes through `&TcpStream`.
    stream: Arc<TcpStream>,
    buffers: HeldBuffers,
    /// The socket's timeouts as last set, so that a system call is made only on a change.
    read_timeout: Option<Duration>,
    write_timeout: Option<Duration>,
    /// When the held output must have left (the earliest deadline of its pieces), and the
    /// timeout to report if it cannot.
    held_deadline: Option<Instant>,
    held_reason: Timeout,
    /// When the client being served was last looked at: input that keeps arriving (keep-alive
    /// comments before an answer begins) must not keep the proxy from noticing it left.
    client_seen: Instant,
}

/// ureq's lazily allocated buffers, with the output buffer handed out past the bytes held
/// back: ureq writes each piece after the previous one, and [`SocketTransport`] sends them
/// together.
struct HeldBuffers {
    inner: LazyBuffers,
    /// Bytes at the start of the output buffer that ureq has asked to send and that have not
    /// left yet.
    held: usize,
    size: usize,
}

impl Buffers for HeldBuffers {
    fn output(&mut self) -> &mut [u8] {
        let held = self.held;
        &mut self.inner.output()[held..]
    }

    fn input(&self) -> &[u8] {
        self.inner.input()
    }

    fn input_append_buf(&mut self) -> &mut [u8] {
        self.inner.input_append_buf()
    }

    fn input_appended(&mut self, amount: usize) {
        self.inner.input_appended(amount);
    }

    fn input_consume(&mut self, amount: usize) {
        self.inner.input_consume(amount);
    }

    fn tmp_and_output(&mut self) -> (&mut [u8], &mut [u8]) {
        let held = self.held;
        let (tmp, output) = self.inner.tmp_and_output();
        (tmp, &mut output[held..])
    }

    fn can_use_input(&self) -> bool {
        self.inner.can_use_input()
    }
}

impl SocketTransport {
    fn new(stream: TcpStream, input_size: usize, output_size: usize) -> SocketTransport {
        SocketTransport {
            stream: Arc::new(stream),
            buffers: HeldBuffers {
                inner: LazyBuffers::new(input_size, output_size),
                held: 0,
                size: output_size,
            },
            read_timeout: None,
            write_timeout: None,
            held_deadline: None,
            held_reason: Timeout::SendRequest,
            client_seen: Instant::now(),
        }
    }

    /// Sends what is held back, within the earliest write deadline among its pieces.
    fn send_held(&mut self) -> Result<(), Error> {
        let held = std::mem::take(&mut self.buffers.held);
        let deadline = self.held_deadline.take();
        if held == 0 {
            return Ok(());
        }
        let reason = self.held_reason;
        let wanted = time_left(deadline, reason)?;
        let stream = &*self.stream;
        set_timeout(&mut self.write_timeout, wanted, |t| {
            stream.set_write_timeout(t)
        })?;
        let bytes = &self.buffers.inner.output()[..held];
        match (&*self.stream).write_all(bytes) {
            Ok(()) => Ok(()),
            Err(e) if timed_out(&e) => Err(Error::Timeout(reason)),
            Err(e) => Err(Error::Io(e)),
        }
    }
}

impl Transport for SocketTransport {
    fn buffers(&mut self) -> &mut dyn Buffers {
        &mut self.buffers
    }

    /// Holds the piece back: it leaves with the next read, or now when the buffer is nearly
    /// full. A write error therefore shows when the answer is awaited, which ureq reports the
    /// same way.
    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), Error> {
        let timeout = timeout.for_write();
        if let Some(left) = remaining(timeout)? {
            let at = Instant::now() + left;
            if self.held_deadline.is_none_or(|held| at < held) {
                self.held_deadline = Some(at);
                self.held_reason = timeout.reason;
            }
        }
        self.buffers.held += amount;
        if self.buffers.size.saturating_sub(self.buffers.held) < MIN_ROOM {
            self.send_held()?;
        }
        Ok(())
    }

    /// Sends what is held, then waits for input: in one read with the whole timeout when no
    /// client is watched, else in slices of [`POLL_EVERY`], asking between them whether the
    /// client is still there.
    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, Error> {
        self.send_held()?;
        let timeout = timeout.for_read();
        let deadline = remaining(timeout)?.map(|left| Instant::now() + left);
        let watching = client_watch::watching();
        loop {
            let left = time_left(deadline, timeout.reason)?;
            let wait = if watching {
                Some(left.map_or(POLL_EVERY, |left| left.min(POLL_EVERY)))
            } else {
                left
            };
            let stream = &*self.stream;
            set_timeout(&mut self.read_timeout, wait, |t| stream.set_read_timeout(t))?;
            let input = self.buffers.inner.input_append_buf();
            match (&*self.stream).read(input) {
                Ok(amount) => {
                    self.buffers.inner.input_appended(amount);
                    if watching && self.client_seen.elapsed() >= POLL_EVERY {
                        self.client_seen = Instant::now();
                        if client_watch::client_gone() {
                            return Err(Error::Io(io::Error::other(ClientGone)));
                        }
                    }
                    return Ok(amount > 0);
                }
                // A slice ended, or a signal cut it short: the deadline is checked at the top.
                Err(e) if wait.is_some() && (timed_out(&e) || interrupted(&e)) => {
                    self.client_seen = Instant::now();
                    if watching && client_watch::client_gone() {
                        if deadline.is_some_and(|at| Instant::now() >= at) {
                            return Err(Error::Timeout(timeout.reason));
                        }
                        return Err(Error::Io(io::Error::other(ClientGone)));
                    }
                }
                Err(e) => return Err(Error::Io(e)),
            }
        }
    }

    /// Nothing held back, and nothing to read: the server neither closed the connection nor
    /// sent bytes nobody asked for.
    fn is_open(&mut self) -> bool {
        self.buffers.held == 0 && idle_and_open(&self.stream)
    }
}

fn timed_out(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
    )
}

fn interrupted(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::Interrupted
}

/// How much longer than asked a kept socket timeout may let a wait run.
const OVERSHOOT: Duration = Duration::from_millis(5);

/// Sets a socket timeout unless the one it has is close enough. Each request's budget is a few
/// microseconds off the last one's, and a system call per request for that would be waste: a
/// timeout kept a little short ends a wait early and [`SocketTransport::await_input`] waits
/// again for the rest; one kept a little long overshoots by at most [`OVERSHOOT`].
fn set_timeout(
    current: &mut Option<Duration>,
    wanted: Option<Duration>,
    set: impl FnOnce(Option<Duration>) -> io::Result<()>,
) -> io::Result<()> {
    let close_enough = match (*current, wanted) {
        (None, None) => true,
        (Some(now), Some(wanted)) => {
            now <= wanted.saturating_add(OVERSHOOT) && now >= wanted - wanted / 32
        }
        _ => false,
    };
    if !close_enough {
        set(wanted)?;
        *current = wanted;
    }
    Ok(())
}

/// Open and idle: a pooled connection with bytes nobody asked for, or closed, is not reused.
fn idle_and_open(stream: &TcpStream) -> bool {
    crate::util::net::peek(stream) == crate::util::net::Peek::Quiet
}

impl fmt::Debug for SocketTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SocketTransport")
            .field("peer", &self.stream.peer_addr().ok())
            .field("held", &self.buffers.held)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;
    use std::thread;

    /// A connected pair: our transport on one end, a plain socket on the other.
    fn pair() -> (SocketTransport, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let ours = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (theirs, _) = listener.accept().unwrap();
        (SocketTransport::new(ours, 64 * 1024, 16 * 1024), theirs)
    }

    fn within(secs: u64) -> NextTimeout {
        NextTimeout {
            after: UreqDuration::from_secs(secs),
            reason: Timeout::RecvResponse,
            per_read: None,
            per_write: None,
        }
    }

    /// Writes `bytes` into the output buffer as ureq does, and asks for them to be sent.
    fn transmit(transport: &mut SocketTransport, bytes: &[u8]) {
        transport.buffers().output()[..bytes.len()].copy_from_slice(bytes);
        transport.transmit_output(bytes.len(), within(5)).unwrap();
    }

    /// What the peer can read now, waiting `patience` for the first byte.
    fn readable(peer: &mut TcpStream, patience: Duration) -> Vec<u8> {
        peer.set_read_timeout(Some(patience)).unwrap();
        let mut buf = vec![0; 64 * 1024];
        match peer.read(&mut buf) {
            Ok(n) => buf[..n].to_vec(),
            Err(e) if timed_out(&e) => Vec::new(),
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn head_and_small_body_leave_together_when_the_answer_is_awaited() {
        let (mut transport, mut peer) = pair();
        let head = b"POST /api/v1/chat/completions HTTP/1.1\r\ncontent-length: 11\r\n\r\n";
        transmit(&mut transport, head);
        transmit(&mut transport, b"{\"a\":\"b\"}\r\n");
        assert!(
            readable(&mut peer, Duration::from_millis(100)).is_empty(),
            "nothing leaves before the answer is awaited"
        );
        let answer = thread::spawn(move || {
            let made_progress = transport.await_input(within(5)).unwrap();
            (made_progress, transport.buffers().input().to_vec())
        });
        let request = readable(&mut peer, Duration::from_secs(5));
        assert_eq!(
            request,
            [&head[..], b"{\"a\":\"b\"}\r\n"].concat(),
            "one read"
        );
        peer.write_all(b"HTTP/1.1 200 OK\r\n").unwrap();
        assert_eq!(
            answer.join().unwrap(),
            (true, b"HTTP/1.1 200 OK\r\n".to_vec())
        );
    }

    #[test]
    fn a_nearly_full_buffer_leaves_at_once() {
        let (mut transport, mut peer) = pair();
        let big = vec![b'x'; 16 * 1024 - MIN_ROOM + 1];
        transmit(&mut transport, &big);
        let mut arrived = Vec::new();
        while arrived.len() < big.len() {
            let more = readable(&mut peer, Duration::from_secs(5));
            assert!(!more.is_empty(), "the full buffer was held back");
            arrived.extend(more);
        }
        assert_eq!(arrived, big);
        assert_eq!(
            transport.buffers().output().len(),
            16 * 1024,
            "all room again"
        );
    }

    #[test]
    fn the_probe_tells_idle_from_closed_or_chatty() {
        let (mut transport, peer) = pair();
        assert!(transport.is_open());
        drop(peer);
        assert!(
            eventually(|| !transport.is_open()),
            "a closed connection looks open"
        );

        let (mut transport, mut peer) = pair();
        peer.write_all(b"HTTP/1.1 408 Request Timeout\r\n\r\n")
            .unwrap();
        assert!(
            eventually(|| !transport.is_open()),
            "unasked-for bytes look idle"
        );
        assert!(
            !transport.is_open(),
            "the probe only peeks: the bytes are still there"
        );
    }

    fn eventually(mut check: impl FnMut() -> bool) -> bool {
        let until = Instant::now() + Duration::from_secs(2);
        while Instant::now() < until {
            if check() {
                return true;
            }
            thread::sleep(Duration::from_millis(5));
        }
        false
    }

    #[test]
    fn socket_timeouts_change_only_when_they_change_enough() {
        let ms = Duration::from_millis;
        let cases = [
            // (the socket has, wanted, set again?)
            (None, None, false),
            (None, Some(ms(100)), true),
            (Some(ms(100)), None, true),
            (Some(ms(100)), Some(ms(100)), false),
            (Some(ms(30_000)), Some(ms(29_999)), false),
            (Some(ms(29_999)), Some(ms(30_000)), false),
            (Some(ms(30_010)), Some(ms(30_000)), true),
            (Some(ms(100)), Some(ms(40)), true),
            (Some(ms(40)), Some(ms(100)), true),
        ];
        for (has, wanted, expect_set) in cases {
            let mut current = has;
            let mut set = false;
            set_timeout(&mut current, wanted, |_| {
                set = true;
                Ok(())
            })
            .unwrap();
            assert_eq!(set, expect_set, "{has:?} -> {wanted:?}");
            if set {
                assert_eq!(current, wanted);
            }
        }
    }
}
