//! How many tokens a prompt takes, and how much room that leaves for the answer.
//!
//! The count follows OpenAI's published way of counting chat prompts (3 tokens of framing per
//! message, 1 more for a `name`, 3 to prime the reply; tool definitions in their compact
//! form), with tiktoken-rs's o200k_base as the tokenizer. The same walk reads the other
//! protocols' prompts: the Responses API's `instructions` and `input` items, and Anthropic's
//! `system` and content blocks (text, images, tool uses and results, thinking). Other models'
//! tokenizers differ, so the figure is an estimate, and the room left for the answer keeps a
//! margin.
//!
//! Counting is only done when it can change a decision: every token is at least one byte, so
//! the prompt's byte count is an upper bound, and when that bound already leaves the room
//! wanted, the real count is never made. The count itself (`tokenizer.rs`) costs a bounded
//! amount whatever the prompt, and stops once the prompt is past every model's context.

use std::cell::{OnceCell, RefCell};

use serde_json::Value;

use super::tokenizer::Counter;

/// Tokens assumed for one image part (the real figure depends on the image and the model).
const IMAGE_TOKENS: u64 = 1_000;
/// The smallest answer worth asking for; some providers refuse less.
pub(crate) const MIN_ANSWER_TOKENS: u64 = 16;

/// Tokens of a request's prompt (its messages, system prompt and tools, whichever the
/// protocol), counting each text with `count`. With the tokenizer it is the estimate; with
/// the byte length, an upper bound of it.
fn walk(body: &Value, count: &dyn Fn(&str) -> u64) -> u64 {
    let mut total = 3; // every reply is primed with the assistant's header
    // The Responses API's instructions and Anthropic's system prompt: a message each.
    for system in [&body["instructions"], &body["system"]] {
        if !system.is_null() {
            total += 3 + content(system, count);
        }
    }
    let input = match &body["input"] {
        Value::String(s) => {
            total += 3 + count(s);
            None
        }
        Value::Array(items) => Some(items),
        _ => None,
    };
    let messages = body["messages"].as_array().into_iter().flatten();
    for message in messages.chain(input.into_iter().flatten()) {
        total += 3 + item(message, count);
    }
    let tools = body["tools"].as_array().into_iter().flatten();
    let functions = body["functions"].as_array().into_iter().flatten();
    let mut any_tool = false;
    for function in tools.map(definition).chain(functions) {
        any_tool = true;
        total += 7 + count(&format!(
            "{}:{}",
            function["name"].as_str().unwrap_or(""),
            function["description"]
                .as_str()
                .unwrap_or("")
                .trim_end_matches('.')
        ));
        let parameters = match &function["parameters"] {
            Value::Null => &function["input_schema"],
            p => p,
        };
        let properties = parameters["properties"].as_object();
        if let Some(properties) = properties.filter(|p| !p.is_empty()) {
            total += 3;
            for (name, property) in properties {
                total += 3;
                let values = property["enum"].as_array();
                for value in values.into_iter().flatten() {
                    total += 3 + value
                        .as_str()
                        .map_or_else(|| count(&value.to_string()), count);
                }
                if values.is_some() {
                    // An enum's list costs 3 fewer tokens than its items suggest.
                    total = total.saturating_sub(3);
                }
                let kind = match &property["type"] {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                let description = property["description"].as_str().unwrap_or("");
                total += count(&format!(
                    "{name}:{kind}:{}",
                    description.trim_end_matches('.')
                ));
                // Nested schemas are not in the compact form; count them as JSON.
                for nested in ["properties", "items", "anyOf", "oneOf"] {
                    if let Some(v) = property.get(nested) {
                        total += count(&v.to_string());
                    }
                }
            }
        }
    }
    if any_tool {
        total += 12;
    }
    total
}

/// A tool's definition: chat nests it under `function`; Responses and Anthropic do not.
fn definition(tool: &Value) -> &Value {
    if tool["function"].is_object() {
        &tool["function"]
    } else {
        tool
    }
}

/// Tokens of one message (chat, Anthropic) or input item (Responses), framing aside.
fn item(message: &Value, count: &dyn Fn(&str) -> u64) -> u64 {
    let text = |v: &Value| v.as_str().map_or(0, count);
    let mut total = text(&message["role"]) + content(&message["content"], count);
    if let Some(name) = message.get("name") {
        total += 1 + text(name);
    }
    for call in message["tool_calls"].as_array().into_iter().flatten() {
        let function = &call["function"];
        total += 3 + text(&function["name"]) + text(&function["arguments"]);
    }
    total += text(&message["tool_call_id"]);
    // Responses items: tool calls and their outputs, and reasoning (its texts only: the
    // encrypted part is opaque).
    total += text(&message["arguments"]) + text(&message["input"]);
    total += content(&message["output"], count);
    if message["type"] == "reasoning" {
        total += content(&message["summary"], count);
    }
    if message.get("role").is_none()
        && !matches!(
            message["type"].as_str(),
            Some(
                "function_call"
                    | "function_call_output"
                    | "custom_tool_call"
                    | "custom_tool_call_output"
                    | "reasoning"
                    | "message"
            )
        )
    {
        // An item of a kind not read here: its JSON, as the model may well see it.
        total += count(&message.to_string());
    }
    total
}

/// Tokens of a content value: a string, or a list of parts or blocks.
fn content(content: &Value, count: &dyn Fn(&str) -> u64) -> u64 {
    match content {
        Value::String(s) => count(s),
        Value::Array(parts) => parts.iter().map(|p| part(p, count)).sum(),
        _ => 0,
    }
}

/// Tokens of one content part (chat, Responses) or block (Anthropic).
fn part(part: &Value, count: &dyn Fn(&str) -> u64) -> u64 {
    let text = |v: &Value| v.as_str().map_or(0, count);
    match part["type"].as_str() {
        Some("text" | "input_text" | "output_text" | "summary_text" | "reasoning_text") => {
            text(&part["text"])
        }
        Some("image_url" | "input_image" | "image") => IMAGE_TOKENS,
        Some("tool_use") => 3 + text(&part["name"]) + count(&part["input"].to_string()),
        Some("tool_result") => 3 + content(&part["content"], count),
        Some("thinking") => text(&part["thinking"]),
        _ => count(&part.to_string()),
    }
}

/// The prompt of one request: a cheap bound at once, the real count only when needed.
pub struct PromptSize<'a> {
    body: &'a Value,
    /// Whether the tokenizer may be used (smart max_tokens on).
    counting: bool,
    /// Fixed tokens kept free on top of a tenth of the prompt.
    margin: u64,
    /// An upper bound (bytes), or, without the tokenizer, a rough estimate (bytes / 4).
    cheap: u64,
    exact: OnceCell<u64>,
    /// The largest context of any model that could serve: counting stops past it.
    cap: u64,
}

