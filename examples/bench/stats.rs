//! Latency samples and their percentiles.

use std::time::Duration;

/// Latencies of one path, in microseconds.
#[derive(Default, Clone)]
pub struct Samples {
    pub us: Vec<f64>,
    /// Requests sent, warm-up included.
    pub sent: usize,
    pub errors: usize,
    pub first_error: Option<String>,
    /// Requests per second, when measured.
    pub rate: Option<f64>,
}

impl Samples {
    pub fn push(&mut self, d: Duration) {
        self.us.push(d.as_secs_f64() * 1e6);
    }

    pub fn error(&mut self, what: String) {
        self.errors += 1;
        self.first_error.get_or_insert(what);
    }

    pub fn pct(&self, p: f64) -> f64 {
        percentile(&self.us, p)
    }
}

pub fn percentile(values: &[f64], p: f64) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * v.len() as f64).ceil() as usize;
    v[rank.clamp(1, v.len()) - 1]
}

pub fn ms(us: f64) -> String {
    if us.is_nan() {
        "n/a".into()
    } else if us.abs() >= 10_000.0 {
        format!("{:.1}", us / 1000.0)
    } else {
        format!("{:.3}", us / 1000.0)
    }
}
