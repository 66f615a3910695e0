//! The second stage of the configuration: every raw setting checked and typed into a
//! [`Config`]. Every error names the variable, the value it refused, and what it expects.

use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::values::{parse_bool, parse_duration, parse_host};
use super::{
    Config, ConfigError, DEFAULT_BASE_URL, DEFAULT_REFERER, RawSettings, RetryPolicy, Strategy,
};
use crate::util::secret::mask_url;

/// The longest duration any setting takes: a week.
const MAX_DURATION_SECS: u64 = 7 * 86_400;

impl RawSettings {
    /// Validates every setting into a [`Config`].
    pub fn validate(&self) -> Result<Config, ConfigError> {
        let host = self.get("HOST").unwrap_or("127.0.0.1");
        let ip = parse_host(host).ok_or_else(|| err("HOST", host, "not an IP address"))?;
        let port = self.parse_or("PORT", 5000u16, "a port number (0-65535)")?;
        let proxy_api_key = self.get("PROXY_API_KEY").map(str::to_string);
        let admin_password = self.get("ADMIN_PASSWORD").map(str::to_string);
        if !ip.is_loopback() && proxy_api_key.is_none() {
            // ADMIN_PASSWORD alone guards only the console: /v1 would still be open to all.
            return Err(err(
                "HOST",
                host,
                if admin_password.is_some() {
                    "listening beyond this machine needs PROXY_API_KEY: ADMIN_PASSWORD guards \
                     only the console at /admin, and without PROXY_API_KEY anyone on the network \
                     could spend your OpenRouter quota through /v1; set PROXY_API_KEY in .env, \
                     or use HOST=127.0.0.1"
                } else {
                    "listening beyond this machine without PROXY_API_KEY and ADMIN_PASSWORD \
                     would let anyone on the network spend your OpenRouter quota (/v1) and \
                     manage your keys (/admin); set PROXY_API_KEY in .env (it guards both; \
                     ADMIN_PASSWORD may guard the console apart), or use HOST=127.0.0.1"
                },
            ));
        }

        let base_url = self.get("OPENROUTER_BASE_URL").unwrap_or(DEFAULT_BASE_URL);
        if !(base_url.starts_with("http://") || base_url.starts_with("https://")) {
            return Err(err(
                "OPENROUTER_BASE_URL",
                base_url,
                "must start with http:// or https://",
            ));
        }
        let http_proxy = self.get("HTTP_PROXY").map(str::to_string);
        if let Some(p) = &http_proxy {
            let reason = if p.to_ascii_lowercase().starts_with("socks") {
                Some(
                    "is a SOCKS proxy, which this build cannot use; give an http:// or https:// proxy",
                )
            } else if !p.starts_with("http://") && !p.starts_with("https://") {
                Some("must start with http:// or https://")
            } else {
                None
            };
            if let Some(reason) = reason {
                return Err(err("HTTP_PROXY", &mask_url(p), reason));
            }
        }

        let max_concurrent = nz(self.number("MAX_CONCURRENT_REQUESTS", 5, 1, 1000)? as usize);
        let max_connections = self.number("MAX_CONNECTIONS", 1024, 8, 100_000)? as usize;

        let mut keys: Vec<String> = Vec::new();
        let listed = self.get("OPENROUTER_API_KEYS").unwrap_or("");
        for key in self
            .get("OPENROUTER_API_KEY")
            .into_iter()
            .chain(listed.split(','))
        {
            let key = key.trim();
            if !key.is_empty() && !keys.iter().any(|k| k == key) {
                keys.push(key.to_string());
            }
        }
        let strategy = self.parse_or(
            "LOAD_BALANCE_STRATEGY",
            Strategy::RoundRobin,
            "round_robin, least_used or random",
        )?;
        let allow_paid_models = self.bool_or("ALLOW_PAID_MODELS", false)?;
        let smart_max_tokens = self.bool_or("SMART_MAX_TOKENS", true)?;

        Ok(Config {
            keys,
            strategy,
            free_daily_limit: self.number("FREE_DAILY_LIMIT", 50, 1, 1_000_000_000)? as u32,
            allow_paid_models,
            model_preference: self
                .get("FREE_MODEL_PREFERENCE")
                .unwrap_or("")
                .split(',')
                .map(str::trim)
                .filter(|m| !m.is_empty())
                .map(str::to_string)
                .collect(),
            retry_policy: self.parse_or(
                "RETRY_POLICY",
                RetryPolicy::Smart,
                "smart, never, or a number of attempts from 2 to 10",
            )?,
            model_cooldown: self.duration_or("MODEL_COOLDOWN", 60.0)?,
            catalog_refresh: self.duration_or("CATALOG_REFRESH", 3600.0)?,
            smart_max_tokens,
            shutdown_grace: self.duration_or("SHUTDOWN_GRACE", 30.0)?,
            body_timeout: self.duration_or("BODY_TIMEOUT", 30.0)?,
            max_tokens_margin: self.number("MAX_TOKENS_MARGIN", 100, 0, 1_000_000)?,
            debug_mode_file: PathBuf::from(self.get("DEBUG_MODE_FILE").unwrap_or("DEBUG_MODE.txt")),
            capture_max_files: self.number("CAPTURE_MAX_FILES", 1000, 1, 1_000_000)? as usize,
            capture_max_days: self.number("CAPTURE_MAX_DAYS", 7, 1, 3650)? as u32,
            capture_max_bytes: self.number("CAPTURE_MAX_BYTES", 256 << 20, 1 << 20, 1 << 40)?,
            stats_max_days: self.number("STATS_MAX_DAYS", 90, 1, 36_500)? as u32,
            base_url: base_url.trim_end_matches('/').to_string(),
            listen: SocketAddr::new(ip, port),
            cache_dir: PathBuf::from(self.get("CACHE_DIR").unwrap_or("./cache")),
            max_concurrent,
            queue_timeout: self.duration_or("QUEUE_TIMEOUT", 60.0)?,
            http_proxy,
            proxy_api_key,
            admin_password,
            env_file: self.file().map(Path::to_path_buf),
            http_referer: self
                .get("HTTP_REFERER")
                .unwrap_or(DEFAULT_REFERER)
                .to_string(),
            x_title: self
                .get("X_TITLE")
                .unwrap_or("openrouter-proxy")
                .to_string(),
            connect_timeout: self.duration_or("UPSTREAM_CONNECT_TIMEOUT", 10.0)?,
            response_timeout: self.duration_or("UPSTREAM_RESPONSE_TIMEOUT", 300.0)?,
            idle_timeout: self.duration_or("UPSTREAM_IDLE_TIMEOUT", 120.0)?,
            max_body_bytes: self.number("MAX_BODY_BYTES", 32 << 20, 16, 1 << 30)?,
            max_connections,
            header_timeout: self.duration_or("HEADER_TIMEOUT", 10.0)?,
            keepalive_timeout: self.duration_or("KEEPALIVE_TIMEOUT", 60.0)?,
            allowed_hosts: self.list("ALLOWED_HOSTS"),
            cors_origins: self.list("CORS_ORIGINS"),
            log_level: self.parse_or(
                "LOG_LEVEL",
                log::LevelFilter::Info,
                "error, warn, info or debug",
            )?,
        })
    }

