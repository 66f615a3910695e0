//! The concurrency limit on upstream chat calls: at most `limit` permits out at once, handed
//! to waiters strictly in arrival order, each waiter giving up after a timeout.
//!
//! A [`Permit`] is released when it is dropped, so every path out of a call (success, error,
//! client gone, panic unwinding) gives its slot back. The limiter never sleeps while holding
//! its lock and survives a poisoned mutex.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

#[derive(Debug)]
pub struct Limiter {
    /// Guards the counts and the queue of waiting tickets.
    state: Mutex<State>,
    /// Signalled whenever a permit is released or the head of the queue changes.
    changed: Condvar,
}

#[derive(Debug)]
struct State {
    limit: usize,
    in_flight: usize,
    /// At most this many calls wait; more are refused at once.
    max_waiting: usize,
    /// Tickets of waiting calls, oldest first.
    queue: VecDeque<u64>,
    next_ticket: u64,
}

/// Why a permit was not granted.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    /// Waited the whole timeout without reaching the front.
    TimedOut { waited: Duration, limit: usize },
    /// The queue was full on arrival.
    QueueFull { waiting: usize },
}

/// A snapshot for `/health` and the debug panel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    pub limit: usize,
    pub in_flight: usize,
    pub waiting: usize,
}

/// One upstream slot, held for the whole call (a stream included) and released on drop.
#[derive(Debug)]
pub struct Permit {
    limiter: Arc<Limiter>,
}

impl Drop for Permit {
    fn drop(&mut self) {
        let mut state = self.limiter.lock();
        state.in_flight -= 1;
        drop(state);
        self.limiter.changed.notify_all();
    }
}

impl Limiter {
    pub fn new(limit: usize, max_waiting: usize) -> Arc<Limiter> {
        Arc::new(Limiter {
            state: Mutex::new(State {
                limit: limit.max(1),
                in_flight: 0,
                max_waiting,
                queue: VecDeque::new(),
                next_ticket: 0,
            }),
            changed: Condvar::new(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic elsewhere never leaves the counts half-updated (each update is one statement),
        // so a poisoned lock is still consistent.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits for a slot in arrival order, for at most `timeout`.
    pub fn acquire(self: &Arc<Self>, timeout: Duration) -> Result<Permit, Refused> {
        let start = Instant::now();
        let mut state = self.lock();
        if state.queue.is_empty() && state.in_flight < state.limit {
            state.in_flight += 1;
            return Ok(Permit {
                limiter: Arc::clone(self),
            });
        }
        if state.queue.len() >= state.max_waiting {
            return Err(Refused::QueueFull {
                waiting: state.queue.len(),
            });
        }
        let ticket = state.next_ticket;
        state.next_ticket += 1;
        state.queue.push_back(ticket);
        loop {
            if state.queue.front() == Some(&ticket) && state.in_flight < state.limit {
                state.queue.pop_front();
                state.in_flight += 1;
                drop(state);
                // The next in line may be able to go too (the limit may have grown).
                self.changed.notify_all();
                return Ok(Permit {
                    limiter: Arc::clone(self),
                });
            }
            let waited = start.elapsed();
            if waited >= timeout {
                state.queue.retain(|t| *t != ticket);
                let limit = state.limit;
                drop(state);
                self.changed.notify_all();
                return Err(Refused::TimedOut { waited, limit });
            }
            state = self
                .changed
                .wait_timeout(state, timeout - waited)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// Changes the limit; calls in flight keep their slots, waiters see the new limit at once.
    pub fn set_limit(&self, limit: usize) {
        self.lock().limit = limit.max(1);
        self.changed.notify_all();
    }

    pub fn usage(&self) -> Usage {
        let state = self.lock();
        Usage {
            limit: state.limit,
            in_flight: state.in_flight,
            waiting: state.queue.len(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::thread;

    #[test]
    fn grants_up_to_the_limit_then_waits() {
        let limiter = Limiter::new(2, 10);
        let a = limiter.acquire(Duration::ZERO).unwrap();
        let _b = limiter.acquire(Duration::ZERO).unwrap();
        let refused = limiter.acquire(Duration::from_millis(20)).unwrap_err();
        assert!(matches!(refused, Refused::TimedOut { limit: 2, .. }));
        assert_eq!(
            limiter.usage().waiting,
            0,
            "a timed-out waiter leaves the queue"
        );
        drop(a);
        assert!(limiter.acquire(Duration::ZERO).is_ok());
    }

    #[test]
    fn waiters_are_served_in_arrival_order() {
        let limiter = Limiter::new(1, 10);
        let first = limiter.acquire(Duration::ZERO).unwrap();
        let (tx, rx) = mpsc::channel();
        let mut handles = Vec::new();
        for i in 0..4 {
            let (mine, tx) = (Arc::clone(&limiter), tx.clone());
            handles.push(thread::spawn(move || {
                let permit = mine.acquire(Duration::from_secs(10)).unwrap();
                tx.send(i).unwrap();
                thread::sleep(Duration::from_millis(5));
                drop(permit);
            }));
            // Let each thread join the queue before the next one.
            while limiter.usage().waiting <= i {
                thread::yield_now();
            }
        }
        drop(first);
        for h in handles {
            h.join().unwrap();
        }
        let order: Vec<usize> = rx.try_iter().collect();
        assert_eq!(order, vec![0, 1, 2, 3]);
    }

    #[test]
    fn a_full_queue_refuses_at_once() {
        let limiter = Limiter::new(1, 0);
        let _held = limiter.acquire(Duration::ZERO).unwrap();
        assert_eq!(
            limiter.acquire(Duration::from_secs(10)).unwrap_err(),
            Refused::QueueFull { waiting: 0 }
        );
    }

    #[test]
    fn a_panic_releases_the_permit() {
        let limiter = Limiter::new(1, 10);
        let l2 = Arc::clone(&limiter);
        let result = thread::spawn(move || {
            let _permit = l2.acquire(Duration::ZERO).unwrap();
            panic!("handler failed");
        })
        .join();
        assert!(result.is_err());
        assert_eq!(limiter.usage().in_flight, 0);
    }

    #[test]
    fn raising_the_limit_wakes_waiters() {
        let limiter = Limiter::new(1, 10);
        let _held = limiter.acquire(Duration::ZERO).unwrap();
        let l2 = Arc::clone(&limiter);
        let waiter = thread::spawn(move || l2.acquire(Duration::from_secs(10)).is_ok());
        while limiter.usage().waiting == 0 {
            thread::yield_now();
        }
        limiter.set_limit(2);
        assert!(waiter.join().unwrap());
    }
}
