//! The `/debug` routes, answered only while debug mode is on (404 otherwise): the panel page
//! and the JSON it reads. They only read state; nothing here changes it.
//!
//! `/debug` (the page) holds no data and needs no key; every `/debug/*` data route needs the
//! proxy key when `PROXY_API_KEY` is set (the page asks for it once).

use std::time::Instant;

use serde::Serialize;
use serde_json::{Value, json};

use crate::api::error::ApiError;
use crate::api::message::{HttpRequest, Reply};
use crate::app::state::AppState;
use crate::autopilot::model_view::ModelView;
use crate::util::clock::{instant_epoch_ms, stats_day};
use crate::util::time_format::day_name;

const PANEL: &str = include_str!("panel.html");
/// Days in the panel's chart and in `/debug/stats`.
const DAYS: u32 = 14;

/// Answers a `/debug...` path; `check_key` enforces the proxy key.
pub(crate) fn handle(
    state: &AppState,
    req: &HttpRequest,
    check_key: impl Fn() -> Result<(), ApiError>,
) -> Result<Reply, ApiError> {
    let not_found = || ApiError::NotFound {
        path: req.path.clone(),
    };
    if !state.debug_mode() {
        return Err(not_found());
    }
    if req.method != "GET" && req.method != "HEAD" {
        return Err(ApiError::MethodNotAllowed { allowed: "GET" });
    }
    if req.path == "/debug" || req.path == "/debug/" {
        let mut reply = Reply::json(200, PANEL.as_bytes().to_vec());
        reply.headers = vec![
            ("Content-Type".into(), "text/html; charset=utf-8".into()),
            ("Cache-Control".into(), "no-store".into()),
        ];
        return Ok(reply);
    }
    check_key()?;
    let body = match req.path.as_str() {
        "/debug/stats" => stats(state),
        "/debug/concurrency" => concurrency(state),
        "/debug/calls" => calls(state, req),
        "/debug/models" => models(state),
        "/debug/keys" => json!({ "keys": state.keys().report() }),
        path => {
            let name = path.strip_prefix("/debug/capture/").ok_or_else(not_found)?;
            let bytes = state.live().captures.read(name).ok_or_else(not_found)?;
            return Ok(Reply::json(200, bytes));
        }
    };
    Ok(Reply::json(
        200,
        serde_json::to_vec(&body).unwrap_or_default(),
    ))
}

/// Today's counters (the fields of the daily file) plus the last days.
fn stats(state: &AppState) -> Value {
    let mut today = serde_json::to_value(state.stats.today()).unwrap_or_default();
    today["days"] = serde_json::to_value(state.stats.last_days(DAYS)).unwrap_or_default();
    today
}

fn concurrency(state: &AppState) -> Value {
    let usage = state.limiter.usage();
    json!({
        "limit": usage.limit,
        "in_flight": usage.in_flight,
        "waiting": usage.waiting,
        "recent": state.stats.recent(),
    })
}

/// A page of a day's calls, newest first, filtered by model and status.
fn calls(state: &AppState, req: &HttpRequest) -> Value {
    let today = day_name(stats_day());
    let day = req
        .query_param("date")
        .filter(|d| d.len() == 8 && d.bytes().all(|b| b.is_ascii_digit()))
        .unwrap_or(&today);
    let model = req.query_param("model").filter(|m| !m.is_empty());
    let status = req.query_param("status").filter(|s| !s.is_empty());
    let per_page: usize = req
        .query_param("per_page")
        .and_then(|p| p.parse().ok())
        .unwrap_or(25)
        .clamp(1, 200);
    let page: usize = req
        .query_param("page")
        .and_then(|p| p.parse().ok())
        .unwrap_or(1)
        .max(1);
    let all = state.stats.call_log(day);
    let models: Vec<String> = {
        let mut m: Vec<String> = all.iter().filter_map(|c| c.model.clone()).collect();
        m.sort();
        m.dedup();
        m
    };
    let matching: Vec<_> = all
        .into_iter()
        .filter(|c| model.is_none_or(|m| c.model.as_deref() == Some(&decode(m))))
        .filter(|c| {
            status.is_none_or(|s| {
                let outcome = serde_json::to_value(c.outcome).unwrap_or_default();
                outcome == s || c.status.to_string() == s
            })
        })
        .collect();
    let pages = matching.len().div_ceil(per_page).max(1);
    let shown: Vec<_> = matching
        .iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .collect();
    json!({
        "date": day,
        "total": matching.len(),
        "page": page,
        "pages": pages,
        "models": models,
        "calls": shown,
    })
}

/// A free model as the panel lists it: the common view, and what the proxy has seen of it.
#[derive(Serialize)]
struct PanelModel<'a> {
    #[serde(flatten)]
    view: ModelView<'a>,
    attempts: usize,
    successes: usize,
    /// Successes over attempts, once there was one.
    success_rate: Option<f64>,
    latency_ms: Option<f64>,
    /// Epoch milliseconds when a cooling model is back.
    cooling_until_ms: Option<u64>,
}

/// The free models with what the proxy has seen of each.
fn models(state: &AppState) -> Value {
    let catalog = state.catalog.snapshot();
    let now = Instant::now();
    let list: Vec<PanelModel> = catalog
        .free_models()
        .map(|m| {
            let h = state.health.get(&m.id);
            PanelModel {
                view: ModelView::of(m),
                attempts: h.attempts,
                successes: h.successes,
                success_rate: (h.attempts > 0).then(|| h.successes as f64 / h.attempts as f64),
                latency_ms: h.latency_ms.map(|l| l.round()),
                cooling_until_ms: h.cooling_until.filter(|t| *t > now).map(instant_epoch_ms),
            }
        })
        .collect();
    json!({ "models": list })
}

/// Percent-decoding for a model id in a query (ids hold `/` and `:`).
fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1), bytes.get(i + 2)) {
            (b'%', Some(&h), Some(&l)) if hex(h).is_some() && hex(l).is_some() => {
                out.push((hex(h).unwrap_or(0) * 16 + hex(l).unwrap_or(0)) as u8);
                i += 3;
            }
            (b'+', _, _) => {
                out.push(b' ');
                i += 1;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_are_decoded() {
        assert_eq!(
            decode("meta-llama%2Fllama-3.3-70b%3Afree"),
            "meta-llama/llama-3.3-70b:free"
        );
        assert_eq!(decode("a+b%zz"), "a b%zz");
    }
}