    fn parse_or<T: std::str::FromStr>(
        &self,
        name: &str,
        default: T,
        expected: &str,
    ) -> Result<T, ConfigError> {
        match self.get(name) {
            None => Ok(default),
            Some(v) => v
                .parse()
                .map_err(|_| err(name, v, &format!("expected {expected}"))),
        }
    }

    /// A comma-separated list, trimmed and lower case, empty entries dropped.
    fn list(&self, name: &str) -> Vec<String> {
        self.get(name)
            .unwrap_or("")
            .split(',')
            .map(|v| v.trim().to_ascii_lowercase())
            .filter(|v| !v.is_empty())
            .collect()
    }

    /// A whole number from `min` to `max`, or `default` when unset.
    fn number(&self, name: &str, default: u64, min: u64, max: u64) -> Result<u64, ConfigError> {
        let Some(text) = self.get(name) else {
            return Ok(default);
        };
        text.parse::<u64>()
            .ok()
            .filter(|n| (min..=max).contains(n))
            .ok_or_else(|| {
                err(
                    name,
                    text,
                    &format!("expected a whole number from {min} to {max}"),
                )
            })
    }

    fn bool_or(&self, name: &str, default: bool) -> Result<bool, ConfigError> {
        match self.get(name) {
            None => Ok(default),
            Some(v) => parse_bool(v).ok_or_else(|| err(name, v, "expected true or false")),
        }
    }

