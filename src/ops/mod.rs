//! Running the proxy: the command line (its parser, its table of commands, its help), serving
//! in the foreground with its banner, the daemon, the `.env` watcher, and the read-only
//! commands.

pub(crate) mod args;
pub(crate) mod banner;
pub(crate) mod cli;
pub(crate) mod command_spec;
pub(crate) mod daemon;
pub(crate) mod help;
pub(crate) mod inspect;
pub(crate) mod reload;
pub(crate) mod table;
