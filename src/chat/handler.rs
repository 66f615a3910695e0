//! The generation routes (`/v1/chat/completions`, `/v1/responses`, `/v1/messages`): reads and
//! checks the request, has `dispatch` serve it, and finishes debug mode's record of a call
//! answered with a whole body, from the report dispatch hands back with the reply. Errors come
//! in the protocol's own shape.

use crate::api::error::ApiError;
use crate::api::message::{Body, HttpRequest, Reply};
use crate::app::state::{AppState, Live};
use crate::chat::dispatch::serve_call;
use crate::chat::protocol::Protocol;
use crate::chat::request::{CallRequest, check_content_type, read_body};
use crate::journal::call_record::{CallRecord, CallReport, Response};

/// Serves one call of `protocol`.
pub(crate) fn generate(state: &AppState, req: &mut HttpRequest, protocol: Protocol) -> Reply {
    // One snapshot of the settings for the whole call, however long it takes.
    let live = state.live();
    let mut record = CallRecord::start(state.debug_sinks(&live), req, protocol.route());
    let (reply, report) = match prepare(&live, req, protocol, &mut record) {
        Ok((call, body)) => {
            let forwarded = protocol.forwarded_headers(req);
            let served = serve_call(state, &live, call, &body, &forwarded, &mut record);
            (served.reply, served.report)
        }
        Err(e) => {
            let report = CallReport::refused(&e);
            (protocol.error_shape().reply(e), Some(report))
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
    protocol: Protocol,
    record: &mut CallRecord,
) -> Result<(CallRequest, Vec<u8>), ApiError> {
    check_content_type(req)?;
    let body = read_body(req, live.config.max_body_bytes)?;
    record.request_body(&body);
    let call = CallRequest::parse(protocol, &body)?;
    record.set_stream(call.stream);
    if live.keys.is_empty() {
        return Err(ApiError::NoApiKey);
    }
    Ok((call, body))
}
