//! Many streams held open at once through one proxy: what they cost it in memory.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use openrouter_proxy::demo::{FakeUpstream, Script};

use crate::client::Client;
use crate::scenarios::{Turn, next_turn, wait_turn};
use crate::system::rss_mib;
use crate::target::Target;

/// Opens `count` streams through `target` at once, each held open by long gaps between its
/// events, and returns the proxy's resident memory once every client has its first event.
pub fn held_streams(
    fake: &FakeUpstream,
    target: &Target,
    pid: u32,
    count: usize,
    hold: Option<Duration>,
) -> Result<f64, String> {
    for _ in 0..count {
        fake.push(Script::stream_text(
            &["held ", "open "],
            Duration::from_secs(4),
        ));
    }
    let opened = Arc::new(AtomicUsize::new(0));
    let failures = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let release = Arc::new(Barrier::new(count + 1));
    let turn: Arc<Turn> = Arc::default();
    let mut handles = Vec::new();
    for i in 0..count {
        let (target, opened, failures, release, turn) = (
            target.clone(),
            Arc::clone(&opened),
            Arc::clone(&failures),
            Arc::clone(&release),
            Arc::clone(&turn),
        );
        handles.push(
            thread::Builder::new()
                .stack_size(128 * 1024)
                .spawn(move || {
                    let mut conn = Client::new(target.addr);
                    conn.timeout = Duration::from_secs(20);
                    let mut first = true;
                    // Streams are opened one after the other (see `wait_turn`).
                    wait_turn(&turn, i);
                    let result = conn.stream(&target.stream, &mut |_, _| {
                        if first {
                            first = false;
                            opened.fetch_add(1, Ordering::SeqCst);
                        }
                        false
                    });
                    next_turn(&turn);
                    if !matches!(result, Ok(200)) || first {
                        let what = match result {
                            Ok(status) => {
                                format!("{status}: {}", String::from_utf8_lossy(&conn.body))
                            }
                            Err(e) => e.to_string(),
                        };
                        failures
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .push(what);
                    }
                    // Hold the connection (the proxy keeps relaying) until measured.
                    let held = conn.take_connection();
                    release.wait();
                    drop(held);
                })
                .map_err(|e| e.to_string())?,
        );
    }
    let failed = || failures.lock().unwrap_or_else(|e| e.into_inner()).len();
    let deadline = Instant::now() + Duration::from_secs(30);
    while opened.load(Ordering::SeqCst) + failed() < count && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(10));
    }
    thread::sleep(Duration::from_millis(200));
    let rss = rss_mib(pid);
    if let Some(secs) = hold {
        eprintln!("bench: holding {count} streams to pid {pid} for {secs:?}");
        thread::sleep(secs);
    }
    let open = opened.load(Ordering::SeqCst);
    release.wait();
    for h in handles {
        let _ = h.join();
    }
    if open < count {
        let failures = failures.lock().unwrap_or_else(|e| e.into_inner());
        return Err(format!(
            "only {open} of {count} streams opened; failures: {:?}",
            &failures[..failures.len().min(5)]
        ));
    }
    Ok(rss)
}
