//! The help texts: the whole program's (`--help`, `help`), the daemon's actions (`daemon
//! --help`, `help daemon`) and each command's (`models --help`, `help models`), all written
//! from the one table of commands (`ops::command_spec`), so what the help says a command takes
//! is what the parser accepts.

use crate::ops::command_spec::{self, CommandSpec, DAEMON_SUMMARY, Opt};
use crate::util::colour::Colour;

/// What a help text is about.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Topic {
    All,
    Daemon,
    Command(&'static CommandSpec),
}

/// Lines are wrapped to this width.
const WIDTH: usize = 92;
/// Where the descriptions start in a two-column list.
const COLUMN: usize = 20;
/// What exit code 2 means, for every command.
const USAGE_ERROR: &str = "usage error: an unknown or misplaced option or argument";

/// The help text for `topic`, ending with a newline.
pub(crate) fn render(topic: Topic, colour: Colour) -> String {
    match topic {
        Topic::All => program(colour),
        Topic::Daemon => daemon(colour),
        Topic::Command(spec) => command(spec, colour),
    }
}

fn program(colour: Colour) -> String {
    let mut out = format!(
        "openrouter-proxy {}: one local OpenAI-compatible endpoint for OpenRouter's free models\n\n",
        env!("CARGO_PKG_VERSION")
    );
    out.push_str(&format!(
        "{} openrouter-proxy [COMMAND] [OPTIONS]\n\n",
        colour.bold("Usage:")
    ));
    out.push_str(&format!("{}\n", colour.bold("Commands:")));
    for spec in command_spec::listed() {
        out.push_str(&row(&spec.name(), spec.summary));
    }
    out.push_str(&row("help [COMMAND]", "print this help, or a command's"));
    out.push_str(&format!("\n{}\n", colour.bold("Options:")));
    for opt in Opt::ALL {
        let users: Vec<String> = command_spec::listed()
            .filter(|c| c.takes(opt))
            .map(|c| c.name())
            .collect();
        let scope = if users.len() == command_spec::listed().count() {
            "every command".to_string()
        } else {
            users.join(", ")
        };
        out.push_str(&row(opt.synopsis(), &format!("{} ({scope})", opt.help())));
    }
    out.push_str(&row(
        "-h, --help",
        "print help; after a command, that command's",
    ));
    out.push_str(&row("-V, --version", "print the version"));
    out.push_str(&format!("\n{}\n", colour.bold("Exit codes:")));
    out.push_str(&code_row(0, "done"));
    out.push_str(&code_row(1, "failed; the reason is printed"));
    out.push_str(&code_row(2, USAGE_ERROR));
    out.push_str(&code_row(3, "`daemon status` only: not running"));
    out.push('\n');
    out.push_str(&wrap(
        "Run `openrouter-proxy help COMMAND` for a command's options. Settings come from .env \
         and the environment (the environment wins); see .env.example. Point any OpenAI client \
         at http://localhost:5000/v1 (any API key unless PROXY_API_KEY is set).",
        0,
    ));
    out
}

fn daemon(colour: Colour) -> String {
    let mut out = format!("openrouter-proxy daemon: {DAEMON_SUMMARY}\n\n");
    out.push_str(&format!(
        "{} openrouter-proxy daemon ACTION [OPTIONS]\n\n",
        colour.bold("Usage:")
    ));
    out.push_str(&format!("{}\n", colour.bold("Actions:")));
    for spec in command_spec::daemon_actions() {
        out.push_str(&row(spec.words[1], spec.summary));
    }
    out.push('\n');
    out.push_str(&wrap(
        "One instance per CACHE_DIR. Run `openrouter-proxy help daemon ACTION` for an \
         action's options and exit codes.",
        0,
    ));
    out
}

