//! Colour on a terminal, and none anywhere else: a few ANSI codes, decided once per output
//! stream by [`Colour::stdout`] or [`Colour::stderr`].
//!
//! The rules, in order: `NO_COLOR` set to anything but an empty string turns colour off
//! (no-color.org); `CLICOLOR_FORCE` set to anything but `0` turns it on even through a pipe
//! (how the tests see it); otherwise colour goes only to a terminal whose `TERM` is not
//! `dumb`. On Windows, where a console shows ANSI codes only once a program asks for it
//! (which needs unsafe code), colour goes only to terminals known to show them: Windows
//! Terminal (`WT_SESSION`) and those that set `TERM` (MSYS2, Cygwin, Git Bash).
//!
//! It knows nothing of the proxy, and never writes: it only wraps text in codes.

use std::ffi::OsString;
use std::io::IsTerminal;

/// Whether one output stream gets colour, and the text wrapped for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Colour {
    on: bool,
}

impl Colour {
    /// For what goes to standard output (tables, `status`, help).
    pub(crate) fn stdout() -> Colour {
        Colour::decided(std::io::stdout().is_terminal())
    }

    /// For what goes to standard error (log lines, the banner, errors).
    pub(crate) fn stderr() -> Colour {
        Colour::decided(std::io::stderr().is_terminal())
    }

    /// Never any colour: for tests of plain output.
    #[cfg(test)]
    pub(crate) const fn off() -> Colour {
        Colour { on: false }
    }

    /// Always colour: for tests of what coloured output looks like.
    #[cfg(test)]
    pub(crate) const fn on() -> Colour {
        Colour { on: true }
    }

    fn decided(is_terminal: bool) -> Colour {
        Colour {
            on: wanted(|name| std::env::var_os(name), is_terminal, cfg!(windows)),
        }
    }

    pub(crate) fn bold(self, text: &str) -> String {
        self.paint("1", text)
    }

    pub(crate) fn dim(self, text: &str) -> String {
        self.paint("2", text)
    }

    pub(crate) fn red(self, text: &str) -> String {
        self.paint("31", text)
    }

    pub(crate) fn green(self, text: &str) -> String {
        self.paint("32", text)
    }

    pub(crate) fn yellow(self, text: &str) -> String {
        self.paint("33", text)
    }

    pub(crate) fn cyan(self, text: &str) -> String {
        self.paint("36", text)
    }

    fn paint(self, code: &str, text: &str) -> String {
        if self.on && !text.is_empty() {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }
}

/// The decision, from the environment (`var`), whether the stream is a terminal, and whether
/// this is Windows.
fn wanted(var: impl Fn(&str) -> Option<OsString>, is_terminal: bool, windows: bool) -> bool {
    let set = |name: &str| var(name).filter(|v| !v.is_empty());
    if set("NO_COLOR").is_some() {
        return false;
    }
    if set("CLICOLOR_FORCE").is_some_and(|v| v != "0") {
        return true;
    }
    if !is_terminal || set("TERM").is_some_and(|t| t == "dumb") {
        return false;
    }
    !windows || set("WT_SESSION").is_some() || set("TERM").is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decide(env: &[(&str, &str)], is_terminal: bool, windows: bool) -> bool {
        let env: Vec<(String, OsString)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), OsString::from(v)))
            .collect();
        wanted(
            |name| env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()),
            is_terminal,
            windows,
        )
    }

    #[test]
    fn colour_goes_to_terminals_unless_no_color_says_otherwise() {
        let unix = false;
        type Env = &'static [(&'static str, &'static str)];
        // (environment, is a terminal, expected)
        let table: &[(Env, bool, bool)] = &[
            (&[], true, true),
            (&[], false, false),
            (&[("NO_COLOR", "1")], true, false),
            (&[("NO_COLOR", "")], true, true),
            (&[("CLICOLOR_FORCE", "1")], false, true),
            (&[("CLICOLOR_FORCE", "0")], false, false),
            (&[("CLICOLOR_FORCE", "1"), ("NO_COLOR", "1")], false, false),
            (&[("TERM", "dumb")], true, false),
            (&[("TERM", "xterm-256color")], true, true),
        ];
        for (env, terminal, expected) in table {
            assert_eq!(
                decide(env, *terminal, unix),
                *expected,
                "{env:?} {terminal}"
            );
        }
    }

    #[test]
    fn on_windows_only_terminals_known_to_show_codes_get_them() {
        assert!(!decide(&[], true, true));
        assert!(decide(&[("WT_SESSION", "x")], true, true));
        assert!(decide(&[("TERM", "xterm")], true, true));
        assert!(decide(&[("CLICOLOR_FORCE", "1")], false, true));
    }

    #[test]
    fn text_is_wrapped_only_when_on() {
        let on = Colour::on();
        assert_eq!(on.green("ok"), "\x1b[32mok\x1b[0m");
        assert_eq!(on.red(""), "");
        assert_eq!(Colour::off().green("ok"), "ok");
    }
}
