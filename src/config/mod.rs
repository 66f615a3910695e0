//! Configuration in two stages: raw strings from `.env` and the process environment, then a
//! validated [`Config`] with typed fields.
//!
//! The real environment wins over the file. Nothing here calls `std::env::set_var`: the file is
//! parsed into a map so that it can be read again later without touching process state.
//! Every validation error names the variable and the value it refused.

use std::fmt;
use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::time::Duration;

use crate::util::secret::{mask_key, mask_secret, mask_url};

pub(crate) mod env_edit;
mod raw;
mod validate;
mod values;

pub use raw::RawSettings;
pub(crate) use values::{RetryPolicy, Strategy};

/// The OpenRouter API all calls go to unless `OPENROUTER_BASE_URL` says otherwise.
pub(crate) const DEFAULT_BASE_URL: &str = "https://openrouter.ai/api/v1";
pub(crate) const DEFAULT_REFERER: &str = "https://github.com/openrouter-proxy/openrouter-proxy";

/// Every setting the proxy reads. `.env.example` and the README's configuration table
/// document each one (a test keeps them in step).
pub(crate) const SETTINGS: &[&str] = &[
    "OPENROUTER_API_KEY",
    "OPENROUTER_API_KEYS",
    "LOAD_BALANCE_STRATEGY",
    "FREE_DAILY_LIMIT",
    "ALLOW_PAID_MODELS",
    "FREE_MODEL_PREFERENCE",
    "RETRY_POLICY",
    "MODEL_COOLDOWN",
    "CATALOG_REFRESH",
    "SMART_MAX_TOKENS",
    "MAX_TOKENS_MARGIN",
    "SHUTDOWN_GRACE",
    "BODY_TIMEOUT",
    "DEBUG_MODE_FILE",
    "CAPTURE_MAX_FILES",
    "CAPTURE_MAX_DAYS",
    "CAPTURE_MAX_BYTES",
    "STATS_MAX_DAYS",
    "OPENROUTER_BASE_URL",
    "HOST",
    "PORT",
    "CACHE_DIR",
    "MAX_CONCURRENT_REQUESTS",
    "QUEUE_TIMEOUT",
    "HTTP_PROXY",
    "PROXY_API_KEY",
    "ADMIN_PASSWORD",
    "HTTP_REFERER",
    "X_TITLE",
    "UPSTREAM_CONNECT_TIMEOUT",
    "UPSTREAM_RESPONSE_TIMEOUT",
    "UPSTREAM_IDLE_TIMEOUT",
    "MAX_BODY_BYTES",
    "MAX_CONNECTIONS",
    "HEADER_TIMEOUT",
    "KEEPALIVE_TIMEOUT",
    "ALLOWED_HOSTS",
    "CORS_ORIGINS",
    "LOG_LEVEL",
];

