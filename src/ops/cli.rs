//! The command line's entry point: parse the arguments (`ops::args`), then print the help or
//! the version, serve, run a daemon command, or print what the proxy knows (`models`,
//! `stats`, `check`). Serving installs the Ctrl-C/SIGTERM handler and the `.env` watcher, and
//! shuts down cleanly.

use std::ffi::OsString;
use std::fmt;
use std::path::PathBuf;
use std::process::ExitCode;

use crate::config::{Config, RawSettings};
use crate::ops::args::{self, Invocation, UsageError};
use crate::ops::command_spec::Action;
use crate::ops::daemon::{self, ServeArgs};
use crate::ops::help;
use crate::ops::inspect;
use crate::util::colour::Colour;

/// Why the program stops without doing what it was asked: a command line it cannot run (exit
/// code 2, the convention for usage errors), or a failure while running (exit code 1).
#[derive(Debug)]
pub struct CliError {
    message: String,
    usage: bool,
}

impl CliError {
    /// The exit code the binary ends with.
    pub fn exit_code(&self) -> ExitCode {
        ExitCode::from(if self.usage { 2 } else { 1 })
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl From<String> for CliError {
    fn from(message: String) -> CliError {
        CliError {
            message,
            usage: false,
        }
    }
}

impl From<UsageError> for CliError {
    fn from(e: UsageError) -> CliError {
        CliError {
            message: e.to_string(),
            usage: true,
        }
    }
}

/// Runs the command line `args` (the program's name left out).
pub fn run(args: Vec<OsString>) -> Result<ExitCode, CliError> {
    crate::util::logger::init(log::LevelFilter::Info);
    let command = match args::parse(args)? {
        Invocation::Help(topic) => {
            print!("{}", help::render(topic, Colour::stdout()));
            return Ok(ExitCode::SUCCESS);
        }
        Invocation::Version => {
            println!("openrouter-proxy {}", env!("CARGO_PKG_VERSION"));
            return Ok(ExitCode::SUCCESS);
        }
        Invocation::Run(command) => command,
    };
    let (path, required) = match &command.env_file {
        Some(p) => (p.clone(), true),
        None => (PathBuf::from(".env"), false),
    };
    let raw = RawSettings::load(&path, required).map_err(|e| e.to_string())?;
    let notes = raw.unknown_settings();
    let serve_args = ServeArgs {
        env_file: command.env_file.clone(),
        demo: command.demo,
    };
    let outcome = match command.action {
        Action::Serve => {
            for note in &notes {
                log::warn!("{note}");
            }
            serve(raw, &path, command.demo)
        }
        Action::Stats => {
            inspect::stats(&valid(&raw)?, command.days.unwrap_or(14), command.json);
            Ok(ExitCode::SUCCESS)
        }
        Action::Models => inspect::models(&validated(raw, command.demo)?.0, command.json),
        Action::Check => inspect::check(&validated(raw, command.demo)?.0, &notes, command.json),
        Action::Start => daemon::start(&startable(&raw)?, &serve_args),
        Action::Restart => daemon::restart(&startable(&raw)?, &serve_args),
        Action::Stop => daemon::stop(&valid(&raw)?),
        Action::Status => daemon::status(&valid(&raw)?, command.json),
        Action::Supervise => daemon::supervise(&valid(&raw)?, &serve_args),
    };
    Ok(outcome?)
}

fn valid(raw: &RawSettings) -> Result<Config, String> {
    raw.validate().map_err(|e| e.to_string())
}

/// The configuration `daemon start` launches with, checked as far as it can be without
/// starting anything: every setting, and the upstream client they describe (`HTTP_PROXY`).
fn startable(raw: &RawSettings) -> Result<Config, String> {
    let config = valid(raw)?;
    crate::upstream::client::Upstream::new(&config)?;
    Ok(config)
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
