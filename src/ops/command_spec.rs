//! The commands the binary knows, each with its words, its options, what it does and its exit
//! codes: the one table that both the parser (`ops::args`, which refuses an option a command
//! does not take) and the help (`ops::help`) read, so the two cannot disagree.
//!
//! It only describes; running a command is `ops::cli`'s.

/// An option some commands take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Opt {
    EnvFile,
    Demo,
    Json,
    Days,
}

impl Opt {
    pub(crate) const ALL: [Opt; 4] = [Opt::EnvFile, Opt::Demo, Opt::Json, Opt::Days];

    /// The option as typed: `--days`.
    pub(crate) const fn flag(self) -> &'static str {
        match self {
            Opt::EnvFile => "--env-file",
            Opt::Demo => "--demo",
            Opt::Json => "--json",
            Opt::Days => "--days",
        }
    }

    /// The option with its value's name, as the help shows it: `--days N`.
    pub(crate) const fn synopsis(self) -> &'static str {
        match self {
            Opt::EnvFile => "--env-file PATH",
            Opt::Demo => "--demo",
            Opt::Json => "--json",
            Opt::Days => "--days N",
        }
    }

    pub(crate) const fn help(self) -> &'static str {
        match self {
            Opt::EnvFile => "read settings from PATH instead of ./.env",
            Opt::Demo => "use a built-in fake OpenRouter: no key, no network needed",
            Opt::Json => "print JSON instead of text, for scripts",
            Opt::Days => "how many days to show, today included; 14 when not given",
        }
    }
}

/// What a command line asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    Serve,
    Start,
    Stop,
    Status,
    Restart,
    /// The supervisor itself, started by `daemon start`; hidden from the help.
    Supervise,
    Models,
    Stats,
    Check,
}

/// One command: how it is called, what it takes, what it answers.
#[derive(Debug)]
pub(crate) struct CommandSpec {
    pub(crate) action: Action,
    /// The words that name it: `["daemon", "start"]`.
    pub(crate) words: &'static [&'static str],
    /// One line, for the list of commands.
    pub(crate) summary: &'static str,
    /// A paragraph, for its own help.
    pub(crate) about: &'static str,
    pub(crate) options: &'static [Opt],
    /// Its exit codes besides 2 (a usage error, the same for every command).
    pub(crate) exit_codes: &'static [(u8, &'static str)],
    /// Internal: left out of the help's lists.
    pub(crate) hidden: bool,
}

impl CommandSpec {
    /// `daemon start`.
    pub(crate) fn name(&self) -> String {
        self.words.join(" ")
    }

    /// `openrouter-proxy daemon start [--env-file PATH] [--demo]`.
    pub(crate) fn usage(&self) -> String {
        let mut usage = format!("openrouter-proxy {}", self.name());
        for opt in self.options {
            usage.push_str(&format!(" [{}]", opt.synopsis()));
        }
        usage
    }

    pub(crate) fn takes(&self, opt: Opt) -> bool {
        self.options.contains(&opt)
    }
}

/// What the `daemon` word alone is: a group of actions.
pub(crate) const DAEMON_SUMMARY: &str = "run the proxy in the background, under a supervisor";

const START_EXITS: &[(u8, &str)] = &[
    (0, "started: the proxy answers /health"),
    (
        1,
        "not started: already running, or the proxy cannot start (the reason is printed)",
    ),
];

