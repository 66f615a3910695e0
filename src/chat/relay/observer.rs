//! What the relay asks of a protocol's stream: a [`StreamObserver`] reads each event as it
//! passes (the model, the answer text, the usage, whether the answer began, finished or
//! failed) and writes the events the relay adds at the end. Events pass through as they came;
//! the one exception is an answer that only reasoned, which gets its text as the protocol
//! shapes text, just before the event that ends it.

use serde_json::Value;

use crate::chat::relay::end::StreamEnd;

/// How far a stream has come.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) enum Progress {
    /// Nothing yet but what precedes an answer (keep-alive comments, `response.created`,
    /// `message_start`, pings): a failure now can still be retried.
    #[default]
    Waiting,
    /// An error came before the answer began.
    Failed,
    /// The answer began.
    Started,
}

/// Reads one protocol's stream events as the relay passes them on.
pub(crate) trait StreamObserver: Send {
    /// Learns from one event that has data (`raw` its bytes, `data` its payload), appending
    /// the answer text it carries to `text`. Returns the bytes to send in its place when the
    /// observer must put something before it, `None` to send it as it came.
    fn observe(&mut self, raw: &[u8], data: &[u8], text: &mut String) -> Option<Vec<u8>>;

    /// How far the stream has come.
    fn progress(&self) -> Progress;

    /// The error that came before the answer began, as OpenRouter's `{"message","code"}`
    /// object, so that it is classified like an error status.
    fn take_early_error(&mut self) -> Option<Value>;

    /// The model named by the events so far.
    fn model(&self) -> Option<&str>;

    /// `(prompt, completion)` tokens, from the events that carried usage.
    fn usage(&self) -> (u64, u64);

    /// Ends the stream: decides how it ended from the read `failure`, if any, and what the
    /// events showed, then writes the protocol's closing events to `out` (the text of an
    /// answer that only reasoned, an error event when the client must learn the answer is
    /// incomplete); the text written goes to `text` too.
    fn close(
        &mut self,
        failure: Option<StreamEnd>,
        out: &mut Vec<u8>,
        text: &mut String,
    ) -> StreamEnd;

    /// Whether the upstream's `data: [DONE]` is passed on as it came, after the closing
    /// events; otherwise it is left out (and the observer writes its own in `close` when the
    /// protocol has one).
    fn passes_done(&self) -> bool;
}

/// Appends one event: an `event:` line when it has a name, then its JSON as `data:`.
pub(crate) fn push_event(out: &mut Vec<u8>, name: Option<&str>, event: &Value) {
    if let Some(name) = name {
        out.extend_from_slice(b"event: ");
        out.extend_from_slice(name.as_bytes());
        out.push(b'\n');
    }
    out.extend_from_slice(b"data: ");
    // Writing a Value into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, event);
    out.extend_from_slice(b"\n\n");
}

/// Whether a raw event names itself with an `event:` line (so that events the relay writes
/// in its place do too).
pub(crate) fn is_named(raw: &[u8]) -> bool {
    raw.starts_with(b"event:")
}

/// The end a stream had: OpenRouter's own error event is the first thing that went wrong, so
/// it says why; then the read failure; then whether the answer finished.
pub(crate) fn end_of(saw_error: bool, failure: Option<StreamEnd>, finished: bool) -> StreamEnd {
    match failure {
        _ if saw_error => StreamEnd::UpstreamError,
        Some(failure) => failure,
        None if !finished => StreamEnd::ClosedEarly,
        None => StreamEnd::Complete,
    }
}
