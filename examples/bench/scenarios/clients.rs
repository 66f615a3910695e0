//! Many clients at once on one path, the paths taking turns block by block; flat out, or each
//! client paced.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use crate::client::Client;
use crate::scenarios::{Turn, next_turn, wait_turn};
use crate::stats::Samples;
use crate::target::Target;

/// `clients` clients at once, all on one path for a block of time, the paths taking turns
/// block by block; the first round is a warm-up. Without `pace` each client sends its next
/// request as soon as it has the answer; with it, each client sends one request every `pace`
/// (spread out over the clients) and a latency counts from when the request was due.
pub fn concurrent(
    targets: &[Target],
    clients: usize,
    block: Duration,
    rounds: usize,
    pace: Option<Duration>,
) -> Vec<Samples> {
    let n = targets.len();
    let barrier = Arc::new(Barrier::new(clients + 1));
    let current = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let recording = Arc::new(AtomicBool::new(false));
    const DONE: usize = usize::MAX;
    let mut elapsed = vec![Duration::ZERO; n];
    let mut counts = vec![0usize; n];
    let results: Vec<Vec<Samples>> = thread::scope(|scope| {
        let turn: Arc<Turn> = Arc::default();
        let handles: Vec<_> = (0..clients)
            .map(|i| {
                let (barrier, current, stop, recording, turn) = (
                    Arc::clone(&barrier),
                    Arc::clone(&current),
                    Arc::clone(&stop),
                    Arc::clone(&recording),
                    Arc::clone(&turn),
                );
                thread::Builder::new()
                    .stack_size(256 * 1024)
                    .spawn_scoped(scope, move || {
                        let mut conns: Vec<Client> =
                            targets.iter().map(|t| Client::new(t.addr)).collect();
                        let mut samples = vec![Samples::default(); n];
                        // Connections are opened one client after the other (see `wait_turn`).
                        wait_turn(&turn, i);
                        for (conn, target) in conns.iter_mut().zip(targets) {
                            let _ = conn.exchange(&target.whole);
                        }
                        next_turn(&turn);
                        loop {
                            barrier.wait();
                            let j = current.load(Ordering::SeqCst);
                            if j == DONE {
                                break;
                            }
                            let record = recording.load(Ordering::SeqCst);
                            let mut due = Instant::now()
                                + pace.map_or(Duration::ZERO, |p| p * i as u32 / clients as u32);
                            while !stop.load(Ordering::Relaxed) {
                                let t0 = match pace {
                                    Some(p) => {
                                        let now = Instant::now();
                                        if due > now {
                                            thread::sleep(due - now);
                                        }
                                        let t = due;
                                        due += p;
                                        t
                                    }
                                    None => Instant::now(),
                                };
                                let result = conns[j].exchange(&targets[j].whole);
                                let took = t0.elapsed();
                                samples[j].sent += 1;
                                if !record {
                                    continue;
                                }
                                match result {
                                    Ok(200) => samples[j].push(took),
                                    Ok(status) => samples[j].error(format!(
                                        "{status}: {}",
                                        String::from_utf8_lossy(&conns[j].body)
                                    )),
                                    Err(e) => samples[j].error(e.to_string()),
                                }
                            }
                            barrier.wait();
                        }
                        samples
                    })
                    .expect("client thread")
            })
            .collect();
        for round in 0..=rounds {
            for k in 0..n {
                let j = (round + k) % n;
                current.store(j, Ordering::SeqCst);
                recording.store(round > 0, Ordering::SeqCst);
                stop.store(false, Ordering::SeqCst);
                barrier.wait();
                let t0 = Instant::now();
                let length = if round == 0 { block / 2 } else { block };
                thread::sleep(length);
                stop.store(true, Ordering::SeqCst);
                barrier.wait();
                if round > 0 {
                    elapsed[j] += t0.elapsed();
                    counts[j] += 1;
                }
            }
        }
        current.store(DONE, Ordering::SeqCst);
        barrier.wait();
        handles
            .into_iter()
            .map(|h| h.join().expect("client"))
            .collect()
    });
    let mut merged = vec![Samples::default(); n];
    for per_client in results {
        for (j, s) in per_client.into_iter().enumerate() {
            merged[j].us.extend(s.us);
            merged[j].sent += s.sent;
            merged[j].errors += s.errors;
            if merged[j].first_error.is_none() {
                merged[j].first_error = s.first_error;
            }
        }
    }
    for (j, m) in merged.iter_mut().enumerate() {
        m.rate = Some(m.us.len() as f64 / elapsed[j].as_secs_f64());
    }
    merged
}
