//! A whole Anthropic Messages answer (`{"type":"message","content":[...]}`): an error in it is
//! a failure, and an answer whose `content` holds thinking but no text block and no tool use
//! gets a text block carrying the thinking, so clients that show text blocks show the answer.

use serde_json::{Value, json};

use super::{Completion, io_usage, parse, reencoded};
use crate::api::error::{ApiError, from_upstream};

/// Checks a whole Messages answer, fixing one that only thought.
pub(crate) fn finish_messages(bytes: Vec<u8>) -> Result<Completion, ApiError> {
    let mut value = parse(&bytes)?;
    if value["type"] == "error" || (value.get("error").is_some() && value.get("content").is_none())
    {
        return Err(from_upstream(200, &bytes, None));
    }
    let model = value["model"].as_str().map(str::to_string);
    let usage = io_usage(&value);
    let Some(content) = value.get_mut("content").and_then(Value::as_array_mut) else {
        return Err(ApiError::UpstreamInvalid {
            detail: "it has no 'content'".into(),
        });
    };
    let changed = match thinking_only(content) {
        Some(thinking) => {
            content.push(json!({"type": "text", "text": thinking}));
            true
        }
        None => false,
    };
    Ok(Completion {
        body: reencoded(changed, &value, bytes),
        model,
        usage,
    })
}

/// The thinking of `content` blocks that hold thinking and nothing else a client acts on (no
/// text, no tool use).
fn thinking_only(content: &[Value]) -> Option<String> {
    let mut thinking = String::new();
    for block in content {
        match block["type"].as_str() {
            Some("thinking") => thinking.push_str(block["thinking"].as_str().unwrap_or("")),
            // Redacted thinking has nothing to show.
            Some("redacted_thinking") => {}
            Some("text") if block["text"].as_str().is_none_or(|t| t.trim().is_empty()) => {}
            _ => return None,
        }
    }
    (!thinking.trim().is_empty()).then_some(thinking)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC: &str = r#"{"id":"msg_abc123","type":"message","role":"assistant","model":"anthropic/claude-sonnet-4","content":[{"type":"text","text":"I'm doing well, thank you for asking!","citations":[]}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":12,"output_tokens":18}}"#;

    #[test]
    fn an_answer_with_text_passes_unchanged() {
        let answer = finish_messages(SPEC.as_bytes().to_vec()).unwrap();
        assert_eq!(answer.body, SPEC.as_bytes());
        assert_eq!(answer.model.as_deref(), Some("anthropic/claude-sonnet-4"));
        assert_eq!(answer.usage, (12, 18));
    }

    #[test]
    fn a_thinking_only_answer_gets_a_text_block() {
        let body = r#"{"id":"gen-1","type":"message","role":"assistant","model":"m:free","content":[{"type":"thinking","thinking":"It is 4.","signature":""},{"type":"text","text":""}],"stop_reason":"end_turn","usage":{"input_tokens":5,"output_tokens":9}}"#;
        let answer = finish_messages(body.as_bytes().to_vec()).unwrap();
        let v: Value = serde_json::from_slice(&answer.body).unwrap();
        let content = v["content"].as_array().unwrap();
        assert_eq!(
            content.last().unwrap(),
            &json!({"type": "text", "text": "It is 4."})
        );
        assert_eq!(content[0]["type"], "thinking");
    }

    #[test]
    fn a_tool_use_is_an_answer() {
        let blocks = [
            json!({"type": "thinking", "thinking": "call it"}),
            json!({"type": "tool_use", "id": "t", "name": "f", "input": {}}),
        ];
        assert_eq!(thinking_only(&blocks), None);
    }

    #[test]
    fn errors_are_failures_with_their_status() {
        let e = finish_messages(
            br#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#
                .to_vec(),
        )
        .unwrap_err();
        assert_eq!(e.status(), 529);
        assert_eq!(e.to_string(), "Overloaded");
        let e =
            finish_messages(br#"{"error":{"code":429,"message":"busy"}}"#.to_vec()).unwrap_err();
        assert_eq!(e.status(), 429);
        let e = finish_messages(br#"{"type":"message"}"#.to_vec()).unwrap_err();
        assert_eq!(e.status(), 502);
    }
}