/// The validated configuration. Built once at start; cheap to share behind an `Arc`.
#[derive(Clone)]
pub struct Config {
    /// Every OpenRouter key: `OPENROUTER_API_KEY` first, then `OPENROUTER_API_KEYS`, no repeats.
    pub keys: Vec<String>,
    pub strategy: Strategy,
    /// Free-model calls a key may make per UTC day when `GET /key` does not say.
    pub free_daily_limit: u32,
    pub allow_paid_models: bool,
    pub model_preference: Vec<String>,
    pub retry_policy: RetryPolicy,
    /// How long a model that was rate limited or down is skipped, when OpenRouter gives no time.
    pub model_cooldown: Duration,
    pub catalog_refresh: Duration,
    /// Fill in and cap `max_tokens` from the model's limits, counting the prompt.
    pub smart_max_tokens: bool,
    /// Tokens kept free on top of a tenth of the prompt, when sizing the answer.
    pub max_tokens_margin: u64,
    /// How long a request body may take to arrive.
    pub body_timeout: Duration,
    /// How long calls in flight may take to finish when the proxy is asked to stop.
    pub shutdown_grace: Duration,
    /// Debug mode is on while this file exists.
    pub debug_mode_file: PathBuf,
    pub capture_max_files: usize,
    pub capture_max_days: u32,
    /// The captures folder's size at most (oldest deleted first).
    pub capture_max_bytes: u64,
    /// Days the daily statistics and call logs are kept.
    pub stats_max_days: u32,
    /// Without a trailing slash.
    pub base_url: String,
    pub listen: SocketAddr,
    pub cache_dir: PathBuf,
    pub max_concurrent: NonZeroUsize,
    pub queue_timeout: Duration,
    pub http_proxy: Option<String>,
    pub proxy_api_key: Option<String>,
    /// What the console's API (`/admin/api/*`) needs as a Bearer token; without it,
    /// `PROXY_API_KEY` guards the console, and without either only this machine may use it.
    pub admin_password: Option<String>,
    /// The `.env` file these settings were read from (or would be, when it does not exist
    /// yet): the file the console edits when a key is added or removed. `None` for settings
    /// built without a file (tests).
    pub env_file: Option<PathBuf>,
    pub http_referer: String,
    pub x_title: String,
    pub connect_timeout: Duration,
    pub response_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_body_bytes: u64,
    /// Open client connections at most; one more gets 503 at once.
    pub max_connections: usize,
    /// How long a request's line and headers may take to arrive.
    pub header_timeout: Duration,
    /// How long an idle keep-alive connection stays open.
    pub keepalive_timeout: Duration,
    /// Extra `Host` names the proxy answers to (lower case; `*` turns the check off).
    pub allowed_hosts: Vec<String>,
    /// Origins of web pages allowed to call the proxy (lower case; `*` allows any).
    pub cors_origins: Vec<String>,
    /// How much the log says: error, warn, info (one line per request) or debug.
    pub log_level: log::LevelFilter,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Hand-written so that a key can never reach a log through `{:?}`.
        f.debug_struct("Config")
            .field(
                "keys",
                &self.keys.iter().map(|k| mask_key(k)).collect::<Vec<_>>(),
            )
            .field("strategy", &self.strategy)
            .field("free_daily_limit", &self.free_daily_limit)
            .field("allow_paid_models", &self.allow_paid_models)
            .field("model_preference", &self.model_preference)
            .field("retry_policy", &self.retry_policy)
            .field("model_cooldown", &self.model_cooldown)
            .field("catalog_refresh", &self.catalog_refresh)
            .field("debug_mode_file", &self.debug_mode_file)
            .field("base_url", &self.base_url)
            .field("listen", &self.listen)
            .field("cache_dir", &self.cache_dir)
            .field("max_concurrent", &self.max_concurrent)
            .field("queue_timeout", &self.queue_timeout)
            .field("http_proxy", &self.http_proxy.as_deref().map(mask_url))
            .field(
                "proxy_api_key",
                &self.proxy_api_key.as_deref().map(mask_secret),
            )
            .field(
                "admin_password",
                &self.admin_password.as_deref().map(mask_secret),
            )
            .field("env_file", &self.env_file)
            .field("connect_timeout", &self.connect_timeout)
            .field("response_timeout", &self.response_timeout)
            .field("idle_timeout", &self.idle_timeout)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("max_connections", &self.max_connections)
            .field("header_timeout", &self.header_timeout)
            .field("keepalive_timeout", &self.keepalive_timeout)
            .field("allowed_hosts", &self.allowed_hosts)
            .field("cors_origins", &self.cors_origins)
            .field("log_level", &self.log_level)
            .finish_non_exhaustive()
    }
}

/// A setting that could not be used: which variable, what value, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub var: String,
    pub value: String,
    pub reason: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.value.is_empty() {
            write!(f, "{}: {}", self.var, self.reason)
        } else {
            write!(f, "{}={:?}: {}", self.var, self.value, self.reason)
        }
    }
}

impl std::error::Error for ConfigError {}
