//! One upstream attempt: the request sent to the protocol's endpoint with one key, and what
//! came back, read as far as deciding the attempt's fate. An error status, an error envelope
//! in a 200, or a stream that fails before its answer begins is a [`Failure`] with the
//! client-facing [`ApiError`]; a whole answer is checked (and fixed) by the protocol; a
//! stream is handed on once its answer has begun.

use std::sync::Arc;

use crate::api::error::{ApiError, from_upstream, from_upstream_error};
use crate::app::state::Live;
use crate::autopilot::key_pool::KeyLease;
use crate::chat::answer::Completion;
use crate::chat::protocol::Protocol;
use crate::chat::relay::{EarlyFailure, SseRelay, StreamEnd};
use crate::upstream::client::{UpstreamBody, is_client_gone};
use crate::upstream::failure::{Failure, classify_error, classify_status};

/// Upstream answers larger than this are refused (real answers are far smaller; the limit
/// only guards memory).
const MAX_ANSWER_BYTES: u64 = 256 << 20;
/// Error bodies are short; read at most this much of one.
const MAX_ERROR_BYTES: u64 = 1 << 20;

/// What one attempt produced when it succeeded.
pub(crate) enum Answer {
    Whole(Completion),
    Stream(Box<SseRelay<UpstreamBody>>),
}

/// What an attempt sends: the protocol, the body, whether it streams, and the client headers
/// the protocol passes on.
pub(crate) struct Outgoing<'a> {
    pub(crate) protocol: Protocol,
    pub(crate) payload: &'a [u8],
    pub(crate) stream: bool,
    pub(crate) forwarded: &'a [(String, String)],
}

/// One upstream attempt with `key`.
pub(crate) fn attempt(
    live: &Live,
    key: &KeyLease,
    outgoing: &Outgoing,
) -> Result<Answer, (Failure, ApiError)> {
    let protocol = outgoing.protocol;
    let response = live
        .upstream
        .post(
            protocol.upstream_path(),
            &key.secret,
            outgoing.payload,
            outgoing.stream,
            outgoing.forwarded,
        )
        .map_err(|e| (Failure::Network, ApiError::from(e)))?;
    if response.status != 200 {
        let bytes = response.body.read_all(MAX_ERROR_BYTES).unwrap_or_default();
        // An upstream (or a proxy on the way) may quote the key back: never pass it on.
        let bytes = live.redactor.redact_bytes(&bytes).into_owned();
        let failure = classify_status(response.status, &bytes, response.retry_after.as_deref());
        return Err((
            failure,
            from_upstream(response.status, &bytes, response.retry_after),
        ));
    }
    if outgoing.stream && !response.is_json {
        return SseRelay::start(response.body, protocol.stream_observer())
            .map(|relay| Answer::Stream(Box::new(relay.redacting(Arc::clone(&live.redactor)))))
            .map_err(|early| match early {
                EarlyFailure::ErrorEvent(mut error) => {
                    live.redactor.redact_json(&mut error);
                    // The object itself is what to quote if it carries no message.
                    let quoted = error.to_string();
                    let error = from_upstream_error(200, Some(&error), quoted.as_bytes(), None);
                    envelope_failure(error)
                }
                EarlyFailure::NoEvent(end) => early_end(end, live),
            });
    }
    let bytes = response
        .body
        .read_all(MAX_ANSWER_BYTES)
        .map_err(|e| match e.kind() {
            _ if is_client_gone(&e) => (Failure::Network, ApiError::ClientGone),
            std::io::ErrorKind::TimedOut => (
                Failure::Cut,
                ApiError::UpstreamTimeout {
                    phase: "receiving the answer",
                    after: live.config.response_timeout,
                },
            ),
            _ => (
                Failure::Cut,
                ApiError::UpstreamUnreachable {
                    detail: format!("the answer was cut off: {e}"),
                },
            ),
        })?;
    let bytes = match live.redactor.redact_bytes(&bytes) {
        std::borrow::Cow::Owned(clean) => clean,
        std::borrow::Cow::Borrowed(_) => bytes,
    };
    match protocol.finish(bytes) {
        Ok(answer) => Ok(Answer::Whole(answer)),
        Err(error @ ApiError::Upstream { .. }) => Err(envelope_failure(error)),
        Err(error) => Err((Failure::BadAnswer, error)),
    }
}

/// A stream that ended before its answer began, by how it ended: a client that left is not
/// the model's fault, a silence is a timeout, a broken connection a cut; only a stream that
/// closed (or sent an event too long to read) is a bad answer.
fn early_end(end: StreamEnd, live: &Live) -> (Failure, ApiError) {
    match end {
        StreamEnd::ClientGone => (Failure::Network, ApiError::ClientGone),
        StreamEnd::Timeout => (
            Failure::Cut,
            ApiError::UpstreamTimeout {
                phase: "waiting for the stream's first answer event",
                after: live.config.idle_timeout,
            },
        ),
        StreamEnd::Broken { detail } => (
            Failure::Cut,
            ApiError::UpstreamUnreachable {
                detail: format!("the stream broke before its answer began: {detail}"),
            },
        ),
        StreamEnd::EventTooLong { .. } => (
            Failure::BadAnswer,
            ApiError::UpstreamInvalid {
                detail: end.message().unwrap_or_default(),
            },
        ),
        _ => (
            Failure::BadAnswer,
            ApiError::UpstreamInvalid {
                detail: "the stream ended before its answer began".into(),
            },
        ),
    }
}

/// A 200 (or an error event before the answer began) carrying an error: a failure classified
/// by the status, message and metadata inside, and never fatal, since the request itself was
/// accepted.
fn envelope_failure(error: ApiError) -> (Failure, ApiError) {
    let failure = match &error {
        ApiError::Upstream {
            status,
            message,
            metadata,
            ..
        } => classify_error(*status, message, metadata.as_ref(), None),
        _ => Failure::BadAnswer,
    };
    let failure = match failure {
        Failure::Fatal => Failure::BadAnswer,
        f => f,
    };
    (failure, error)
}
