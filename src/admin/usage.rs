//! The console's usage: the daily counters of the last days (totals, tokens, per model, per
//! key), today's latency percentiles, the call log filtered, sorted and paged (or all of it as
//! CSV), and one call's capture. All of it is what debug mode recorded; with debug mode off
//! the lists are empty and the status says how to turn it on.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::admin::api::{json, param, refusal};
use crate::api::error::ApiError;
use crate::api::message::{Body, HttpRequest, Reply};
use crate::app::state::AppState;
use crate::journal::stats::{CallSummary, Outcome, Tally};
use crate::util::clock::stats_day;
use crate::util::time_format::{day_name, local_timestamp_ms};

/// Days `/usage` gives when `days` is not said, and at most.
const DEFAULT_DAYS: u32 = 14;
const MAX_DAYS: u32 = 366;
/// Calls on one page at most.
const MAX_PER_PAGE: usize = 200;

/// `GET /usage?days=N`: per day, totals, tokens, per model and per key; the models over the
/// whole range; today's success rate and latency percentiles.
pub(crate) fn usage(state: &AppState, req: &HttpRequest) -> Reply {
    let days = param(req, "days")
        .and_then(|d| d.parse::<u32>().ok())
        .unwrap_or(DEFAULT_DAYS)
        .clamp(1, MAX_DAYS);
    let list = state.stats.last_days(days);
    let mut models: BTreeMap<&str, Tally> = BTreeMap::new();
    for day in &list {
        for (model, tally) in &day.models {
            let sum = models.entry(model).or_default();
            sum.total += tally.total;
            sum.success += tally.success;
            sum.failed += tally.failed;
            sum.timeout += tally.timeout;
            sum.prompt_tokens += tally.prompt_tokens;
            sum.completion_tokens += tally.completion_tokens;
        }
    }
    let mut by_model: Vec<Value> = models
        .into_iter()
        .map(|(model, t)| json!({"model": model, "tally": t}))
        .collect();
    by_model.sort_by_key(|m| std::cmp::Reverse(m["tally"]["total"].as_u64().unwrap_or(0)));
    let today = state.stats.today();
    let mut latencies: Vec<u64> = state
        .stats
        .call_log(&today.date)
        .iter()
        .map(|c| c.latency_ms)
        .collect();
    latencies.sort_unstable();
    let rate = (today.total > 0).then(|| today.success as f64 / today.total as f64);
    json(
        200,
        &json!({
            "debug_mode": state.debug_mode(),
            "days": list,
            "models": by_model,
            "today": {
                "date": today.date,
                "total": today.total,
                "success": today.success,
                "failed": today.failed,
                "timeout": today.timeout,
                "retry": today.retry,
                "success_rate": rate,
                "p50_ms": percentile(&latencies, 50),
                "p95_ms": percentile(&latencies, 95),
                "prompt_tokens": today.prompt_tokens,
                "completion_tokens": today.completion_tokens,
            },
        }),
    )
}

/// The nearest-rank percentile of sorted values.
fn percentile(sorted: &[u64], p: usize) -> Option<u64> {
    let rank = (sorted.len() * p).div_ceil(100);
    sorted.get(rank.max(1) - 1).copied()
}

/// What `/calls` filters by, from the query.
#[derive(Debug, Default)]
struct Filter {
    model: Option<String>,
    /// A masked key, or a key id (turned into its masked form).
    key: Option<String>,
    outcome: Option<String>,
    route: Option<String>,
    /// Searched in the model, the error and the status (lower case).
    q: Option<String>,
}

impl Filter {
    fn keeps(&self, c: &CallSummary) -> bool {
        let is = |want: &Option<String>, have: Option<&str>| {
            want.as_deref().is_none_or(|w| have == Some(w))
        };
        let outcome = outcome_word(c.outcome);
        is(&self.model, c.model.as_deref())
            && is(&self.key, c.key.as_deref())
            && is(&self.outcome, Some(outcome))
            && is(&self.route, c.route.as_deref())
            && self.q.as_deref().is_none_or(|q| {
                [
                    c.model.as_deref().unwrap_or(""),
                    c.error.as_deref().unwrap_or(""),
                    &c.status.to_string(),
                    outcome,
                ]
                .iter()
                .any(|field| field.to_lowercase().contains(q))
            })
    }
}

