//! The `/debug` routes, answered while debug mode is on: the console page (the same as
//! `/admin`) and the JSON for scripts that the panel used to read. With debug mode off, each
//! says how to turn it on. They only read state; nothing here changes it.
//!
//! `/debug` (the page) holds no data and needs no key; every `/debug/*` data route follows
//! the console's access rule (`access.rs`): the prompts and answers it serves are the same.

use serde_json::{Value, json};

use crate::admin::access;
use crate::admin::models::console_models;
use crate::admin::page;
use crate::api::error::ApiError;
use crate::api::message::{HttpRequest, Reply};
use crate::app::state::AppState;
use crate::util::clock::stats_day;
use crate::util::text::decode_query_value;
use crate::util::time_format::day_name;

/// Days in `/debug/stats`.
const DAYS: u32 = 14;

/// Answers a `/debug...` path.
pub(crate) fn handle(state: &AppState, req: &HttpRequest) -> Result<Reply, ApiError> {
    let not_found = || ApiError::NotFound {
        path: req.path.clone(),
    };
    let page = req.path == "/debug" || req.path == "/debug/";
    if !state.debug_mode() {
        let file = state.config().debug_mode_file.display().to_string();
        if page {
            return Ok(page::debug_off(&file));
        }
        return Err(page::debug_off_error(&file));
    }
    if req.method != "GET" && req.method != "HEAD" {
        return Err(ApiError::MethodNotAllowed { allowed: "GET" });
    }
    if page {
        return Ok(page::console());
    }
    access::check(state, req)?;
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
        .filter(|c| model.is_none_or(|m| c.model.as_deref() == Some(&decode_query_value(m))))
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

/// The free models with what the proxy has seen of each (the console's list).
fn models(state: &AppState) -> Value {
    json!({ "models": console_models(state) })
}
