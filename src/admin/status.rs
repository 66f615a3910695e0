//! `GET /admin/api/status`: what the console's header and banners show, read often: the
//! proxy's version and uptime, debug mode (and the file that turns it on), concurrency, how
//! many keys and models can serve, what guards the console, and a warning when no key can
//! serve a free model now.

use serde_json::json;

use crate::admin::access::Guard;
use crate::admin::api::json;
use crate::api::message::Reply;
use crate::app::state::AppState;

pub(crate) fn status(state: &AppState) -> Reply {
    let config = state.config();
    let keys = state.keys();
    let usage = state.limiter.usage();
    let catalog = state.catalog.snapshot();
    let reports = keys.report();
    let warning = keys.check_available(true).err().map(|e| e.to_string());
    let guard = Guard::of(
        config.admin_password.as_deref(),
        config.proxy_api_key.as_deref(),
    );
    json(
        200,
        &json!({
            "version": env!("CARGO_PKG_VERSION"),
            "uptime_seconds": state.started.elapsed().as_secs(),
            "debug_mode": state.debug_mode(),
            "debug_mode_file": config.debug_mode_file.display().to_string(),
            "concurrency": {
                "limit": usage.limit,
                "in_flight": usage.in_flight,
                "waiting": usage.waiting,
            },
            "keys": {
                "total": reports.len(),
                "active": reports.iter().filter(|k| k.state == "active").count(),
            },
            "models": {
                "free": catalog.free_models().count(),
                "disabled": catalog.disabled().len(),
                "loaded": !catalog.is_empty(),
            },
            "access": guard.name(),
            "warning": warning,
        }),
    )
}
