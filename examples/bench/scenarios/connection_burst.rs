//! Keep-alive connections opened all at once to a fresh proxy: are they all answered?

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Duration;

use openrouter_proxy::Conn;

use crate::client::Client;

/// Opens `count` keep-alive connections at once, each asking `GET /health` and then staying
/// open; returns how many were answered within 3 s.
pub fn burst_check(addr: SocketAddr, count: usize) -> (usize, usize) {
    let answered = Arc::new(AtomicUsize::new(0));
    let release = Arc::new(Barrier::new(count + 1));
    let handles: Vec<_> = (0..count)
        .map(|_| {
            let (answered, release) = (Arc::clone(&answered), Arc::clone(&release));
            thread::spawn(move || {
                let mut conn = Client::new(addr);
                conn.timeout = Duration::from_secs(3);
                let req = Conn::request_bytes("GET", "/health", &[], b"");
                if let Ok(200) = conn.exchange(&req) {
                    answered.fetch_add(1, Ordering::SeqCst);
                }
                let held = conn.take_connection();
                release.wait();
                drop(held);
            })
        })
        .collect();
    release.wait();
    for h in handles {
        let _ = h.join();
    }
    (answered.load(Ordering::SeqCst), count)
}
