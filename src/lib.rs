//! openrouter-proxy: a local OpenAI-compatible endpoint for OpenRouter's free models.
//!
//! The binary (`main.rs`) only parses arguments and calls [`cli::run`]. The library is public
//! so that integration tests and the benchmark can start the real server in-process next to
//! the fake upstream. See ARCHITECTURE.md for the map.

pub mod background;
pub mod call_record;
pub mod capture;
pub mod catalog;
pub mod chat;
pub mod cli;
pub mod config;
pub mod daemon;
pub mod debug_api;
pub mod dispatch;
pub mod error;
pub mod failure;
pub mod fake_upstream;
pub mod http;
pub mod inspect;
pub mod key_pool;
pub mod limiter;
pub mod max_tokens;
pub mod model_choice;
pub mod model_health;
pub mod relay;
pub mod reload;
pub mod retry_rule;
pub mod router;
pub mod secret;
pub mod server;
pub mod shutdown;
pub mod state;
pub mod stats;
pub mod tokens;
pub mod upstream;

use std::sync::Arc;

/// Builds the shared state from a validated configuration, starts the background work (model
/// catalog, key allowances) and the server. The server runs until the process ends.
pub fn start(
    config: config::Config,
) -> Result<(Arc<state::AppState>, server::RunningServer), String> {
    let listen = config.listen;
    if config.smart_max_tokens {
        tokens::warm_up();
    }
    let state = state::AppState::new(config)?;
    let running = server::start(Arc::clone(&state)).map_err(|e| {
        format!(
            "cannot listen on {listen}: {e}; is another copy running? Set PORT in .env to use \
             another port"
        )
    })?;
    background::spawn(Arc::clone(&state));
    Ok((state, running))
}