impl<'a> PromptSize<'a> {
    pub fn new(body: &'a Value, counting: bool, margin: u64) -> PromptSize<'a> {
        let cheap = if counting {
            walk(body, &|s| s.len() as u64)
        } else {
            walk(body, &|s| (s.len() as u64).div_ceil(4))
        };
        PromptSize {
            body,
            counting,
            margin,
            cheap,
            exact: OnceCell::new(),
            cap: u64::MAX,
        }
    }

    /// Stops counting once the prompt is past `cap` tokens (the largest context of the
    /// models that could serve it): beyond that, the exact figure changes no decision.
    pub fn capped_at(mut self, cap: u64) -> PromptSize<'a> {
        self.cap = cap;
        self
    }

    /// The prompt's tokens as best known: counted when counting is on.
    pub fn tokens(&self) -> u64 {
        if self.counting {
            *self.exact.get_or_init(|| {
                let counter = RefCell::new(Counter::new(self.cap));
                walk(self.body, &|text| counter.borrow_mut().count(text))
            })
        } else {
            self.cheap
        }
    }

    /// Tokens left for the answer in a context of `context`, after the prompt and the margin.
    /// The real count is made only when the cheap bound leaves less than `wanted`.
    pub fn room(&self, context: u64, wanted: u64) -> u64 {
        let room = |prompt: u64| context.saturating_sub(prompt + prompt / 10 + self.margin);
        let cheap = room(self.cheap);
        if cheap >= wanted || !self.counting {
            cheap
        } else {
            room(self.tokens())
        }
    }