fn outcome_word(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Success => "success",
        Outcome::Failed => "failed",
        Outcome::Timeout => "timeout",
    }
}

/// `GET /calls?date=&model=&key=&outcome=&route=&q=&sort=&dir=&page=&per_page=`: a page of a
/// day's calls, filtered and sorted (newest first unless told), with the values each filter
/// can take that day; `format=csv` gives the whole filtered set as CSV.
pub(crate) fn calls(state: &AppState, req: &HttpRequest) -> Result<Reply, ApiError> {
    let today = day_name(stats_day());
    let date = match param(req, "date").map(|d| d.replace('-', "")) {
        None => today,
        Some(d) if d.len() == 8 && d.bytes().all(|b| b.is_ascii_digit()) => d,
        Some(d) => {
            return Err(ApiError::bad_request(
                format!("date must be YYYYMMDD or YYYY-MM-DD, not '{d}'"),
                Some("date"),
            ));
        }
    };
    let keys = state.keys().report();
    let filter = Filter {
        model: param(req, "model"),
        key: param(req, "key")
            .map(|k| keys.iter().find(|r| r.id == k).map_or(k, |r| r.key.clone())),
        outcome: param(req, "outcome").or_else(|| param(req, "status")),
        route: param(req, "route"),
        q: param(req, "q").map(|q| q.to_lowercase()),
    };
    let all = state.stats.call_log(&date);
    let facet = |f: fn(&CallSummary) -> Option<&str>| {
        let mut values: Vec<&str> = all.iter().filter_map(f).collect();
        values.sort_unstable();
        values.dedup();
        json!(values)
    };
    let facets = json!({
        "models": facet(|c| c.model.as_deref()),
        "keys": facet(|c| c.key.as_deref()),
        "routes": facet(|c| c.route.as_deref()),
    });
    let mut matching: Vec<&CallSummary> = all.iter().filter(|c| filter.keeps(c)).collect();
    let sort = param(req, "sort").unwrap_or_else(|| "time".into());
    sort_calls(&mut matching, &sort)?;
    if param(req, "dir").as_deref() == Some("asc") {
        matching.reverse();
    }
    if param(req, "format").as_deref() == Some("csv") {
        return Ok(csv(&matching, &date));
    }
    let per_page = param(req, "per_page")
        .and_then(|p| p.parse().ok())
        .unwrap_or(25)
        .clamp(1, MAX_PER_PAGE);
    let pages = matching.len().div_ceil(per_page).max(1);
    let page = param(req, "page")
        .and_then(|p| p.parse().ok())
        .unwrap_or(1usize)
        .clamp(1, pages);
    let shown: Vec<Value> = matching
        .iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .map(|c| call_view(c))
        .collect();
    Ok(json(
        200,
        &json!({
            "date": date,
            "calls": shown,
            "total": matching.len(),
            "page": page,
            "pages": pages,
            "per_page": per_page,
            "facets": facets,
        }),
    ))
}

/// Sorts newest first, or by `by` with the largest first (ties newest first).
fn sort_calls(calls: &mut [&CallSummary], by: &str) -> Result<(), ApiError> {
    let key: fn(&CallSummary) -> (u64, String) = match by {
        "time" => |_| (0, String::new()),
        "latency" => |c| (c.latency_ms, String::new()),
        "ttfb" => |c| (c.ttfb_ms.unwrap_or(0), String::new()),
        "tokens" => |c| (c.prompt_tokens + c.completion_tokens, String::new()),
        "attempts" => |c| (u64::from(c.attempts), String::new()),
        "status" => |c| (u64::from(c.status), String::new()),
        "model" => |c| (0, c.model.clone().unwrap_or_default()),
        "key" => |c| (0, c.key.clone().unwrap_or_default()),
        "outcome" => |c| (0, outcome_word(c.outcome).to_string()),
        "route" => |c| (0, c.route.clone().unwrap_or_default()),
        other => {
            return Err(ApiError::bad_request(
                format!(
                    "sort must be time, latency, ttfb, tokens, attempts, status, model, key, \
                     outcome or route, not '{}'",
                    crate::util::text::clip(other, 40)
                ),
                Some("sort"),
            ));
        }
    };
    // The log is newest first; a stable sort keeps that order among equals.
    calls.sort_by(|a, b| key(b).cmp(&key(a)).then_with(|| b.time.cmp(&a.time)));
    Ok(())
}

