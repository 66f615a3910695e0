//! The lines `serve` writes once it listens: where, against which upstream, with which keys
//! and limits. The first ("listening on http://HOST:PORT/v1") is written whatever `LOG_LEVEL`
//! says, because the daemon's supervisor, the starters and the tests read the port from it;
//! the rest are ordinary info lines. Coloured on a terminal, like every log line.

use std::time::SystemTime;

use crate::config::Config;
use crate::util::clock::next_quota_reset;
use crate::util::colour::Colour;
use crate::util::secret::mask_key;
use crate::util::time_format::local_time_ahead;

/// What a proxy with no key says at start. The key is picked up from `.env` while the proxy
/// runs, so no restart is asked for.
pub(crate) const NO_KEY_YET: &str = "no OpenRouter key yet: chat calls fail until you set \
                                     OPENROUTER_API_KEY in .env; it is picked up while the \
                                     proxy runs, no restart needed";

pub(crate) fn print(config: &Config, addr: &str, demo: bool) {
    let colour = Colour::stderr();
    crate::util::logger::announce(format_args!(
        "openrouter-proxy {} listening on {}",
        env!("CARGO_PKG_VERSION"),
        colour.bold(&colour.cyan(&format!("http://{addr}/v1")))
    ));
    if demo {
        log::info!(
            "  {}: answers come from a built-in fake OpenRouter at {}",
            colour.yellow("demo mode"),
            config.base_url
        );
        log::info!(
            "  try: curl -s http://{addr}/v1/chat/completions -H 'Content-Type: application/json' \
             -d '{{\"messages\":[{{\"role\":\"user\",\"content\":\"Hi\"}}]}}'"
        );
    } else {
        log::info!("  upstream: {}", config.base_url);
    }
    match config.keys.as_slice() {
        [] => log::info!("  {}", colour.yellow(NO_KEY_YET)),
        keys => {
            log::info!(
                "  keys: {} ({})",
                keys.iter()
                    .map(|k| mask_key(k))
                    .collect::<Vec<_>>()
                    .join(", "),
                config.strategy
            );
            log::info!(
                "  free quotas reset at {}",
                local_time_ahead(next_quota_reset(), SystemTime::now())
            );
        }
    }
    log::info!(
        "  at most {} upstream calls at once; others wait up to {} s",
        config.max_concurrent,
        config.queue_timeout.as_secs_f64()
    );
    if config.proxy_api_key.is_some() {
        log::info!("  clients must send Authorization: Bearer <PROXY_API_KEY>");
    }
}
