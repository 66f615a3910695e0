//! The threads that serve connections, reused. A job (a new connection, or a parked one
//! whose client spoke again) goes to an idle thread when there is one, else to a new thread.
//! At most [`MAX_IDLE`] threads wait for work; one more that runs out of work ends at once,
//! and a waiting one ends after [`IDLE_LIFETIME`], so the pool grows with the load and
//! shrinks after it (an ended thread gives its stack back). Stacks are small: the work on
//! them is shallow (JSON is parsed with serde_json's depth limit).

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crate::util::sync::{lock, wait_timeout};

/// How long an idle thread waits for work before it ends.
pub(crate) const IDLE_LIFETIME: Duration = Duration::from_secs(10);
/// Threads kept waiting for work at most.
pub(crate) const MAX_IDLE: usize = 16;
/// Stack size of a connection thread.
pub(crate) const STACK_SIZE: usize = 512 * 1024;

/// What a thread does with a job.
pub(crate) type Work<J> = Arc<dyn Fn(J) + Send + Sync>;

pub(crate) struct Pool<J> {
    /// Jobs handed over and not yet taken, and how many threads wait for one.
    state: Mutex<State<J>>,
    ready: Condvar,
    work: Work<J>,
}

struct State<J> {
    queue: VecDeque<J>,
    idle: usize,
    threads: usize,
}

impl<J: Send + 'static> Pool<J> {
    pub(crate) fn new(work: Work<J>) -> Arc<Pool<J>> {
        Arc::new(Pool {
            state: Mutex::new(State {
                queue: VecDeque::new(),
                idle: 0,
                threads: 0,
            }),
            ready: Condvar::new(),
            work,
        })
    }

    /// Hands a job to an idle thread, or to a new one. Fails only when no thread can be
    /// started (the job is then dropped).
    pub(crate) fn submit(self: &Arc<Self>, job: J) -> std::io::Result<()> {
        let mut state = lock(&self.state);
        if state.idle > state.queue.len() {
            state.queue.push_back(job);
            self.ready.notify_one();
            return Ok(());
        }
        state.threads += 1;
        drop(state);
        let pool = Arc::clone(self);
        let spawned = thread::Builder::new()
            .name("conn".into())
            .stack_size(STACK_SIZE)
            .spawn(move || pool.run(job));
        if spawned.is_err() {
            lock(&self.state).threads -= 1;
        }
        spawned.map(drop)
    }

    /// A thread's life: do a job, wait for the next, end when idle threads are plenty or
    /// after a long idle spell.
    fn run(&self, first: J) {
        let mut job = first;
        loop {
            (self.work)(job);
            let mut state = lock(&self.state);
            if state.idle >= MAX_IDLE && state.queue.is_empty() {
                state.threads -= 1;
                return;
            }
            state.idle += 1;
            let since = Instant::now();
            loop {
                if let Some(next) = state.queue.pop_front() {
                    state.idle -= 1;
                    job = next;
                    break;
                }
                let left = IDLE_LIFETIME.saturating_sub(since.elapsed());
                if left.is_zero() {
                    state.idle -= 1;
                    state.threads -= 1;
                    return;
                }
                state = wait_timeout(&self.ready, state, left);
            }
        }
    }

    /// Threads alive now (working or idle).
    #[cfg(test)]
    pub(crate) fn threads(&self) -> usize {
        lock(&self.state).threads
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn threads_are_reused_for_later_jobs() {
        let done = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&done);
        let pool = Pool::new(Arc::new(move |_job: u32| {
            counter.fetch_add(1, Ordering::SeqCst);
        }));
        for i in 0..20 {
            pool.submit(i).unwrap();
            while done.load(Ordering::SeqCst) <= i as usize {
                thread::yield_now();
            }
            // Let the thread get back to waiting before the next job comes.
            while lock(&pool.state).idle == 0 {
                thread::yield_now();
            }
        }
        assert_eq!(pool.threads(), 1, "one thread did them one after another");
    }

    #[test]
    fn idle_threads_beyond_the_cap_end_at_once() {
        let gate = Arc::new((Mutex::new(false), Condvar::new()));
        let wait = Arc::clone(&gate);
        let pool = Pool::new(Arc::new(move |_job: u32| {
            let (open, opened) = &*wait;
            let mut open = lock(open);
            while !*open {
                open = opened.wait(open).unwrap();
            }
        }));
        for i in 0..(MAX_IDLE as u32 + 10) {
            pool.submit(i).unwrap();
        }
        *lock(&gate.0) = true;
        gate.1.notify_all();
        let deadline = Instant::now() + Duration::from_secs(5);
        while pool.threads() > MAX_IDLE && Instant::now() < deadline {
            thread::yield_now();
        }
        assert_eq!(pool.threads(), MAX_IDLE);
    }
}
