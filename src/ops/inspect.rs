//! The read-only commands: `models`, `stats` and `check` print what the proxy knows, as
//! aligned tables for people or JSON for scripts.

use std::process::ExitCode;

use serde_json::{Value, json};

use crate::autopilot::catalog::Catalog;
use crate::autopilot::model_view::ModelView;
use crate::config::Config;
use crate::upstream::client::Upstream;
use crate::util::secret::mask_key;
use crate::util::secret::mask_url;

/// Prints rows as columns as wide as their widest cell; a column whose header starts with `>`
/// is right-aligned.
fn table(headers: &[&str], rows: &[Vec<String>]) {
    let widths: Vec<usize> = headers
        .iter()
        .enumerate()
        .map(|(i, h)| {
            rows.iter()
                .map(|r| r[i].chars().count())
                .chain([h.trim_start_matches('>').len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: Vec<String>| {
        let parts: Vec<String> = cells
            .iter()
            .zip(headers)
            .zip(&widths)
            .map(|((c, h), w)| {
                if h.starts_with('>') {
                    format!("{c:>w$}")
                } else {
                    format!("{c:<w$}")
                }
            })
            .collect();
        println!("{}", parts.join("  ").trim_end());
    };
    line(
        headers
            .iter()
            .map(|h| h.trim_start_matches('>').to_string())
            .collect(),
    );
    for row in rows {
        line(row.clone());
    }
}

fn number(n: Option<u64>) -> String {
    n.map_or("-".into(), |n| n.to_string())
}

/// `models`: the free models from OpenRouter (or, offline, the cached list).
pub(crate) fn models(config: &Config, json: bool) -> Result<ExitCode, String> {
    let catalog = Catalog::new(&config.cache_dir);
    let upstream = Upstream::new(config)?;
    if let Err(e) = catalog.refresh(&upstream, config.keys.first().map(String::as_str)) {
        if catalog.snapshot().is_empty() {
            return Err(format!("cannot load the model list: {e}"));
        }
        eprintln!("(OpenRouter did not answer: {e}; showing the cached list)");
    }
    let snapshot = catalog.snapshot();
    let free: Vec<_> = snapshot.free_models().collect();
    if json {
        let list: Vec<ModelView> = free.iter().map(|m| ModelView::of(m)).collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&list).unwrap_or_default()
        );
        return Ok(ExitCode::SUCCESS);
    }
    let rows: Vec<Vec<String>> = free
        .iter()
        .map(|m| {
            vec![
                m.id.clone(),
                number(m.context_length),
                number(m.max_completion_tokens),
                m.input_modalities.join("+"),
                if m.supports("tools") { "yes" } else { "-" }.into(),
                m.parameters.clone().unwrap_or_else(|| "-".into()),
            ]
        })
        .collect();
    table(
        &["model", ">context", ">max out", "input", "tools", "params"],
        &rows,
    );
    println!("\n{} free models", rows.len());
    Ok(ExitCode::SUCCESS)
}

/// `check`: the settings, then each key's answer from `GET /key` with its free quota today.
pub(crate) fn check(config: &Config, notes: &[String], json: bool) -> Result<ExitCode, String> {
    let upstream = Upstream::new(config)?;
    let mut results = Vec::new();
    let mut all_good = !config.keys.is_empty();
    for key in &config.keys {
        let (state, daily) = match upstream.get("/key", Some(key)) {
            Err(e) => (
                crate::api::error::ApiError::from(e).to_string(),
                Value::Null,
            ),
            Ok(response) => {
                let status = response.status;
                let body: Value = response
                    .body
                    .read_all(1 << 20)
                    .ok()
                    .and_then(|b| serde_json::from_slice(&b).ok())
                    .unwrap_or_default();
                match status {
                    200 => (
                        "ok".into(),
                        body["data"]["free_model_daily_requests"].clone(),
                    ),
                    401 => ("refused (401): wrong or revoked key".into(), Value::Null),
                    s => (
                        format!(
                            "HTTP {s}: {}",
                            body["error"]["message"].as_str().unwrap_or("no message")
                        ),
                        Value::Null,
                    ),
                }
            }
        };
        all_good &= state == "ok";
        results.push(json!({
            "key": mask_key(key),
            "state": state,
            "free_today": daily,
        }));
    }
    if json {
        let out = json!({
            "ok": all_good,
            "listen": config.listen.to_string(),
            "upstream": config.base_url,
            "proxy": config.http_proxy.as_deref().map(mask_url),
            "strategy": config.strategy.to_string(),
            "max_concurrent_requests": config.max_concurrent,
            "keys": results,
            "warnings": notes,
        });
        println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
    } else {
        println!("settings: valid");
        for note in notes {
            println!("  warning: {note}");
        }
        println!("  listen        http://{}/v1", config.listen);
        println!("  upstream      {}", config.base_url);
        if let Some(proxy) = &config.http_proxy {
            println!("  via proxy     {}", mask_url(proxy));
        }
        println!(
            "  keys          {} ({})",
            config.keys.len(),
            config.strategy
        );
        println!("  concurrency   {}", config.max_concurrent);
        println!();
        if config.keys.is_empty() {
            println!(
                "no OpenRouter key: set OPENROUTER_API_KEY in .env (https://openrouter.ai/keys)"
            );
        } else {
            let rows: Vec<Vec<String>> = results
                .iter()
                .map(|r| {
                    let daily = &r["free_today"];
                    vec![
                        r["key"].as_str().unwrap_or("").into(),
                        number(daily["used"].as_u64()),
                        number(daily["limit"].as_u64()),
                        number(daily["remaining"].as_u64()),
                        r["state"].as_str().unwrap_or("").into(),
                    ]
                })
                .collect();
            table(&["key", ">used today", ">limit", ">left", "state"], &rows);
        }
    }
    Ok(if all_good {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// The daily counters of the last `days` days, as a table or JSON.
pub(crate) fn stats(config: &Config, days: u32, json: bool) {
    let days = crate::journal::stats::read_days(&config.cache_dir, days, None);
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&days).unwrap_or_default()
        );
        return;
    }
    println!(
        "{:<10}  {:>6}  {:>7}  {:>6}  {:>7}  {:>5}  {:>10}  {:>10}",
        "date", "total", "success", "failed", "timeout", "retry", "tokens in", "tokens out"
    );
    let mut sum = crate::journal::stats::DayCounters::default();
    for d in &days {
        // A file's date may be anything: shown as it is unless it is YYYYMMDD.
        let date = match (d.date.get(..4), d.date.get(4..6), d.date.get(6..)) {
            (Some(y), Some(m), Some(day)) if d.date.len() == 8 => format!("{y}-{m}-{day}"),
            _ => d.date.clone(),
        };
        println!(
            "{date:<10}  {:>6}  {:>7}  {:>6}  {:>7}  {:>5}  {:>10}  {:>10}",
            d.total, d.success, d.failed, d.timeout, d.retry, d.prompt_tokens, d.completion_tokens
        );
        sum.total += d.total;
        sum.success += d.success;
        sum.failed += d.failed;
        sum.timeout += d.timeout;
        sum.retry += d.retry;
        sum.prompt_tokens += d.prompt_tokens;
        sum.completion_tokens += d.completion_tokens;
    }
    println!(
        "{:<10}  {:>6}  {:>7}  {:>6}  {:>7}  {:>5}  {:>10}  {:>10}",
        "all",
        sum.total,
        sum.success,
        sum.failed,
        sum.timeout,
        sum.retry,
        sum.prompt_tokens,
        sum.completion_tokens
    );
    if sum.total == 0 {
        println!(
            "\nNo calls recorded in {}. Counting happens in debug mode: create {} next to .env.",
            config.cache_dir.display(),
            config.debug_mode_file.display()
        );
    }
}
