//! The fake's answers in each protocol's real shape, whole and streamed, as OpenRouter sends
//! them (the fixtures in `tests/fixtures/openrouter/` show the real thing): chat completions
//! chunks; Responses events as bare `data:` lines with sequence numbers, then `data: [DONE]`;
//! Anthropic Messages events each with its `event:` line, then OpenRouter's trailing
//! `event: data` / `data: [DONE]`.

use serde_json::{Value, json};

use crate::demo::answer::{Answer, Wire};

/// Fixed ids and times, so answers are the same from run to run.
const CREATED: u64 = 1_769_532_074;
const RESPONSE_ID: &str = "gen-fake-response";
const MESSAGE_ID: &str = "gen-fake-message";
const CALL_ID: &str = "call_fake_1";

/// Usage every fake answer reports: `(prompt, completion)` tokens.
const USAGE: (u64, u64) = (15, 10);

/// A whole answer of `wire` from `model`.
pub(crate) fn whole(wire: Wire, model: &str, answer: &Answer) -> String {
    match wire {
        Wire::Chat => chat_body(model, answer),
        Wire::Responses => response(model, "completed", vec![output_item(answer)]),
        Wire::Messages => message(
            model,
            vec![content_block(answer)],
            Some(stop_reason(answer)),
        ),
    }
    .to_string()
}

/// A stream of `wire` from `model`, one string per event.
pub(crate) fn stream(wire: Wire, model: &str, answer: &Answer) -> Vec<String> {
    match wire {
        Wire::Chat => chat_stream(model, answer),
        Wire::Responses => responses_stream(model, answer),
        Wire::Messages => messages_stream(model, answer),
    }
}

/// An OpenRouter error body as the protocol carries it: Anthropic's shape on `/messages`
/// (with OpenRouter's metadata beside it), OpenRouter's own elsewhere.
pub(crate) fn error_body(wire: Wire, status: u16, openrouter: &str) -> String {
    if wire != Wire::Messages {
        return openrouter.to_string();
    }
    let parsed: Value = serde_json::from_str(openrouter).unwrap_or_default();
    let kind = match status {
        401 => "authentication_error",
        404 => "not_found_error",
        429 => "rate_limit_error",
        503 | 529 => "overloaded_error",
        400..=499 => "invalid_request_error",
        _ => "api_error",
    };
    json!({
        "type": "error",
        "error": {"type": kind, "message": parsed["error"]["message"]},
        "metadata": parsed["error"]["metadata"],
    })
    .to_string()
}

/// The answer's text, or its tool call's arguments as JSON text.
fn text_of(answer: &Answer) -> String {
    match answer {
        Answer::Text(text) => text.clone(),
        Answer::Tool { arguments, .. } => arguments.to_string(),
    }
}

/// The text cut in pieces as a model streams it: words, or short runs of a JSON text.
fn pieces(text: &str) -> Vec<String> {
    if text.starts_with('{') {
        let chars: Vec<char> = text.chars().collect();
        return chars.chunks(8).map(|c| c.iter().collect()).collect();
    }
    text.split_inclusive(' ').map(str::to_string).collect()
}

fn data(event: &Value) -> String {
    format!("data: {event}\n\n")
}

fn named(event: &Value) -> String {
    format!(
        "event: {}\ndata: {event}\n\n",
        event["type"].as_str().unwrap_or("")
    )
}

fn chat_body(model: &str, answer: &Answer) -> Value {
    let (message, finish) = match answer {
        Answer::Text(text) => (
            json!({"role": "assistant", "content": text, "refusal": null, "reasoning": null}),
            "stop",
        ),
        Answer::Tool { name, arguments } => (
            json!({"role": "assistant", "content": null, "refusal": null, "reasoning": null,
                   "tool_calls": [{"id": CALL_ID, "type": "function", "index": 0,
                       "function": {"name": name, "arguments": arguments.to_string()}}]}),
            "tool_calls",
        ),
    };
    json!({
        "id": "gen-fake-1", "provider": "Fake", "model": model, "object": "chat.completion",
        "created": CREATED,
        "choices": [{"index": 0, "logprobs": null, "finish_reason": finish,
                     "native_finish_reason": finish, "message": message}],
        "usage": {"prompt_tokens": USAGE.0, "completion_tokens": USAGE.1,
                  "total_tokens": USAGE.0 + USAGE.1},
    })
}

