//! Which shape an error body takes, decided by the route the client called: OpenAI's
//! `{"error":{"message","type","code"}}` everywhere, and Anthropic's
//! `{"type":"error","error":{"type","message"}}` on the Anthropic Messages routes (and on
//! `/v1/models` when the client says it speaks Anthropic's API), so that each SDK raises its own
//! exception class. The status and the headers (`Retry-After`, `x-should-retry`) are the same
//! in both; only the body differs.

use serde_json::{Value, json};

use crate::api::error::ApiError;
use crate::api::message::Reply;

/// The dialect a route speaks its errors in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ErrorShape {
    OpenAi,
    Anthropic,
}

impl ErrorShape {
    /// The shape for a request to `path` with these headers: Anthropic's on `/v1/messages`
    /// and below (with or without `/v1`), and on `/v1/models` and below when the request
    /// carries `anthropic-version` (the header every Anthropic SDK sends).
    pub(crate) fn for_request(path: &str, headers: &[(String, String)]) -> ErrorShape {
        let path = path.strip_prefix("/v1").unwrap_or(path);
        let under = |root: &str| {
            path.strip_prefix(root)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
        };
        let says_anthropic = headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("anthropic-version"));
        if under("/messages") || (under("/models") && says_anthropic) {
            ErrorShape::Anthropic
        } else {
            ErrorShape::OpenAi
        }
    }

    /// The whole reply for `error` in this shape.
    pub(crate) fn reply(self, error: ApiError) -> Reply {
        match self {
            ErrorShape::OpenAi => error.into_reply(),
            ErrorShape::Anthropic => {
                let body = serde_json::to_vec(&anthropic_body(&error)).unwrap_or_default();
                error.reply_with_body(body)
            }
        }
    }
}

/// Anthropic's error `type` for a status, as its SDKs and documentation name them.
pub(crate) fn anthropic_type(status: u16) -> &'static str {
    match status {
        401 => "authentication_error",
        402 => "billing_error",
        403 => "permission_error",
        404 => "not_found_error",
        408 | 504 => "timeout_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        503 | 529 => "overloaded_error",
        400..=499 => "invalid_request_error",
        _ => "api_error",
    }
}

/// `{"type":"error","error":{"type","message"}}`, the error's own sentence as the message.
pub(crate) fn anthropic_body(error: &ApiError) -> Value {
    json!({
        "type": "error",
        "error": {
            "type": anthropic_type(error.status()),
            "message": error.to_string(),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn the_route_decides_the_shape() {
        let none = headers(&[]);
        let anthropic = headers(&[("Anthropic-Version", "2023-06-01")]);
        let table = [
            ("/v1/messages", &none, ErrorShape::Anthropic),
            ("/messages", &none, ErrorShape::Anthropic),
            ("/v1/messages/count_tokens", &none, ErrorShape::Anthropic),
            ("/v1/messagesx", &none, ErrorShape::OpenAi),
            ("/v1/chat/completions", &anthropic, ErrorShape::OpenAi),
            ("/v1/responses", &none, ErrorShape::OpenAi),
            ("/v1/models", &none, ErrorShape::OpenAi),
            ("/v1/models", &anthropic, ErrorShape::Anthropic),
            ("/models/x%2Fy", &anthropic, ErrorShape::Anthropic),
        ];
        for (path, headers, shape) in table {
            assert_eq!(ErrorShape::for_request(path, headers), shape, "{path}");
        }
    }

    #[test]
    fn each_status_gets_the_type_its_sdk_expects() {
        let table = [
            (400, "invalid_request_error"),
            (401, "authentication_error"),
            (403, "permission_error"),
            (404, "not_found_error"),
            (413, "request_too_large"),
            (415, "invalid_request_error"),
            (429, "rate_limit_error"),
            (500, "api_error"),
            (502, "api_error"),
            (503, "overloaded_error"),
            (529, "overloaded_error"),
        ];
        for (status, kind) in table {
            assert_eq!(anthropic_type(status), kind, "{status}");
        }
    }

    #[test]
    fn an_anthropic_reply_keeps_status_and_headers() {
        let error = ApiError::Unavailable {
            status: 429,
            code: "free_quota_exhausted",
            message: "every key is out of today's free allowance".into(),
            retry_after: Some(600),
        };
        let reply = ErrorShape::Anthropic.reply(error);
        assert_eq!(reply.status, 429);
        assert_eq!(reply.header("Retry-After"), Some("600"));
        assert_eq!(reply.header("x-should-retry"), Some("false"));
        let crate::api::message::Body::Full(body) = &reply.body else {
            panic!("a whole body");
        };
        let body: Value = serde_json::from_slice(body).unwrap();
        assert_eq!(body["type"], "error");
        assert_eq!(body["error"]["type"], "rate_limit_error");
        assert_eq!(
            body["error"]["message"],
            "every key is out of today's free allowance"
        );
    }
}
