//! New connections arriving all at once after an idle pause, and how long each waits.

use std::sync::Barrier;
use std::thread;
use std::time::{Duration, Instant};

use crate::client::Client;
use crate::scenarios::Rng;
use crate::stats::Samples;
use crate::target::Target;

/// Bursts of `count` new connections opened at once after `idle` with no request anywhere.
/// Each connection sends one request; its wait counts from when its client started (all are
/// released together) to its whole answer, connection set-up included. Each round pauses, then
/// bursts every path in a random order; connections stay open until the whole burst has been
/// answered, as keep-alive clients would keep them.
pub fn burst_after_idle(
    targets: &[Target],
    count: usize,
    idle: Duration,
    rounds: usize,
) -> Vec<Samples> {
    let mut samples = vec![Samples::default(); targets.len()];
    let mut rng = Rng(0x5851_f42d_4c95_7f2d);
    for _ in 0..rounds {
        thread::sleep(idle);
        for j in rng.order(targets.len()) {
            let target = &targets[j];
            let (start, done) = (Barrier::new(count + 1), Barrier::new(count + 1));
            let results: Vec<Result<Duration, String>> = thread::scope(|scope| {
                let handles: Vec<_> = (0..count)
                    .map(|_| {
                        let (start, done) = (&start, &done);
                        thread::Builder::new()
                            .stack_size(256 * 1024)
                            .spawn_scoped(scope, move || {
                                let mut conn = Client::new(target.addr);
                                conn.timeout = Duration::from_secs(10);
                                start.wait();
                                let t0 = Instant::now();
                                let result = match conn.exchange(&target.whole) {
                                    Ok(200) => Ok(t0.elapsed()),
                                    Ok(status) => Err(format!(
                                        "{status}: {}",
                                        String::from_utf8_lossy(&conn.body)
                                    )),
                                    Err(e) => Err(e.to_string()),
                                };
                                done.wait();
                                result
                            })
                            .expect("burst client thread")
                    })
                    .collect();
                start.wait();
                done.wait();
                handles
                    .into_iter()
                    .map(|h| h.join().expect("burst client"))
                    .collect()
            });
            for result in results {
                samples[j].sent += 1;
                match result {
                    Ok(took) => samples[j].push(took),
                    Err(e) => samples[j].error(e),
                }
            }
        }
    }
    samples
}
