//! Keep-alive connections that have gone quiet wait here, without a thread.
//!
//! A connection's thread answers a request and then waits `LINGER` (connection.rs) for the next one, so a
//! client that sends request after request is served by the same thread with no hand-off.
//! When the connection stays quiet longer, its thread parks it here and goes back to the
//! pool (or ends, which gives its stack back to the system: a thread that served a chat call
//! keeps about 36 KiB of stack resident, 36 MB for a thousand idle connections). One thread
//! waits on every parked socket at once (epoll or kqueue, through mio); when a client sends
//! its next request, its connection is handed to a pool thread again, and when it stays quiet
//! until `KEEPALIVE_TIMEOUT` it is closed here.
//!
//! Unix only: elsewhere (Windows) a quiet connection keeps its thread until
//! `KEEPALIVE_TIMEOUT`, as a connection with a request in flight always does.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Instant;

use super::connection::Conn;
use super::pool::Pool;
use crate::util::sync::lock;

/// The longest the parking thread sleeps between looks at the deadlines.
#[cfg(unix)]
const SWEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// The connections parked now, by connection id, with when each must close.
#[derive(Default)]
struct Parked {
    conns: HashMap<u64, (Conn, Instant)>,
    deadlines: BTreeSet<(Instant, u64)>,
}

pub(crate) struct Parker {
    parked: Mutex<Parked>,
    /// The registry of the poll the parking thread waits on (thread-safe).
    #[cfg(unix)]
    registry: mio::Registry,
    /// Where a connection goes when its client speaks again.
    pool: OnceLock<Weak<Pool<super::Job>>>,
}

impl Parker {
    /// Starts the parking thread; `None` where the platform has no way to wait on many
    /// sockets at once without unsafe code (then threads keep their connections).
    #[cfg(unix)]
    pub(crate) fn start() -> Option<Arc<Parker>> {
        let poll = mio::Poll::new()
            .map_err(|e| log::warn!("quiet connections keep their threads: {e}"))
            .ok()?;
        let registry = poll.registry().try_clone().ok()?;
        let parker = Arc::new(Parker {
            parked: Mutex::new(Parked::default()),
            registry,
            pool: OnceLock::new(),
        });
        let weak = Arc::downgrade(&parker);
        std::thread::Builder::new()
            .name("park".into())
            .stack_size(super::pool::STACK_SIZE)
            .spawn(move || watch(poll, &weak))
            .ok()?;
        Some(parker)
    }

    #[cfg(not(unix))]
    pub(crate) fn start() -> Option<Arc<Parker>> {
        None
    }

    /// Sets the pool that resumed connections go to.
    pub(crate) fn serve_with(&self, pool: &Arc<Pool<super::Job>>) {
        let _ = self.pool.set(Arc::downgrade(pool));
    }

    /// Parks `conn` until its client speaks or `deadline`; gives it back when it cannot.
    pub(crate) fn park(&self, conn: Conn, deadline: Instant) -> Result<(), Conn> {
        let id = conn.id();
        #[cfg(unix)]
        let fd = {
            use std::os::fd::AsRawFd;
            conn.stream().as_raw_fd()
        };
        {
            let mut parked = lock(&self.parked);
            parked.deadlines.insert((deadline, id));
            parked.conns.insert(id, (conn, deadline));
        }
        #[cfg(unix)]
        {
            use mio::unix::SourceFd;
            let registered = self.registry.register(
                &mut SourceFd(&fd),
                mio::Token(id as usize),
                mio::Interest::READABLE,
            );
            if let Err(e) = registered {
                log::debug!("cannot park a connection: {e}");
                // Nothing can have resumed it (it was never in the poll): hand it back.
                return match self.take(id) {
                    Some(conn) => Err(conn),
                    None => Ok(()),
                };
            }
        }
        Ok(())
    }

    /// Takes a parked connection out (and out of the poll).
    #[cfg_attr(not(unix), allow(dead_code))]
    fn take(&self, id: u64) -> Option<Conn> {
        let conn = {
            let mut parked = lock(&self.parked);
            let (conn, deadline) = parked.conns.remove(&id)?;
            parked.deadlines.remove(&(deadline, id));
            conn
        };
        #[cfg(unix)]
        {
            use mio::unix::SourceFd;
            use std::os::fd::AsRawFd;
            let fd = conn.stream().as_raw_fd();
            let _ = self.registry.deregister(&mut SourceFd(&fd));
        }
        Some(conn)
    }

    /// Resumes a connection whose client sent something (or closed it).
    #[cfg_attr(not(unix), allow(dead_code))]
    fn resume(&self, id: u64) {
        let Some(conn) = self.take(id) else {
            return;
        };
        let pool = self.pool.get().and_then(Weak::upgrade);
        match pool {
            Some(pool) => {
                if let Err(e) = pool.submit(super::Job::Resume(conn)) {
                    log::warn!("cannot start a thread for a connection: {e}");
                }
            }
            None => conn.close(false),
        }
    }

    /// Closes the connections whose keep-alive time is over; returns when the next one is due.
    #[cfg_attr(not(unix), allow(dead_code))]
    fn close_expired(&self, now: Instant) -> Option<Instant> {
        loop {
            let due = {
                let parked = lock(&self.parked);
                match parked.deadlines.first() {
                    Some(&(deadline, id)) if deadline <= now => id,
                    Some(&(deadline, _)) => return Some(deadline),
                    None => return None,
                }
            };
            if let Some(conn) = self.take(due) {
                conn.close(false);
            }
        }
    }
}

/// The parking thread: waits on every parked socket, resumes the ones that speak, closes the
/// ones whose time is over. Ends when the server is gone.
#[cfg(unix)]
fn watch(mut poll: mio::Poll, parker: &Weak<Parker>) {
    let mut events = mio::Events::with_capacity(256);
    let mut wait = SWEEP_EVERY;
    loop {
        if let Err(e) = poll.poll(&mut events, Some(wait)) {
            if e.kind() != std::io::ErrorKind::Interrupted {
                log::warn!("the wait on quiet connections failed: {e}");
                std::thread::sleep(SWEEP_EVERY);
            }
            continue;
        }
        let Some(parker) = parker.upgrade() else {
            return;
        };
        for event in events.iter() {
            parker.resume(event.token().0 as u64);
        }
        let now = Instant::now();
        wait = parker
            .close_expired(now)
            .map_or(SWEEP_EVERY, |next| next.saturating_duration_since(now))
            .min(SWEEP_EVERY);
    }
}
