//! `POST /v1/messages/count_tokens`: Anthropic's token count, answered by the proxy itself
//! with its own estimate (tiktoken's o200k_base over the system prompt, the messages and the
//! tools, as smart output limits count them) and never sent upstream: it costs no quota and
//! needs no OpenRouter key. Claude Code calls it to decide when to compact a conversation.

use serde_json::json;

use crate::api::error::ApiError;
use crate::api::message::{HttpRequest, Reply};
use crate::app::state::AppState;
use crate::autopilot::tokens::PromptSize;
use crate::chat::protocol::Protocol;
use crate::chat::request::{CallRequest, check_content_type, read_body};

/// Counts the prompt of a Messages request: `{"input_tokens": N}`.
pub(crate) fn count_tokens(state: &AppState, req: &mut HttpRequest) -> Result<Reply, ApiError> {
    check_content_type(req)?;
    let body = read_body(req, state.config().max_body_bytes)?;
    let call = CallRequest::parse(Protocol::Messages, &body)?;
    let tokens = PromptSize::new(&call.value, true, 0).tokens();
    let body = json!({"input_tokens": tokens});
    Ok(Reply::json(
        200,
        serde_json::to_vec(&body).unwrap_or_default(),
    ))
}