    fn duration_or(&self, name: &str, default_secs: f64) -> Result<Duration, ConfigError> {
        match self.get(name) {
            None => Ok(Duration::from_secs_f64(default_secs)),
            Some(v) => parse_duration(v)
                .filter(|d| d.as_secs() <= MAX_DURATION_SECS)
                .ok_or_else(|| {
                    err(
                        name,
                        v,
                        "expected a duration such as 30 (seconds), 1.5, 500ms or 2m, above zero \
                         and at most 7 days",
                    )
                }),
        }
    }
}

fn nz(n: usize) -> NonZeroUsize {
    NonZeroUsize::new(n).unwrap_or(NonZeroUsize::MIN)
}

fn err(var: &str, value: &str, reason: &str) -> ConfigError {
    ConfigError {
        var: var.to_string(),
        value: value.to_string(),
        reason: reason.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SETTINGS;
    use crate::util::secret::Redactor;

    fn config(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        RawSettings::from_pairs(pairs.iter().copied()).validate()
    }

    #[test]
    fn defaults_listen_on_loopback_port_5000() {
        let c = config(&[]).unwrap();
        assert_eq!(c.listen, "127.0.0.1:5000".parse().unwrap());
        assert_eq!(c.base_url, DEFAULT_BASE_URL);
        assert_eq!(c.max_concurrent.get(), 5);
        assert_eq!(c.queue_timeout, Duration::from_secs(60));
        assert_eq!(c.max_body_bytes, 32 << 20);
        assert!(c.keys.is_empty());
        assert_eq!(c.strategy, Strategy::RoundRobin);
        assert_eq!(c.retry_policy, RetryPolicy::Smart);
        assert!(!c.allow_paid_models);
    }

    #[test]
    fn keys_come_from_both_settings_without_repeats() {
        let c = config(&[
            ("OPENROUTER_API_KEY", "sk-a"),
            ("OPENROUTER_API_KEYS", " sk-b, sk-a ,,sk-c"),
            ("LOAD_BALANCE_STRATEGY", "least_used"),
            ("FREE_MODEL_PREFERENCE", "a/b:free, c/d:free"),
            ("ALLOW_PAID_MODELS", "true"),
        ])
        .unwrap();
        assert_eq!(c.keys, vec!["sk-a", "sk-b", "sk-c"]);
        assert_eq!(c.strategy, Strategy::LeastUsed);
        assert_eq!(c.model_preference, vec!["a/b:free", "c/d:free"]);
        assert!(c.allow_paid_models);
        let e = config(&[("LOAD_BALANCE_STRATEGY", "fastest")]).unwrap_err();
        assert_eq!(e.var, "LOAD_BALANCE_STRATEGY");
        let e = config(&[("RETRY_POLICY", "always")]).unwrap_err();
        assert_eq!(e.var, "RETRY_POLICY");
        let e = config(&[("ALLOW_PAID_MODELS", "maybe")]).unwrap_err();
        assert_eq!(e.var, "ALLOW_PAID_MODELS");
        let e = config(&[("FREE_DAILY_LIMIT", "0")]).unwrap_err();
        assert_eq!(e.var, "FREE_DAILY_LIMIT");
    }

    #[test]
    fn bad_values_name_the_variable_and_value() {
        let e = config(&[("PORT", "50x")]).unwrap_err();
        assert_eq!((e.var.as_str(), e.value.as_str()), ("PORT", "50x"));
        assert!(e.to_string().starts_with("PORT=\"50x\": expected"));
        let e = config(&[("MAX_CONCURRENT_REQUESTS", "0")]).unwrap_err();
        assert_eq!(e.var, "MAX_CONCURRENT_REQUESTS");
        let e = config(&[("QUEUE_TIMEOUT", "-1")]).unwrap_err();
        assert_eq!(e.var, "QUEUE_TIMEOUT");
        let e = config(&[("OPENROUTER_BASE_URL", "openrouter.ai")]).unwrap_err();
        assert_eq!(e.var, "OPENROUTER_BASE_URL");
    }

    #[test]
    fn every_number_has_a_range_named_in_its_error() {
        // Issue 12: 18446744073709551615 overflowed a sum.
        for (name, value) in [
            ("MAX_CONCURRENT_REQUESTS", "18446744073709551615"),
            ("MAX_CONCURRENT_REQUESTS", "0"),
            ("MAX_TOKENS_MARGIN", "18446744073709551615"),
            ("MAX_CONNECTIONS", "3"),
            ("FREE_DAILY_LIMIT", "0"),
            ("CAPTURE_MAX_FILES", "-1"),
            ("MAX_BODY_BYTES", "99999999999999"),
            ("QUEUE_TIMEOUT", "99999999"),
        ] {
            let e = config(&[(name, value)]).unwrap_err();
            assert_eq!(e.var, name);
            assert!(
                e.reason.contains(" to ") || e.reason.contains("at most"),
                "{name}: {}",
                e.reason
            );
        }
        let c = config(&[
            ("MAX_CONCURRENT_REQUESTS", "1000"),
            ("MAX_TOKENS_MARGIN", "0"),
        ])
        .unwrap();
        assert_eq!(c.max_concurrent.get(), 1000);
        assert_eq!(c.max_tokens_margin, 0);
    }

    #[test]
    fn public_host_needs_a_proxy_key() {
        let e = config(&[("HOST", "0.0.0.0")]).unwrap_err();
        assert_eq!(e.var, "HOST");
        assert!(e.reason.contains("PROXY_API_KEY"), "{}", e.reason);
        assert!(e.reason.contains("ADMIN_PASSWORD"), "{}", e.reason);
        // The console's password alone would leave /v1 open to the network.
        let e = config(&[("HOST", "0.0.0.0"), ("ADMIN_PASSWORD", "p")]).unwrap_err();
        assert!(e.reason.contains("guards only the console"), "{}", e.reason);
        assert!(config(&[("HOST", "0.0.0.0"), ("PROXY_API_KEY", "k")]).is_ok());
        assert!(config(&[("HOST", "localhost")]).is_ok());
        assert!(config(&[("HOST", "::1")]).is_ok());
    }

    #[test]
    fn empty_values_count_as_unset_and_urls_lose_trailing_slash() {
        let c = config(&[
            ("OPENROUTER_API_KEY", "  "),
            ("OPENROUTER_BASE_URL", "http://127.0.0.1:9/api/v1/"),
        ])
        .unwrap();
        assert!(c.keys.is_empty());
        assert_eq!(c.base_url, "http://127.0.0.1:9/api/v1");
    }

    #[test]
    fn every_setting_is_documented() {
        let example = include_str!("../../.env.example");
        let readme = include_str!("../../README.md");
        for name in SETTINGS {
            assert!(
                example.contains(&format!("\n{name}=")),
                "{name} not in .env.example"
            );
            assert!(
                readme.contains(&format!("`{name}`")),
                "{name} not in README.md"
            );
        }
    }

    #[test]
    fn debug_output_masks_secrets() {
        let c = config(&[
            ("OPENROUTER_API_KEY", "sk-or-v1-0123456789abcdef0123456789"),
            ("HTTP_PROXY", "http://user:hunter2@proxy:8080"),
            ("ADMIN_PASSWORD", "correct-horse-battery-staple"),
        ])
        .unwrap();
        let shown = format!("{c:?}");
        assert!(!shown.contains("battery"), "{shown}");
        assert!(!shown.contains("correct-hor"), "{shown}");
        assert!(!shown.contains("0123456789abcdef"), "{shown}");
        assert!(!shown.contains("hunter2"), "{shown}");
        // Nor the settings read raw, nor the redactor built from them.
        let mut raw = RawSettings::default();
        raw.set("ADMIN_PASSWORD", "correct-horse-battery-staple");
        let shown = format!("{raw:?}");
        assert!(
            shown.contains("ADMIN_PASSWORD") && !shown.contains("horse"),
            "{shown}"
        );
        let redactor = Redactor::new(["correct-horse-battery-staple"]);
        assert!(!format!("{redactor:?}").contains("horse"));
        assert_eq!(redactor.redact("pw correct-horse-battery-staple"), "pw ***");
    }
}
