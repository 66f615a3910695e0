//! The HTTP/1.1 server: a listening socket, an accept loop that never ends by itself, and a
//! thread per open connection (reused through a small pool) that reads each request, calls
//! the router and writes the reply, all on that one thread.
//!
//! Every limit has a number: `MAX_CONNECTIONS` open connections (a new one beyond them
//! closes the connection that has waited longest for a request, or, when all are busy, gets
//! `503` with `Retry-After` at once), 64 KiB and 128 headers per request head (`431`), 8 KiB per URL
//! (`414`), `HEADER_TIMEOUT` for a head (`408`), `KEEPALIVE_TIMEOUT` between requests,
//! `MAX_BODY_BYTES` and `BODY_TIMEOUT` for a body, and `UPSTREAM_IDLE_TIMEOUT` for a client
//! that stops reading. Request parsing is `ureq_proto`'s (`protocol.rs`); the framing rules it
//! leaves open are `framing.rs`'s.

mod body;
mod conn_io;
mod connection;
mod framing;
mod park;
mod pool;
mod protocol;
mod write;

use std::collections::BTreeMap;
use std::io::{self, Read};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crate::api::error::ApiError;
use crate::api::message::Body;
use crate::app::state::AppState;
use crate::util::sync::lock;
use conn_io::ConnIo;
use connection::Conn;
use park::Parker;
use pool::Pool;
use write::{Framing, write_full};

/// Connections refused for being over `MAX_CONNECTIONS` wait here for their 503; more than
/// this many at once are dropped without a word.
const REJECT_QUEUE: usize = 64;
/// How long the accept loop rests after a failed accept, at first and at most.
const ACCEPT_BACKOFF: (Duration, Duration) =
    (Duration::from_millis(10), Duration::from_millis(500));
/// A burst of failed accepts is logged once per this long.
const ACCEPT_LOG_EVERY: Duration = Duration::from_secs(10);

/// Connections waiting for a request head, by when they began to wait and their number.
pub(crate) type WaitingMap = Mutex<BTreeMap<(Instant, u64), Arc<TcpStream>>>;

/// What every connection thread shares.
pub(crate) struct Shared {
    pub state: Arc<AppState>,
    /// Connections open now (each holds one, given back when it is dropped).
    pub open: Arc<AtomicUsize>,
    /// Connections waiting for a request head (idle keep-alive, or a head still arriving),
    /// by when they began to wait: the first is the one to close when a new client comes
    /// and `MAX_CONNECTIONS` are open.
    pub waiting: Arc<WaitingMap>,
    /// Numbers connections, for `waiting`.
    pub next_id: AtomicU64,
    /// Requests being answered now.
    pub busy: AtomicUsize,
    /// Set when the server stops: connections close after their current request.
    pub stopping: AtomicBool,
    /// Where quiet keep-alive connections wait without a thread (Unix).
    pub parker: Option<Arc<Parker>>,
}

/// What a connection thread is given to do.
pub(crate) enum Job {
    /// A connection just accepted.
    New(TcpStream, SocketAddr),
    /// A parked connection whose client spoke again (Unix: elsewhere nothing is parked).
    #[cfg_attr(not(unix), allow(dead_code))]
    Resume(Conn),
}

impl Shared {
    /// Closes the connection that has waited longest for a request, to make room for a new
    /// client; false when every connection is busy with a request.
    fn close_longest_waiting(&self) -> bool {
        let Some((_, stream)) = lock(&self.waiting).pop_first() else {
            return false;
        };
        // Its thread, blocked reading, sees the end of the connection and closes it.
        let _ = stream.shutdown(Shutdown::Both);
        true
    }
}

/// A server accepting connections; dropping it does not stop it (see [`RunningServer::stop`]).
pub struct RunningServer {
    local_addr: SocketAddr,
    shared: Arc<Shared>,
    acceptor: JoinHandle<()>,
}

impl RunningServer {
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Blocks while the server runs (until it is stopped).
    pub fn wait(self) {
        let _ = self.acceptor.join();
    }

    /// Stops accepting, and waits at most `grace` for the requests being answered to finish.
    /// Returns whether they all did.
    pub fn stop(self, grace: Duration) -> bool {
        self.shared.stopping.store(true, Ordering::SeqCst);
        // The accept loop sleeps in accept(): a connection of our own wakes it.
        let _ = TcpStream::connect_timeout(&reachable(self.local_addr), Duration::from_secs(1));
        let _ = self.acceptor.join();
        let deadline = Instant::now() + grace;
        while self.shared.busy.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(20));
        }
        self.shared.busy.load(Ordering::SeqCst) == 0
    }
}

