//! The running application: the state every handler shares, the background work beside the
//! server, and the shutdown request.

pub(crate) mod admin_choices;
pub(crate) mod background;
pub(crate) mod shutdown;
pub(crate) mod state;

use std::sync::Arc;

pub use crate::http::server::RunningServer;

/// Builds the shared state from a validated configuration, starts the background work (model
/// catalog, key allowances) and the server. The server runs until the process ends.
pub fn start(
    config: crate::config::Config,
) -> Result<(Arc<state::AppState>, RunningServer), String> {
    crate::util::logger::init(config.log_level);
    let listen = config.listen;
    if config.smart_max_tokens {
        crate::autopilot::tokenizer::warm_up();
    }
    let state = state::AppState::new(config)?;
    let running = crate::http::server::start(Arc::clone(&state)).map_err(|e| {
        format!(
            "cannot listen on {listen}: {e}; is another copy running? Set PORT in .env to use \
             another port"
        )
    })?;
    background::spawn(Arc::clone(&state));
    Ok((state, running))
}
