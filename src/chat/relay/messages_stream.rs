//! An Anthropic Messages stream (`message_start`, content blocks, `message_delta`,
//! `message_stop`, each with its `event:` line): what the relay learns from its events, and
//! what it adds.
//!
//! The answer begins with the first content block; `message_start` and pings before it can
//! still be followed by an `error` event that leaves the call retryable. When the model only
//! thought (thinking blocks, no text block, no tool use), a text block carrying the thinking
//! goes out just before `message_delta`, so that the message the client assembles has text.
//! A stream that fails after the answer began ends with Anthropic's `event: error`. OpenRouter's
//! trailing `[DONE]`, not part of Anthropic's protocol, is left out.

use serde_json::{Value, json};

use crate::chat::relay::end::StreamEnd;
use crate::chat::relay::observer::{Progress, StreamObserver, end_of, push_event};

/// What the events so far have shown.
#[derive(Default)]
pub(crate) struct MessagesStream {
    progress: Progress,
    /// The `error` object of an error event before the answer began.
    early_error: Option<Value>,
    saw_error: bool,
    saw_stop: bool,
    /// A text block with text, or a tool use: an answer the client can act on.
    saw_answer: bool,
    /// Thinking received while no answer has been seen.
    thinking: String,
    /// Content blocks seen so far, so that a block the relay adds takes the next index.
    blocks: u64,
    /// The thinking has been sent as text.
    fixed: bool,
    model: String,
    /// `(input, output)` tokens.
    usage: (u64, u64),
}

impl MessagesStream {
    /// A text block at the next index holding the thinking, as three events.
    fn thinking_as_text(&mut self, out: &mut Vec<u8>, text: &mut String) {
        let index = self.blocks;
        let events = [
            (
                "content_block_start",
                json!({"type": "content_block_start", "index": index,
                       "content_block": {"type": "text", "text": ""}}),
            ),
            (
                "content_block_delta",
                json!({"type": "content_block_delta", "index": index,
                       "delta": {"type": "text_delta", "text": self.thinking}}),
            ),
            (
                "content_block_stop",
                json!({"type": "content_block_stop", "index": index}),
            ),
        ];
        for (name, event) in events {
            push_event(out, Some(name), &event);
        }
        text.push_str(&self.thinking);
        self.blocks += 1;
        self.fixed = true;
    }

    fn needs_text(&self) -> bool {
        !self.fixed && !self.saw_answer && !self.thinking.trim().is_empty()
    }
}

impl StreamObserver for MessagesStream {
    fn observe(&mut self, raw: &[u8], data: &[u8], text: &mut String) -> Option<Vec<u8>> {
        let Ok(event) = serde_json::from_slice::<Value>(data) else {
            // OpenRouter's keep-alive, sometimes sent as `data: : OPENROUTER PROCESSING`.
            return None;
        };
        let kind = event["type"].as_str().unwrap_or("");
        let begins = !matches!(kind, "message_start" | "ping" | "error" | "");
        if begins && self.progress == Progress::Waiting {
            self.progress = Progress::Started;
        }
        match kind {
            "message_start" => {
                let message = &event["message"];
                if let Some(model) = message["model"].as_str() {
                    self.model = model.to_string();
                }
                self.usage = (
                    message["usage"]["input_tokens"].as_u64().unwrap_or(0),
                    message["usage"]["output_tokens"].as_u64().unwrap_or(0),
                );
            }
            "content_block_start" => {
                let index = event["index"].as_u64().unwrap_or(self.blocks);
                self.blocks = self.blocks.max(index + 1);
                let block = &event["content_block"];
                match block["type"].as_str() {
                    Some("text") => {
                        let start = block["text"].as_str().unwrap_or("");
                        text.push_str(start);
                        self.saw_answer |= !start.is_empty();
                    }
                    Some("thinking" | "redacted_thinking") => {}
                    _ => self.saw_answer = true,
                }
            }
            "content_block_delta" => {
                let delta = &event["delta"];
                match delta["type"].as_str() {
                    Some("text_delta") => {
                        let piece = delta["text"].as_str().unwrap_or("");
                        text.push_str(piece);
                        if !piece.is_empty() {
                            self.saw_answer = true;
                        }
                    }
                    Some("thinking_delta") if !self.saw_answer => {
                        self.thinking
                            .push_str(delta["thinking"].as_str().unwrap_or(""));
                    }
                    _ => {}
                }
            }
            "message_delta" => {
                let usage = &event["usage"];
                if let Some(input) = usage["input_tokens"].as_u64() {
                    self.usage.0 = input;
                }
                if let Some(output) = usage["output_tokens"].as_u64() {
                    self.usage.1 = output;
                }
                if self.needs_text() {
                    let mut out = Vec::new();
                    self.thinking_as_text(&mut out, text);
                    out.extend_from_slice(raw);
                    return Some(out);
                }
            }
            "message_stop" => self.saw_stop = true,
            "error" => {
                self.saw_error = true;
                if self.progress == Progress::Waiting {
                    self.progress = Progress::Failed;
                    self.early_error = Some(event["error"].clone());
                }
            }
            _ => {}
        }
        None
    }

    fn progress(&self) -> Progress {
        self.progress
    }

    fn take_early_error(&mut self) -> Option<Value> {
        self.early_error.take()
    }

