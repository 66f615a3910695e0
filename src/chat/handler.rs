//! `POST /v1/chat/completions`: reads and checks the request, has `dispatch` serve it, and
//! finishes debug mode's record of a call answered with a whole body, from the report
//! dispatch hands back with the reply.

use crate::api::error::ApiError;
use crate::api::message::{Body, HttpRequest, Reply};
use crate::app::state::{AppState, Live};
use crate::chat::dispatch::serve_chat;
use crate::chat::request::{ChatRequest, check_content_type, read_body};
use crate::journal::call_record::{CallRecord, CallReport, Response};

pub(crate) fn chat_completions(state: &AppState, req: &mut HttpRequest) -> Reply {
    // One snapshot of the settings for the whole call, however long it takes.
    let live = state.live();
    let mut record = CallRecord::start(state.debug_sinks(&live), req);
    let (reply, report) = match prepare(&live, req, &mut record) {
        Ok((chat, body)) => {
            let served = serve_chat(state, &live, chat, &body, &mut record);
            (served.reply, served.report)
        }
        Err(e) => {
            let report = CallReport::refused(&e);
            (e.into_reply(), Some(report))
        }
    };
    // A stream finishes its own record; a whole reply is finished here.
    if let (Some(report), Body::Full(body)) = (report, &reply.body) {
        record.finish(reply.status, report, Response::Whole(body));
    }
    reply
}

/// Reads and validates the request.
fn prepare(
    live: &Live,
    req: &mut HttpRequest,
    record: &mut CallRecord,
) -> Result<(ChatRequest, Vec<u8>), ApiError> {
    check_content_type(req)?;
    let body = read_body(req, live.config.max_body_bytes)?;
    record.request_body(&body);
    let chat = ChatRequest::parse(&body)?;
    record.set_stream(chat.stream);
    if live.keys.is_empty() {
        return Err(ApiError::NoApiKey);
    }
    Ok((chat, body))
}