fn chat_stream(model: &str, answer: &Answer) -> Vec<String> {
    let chunk = |delta: Value, finish: Option<&str>| {
        data(
            &json!({"id": "gen-fake", "provider": "Fake", "model": model,
            "object": "chat.completion.chunk", "created": CREATED,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}),
        )
    };
    let mut events = Vec::new();
    let finish = match answer {
        Answer::Text(text) => {
            for piece in pieces(text) {
                events.push(chunk(json!({"role": "assistant", "content": piece}), None));
            }
            "stop"
        }
        Answer::Tool { name, arguments } => {
            events.push(chunk(
                json!({"role": "assistant", "content": null, "tool_calls": [{"index": 0,
                    "id": CALL_ID, "type": "function",
                    "function": {"name": name, "arguments": ""}}]}),
                None,
            ));
            for piece in pieces(&arguments.to_string()) {
                events.push(chunk(
                    json!({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}),
                    None,
                ));
            }
            "tool_calls"
        }
    };
    events.push(chunk(json!({"content": ""}), Some(finish)));
    events.push(data(
        &json!({"id": "gen-fake", "provider": "Fake", "model": model,
        "object": "chat.completion.chunk", "created": CREATED, "choices": [],
        "usage": {"prompt_tokens": USAGE.0, "completion_tokens": USAGE.1,
                  "total_tokens": USAGE.0 + USAGE.1}}),
    ));
    events.push("data: [DONE]\n\n".to_string());
    events
}

fn response(model: &str, status: &str, output: Vec<Value>) -> Value {
    let usage = (status == "completed").then(|| {
        json!({"input_tokens": USAGE.0, "input_tokens_details": {"cached_tokens": 0},
               "output_tokens": USAGE.1, "output_tokens_details": {"reasoning_tokens": 0},
               "total_tokens": USAGE.0 + USAGE.1})
    });
    json!({
        "id": RESPONSE_ID, "object": "response", "created_at": CREATED, "model": model,
        "status": status, "completed_at": (status == "completed").then_some(CREATED + 1),
        "output": output, "error": null, "incomplete_details": null, "instructions": null,
        "max_output_tokens": null, "parallel_tool_calls": true, "temperature": null,
        "tool_choice": "auto", "tools": [], "top_p": null, "usage": usage,
    })
}

fn output_item(answer: &Answer) -> Value {
    match answer {
        Answer::Text(text) => json!({"id": "msg_fake_1", "type": "message",
            "status": "completed", "role": "assistant",
            "content": [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}]}),
        Answer::Tool { name, arguments } => json!({"id": "fc_fake_1", "type": "function_call",
            "call_id": CALL_ID, "name": name, "arguments": arguments.to_string(),
            "status": "completed"}),
    }
}

fn responses_stream(model: &str, answer: &Answer) -> Vec<String> {
    let mut events: Vec<Value> = vec![
        json!({"type": "response.created", "response": response(model, "in_progress", vec![])}),
        json!({"type": "response.in_progress", "response": response(model, "in_progress", vec![])}),
    ];
    let item = output_item(answer);
    let mut pending = item.clone();
    pending["status"] = json!("in_progress");
    let text = text_of(answer);
    match answer {
        Answer::Text(_) => {
            pending["content"] = json!([]);
            let part = |text: &str| json!({"type": "output_text", "text": text, "annotations": [], "logprobs": []});
            let at = json!({"output_index": 0, "item_id": "msg_fake_1", "content_index": 0});
            let with = |mut event: Value, extra: Value| {
                for (k, v) in at
                    .as_object()
                    .into_iter()
                    .flatten()
                    .chain(extra.as_object().into_iter().flatten())
                {
                    event[k] = v.clone();
                }
                event
            };
            events.push(
                json!({"type": "response.output_item.added", "output_index": 0, "item": pending}),
            );
            events.push(with(
                json!({"type": "response.content_part.added"}),
                json!({"part": part("")}),
            ));
            for piece in pieces(&text) {
                events.push(with(
                    json!({"type": "response.output_text.delta"}),
                    json!({"delta": piece, "logprobs": []}),
                ));
            }
            events.push(with(
                json!({"type": "response.output_text.done"}),
                json!({"text": text, "logprobs": []}),
            ));
            events.push(with(
                json!({"type": "response.content_part.done"}),
                json!({"part": part(&text)}),
            ));
        }
        Answer::Tool { .. } => {
            pending["arguments"] = json!("");
            events.push(
                json!({"type": "response.output_item.added", "output_index": 0, "item": pending}),
            );
            for piece in pieces(&text) {
                events.push(json!({"type": "response.function_call_arguments.delta",
                    "output_index": 0, "item_id": "fc_fake_1", "delta": piece}));
            }
            events.push(json!({"type": "response.function_call_arguments.done",
                "output_index": 0, "item_id": "fc_fake_1", "arguments": text}));
        }
    }
    events.push(json!({"type": "response.output_item.done", "output_index": 0, "item": item}));
    events.push(json!({"type": "response.completed",
        "response": response(model, "completed", vec![item])}));
    let mut out: Vec<String> = events
        .into_iter()
        .enumerate()
        .map(|(n, mut event)| {
            event["sequence_number"] = json!(n);
            data(&event)
        })
        .collect();
    out.push("data: [DONE]\n\n".to_string());
    out
}

fn message(model: &str, content: Vec<Value>, stop: Option<&str>) -> Value {
    let output = if stop.is_some() { USAGE.1 } else { 0 };
    json!({
        "id": MESSAGE_ID, "type": "message", "role": "assistant", "container": null,
        "content": content, "model": model, "stop_reason": stop, "stop_details": null,
        "stop_sequence": null,
        "usage": {"input_tokens": USAGE.0, "output_tokens": output,
                  "cache_creation_input_tokens": null, "cache_read_input_tokens": null,
                  "service_tier": "standard"},
    })
}

