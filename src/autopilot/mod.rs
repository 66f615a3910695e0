//! The free-model autopilot: the model catalog, which model serves a request, what has been
//! seen of each model, the keys and their quotas, the concurrency limit, the retry rule, and
//! the token counts behind smart max_tokens. Policy lives here as pure functions where it can.

pub(crate) mod catalog;
pub(crate) mod key_pool;
pub(crate) mod key_shortage;
pub(crate) mod key_state;
pub(crate) mod key_usage_file;
pub(crate) mod limiter;
pub(crate) mod max_tokens;
pub(crate) mod model;
pub(crate) mod model_choice;
pub(crate) mod model_health;
pub(crate) mod model_refused;
pub(crate) mod model_view;
pub(crate) mod retry_rule;
pub(crate) mod tokenizer;
pub(crate) mod tokens;
