//! The threads that serve connections: one per open connection, reused. A new connection
//! goes to an idle thread when there is one, else to a new thread; a thread idle for
//! [`IDLE_LIFETIME`] ends, so the pool grows with the load and shrinks after it. Stacks are
//! small (the work on them is shallow: JSON is parsed with serde_json's depth limit).

use std::collections::VecDeque;
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::Duration;

use crate::util::sync::{lock, wait_timeout};

/// How long an idle thread waits for a connection before it ends.
pub(crate) const IDLE_LIFETIME: Duration = Duration::from_secs(10);
/// Stack size of a connection thread.
pub(crate) const STACK_SIZE: usize = 512 * 1024;

/// What a thread does with a connection.
pub(crate) type Work = Arc<dyn Fn(TcpStream, SocketAddr) + Send + Sync>;

pub(crate) struct Pool {
    /// Connections handed over and not yet taken, and how many threads wait for one.
    state: Mutex<State>,
    ready: Condvar,
    work: Work,
}

#[derive(Default)]
struct State {
    queue: VecDeque<(TcpStream, SocketAddr)>,
    idle: usize,
    threads: usize,
}

impl Pool {
    pub fn new(work: Work) -> Arc<Pool> {
        Arc::new(Pool {
            state: Mutex::new(State::default()),
            ready: Condvar::new(),
            work,
        })
    }

    /// Hands a connection to an idle thread, or to a new one. Fails only when no thread can
    /// be started (the connection is then dropped by the caller).
    pub fn submit(self: &Arc<Self>, conn: TcpStream, peer: SocketAddr) -> std::io::Result<()> {
        let mut state = lock(&self.state);
        if state.idle > state.queue.len() {
            state.queue.push_back((conn, peer));
            self.ready.notify_one();
            return Ok(());
        }
        state.threads += 1;
        drop(state);
        let pool = Arc::clone(self);
        let spawned = thread::Builder::new()
            .name("conn".into())
            .stack_size(STACK_SIZE)
            .spawn(move || pool.run(Some((conn, peer))));
        if spawned.is_err() {
            lock(&self.state).threads -= 1;
        }
        spawned.map(drop)
    }

    /// A thread's life: serve a connection, wait for the next, end after a long idle spell.
    fn run(&self, first: Option<(TcpStream, SocketAddr)>) {
        let mut next = first;
        loop {
            if let Some((conn, peer)) = next.take() {
                (self.work)(conn, peer);
            }
            let mut state = lock(&self.state);
            state.idle += 1;
            loop {
                if let Some(conn) = state.queue.pop_front() {
                    state.idle -= 1;
                    next = Some(conn);
                    break;
                }
                let (after, timed_out) = {
                    let before = std::time::Instant::now();
                    let s = wait_timeout(&self.ready, state, IDLE_LIFETIME);
                    (s, before.elapsed() >= IDLE_LIFETIME)
                };
                state = after;
                if timed_out && state.queue.is_empty() {
                    state.idle -= 1;
                    state.threads -= 1;
                    return;
                }
            }
        }
    }

    /// Threads alive now (serving or idle).
    #[cfg(test)]
    pub fn threads(&self) -> usize {
        lock(&self.state).threads
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn threads_are_reused_for_later_connections() {
        let served = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&served);
        let pool = Pool::new(Arc::new(move |_conn, _peer| {
            counter.fetch_add(1, Ordering::SeqCst);
        }));
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        for i in 0..20 {
            let _client = TcpStream::connect(addr).unwrap();
            let (conn, peer) = listener.accept().unwrap();
            pool.submit(conn, peer).unwrap();
            while served.load(Ordering::SeqCst) <= i {
                thread::yield_now();
            }
            // Let the thread get back to waiting before the next connection comes.
            while lock(&pool.state).idle == 0 {
                thread::yield_now();
            }
        }
        assert_eq!(
            pool.threads(),
            1,
            "one thread served them one after another"
        );
    }
}