pub(crate) const COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        action: Action::Serve,
        words: &["serve"],
        summary: "serve the proxy in the foreground (the default command)",
        about: "Serves http://HOST:PORT/v1 until Ctrl-C or SIGTERM, then lets the calls in \
                flight finish (up to SHUTDOWN_GRACE) and exits. Edits to .env are picked up \
                while it runs, except HOST, PORT and CACHE_DIR.",
        options: &[Opt::EnvFile, Opt::Demo],
        exit_codes: &[
            (0, "stopped cleanly"),
            (
                1,
                "could not start: a setting is invalid, or the port is taken",
            ),
        ],
        hidden: false,
    },
    CommandSpec {
        action: Action::Start,
        words: &["daemon", "start"],
        summary: "serve in the background under a supervisor that restarts it",
        about: "Checks the settings, starts a supervisor in the background and returns once \
                the proxy answers /health. When the proxy cannot start at all (the port is \
                taken, a setting is refused) it says why at once. The supervisor restarts a \
                proxy that stops after it has started, at most 10 times a minute. The log is \
                CACHE_DIR/daemon.log.",
        options: &[Opt::EnvFile, Opt::Demo],
        exit_codes: START_EXITS,
        hidden: false,
    },
    CommandSpec {
        action: Action::Stop,
        words: &["daemon", "stop"],
        summary: "stop the background proxy and its supervisor",
        about: "Asks the supervisor to stop; the proxy lets the calls in flight finish (up to \
                SHUTDOWN_GRACE) first. Processes that do not stop in time are ended by force.",
        options: &[Opt::EnvFile],
        exit_codes: &[
            (0, "stopped, or it was not running"),
            (1, "the stop could not be asked for"),
        ],
        hidden: false,
    },
    CommandSpec {
        action: Action::Status,
        words: &["daemon", "status"],
        summary: "is it running? pids, port, uptime, restarts, keys, /health",
        about: "Says whether the background proxy runs for this CACHE_DIR and, when it does, \
                its pids, port, uptime, restarts and what its /health says.",
        options: &[Opt::EnvFile, Opt::Json],
        exit_codes: &[
            (0, "running"),
            (1, "the settings are invalid"),
            (3, "not running"),
        ],
        hidden: false,
    },
    CommandSpec {
        action: Action::Restart,
        words: &["daemon", "restart"],
        summary: "stop, then start",
        about: "Stops the background proxy if it runs, then starts it as `daemon start` does.",
        options: &[Opt::EnvFile, Opt::Demo],
        exit_codes: START_EXITS,
        hidden: false,
    },
    CommandSpec {
        action: Action::Supervise,
        words: &["daemon", "supervise"],
        summary: "the supervisor itself, started by `daemon start`",
        about: "Runs the proxy as a child process and restarts it when it stops after it has \
                started. `daemon start` runs it; there is no need to run it by hand.",
        options: &[Opt::EnvFile, Opt::Demo],
        exit_codes: &[
            (0, "stopped on request"),
            (1, "the proxy could not be kept running"),
        ],
        hidden: true,
    },
    CommandSpec {
        action: Action::Models,
        words: &["models"],
        summary: "the free models: context, max output, input, tools, parameters",
        about: "Loads the model list from OpenRouter (or shows the cached copy when OpenRouter \
                does not answer) and prints the free models.",
        options: &[Opt::EnvFile, Opt::Demo, Opt::Json],
        exit_codes: &[
            (0, "listed"),
            (1, "no list could be loaded, nor a cached one"),
        ],
        hidden: false,
    },
    CommandSpec {
        action: Action::Stats,
        words: &["stats"],
        summary: "daily call counters from CACHE_DIR (debug mode writes them)",
        about: "Prints the daily counters debug mode keeps in CACHE_DIR: calls, successes, \
                failures, timeouts, retries and tokens, one line a day and a total.",
        options: &[Opt::EnvFile, Opt::Days, Opt::Json],
        exit_codes: &[(0, "printed"), (1, "the settings are invalid")],
        hidden: false,
    },
    CommandSpec {
        action: Action::Check,
        words: &["check"],
        summary: "check the settings and each key's free quota today",
        about: "Validates the settings, then asks OpenRouter (GET /key) about each key: \
                whether it is accepted, and its free calls used and left today.",
        options: &[Opt::EnvFile, Opt::Demo, Opt::Json],
        exit_codes: &[
            (0, "the settings are valid and every key is accepted"),
            (
                1,
                "a setting is invalid, there is no key, or a key is refused",
            ),
        ],
        hidden: false,
    },
];

/// The command named by exactly these words.
pub(crate) fn find(words: &[&str]) -> Option<&'static CommandSpec> {
    COMMANDS.iter().find(|c| c.words == words)
}

/// The command named by the first words of `words` (the longest such), if any.
pub(crate) fn find_prefix(words: &[&str]) -> Option<&'static CommandSpec> {
    COMMANDS
        .iter()
        .filter(|c| words.starts_with(c.words))
        .max_by_key(|c| c.words.len())
}

/// The command that runs `action`.
pub(crate) fn of(action: Action) -> &'static CommandSpec {
    COMMANDS
        .iter()
        .find(|c| c.action == action)
        .unwrap_or(&COMMANDS[0])
}

/// The commands the help lists, in its order.
pub(crate) fn listed() -> impl Iterator<Item = &'static CommandSpec> {
    COMMANDS.iter().filter(|c| !c.hidden)
}

/// The daemon's actions the help lists: `start`, `stop`, `status`, `restart`.
pub(crate) fn daemon_actions() -> impl Iterator<Item = &'static CommandSpec> {
    listed().filter(|c| c.words.first() == Some(&"daemon"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_action_has_exactly_one_command() {
        for spec in COMMANDS {
            let same = COMMANDS.iter().filter(|c| c.action == spec.action).count();
            assert_eq!(same, 1, "{}", spec.name());
            assert_eq!(of(spec.action).name(), spec.name());
            assert_eq!(find(spec.words).map(|c| c.action), Some(spec.action));
        }
        assert_eq!(
            find_prefix(&["daemon", "start", "now"]).map(|c| c.action),
            Some(Action::Start)
        );
        assert!(find_prefix(&["daemon"]).is_none());
    }

    #[test]
    fn every_option_is_taken_by_some_command() {
        for opt in Opt::ALL {
            assert!(listed().any(|c| c.takes(opt)), "{}", opt.flag());
            assert!(opt.synopsis().starts_with(opt.flag()));
        }
    }

    #[test]
    fn the_supervisor_is_the_only_hidden_command() {
        let hidden: Vec<String> = COMMANDS
            .iter()
            .filter(|c| c.hidden)
            .map(|c| c.name())
            .collect();
        assert_eq!(hidden, ["daemon supervise"]);
    }
}
