//! openrouter-proxy: a local OpenAI-compatible endpoint for OpenRouter's free models.
//!
//! The binary (`main.rs`) only parses arguments and calls [`cli::run`]. The library is public
//! so that integration tests and the benchmark can start the real server in-process next to
//! the fake upstream. See ARCHITECTURE.md for the map.

pub mod chat;
pub mod cli;
pub mod config;
pub mod error;
pub mod fake_upstream;
pub mod http;
pub mod limiter;
pub mod models;
pub mod relay;
pub mod router;
pub mod secret;
pub mod server;
pub mod state;
pub mod upstream;
