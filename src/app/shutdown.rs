//! Clean shutdown: Ctrl-C, SIGTERM, or the daemon supervisor's request. The server stops
//! taking requests, calls in flight get up to `SHUTDOWN_GRACE` to finish, the key counts are
//! saved, and the process exits 0.

use crate::util::sync::{lock, wait_timeout};
use std::sync::{Condvar, Mutex};
use std::time::Duration;

#[derive(Default)]
pub struct Shutdown {
    /// Set once when shutting down was asked for.
    asked: Mutex<bool>,
    changed: Condvar,
}

impl Shutdown {
    /// Asks for a shutdown (from a signal handler thread, or the admin route).
    pub fn ask(&self) {
        *lock(&self.asked) = true;
        self.changed.notify_all();
    }

    pub fn asked(&self) -> bool {
        *lock(&self.asked)
    }

    /// Blocks until a shutdown is asked for.
    pub fn wait(&self) {
        let mut asked = lock(&self.asked);
        while !*asked {
            asked = wait_timeout(&self.changed, asked, Duration::from_secs(3600));
        }
    }
}
