//! What the fake answers a call no script covers, whichever its protocol: a tool call when the
//! request offers tools (and the conversation does not end with a tool's result), JSON that
//! fits the requested schema when it asks for structured output, else a short greeting. Two
//! markers in a request's text make it fail as OpenRouter fails, so that `--demo` shows errors
//! too: `[demo:429]` (a provider's rate limit) and `[demo:503]` (no provider available).

use serde_json::{Map, Value, json};

/// The text of an answer that is neither a tool call nor JSON.
pub(crate) const GREETING: &str = "Hello! How can I help you today?";

/// A request's text that makes the fake answer 429 (a provider's rate limit).
pub const DEMO_RATE_LIMITED: &str = "[demo:429]";
/// A request's text that makes the fake answer 503 (no provider available).
pub const DEMO_UNAVAILABLE: &str = "[demo:503]";

/// The protocol a generation call speaks, from its path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Wire {
    Chat,
    Responses,
    Messages,
}

impl Wire {
    /// The protocol of a generation endpoint's path; `None` for any other path.
    pub(crate) fn of_path(path: &str) -> Option<Wire> {
        if path.ends_with("/chat/completions") {
            Some(Wire::Chat)
        } else if path.ends_with("/responses") {
            Some(Wire::Responses)
        } else if path.ends_with("/messages") {
            Some(Wire::Messages)
        } else {
            None
        }
    }
}

/// What the fake answers.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Answer {
    Text(String),
    /// A call of the tool `name` with these arguments.
    Tool {
        name: String,
        arguments: Value,
    },
}

/// What to answer `body`, a request of `wire`.
pub(crate) fn answer_for(wire: Wire, body: &Value) -> Answer {
    if let Some((name, schema)) =
        first_tool(wire, body).filter(|_| !ends_with_tool_result(wire, body))
    {
        return Answer::Tool {
            arguments: example(schema, schema, 0),
            name,
        };
    }
    match json_schema(wire, body) {
        Some(schema) => {
            let value = match schema {
                Some(schema) => example(schema, schema, 0),
                None => json!({"answer": GREETING}),
            };
            Answer::Text(value.to_string())
        }
        None => Answer::Text(GREETING.to_string()),
    }
}

/// The first function tool offered: its name and its parameters' schema.
fn first_tool(wire: Wire, body: &Value) -> Option<(String, &Value)> {
    body["tools"].as_array()?.iter().find_map(|tool| {
        let (definition, schema) = match wire {
            Wire::Chat => (&tool["function"], &tool["function"]["parameters"]),
            Wire::Responses if tool["type"] == "function" => (tool, &tool["parameters"]),
            Wire::Responses => return None,
            Wire::Messages => (tool, &tool["input_schema"]),
        };
        Some((definition["name"].as_str()?.to_string(), schema))
    })
}

/// Whether the conversation's last turn is a tool's result (the model then answers in text).
fn ends_with_tool_result(wire: Wire, body: &Value) -> bool {
    match wire {
        Wire::Chat => body["messages"]
            .as_array()
            .and_then(|m| m.last())
            .is_some_and(|m| m["role"] == "tool"),
        Wire::Responses => body["input"]
            .as_array()
            .and_then(|i| i.last())
            .is_some_and(|i| i["type"] == "function_call_output"),
        Wire::Messages => body["messages"]
            .as_array()
            .and_then(|m| m.last())
            .and_then(|m| m["content"].as_array())
            .is_some_and(|blocks| blocks.iter().any(|b| b["type"] == "tool_result")),
    }
}

/// `Some(schema)` when the request asks for JSON (`Some(None)`: any JSON object), `None` for
/// plain text.
fn json_schema(wire: Wire, body: &Value) -> Option<Option<&Value>> {
    let format = match wire {
        Wire::Chat => &body["response_format"],
        Wire::Responses => &body["text"]["format"],
        Wire::Messages => &body["output_config"]["format"],
    };
    match format["type"].as_str()? {
        "json_object" => Some(None),
        "json_schema" => {
            // Chat nests the schema under `json_schema`; the others do not.
            let schema = match wire {
                Wire::Chat => &format["json_schema"]["schema"],
                _ => &format["schema"],
            };
            Some(Some(schema).filter(|s| s.is_object()))
        }
        _ => None,
    }
}

