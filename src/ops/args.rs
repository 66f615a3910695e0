//! The command line, parsed: which command, with which options, or a request for help or the
//! version. Options may come before or after the command's words, as long as the command takes
//! them (`ops::command_spec` says which); anything else is a [`UsageError`], which the binary
//! reports with the command's usage and exit code 2.

use std::ffi::OsString;
use std::fmt;
use std::path::PathBuf;

use lexopt::Arg;

use crate::ops::command_spec::{self, Action, CommandSpec, Opt};
use crate::ops::help::Topic;

/// What the command line asks for.
#[derive(Debug)]
pub(crate) enum Invocation {
    Help(Topic),
    Version,
    Run(Run),
}

/// A command to run, with its options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Run {
    pub(crate) action: Action,
    pub(crate) env_file: Option<PathBuf>,
    pub(crate) demo: bool,
    pub(crate) json: bool,
    pub(crate) days: Option<u32>,
}

/// A command line that cannot be run as written: what is wrong, and where the help is.
#[derive(Debug)]
pub(crate) struct UsageError {
    message: String,
    hint: Hint,
}

/// Which help follows a usage error.
#[derive(Debug)]
enum Hint {
    /// The list of commands.
    Commands,
    /// The daemon's actions.
    Daemon,
    /// The command the line was for: its usage, and where its help is.
    Command(&'static CommandSpec),
}

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        match self.hint {
            Hint::Command(spec) => write!(
                f,
                "\nUsage: {}\nRun `openrouter-proxy help {}` for more.",
                spec.usage(),
                spec.name()
            ),
            Hint::Daemon => f.write_str("\nRun `openrouter-proxy help daemon` for the actions."),
            Hint::Commands => f.write_str("\nRun `openrouter-proxy help` for the commands."),
        }
    }
}

/// What the parser read, before it is checked against the command.
#[derive(Default)]
struct Read {
    words: Vec<String>,
    /// Every option given, in order, for the check that the command takes it.
    given: Vec<Opt>,
    help: bool,
    version: bool,
    env_file: Option<PathBuf>,
    days: Option<u32>,
    /// The first problem met; the words are still read so the error can name the command.
    problem: Option<String>,
}

/// Parses the arguments after the program's name.
pub(crate) fn parse(args: Vec<OsString>) -> Result<Invocation, UsageError> {
    let read = read(args);
    let words: Vec<&str> = read.words.iter().map(String::as_str).collect();
    if words.first() == Some(&"help") {
        let topic = topic(&words[1..])?;
        return match (&read.problem, read.given.first()) {
            (Some(problem), _) => Err(usage(problem.clone(), Hint::Commands)),
            (None, Some(opt)) => Err(usage(
                format!("{} does not apply to `help`", opt.flag()),
                Hint::Commands,
            )),
            (None, None) => Ok(Invocation::Help(topic)),
        };
    }
    if read.help && read.problem.is_none() {
        return topic(&words).map(Invocation::Help);
    }
    let spec = command(&words)?;
    if let Some(problem) = read.problem {
        return Err(usage(problem, Hint::Command(spec)));
    }
    if read.version {
        if words.is_empty() && read.given.is_empty() {
            return Ok(Invocation::Version);
        }
        return Err(usage(
            "--version takes no command and no option".into(),
            Hint::Commands,
        ));
    }
    for (i, opt) in read.given.iter().enumerate() {
        if !spec.takes(*opt) {
            return Err(usage(
                misplaced(*opt, spec, words.is_empty()),
                Hint::Command(spec),
            ));
        }
        if read.given[..i].contains(opt) {
            return Err(usage(
                format!("{} is given twice", opt.flag()),
                Hint::Command(spec),
            ));
        }
    }
    Ok(Invocation::Run(Run {
        action: spec.action,
        env_file: read.env_file,
        demo: read.given.contains(&Opt::Demo),
        json: read.given.contains(&Opt::Json),
        days: read.days,
    }))
}