/// A call as the console lists it: the log's fields, its id (its capture's name, which
/// `/calls/{id}/capture` opens) and its time as epoch milliseconds.
fn call_view(c: &CallSummary) -> Value {
    let mut view = serde_json::to_value(c).unwrap_or_default();
    view["id"] = json!(c.capture.as_deref().and_then(|n| n.strip_suffix(".json")));
    view["at_ms"] = json!(local_timestamp_ms(&c.time));
    view
}

/// The calls as CSV, one row each, for a spreadsheet.
fn csv(calls: &[&CallSummary], date: &str) -> Reply {
    let mut out = String::from(
        "time,model,key,route,status,outcome,stream,attempts,prompt_tokens,completion_tokens,\
         latency_ms,ttfb_ms,error\r\n",
    );
    for c in calls {
        let cells = [
            cell(&c.time),
            cell(c.model.as_deref().unwrap_or("")),
            cell(c.key.as_deref().unwrap_or("")),
            cell(c.route.as_deref().unwrap_or("")),
            c.status.to_string(),
            outcome_word(c.outcome).to_string(),
            c.stream.to_string(),
            c.attempts.to_string(),
            c.prompt_tokens.to_string(),
            c.completion_tokens.to_string(),
            c.latency_ms.to_string(),
            c.ttfb_ms.map(|t| t.to_string()).unwrap_or_default(),
            cell(c.error.as_deref().unwrap_or("")),
        ];
        out.push_str(&cells.join(","));
        out.push_str("\r\n");
    }
    Reply {
        status: 200,
        headers: vec![
            ("Content-Type".into(), "text/csv; charset=utf-8".into()),
            ("Cache-Control".into(), "no-store".into()),
            (
                "Content-Disposition".into(),
                format!("attachment; filename=\"calls_{date}.csv\""),
            ),
        ],
        body: Body::Full(out.into_bytes()),
        model: None,
    }
}

/// One CSV cell: quoted when it holds a comma, a quote or a line break; text a spreadsheet
/// would run as a formula gets a leading `'`.
fn cell(text: &str) -> String {
    let text = if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text.to_string()
    };
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text
    }
}

/// `GET /calls/{id}/capture`: the capture, with a stream's raw events as a list.
pub(crate) fn capture(state: &AppState, id: &str) -> Result<Reply, ApiError> {
    let bytes = state
        .live()
        .captures
        .read(&format!("{id}.json"))
        .ok_or_else(|| {
            refusal(
                404,
                "capture_not_found",
                "no capture has this id (captures are kept CAPTURE_MAX_DAYS days, and only \
                 calls made in debug mode have one)",
            )
        })?;
    let mut doc: Value = serde_json::from_slice(&bytes).map_err(|e| ApiError::Internal {
        detail: format!("the capture is not valid JSON: {e}"),
    })?;
    if let Some(events) = doc["response"]["events"].as_str() {
        let list: Vec<&str> = events
            .split("\n\n")
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .collect();
        doc["response"]["events"] = json!(list);
    }
    doc["id"] = json!(id);
    Ok(json(200, &doc))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_take_the_nearest_rank() {
        let values: Vec<u64> = (1..=20).collect();
        assert_eq!(percentile(&values, 50), Some(10));
        assert_eq!(percentile(&values, 95), Some(19));
        assert_eq!(percentile(&[7], 95), Some(7));
        assert_eq!(percentile(&[], 50), None);
    }

    #[test]
    fn csv_cells_are_quoted_and_never_formulas() {
        assert_eq!(cell("plain"), "plain");
        assert_eq!(cell("a,b"), "\"a,b\"");
        assert_eq!(cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(cell("=HYPERLINK(1)"), "'=HYPERLINK(1)");
        assert_eq!(cell("line\nbreak"), "\"line\nbreak\"");
    }
}
