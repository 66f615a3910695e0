//! What a request must look like, whichever its protocol: the body is read within its size
//! limit and validated here, naming the first problem found; the conversation field each
//! protocol requires is checked by [`Protocol::check_prompt`].

use std::io::Read;

use serde_json::Value;

use crate::api::error::ApiError;
use crate::api::message::HttpRequest;
use crate::chat::protocol::Protocol;

/// A valid request: its protocol, the parsed body and what the proxy reads from it.
#[derive(Debug)]
pub(crate) struct CallRequest {
    pub(crate) protocol: Protocol,
    pub(crate) value: Value,
    /// `value` was changed and no longer matches the body as received.
    pub(crate) rewritten: bool,
    pub(crate) stream: bool,
    pub(crate) model: Option<String>,
}

/// Requires a JSON content type, so that form posts and typos get a clear answer.
pub(crate) fn check_content_type(req: &HttpRequest) -> Result<(), ApiError> {
    let content_type = req.header("Content-Type");
    let is_json = content_type.is_some_and(|ct| {
        let mime = ct.split(';').next().unwrap_or("").trim();
        mime.eq_ignore_ascii_case("application/json")
            || mime.to_ascii_lowercase().ends_with("+json")
    });
    if is_json {
        Ok(())
    } else {
        Err(ApiError::UnsupportedMediaType {
            content_type: content_type.map(str::to_string),
        })
    }
}

/// Reads the body, refusing a declared or actual size over `limit` without reading it all.
pub(crate) fn read_body(req: &mut HttpRequest, limit: u64) -> Result<Vec<u8>, ApiError> {
    let declared = req.content_length();
    if declared.is_some_and(|n| n > limit) {
        return Err(ApiError::PayloadTooLarge { limit });
    }
    // A declared length is only a promise: reserve at most 1 MiB ahead of the bytes.
    let capacity = declared.unwrap_or(0).min(limit).min(1 << 20) as usize;
    let mut body = Vec::with_capacity(capacity);
    match req.body.take(limit + 1).read_to_end(&mut body) {
        Ok(_) => {}
        // The body ended early: named below, with how much of it came.
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && declared.is_some() => {}
        Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
            return Err(ApiError::Refused {
                status: 408,
                message: e.to_string(),
            });
        }
        Err(e) => {
            return Err(ApiError::bad_request(
                format!("could not read the request body: {e}"),
                None,
            ));
        }
    }
    if body.len() as u64 > limit {
        return Err(ApiError::PayloadTooLarge { limit });
    }
    if let Some(declared) = declared.filter(|n| *n > body.len() as u64) {
        return Err(ApiError::bad_request(
            format!(
                "the request body ended after {} of the {declared} bytes its Content-Length \
                 announced",
                body.len()
            ),
            None,
        ));
    }
    Ok(body)
}

impl CallRequest {
    /// Checks that `body` is a request of `protocol`, naming the first problem found.
    pub(crate) fn parse(protocol: Protocol, body: &[u8]) -> Result<CallRequest, ApiError> {
        if body.iter().all(u8::is_ascii_whitespace) {
            return Err(ApiError::bad_request(
                format!(
                    "the request body is empty; send a JSON request such as {}",
                    protocol.example()
                ),
                None,
            ));
        }
        if std::str::from_utf8(body).is_err() {
            return Err(ApiError::bad_request(
                "the request body is not valid UTF-8",
                None,
            ));
        }
        let value: Value = serde_json::from_slice(body).map_err(|e| {
            ApiError::bad_request(format!("the request body is not valid JSON: {e}"), None)
        })?;
        let Value::Object(fields) = &value else {
            return Err(ApiError::bad_request(
                format!(
                    "the request body must be a JSON object such as {}",
                    protocol.example()
                ),
                None,
            ));
        };
        protocol.check_prompt(fields)?;
        let stream = match fields.get("stream") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => {
                return Err(ApiError::bad_request(
                    "'stream' must be true or false",
                    Some("stream"),
                ));
            }
        };
        let model = match fields.get("model") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => {
                return Err(ApiError::bad_request(
                    "'model' must be a string (a model id, or \"auto\")",
                    Some("model"),
                ));
            }
        };
        for &name in protocol.limit_fields() {
            match fields.get(name) {
                None | Some(Value::Null) => {}
                Some(v) if v.as_u64().is_some_and(|n| n >= 1) => {}
                Some(_) => {
                    return Err(ApiError::bad_request(
                        format!("'{name}' must be a whole number of at least 1"),
                        Some(name),
                    ));
                }
            }
        }
        Ok(CallRequest {
            protocol,
            value,
            rewritten: false,
            stream,
            model,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_err(body: &str) -> String {
        let e = CallRequest::parse(Protocol::Chat, body.as_bytes()).unwrap_err();
        assert_eq!(e.status(), 400, "{body}");
        e.to_string()
    }

    #[test]
    fn valid_requests_parse() {
        let r = CallRequest::parse(
            Protocol::Chat,
            br#"{"messages":[{"role":"user","content":"hi"}]}"#,
        )
        .unwrap();
        assert!(!r.stream);
        assert!(r.model.is_none());
        let r = CallRequest::parse(
            Protocol::Chat,
            br#"{"model":"x","stream":true,"max_tokens":5,"messages":[{"role":"user","content":"hi"}]}"#,
        )
        .unwrap();
        assert!(r.stream);
        assert_eq!(r.model.as_deref(), Some("x"));
    }

    #[test]
    fn each_bad_request_names_its_problem() {
        assert!(parse_err("").contains("empty"));
        assert!(parse_err("{").contains("not valid JSON"));
        assert!(parse_err("[1]").contains("JSON object"));
        assert!(parse_err("{}").contains("'messages' is required"));
        assert!(parse_err(r#"{"messages":[]}"#).contains("at least one"));
        assert!(parse_err(r#"{"messages":"hi"}"#).contains("must be a list"));
        assert!(parse_err(r#"{"messages":[1]}"#).contains("messages[0]"));
        let m = r#""messages":[{"role":"user","content":"hi"}]"#;
        assert!(parse_err(&format!("{{{m},\"stream\":\"yes\"}}")).contains("'stream'"));
        assert!(parse_err(&format!("{{{m},\"model\":7}}")).contains("'model'"));
        assert!(parse_err(&format!("{{{m},\"max_tokens\":-1}}")).contains("'max_tokens'"));
        assert!(parse_err(&format!("{{{m},\"max_tokens\":1.5}}")).contains("'max_tokens'"));
        let e = CallRequest::parse(Protocol::Chat, b"{\"messages\":\"\xff\"}").unwrap_err();
        assert!(e.to_string().contains("UTF-8"));
    }

    #[test]
    fn each_protocols_limit_field_is_checked() {
        let responses = |body: &str| CallRequest::parse(Protocol::Responses, body.as_bytes());
        assert!(responses(r#"{"input":"hi","max_output_tokens":5}"#).is_ok());
        let e = responses(r#"{"input":"hi","max_output_tokens":0}"#).unwrap_err();
        assert!(e.to_string().contains("'max_output_tokens'"));
        let messages = |body: &str| CallRequest::parse(Protocol::Messages, body.as_bytes());
        let e = messages(r#"{"messages":[{"role":"user","content":"hi"}],"max_tokens":"9"}"#)
            .unwrap_err();
        assert!(e.to_string().contains("'max_tokens'"));
        let r = messages(
            r#"{"model":"auto","stream":true,"messages":[{"role":"user","content":"hi"}]}"#,
        )
        .unwrap();
        assert_eq!(r.protocol, Protocol::Messages);
        assert!(r.stream);
    }
}