fn read(args: Vec<OsString>) -> Read {
    let mut read = Read::default();
    let mut parser = lexopt::Parser::from_args(args);
    loop {
        let arg = match parser.next() {
            Ok(Some(arg)) => arg,
            Ok(None) => break,
            Err(e) => {
                read.problem.get_or_insert(e.to_string());
                break;
            }
        };
        let problem = match arg {
            Arg::Short('h') | Arg::Long("help") => {
                read.help = true;
                None
            }
            Arg::Short('V') | Arg::Long("version") => {
                read.version = true;
                None
            }
            Arg::Long("env-file") => {
                read.given.push(Opt::EnvFile);
                match parser.value() {
                    Ok(path) => {
                        read.env_file = Some(PathBuf::from(path));
                        None
                    }
                    Err(e) => Some(e.to_string()),
                }
            }
            Arg::Long("days") => {
                read.given.push(Opt::Days);
                match parser.value().map(|v| v.to_string_lossy().into_owned()) {
                    Ok(n) => match n.parse::<u32>() {
                        Ok(n) if n >= 1 => {
                            read.days = Some(n);
                            None
                        }
                        _ => Some(format!(
                            "--days needs a whole number of at least 1, not {n:?}"
                        )),
                    },
                    Err(e) => Some(e.to_string()),
                }
            }
            Arg::Long("demo") => {
                read.given.push(Opt::Demo);
                None
            }
            Arg::Long("json") => {
                read.given.push(Opt::Json);
                None
            }
            Arg::Value(word) => match word.into_string() {
                Ok(word) => {
                    read.words.push(word);
                    None
                }
                Err(word) => Some(format!("unknown argument {word:?}")),
            },
            Arg::Short(c) => Some(format!("unknown option -{c}")),
            Arg::Long(name) => Some(format!("unknown option --{name}")),
        };
        if let Some(problem) = problem {
            read.problem.get_or_insert(problem);
        }
    }
    read
}

/// The help topic named by the words after `help` (or before `--help`).
fn topic(words: &[&str]) -> Result<Topic, UsageError> {
    match words {
        [] => Ok(Topic::All),
        ["daemon"] => Ok(Topic::Daemon),
        _ => command(words).map(Topic::Command),
    }
}

/// The command the words name; none names `serve`, the default.
fn command(words: &[&str]) -> Result<&'static CommandSpec, UsageError> {
    if words.is_empty() {
        return Ok(command_spec::of(Action::Serve));
    }
    if let Some(spec) = command_spec::find(words) {
        return Ok(spec);
    }
    match command_spec::find_prefix(words) {
        Some(spec) => Err(usage(
            format!(
                "unexpected argument {:?} after `{}`",
                words[spec.words.len()],
                spec.name()
            ),
            Hint::Command(spec),
        )),
        None => Err(match words {
            ["daemon"] => usage(
                "`daemon` needs an action: start, stop, status or restart".into(),
                Hint::Daemon,
            ),
            ["daemon", action, ..] => usage(
                format!("unknown daemon action {action:?}: use start, stop, status or restart"),
                Hint::Daemon,
            ),
            [word, ..] => usage(format!("unknown command {word:?}"), Hint::Commands),
            [] => usage("no command".into(), Hint::Commands),
        }),
    }
}

/// Why `opt` is refused for `spec`, and which commands take it.
fn misplaced(opt: Opt, spec: &CommandSpec, default: bool) -> String {
    let name = if default {
        "`serve` (the command run when none is named)".to_string()
    } else {
        format!("`{}`", spec.name())
    };
    let takers: Vec<String> = command_spec::listed()
        .filter(|c| c.takes(opt))
        .map(|c| c.name())
        .collect();
    format!(
        "{} does not apply to {name}; it goes with {}",
        opt.flag(),
        takers.join(", ")
    )
}

