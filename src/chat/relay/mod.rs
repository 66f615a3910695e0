//! Relays OpenRouter's server-sent events to the client one event at a time, as they arrive,
//! whichever the protocol.
//!
//! Events pass through byte for byte, `event:` lines included; keep-alive comments
//! (`: OPENROUTER PROCESSING`) are passed on and never parsed. The protocol's
//! [`StreamObserver`] reads each event and writes what the relay adds: when the model
//! reasoned but never answered, the reasoning as the protocol's text; when the upstream failed
//! or closed early, the protocol's own error event. Chat streams end with the relay's
//! `data: [DONE]`, Responses streams with OpenRouter's, Messages streams at `message_stop`
//! (Anthropic's protocol has no `[DONE]`).
//!
//! The parts: [`sse`] frames events, the observers (`chat_stream`, `responses_stream`,
//! `messages_stream`) learn from them and write the closing events, [`end`] says how a
//! stream ended, and [`recorder`] keeps debug mode's capture. This file runs them in order,
//! one piece per call from the server.

pub(crate) mod chat_stream;
mod end;
pub(crate) mod messages_stream;
mod observer;
mod recorder;
pub(crate) mod responses_stream;
mod sse;

use std::borrow::Cow;
use std::collections::VecDeque;
use std::io::Read;
use std::sync::Arc;

use serde_json::Value;

use crate::api::message::EventStream;
use crate::autopilot::limiter::Permit;
pub(crate) use crate::chat::relay::end::StreamEnd;
use crate::chat::relay::observer::Progress;
pub(crate) use crate::chat::relay::observer::StreamObserver;
use crate::chat::relay::recorder::StreamRecorder;
use crate::chat::relay::sse::EventReader;
use crate::journal::call_record::CallRecord;
use crate::util::secret::Redactor;

/// Until the answer begins, the relay reads ahead at most this many bytes, holding them back
/// so that a failure can still be retried; past that, it lets them go as if the answer had
/// begun. (Keep-alive comments while a slow provider starts are a few dozen bytes each;
/// `response.created` echoes the request's instructions and tools, tens of KiB.)
const READ_AHEAD_BYTES: usize = 256 << 10;

pub(crate) struct SseRelay<R: Read> {
    events: EventReader<R>,
    state: Box<dyn StreamObserver>,
    recorder: StreamRecorder,
    /// Held for the whole stream; released when the relay is dropped or finished.
    permit: Option<Permit>,
    /// Pieces read by [`SseRelay::start`] and not yet sent, each with its answer text.
    pending: VecDeque<(Vec<u8>, String)>,
    /// How the stream ended, once it has, until the record says so.
    end: Option<StreamEnd>,
    done: bool,
    /// The answer text of the piece being read; reused from piece to piece.
    text: String,
    /// Masks any configured key an event carries (an upstream may quote it back).
    redactor: Option<Arc<Redactor>>,
}

/// Why a stream failed before its answer began: the client has nothing yet, so it can still
/// be retried.
#[derive(Debug)]
pub(crate) enum EarlyFailure {
    /// An error came first: OpenRouter's `error` object.
    ErrorEvent(Value),
    /// The stream ended, broke or went silent before its answer began; how it ended.
    NoEvent(StreamEnd),
}

impl<R: Read + Send> SseRelay<R> {
    fn from_events(events: EventReader<R>, state: Box<dyn StreamObserver>) -> SseRelay<R> {
        SseRelay {
            events,
            state,
            recorder: StreamRecorder::off(),
            permit: None,
            pending: VecDeque::new(),
            end: None,
            done: false,
            text: String::new(),
            redactor: None,
        }
    }

    /// Reads until the answer begins (past keep-alive comments and the protocol's preamble
    /// events) and keeps what it read for the client. A stream that ends, breaks or carries an
    /// error before that has sent the client nothing, so the call can be retried: that is an
    /// [`EarlyFailure`].
    pub(crate) fn start(
        reader: R,
        observer: Box<dyn StreamObserver>,
    ) -> Result<SseRelay<R>, EarlyFailure> {
        let mut relay = SseRelay::from_events(EventReader::new(reader), observer);
        let mut held = 0;
        while relay.state.progress() == Progress::Waiting && !relay.done && held < READ_AHEAD_BYTES
        {
            let mut piece = Vec::new();
            let mut text = String::new();
            relay.read_piece(&mut piece, &mut text);
            held += piece.len();
            relay.pending.push_back((piece, text));
        }
        match relay.state.progress() {
            Progress::Failed => Err(EarlyFailure::ErrorEvent(
                relay.state.take_early_error().unwrap_or_default(),
            )),
            Progress::Waiting if relay.done => Err(EarlyFailure::NoEvent(
                relay.end.take().unwrap_or(StreamEnd::ClosedEarly),
            )),
            _ => Ok(relay),
        }
    }

