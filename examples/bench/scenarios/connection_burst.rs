//! Keep-alive connections opened all at once to a fresh proxy: are they all answered?

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Duration;

use crate::client::Conn;

/// Opens `count` keep-alive connections at once, each asking `GET /health` and then staying
/// open; returns how many were answered within 3 s.
pub fn burst_check(addr: SocketAddr, count: usize) -> (usize, usize) {
    let answered = Arc::new(AtomicUsize::new(0));
    let release = Arc::new(Barrier::new(count + 1));
    let handles: Vec<_> = (0..count)
        .map(|_| {
            let (answered, release) = (Arc::clone(&answered), Arc::clone(&release));
            thread::spawn(move || {
                let mut conn = Conn::new(addr);
                conn.timeout = Duration::from_secs(3);
                let req = format!("GET /health HTTP/1.1\r\nHost: {addr}\r\n\r\n");
                if let Ok(200) = conn.exchange(req.as_bytes()) {
                    answered.fetch_add(1, Ordering::SeqCst);
                }
                let held = conn.io.take();
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
