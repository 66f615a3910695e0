//! The measurements, one per file: each drives clients against a list of paths and returns
//! samples; none writes the report. What they share is here: the random order of paths,
//! clients taking turns to connect, and waiting for the fake to go quiet.

pub mod clients;
pub mod connection_burst;
pub mod held_streams;
pub mod idle_burst;
pub mod idle_connections;
pub mod one_at_a_time;
pub mod request_costs;
pub mod streaming;
pub mod token_counting;

use std::thread;
use std::time::{Duration, Instant};

use openrouter_proxy::demo::FakeUpstream;

/// A small deterministic generator for the order of the paths in each round.
pub struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// 0..n in a random order.
    pub fn order(&mut self, n: usize) -> Vec<usize> {
        let mut v: Vec<usize> = (0..n).collect();
        for i in (1..n).rev() {
            v.swap(i, (self.next() % (i as u64 + 1)) as usize);
        }
        v
    }
}

/// Waits until it is client `i`'s turn to open its connections. The clients of a concurrent
/// run open their connections one after the other, each waiting for its first answer, so that
/// the run measures requests, not connection set-up (the idle-burst run measures that).
pub fn wait_turn(turn: &Turn, i: usize) {
    let mut now = turn.0.lock().unwrap_or_else(|e| e.into_inner());
    while *now < i {
        now = turn.1.wait(now).unwrap_or_else(|e| e.into_inner());
    }
}

/// Whose turn it is, and a signal when that changes.
pub type Turn = (std::sync::Mutex<usize>, std::sync::Condvar);

pub fn next_turn(turn: &Turn) {
    *turn.0.lock().unwrap_or_else(|e| e.into_inner()) += 1;
    turn.1.notify_all();
}

/// Waits until the fake has no chat call in flight (a stream's last write included).
pub fn wait_fake_idle(fake: &FakeUpstream) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while fake.active() > 0 && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(1));
    }
    thread::sleep(Duration::from_millis(1));
}

/// Waits (at most 10 s) until the streams left by stopped proxies have ended in the fake.
pub fn wait_fake_quiet(fake: &FakeUpstream) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while fake.active() > 0 && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(20));
    }
}
