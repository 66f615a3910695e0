//! The state every request handler shares: the live settings (configuration, upstream client,
//! key pool, capture writer), the concurrency limiter, the model catalog, what has been seen
//! of each model, today's attempt history, and debug mode's statistics. Built once at start
//! and passed as `Arc<AppState>`; nothing here is global.
//!
//! A change of `.env` replaces the live settings whole (`reload`); a call takes one snapshot
//! of them when it starts and keeps it, so calls in flight finish with the settings they
//! started with. What the console disabled (`admin.json`) applies to every key pool and
//! catalog list from start, reload and change alike.

use std::collections::HashSet;
use std::io;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

use crate::app::admin_choices::{AdminChoices, Choices};
use crate::app::shutdown::Shutdown;
use crate::autopilot::catalog::Catalog;
use crate::autopilot::key_pool::KeyPool;
use crate::autopilot::limiter::Limiter;
use crate::autopilot::model_health::ModelHealth;
use crate::autopilot::retry_rule::AttemptHistory;
use crate::config::Config;
use crate::journal::capture::Captures;
use crate::journal::stats::Stats;
use crate::upstream::client::Upstream;
use crate::util::secret::Redactor;
use crate::util::sync::{lock, read, write};

/// The environment variable through which the daemon's supervisor hands its proxy a token for
/// `POST /admin/shutdown`.
pub(crate) const ADMIN_TOKEN_VAR: &str = "OPENROUTER_PROXY_ADMIN_TOKEN";

/// The settings a reload replaces together.
#[derive(Clone)]
pub struct Live {
    pub config: Arc<Config>,
    pub upstream: Arc<Upstream>,
    pub keys: Arc<KeyPool>,
    pub captures: Arc<Captures>,
    /// Masks every configured secret in text that came from elsewhere.
    pub redactor: Arc<Redactor>,
}

impl Live {
    /// The settings of `config`, with the keys in `keys_off` disabled.
    fn build(config: Config, keys_off: &HashSet<String>) -> Result<Live, String> {
        let upstream = Upstream::new(&config)?;
        let keys = KeyPool::start(
            &config.keys,
            config.strategy,
            config.free_daily_limit,
            &config.cache_dir,
            keys_off,
        );
        let redactor = Arc::new(Redactor::new(
            config
                .keys
                .iter()
                .chain(&config.proxy_api_key)
                .chain(&config.admin_password)
                .map(String::as_str),
        ));
        let captures = Captures::new(
            config.cache_dir.join("captures"),
            config.capture_max_files,
            config.capture_max_days,
            config.capture_max_bytes,
            Arc::clone(&redactor),
        );
        Ok(Live {
            config: Arc::new(config),
            upstream: Arc::new(upstream),
            keys,
            captures: Arc::new(captures),
            redactor,
        })
    }
}

pub struct AppState {
    /// Swapped whole by a reload; read once per call.
    live: RwLock<Live>,
    pub limiter: Arc<Limiter>,
    pub catalog: Catalog,
    pub health: ModelHealth,
    pub history: AttemptHistory,
    pub stats: Arc<Stats>,
    pub shutdown: Shutdown,
    /// The token `POST /admin/shutdown` needs; set only by the daemon's supervisor.
    pub admin_token: Option<String>,
    pub started: Instant,
    /// The keys and models the console disabled (`CACHE_DIR/admin.json`).
    pub(crate) admin: AdminChoices,
    /// Serializes what changes the key pool or the catalog's hidden models (a reload, a
    /// console choice), so the pool and list in use always carry the latest choices.
    changing: Mutex<()>,
    /// Held while the console edits `.env`, so two edits never overwrite each other.
    pub(crate) editing_env: Mutex<()>,
}

impl AppState {
    pub fn new(config: Config) -> Result<Arc<AppState>, String> {
        // A waiting call holds its connection, so MAX_CONNECTIONS already bounds the queue;
        // this bound only keeps a queue from growing past what could ever be served.
        let limiter = Limiter::new(config.max_concurrent.get(), config.max_connections);
        let stats = Arc::new(Stats::new(&config.cache_dir));
        let catalog = Catalog::new(&config.cache_dir);
        let admin = AdminChoices::load(&config.cache_dir);
        let choices = admin.get();
        catalog.set_disabled(choices.model_ids());
        Ok(Arc::new(AppState {
            live: RwLock::new(Live::build(config, &choices.key_ids())?),
            limiter,
            catalog,
            health: ModelHealth::default(),
            history: AttemptHistory::default(),
            stats,
            shutdown: Shutdown::default(),
            admin_token: std::env::var(ADMIN_TOKEN_VAR)
                .ok()
                .filter(|t| t.len() >= 16),
            started: Instant::now(),
            admin,
            changing: Mutex::new(()),
            editing_env: Mutex::new(()),
        }))
    }

    /// The live settings, as one consistent snapshot.
    pub fn live(&self) -> Live {
        read(&self.live).clone()
    }

    pub fn config(&self) -> Arc<Config> {
        Arc::clone(&read(&self.live).config)
    }

    pub fn keys(&self) -> Arc<KeyPool> {
        Arc::clone(&read(&self.live).keys)
    }

    /// Replaces the live settings with `config`; returns what needs a restart to change.
    pub fn reload(&self, config: Config) -> Result<Vec<&'static str>, String> {
        let _changing = lock(&self.changing);
        let old = self.config();
        let mut needs_restart = Vec::new();
        if config.listen != old.listen {
            needs_restart.push("HOST/PORT");
        }
        if config.cache_dir != old.cache_dir {
            needs_restart.push("CACHE_DIR");
        }
        // A reload reads the console's choices again too (the file may have been edited).
        self.admin.reload();
        let choices = self.admin.get();
        // The new pool starts from the file; the old pool then hands it what it counted
        // meanwhile, stops writing the file, and passes on what calls in flight tell it.
        let old_keys = self.keys();
        let live = Live::build(config, &choices.key_ids())?;
        self.catalog.set_disabled(choices.model_ids());
        old_keys.retire(&live.keys);
        self.limiter.set_limit(live.config.max_concurrent.get());
        *write(&self.live) = live;
        Ok(needs_restart)
    }

    /// Changes the console's choices (`admin.json`) and applies them at once to the key pool
    /// and the catalog.
    pub(crate) fn change_choices(&self, edit: impl FnOnce(&mut Choices)) -> io::Result<Choices> {
        let _changing = lock(&self.changing);
        let choices = self.admin.change(edit)?;
        self.keys().set_switched_off(&choices.key_ids());
        self.catalog.set_disabled(choices.model_ids());
        Ok(choices)
    }

    /// Debug mode is on while the `DEBUG_MODE_FILE` exists; checked on every call, so creating
    /// or deleting it takes effect at once.
    pub fn debug_mode(&self) -> bool {
        self.config().debug_mode_file.exists()
    }

    /// Where a call's record goes, when debug mode is on, with the settings of `live` (the
    /// call's one snapshot).
    pub fn debug_sinks(&self, live: &Live) -> Option<(Arc<Stats>, Arc<Captures>)> {
        live.config
            .debug_mode_file
            .exists()
            .then(|| (Arc::clone(&self.stats), Arc::clone(&live.captures)))
    }
}
