//! The state every request handler shares: the configuration, the upstream client, the
//! concurrency limiter and the model list cache. Built once at start and passed as
//! `Arc<AppState>`; nothing here is global.

use std::sync::Arc;
use std::time::Instant;

use crate::config::Config;
use crate::limiter::Limiter;
use crate::models::ModelList;
use crate::upstream::Upstream;

pub struct AppState {
    pub config: Config,
    pub upstream: Upstream,
    pub limiter: Arc<Limiter>,
    pub models: ModelList,
    pub started: Instant,
}

impl AppState {
    pub fn new(config: Config) -> Result<Arc<AppState>, String> {
        let upstream = Upstream::new(&config)?;
        // Waiting calls hold worker threads; leave a few workers free for /health and errors.
        let max_waiting = config
            .worker_threads
            .get()
            .saturating_sub(config.max_concurrent.get() + 2);
        let limiter = Limiter::new(config.max_concurrent.get(), max_waiting);
        Ok(Arc::new(AppState {
            config,
            upstream,
            limiter,
            models: ModelList::default(),
            started: Instant::now(),
        }))
    }
}
