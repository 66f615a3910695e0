//! Relays OpenRouter's server-sent events to the client one event at a time, as they arrive.
//!
//! Events pass through byte for byte; keep-alive comments (`: OPENROUTER PROCESSING`) are
//! passed on and never parsed. The relay only reads each event's JSON to learn three things:
//! whether any answer text (`delta.content`) has been sent, the reasoning text so far (kept
//! only while no content has been seen), and whether the stream finished or failed.
//!
//! Every stream ends with `data: [DONE]`. Before it, when the model reasoned but never
//! answered, one extra event carries the reasoning as content; when the upstream failed or
//! closed early, an OpenAI-style error event says so. The relay never mixes reasoning into a
//! stream that has content.

use std::io::{self, BufRead, BufReader, Read};

use serde::Deserialize;
use serde_json::json;

use crate::api::message::EventStream;
use crate::autopilot::limiter::Permit;
use crate::journal::call_record::{CallRecord, Ending, Response};
use crate::journal::stats::Outcome;

const DONE: &[u8] = b"data: [DONE]\n\n";

pub struct SseRelay<R: Read> {
    reader: BufReader<R>,
    /// Held for the whole stream; released when the relay is dropped or finished.
    permit: Option<Permit>,
    /// Events read by [`SseRelay::start`] and not yet sent.
    pending: Vec<u8>,
    /// `data:` events seen so far, and the `error` object of the first one if it had one.
    data_events: usize,
    first_error: Option<serde_json::Value>,
    /// The event being assembled: its raw lines, and its `data:` payload.
    raw: Vec<u8>,
    data: Vec<u8>,
    saw_content: bool,
    saw_finish: bool,
    saw_error: bool,
    /// Reasoning text received while no content has been seen.
    reasoning: String,
    /// `id`, `created` and `model` of the last chunk, for events the relay writes itself.
    last_id: String,
    last_created: u64,
    last_model: String,
    done: bool,
    /// Debug mode's record of the call, finished when the stream ends; with what it needs.
    record: CallRecord,
    record_key: String,
    record_attempts: u32,
    /// The answer text and the raw events, kept only while recording.
    text: String,
    captured: Vec<u8>,
    usage: (u64, u64),
    /// How the stream ended, once it has: the outcome and the failure, if any.
    ending: Option<(Outcome, Option<String>)>,
}

/// The most of a stream's raw events a capture keeps.
const MAX_CAPTURED_BYTES: usize = 1 << 20;

