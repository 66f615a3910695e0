//! What the proxy has seen of each model: its recent outcomes, its latency, and whether it is
//! cooling down after a rate limit or an outage. The automatic choice ranks models by this.

use crate::util::sync::lock;
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How many recent outcomes count toward a model's success rate.
const WINDOW: usize = 20;
/// Models remembered at most: with paid models allowed a client may name any string, and each
/// would otherwise stay in memory. The catalog has a few hundred models.
const MAX_MODELS: usize = 2048;

#[derive(Default)]
pub struct ModelHealth {
    /// Per model id.
    stats: Mutex<HashMap<String, Stats>>,
}

#[derive(Default, Clone)]
struct Stats {
    /// When this model's record last changed, to forget the stalest first.
    touched: Option<Instant>,
    /// Most recent last; true for success.
    outcomes: VecDeque<bool>,
    /// Smoothed latency of successful calls, in milliseconds.
    latency_ms: Option<f64>,
    cooling_until: Option<Instant>,
}

/// A model's health as the ranking and the panel see it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Health {
    /// Recent successes over attempts, smoothed so that an unseen model sits at 0.5.
    pub success_rate: f64,
    pub latency_ms: Option<f64>,
    pub cooling_until: Option<Instant>,
    pub attempts: usize,
    pub successes: usize,
}

impl Health {
    pub const UNSEEN: Health = Health {
        success_rate: 0.5,
        latency_ms: None,
        cooling_until: None,
        attempts: 0,
        successes: 0,
    };

    pub fn cooling(&self, now: Instant) -> bool {
        self.cooling_until.is_some_and(|t| t > now)
    }
}

impl ModelHealth {
    fn update(&self, model: &str, f: impl FnOnce(&mut Stats)) {
        let mut stats = lock(&self.stats);
        if !stats.contains_key(model) && stats.len() >= MAX_MODELS {
            // Forget the model seen longest ago, unless it is resting (a cooldown must hold).
            let now = Instant::now();
            let stalest = stats
                .iter()
                .filter(|(_, s)| s.cooling_until.is_none_or(|t| t <= now))
                .min_by_key(|(_, s)| s.touched)
                .map(|(id, _)| id.clone());
            if let Some(id) = stalest {
                stats.remove(&id);
            }
        }
        let entry = stats.entry(model.to_string()).or_default();
        entry.touched = Some(Instant::now());
        f(entry);
    }

    pub fn record_success(&self, model: &str, latency: Duration) {
        self.update(model, |s| {
            push(&mut s.outcomes, true);
            let ms = latency.as_secs_f64() * 1000.0;
            s.latency_ms = Some(match s.latency_ms {
                Some(old) => old * 0.7 + ms * 0.3,
                None => ms,
            });
            s.cooling_until = None;
        });
    }

    /// Records a failure; `cooldown` keeps the model out of automatic choices for that long.
    pub fn record_failure(&self, model: &str, cooldown: Option<Duration>) {
        self.update(model, |s| {
            push(&mut s.outcomes, false);
            if let Some(d) = cooldown {
                let until = Instant::now() + d;
                s.cooling_until = Some(s.cooling_until.map_or(until, |t| t.max(until)));
            }
        });
    }

    pub fn get(&self, model: &str) -> Health {
        let stats = lock(&self.stats);
        stats.get(model).map_or(Health::UNSEEN, view)
    }
}

fn push(outcomes: &mut VecDeque<bool>, ok: bool) {
    if outcomes.len() == WINDOW {
        outcomes.pop_front();
    }
    outcomes.push_back(ok);
}

fn view(s: &Stats) -> Health {
    let successes = s.outcomes.iter().filter(|ok| **ok).count();
    Health {
        // Laplace smoothing: one success in one try ranks above an unseen model, below ten in ten.
        success_rate: (successes as f64 + 1.0) / (s.outcomes.len() as f64 + 2.0),
        latency_ms: s.latency_ms,
        cooling_until: s.cooling_until,
        attempts: s.outcomes.len(),
        successes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn success_rates_are_smoothed_and_recent() {
        let h = ModelHealth::default();
        assert_eq!(h.get("m").success_rate, 0.5);
        h.record_success("m", Duration::from_millis(100));
        assert!(h.get("m").success_rate > 0.5);
        for _ in 0..WINDOW {
            h.record_failure("m", None);
        }
        assert_eq!(h.get("m").attempts, WINDOW);
        assert!(h.get("m").success_rate < 0.1);
    }

    #[test]
    fn the_models_remembered_are_bounded() {
        let h = ModelHealth::default();
        h.record_failure("resting", Some(Duration::from_secs(600)));
        for i in 0..MAX_MODELS + 500 {
            h.record_success(&format!("client-sent-{i}"), Duration::from_millis(1));
        }
        assert_eq!(lock(&h.stats).len(), MAX_MODELS);
        assert!(
            h.get("resting").cooling(Instant::now()),
            "a cooldown survives"
        );
        assert_eq!(
            h.get("client-sent-0").attempts,
            0,
            "the stalest were forgotten"
        );
        assert_eq!(
            h.get(&format!("client-sent-{}", MAX_MODELS + 499)).attempts,
            1
        );
    }

    #[test]
    fn cooldowns_end_and_success_clears_them() {
        let h = ModelHealth::default();
        h.record_failure("m", Some(Duration::from_secs(60)));
        assert!(h.get("m").cooling(Instant::now()));
        assert!(!h.get("m").cooling(Instant::now() + Duration::from_secs(61)));
        h.record_success("m", Duration::from_millis(5));
        assert!(!h.get("m").cooling(Instant::now()));
    }
}
