//! What the fake upstream does with one chat call: a [`Script`] queued by a test (a whole
//! answer, a stream spaced in time and ended one way or another, a hang, a close, raw bytes),
//! and the bodies it is built from.

use std::time::Duration;

use crate::demo::DEFAULT_MODEL;

/// What the fake does with one chat call.
#[derive(Clone, Debug)]
pub enum Script {
    /// A whole answer, after `delay`.
    Json {
        status: u16,
        headers: Vec<(String, String)>,
        body: String,
        delay: Duration,
    },
    /// An event stream: each event written and flushed on its own, `gap` apart.
    Stream {
        events: Vec<String>,
        gap: Duration,
        end: StreamEnd,
    },
    /// Read the request, never answer; give up when the proxy closes the connection.
    Hang,
    /// Close the connection without a word.
    Close,
    /// Write these bytes as the whole answer, then close.
    Raw(Vec<u8>),
}

/// How a scripted stream ends after its events.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StreamEnd {
    /// The chunked body ends properly.
    Complete,
    /// The connection is cut (no final chunk).
    Drop,
    /// Silence until the proxy gives up and closes.
    Stall,
}

/// Stands, in a script's body or events, for the `Authorization` header of the request it
/// answers: a fake that quotes the key back, as a misconfigured upstream or proxy might.
pub const AUTHORIZATION_PLACEHOLDER: &str = "{{AUTHORIZATION}}";

impl Script {
    /// The script with [`AUTHORIZATION_PLACEHOLDER`] replaced by `authorization`.
    pub(crate) fn quoting(self, authorization: &str) -> Script {
        let fill = |text: String| text.replace(AUTHORIZATION_PLACEHOLDER, authorization);
        match self {
            Script::Json {
                status,
                headers,
                body,
                delay,
            } => Script::Json {
                status,
                headers,
                body: fill(body),
                delay,
            },
            Script::Stream { events, gap, end } => Script::Stream {
                events: events.into_iter().map(fill).collect(),
                gap,
                end,
            },
            other => other,
        }
    }

    pub fn json(status: u16, body: impl Into<String>) -> Script {
        Script::Json {
            status,
            headers: Vec::new(),
            body: body.into(),
            delay: Duration::ZERO,
        }
    }

    /// A successful completion whose message content is `content`.
    pub fn completion(content: &str) -> Script {
        Script::json(200, completion_body(DEFAULT_MODEL, Some(content), None))
    }

    /// A completion with empty content and the whole answer in `reasoning`.
    pub fn reasoning_only(reasoning: &str) -> Script {
        Script::json(
            200,
            completion_body(DEFAULT_MODEL, Some(""), Some(reasoning)),
        )
    }

    /// Adds a response header (only to whole answers).
    pub fn with_header(mut self, name: &str, value: &str) -> Script {
        if let Script::Json { headers, .. } = &mut self {
            headers.push((name.to_string(), value.to_string()));
        }
        self
    }

    /// Waits this long before the response headers (only whole answers).
    pub fn with_delay(mut self, wait: Duration) -> Script {
        if let Script::Json { delay, .. } = &mut self {
            *delay = wait;
        }
        self
    }

    /// These events, written at once, then a proper end.
    pub fn events(events: Vec<String>) -> Script {
        Script::Stream {
            events,
            gap: Duration::ZERO,
            end: StreamEnd::Complete,
        }
    }

    /// A real SSE capture, event by event, `gap` apart.
    pub fn stream_fixture(sse: &str, gap: Duration) -> Script {
        Script::Stream {
            events: split_events(sse),
            gap,
            end: StreamEnd::Complete,
        }
    }

    /// A stream whose content deltas are `parts`, then a stop, usage and `[DONE]`.
    pub fn stream_text(parts: &[&str], gap: Duration) -> Script {
        let mut events: Vec<String> = parts
            .iter()
            .map(|p| chunk_event(serde_json::json!({"role": "assistant", "content": p}), None))
            .collect();
        events.push(chunk_event(
            serde_json::json!({"content": ""}),
            Some("stop"),
        ));
        events.push("data: [DONE]\n\n".to_string());
        Script::Stream {
            events,
            gap,
            end: StreamEnd::Complete,
        }
    }

    /// The same events, ended in another way.
    pub fn ending(mut self, how: StreamEnd) -> Script {
        if let Script::Stream { end, .. } = &mut self {
            *end = how;
        }
        self
    }
}

/// One stream chunk event with the given delta.
pub fn chunk_event(delta: serde_json::Value, finish: Option<&str>) -> String {
    let chunk = serde_json::json!({
        "id": "gen-fake",
        "object": "chat.completion.chunk",
        "created": 1_769_532_074,
        "model": DEFAULT_MODEL,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    });
    format!("data: {chunk}\n\n")
}

fn completion_body(model: &str, content: Option<&str>, reasoning: Option<&str>) -> String {
    serde_json::json!({
        "id": "gen-fake-1",
        "provider": "Fake",
        "model": model,
        "object": "chat.completion",
        "created": 1_769_532_074,
        "choices": [{
            "index": 0,
            "logprobs": null,
            "finish_reason": "stop",
            "native_finish_reason": "stop",
            "message": {"role": "assistant", "content": content, "refusal": null, "reasoning": reasoning},
        }],
        "usage": {"prompt_tokens": 15, "completion_tokens": 10, "total_tokens": 25},
    })
    .to_string()
}

/// Splits a capture into events, each ending with its blank line.
fn split_events(sse: &str) -> Vec<String> {
    sse.split("\n\n")
        .map(|e| e.trim_matches('\n'))
        .filter(|e| !e.is_empty())
        .map(|e| format!("{e}\n\n"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::demo::SSE_LFM;

    #[test]
    fn fixtures_split_into_their_events() {
        let events = split_events(SSE_LFM);
        assert!(events[0].starts_with(": OPENROUTER PROCESSING"));
        assert!(events.iter().all(|e| e.ends_with("\n\n")));
        assert_eq!(events.last().unwrap(), "data: [DONE]\n\n");
        assert!(events.iter().filter(|e| e.starts_with("data: {")).count() >= 10);
    }
}
