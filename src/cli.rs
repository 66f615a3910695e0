//! The command line: `openrouter-proxy [--env-file PATH] [--demo]`, `--help`, `--version`.
//! Loads the configuration, starts the server, prints where it listens, and serves until the
//! process ends.

use std::path::PathBuf;

use crate::config::{Config, RawSettings};
use crate::fake_upstream::FakeUpstream;
use crate::secret::mask_key;

const HELP: &str = "\
openrouter-proxy: one local OpenAI-compatible endpoint for OpenRouter's free models

Usage: openrouter-proxy [COMMAND] [OPTIONS]

Commands:
  serve             serve the proxy (the default)
  stats             print the daily call counters from CACHE_DIR (written in debug mode)
                    [--days N] (default 14) [--json]

Options:
  --env-file PATH   read settings from PATH instead of ./.env
  --demo            serve a built-in fake OpenRouter: no key, no network needed
  -h, --help        print this help
  -V, --version     print the version

Settings come from .env and the environment (the environment wins); see .env.example.
Point any OpenAI client at http://localhost:5000/v1 (any API key unless PROXY_API_KEY is set).";

#[derive(Debug, Default, PartialEq, Eq)]
struct Args {
    command: Command,
    env_file: Option<PathBuf>,
    demo: bool,
    help: bool,
    version: bool,
    days: Option<u32>,
    json: bool,
}

#[derive(Debug, Default, PartialEq, Eq)]
enum Command {
    #[default]
    Serve,
    Stats,
}

fn parse_args(args: Vec<String>) -> Result<Args, String> {
    let mut parsed = Args::default();
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--env-file" => {
                let path = args.next().ok_or("--env-file needs a path")?;
                parsed.env_file = Some(PathBuf::from(path));
            }
            s if s.starts_with("--env-file=") => {
                parsed.env_file = Some(PathBuf::from(&s["--env-file=".len()..]));
            }
            "serve" => parsed.command = Command::Serve,
            "stats" => parsed.command = Command::Stats,
            "--days" => {
                let n = args.next().ok_or("--days needs a number")?;
                let n = n.parse().ok().filter(|n| *n >= 1).ok_or(format!(
                    "--days needs a whole number of at least 1, not {n:?}"
                ))?;
                parsed.days = Some(n);
            }
            "--json" => parsed.json = true,
            "--demo" => parsed.demo = true,
            "-h" | "--help" => parsed.help = true,
            "-V" | "--version" => parsed.version = true,
            other => return Err(format!("unknown argument {other:?}; see --help")),
        }
    }
    Ok(parsed)
}

pub fn run(args: Vec<String>) -> Result<(), String> {
    let args = parse_args(args)?;
    if args.help {
        println!("{HELP}");
        return Ok(());
    }
    if args.version {
        println!("openrouter-proxy {}", env!("CARGO_PKG_VERSION"));
        return Ok(());
    }
    let (path, required) = match &args.env_file {
        Some(p) => (p.clone(), true),
        None => (PathBuf::from(".env"), false),
    };
    let mut raw = RawSettings::load(&path, required).map_err(|e| e.to_string())?;
    if args.command == Command::Stats {
        let config = raw.validate().map_err(|e| e.to_string())?;
        print_stats(&config, args.days.unwrap_or(14), args.json);
        return Ok(());
    }

    // The demo's fake upstream lives as long as the process.
    let _demo = if args.demo {
        let fake = FakeUpstream::start_demo().map_err(|e| format!("cannot start the demo: {e}"))?;
        raw.set("OPENROUTER_BASE_URL", &fake.base_url());
        raw.set(
            "OPENROUTER_API_KEY",
            "sk-or-v1-demo-key-for-the-built-in-fake-upstream",
        );
        raw.set("HTTP_PROXY", "");
        Some(fake)
    } else {
        None
    };
    let config = raw.validate().map_err(|e| e.to_string())?;
    let (state, server) = crate::start(config)?;
    print_banner(&state.config, server.local_addr().to_string(), args.demo);
    server.wait();
    Ok(())
}

/// The daily counters of the last `days` days, as a table or JSON.
fn print_stats(config: &Config, days: u32, json: bool) {
    let days = crate::stats::read_days(&config.cache_dir, days, None);
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
    let mut sum = crate::stats::DayCounters::default();
    for d in &days {
        let date = format!("{}-{}-{}", &d.date[..4], &d.date[4..6], &d.date[6..]);
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

fn print_banner(config: &Config, addr: String, demo: bool) {
    eprintln!(
        "openrouter-proxy {} listening on http://{addr}/v1",
        env!("CARGO_PKG_VERSION")
    );
    if demo {
        eprintln!(
            "  demo mode: answers come from a built-in fake OpenRouter at {}",
            config.base_url
        );
        eprintln!(
            "  try: curl -s http://{addr}/v1/chat/completions -H 'Content-Type: application/json' \
             -d '{{\"messages\":[{{\"role\":\"user\",\"content\":\"Hi\"}}]}}'"
        );
    } else {
        eprintln!("  upstream: {}", config.base_url);
    }
    match config.keys.as_slice() {
        [] => eprintln!(
            "  no OpenRouter key yet: chat calls will fail until you set OPENROUTER_API_KEY in .env \
             and restart"
        ),
        keys => eprintln!(
            "  keys: {} ({:?})",
            keys.iter()
                .map(|k| mask_key(k))
                .collect::<Vec<_>>()
                .join(", "),
            config.strategy
        ),
    }
    eprintln!(
        "  at most {} upstream calls at once; others wait up to {} s",
        config.max_concurrent,
        config.queue_timeout.as_secs_f64()
    );
    if config.proxy_api_key.is_some() {
        eprintln!("  clients must send Authorization: Bearer <PROXY_API_KEY>");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Result<Args, String> {
        parse_args(list.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn parses_flags() {
        assert_eq!(args(&[]).unwrap(), Args::default());
        let a = args(&["--env-file", "x.env", "--demo"]).unwrap();
        assert_eq!(a.env_file, Some(PathBuf::from("x.env")));
        assert!(a.demo);
        assert_eq!(
            args(&["--env-file=y"]).unwrap().env_file,
            Some(PathBuf::from("y"))
        );
        assert!(args(&["--env-file"]).is_err());
        assert!(args(&["--nope"]).unwrap_err().contains("--nope"));
        let a = args(&["stats", "--days", "3", "--json"]).unwrap();
        assert_eq!((a.command, a.days, a.json), (Command::Stats, Some(3), true));
        assert!(args(&["stats", "--days", "0"]).is_err());
    }
}
