//! The read-only commands: `models`, `stats` and `check` print what the proxy knows, as
//! aligned tables for people (counts grouped as `1,234`, moments as `2026-12-01 22:35 UTC+1`,
//! states in colour on a terminal) or JSON for scripts.

use std::process::ExitCode;
use std::time::SystemTime;

use serde_json::{Value, json};

use crate::autopilot::catalog::Catalog;
use crate::autopilot::model_view::ModelView;
use crate::config::Config;
use crate::ops::table::{self, Tone};
use crate::upstream::client::Upstream;
use crate::util::clock::next_quota_reset;
use crate::util::colour::Colour;
use crate::util::number_format::{grouped, grouped_or_dash};
use crate::util::secret::mask_key;
use crate::util::secret::mask_url;
use crate::util::time_format::local_time_ahead;

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
                grouped_or_dash(m.context_length),
                grouped_or_dash(m.max_completion_tokens),
                m.input_modalities.join("+"),
                if m.supports("tools") { "yes" } else { "-" }.into(),
                m.parameters.clone().unwrap_or_else(|| "-".into()),
            ]
        })
        .collect();
    print!(
        "{}",
        table::render(
            &["model", ">context", ">max out", "input", "tools", "params"],
            &rows,
            Colour::stdout(),
            table::plain,
        )
    );
    println!("\n{} free models", grouped(rows.len() as u64));
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
        let colour = Colour::stdout();
        println!("settings: {}", colour.green("valid"));
        for note in notes {
            println!("  {} {note}", colour.yellow("warning:"));
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
                "{}",
                colour.yellow(
                    "no OpenRouter key: set OPENROUTER_API_KEY in .env (https://openrouter.ai/keys)"
                )
            );
        } else {
            let rows: Vec<Vec<String>> = results
                .iter()
                .map(|r| {
                    let daily = &r["free_today"];
                    vec![
                        r["key"].as_str().unwrap_or("").into(),
                        grouped_or_dash(daily["used"].as_u64()),
                        grouped_or_dash(daily["limit"].as_u64()),
                        grouped_or_dash(daily["remaining"].as_u64()),
                        r["state"].as_str().unwrap_or("").into(),
                    ]
                })
                .collect();
            let state = |column: usize, cell: &str| match (column, cell) {
                (4, "ok") => Tone::Good,
                (4, _) => Tone::Bad,
                _ => Tone::Plain,
            };
            print!(
                "{}",
                table::render(
                    &["key", ">used today", ">limit", ">left", "state"],
                    &rows,
                    colour,
                    state,
                )
            );
            println!(
                "\nfree quotas reset at {}",
                local_time_ahead(next_quota_reset(), SystemTime::now())
            );
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
    let mut sum = crate::journal::stats::DayCounters::default();
    let mut rows = Vec::new();
    for d in &days {
        // A file's date may be anything: shown as it is unless it is YYYYMMDD.
        let date = match (d.date.get(..4), d.date.get(4..6), d.date.get(6..)) {
            (Some(y), Some(m), Some(day)) if d.date.len() == 8 => format!("{y}-{m}-{day}"),
            _ => d.date.clone(),
        };
        rows.push(counter_row(date, d));
        sum.total += d.total;
        sum.success += d.success;
        sum.failed += d.failed;
        sum.timeout += d.timeout;
        sum.retry += d.retry;
        sum.prompt_tokens += d.prompt_tokens;
        sum.completion_tokens += d.completion_tokens;
    }
    rows.push(counter_row("all".into(), &sum));
    print!(
        "{}",
        table::render(
            &[
                "date",
                ">total",
                ">success",
                ">failed",
                ">timeout",
                ">retry",
                ">tokens in",
                ">tokens out",
            ],
            &rows,
            Colour::stdout(),
            table::plain,
        )
    );
    if sum.total == 0 {
        println!(
            "\nNo calls recorded in {}. Counting happens in debug mode: create {} next to .env.",
            config.cache_dir.display(),
            config.debug_mode_file.display()
        );
    }
}

/// One line of `stats`: the date (or "all"), then the counters, grouped.
fn counter_row(date: String, d: &crate::journal::stats::DayCounters) -> Vec<String> {
    let counts = [
        d.total,
        d.success,
        d.failed,
        d.timeout,
        d.retry,
        d.prompt_tokens,
        d.completion_tokens,
    ];
    std::iter::once(date)
        .chain(counts.into_iter().map(grouped))
        .collect()
}
