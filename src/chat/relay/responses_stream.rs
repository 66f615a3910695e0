//! A Responses API stream (`response.created`, output items and their deltas,
//! `response.completed`): what the relay learns from its events, and what it adds.
//!
//! The answer begins with the first event past `response.created` / `response.in_progress`;
//! an `error` or `response.failed` before it leaves the call retryable. When the model only
//! reasoned (no message text, no tool call), an assistant message carrying the reasoning goes
//! out just before `response.completed`, as the item events a client assembles, and the
//! completed response lists it too, so `output_text` has the answer. A stream that fails after
//! the answer began ends with an `error` event and a `response.failed` one.

use serde_json::{Value, json};

use crate::chat::answer::{has_answer, reasoning_only, status_of_code, text_message};
use crate::chat::relay::end::StreamEnd;
use crate::chat::relay::observer::{Progress, StreamObserver, end_of, is_named, push_event};

/// What the events so far have shown.
#[derive(Default)]
pub(crate) struct ResponsesStream {
    progress: Progress,
    /// An error before the answer began, as `{"message","code"}`.
    early_error: Option<Value>,
    saw_error: bool,
    /// `response.completed` or `response.incomplete`.
    saw_end: bool,
    /// Message text or a tool call: an answer the client can act on.
    saw_answer: bool,
    /// Reasoning received while no answer has been seen.
    reasoning: String,
    /// The reasoning has been sent as a message.
    fixed: bool,
    id: String,
    created_at: u64,
    model: String,
    /// The last `sequence_number` seen, and the output items announced so far.
    sequence: u64,
    items: u64,
    /// `(input, output)` tokens.
    usage: (u64, u64),
}

impl ResponsesStream {
    /// The events that add an assistant message holding `text` as output item `index`,
    /// numbered from `sequence`; returns the message item.
    fn message_events(&mut self, text: &str, named: bool, out: &mut Vec<u8>) -> Value {
        let index = self.items;
        let item = text_message(&self.id, text);
        let id = item["id"].clone();
        let part = json!({"type": "output_text", "text": "", "annotations": []});
        let done_part = json!({"type": "output_text", "text": text, "annotations": []});
        let mut pending = json!({"status": "in_progress", "content": []});
        if let (Value::Object(fields), Value::Object(base)) = (&mut pending, &item) {
            for (k, v) in base {
                fields.entry(k.clone()).or_insert_with(|| v.clone());
            }
        }
        let events = [
            json!({"type": "response.output_item.added", "output_index": index, "item": pending}),
            json!({"type": "response.content_part.added", "output_index": index, "item_id": id,
                   "content_index": 0, "part": part}),
            json!({"type": "response.output_text.delta", "output_index": index, "item_id": id,
                   "content_index": 0, "delta": text, "logprobs": []}),
            json!({"type": "response.output_text.done", "output_index": index, "item_id": id,
                   "content_index": 0, "text": text, "logprobs": []}),
            json!({"type": "response.content_part.done", "output_index": index, "item_id": id,
                   "content_index": 0, "part": done_part}),
            json!({"type": "response.output_item.done", "output_index": index, "item": item}),
        ];
        for mut event in events {
            self.sequence += 1;
            event["sequence_number"] = json!(self.sequence);
            let name = event["type"].as_str().map(str::to_string);
            push_event(out, name.as_deref().filter(|_| named), &event);
        }
        self.items += 1;
        self.fixed = true;
        item
    }

    /// At `response.completed`: when the response has no answer but reasoning, the events
    /// adding the reasoning as a message, then the completed event listing it.
    fn complete(&mut self, raw: &[u8], mut event: Value, text: &mut String) -> Option<Vec<u8>> {
        let output = event["response"]["output"].as_array()?;
        if self.fixed || self.saw_answer || has_answer(output) {
            return None;
        }
        let reasoning = reasoning_only(output)
            .or_else(|| Some(self.reasoning.clone()).filter(|r| !r.trim().is_empty()))?;
        self.items = self.items.max(output.len() as u64);
        // The added events take the numbers from the completed event's own on.
        self.sequence = event["sequence_number"]
            .as_u64()
            .map_or(self.sequence, |n| n.saturating_sub(1));
        let named = is_named(raw);
        let mut out = Vec::new();
        let item = self.message_events(&reasoning, named, &mut out);
        text.push_str(&reasoning);
        if let Some(output) = event["response"]["output"].as_array_mut() {
            output.push(item);
        }
        self.sequence += 1;
        event["sequence_number"] = json!(self.sequence);
        let name = event["type"].as_str().map(str::to_string);
        push_event(&mut out, name.as_deref().filter(|_| named), &event);
        Some(out)
    }

    /// An error before the answer began makes the call retryable.
    fn failed(&mut self, message: &Value, code: &Value) {
        self.saw_error = true;
        if self.progress == Progress::Waiting {
            self.progress = Progress::Failed;
            self.early_error = Some(json!({"message": message, "code": status_of_code(code)}));
        }
    }

