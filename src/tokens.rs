//! How many tokens a chat prompt takes, as an estimate good enough to tell whether it fits a
//! model's context: message texts at about four characters a token, a fixed allowance for
//! each image and each message's framing, and the tool definitions.

use serde_json::Value;

/// Tokens assumed for one image part (providers bill roughly this for a typical image).
const IMAGE_TOKENS: u64 = 1_000;
/// Framing each message costs (role, separators).
const PER_MESSAGE: u64 = 4;

/// Estimates the prompt tokens of a chat request body.
pub fn estimate_prompt_tokens(body: &Value) -> u64 {
    let mut chars: u64 = 0;
    let mut extra: u64 = 3;
    for message in body["messages"].as_array().into_iter().flatten() {
        extra += PER_MESSAGE;
        match &message["content"] {
            Value::String(text) => chars += text.chars().count() as u64,
            Value::Array(parts) => {
                for part in parts {
                    match part["type"].as_str() {
                        Some("text") => {
                            chars += part["text"].as_str().map_or(0, |t| t.chars().count()) as u64
                        }
                        Some("image_url" | "input_image" | "image") => extra += IMAGE_TOKENS,
                        _ => chars += part.to_string().len() as u64,
                    }
                }
            }
            _ => {}
        }
        for field in ["name", "tool_calls", "function_call"] {
            if let Some(v) = message.get(field) {
                chars += v.to_string().len() as u64;
            }
        }
    }
    for field in ["tools", "functions"] {
        if let Some(v) = body.get(field) {
            chars += v.to_string().len() as u64;
        }
    }
    chars.div_ceil(4) + extra
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn images_count_as_a_fixed_allowance_not_their_bytes() {
        let big_image = format!("data:image/png;base64,{}", "A".repeat(1_000_000));
        let body = json!({"messages": [{"role": "user", "content": [
            {"type": "text", "text": "describe"},
            {"type": "image_url", "image_url": {"url": big_image}}
        ]}]});
        let n = estimate_prompt_tokens(&body);
        assert!(n > IMAGE_TOKENS && n < IMAGE_TOKENS + 50, "{n}");
    }

    #[test]
    fn text_is_about_four_characters_a_token() {
        let body = json!({"messages": [{"role": "user", "content": "x".repeat(4000)}]});
        let n = estimate_prompt_tokens(&body);
        assert!((1000..1020).contains(&n), "{n}");
    }
}
