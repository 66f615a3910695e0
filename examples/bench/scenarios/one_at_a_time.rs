//! One request at a time, each round taking every path once in a random order.

use std::time::{Duration, Instant};

use crate::client::Client;
use crate::scenarios::Rng;
use crate::stats::Samples;
use crate::target::Target;

/// One request at a time, each round taking every path once in a random order.
pub fn sequential(targets: &[Target], warmup: usize, rounds: usize) -> Vec<Samples> {
    let mut conns: Vec<Client> = targets.iter().map(|t| Client::new(t.addr)).collect();
    let mut samples = vec![Samples::default(); targets.len()];
    let n = targets.len();
    let mut spent = vec![Duration::ZERO; n];
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for round in 0..warmup + rounds {
        for j in rng.order(n) {
            let t0 = Instant::now();
            let result = conns[j].exchange(&targets[j].whole);
            let took = t0.elapsed();
            samples[j].sent += 1;
            if round < warmup {
                continue;
            }
            match result {
                Ok(200) => {
                    samples[j].push(took);
                    spent[j] += took;
                }
                Ok(status) => samples[j].error(format!(
                    "{status}: {}",
                    String::from_utf8_lossy(&conns[j].body)
                )),
                Err(e) => samples[j].error(e.to_string()),
            }
        }
    }
    for (j, s) in samples.iter_mut().enumerate() {
        s.rate = Some(s.us.len() as f64 / spent[j].as_secs_f64());
        let reconnects: usize = conns[j].reconnects;
        if reconnects > 0 {
            eprintln!(
                "  note: {} reopened its connection {reconnects} times",
                targets[j].label
            );
        }
    }
    samples
}
