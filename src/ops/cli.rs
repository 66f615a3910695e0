//! The command line: parse the arguments, then serve, run a daemon command, or print what the
//! proxy knows (`models`, `stats`, `check`). Serving installs the Ctrl-C/SIGTERM handler and
//! the `.env` watcher, prints the banner (`ops::banner`), and shuts down cleanly.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::config::{Config, RawSettings};
use crate::ops::daemon::{self, ServeArgs};
use crate::ops::inspect;

const HELP: &str = "\
openrouter-proxy: one local OpenAI-compatible endpoint for OpenRouter's free models

Usage: openrouter-proxy [COMMAND] [OPTIONS]

Commands:
  serve                   serve the proxy in the foreground (the default)
  daemon start            serve in the background under a supervisor that restarts it
  daemon stop             stop the background proxy and its supervisor
  daemon status           is it running? pid, port, uptime, restarts, /health  [--json]
  daemon restart          stop, then start
  models                  the free models: context, max output, modalities, tools  [--json]
  stats                   daily call counters from CACHE_DIR  [--days N] [--json]
  check                   check the settings and each key's free quota today  [--json]

Options:
  --env-file PATH         read settings from PATH instead of ./.env
  --demo                  use a built-in fake OpenRouter: no key, no network needed
  --json                  print JSON instead of a table (models, stats, check, daemon status)
  --days N                how many days `stats` shows (default 14)
  -h, --help              print this help
  -V, --version           print the version

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

#[derive(Debug, Default, PartialEq, Eq, Clone, Copy)]
enum Command {
    #[default]
    Serve,
    Daemon(DaemonAction),
    Models,
    Stats,
    Check,
}

#[derive(Debug, PartialEq, Eq, Clone, Copy)]
enum DaemonAction {
    Start,
    Stop,
    Status,
    Restart,
    /// The supervisor itself, started by `daemon start`.
    Supervise,
}

fn parse_args(args: Vec<String>) -> Result<Args, String> {
    let mut parsed = Args::default();
    let mut args = args.into_iter();
    let mut command_seen = false;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--env-file" => {
                let path = args.next().ok_or("--env-file needs a path")?;
                parsed.env_file = Some(PathBuf::from(path));
            }
            s if s.starts_with("--env-file=") => {
                parsed.env_file = Some(PathBuf::from(&s["--env-file=".len()..]));
            }
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
            word if !command_seen && !word.starts_with('-') => {
                command_seen = true;
                parsed.command = match word {
                    "serve" => Command::Serve,
                    "models" => Command::Models,
                    "stats" => Command::Stats,
                    "check" => Command::Check,
                    "daemon" => {
                        let action = args
                            .next()
                            .ok_or("daemon needs an action: start, stop, status or restart")?;
                        Command::Daemon(match action.as_str() {
                            "start" => DaemonAction::Start,
                            "stop" => DaemonAction::Stop,
                            "status" => DaemonAction::Status,
                            "restart" => DaemonAction::Restart,
                            "supervise" => DaemonAction::Supervise,
                            other => {
                                return Err(format!(
                                    "unknown daemon action {other:?}: use start, stop, status or restart"
                                ));
                            }
                        })
                    }
                    other => return Err(format!("unknown command {other:?}; see --help")),
                };
            }
            other => return Err(format!("unknown argument {other:?}; see --help")),
        }
    }
    Ok(parsed)
}

pub fn run(args: Vec<String>) -> Result<ExitCode, String> {
    crate::util::logger::init(log::LevelFilter::Info);
    let args = parse_args(args)?;
    if args.help {
        println!("{HELP}");
        return Ok(ExitCode::SUCCESS);
    }
    if args.version {
        println!("openrouter-proxy {}", env!("CARGO_PKG_VERSION"));
        return Ok(ExitCode::SUCCESS);
    }
    let (path, required) = match &args.env_file {
        Some(p) => (p.clone(), true),
        None => (PathBuf::from(".env"), false),
    };
    let raw = RawSettings::load(&path, required).map_err(|e| e.to_string())?;
    let notes = raw.unknown_settings();
    let serve_args = ServeArgs {
        env_file: args.env_file.clone(),
        demo: args.demo,
    };
    match args.command {
        Command::Serve => {
            for note in &notes {
                log::warn!("{note}");
            }
            serve(raw, &path, args.demo)
        }
        Command::Stats => {
            let config = raw.validate().map_err(|e| e.to_string())?;
            inspect::stats(&config, args.days.unwrap_or(14), args.json);
            Ok(ExitCode::SUCCESS)
        }
        Command::Models => inspect::models(&validated(raw, args.demo)?.0, args.json),
        Command::Check => inspect::check(&validated(raw, args.demo)?.0, &notes, args.json),
        Command::Daemon(action) => {
            let config = raw.validate().map_err(|e| e.to_string())?;
            match action {
                DaemonAction::Start => daemon::start(&config, &serve_args),
                DaemonAction::Stop => daemon::stop(&config),
                DaemonAction::Status => daemon::status(&config, args.json),
                DaemonAction::Restart => daemon::restart(&config, &serve_args),
                DaemonAction::Supervise => daemon::supervise(&config, &serve_args),
            }
        }
    }
}

