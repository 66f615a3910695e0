//! `POST /v1/chat/completions`: reads and checks the request, has `dispatch` serve it, and
//! finishes debug mode's record of a call answered with a whole body.

use serde_json::Value;

use crate::api::error::ApiError;
use crate::api::message::{Body, HttpRequest, Reply};
use crate::app::state::AppState;
use crate::chat::dispatch::serve_chat;
use crate::chat::request::{ChatRequest, check_content_type, read_body};
use crate::journal::call_record::{CallRecord, Ending, Response, outcome_of, usage_of};

pub fn chat_completions(state: &AppState, req: &mut HttpRequest) -> Reply {
    let mut record = CallRecord::start(state.debug_sinks(), req);
    let reply = match prepare(state, req, &mut record) {
        Ok((chat, body)) => serve_chat(state, chat, &body, &mut record),
        Err(e) => e.into_reply(),
    };
    finish_whole(&mut record, &reply);
    reply
}

/// Reads and validates the request.
fn prepare(
    state: &AppState,
    req: &mut HttpRequest,
    record: &mut CallRecord,
) -> Result<(ChatRequest, Vec<u8>), ApiError> {
    check_content_type(req)?;
    let body = read_body(req, state.config().max_body_bytes)?;
    record.request_body(&body);
    let chat = ChatRequest::parse(&body)?;
    record.set_stream(chat.stream);
    if state.keys().is_empty() {
        return Err(ApiError::NoApiKey);
    }
    Ok((chat, body))
}

/// Finishes the record of a call answered with a whole body (a stream finishes its own).
fn finish_whole(record: &mut CallRecord, reply: &Reply) {
    let Body::Full(body) = &reply.body else {
        return;
    };
    if !record.is_on() {
        return;
    }
    let value: Value = serde_json::from_slice(body).unwrap_or_default();
    let error = &value["error"];
    let header = |name: &str| {
        reply
            .headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    record.finish(Ending {
        status: reply.status,
        outcome: outcome_of(reply.status, error["code"].as_str()),
        model: reply.model.clone(),
        key: header("X-Proxy-Key"),
        attempts: header("X-Proxy-Attempts")
            .and_then(|a| a.parse().ok())
            .unwrap_or(0),
        usage: usage_of(&value),
        error: error["message"].as_str().map(str::to_string),
        response: Response::Whole(body),
    });
}
