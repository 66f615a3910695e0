//! openrouter-proxy: a local OpenAI-compatible endpoint for OpenRouter's free models.
//!
//! The binary (`main.rs`) only calls [`run`]. The library's public surface is small: what the
//! integration tests and the benchmark need to start the real server in-process next to the
//! fake upstream ([`demo`]), to speak raw HTTP/1.1 to it ([`Conn`]), and to check a few pure
//! functions. Everything else is
//! `pub(crate)`. ARCHITECTURE.md has the map; the folders, from the top of the house down:
//! `ops` (command line, daemon, reload) → `http` (server, router) → `chat`, `admin` →
//! `app` (shared state) → `autopilot`, `upstream`, `journal` → `api`, `config`, `util`.

#![warn(unreachable_pub)]

pub(crate) mod admin;
pub(crate) mod api;
pub(crate) mod app;
pub(crate) mod autopilot;
pub(crate) mod chat;
pub(crate) mod config;
#[cfg(feature = "demo")]
pub mod demo;
pub(crate) mod http;
pub(crate) mod journal;
pub(crate) mod ops;
pub(crate) mod upstream;
pub(crate) mod util;

pub use app::state::AppState;
pub use app::{RunningServer, start};
pub use autopilot::catalog::Snapshot;
pub use autopilot::tokenizer::count_text;
pub use autopilot::tokens::PromptSize;
pub use config::{Config, RawSettings};
pub use ops::cli::{CliError, run};
pub use ops::reload::spawn as watch_env_file;
pub use upstream::failure::Failure;
pub use util::http_client::{Conn, Head, Response};