    /// Whether the prompt leaves room for an answer in a context of `context`.
    pub fn fits(&self, context: u64) -> bool {
        self.room(context, MIN_ANSWER_TOKENS) >= MIN_ANSWER_TOKENS
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn prompt(body: &Value) -> u64 {
        PromptSize::new(body, true, 0).tokens()
    }

    #[test]
    fn known_texts_count_as_openai_counts_them() {
        use crate::autopilot::tokenizer::count_text;
        // Figures from OpenAI's tiktoken examples for o200k_base.
        assert_eq!(count_text("2 + 2 = 4"), 7);
        assert_eq!(count_text("お誕生日おめでとう"), 8);
        assert_eq!(count_text("hello world"), 2);
    }

    #[test]
    fn a_chat_prompt_counts_as_the_api_billed_it() {
        // OpenAI's cookbook example: the API reported 124 prompt tokens for gpt-4o (o200k_base).
        let body = json!({"messages": [
            {"role": "system", "content": "You are a helpful, pattern-following assistant that translates corporate jargon into plain English."},
            {"role": "system", "name": "example_user", "content": "New synergies will help drive top-line growth."},
            {"role": "system", "name": "example_assistant", "content": "Things working well together will increase revenue."},
            {"role": "system", "name": "example_user", "content": "Let's circle back when we have more bandwidth to touch base on opportunities for increased leverage."},
            {"role": "system", "name": "example_assistant", "content": "Let's talk later when we're less busy about how to do better."},
            {"role": "user", "content": "This late pivot means we don't have time to boil the ocean for the client deliverable."}
        ]});
        assert_eq!(prompt(&body), 124);
    }

    #[test]
    fn tool_definitions_count_as_the_api_billed_them() {
        // OpenAI's cookbook example with one tool: 101 prompt tokens for gpt-4o.
        let body = json!({
            "messages": [
                {"role": "system", "content": "You are a helpful assistant that can answer to questions about the weather."},
                {"role": "user", "content": "What's the weather like in San Francisco?"}
            ],
            "tools": [{"type": "function", "function": {
                "name": "get_current_weather",
                "description": "Get the current weather in a given location",
                "parameters": {"type": "object", "properties": {
                    "location": {"type": "string", "description": "The city and state, e.g. San Francisco, CA"},
                    "unit": {"type": "string", "description": "The unit of temperature to return", "enum": ["celsius", "fahrenheit"]}
                }, "required": ["location"]}
            }}]
        });
        assert_eq!(prompt(&body), 101);
    }

    #[test]
    fn images_count_as_a_fixed_allowance_not_their_bytes() {
        let big_image = format!("data:image/png;base64,{}", "A".repeat(1_000_000));
        let body = json!({"messages": [{"role": "user", "content": [
            {"type": "text", "text": "describe"},
            {"type": "image_url", "image_url": {"url": big_image}}
        ]}]});
        let n = prompt(&body);
        assert!(n > IMAGE_TOKENS && n < IMAGE_TOKENS + 20, "{n}");
        assert!(PromptSize::new(&body, true, 0).cheap < IMAGE_TOKENS + 50);
    }

    #[test]
    fn the_cheap_bound_spares_the_count_when_it_proves_enough_room() {
        let body = json!({"messages": [{"role": "user", "content": "word ".repeat(2000)}]});
        let size = PromptSize::new(&body, true, 100);
        // 10 000 bytes leave plenty of a 128k context: no counting.
        assert!(size.room(128_000, 8_192) >= 8_192);
        assert!(size.exact.get().is_none());
        // A 12k context is too tight for the bound: the real count (about 2 000) decides.
        let room = size.room(12_000, 8_000);
        assert!(size.exact.get().is_some());
        let tokens = size.tokens();
        assert!((1_990..2_020).contains(&tokens), "{tokens}");
        assert_eq!(room, 12_000 - tokens - tokens / 10 - 100);
        assert!(!size.fits(2_000));
        assert!(size.fits(3_000));
    }

    #[test]
    fn without_counting_a_rough_estimate_is_used() {
        let body = json!({"messages": [{"role": "user", "content": "x".repeat(4000)}]});
        let size = PromptSize::new(&body, false, 0);
        assert!((1_000..1_020).contains(&size.tokens()));
    }

    #[test]
    fn every_protocols_prompt_is_counted() {
        use crate::autopilot::tokenizer::count_text;
        let words = "the quick brown fox jumps over the lazy dog";
        let n = count_text(words);
        let chat = json!({"messages": [
            {"role": "system", "content": words},
            {"role": "user", "content": words}
        ]});
        let responses = json!({"instructions": words, "input": [
            {"role": "user", "content": [{"type": "input_text", "text": words}]}
        ]});
        let messages = json!({"system": [{"type": "text", "text": words}], "messages": [
            {"role": "user", "content": [{"type": "text", "text": words}]}
        ]});
        let chat = prompt(&chat);
        assert_eq!(chat, 3 + 2 * (3 + 1 + n));
        // The system prompt has no role word of its own there, one token less.
        assert_eq!(prompt(&responses), chat - 1);
        assert_eq!(prompt(&messages), chat - 1);
        assert_eq!(prompt(&json!({"input": words})), 3 + 3 + n);
    }

    #[test]
    fn tool_uses_results_and_calls_count_in_every_shape() {
        let empty = prompt(&json!({"messages": [{"role": "user", "content": []}]}));
        let anthropic = json!({"messages": [{"role": "user", "content": [
            {"type": "tool_use", "id": "t", "name": "lookup", "input": {"q": "weather in Paris"}},
            {"type": "tool_result", "tool_use_id": "t", "content": "sunny and warm all day"},
            {"type": "thinking", "thinking": "the user wants the weather"}
        ]}]});
        assert!(prompt(&anthropic) > empty + 15, "{}", prompt(&anthropic));
        let responses = json!({"input": [
            {"type": "function_call", "call_id": "c", "name": "lookup", "arguments": "{\"q\":\"weather in Paris\"}"},
            {"type": "function_call_output", "call_id": "c", "output": "sunny and warm all day"}
        ]});
        assert!(prompt(&responses) > 15, "{}", prompt(&responses));
        // A flat tool definition (Responses) counts as its nested twin (chat).
        let schema = json!({"type": "object", "properties": {"q": {"type": "string"}}});
        let nested = json!({"messages": [], "tools": [{"type": "function", "function":
            {"name": "lookup", "description": "Looks it up", "parameters": schema}}]});
        let flat = json!({"messages": [], "tools": [{"type": "function",
            "name": "lookup", "description": "Looks it up", "parameters": schema}]});
        let anthropic = json!({"messages": [], "tools": [
            {"name": "lookup", "description": "Looks it up", "input_schema": schema}]});
        assert_eq!(prompt(&flat), prompt(&nested));
        assert_eq!(prompt(&anthropic), prompt(&nested));
    }
}