/// Binds the configured address and starts accepting.
pub(crate) fn start(state: Arc<AppState>) -> io::Result<RunningServer> {
    let config = state.config();
    let listener = listen(config.listen)?;
    let local_addr = listener.local_addr()?;
    let shared = Arc::new(Shared {
        state,
        open: Arc::new(AtomicUsize::new(0)),
        waiting: Arc::new(Mutex::new(BTreeMap::new())),
        next_id: AtomicU64::new(0),
        busy: AtomicUsize::new(0),
        stopping: AtomicBool::new(false),
        parker: Parker::start(),
    });
    let for_threads = Arc::clone(&shared);
    let pool = Pool::new(Arc::new(move |job| {
        let conn = match job {
            Job::New(stream, peer) => Conn::new(&for_threads, stream, peer),
            Job::Resume(conn) => conn,
        };
        connection::serve(&for_threads, conn);
    }));
    if let Some(parker) = &shared.parker {
        parker.serve_with(&pool);
    }
    let rejecter = spawn_rejecter()?;
    let for_acceptor = Arc::clone(&shared);
    let acceptor = thread::Builder::new()
        .name("accept".into())
        .spawn(move || accept_loop(&listener, &for_acceptor, &pool, &rejecter))?;
    Ok(RunningServer {
        local_addr,
        shared,
        acceptor,
    })
}

/// A listener with a backlog deep enough for bursts of clients.
fn listen(addr: SocketAddr) -> io::Result<TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    // On Windows SO_REUSEADDR would let a second process take the port; only set it elsewhere.
    #[cfg(unix)]
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    Ok(socket.into())
}

/// Accepts connections until the server stops. A failed accept (out of file descriptors,
/// out of memory, anything) is logged once per burst, and the loop rests a moment and goes
/// on: when descriptors free up, new clients are served again.
fn accept_loop(
    listener: &TcpListener,
    shared: &Shared,
    pool: &Arc<Pool<Job>>,
    rejecter: &SyncSender<TcpStream>,
) {
    let mut backoff = ACCEPT_BACKOFF.0;
    let mut burst: Option<(Instant, u64)> = None;
    loop {
        let accepted = listener.accept();
        if shared.stopping.load(Ordering::SeqCst) {
            return;
        }
        match accepted {
            Ok((stream, peer)) => {
                backoff = ACCEPT_BACKOFF.0;
                if let Some((_, failures)) = burst.take() {
                    log::warn!("accepting connections again after {failures} failed accept(s)");
                }
                let max = shared.state.config().max_connections;
                if shared.open.load(Ordering::SeqCst) >= max && !shared.close_longest_waiting() {
                    if let Err(mpsc::TrySendError::Full(stream)) = rejecter.try_send(stream) {
                        let _ = stream.shutdown(Shutdown::Both);
                    }
                    continue;
                }
                shared.open.fetch_add(1, Ordering::SeqCst);
                if let Err(e) = pool.submit(Job::New(stream, peer)) {
                    // The job, and with it the stream, is gone: it was never a `Conn`.
                    shared.open.fetch_sub(1, Ordering::SeqCst);
                    log::warn!("cannot start a thread for a connection: {e}");
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                match &mut burst {
                    Some((since, failures)) if since.elapsed() < ACCEPT_LOG_EVERY => *failures += 1,
                    _ => {
                        log::warn!(
                            "cannot accept a connection ({e}); retrying (too many open files? \
                             raise the limit with `ulimit -n`, or lower MAX_CONNECTIONS)"
                        );
                        burst = Some((Instant::now(), 1));
                    }
                }
                thread::sleep(backoff);
                backoff = (backoff * 2).min(ACCEPT_BACKOFF.1);
            }
        }
    }
}

/// A thread that answers connections beyond `MAX_CONNECTIONS` with a 503, so a full server
/// still answers at once and the accept loop never waits on a client.
fn spawn_rejecter() -> io::Result<SyncSender<TcpStream>> {
    let (tx, rx) = mpsc::sync_channel::<TcpStream>(REJECT_QUEUE);
    thread::Builder::new()
        .name("reject".into())
        .stack_size(pool::STACK_SIZE)
        .spawn(move || {
            for stream in rx {
                let stream = Arc::new(stream);
                let _ = stream.set_write_timeout(Some(Duration::from_millis(200)));
                let _ = stream.set_read_timeout(Some(Duration::from_millis(200)));
                let reply = ApiError::Unavailable {
                    status: 503,
                    code: "too_many_connections",
                    message: "the proxy has MAX_CONNECTIONS connections open already; try again \
                              in a moment, or raise MAX_CONNECTIONS in .env"
                        .into(),
                    retry_after: Some(1),
                }
                .into_reply();
                if let Body::Full(body) = &reply.body {
                    let io = ConnIo::new(Arc::clone(&stream));
                    let framing = Framing {
                        http10: false,
                        head_only: false,
                        keep_alive: false,
                    };
                    let _ = write_full(&io, reply.status, &reply.headers, body, framing);
                }
                let _ = stream.shutdown(Shutdown::Write);
                // Read what the client sent (a little, briefly) so that closing does not reset
                // the connection before it has read the answer.
                let mut sink = [0u8; 4096];
                for _ in 0..16 {
                    if !matches!((&*stream).read(&mut sink), Ok(n) if n > 0) {
                        break;
                    }
                }
            }
        })?;
    Ok(tx)
}

/// An address a local connection can reach: loopback in place of "any address".
fn reachable(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        ip if ip.is_unspecified() && ip.is_ipv4() => {
            SocketAddr::from(([127, 0, 0, 1], addr.port()))
        }
        ip if ip.is_unspecified() => SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, addr.port())),
        _ => addr,
    }
}
