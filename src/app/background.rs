//! Work that runs beside the server: asking OpenRouter (`GET /key`) for each key's free daily
//! allowance and use, loading the model catalog, and deleting statistics and captures past
//! their age, at start and then every `CATALOG_REFRESH` (every minute while the catalog keeps
//! failing).

use std::sync::Arc;
use std::thread;
use std::time::Duration;

use serde_json::Value;

use crate::app::state::{AppState, Live};
use crate::autopilot::catalog::CatalogError;

/// How soon a failed catalog load is tried again.
const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(60);

pub(crate) fn spawn(state: Arc<AppState>) {
    let _ = thread::Builder::new()
        .name("catalog-refresh".into())
        .spawn(move || {
            loop {
                let live = state.live();
                // Old daily files and captures go, whether or not debug mode is on now.
                state.stats.prune(live.config.stats_max_days);
                live.captures.prune();
                // Allowances first: chat calls wait for the first catalog load, so none is in
                // flight while OpenRouter's count replaces the proxy's at start-up.
                refresh_key_allowances(&live);
                let wait = match refresh_catalog(&state, &live) {
                    Ok(free) => {
                        log::info!("model list loaded: {free} free models");
                        live.config.catalog_refresh
                    }
                    Err(e) => {
                        let cached = state.catalog.snapshot();
                        log::warn!(
                            "cannot load the model list ({e}); {}; trying again in {} s",
                            if cached.is_empty() {
                                "no cached copy, so the proxy chooses openrouter/free for now"
                                    .to_string()
                            } else {
                                format!("using the cached copy ({} models)", cached.models.len())
                            },
                            RETRY_AFTER_FAILURE.as_secs()
                        );
                        RETRY_AFTER_FAILURE.min(live.config.catalog_refresh)
                    }
                };
                thread::sleep(wait);
            }
        });
}

/// Loads the model list from OpenRouter now, asking with the first key not disabled in the
/// console; returns how many free models it has.
pub(crate) fn refresh_catalog(state: &AppState, live: &Live) -> Result<usize, CatalogError> {
    let usable = live.keys.usable_secrets();
    let key = usable.first().map(|(_, k)| &**k);
    state.catalog.refresh(&live.upstream, key)
}

/// Reads `data.free_model_daily_requests` from `GET /key` for every key not disabled in the
/// console (a disabled key is never used, not even to ask).
pub(crate) fn refresh_key_allowances(live: &Live) {
    for (index, key) in live.keys.usable_secrets() {
        let Ok(response) = live.upstream.get("/key", Some(&key)) else {
            continue;
        };
        if response.status != 200 {
            continue;
        }
        let Ok(bytes) = response.body.read_all(1 << 20) else {
            continue;
        };
        let info: Value = serde_json::from_slice(&bytes).unwrap_or_default();
        let daily = &info["data"]["free_model_daily_requests"];
        let number = |v: &Value| v.as_u64().and_then(|n| u32::try_from(n).ok());
        live.keys
            .apply_key_info(index, number(&daily["limit"]), number(&daily["used"]));
    }
}
