//! Debug mode's record of a streamed call: the events the client got and the answer text in
//! them, kept as they leave, and the record finished when the stream ends or the client
//! leaves.
//!
//! A piece counts as received once the server asks for the next one (it has then written and
//! flushed it) or the stream ends. So a client that leaves mid-stream has a capture of exactly
//! the pieces that reached it, and a stream that ends is recorded with its last piece just
//! before that piece leaves, so that a crash right after cannot lose a call the client fully
//! received. Captures keep at most [`MAX_CAPTURED_BYTES`] of events and of text.

use crate::chat::relay::end::StreamEnd;
use crate::journal::call_record::{CallRecord, CallReport, Response};
use crate::journal::stats::Outcome;

/// The most of a stream's raw events, and of its text, a capture keeps.
pub(crate) const MAX_CAPTURED_BYTES: usize = 1 << 20;

/// Keeps what a stream sent until its record is finished.
pub(crate) struct StreamRecorder {
    /// Finished (and then off) once; off from the start when debug mode is off.
    record: CallRecord,
    /// The masked key and the number of attempts, for the record.
    key: String,
    attempts: u32,
    /// The events handed to the server, and the answer text in them.
    events: Vec<u8>,
    text: String,
    /// How much of `events` and `text` the client is known to have received.
    received: (usize, usize),
    /// All the bytes of events and text handed over, kept or not; and of those, received.
    handed_total: (usize, usize),
    received_total: (usize, usize),
}

impl StreamRecorder {
    /// A recorder that keeps nothing.
    pub(crate) fn off() -> StreamRecorder {
        StreamRecorder::new(CallRecord::off(), String::new(), 0)
    }

    pub(crate) fn new(record: CallRecord, key: String, attempts: u32) -> StreamRecorder {
        StreamRecorder {
            record,
            key,
            attempts,
            events: Vec::new(),
            text: String::new(),
            received: (0, 0),
            handed_total: (0, 0),
            received_total: (0, 0),
        }
    }

    pub(crate) fn is_on(&self) -> bool {
        self.record.is_on()
    }

    /// The server asked for another piece: it has sent the last one.
    pub(crate) fn received(&mut self) {
        self.received = (self.events.len(), self.text.len());
        self.received_total = self.handed_total;
    }

    /// Notes a piece handed to the server, and the answer text in it.
    pub(crate) fn handed(&mut self, piece: &[u8], text: &str) {
        if !self.is_on() {
            return;
        }
        self.handed_total.0 += piece.len();
        self.handed_total.1 += text.len();
        let room = MAX_CAPTURED_BYTES.saturating_sub(self.events.len());
        self.events
            .extend_from_slice(&piece[..piece.len().min(room)]);
        let room = MAX_CAPTURED_BYTES.saturating_sub(self.text.len());
        let mut cut = text.len().min(room);
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        self.text.push_str(&text[..cut]);
    }

    /// Finishes the record of a stream that ended as `end`; its last piece is on its way.
    pub(crate) fn finish(&mut self, end: &StreamEnd, model: Option<&str>, usage: (u64, u64)) {
        self.received();
        self.close(end.outcome(), end.message(), model, usage);
    }

    /// Finishes the record of a stream the client left: only what reached it is kept.
    pub(crate) fn abandon(&mut self, model: Option<&str>, usage: (u64, u64)) {
        let (events, text) = self.received;
        self.events.truncate(events);
        self.text.truncate(text);
        let error = "the client went away before the end of the stream".to_string();
        self.close(Outcome::Failed, Some(error), model, usage);
    }

    fn close(
        &mut self,
        outcome: Outcome,
        error: Option<String>,
        model: Option<&str>,
        usage: (u64, u64),
    ) {
        let report = CallReport {
            outcome,
            model: model.map(str::to_string),
            key: Some(self.key.clone()),
            attempts: self.attempts,
            usage,
            error,
        };
        let response = Response::Stream {
            text: &self.text,
            raw: &self.events,
            text_total: self.received_total.1,
            raw_total: self.received_total.0,
        };
        self.record.finish(200, report, response);
    }
}
