//! Running the proxy: the command line, serving in the foreground, the daemon, the `.env`
//! watcher, and the read-only commands.

pub(crate) mod banner;
pub(crate) mod cli;
pub(crate) mod daemon;
pub(crate) mod inspect;
pub(crate) mod reload;
pub(crate) mod table;