/// A value that fits `schema` (as far as the common keywords go), `root` holding `$defs`.
fn example(schema: &Value, root: &Value, depth: usize) -> Value {
    if depth > 8 {
        return Value::Null;
    }
    if let Some(target) = schema["$ref"].as_str() {
        let name = target.rsplit('/').next().unwrap_or("");
        let found = [&root["$defs"][name], &root["definitions"][name]]
            .into_iter()
            .find(|d| d.is_object());
        return found.map_or(Value::Null, |d| example(d, root, depth + 1));
    }
    if let Some(value) = schema.get("const") {
        return value.clone();
    }
    if let Some(first) = schema["enum"].as_array().and_then(|e| e.first()) {
        return first.clone();
    }
    for key in ["anyOf", "oneOf", "allOf"] {
        if let Some(first) = schema[key].as_array().and_then(|a| a.first()) {
            return example(first, root, depth + 1);
        }
    }
    let kind = match &schema["type"] {
        Value::Array(kinds) => kinds
            .iter()
            .find(|k| *k != "null")
            .cloned()
            .unwrap_or_default(),
        kind => kind.clone(),
    };
    match kind.as_str() {
        Some("string") => json!("demo"),
        Some("integer") => json!(42),
        Some("number") => json!(4.2),
        Some("boolean") => json!(true),
        Some("null") => Value::Null,
        Some("array") => json!([example(&schema["items"], root, depth + 1)]),
        _ => {
            let mut object = Map::new();
            for (name, property) in schema["properties"].as_object().into_iter().flatten() {
                object.insert(name.clone(), example(property, root, depth + 1));
            }
            Value::Object(object)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tools_are_called_until_a_result_comes_back() {
        let schema = json!({"type": "object", "properties": {
            "city": {"type": "string"}, "days": {"type": "integer"},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}
        }});
        let chat = json!({"messages": [{"role": "user", "content": "weather?"}],
            "tools": [{"type": "function", "function": {"name": "weather", "parameters": schema}}]});
        let expected = Answer::Tool {
            name: "weather".into(),
            arguments: json!({"city": "demo", "days": 42, "unit": "celsius"}),
        };
        assert_eq!(answer_for(Wire::Chat, &chat), expected);
        let responses = json!({"input": "weather?",
            "tools": [{"type": "function", "name": "weather", "parameters": schema}]});
        assert_eq!(answer_for(Wire::Responses, &responses), expected);
        let messages = json!({"messages": [{"role": "user", "content": "weather?"}],
            "tools": [{"name": "weather", "input_schema": schema}]});
        assert_eq!(answer_for(Wire::Messages, &messages), expected);
        let answered = json!({"messages": [
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t", "content": "sunny"}]}],
            "tools": [{"name": "weather", "input_schema": schema}]});
        assert_eq!(
            answer_for(Wire::Messages, &answered),
            Answer::Text(GREETING.into())
        );
    }

    #[test]
    fn structured_output_gets_json_that_fits() {
        let schema = json!({"type": "object", "properties": {
            "name": {"type": "string"}, "tags": {"type": "array", "items": {"$ref": "#/$defs/Tag"}},
            "score": {"anyOf": [{"type": "number"}, {"type": "null"}]}
        }, "$defs": {"Tag": {"type": "object", "properties": {"label": {"const": "x"}}}}});
        let expected = Answer::Text(
            json!({"name": "demo", "tags": [{"label": "x"}], "score": 4.2}).to_string(),
        );
        let chat = json!({"response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": schema}}});
        assert_eq!(answer_for(Wire::Chat, &chat), expected);
        let responses =
            json!({"text": {"format": {"type": "json_schema", "name": "x", "schema": schema}}});
        assert_eq!(answer_for(Wire::Responses, &responses), expected);
        let messages =
            json!({"output_config": {"format": {"type": "json_schema", "schema": schema}}});
        assert_eq!(answer_for(Wire::Messages, &messages), expected);
        let object = json!({"response_format": {"type": "json_object"}});
        let Answer::Text(text) = answer_for(Wire::Chat, &object) else {
            panic!("text");
        };
        assert!(serde_json::from_str::<Value>(&text).unwrap().is_object());
        assert_eq!(
            answer_for(Wire::Chat, &json!({})),
            Answer::Text(GREETING.into())
        );
    }

    #[test]
    fn paths_name_their_protocol() {
        assert_eq!(Wire::of_path("/api/v1/chat/completions"), Some(Wire::Chat));
        assert_eq!(Wire::of_path("/api/v1/responses"), Some(Wire::Responses));
        assert_eq!(Wire::of_path("/api/v1/messages"), Some(Wire::Messages));
        assert_eq!(Wire::of_path("/api/v1/models"), None);
    }
}
