//! A chat completions stream: what the relay learns from its events, and the events it
//! writes itself at the end.
//!
//! Each `data:` event's JSON is read for a few things only: whether any answer text
//! (`delta.content`) has been sent, the reasoning text so far (kept only while no content has
//! been seen), the ids to reuse in events the relay writes, the usage, and whether a choice
//! finished or OpenRouter reported an error. Nothing here changes an event. Every stream ends
//! with the relay's own `data: [DONE]`; before it, the reasoning as content when the model
//! never answered otherwise, and an OpenAI-style error event when the answer is incomplete.

use serde::Deserialize;
use serde_json::{Value, json};

use crate::chat::relay::end::StreamEnd;
use crate::chat::relay::observer::{Progress, StreamObserver, end_of, push_event};

const DONE: &[u8] = b"data: [DONE]\n\n";

/// What the events so far have shown.
#[derive(Default)]
pub(crate) struct ChatStream {
    /// `data:` events seen so far, and the `error` object of the first one if it had one.
    data_events: usize,
    first_error: Option<Value>,
    saw_content: bool,
    saw_finish: bool,
    saw_error: bool,
    /// Reasoning text received while no content has been seen.
    reasoning: String,
    /// `id`, `created` and `model` of the last chunk, for events the relay writes itself.
    last_id: String,
    last_created: u64,
    last_model: String,
    /// `(prompt, completion)` tokens, from the event that carried `usage`.
    usage: (u64, u64),
}

#[derive(Deserialize)]
struct Chunk {
    id: Option<String>,
    created: Option<u64>,
    model: Option<String>,
    #[serde(default)]
    choices: Vec<ChunkChoice>,
    error: Option<Value>,
    usage: Option<Value>,
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

impl StreamObserver for ChatStream {
    /// An event that is not a chunk's JSON is counted and otherwise ignored.
    fn observe(&mut self, _raw: &[u8], data: &[u8], text: &mut String) -> Option<Vec<u8>> {
        self.data_events += 1;
        let Ok(chunk) = serde_json::from_slice::<Chunk>(data) else {
            return None;
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
            if let Some(content) = &delta.content {
                text.push_str(content);
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
        None
    }

    fn progress(&self) -> Progress {
        match self.data_events {
            0 => Progress::Waiting,
            _ if self.first_error.is_some() => Progress::Failed,
            _ => Progress::Started,
        }
    }

    fn take_early_error(&mut self) -> Option<Value> {
        self.first_error.take()
    }

    fn model(&self) -> Option<&str> {
        Some(self.last_model.as_str()).filter(|m| !m.is_empty())
    }

    fn usage(&self) -> (u64, u64) {
        self.usage
    }

    /// Writes the reasoning as content when the model never answered otherwise, an error
    /// event when the client must learn the answer is incomplete, and `[DONE]`.
    fn close(
        &mut self,
        failure: Option<StreamEnd>,
        out: &mut Vec<u8>,
        text: &mut String,
    ) -> StreamEnd {
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
            push_event(out, None, &event);
            text.push_str(&self.reasoning);
        }
        let end = end_of(self.saw_error, failure, self.saw_finish);
        if let Some(message) = end.interruption() {
            let event = json!({
                "error": {
                    "message": message,
                    "type": "upstream_error",
                    "code": "stream_interrupted",
                },
                "choices": [{"index": 0, "delta": {}, "finish_reason": "error"}],
            });
            push_event(out, None, &event);
        }
        out.extend_from_slice(DONE);
        end
    }

    fn passes_done(&self) -> bool {
        false
    }
}

impl ChatStream {
    /// How many `data:` events have been seen.
    #[cfg(test)]
    pub(crate) fn data_events(&self) -> usize {
        self.data_events
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn observe_all(events: &[&str]) -> (ChatStream, String) {
        let mut state = ChatStream::default();
        let mut text = String::new();
        for event in events {
            state.observe(b"", event.as_bytes(), &mut text);
        }
        (state, text)
    }

    #[test]
    fn the_answer_text_is_every_content_delta() {
        let (state, text) = observe_all(&[
            r#"{"model":"m:free","choices":[{"delta":{"role":"assistant","content":"Hel"}}]}"#,
            "not json",
            r#"{"choices":[{"delta":{"content":"lo"},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":2}}"#,
        ]);
        assert_eq!(text, "Hello");
        assert_eq!(state.data_events(), 3);
        assert_eq!(state.model(), Some("m:free"));
        assert_eq!(state.usage(), (3, 2));
    }

    #[test]
    fn the_end_comes_from_the_failure_then_what_the_events_showed() {
        let finished = r#"{"choices":[{"delta":{"content":"x"},"finish_reason":"stop"}]}"#;
        let unfinished = r#"{"choices":[{"delta":{"content":"x"}}]}"#;
        let error = r#"{"error":{"message":"provider died"}}"#;
        let cases = [
            (vec![finished], None, StreamEnd::Complete),
            (vec![unfinished], None, StreamEnd::ClosedEarly),
            (vec![finished], Some(StreamEnd::Timeout), StreamEnd::Timeout),
            (vec![unfinished, error], None, StreamEnd::UpstreamError),
            (
                vec![unfinished, error],
                Some(StreamEnd::Timeout),
                StreamEnd::UpstreamError,
            ),
        ];
        for (events, failure, expected) in cases {
            let (mut state, mut text) = observe_all(&events);
            let mut out = Vec::new();
            assert_eq!(state.close(failure, &mut out, &mut text), expected);
            assert!(out.ends_with(DONE));
            let has_event = String::from_utf8_lossy(&out).contains("stream_interrupted");
            assert_eq!(has_event, expected.interruption().is_some(), "{expected:?}");
        }
    }

    #[test]
    fn reasoning_without_content_closes_as_content_and_text() {
        let (mut state, mut text) = observe_all(&[
            r#"{"id":"g","created":7,"model":"m","choices":[{"delta":{"content":"","reasoning":"Think"}}]}"#,
            r#"{"choices":[{"delta":{"reasoning":"ing."},"finish_reason":"stop"}]}"#,
        ]);
        let mut out = Vec::new();
        assert_eq!(state.close(None, &mut out, &mut text), StreamEnd::Complete);
        assert_eq!(text, "Thinking.");
        let out = String::from_utf8(out).unwrap();
        assert!(out.starts_with("data: {") && out.contains(r#""content":"Thinking.""#));
    }
}
