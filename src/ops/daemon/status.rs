//! `daemon status`: whether the background proxy runs for this `CACHE_DIR` and, when it does,
//! its pids, port, uptime, restarts, keys and what its `/health` says; as text for people
//! (coloured on a terminal, moments with their zone) or as JSON for scripts. It exits 3 when
//! nothing runs, the usual "not running" status of service scripts.

use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use super::pid_file::{Paths, PidFile};
use super::proxy_api::health;
use crate::config::Config;
use crate::util::clock::from_epoch_ms;
use crate::util::colour::Colour;
use crate::util::number_format::grouped;
use crate::util::time_format::{human_duration, local_time, local_time_ahead};

pub(crate) fn status(config: &Config, json: bool) -> Result<ExitCode, String> {
    let paths = Paths::new(config);
    let running = paths.running();
    let pid = paths.read_pid().filter(|_| running);
    let health: Option<Value> = pid
        .as_ref()
        .and_then(|p| p.port)
        .and_then(health)
        .and_then(|body| serde_json::from_str(&body).ok());
    if json {
        let uptime = pid
            .as_ref()
            .map(|p| crate::util::clock::epoch_secs().saturating_sub(p.started_at));
        let value = json!({
            "running": running,
            "pid": pid.as_ref().map(|p| p.pid),
            "proxy_pid": pid.as_ref().and_then(|p| p.proxy_pid),
            "port": pid.as_ref().and_then(|p| p.port),
            "uptime_seconds": uptime,
            "restarts": pid.as_ref().map(|p| p.restarts),
            "health": health,
            "log": paths.log(),
        });
        println!(
            "{}",
            serde_json::to_string_pretty(&value).unwrap_or_default()
        );
    } else {
        let colour = Colour::stdout();
        match &pid {
            Some(p) => print!(
                "{}",
                describe(p, health.as_ref(), &paths.log(), colour, SystemTime::now())
            ),
            None => println!("{}", colour.yellow("not running")),
        }
    }
    Ok(if running {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(3)
    })
}

/// The text `status` prints for a running daemon.
fn describe(
    p: &PidFile,
    health: Option<&Value>,
    log: &Path,
    colour: Colour,
    now: SystemTime,
) -> String {
    let started = UNIX_EPOCH + Duration::from_secs(p.started_at);
    let up = now.duration_since(started).unwrap_or_default();
    let dash = |v: Option<String>| v.unwrap_or_else(|| "-".into());
    let mut out = format!("{}\n", colour.green("running"));
    let mut field = |name: &str, value: String| {
        out.push_str(&format!("  {name:<16}{value}\n"));
    };
    field("supervisor pid", p.pid.to_string());
    field("proxy pid", dash(p.proxy_pid.map(|v| v.to_string())));
    field("port", dash(p.port.map(|v| v.to_string())));
    field(
        "uptime",
        format!("{}, since {}", human_duration(up), local_time(started)),
    );
    field("restarts", grouped(u64::from(p.restarts)));
    field("health", health_summary(health, colour));
    let keys = health.and_then(|h| h["keys"].as_array());
    for (i, key) in keys.into_iter().flatten().enumerate() {
        let name = if i == 0 { "keys" } else { "" };
        field(name, key_line(key, colour, now));
    }
    field("log", log.display().to_string());
    out
}

/// One line out of `/health`'s answer.
fn health_summary(health: Option<&Value>, colour: Colour) -> String {
    let Some(h) = health else {
        return colour.red("(no answer)");
    };
    let c = &h["concurrency"];
    let status = h["status"].as_str().unwrap_or("?");
    let count = |v: &Value| v.as_u64().map_or_else(|| "?".into(), grouped);
    let mut line = format!(
        "{}, {} free models, {}/{} calls in flight, {} waiting",
        if status == "ok" {
            colour.green(status)
        } else {
            colour.red(status)
        },
        count(&h["models"]["free"]),
        count(&c["in_flight"]),
        count(&c["limit"]),
        count(&c["waiting"]),
    );
    if let Some(warning) = h["warning"].as_str() {
        line.push_str(&format!("\n{:18}{}", "", colour.yellow(warning)));
    }
    line
}

/// A key from `/health`: `sk-or-v1-abc...xyz  active, 12 of 50 used today`, with the moment
/// a resting or exhausted key comes back.
fn key_line(key: &Value, colour: Colour, now: SystemTime) -> String {
    let state = key["state"].as_str().unwrap_or("?");
    let shown = state.replace('_', " ");
    let shown = match state {
        "active" => colour.green(&shown),
        "cooling_down" => colour.yellow(&shown),
        "disabled" => colour.dim(&shown),
        _ => colour.red(&shown),
    };
    let used = key["used_today"].as_u64().unwrap_or(0);
    let limit = key["daily_limit"].as_u64().unwrap_or(0);
    let mut line = format!(
        "{}  {shown}, {} of {} used today",
        key["key"].as_str().unwrap_or("?"),
        grouped(used),
        grouped(limit)
    );
    if let Some(until) = key["until_ms"].as_u64() {
        line.push_str(&format!(
            ", until {}",
            local_time_ahead(from_epoch_ms(until), now)
        ));
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_running_daemon_is_described_with_times_keys_and_health() {
        let now = SystemTime::now();
        let started = now - Duration::from_secs(3 * 3600 + 12 * 60);
        let started_secs = started.duration_since(UNIX_EPOCH).unwrap().as_secs();
        let until = now + Duration::from_secs(2 * 3600 + 10 * 60 + 30);
        let pid = PidFile {
            pid: 25655,
            proxy_pid: Some(25656),
            port: Some(5000),
            started_at: started_secs,
            restarts: 1234,
        };
        let health = json!({
            "status": "ok",
            "models": {"free": 23},
            "concurrency": {"in_flight": 0, "limit": 5, "waiting": 0},
            "keys": [
                {"key": "sk-or-v1-abc...xyz", "state": "active", "used_today": 12,
                 "daily_limit": 1000, "until_ms": null},
                {"key": "sk-or-v1-def...uvw", "state": "out_of_quota", "used_today": 1000,
                 "daily_limit": 1000,
                 "until_ms": until.duration_since(UNIX_EPOCH).unwrap().as_millis() as u64},
            ],
        });
        let text = describe(
            &pid,
            Some(&health),
            Path::new("cache/daemon.log"),
            Colour::off(),
            now,
        );
        assert!(text.starts_with("running\n"), "{text}");
        assert!(
            text.contains("  uptime          3 h 12 min, since "),
            "{text}"
        );
        assert!(text.contains(&local_time(UNIX_EPOCH + Duration::from_secs(started_secs))));
        assert!(text.contains("  restarts        1,234\n"), "{text}");
        assert!(
            text.contains("  health          ok, 23 free models, 0/5 calls in flight, 0 waiting"),
            "{text}"
        );
        assert!(
            text.contains("  keys            sk-or-v1-abc...xyz  active, 12 of 1,000 used today\n"),
            "{text}"
        );
        assert!(
            text.contains("sk-or-v1-def...uvw  out of quota, 1,000 of 1,000 used today, until "),
            "{text}"
        );
        assert!(text.contains("(in 2 h 10 min)"), "{text}");
        assert!(!text.contains('\x1b'));
        let coloured = describe(&pid, None, Path::new("x"), Colour::on(), now);
        assert!(
            coloured.starts_with("\x1b[32mrunning\x1b[0m"),
            "{coloured:?}"
        );
        assert!(
            coloured.contains("\x1b[31m(no answer)\x1b[0m"),
            "{coloured:?}"
        );
    }
}
