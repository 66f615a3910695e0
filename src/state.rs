//! The state every request handler shares: the configuration, the upstream client, the
//! concurrency limiter, the model catalog, what has been seen of each model, the key pool,
//! today's attempt history, and debug mode's statistics and captures. Built once at start and passed as `Arc<AppState>`; nothing here is
//! global.

use std::sync::Arc;
use std::time::Instant;

use crate::capture::Captures;
use crate::catalog::Catalog;
use crate::config::Config;
use crate::key_pool::KeyPool;
use crate::limiter::Limiter;
use crate::model_health::ModelHealth;
use crate::retry_rule::AttemptHistory;
use crate::stats::Stats;
use crate::upstream::Upstream;

pub struct AppState {
    pub config: Config,
    pub upstream: Upstream,
    pub limiter: Arc<Limiter>,
    pub catalog: Catalog,
    pub health: ModelHealth,
    pub keys: Arc<KeyPool>,
    pub history: AttemptHistory,
    pub stats: Arc<Stats>,
    pub captures: Arc<Captures>,
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
        let mut secrets = config.keys.clone();
        secrets.extend(config.proxy_api_key.clone());
        let captures = Captures::new(
            config.cache_dir.join("captures"),
            config.capture_max_files,
            config.capture_max_days,
            &secrets,
        );
        Ok(Arc::new(AppState {
            stats: Arc::new(Stats::new(&config.cache_dir)),
            captures: Arc::new(captures),
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

    /// Debug mode is on while the `DEBUG_MODE_FILE` exists; checked on every call, so creating
    /// or deleting it takes effect at once.
    pub fn debug_mode(&self) -> bool {
        self.config.debug_mode_file.exists()
    }

    /// Where a call's record goes, when debug mode is on.
    pub fn debug_sinks(&self) -> Option<(Arc<Stats>, Arc<Captures>)> {
        self.debug_mode()
            .then(|| (Arc::clone(&self.stats), Arc::clone(&self.captures)))
    }

    /// A key to read public upstream data (`/models`) with, if any is configured.
    pub fn any_key(&self) -> Option<&str> {
        self.keys.secrets().first().map(|k| &**k)
    }
}
