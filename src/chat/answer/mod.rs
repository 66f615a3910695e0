//! What a whole answer must look like, and the fix for models that answer only in their
//! reasoning: each protocol has the same gap (thinking, and no text the client reads), and
//! each gets usable text its own way. This file holds chat completions' check; `responses.rs`
//! and `messages.rs` hold the other two.

mod glance;
mod messages;
mod responses;

pub(crate) use messages::finish_messages;
pub(crate) use responses::{
    finish_responses, has_answer, reasoning_only, status_of_code, text_message,
};

use serde_json::Value;

use crate::api::error::{ApiError, from_upstream};

/// A whole answer, ready to send.
#[derive(Debug)]
pub(crate) struct Completion {
    pub(crate) body: Vec<u8>,
    /// The model that answered, as the answer names it.
    pub(crate) model: Option<String>,
    /// `(prompt, completion)` tokens, from its `usage`.
    pub(crate) usage: (u64, u64),
}

/// Checks a whole chat answer and, when a model answered only in `reasoning`, copies that
/// text into `content` so clients that read only `content` get it.
pub(crate) fn finish_chat(bytes: Vec<u8>) -> Result<Completion, ApiError> {
    // The plain case (most answers) without building a tree of the whole answer.
    if let Some(g) = glance::glance(&bytes) {
        return Ok(Completion {
            body: bytes,
            model: g.model,
            usage: g.usage,
        });
    }
    finish_chat_fully(bytes)
}

/// [`finish_chat`] on a tree of the whole answer: every case the quick look declines.
fn finish_chat_fully(bytes: Vec<u8>) -> Result<Completion, ApiError> {
    let mut value = parse(&bytes)?;
    if value.get("error").is_some() && value.get("choices").is_none() {
        return Err(from_upstream(200, &bytes, None));
    }
    let model = value
        .get("model")
        .and_then(Value::as_str)
        .map(str::to_string);
    let usage = &value["usage"];
    let usage = (
        usage["prompt_tokens"].as_u64().unwrap_or(0),
        usage["completion_tokens"].as_u64().unwrap_or(0),
    );
    let Some(choices) = value.get_mut("choices").and_then(Value::as_array_mut) else {
        return Err(ApiError::UpstreamInvalid {
            detail: "it has no 'choices'".into(),
        });
    };
    let mut changed = false;
    for choice in choices {
        let Some(message) = choice.get_mut("message").and_then(Value::as_object_mut) else {
            continue;
        };
        let content_empty = match message.get("content") {
            None | Some(Value::Null) => true,
            Some(Value::String(s)) => s.trim().is_empty(),
            Some(_) => false,
        };
        let reasoning = message
            .get("reasoning")
            .and_then(Value::as_str)
            .filter(|r| !r.trim().is_empty())
            .map(str::to_string);
        if let (true, Some(reasoning)) = (content_empty, reasoning) {
            message.insert("content".into(), Value::String(reasoning));
            changed = true;
        }
    }
    Ok(Completion {
        body: reencoded(changed, &value, bytes),
        model,
        usage,
    })
}

/// The answer's bytes: as received unless the proxy changed the answer.
fn reencoded(changed: bool, value: &Value, bytes: Vec<u8>) -> Vec<u8> {
    if changed {
        serde_json::to_vec(value).unwrap_or(bytes)
    } else {
        bytes
    }
}

/// Parses a whole answer as JSON.
fn parse(bytes: &[u8]) -> Result<Value, ApiError> {
    serde_json::from_slice(bytes).map_err(|e| ApiError::UpstreamInvalid {
        detail: format!("not JSON ({e})"),
    })
}

/// `(input, output)` tokens from a Responses or Messages `usage`.
fn io_usage(value: &Value) -> (u64, u64) {
    let usage = &value["usage"];
    (
        usage["input_tokens"].as_u64().unwrap_or(0),
        usage["output_tokens"].as_u64().unwrap_or(0),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasoning_only_answers_get_content() {
        let body = br#"{"model":"m:free","choices":[{"message":{"role":"assistant","content":"","reasoning":"42"}}],"usage":{"prompt_tokens":9,"completion_tokens":3}}"#;
        let answer = finish_chat(body.to_vec()).unwrap();
        let v: Value = serde_json::from_slice(&answer.body).unwrap();
        assert_eq!(v["choices"][0]["message"]["content"], "42");
        assert_eq!(v["choices"][0]["message"]["reasoning"], "42");
        assert_eq!(answer.model.as_deref(), Some("m:free"));
        assert_eq!(answer.usage, (9, 3));
    }

    #[test]
    fn answers_with_content_pass_unchanged() {
        let body = br#"{"choices":[{"message":{"content":"hi","reasoning":"thought"}}],"x":1}"#;
        let answer = finish_chat(body.to_vec()).unwrap();
        assert_eq!(answer.body, body.to_vec());
        assert_eq!(answer.usage, (0, 0));
    }

    #[test]
    fn error_envelopes_and_garbage_are_errors() {
        let e = finish_chat(br#"{"error":{"message":"busy","code":429}}"#.to_vec()).unwrap_err();
        assert_eq!(e.status(), 429);
        let e = finish_chat(b"<html>".to_vec()).unwrap_err();
        assert_eq!(e.status(), 502);
        let e = finish_chat(br#"{"id":"x"}"#.to_vec()).unwrap_err();
        assert_eq!(e.status(), 502);
    }

    /// The quick look and the full path agree on every answer, plain or not.
    #[test]
    fn the_quick_look_agrees_with_the_full_path() {
        let bodies: [&[u8]; 14] = [
            br#"{"model":"m:free","choices":[{"message":{"content":"hi"}}],"usage":{"prompt_tokens":9,"completion_tokens":3}}"#,
            br#"{"model":"m\u003afree","choices":[{"message":{"content":"  ","reasoning":"why"}}]}"#,
            br#"{"choices":[{"message":{"content":null,"reasoning":"  "}}]}"#,
            br#"{"choices":[{"message":{"reasoning":"only this"}}]}"#,
            br#"{"choices":[{"message":{"content":[{"type":"text","text":""}],"reasoning":"r"}}]}"#,
            br#"{"choices":[{"message":{"content":"","reasoning":7}}]}"#,
            br#"{"choices":[{"message":"text"},{"message":null},{}],"model":null}"#,
            br#"{"choices":[],"usage":{"prompt_tokens":1.5,"completion_tokens":null}}"#,
            br#"{"choices":[],"usage":7,"model":3}"#,
            br#"{"choices":{},"error":null}"#,
            br#"{"choices":[],"error":{"message":"half"}}"#,
            br#"{"error":{"message":"busy","code":429}}"#,
            br#"{"choices":[{"message":{"content":"a"}}],"choices":[]}"#,
            b"[1,2]",
        ];
        let view = |r: Result<Completion, ApiError>| match r {
            Ok(c) => format!(
                "{:?} {:?} {}",
                c.model,
                c.usage,
                String::from_utf8_lossy(&c.body)
            ),
            Err(e) => format!("error {} {e:?}", e.status()),
        };
        for body in bodies {
            assert_eq!(
                view(finish_chat(body.to_vec())),
                view(finish_chat_fully(body.to_vec())),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }
}
