//! The concurrency limit on upstream chat calls: at most `limit` permits out at once, handed
//! to waiters strictly in arrival order, each waiter giving up after a timeout.
//!
//! A released slot is handed straight to the oldest waiter, and only that waiter is woken
//! (each waits on a condition variable of its own), so a busy proxy does not wake every
//! waiter for every slot. A [`Permit`] is released when it is dropped, so every path out of
//! a call (success, error, client gone, panic unwinding) gives its slot back. The limiter never
//! sleeps while holding its lock and survives a poisoned mutex.

use crate::util::sync::{lock, wait_timeout};
use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

#[derive(Debug)]
pub struct Limiter {
    /// Guards the counts and the queue of waiters.
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    limit: usize,
    /// Slots taken, including those handed to a waiter that has not woken up yet.
    in_flight: usize,
    /// At most this many calls wait; more are refused at once.
    max_waiting: usize,
    /// Waiting calls, oldest first.
    queue: VecDeque<Arc<Waiter>>,
}

/// One waiting call: woken alone when a slot is handed to it.
#[derive(Debug, Default)]
struct Waiter {
    /// Set (under the limiter's lock) when a slot has been handed to this waiter.
    granted: std::sync::atomic::AtomicBool,
    wake: Condvar,
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
        let mut state = self.limiter.state();
        state.in_flight -= 1;
        state.hand_out();
    }
}

impl State {
    /// Hands free slots to the oldest waiters and wakes each of them.
    fn hand_out(&mut self) {
        while self.in_flight < self.limit {
            let Some(waiter) = self.queue.pop_front() else {
                break;
            };
            self.in_flight += 1;
            waiter
                .granted
                .store(true, std::sync::atomic::Ordering::SeqCst);
            waiter.wake.notify_one();
        }
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
            }),
        })
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic elsewhere never leaves the counts half-updated (each update happens under
        // the lock without a call that could panic), so a poisoned lock is still consistent.
        lock(&self.state)
    }

    /// Waits for a slot in arrival order, for at most `timeout`.
    pub fn acquire(self: &Arc<Self>, timeout: Duration) -> Result<Permit, Refused> {
        let start = Instant::now();
        let mut state = self.state();
        let permit = || Permit {
            limiter: Arc::clone(self),
        };
        if state.queue.is_empty() && state.in_flight < state.limit {
            state.in_flight += 1;
            return Ok(permit());
        }
        if state.queue.len() >= state.max_waiting {
            return Err(Refused::QueueFull {
                waiting: state.queue.len(),
            });
        }
        let me = Arc::new(Waiter::default());
        state.queue.push_back(Arc::clone(&me));
        loop {
            if me.granted.load(std::sync::atomic::Ordering::SeqCst) {
                return Ok(permit());
            }
            let waited = start.elapsed();
            if waited >= timeout {
                state.queue.retain(|w| !Arc::ptr_eq(w, &me));
                return Err(Refused::TimedOut {
                    waited,
                    limit: state.limit,
                });
            }
            state = wait_timeout(&me.wake, state, timeout - waited);
        }
    }

    /// Changes the limit; calls in flight keep their slots, waiters get new ones at once.
    pub fn set_limit(&self, limit: usize) {
        let mut state = self.state();
        state.limit = limit.max(1);
        state.hand_out();
    }

    pub fn usage(&self) -> Usage {
        let state = self.state();
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