    fn model(&self) -> Option<&str> {
        Some(self.model.as_str()).filter(|m| !m.is_empty())
    }

    fn usage(&self) -> (u64, u64) {
        self.usage
    }

    /// Writes the thinking as text when nothing else did, and `event: error` when the client
    /// must learn the answer is incomplete.
    fn close(
        &mut self,
        failure: Option<StreamEnd>,
        out: &mut Vec<u8>,
        text: &mut String,
    ) -> StreamEnd {
        if self.needs_text() {
            self.thinking_as_text(out, text);
        }
        let end = end_of(self.saw_error, failure, self.saw_stop);
        if let Some(message) = end.interruption() {
            let kind = match end {
                StreamEnd::Timeout => "timeout_error",
                _ => "api_error",
            };
            let event = json!({"type": "error", "error": {"type": kind, "message": message}});
            push_event(out, Some("error"), &event);
        }
        end
    }

    /// OpenRouter ends a Messages stream with `event: data` / `data: [DONE]`, which Anthropic's
    /// API never sends and Anthropic's Python SDK fails on (it parses every named event as
    /// JSON): the stream ends at `message_stop`, as Anthropic's own does.
    fn passes_done(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn observe_all(events: &[&str]) -> (MessagesStream, String, Vec<u8>) {
        let mut state = MessagesStream::default();
        let mut text = String::new();
        let mut out = Vec::new();
        for event in events {
            let raw = format!("data: {event}\n\n");
            match state.observe(raw.as_bytes(), event.as_bytes(), &mut text) {
                Some(bytes) => out.extend_from_slice(&bytes),
                None => out.extend_from_slice(raw.as_bytes()),
            }
        }
        (state, text, out)
    }

    const START: &str = r#"{"type":"message_start","message":{"id":"gen-1","type":"message","role":"assistant","content":[],"model":"m:free","usage":{"input_tokens":0,"output_tokens":0}}}"#;
    const DELTA: &str = r#"{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"input_tokens":8,"output_tokens":3}}"#;

    #[test]
    fn text_model_usage_and_the_end_are_read() {
        let (mut state, text, _) = observe_all(&[
            START,
            r#"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#,
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hello"}}"#,
            r#"{"type":"content_block_stop","index":0}"#,
            DELTA,
            r#"{"type":"message_stop"}"#,
        ]);
        assert_eq!(text, "Hello");
        assert_eq!(state.model(), Some("m:free"));
        assert_eq!(state.usage(), (8, 3));
        let mut out = Vec::new();
        let mut text = String::new();
        assert_eq!(state.close(None, &mut out, &mut text), StreamEnd::Complete);
        assert!(out.is_empty(), "nothing added to a stream that ended well");
    }

    #[test]
    fn a_thinking_only_answer_gets_a_text_block_before_message_delta() {
        let (mut state, text, out) = observe_all(&[
            START,
            r#"{"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":""}}"#,
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"It is 4."}}"#,
            r#"{"type":"content_block_stop","index":0}"#,
            DELTA,
            r#"{"type":"message_stop"}"#,
        ]);
        assert_eq!(text, "It is 4.");
        let out = String::from_utf8(out).unwrap();
        let added = out.find("event: content_block_start\ndata: {").unwrap();
        assert!(out[added..].contains(r#""index":1"#), "{out}");
        assert!(out[added..].contains(r#""text":"It is 4.""#), "{out}");
        assert!(added < out.find("message_delta").unwrap());
        let mut closing = Vec::new();
        let mut text = String::new();
        state.close(None, &mut closing, &mut text);
        assert!(closing.is_empty(), "the text went out once");
    }

    #[test]
    fn an_error_before_the_answer_is_early_and_after_it_is_not() {
        let overloaded =
            r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#;
        let (mut state, _, _) = observe_all(&[START, r#"{"type":"ping"}"#, overloaded]);
        assert_eq!(state.progress(), Progress::Failed);
        assert_eq!(
            state.take_early_error().unwrap()["type"],
            "overloaded_error"
        );

        let (mut state, _, _) = observe_all(&[
            START,
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hel"}}"#,
            overloaded,
        ]);
        assert_eq!(state.progress(), Progress::Started);
        let mut out = Vec::new();
        let mut text = String::new();
        assert_eq!(
            state.close(None, &mut out, &mut text),
            StreamEnd::UpstreamError
        );
        assert!(
            out.is_empty(),
            "OpenRouter's own error event is not doubled"
        );
    }

    #[test]
    fn a_broken_stream_ends_with_anthropics_error_event() {
        let (mut state, _, _) = observe_all(&[
            START,
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hel"}}"#,
        ]);
        let mut out = Vec::new();
        let mut text = String::new();
        assert_eq!(
            state.close(Some(StreamEnd::Timeout), &mut out, &mut text),
            StreamEnd::Timeout
        );
        let out = String::from_utf8(out).unwrap();
        assert!(out.starts_with("event: error\ndata: {"), "{out}");
        let data: Value =
            serde_json::from_str(out.lines().nth(1).unwrap().strip_prefix("data: ").unwrap())
                .unwrap();
        assert_eq!(data["type"], "error");
        assert_eq!(data["error"]["type"], "timeout_error");
        assert!(
            data["error"]["message"]
                .as_str()
                .unwrap()
                .contains("silent")
        );
    }
}