    /// Makes the relay hold the call's concurrency slot until it ends.
    pub(crate) fn holding(mut self, permit: Permit) -> SseRelay<R> {
        self.permit = Some(permit);
        self
    }

    /// Makes the relay finish the call's debug record when the stream ends.
    pub(crate) fn recording(mut self, record: CallRecord, key: String, attempts: u32) -> Self {
        self.recorder = StreamRecorder::new(record, key, attempts);
        self
    }

    /// Masks every configured secret in the events before they leave.
    pub(crate) fn redacting(mut self, redactor: Arc<Redactor>) -> SseRelay<R> {
        self.redactor = Some(redactor);
        self
    }

    /// The model named by the events so far.
    pub(crate) fn model(&self) -> Option<&str> {
        self.state.model()
    }

    /// Reads the next piece for the client into `out`: one event, or the closing events.
    /// Returns false, writing nothing, once the stream has ended.
    fn read_piece(&mut self, out: &mut Vec<u8>, text: &mut String) -> bool {
        if self.done {
            return false;
        }
        let event = match self.events.next_event() {
            Ok(Some(event)) => event,
            Ok(None) => return self.close(None, out, text),
            Err(e) => return self.close(Some(StreamEnd::from_read_error(e)), out, text),
        };
        if event.data == b"[DONE]" {
            self.close(None, out, text);
            if self.state.passes_done() {
                out.extend_from_slice(&event.raw);
            }
            return true;
        }
        let replaced = if event.data.is_empty() {
            None
        } else {
            self.state.observe(&event.raw, &event.data, text)
        };
        if let Some(bytes) = replaced {
            out.extend_from_slice(&bytes);
        } else if event.complete || !event.data.is_empty() {
            out.extend_from_slice(&event.raw);
        }
        if event.complete {
            return true;
        }
        // The body ended inside an event. One with data still counts, given the blank line
        // that ends it; a comment cut short is dropped.
        if !event.data.is_empty() {
            out.push(b'\n');
        }
        self.close(None, out, text)
    }

    fn close(&mut self, failure: Option<StreamEnd>, out: &mut Vec<u8>, text: &mut String) -> bool {
        self.end = Some(self.state.close(failure, out, text));
        self.done = true;
        true
    }
}

impl<R: Read + Send> EventStream for SseRelay<R> {
    fn next_piece(&mut self, out: &mut Vec<u8>) -> bool {
        // Asked for more, the server has sent the last piece.
        self.recorder.received();
        let start = out.len();
        let more = match self.pending.pop_front() {
            Some((piece, text)) => {
                out.extend_from_slice(&piece);
                self.text = text;
                true
            }
            None => {
                let mut text = std::mem::take(&mut self.text);
                text.clear();
                let more = self.read_piece(out, &mut text);
                self.text = text;
                more
            }
        };
        if !more {
            return false;
        }
        if let Some(redactor) = &self.redactor
            && let Cow::Owned(clean) = redactor.redact_bytes(&out[start..])
        {
            out.truncate(start);
            out.extend_from_slice(&clean);
        }
        self.recorder.handed(&out[start..], &self.text);
        if self.pending.is_empty()
            && let Some(end) = self.end.take()
        {
            self.recorder
                .finish(&end, self.state.model(), self.state.usage());
        }
        true
    }

    fn finish(mut self: Box<Self>) {
        // The client has everything. Free the slot first, then read what little follows
        // `[DONE]` so the upstream connection goes back to the pool for the next call.
        drop(self.permit.take());
        self.events.drain(64 * 1024);
    }
}

impl<R: Read> Drop for SseRelay<R> {
    fn drop(&mut self) {
        // A record still open here means the client left before the end.
        if self.recorder.is_on() {
            self.recorder
                .abandon(self.state.model(), self.state.usage());
        }
    }
}

#[cfg(test)]
mod tests;
