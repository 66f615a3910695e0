//! The generation routes: `POST /v1/chat/completions`, `/v1/responses` and `/v1/messages`,
//! one pipeline for the three protocols (`protocol.rs` says what differs). The request, the
//! calls to OpenRouter with their retries, and the answer, whole or relayed as a stream.

pub(crate) mod answer;
pub(crate) mod attempt;
pub(crate) mod count_tokens;
pub(crate) mod dispatch;
pub(crate) mod handler;
pub(crate) mod payload;
pub(crate) mod protocol;
pub(crate) mod refusal;
pub(crate) mod relay;
pub(crate) mod request;