    /// Reads the response object of a lifecycle event.
    fn learn(&mut self, response: &Value) {
        if let Some(id) = response["id"].as_str() {
            self.id = id.to_string();
        }
        if let Some(created) = response["created_at"].as_u64() {
            self.created_at = created;
        }
        if let Some(model) = response["model"].as_str() {
            self.model = model.to_string();
        }
        if let Some(usage) = response["usage"].as_object() {
            self.usage = (
                usage
                    .get("input_tokens")
                    .and_then(Value::as_u64)
                    .unwrap_or(0),
                usage
                    .get("output_tokens")
                    .and_then(Value::as_u64)
                    .unwrap_or(0),
            );
        }
    }
}

impl StreamObserver for ResponsesStream {
    fn observe(&mut self, raw: &[u8], data: &[u8], text: &mut String) -> Option<Vec<u8>> {
        let Ok(event) = serde_json::from_slice::<Value>(data) else {
            return None;
        };
        let kind = event["type"].as_str().unwrap_or("").to_string();
        if let Some(n) = event["sequence_number"].as_u64() {
            self.sequence = self.sequence.max(n);
        }
        let preamble = matches!(
            kind.as_str(),
            "response.created"
                | "response.in_progress"
                | "response.queued"
                | "error"
                | "response.failed"
                | ""
        );
        if !preamble && self.progress == Progress::Waiting {
            self.progress = Progress::Started;
        }
        match kind.as_str() {
            "response.created" | "response.in_progress" | "response.queued" => {
                self.learn(&event["response"]);
            }
            "response.output_item.added" => {
                let index = event["output_index"].as_u64().unwrap_or(self.items);
                self.items = self.items.max(index + 1);
                if !matches!(
                    event["item"]["type"].as_str(),
                    Some("message" | "reasoning")
                ) {
                    self.saw_answer = true;
                }
            }
            "response.output_text.delta" => {
                let piece = event["delta"].as_str().unwrap_or("");
                text.push_str(piece);
                self.saw_answer |= !piece.is_empty();
            }
            "response.reasoning_text.delta" | "response.reasoning_summary_text.delta"
                if !self.saw_answer =>
            {
                self.reasoning
                    .push_str(event["delta"].as_str().unwrap_or(""));
            }
            "response.completed" | "response.incomplete" => {
                self.saw_end = true;
                self.learn(&event["response"]);
                return self.complete(raw, event, text);
            }
            "response.failed" => {
                let error = &event["response"]["error"];
                self.failed(&error["message"], &error["code"]);
            }
            "error" => self.failed(&event["message"], &event["code"]),
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

    /// Writes the reasoning as a message when the stream ended without its completed event,
    /// and `error` then `response.failed` when the client must learn the answer is
    /// incomplete.
    fn close(
        &mut self,
        failure: Option<StreamEnd>,
        out: &mut Vec<u8>,
        text: &mut String,
    ) -> StreamEnd {
        if !self.fixed && !self.saw_answer && !self.reasoning.trim().is_empty() {
            let reasoning = std::mem::take(&mut self.reasoning);
            self.message_events(&reasoning, true, out);
            text.push_str(&reasoning);
        }
        let end = end_of(self.saw_error, failure, self.saw_end);
        if let Some(message) = end.interruption() {
            self.sequence += 1;
            let error = json!({"type": "error", "code": "stream_interrupted", "message": message,
                               "param": null, "sequence_number": self.sequence});
            push_event(out, Some("error"), &error);
            self.sequence += 1;
            let failed = json!({
                "type": "response.failed",
                "sequence_number": self.sequence,
                "response": {
                    "id": self.id, "object": "response", "created_at": self.created_at,
                    "model": self.model, "status": "failed", "output": [],
                    "error": {"code": "server_error", "message": message},
                    "incomplete_details": null, "tools": [], "tool_choice": "auto",
                    "parallel_tool_calls": true,
                },
            });
            push_event(out, Some("response.failed"), &failed);
        }
        end
    }

    fn passes_done(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn observe_all(events: &[&str]) -> (ResponsesStream, String, String) {
        let mut state = ResponsesStream::default();
        let mut text = String::new();
        let mut out = Vec::new();
        for event in events {
            let raw = format!("data: {event}\n\n");
            match state.observe(raw.as_bytes(), event.as_bytes(), &mut text) {
                Some(bytes) => out.extend_from_slice(&bytes),
                None => out.extend_from_slice(raw.as_bytes()),
            }
        }
        (state, text, String::from_utf8(out).unwrap())
    }

    fn data(out: &str) -> Vec<Value> {
        out.split("\n\n")
            .filter_map(|e| e.lines().find_map(|l| l.strip_prefix("data: ")))
            .map(|d| serde_json::from_str(d).unwrap())
            .collect()
    }

    const CREATED: &str = r#"{"type":"response.created","response":{"id":"gen-1","object":"response","created_at":1787612977,"model":"m:free","status":"in_progress","output":[],"error":null,"usage":null},"sequence_number":0}"#;

    #[test]
    fn text_model_usage_and_the_end_are_read() {
        let (mut state, text, _) = observe_all(&[
            CREATED,
            r#"{"type":"response.output_item.added","output_index":0,"item":{"id":"msg_1","type":"message","status":"in_progress","role":"assistant","content":[]},"sequence_number":1}"#,
            r#"{"type":"response.output_text.delta","output_index":0,"item_id":"msg_1","content_index":0,"delta":"Two","logprobs":[],"sequence_number":2}"#,
            r#"{"type":"response.completed","response":{"id":"gen-1","model":"m:free","status":"completed","output":[{"type":"message","content":[{"type":"output_text","text":"Two"}]}],"usage":{"input_tokens":9,"output_tokens":2}},"sequence_number":3}"#,
        ]);
        assert_eq!(text, "Two");
        assert_eq!(state.usage(), (9, 2));
        assert_eq!(state.model(), Some("m:free"));
        let mut out = Vec::new();
        assert_eq!(
            state.close(None, &mut out, &mut String::new()),
            StreamEnd::Complete
        );
        assert!(out.is_empty());
    }

    #[test]
    fn a_reasoning_only_answer_gets_a_message_listed_in_the_completed_response() {
        let (_, text, out) = observe_all(&[
            CREATED,
            r#"{"type":"response.output_item.added","output_index":0,"item":{"id":"rs_1","type":"reasoning","summary":[]},"sequence_number":1}"#,
            r#"{"type":"response.reasoning_text.delta","output_index":0,"item_id":"rs_1","content_index":0,"delta":"It is 4.","sequence_number":2}"#,
            r#"{"type":"response.completed","response":{"id":"gen-1","model":"m:free","status":"completed","output":[{"type":"reasoning","id":"rs_1","summary":[]}],"usage":{"input_tokens":9,"output_tokens":2}},"sequence_number":3}"#,
        ]);
        assert_eq!(text, "It is 4.");
        let events = data(&out);
        let kinds: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
        assert_eq!(
            &kinds[3..],
            [
                "response.output_item.added",
                "response.content_part.added",
                "response.output_text.delta",
                "response.output_text.done",
                "response.content_part.done",
                "response.output_item.done",
                "response.completed",
            ]
        );
        let numbers: Vec<u64> = events
            .iter()
            .map(|e| e["sequence_number"].as_u64().unwrap())
            .collect();
        assert_eq!(numbers, (0..10).collect::<Vec<u64>>(), "numbered in order");
        assert_eq!(events[5]["delta"], "It is 4.");
        assert_eq!(events[5]["output_index"], 1);
        let completed = events.last().unwrap();
        assert_eq!(
            completed["response"]["output"][1]["content"][0]["text"],
            "It is 4."
        );
    }

    #[test]
    fn streamed_text_is_an_answer_even_when_the_completed_output_is_empty() {
        let (_, text, out) = observe_all(&[
            CREATED,
            r#"{"type":"response.reasoning_text.delta","output_index":0,"item_id":"rs_1","content_index":0,"delta":"Hmm.","sequence_number":1}"#,
            r#"{"type":"response.output_text.delta","output_index":1,"item_id":"m","content_index":0,"delta":"Four.","sequence_number":2}"#,
            r#"{"type":"response.completed","response":{"id":"gen-1","status":"completed","output":[]},"sequence_number":3}"#,
        ]);
        assert_eq!(text, "Four.");
        assert_eq!(data(&out).len(), 4, "nothing added: {out}");
    }

    #[test]
    fn an_error_before_the_answer_is_early() {
        let (mut state, _, _) = observe_all(&[
            CREATED,
            r#"{"type":"response.failed","response":{"id":"gen-1","status":"failed","error":{"code":"rate_limit_exceeded","message":"busy"}},"sequence_number":1}"#,
        ]);
        assert_eq!(state.progress(), Progress::Failed);
        let error = state.take_early_error().unwrap();
        assert_eq!(error["code"], 429);
        assert_eq!(error["message"], "busy");
    }

    #[test]
    fn a_broken_stream_ends_with_error_and_response_failed() {
        let (mut state, _, _) = observe_all(&[
            CREATED,
            r#"{"type":"response.output_text.delta","output_index":0,"item_id":"m","content_index":0,"delta":"Hel","sequence_number":1}"#,
        ]);
        let mut out = Vec::new();
        assert_eq!(
            state.close(None, &mut out, &mut String::new()),
            StreamEnd::ClosedEarly
        );
        let out = String::from_utf8(out).unwrap();
        assert!(out.starts_with("event: error\n"), "{out}");
        let events = data(&out);
        assert_eq!(events[0]["code"], "stream_interrupted");
        assert_eq!(events[1]["type"], "response.failed");
        assert_eq!(events[1]["response"]["status"], "failed");
        assert_eq!(events[1]["response"]["id"], "gen-1");
        assert_eq!(events[1]["sequence_number"], 3);
    }
}
