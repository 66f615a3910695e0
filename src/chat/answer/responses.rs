//! A whole Responses API answer (`{"object":"response","output":[...]}`): an error in it is a
//! failure, and an answer whose `output` holds reasoning but no message and no tool call gets
//! an `output_text` message carrying that reasoning, so clients that read `output_text` (the
//! SDKs' own shortcut) get the answer.

use serde_json::{Value, json};

use super::{Completion, io_usage, parse, reencoded};
use crate::api::error::{ApiError, from_upstream_error};

/// Checks a whole Responses answer, fixing one that only reasoned.
pub(crate) fn finish_responses(bytes: Vec<u8>) -> Result<Completion, ApiError> {
    let mut value = parse(&bytes)?;
    // A result always has an `error` field, null when it worked.
    let failed = value["status"] == "failed" || value.get("output").is_none();
    if value["error"].is_object() && failed {
        let error = json!({
            "message": value["error"]["message"],
            "code": status_of_code(&value["error"]["code"]),
        });
        return Err(from_upstream_error(200, Some(&error), &bytes, None));
    }
    let model = value["model"].as_str().map(str::to_string);
    let usage = io_usage(&value);
    let id = value["id"].as_str().unwrap_or("").to_string();
    let Some(output) = value.get_mut("output").and_then(Value::as_array_mut) else {
        return Err(ApiError::UpstreamInvalid {
            detail: "it has no 'output'".into(),
        });
    };
    let changed = match reasoning_only(output) {
        Some(reasoning) => {
            output.push(text_message(&id, &reasoning));
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

/// Whether an `output` holds something a client acts on: message text, or a tool call (or
/// any other action), which is an answer in itself.
pub(crate) fn has_answer(output: &[Value]) -> bool {
    output.iter().any(|item| match item["type"].as_str() {
        Some("reasoning") => false,
        Some("message") => item["content"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| p["text"].as_str())
            .any(|t| !t.trim().is_empty()),
        _ => true,
    })
}

/// The reasoning text of an `output` that has reasoning and no answer (see [`has_answer`]).
pub(crate) fn reasoning_only(output: &[Value]) -> Option<String> {
    if has_answer(output) {
        return None;
    }
    let mut reasoning = String::new();
    for item in output.iter().filter(|i| i["type"] == "reasoning") {
        // The full text when the model gave it, else its summary.
        let parts = item["content"]
            .as_array()
            .filter(|c| !c.is_empty())
            .or_else(|| item["summary"].as_array());
        for part in parts.into_iter().flatten() {
            reasoning.push_str(part["text"].as_str().unwrap_or(""));
        }
    }
    (!reasoning.trim().is_empty()).then_some(reasoning)
}

/// An assistant message item holding `text`, as the Responses API writes one.
pub(crate) fn text_message(response_id: &str, text: &str) -> Value {
    json!({
        "type": "message",
        "id": format!("msg_{}_reasoning", response_id.trim_start_matches("resp_")),
        "status": "completed",
        "role": "assistant",
        "content": [{"type": "output_text", "text": text, "annotations": []}],
    })
}

/// The HTTP status a Responses error code stands for (`rate_limit_exceeded` and the like),
/// so that the failure is classified as its numeric twin would be.
pub(crate) fn status_of_code(code: &Value) -> u16 {
    if let Some(n) = code.as_u64().and_then(|n| u16::try_from(n).ok()) {
        return n;
    }
    match code.as_str().unwrap_or("") {
        "rate_limit_exceeded" => 429,
        "invalid_prompt" | "invalid_request" | "context_length_exceeded" => 400,
        "server_overloaded" | "provider_overloaded" => 529,
        "timeout" => 408,
        _ => 502,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC: &str = r#"{"id":"resp_abc123","object":"response","created_at":1700000000,"status":"completed","error":null,"model":"openai/gpt-4o","output":[{"type":"message","id":"msg-abc123","status":"completed","role":"assistant","content":[{"type":"output_text","text":"Why did the chicken cross the road?","annotations":[]}]}],"usage":{"input_tokens":10,"output_tokens":20,"total_tokens":30}}"#;

    #[test]
    fn an_answer_with_text_passes_unchanged() {
        let answer = finish_responses(SPEC.as_bytes().to_vec()).unwrap();
        assert_eq!(answer.body, SPEC.as_bytes());
        assert_eq!(answer.model.as_deref(), Some("openai/gpt-4o"));
        assert_eq!(answer.usage, (10, 20));
    }

    #[test]
    fn a_reasoning_only_answer_gets_an_output_text_message() {
        let body = r#"{"id":"resp_1","object":"response","status":"completed","error":null,"model":"m:free","output":[{"type":"reasoning","id":"rs_1","summary":[],"content":[{"type":"reasoning_text","text":"The answer is 4."}]}],"usage":{"input_tokens":3,"output_tokens":5}}"#;
        let answer = finish_responses(body.as_bytes().to_vec()).unwrap();
        let v: Value = serde_json::from_slice(&answer.body).unwrap();
        let output = v["output"].as_array().unwrap();
        assert_eq!(output.len(), 2);
        assert_eq!(output[0]["type"], "reasoning");
        assert_eq!(output[1]["type"], "message");
        assert_eq!(output[1]["content"][0]["type"], "output_text");
        assert_eq!(output[1]["content"][0]["text"], "The answer is 4.");
    }

    #[test]
    fn a_tool_call_is_an_answer_and_summaries_count_as_reasoning() {
        let call = [
            json!({"type": "reasoning", "summary": [{"type": "summary_text", "text": "x"}]}),
            json!({"type": "function_call", "name": "f", "arguments": "{}"}),
        ];
        assert_eq!(reasoning_only(&call), None);
        let summary =
            [json!({"type": "reasoning", "summary": [{"type": "summary_text", "text": "Sum."}]})];
        assert_eq!(reasoning_only(&summary).as_deref(), Some("Sum."));
        let empty = [json!({"type": "message", "content": [{"type": "output_text", "text": ""}]})];
        assert_eq!(reasoning_only(&empty), None);
    }

    #[test]
    fn a_failed_response_is_a_failure_with_its_status() {
        let failed = r#"{"id":"r","object":"response","status":"failed","output":[],"error":{"code":"rate_limit_exceeded","message":"slow down"}}"#;
        let e = finish_responses(failed.as_bytes().to_vec()).unwrap_err();
        assert_eq!(e.status(), 429);
        assert_eq!(e.to_string(), "slow down");
        let envelope = r#"{"error":{"code":503,"message":"no provider"}}"#;
        assert_eq!(
            finish_responses(envelope.as_bytes().to_vec())
                .unwrap_err()
                .status(),
            503
        );
        let e = finish_responses(br#"{"id":"x","error":null}"#.to_vec()).unwrap_err();
        assert_eq!(e.status(), 502);
    }
}
