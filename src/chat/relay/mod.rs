//! Relays OpenRouter's server-sent events to the client one event at a time, as they arrive.
//!
//! Events pass through byte for byte; keep-alive comments (`: OPENROUTER PROCESSING`) are
//! passed on and never parsed. Every stream ends with `data: [DONE]`. Before it, when the
//! model reasoned but never answered, one extra event carries the reasoning as content; when
//! the upstream failed or closed early, an OpenAI-style error event says so. The relay never
//! mixes reasoning into a stream that has content.
//!
//! The parts: [`sse`] frames events, [`state`] learns from them and writes the closing
//! events, [`end`] says how a stream ended, and [`recorder`] keeps debug mode's capture. This
//! file runs them in order, one piece per call from the server.

mod end;
mod recorder;
mod sse;
mod state;

use std::borrow::Cow;
use std::collections::VecDeque;
use std::io::Read;
use std::sync::Arc;

use serde_json::Value;

use crate::api::message::EventStream;
use crate::autopilot::limiter::Permit;
use crate::chat::relay::end::StreamEnd;
use crate::chat::relay::recorder::StreamRecorder;
use crate::chat::relay::sse::EventReader;
use crate::chat::relay::state::StreamState;
use crate::journal::call_record::CallRecord;
use crate::util::secret::Redactor;

pub(crate) struct SseRelay<R: Read> {
    events: EventReader<R>,
    state: StreamState,
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

/// Why a stream failed before its first event reached the client: it can still be retried.
#[derive(Debug)]
pub(crate) enum EarlyFailure {
    /// The first event was an error: OpenRouter's `error` object.
    ErrorEvent(Value),
    /// The stream ended, broke or went silent before its first event.
    NoEvent,
}

impl<R: Read + Send> SseRelay<R> {
    fn from_events(events: EventReader<R>) -> SseRelay<R> {
        SseRelay {
            events,
            state: StreamState::default(),
            recorder: StreamRecorder::off(),
            permit: None,
            pending: VecDeque::new(),
            end: None,
            done: false,
            text: String::new(),
            redactor: None,
        }
    }

    /// Reads up to the first `data:` event and keeps what it read for the client. A stream
    /// that ends, breaks or carries an error before that has sent the client nothing, so the
    /// call can be retried: that is an [`EarlyFailure`].
    pub(crate) fn start(reader: R) -> Result<SseRelay<R>, EarlyFailure> {
        let mut relay = SseRelay::from_events(EventReader::new(reader));
        while relay.state.data_events() == 0 && !relay.done {
            let mut piece = Vec::new();
            let mut text = String::new();
            relay.read_piece(&mut piece, &mut text);
            relay.pending.push_back((piece, text));
        }
        if let Some(error) = relay.state.take_first_error() {
            return Err(EarlyFailure::ErrorEvent(error));
        }
        if relay.state.data_events() == 0 {
            return Err(EarlyFailure::NoEvent);
        }
        Ok(relay)
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

    /// The model named by the events so far.
    /// Masks every configured secret in the events before they leave.
    pub(crate) fn redacting(mut self, redactor: Arc<Redactor>) -> SseRelay<R> {
        self.redactor = Some(redactor);
        self
    }

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
            return self.close(None, out, text);
        }
        if !event.data.is_empty() {
            self.state.observe(&event.data, text);
        }
        if event.complete {
            out.extend_from_slice(&event.raw);
            return true;
        }
        // The body ended inside an event. One with data still counts, given the blank line
        // that ends it; a comment cut short is dropped.
        if !event.data.is_empty() {
            out.extend_from_slice(&event.raw);
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