fn command(spec: &CommandSpec, colour: Colour) -> String {
    let mut out = format!("openrouter-proxy {}: {}\n\n", spec.name(), spec.summary);
    out.push_str(&format!("{} {}\n\n", colour.bold("Usage:"), spec.usage()));
    out.push_str(&wrap(spec.about, 0));
    out.push_str(&format!("\n{}\n", colour.bold("Options:")));
    for opt in spec.options {
        out.push_str(&row(opt.synopsis(), opt.help()));
    }
    out.push_str(&row("-h, --help", "print this help"));
    out.push_str(&format!("\n{}\n", colour.bold("Exit codes:")));
    let mut codes: Vec<(u8, &str)> = spec.exit_codes.to_vec();
    codes.push((2, USAGE_ERROR));
    codes.sort_by_key(|(code, _)| *code);
    for (code, meaning) in codes {
        out.push_str(&code_row(code, meaning));
    }
    out
}

/// `  name              description`, the description wrapped under itself.
fn row(name: &str, description: &str) -> String {
    row_at(COLUMN, name, description)
}

/// An exit code and what it means: `  0  listed`.
fn code_row(code: u8, meaning: &str) -> String {
    row_at(5, &code.to_string(), meaning)
}

/// A two-column row whose description starts at `column`.
fn row_at(column: usize, name: &str, description: &str) -> String {
    let mut out = format!("  {name}");
    if name.len() + 2 >= column {
        out.push('\n');
        out.push_str(&" ".repeat(column));
    } else {
        out.push_str(&" ".repeat(column - 2 - name.len()));
    }
    let wrapped = wrap(description, column);
    out.push_str(wrapped.trim_start());
    out
}

/// `text` as lines of at most `WIDTH` characters, each after `indent` spaces.
fn wrap(text: &str, indent: usize) -> String {
    let mut out = String::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && indent + line.len() + 1 + word.len() > WIDTH {
            out.push_str(&format!("{}{line}\n", " ".repeat(indent)));
            line.clear();
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        out.push_str(&format!("{}{line}\n", " ".repeat(indent)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_program_help_lists_every_visible_command_and_option_but_not_the_supervisor() {
        let text = render(Topic::All, Colour::off());
        for spec in command_spec::listed() {
            assert!(text.contains(&format!("  {}", spec.name())), "{text}");
        }
        for opt in Opt::ALL {
            assert!(text.contains(opt.synopsis()), "{text}");
        }
        assert!(!text.contains("supervise"), "{text}");
        assert!(text.contains("help [COMMAND]"));
    }

    #[test]
    fn a_command_help_shows_its_usage_options_and_exit_codes() {
        let models = command_spec::find(&["models"]).unwrap();
        let text = render(Topic::Command(models), Colour::off());
        assert!(
            text.contains("Usage: openrouter-proxy models [--env-file PATH] [--demo] [--json]"),
            "{text}"
        );
        assert!(!text.contains("--days"), "{text}");
        assert!(text.contains(&format!("  2  {USAGE_ERROR}")), "{text}");
        let daemon = render(Topic::Daemon, Colour::off());
        for action in ["start", "stop", "status", "restart"] {
            assert!(daemon.contains(&format!("  {action} ")), "{daemon}");
        }
        assert!(!daemon.contains("supervise"), "{daemon}");
    }

    #[test]
    fn lines_stay_within_the_width() {
        for topic in [Topic::All, Topic::Daemon]
            .into_iter()
            .chain(command_spec::COMMANDS.iter().map(Topic::Command))
        {
            let text = render(topic, Colour::off());
            for line in text.lines() {
                assert!(line.chars().count() <= WIDTH, "{line:?}");
            }
        }
    }

    #[test]
    fn a_long_name_puts_its_description_on_the_next_line() {
        assert_eq!(
            row("ab", "cd"),
            format!("  ab{}cd\n", " ".repeat(COLUMN - 4))
        );
        let long = row("a-very-long-option-name", "cd");
        assert!(long.starts_with("  a-very-long-option-name\n"), "{long:?}");
        assert!(
            long.ends_with(&format!("{}cd\n", " ".repeat(COLUMN))),
            "{long:?}"
        );
    }
}