fn content_block(answer: &Answer) -> Value {
    match answer {
        Answer::Text(text) => json!({"type": "text", "text": text}),
        Answer::Tool { name, arguments } => {
            json!({"type": "tool_use", "id": "toolu_fake_1", "name": name, "input": arguments})
        }
    }
}

fn stop_reason(answer: &Answer) -> &'static str {
    match answer {
        Answer::Text(_) => "end_turn",
        Answer::Tool { .. } => "tool_use",
    }
}

fn messages_stream(model: &str, answer: &Answer) -> Vec<String> {
    let (start, deltas): (Value, Vec<Value>) = match answer {
        Answer::Text(text) => (
            json!({"type": "text", "text": ""}),
            pieces(text)
                .into_iter()
                .map(|p| json!({"type": "text_delta", "text": p}))
                .collect(),
        ),
        Answer::Tool { name, arguments } => (
            json!({"type": "tool_use", "id": "toolu_fake_1", "name": name, "input": {}}),
            pieces(&arguments.to_string())
                .into_iter()
                .map(|p| json!({"type": "input_json_delta", "partial_json": p}))
                .collect(),
        ),
    };
    let mut started = message(model, vec![], None);
    started["usage"]["input_tokens"] = json!(0);
    let mut events = vec![
        json!({"type": "message_start", "message": started}),
        json!({"type": "content_block_start", "index": 0, "content_block": start}),
        json!({"type": "ping"}),
    ];
    for delta in deltas {
        events.push(json!({"type": "content_block_delta", "index": 0, "delta": delta}));
    }
    events.push(json!({"type": "content_block_stop", "index": 0}));
    events.push(json!({"type": "message_delta",
        "delta": {"stop_reason": stop_reason(answer), "stop_sequence": null},
        "usage": {"input_tokens": USAGE.0, "output_tokens": USAGE.1}}));
    events.push(json!({"type": "message_stop"}));
    let mut out: Vec<String> = events.iter().map(named).collect();
    out.push("event: data\ndata: [DONE]\n\n".to_string());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(lines: &[String]) -> Vec<Value> {
        lines
            .iter()
            .filter_map(|e| e.lines().find_map(|l| l.strip_prefix("data: ")))
            .filter(|d| *d != "[DONE]")
            .map(|d| serde_json::from_str(d).unwrap())
            .collect()
    }

    #[test]
    fn each_stream_spells_the_same_answer() {
        let answer = Answer::Text("Hello there, friend.".into());
        let chat: String = events(&stream(Wire::Chat, "m", &answer))
            .iter()
            .filter_map(|e| {
                e["choices"][0]["delta"]["content"]
                    .as_str()
                    .map(str::to_string)
            })
            .collect();
        assert_eq!(chat, "Hello there, friend.");
        let responses = events(&stream(Wire::Responses, "m", &answer));
        let text: String = responses
            .iter()
            .filter(|e| e["type"] == "response.output_text.delta")
            .filter_map(|e| e["delta"].as_str())
            .collect();
        assert_eq!(text, "Hello there, friend.");
        assert_eq!(responses.last().unwrap()["type"], "response.completed");
        let messages = stream(Wire::Messages, "m", &answer);
        assert!(messages.iter().all(|e| e.starts_with("event: ")));
        let text: String = events(&messages)
            .iter()
            .filter_map(|e| e["delta"]["text"].as_str().map(str::to_string))
            .collect();
        assert_eq!(text, "Hello there, friend.");
    }

    #[test]
    fn a_tool_call_streams_its_arguments_in_pieces() {
        let answer = Answer::Tool {
            name: "weather".into(),
            arguments: json!({"city": "demo", "days": 42}),
        };
        let messages = events(&stream(Wire::Messages, "m", &answer));
        let json: String = messages
            .iter()
            .filter_map(|e| e["delta"]["partial_json"].as_str())
            .collect();
        assert_eq!(
            serde_json::from_str::<Value>(&json).unwrap(),
            json!({"city": "demo", "days": 42})
        );
        let response: Value = serde_json::from_str(&whole(Wire::Responses, "m", &answer)).unwrap();
        assert_eq!(response["output"][0]["type"], "function_call");
        let chat: Value = serde_json::from_str(&whole(Wire::Chat, "m", &answer)).unwrap();
        assert_eq!(chat["choices"][0]["finish_reason"], "tool_calls");
    }

    #[test]
    fn errors_on_messages_take_anthropics_shape() {
        let body = r#"{"error":{"message":"busy","code":429,"metadata":{"raw":"x"}}}"#;
        let anthropic: Value =
            serde_json::from_str(&error_body(Wire::Messages, 429, body)).unwrap();
        assert_eq!(anthropic["type"], "error");
        assert_eq!(anthropic["error"]["type"], "rate_limit_error");
        assert_eq!(anthropic["metadata"]["raw"], "x");
        assert_eq!(error_body(Wire::Chat, 429, body), body);
    }
}
