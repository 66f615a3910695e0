//! The three client protocols the proxy serves through one pipeline: OpenAI's chat
//! completions, OpenAI's Responses API and Anthropic's Messages API. Everything the proxy does
//! for a call (model resolution, capability-aware choice, keys, the limiter, failover, smart
//! output limits, debug records) is the same for all three; what differs is listed here: the
//! route's name, OpenRouter's path, the output-limit field, the request's required fields, the
//! client headers passed on, the error shape, and (through [`Protocol::finish`] and
//! [`Protocol::stream_observer`]) how an answer is checked, fixed and read.

use serde_json::Value;

use crate::api::error::ApiError;
use crate::api::error_shape::ErrorShape;
use crate::api::message::HttpRequest;
use crate::chat::answer::{Completion, finish_chat, finish_messages, finish_responses};
use crate::chat::relay::StreamObserver;
use crate::chat::relay::chat_stream::ChatStream;
use crate::chat::relay::messages_stream::MessagesStream;
use crate::chat::relay::responses_stream::ResponsesStream;

/// A client protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Protocol {
    /// `POST /v1/chat/completions`.
    Chat,
    /// `POST /v1/responses`.
    Responses,
    /// `POST /v1/messages`.
    Messages,
}

/// Client headers a protocol passes on to OpenRouter: Anthropic's version and beta flags,
/// which select features of the Messages API. Nothing else of the client's goes upstream (its
/// `Authorization` and `x-api-key` least of all).
const MESSAGES_HEADERS: &[&str] = &["anthropic-version", "anthropic-beta"];

