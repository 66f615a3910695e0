//! The state every request handler shares: the configuration, the upstream client, the
//! concurrency limiter, the model catalog, what has been seen of each model, the key pool and
//! today's attempt history. Built once at start and passed as `Arc<AppState>`; nothing here is
//! global.

use std::sync::Arc;
use std::time::Instant;

use crate::catalog::Catalog;
use crate::config::Config;
use crate::key_pool::KeyPool;
use crate::limiter::Limiter;
use crate::model_health::ModelHealth;
use crate::retry_rule::AttemptHistory;
use crate::upstream::Upstream;

pub struct AppState {
    pub config: Config,
    pub upstream: Upstream,
    pub limiter: Arc<Limiter>,
    pub catalog: Catalog,
    pub health: ModelHealth,
    pub keys: Arc<KeyPool>,
    pub history: AttemptHistory,
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
        let keys = KeyPool::start(
            &config.keys,
            config.strategy,
            config.free_daily_limit,
            &config.cache_dir,
        );
        Ok(Arc::new(AppState {
            catalog: Catalog::new(&config.cache_dir),
            health: ModelHealth::default(),
            history: AttemptHistory::default(),
            keys,
            config,
            upstream,
            limiter,
            started: Instant::now(),
        }))
    }

    /// A key to read public upstream data (`/models`) with, if any is configured.
    pub fn any_key(&self) -> Option<&str> {
        self.keys.secrets().first().map(|k| &**k)
    }
}