#[derive(Deserialize)]
struct Chunk {
    id: Option<String>,
    created: Option<u64>,
    model: Option<String>,
    #[serde(default)]
    choices: Vec<ChunkChoice>,
    error: Option<serde_json::Value>,
    usage: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct ChunkChoice {
    delta: Option<Delta>,
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct Delta {
    content: Option<String>,
    reasoning: Option<String>,
}

/// Why a stream failed before its first event: it can still be retried.
#[derive(Debug)]
pub struct EarlyFailure {
    pub message: String,
    /// The upstream's `error` object, when the first event was an error.
    pub error: Option<serde_json::Value>,
}

impl<R: Read + Send> SseRelay<R> {
    pub fn new(reader: R) -> SseRelay<R> {
        SseRelay {
            reader: BufReader::with_capacity(16 * 1024, reader),
            permit: None,
            pending: Vec::new(),
            data_events: 0,
            first_error: None,
            raw: Vec::new(),
            data: Vec::new(),
            saw_content: false,
            saw_finish: false,
            saw_error: false,
            reasoning: String::new(),
            last_id: String::new(),
            last_created: 0,
            last_model: String::new(),
            done: false,
            record: CallRecord::off(),
            record_key: String::new(),
            record_attempts: 0,
            text: String::new(),
            captured: Vec::new(),
            usage: (0, 0),
            ending: None,
        }
    }

    /// Makes the relay finish the call's debug record when the stream ends.
    pub fn recording(mut self, record: CallRecord, key: String, attempts: u32) -> SseRelay<R> {
        self.record = record;
        self.record_key = key;
        self.record_attempts = attempts;
        self
    }

    /// Counts the call, before the last piece leaves (or when the client has gone).
    fn finish_record(&mut self, outcome: Outcome, error: Option<String>) {
        let model = self.model().map(str::to_string);
        self.record.finish(Ending {
            status: 200,
            outcome,
            model,
            key: Some(self.record_key.clone()),
            attempts: self.record_attempts,
            usage: self.usage,
            error,
            response: Response::Stream {
                text: &self.text,
                raw: &self.captured,
            },
        });
    }

    /// Reads up to the first `data:` event and keeps what it read for the client. A stream
    /// that ends, breaks or carries an error before that has sent the client nothing, so the
    /// call can be retried: that is an [`EarlyFailure`].
    pub fn start(reader: R) -> Result<SseRelay<R>, EarlyFailure> {
        let mut relay = SseRelay::new(reader);
        let mut pending = Vec::new();
        while relay.data_events == 0 && !relay.done {
            relay.next_piece(&mut pending);
        }
        if relay.data_events == 0 || relay.first_error.is_some() {
            let message = match &relay.first_error {
                Some(e) => e["message"]
                    .as_str()
                    .unwrap_or("the stream began with an error")
                    .to_string(),
                None => "the stream ended before its first event".to_string(),
            };
            return Err(EarlyFailure {
                message,
                error: relay.first_error.take(),
            });
        }
        relay.pending = pending;
        Ok(relay)
    }

    /// Makes the relay hold the call's concurrency slot until it ends.
    pub fn holding(mut self, permit: Permit) -> SseRelay<R> {
        self.permit = Some(permit);
        self
    }

    /// The model named by the events so far.
    pub fn model(&self) -> Option<&str> {
        Some(self.last_model.as_str()).filter(|m| !m.is_empty())
    }

    /// Learns what it needs from one event's JSON; anything unparseable is passed on as is.
    fn inspect(&mut self) {
        self.data_events += 1;
        let Ok(chunk) = serde_json::from_slice::<Chunk>(&self.data) else {
            return;
        };
        if let Some(error) = chunk.error {
            self.saw_error = true;
            if self.data_events == 1 {
                self.first_error = Some(error);
            }
        }
        if let Some(id) = chunk.id {
            self.last_id = id;
        }
        if let Some(created) = chunk.created {
            self.last_created = created;
        }
        if let Some(model) = chunk.model {
            self.last_model = model;
        }
        if let Some(usage) = &chunk.usage {
            self.usage = (
                usage["prompt_tokens"].as_u64().unwrap_or(0),
                usage["completion_tokens"].as_u64().unwrap_or(0),
            );
        }
        for choice in chunk.choices {
            if choice.finish_reason.is_some() {
                self.saw_finish = true;
            }
            let Some(delta) = choice.delta else { continue };
            if let (true, Some(c)) = (self.record.is_on(), &delta.content) {
                self.text.push_str(c);
            }
            if delta.content.as_deref().is_some_and(|c| !c.is_empty()) {
                self.saw_content = true;
                self.reasoning = String::new();
            } else if !self.saw_content
                && let Some(r) = delta.reasoning
            {
                self.reasoning.push_str(&r);
            }
        }
    }

    /// Writes the closing events: the reasoning fallback, an error if the stream broke, and
    /// `[DONE]`.
    fn close(&mut self, out: &mut Vec<u8>, failure: Option<String>) {
        if !self.saw_content && !self.reasoning.trim().is_empty() {
            let event = json!({
                "id": self.last_id,
                "object": "chat.completion.chunk",
                "created": self.last_created,
                "model": self.last_model,
                "choices": [{
                    "index": 0,
                    "delta": {"role": "assistant", "content": self.reasoning},
                    "finish_reason": null,
                }],
            });
            push_event(out, &event);
        }
        let failure = failure.or_else(|| {
            (!self.saw_finish && !self.saw_error)
                .then(|| "OpenRouter closed the stream before the answer was complete".to_string())
        });
        let outcome = match &failure {
            _ if self.saw_error => Outcome::Failed,
            Some(m) if m.contains("went silent") => Outcome::Timeout,
            Some(_) => Outcome::Failed,
            None => Outcome::Success,
        };
        self.ending = Some((
            outcome,
            failure.clone().or_else(|| {
                self.saw_error
                    .then(|| "OpenRouter sent an error event mid-stream".to_string())
            }),
        ));
        if let Some(message) = failure.filter(|_| !self.saw_error) {
            let event = json!({
                "error": {"message": message, "type": "upstream_error", "code": "stream_interrupted"},
                "choices": [{"index": 0, "delta": {}, "finish_reason": "error"}],
            });
            push_event(out, &event);
        }
        out.extend_from_slice(DONE);
        self.done = true;
    }

    /// Reads one line into `self.raw`; returns its length (0 at the end of the body).
    fn read_line(&mut self) -> io::Result<usize> {
        let start = self.raw.len();
        let n = self.reader.read_until(b'\n', &mut self.raw)?;
        if n > 0 && self.raw.last() != Some(&b'\n') {
            // The body ended inside a line: complete it so the event stays well formed.
            self.raw.push(b'\n');
        }
        let line = trim_eol(&self.raw[start..]);
        if let Some(payload) = line.strip_prefix(b"data:") {
            let payload = payload.strip_prefix(b" ").unwrap_or(payload);
            if !self.data.is_empty() {
                self.data.push(b'\n');
            }
            self.data.extend_from_slice(payload);
        }
        Ok(n)
    }
}

fn trim_eol(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

fn push_event(out: &mut Vec<u8>, event: &serde_json::Value) {
    out.extend_from_slice(b"data: ");
    // Writing a Value into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, event);
    out.extend_from_slice(b"\n\n");
}

impl<R: Read + Send> EventStream for SseRelay<R> {
    fn next_piece(&mut self, out: &mut Vec<u8>) -> bool {
        let start = out.len();
        let more = self.read_piece(out);
        if self.record.is_on() {
            let room = MAX_CAPTURED_BYTES.saturating_sub(self.captured.len());
            let piece = &out[start..];
            self.captured
                .extend_from_slice(&piece[..piece.len().min(room)]);
            if let Some((outcome, error)) = self.ending.take() {
                self.finish_record(outcome, error);
            }
        }
        more
    }

    fn finish(mut self: Box<Self>) {
        // The client has everything. Free the slot first, then read what little follows
        // `[DONE]` so the upstream connection goes back to the pool for the next call.
        drop(self.permit.take());
        let _ = io::copy(&mut (&mut self.reader).take(64 * 1024), &mut io::sink());
    }
}

impl<R: Read> Drop for SseRelay<R> {
    fn drop(&mut self) {
        // A record still open here means the client left before the end.
        if self.record.is_on() {
            self.record.finish(Ending {
                status: 200,
                outcome: Outcome::Failed,
                model: Some(self.last_model.clone()).filter(|m| !m.is_empty()),
                key: Some(self.record_key.clone()),
                attempts: self.record_attempts,
                usage: self.usage,
                error: Some("the client went away before the end of the stream".into()),
                response: Response::Stream {
                    text: &self.text,
                    raw: &self.raw,
                },
            });
        }
    }
}

impl<R: Read + Send> SseRelay<R> {
    fn read_piece(&mut self, out: &mut Vec<u8>) -> bool {
        if !self.pending.is_empty() {
            out.append(&mut self.pending);
            return true;
        }
        if self.done {
            return false;
        }
        self.raw.clear();
        self.data.clear();
        loop {
            let line_start = self.raw.len();
            match self.read_line() {
                Ok(0) => {
                    // End of body. An event cut off without its blank line still counts.
                    if !self.data.is_empty() && self.data != b"[DONE]" {
                        self.inspect();
                        out.extend_from_slice(&self.raw);
                        out.push(b'\n');
                    }
                    self.close(out, None);
                    return true;
                }
                Ok(_) => {}
                Err(e) => {
                    let message = if crate::upstream::client::is_client_gone(&e) {
                        "the client went away before the end of the stream".to_string()
                    } else if e.kind() == io::ErrorKind::TimedOut {
                        "OpenRouter went silent in the middle of the answer".to_string()
                    } else {
                        format!("the connection to OpenRouter failed mid-stream: {e}")
                    };
                    self.close(out, Some(message));
                    return true;
                }
            }
            let line = trim_eol(&self.raw[line_start..]);
            if !line.is_empty() {
                continue;
            }
            // A blank line ends an event (or a comment block).
            if self.data == b"[DONE]" {
                self.close(out, None);
                return true;
            }
            if !self.data.is_empty() {
                self.inspect();
            }
            if line_start == 0 {
                // A stray blank line: nothing to send yet.
                self.raw.clear();
                continue;
            }
            out.extend_from_slice(&self.raw);
            return true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::autopilot::limiter::Limiter;
    use std::time::Duration;

    fn relay_all(input: &[u8]) -> String {
        let limiter = Limiter::new(1, 1);
        let permit = limiter.acquire(Duration::ZERO).unwrap();
        let mut relay = SseRelay::new(input).holding(permit);
        let mut out = Vec::new();
        while relay.next_piece(&mut out) {}
        String::from_utf8(out).unwrap()
    }

    fn data_events(text: &str) -> Vec<serde_json::Value> {
        text.replace("\r\n", "\n")
            .split("\n\n")
            .filter_map(|e| e.trim().strip_prefix("data: "))
            .filter(|d| *d != "[DONE]")
            .map(|d| serde_json::from_str(d).unwrap())
            .collect()
    }

    #[test]
    fn a_real_stream_passes_through_byte_for_byte() {
        let fixture = include_str!(
            "../../../tests/fixtures/openrouter/sse/lfm-2.5-1.2b-instruct_free_liquid_2026-01.sse"
        );
        let out = relay_all(fixture.as_bytes());
        assert!(out.ends_with("data: [DONE]\n\n"));
        // Everything before [DONE] is the upstream's bytes, blank lines between events aside.
        let squeeze = |s: &str| s.replace("\n\n\n", "\n\n");
        assert_eq!(
            squeeze(&out),
            squeeze(
                fixture
                    .trim_end()
                    .strip_suffix("data: [DONE]")
                    .unwrap()
                    .to_owned()
                    .as_str()
            ) + "data: [DONE]\n\n"
        );
        assert!(out.contains(": OPENROUTER PROCESSING"));
    }

    #[test]
    fn reasoning_stays_reasoning_when_content_follows() {
        let fixture = include_str!(
            "../../../tests/fixtures/openrouter/sse/ling-3.0-flash_free_novita_reasoning_2026-07.sse"
        );
        let out = relay_all(fixture.as_bytes());
        let events = data_events(&out);
        let content: String = events
            .iter()
            .filter_map(|e| e["choices"][0]["delta"]["content"].as_str())
            .collect();
        assert!(content.contains("**x = 7**"), "{content}");
        assert!(
            !content.contains("user is asking"),
            "reasoning leaked into content"
        );
    }

    #[test]
    fn reasoning_only_streams_get_one_content_event_before_done() {
        let input = concat!(
            "data: {\"id\":\"g1\",\"created\":7,\"model\":\"m:free\",\"choices\":[{\"delta\":{\"content\":\"\",\"reasoning\":\"Think\"}}]}\n\n",
            ": OPENROUTER PROCESSING\n\n",
            "data: {\"id\":\"g1\",\"created\":7,\"model\":\"m:free\",\"choices\":[{\"delta\":{\"content\":null,\"reasoning\":\"ing.\"},\"finish_reason\":\"stop\"}]}\n\n",
            "data: [DONE]\n\n"
        );
        let out = relay_all(input.as_bytes());
        let events = data_events(&out);
        let last = events.last().unwrap();
        assert_eq!(last["choices"][0]["delta"]["content"], "Thinking.");
        assert_eq!(last["id"], "g1");
        assert_eq!(last["model"], "m:free");
        assert!(out.ends_with("data: [DONE]\n\n"));
    }

    #[test]
    fn an_early_close_ends_with_an_error_event_and_done() {
        let input = "data: {\"choices\":[{\"delta\":{\"content\":\"Hel\"}}]}\n\n";
        let out = relay_all(input.as_bytes());
        let events = data_events(&out);
        assert_eq!(events.len(), 2);
        assert_eq!(events[1]["error"]["code"], "stream_interrupted");
        assert_eq!(events[1]["choices"][0]["finish_reason"], "error");
        assert!(out.ends_with("data: [DONE]\n\n"));
    }

    #[test]
    fn an_upstream_error_event_is_passed_on_not_doubled() {
        let input = concat!(
            "data: {\"choices\":[{\"delta\":{\"content\":\"Hel\"}}]}\n\n",
            "data: {\"error\":{\"message\":\"provider died\",\"code\":502},\"choices\":[{\"delta\":{},\"finish_reason\":\"error\"}]}\n\n",
        );
        let out = relay_all(input.as_bytes());
        let events = data_events(&out);
        assert_eq!(events.len(), 2);
        assert_eq!(events[1]["error"]["message"], "provider died");
        assert!(out.ends_with("data: [DONE]\n\n"));
    }

    #[test]
    fn start_keeps_the_first_event_or_reports_an_early_failure() {
        let input = ": OPENROUTER PROCESSING\n\ndata: {\"model\":\"m:free\",\"choices\":[{\"delta\":{\"content\":\"Hi\"},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n";
        let mut relay = SseRelay::start(input.as_bytes()).unwrap();
        assert_eq!(relay.model(), Some("m:free"));
        let mut out = Vec::new();
        while relay.next_piece(&mut out) {}
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.starts_with(": OPENROUTER PROCESSING\n\ndata: {"),
            "{text}"
        );
        assert!(text.ends_with("data: [DONE]\n\n"));

        let failure = SseRelay::start(&b": OPENROUTER PROCESSING\n\n"[..])
            .err()
            .unwrap();
        assert!(failure.message.contains("before its first event"));
        let failure = SseRelay::start(&b"data: [DONE]\n\n"[..]).err().unwrap();
        assert!(failure.error.is_none());
        let err = "data: {\"error\":{\"message\":\"Provider returned error\",\"code\":429}}\n\n";
        let failure = SseRelay::start(err.as_bytes()).err().unwrap();
        assert_eq!(failure.message, "Provider returned error");
        assert_eq!(failure.error.unwrap()["code"], 429);
    }

    #[test]
    fn crlf_and_missing_space_after_data_are_understood() {
        let input = "data:{\"choices\":[{\"delta\":{\"reasoning\":\"R\"},\"finish_reason\":\"stop\"}]}\r\n\r\ndata: [DONE]\r\n\r\n";
        let out = relay_all(input.as_bytes());
        let events = data_events(&out);
        assert_eq!(
            events.last().unwrap()["choices"][0]["delta"]["content"],
            "R"
        );
    }
}
