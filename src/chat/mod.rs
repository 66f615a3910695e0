//! `POST /v1/chat/completions`: the request, the call to OpenRouter with its retries, and the
//! answer, whole or relayed as a stream.

pub(crate) mod answer;
pub(crate) mod dispatch;
pub(crate) mod handler;
pub(crate) mod refusal;
pub(crate) mod relay;
pub(crate) mod request;