fn usage(message: String, hint: Hint) -> UsageError {
    UsageError { message, hint }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_words(list: &[&str]) -> Result<Invocation, UsageError> {
        parse(list.iter().map(OsString::from).collect())
    }

    fn run(list: &[&str]) -> Run {
        match parse_words(list) {
            Ok(Invocation::Run(run)) => run,
            other => panic!("{list:?}: {other:?}"),
        }
    }

    fn refused(list: &[&str]) -> String {
        match parse_words(list) {
            Err(e) => e.to_string(),
            Ok(other) => panic!("{list:?} was accepted: {other:?}"),
        }
    }

    fn help(list: &[&str]) -> String {
        match parse_words(list) {
            Ok(Invocation::Help(Topic::All)) => "all".into(),
            Ok(Invocation::Help(Topic::Daemon)) => "daemon".into(),
            Ok(Invocation::Help(Topic::Command(spec))) => spec.name(),
            other => panic!("{list:?}: {other:?}"),
        }
    }

    #[test]
    fn commands_and_their_options_parse_in_any_order() {
        let serve = run(&[]);
        assert_eq!(
            (serve.action, serve.demo, serve.json),
            (Action::Serve, false, false)
        );
        let a = run(&["--env-file", "x.env", "--demo"]);
        assert_eq!(a.env_file, Some(PathBuf::from("x.env")));
        assert!(a.demo);
        assert_eq!(run(&["--env-file=y"]).env_file, Some(PathBuf::from("y")));
        let a = run(&["stats", "--days", "3", "--json"]);
        assert_eq!((a.action, a.days, a.json), (Action::Stats, Some(3), true));
        assert_eq!(run(&["--days=5", "stats"]).days, Some(5));
        assert_eq!(run(&["daemon", "status", "--json"]).action, Action::Status);
        assert_eq!(run(&["--demo", "daemon", "start"]).action, Action::Start);
        assert_eq!(run(&["daemon", "supervise"]).action, Action::Supervise);
        assert_eq!(run(&["check", "--json", "--demo"]).action, Action::Check);
        assert_eq!(run(&["models"]).action, Action::Models);
    }

    #[test]
    fn help_is_asked_for_in_every_usual_way() {
        assert_eq!(help(&["--help"]), "all");
        assert_eq!(help(&["-h"]), "all");
        assert_eq!(help(&["help"]), "all");
        assert_eq!(help(&["models", "--help"]), "models");
        assert_eq!(help(&["help", "models"]), "models");
        assert_eq!(help(&["daemon", "--help"]), "daemon");
        assert_eq!(help(&["help", "daemon"]), "daemon");
        assert_eq!(help(&["daemon", "start", "-h"]), "daemon start");
        assert_eq!(help(&["help", "daemon", "stop"]), "daemon stop");
        assert_eq!(help(&["serve", "--help"]), "serve");
        assert!(matches!(parse_words(&["-V"]), Ok(Invocation::Version)));
    }

    #[test]
    fn unknown_and_misplaced_options_are_refused_naming_them() {
        // Issue 14: each of these was accepted, and `--json` alone started a server.
        let e = refused(&["--json"]);
        assert!(e.contains("--json does not apply to `serve`"), "{e}");
        let e = refused(&["models", "--days", "3"]);
        assert!(e.contains("--days does not apply to `models`"), "{e}");
        assert!(e.contains("it goes with stats"), "{e}");
        assert!(e.contains("Usage: openrouter-proxy models"), "{e}");
        let e = refused(&["daemon", "stop", "--json"]);
        assert!(e.contains("--json does not apply to `daemon stop`"), "{e}");
        assert!(refused(&["daemon", "stop", "--demo"]).contains("--demo"));
        assert!(refused(&["--nope"]).contains("unknown option --nope"));
        assert!(refused(&["check", "-x"]).contains("unknown option -x"));
        assert!(refused(&["stats", "--days"]).contains("--days"));
        assert!(refused(&["stats", "--days", "0"]).contains("at least 1"));
        assert!(refused(&["stats", "--json", "--json"]).contains("given twice"));
        assert!(refused(&["--demo=yes"]).contains("--demo"));
        assert!(refused(&["help", "--json"]).contains("does not apply to `help`"));
        assert!(refused(&["models", "--version"]).contains("--version"));
    }

    #[test]
    fn unknown_and_extra_words_are_refused_naming_them() {
        assert!(refused(&["frobnicate"]).contains("unknown command \"frobnicate\""));
        let e = refused(&["daemon"]);
        assert!(e.contains("start, stop, status or restart"), "{e}");
        assert!(e.contains("help daemon"), "{e}");
        assert!(refused(&["daemon", "go"]).contains("unknown daemon action \"go\""));
        let e = refused(&["models", "extra"]);
        assert!(
            e.contains("unexpected argument \"extra\" after `models`"),
            "{e}"
        );
        assert!(refused(&["help", "frobnicate"]).contains("unknown command"));
        assert!(refused(&["frobnicate", "--help"]).contains("unknown command"));
    }
}
