//! The console's models: the catalog with what the proxy has seen of each model, enable or
//! disable one (`admin.json`), and reload the list from OpenRouter now.
//!
//! A disabled model stays in this list (so it can be enabled again) and nowhere that serves
//! calls: `/v1/models` leaves it out, the automatic choice never takes it, and a request that
//! names it gets a 400 saying it was disabled here (see `autopilot/catalog.rs`).

use std::time::Instant;

use serde::Serialize;
use serde_json::{Value, json};

use crate::admin::api::{json, refusal};
use crate::api::error::ApiError;
use crate::api::message::Reply;
use crate::app::background::refresh_catalog;
use crate::app::state::AppState;
use crate::autopilot::model_view::ModelView;
use crate::util::clock::{from_epoch_ms, instant_epoch_ms};
use crate::util::text::clip;
use crate::util::time_format::utc_rfc3339;

/// A model as the console lists it: the common view, whether it is enabled, and what the
/// proxy has seen of it.
#[derive(Serialize)]
struct ConsoleModel<'a> {
    #[serde(flatten)]
    view: ModelView<'a>,
    enabled: bool,
    attempts: usize,
    successes: usize,
    /// Successes over attempts, once there was one.
    success_rate: Option<f64>,
    latency_ms: Option<f64>,
    /// When a model resting after rate limits or errors is back: RFC 3339 UTC and epoch ms.
    resting_until: Option<String>,
    resting_until_ms: Option<u64>,
}

/// The models `/v1/models` would list (the free ones, or all with paid models allowed),
/// disabled ones included, with what the proxy has seen of each.
pub(crate) fn console_models(state: &AppState) -> Vec<Value> {
    let catalog = state.catalog.snapshot();
    let all = state.config().allow_paid_models;
    let now = Instant::now();
    catalog
        .models
        .iter()
        .filter(|m| m.free || all)
        .map(|m| {
            let h = state.health.get(&m.id);
            let resting = h.cooling_until.filter(|t| *t > now).map(instant_epoch_ms);
            let model = ConsoleModel {
                view: ModelView::of(m),
                enabled: !catalog.is_disabled(&m.id),
                attempts: h.attempts,
                successes: h.successes,
                success_rate: (h.attempts > 0).then(|| h.successes as f64 / h.attempts as f64),
                latency_ms: h.latency_ms.map(|l| l.round()),
                resting_until: resting.map(|ms| utc_rfc3339(from_epoch_ms(ms))),
                resting_until_ms: resting,
            };
            serde_json::to_value(model).unwrap_or_default()
        })
        .collect()
}

/// `GET /models`.
pub(crate) fn list(state: &AppState) -> Reply {
    let catalog = state.catalog.snapshot();
    let models = console_models(state);
    let enabled = models.iter().filter(|m| m["enabled"] == true).count();
    json(
        200,
        &json!({
            "models": models,
            "listed": models.len(),
            "enabled": enabled,
            "fetched_at": catalog.fetched_at.map(utc_rfc3339),
        }),
    )
}

/// `POST /models/{id}/disable` and `/enable`.
pub(crate) fn switch(state: &AppState, id: &str, enabled: bool) -> Result<Reply, ApiError> {
    let catalog = state.catalog.snapshot();
    // A model the list no longer has can still be enabled (its choice is then forgotten).
    if catalog.get_any(id).is_none() && !(enabled && catalog.is_disabled(id)) {
        return Err(refusal(
            404,
            "model_not_found",
            format!(
                "'{}' is not in the model list (GET /admin/api/models lists them)",
                clip(id, 200)
            ),
        ));
    }
    state
        .change_choices(|c| {
            if enabled {
                c.disabled_models.remove(id);
            } else {
                c.disabled_models.insert(id.to_string());
            }
        })
        .map_err(|e| ApiError::Internal {
            detail: format!("cannot save the console's choices: {e}"),
        })?;
    log::info!(
        "console: model {} {}",
        clip(id, 200),
        if enabled { "enabled" } else { "disabled" }
    );
    Ok(json(200, &json!({ "id": id, "enabled": enabled })))
}

/// `POST /models/refresh`: reloads the list from OpenRouter now and answers with the counts.
pub(crate) fn refresh(state: &AppState) -> Result<Reply, ApiError> {
    let live = state.live();
    match refresh_catalog(state, &live) {
        Ok(_) => {
            let catalog = state.catalog.snapshot();
            Ok(json(
                200,
                &json!({
                    "total": catalog.models.len(),
                    "free": catalog.models.iter().filter(|m| m.free).count(),
                    "free_enabled": catalog.free_models().count(),
                    "disabled": catalog.disabled().len(),
                    "fetched_at": catalog.fetched_at.map(utc_rfc3339),
                }),
            ))
        }
        Err(e) => Err(refusal(
            502,
            "catalog_refresh_failed",
            format!("the model list could not be reloaded: {e}; the proxy keeps the list it had"),
        )),
    }
}