impl Protocol {
    /// The route's name in records, logs and the panel.
    pub(crate) fn route(self) -> &'static str {
        match self {
            Protocol::Chat => "chat",
            Protocol::Responses => "responses",
            Protocol::Messages => "messages",
        }
    }

    /// OpenRouter's endpoint for it, under the base URL.
    pub(crate) fn upstream_path(self) -> &'static str {
        match self {
            Protocol::Chat => "/chat/completions",
            Protocol::Responses => "/responses",
            Protocol::Messages => "/messages",
        }
    }

    /// The fields that limit the answer's size, the one the proxy fills in first.
    pub(crate) fn limit_fields(self) -> &'static [&'static str] {
        match self {
            Protocol::Chat => &["max_tokens", "max_completion_tokens"],
            Protocol::Responses => &["max_output_tokens"],
            Protocol::Messages => &["max_tokens"],
        }
    }

    /// The field holding the conversation, which every request must have.
    fn prompt_field(self) -> &'static str {
        match self {
            Protocol::Chat | Protocol::Messages => "messages",
            Protocol::Responses => "input",
        }
    }

    /// A minimal request, for error messages.
    pub(crate) fn example(self) -> &'static str {
        match self {
            Protocol::Chat => r#"{"model":"auto","messages":[{"role":"user","content":"Hello"}]}"#,
            Protocol::Responses => r#"{"model":"auto","input":"Hello"}"#,
            Protocol::Messages => {
                r#"{"model":"auto","max_tokens":1024,"messages":[{"role":"user","content":"Hello"}]}"#
            }
        }
    }

    /// The shape of the errors the proxy makes itself on this route.
    pub(crate) fn error_shape(self) -> ErrorShape {
        match self {
            Protocol::Messages => ErrorShape::Anthropic,
            Protocol::Chat | Protocol::Responses => ErrorShape::OpenAi,
        }
    }

    /// The client's headers that go to OpenRouter with the call.
    pub(crate) fn forwarded_headers(self, req: &HttpRequest) -> Vec<(String, String)> {
        let names: &[&str] = match self {
            Protocol::Messages => MESSAGES_HEADERS,
            Protocol::Chat | Protocol::Responses => &[],
        };
        req.headers
            .iter()
            .filter(|(k, _)| names.iter().any(|n| k.eq_ignore_ascii_case(n)))
            .cloned()
            .collect()
    }

    /// Checks the conversation field of a parsed request, naming the first problem found.
    pub(crate) fn check_prompt(
        self,
        fields: &serde_json::Map<String, Value>,
    ) -> Result<(), ApiError> {
        let field = self.prompt_field();
        let example = self.example();
        let bad = |message: String| Err(ApiError::bad_request(message, Some(field)));
        match (self, fields.get(field)) {
            (_, None | Some(Value::Null)) => bad(format!(
                "'{field}' is required; send a request such as {example}"
            )),
            (Protocol::Responses, Some(Value::String(_) | Value::Array(_))) => Ok(()),
            (Protocol::Responses, Some(_)) => bad(format!(
                "'{field}' must be a string or a list of input items, as in {example}"
            )),
            (_, Some(Value::Array(list))) if list.is_empty() => {
                bad(format!("'{field}' must hold at least one message"))
            }
            (_, Some(Value::Array(list))) => {
                match list
                    .iter()
                    .position(|m| !m.get("role").is_some_and(Value::is_string))
                {
                    Some(i) => bad(format!(
                        "{field}[{i}] must be an object with a string 'role'"
                    )),
                    None => Ok(()),
                }
            }
            (_, Some(_)) => bad(format!(
                "'{field}' must be a list of {{\"role\", \"content\"}} objects"
            )),
        }
    }

    /// Checks a whole answer and gives usable text to one that only reasoned.
    pub(crate) fn finish(self, bytes: Vec<u8>) -> Result<Completion, ApiError> {
        match self {
            Protocol::Chat => finish_chat(bytes),
            Protocol::Responses => finish_responses(bytes),
            Protocol::Messages => finish_messages(bytes),
        }
    }

    /// What reads this protocol's stream events as they pass.
    pub(crate) fn stream_observer(self) -> Box<dyn StreamObserver> {
        match self {
            Protocol::Chat => Box::new(ChatStream::default()),
            Protocol::Responses => Box::new(ResponsesStream::default()),
            Protocol::Messages => Box::new(MessagesStream::default()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(protocol: Protocol, body: &str) -> Result<(), String> {
        let value: Value = serde_json::from_str(body).unwrap();
        protocol
            .check_prompt(value.as_object().unwrap())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn each_protocol_requires_its_own_conversation_field() {
        assert!(
            check(
                Protocol::Chat,
                r#"{"messages":[{"role":"user","content":"x"}]}"#
            )
            .is_ok()
        );
        assert!(check(Protocol::Responses, r#"{"input":"x"}"#).is_ok());
        assert!(check(Protocol::Responses, r#"{"input":[{"type":"message"}]}"#).is_ok());
        assert!(
            check(
                Protocol::Messages,
                r#"{"messages":[{"role":"user","content":"x"}]}"#
            )
            .is_ok()
        );
        let table = [
            (Protocol::Chat, "{}", "'messages' is required"),
            (
                Protocol::Messages,
                r#"{"input":"x"}"#,
                "'messages' is required",
            ),
            (
                Protocol::Responses,
                r#"{"messages":[]}"#,
                "'input' is required",
            ),
            (Protocol::Responses, r#"{"input":7}"#, "a string or a list"),
            (Protocol::Messages, r#"{"messages":[]}"#, "at least one"),
            (
                Protocol::Messages,
                r#"{"messages":[{"content":"x"}]}"#,
                "messages[0]",
            ),
            (Protocol::Chat, r#"{"messages":"hi"}"#, "must be a list"),
        ];
        for (protocol, body, words) in table {
            let message = check(protocol, body).unwrap_err();
            assert!(message.contains(words), "{protocol:?} {body}: {message}");
        }
    }

    #[test]
    fn only_anthropics_version_and_betas_go_upstream() {
        let mut body = std::io::empty();
        let req = HttpRequest {
            method: "POST".into(),
            path: "/v1/messages".into(),
            query: String::new(),
            headers: [
                ("x-api-key", "sk-client"),
                ("Authorization", "Bearer sk-client"),
                ("Anthropic-Version", "2023-06-01"),
                ("anthropic-beta", "tools-2024-04-04"),
                ("anthropic-dangerous-direct-browser-access", "true"),
            ]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
            body: &mut body,
            peer: ([127, 0, 0, 1], 1).into(),
        };
        let sent = Protocol::Messages.forwarded_headers(&req);
        let names: Vec<&str> = sent.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(names, ["Anthropic-Version", "anthropic-beta"]);
        assert!(Protocol::Chat.forwarded_headers(&req).is_empty());
        assert!(Protocol::Responses.forwarded_headers(&req).is_empty());
    }
}
