//! Clean shutdown: Ctrl-C, SIGTERM, or the daemon supervisor's request. The server stops
//! taking requests, calls in flight get up to `SHUTDOWN_GRACE` to finish, the key counts are
//! saved, and the process exits 0.

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
        *self.asked.lock().unwrap_or_else(|e| e.into_inner()) = true;
        self.changed.notify_all();
    }

    pub fn asked(&self) -> bool {
        *self.asked.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Blocks until a shutdown is asked for.
    pub fn wait(&self) {
        let mut asked = self.asked.lock().unwrap_or_else(|e| e.into_inner());
        while !*asked {
            asked = self
                .changed
                .wait_timeout(asked, Duration::from_secs(3600))
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
}