/// The built-in fake OpenRouter while it runs; builds without the `demo` feature have none.
#[cfg(feature = "demo")]
type Demo = crate::demo::FakeUpstream;
#[cfg(not(feature = "demo"))]
type Demo = ();

/// The configuration, pointed at a built-in fake OpenRouter when `demo` (returned with it: it
/// lives as long as the caller keeps it).
fn validated(mut raw: RawSettings, demo: bool) -> Result<(Config, Option<Demo>), String> {
    let fake = if demo {
        Some(start_demo(&mut raw)?)
    } else {
        None
    };
    let config = raw.validate().map_err(|e| e.to_string())?;
    Ok((config, fake))
}

#[cfg(feature = "demo")]
fn start_demo(raw: &mut RawSettings) -> Result<Demo, String> {
    let fake = Demo::start_demo().map_err(|e| format!("cannot start the demo: {e}"))?;
    raw.set("OPENROUTER_BASE_URL", &fake.base_url());
    raw.set(
        "OPENROUTER_API_KEY",
        "sk-or-v1-demo-key-for-the-built-in-fake-upstream",
    );
    raw.set("OPENROUTER_API_KEYS", "");
    raw.set("HTTP_PROXY", "");
    Ok(fake)
}

#[cfg(not(feature = "demo"))]
fn start_demo(_: &mut RawSettings) -> Result<Demo, String> {
    Err(
        "--demo needs the built-in fake OpenRouter, which this build leaves out (it was \
         built without the `demo` feature)"
            .into(),
    )
}

/// Serves until Ctrl-C, SIGTERM or the supervisor's request, then shuts down cleanly.
fn serve(raw: RawSettings, env_file: &std::path::Path, demo: bool) -> Result<ExitCode, String> {
    let (config, _demo) = validated(raw, demo)?;
    let (state, server) = crate::app::start(config)?;
    crate::ops::banner::print(&state.config(), &server.local_addr().to_string(), demo);
    if !demo {
        crate::ops::reload::spawn(std::sync::Arc::clone(&state), env_file.to_path_buf());
    }
    let on_signal = std::sync::Arc::clone(&state);
    if let Err(e) = ctrlc::set_handler(move || on_signal.shutdown.ask()) {
        log::warn!("cannot catch Ctrl-C ({e}); stopping will not be graceful");
    }
    state.shutdown.wait();
    let grace = state.config().shutdown_grace;
    let usage = state.limiter.usage();
    log::info!(
        "shutting down: {} call(s) in flight get up to {} s to finish",
        usage.in_flight,
        grace.as_secs_f64()
    );
    let finished = server.stop(grace);
    state.keys().save();
    log::info!(
        "stopped{}",
        if finished {
            ""
        } else {
            " (some calls were still running)"
        }
    );
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Result<Args, String> {
        parse_args(list.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn parses_commands_and_flags() {
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
        let a = args(&["daemon", "status", "--json"]).unwrap();
        assert_eq!(a.command, Command::Daemon(DaemonAction::Status));
        assert!(args(&["daemon"]).unwrap_err().contains("start, stop"));
        assert!(args(&["daemon", "go"]).is_err());
        assert_eq!(args(&["models"]).unwrap().command, Command::Models);
        assert_eq!(args(&["check", "--json"]).unwrap().command, Command::Check);
        assert!(
            args(&["frobnicate"])
                .unwrap_err()
                .contains("unknown command")
        );
    }
}
