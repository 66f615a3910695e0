//! The one error type a request can end in, and the one function that turns it into an HTTP
//! status and an OpenAI-style body: `{"error":{"message","type","code"}}`, plus `metadata`
//! when the error came from OpenRouter. Every failure reaches the client through here.

use std::fmt;
use std::time::Duration;

use serde_json::{Value, json};

use crate::api::message::Reply;

#[derive(Debug)]
pub(crate) enum ApiError {
    /// The request itself is wrong: bad JSON, missing fields, wrong types.
    BadRequest {
        message: String,
        param: Option<&'static str>,
    },
    UnsupportedMediaType {
        content_type: Option<String>,
    },
    PayloadTooLarge {
        limit: u64,
    },
    /// `PROXY_API_KEY` is set and the client did not send it.
    ProxyKeyRequired,
    /// No OpenRouter key is configured.
    NoApiKey,
    NotFound {
        path: String,
    },
    /// `GET /v1/models/{id}` for a model the proxy does not serve.
    ModelNotFound {
        id: String,
    },
    MethodNotAllowed {
        allowed: &'static str,
    },
    /// Every concurrency slot stayed busy for the whole queue timeout.
    QueueTimeout {
        waited: Duration,
        limit: usize,
    },
    /// Too many calls are already waiting for a slot.
    QueueFull {
        waiting: usize,
    },
    /// OpenRouter could not be reached (refused, reset, DNS, TLS, proxy).
    UpstreamUnreachable {
        detail: String,
    },
    /// OpenRouter did not answer in time.
    UpstreamTimeout {
        phase: &'static str,
        after: Duration,
    },
    /// OpenRouter answered with an error; its status, message and metadata pass through.
    Upstream {
        status: u16,
        message: String,
        code: Value,
        metadata: Option<Value>,
        retry_after: Option<String>,
    },
    /// OpenRouter answered 200 with something that is not a completion.
    UpstreamInvalid {
        detail: String,
    },
    /// The prompt leaves no room for an answer in the model's context.
    ContextTooLong {
        model: String,
        prompt_tokens: u64,
        context: u64,
    },
    /// Nothing can serve the request now (keys out of quota, models cooling down, a model
    /// that is not free): the message says why and when it clears.
    Unavailable {
        status: u16,
        code: &'static str,
        message: String,
        retry_after: Option<u64>,
    },
    Internal {
        detail: String,
    },
    /// The client went away before its call reached OpenRouter (or while it waited for the
    /// answer): nobody reads this; it is recorded.
    ClientGone,
    /// The HTTP layer refused the request before any handler saw it (framing, size, time,
    /// `Host`, `Origin`): the status and the sentence say why.
    Refused {
        status: u16,
        message: String,
    },
}

impl ApiError {
    pub(crate) fn bad_request(message: impl Into<String>, param: Option<&'static str>) -> ApiError {
        ApiError::BadRequest {
            message: message.into(),
            param,
        }
    }

    /// The answer to a generation call that arrives while the proxy shuts down.
    pub(crate) fn shutting_down() -> ApiError {
        ApiError::Unavailable {
            status: 503,
            code: "shutting_down",
            message: "the proxy is shutting down; try again in a moment".into(),
            retry_after: Some(5),
        }
    }

    pub(crate) fn status(&self) -> u16 {
        match self {
            ApiError::BadRequest { .. } | ApiError::ContextTooLong { .. } => 400,
            ApiError::UnsupportedMediaType { .. } => 415,
            ApiError::PayloadTooLarge { .. } => 413,
            ApiError::ProxyKeyRequired | ApiError::NoApiKey => 401,
            ApiError::NotFound { .. } | ApiError::ModelNotFound { .. } => 404,
            ApiError::MethodNotAllowed { .. } => 405,
            ApiError::QueueTimeout { .. } | ApiError::QueueFull { .. } => 503,
            ApiError::UpstreamUnreachable { .. } => 502,
            ApiError::UpstreamTimeout { .. } => 504,
            ApiError::Upstream { status, .. } => *status,
            ApiError::UpstreamInvalid { .. } => 502,
            ApiError::Unavailable { status, .. } => *status,
            ApiError::Internal { .. } => 500,
            ApiError::ClientGone => 499,
            ApiError::Refused { status, .. } => *status,
        }
    }

    /// The OpenAI `type` field.
    fn kind(&self) -> &'static str {
        if let ApiError::ModelNotFound { .. } = self {
            // What OpenAI itself answers for an unknown model.
            return "invalid_request_error";
        }
        match self.status() {
            401 => "authentication_error",
            403 => "permission_error",
            404 => "not_found_error",
            429 => "rate_limit_error",
            400..=499 => "invalid_request_error",
            _ if matches!(
                self,
                ApiError::Upstream { .. } | ApiError::UpstreamInvalid { .. }
            ) =>
            {
                "upstream_error"
            }
            _ => "server_error",
        }
    }

    /// The OpenAI `code` field: a stable word for the proxy's own errors, OpenRouter's own
    /// code for upstream errors.
    fn code(&self) -> Value {
        let word = match self {
            ApiError::BadRequest { .. } => "invalid_request",
            ApiError::ContextTooLong { .. } => "context_length_exceeded",
            ApiError::UnsupportedMediaType { .. } => "unsupported_media_type",
            ApiError::PayloadTooLarge { .. } => "request_too_large",
            ApiError::ProxyKeyRequired => "invalid_proxy_key",
            ApiError::NoApiKey => "missing_openrouter_key",
            ApiError::NotFound { .. } => "not_found",
            ApiError::ModelNotFound { .. } => "model_not_found",
            ApiError::MethodNotAllowed { .. } => "method_not_allowed",
            ApiError::QueueTimeout { .. } => "queue_timeout",
            ApiError::QueueFull { .. } => "queue_full",
            ApiError::UpstreamUnreachable { .. } => "upstream_unreachable",
            ApiError::UpstreamTimeout { .. } => "upstream_timeout",
            ApiError::Upstream { code, .. } => return code.clone(),
            ApiError::UpstreamInvalid { .. } => "upstream_invalid_response",
            ApiError::Unavailable { code, .. } => code,
            ApiError::Internal { .. } => "internal_error",
            ApiError::ClientGone => "client_gone",
            ApiError::Refused { status, .. } => match status {
                403 => "forbidden",
                408 => "request_timeout",
                414 => "uri_too_long",
                431 => "request_header_fields_too_large",
                501 => "not_implemented",
                505 => "http_version_not_supported",
                _ => "invalid_request",
            },
        };
        Value::from(word)
    }

    /// Adds a `Retry-After` to an upstream error that came without one.
    pub(crate) fn or_retry_after(mut self, secs: Option<u64>) -> ApiError {
        if let ApiError::Upstream { retry_after, .. } = &mut self
            && retry_after.is_none()
        {
            *retry_after = secs.map(|s| s.to_string());
        }
        self
    }

    /// The `Retry-After` value to send, in seconds, when waiting helps. Every 429 and 503
    /// has one: the callers fill in what they know (OpenRouter's header, the rest the proxy
    /// gives a key or a model), and a status that came without either says a second.
    fn retry_after(&self) -> Option<String> {
        let known = match self {
            ApiError::QueueTimeout { .. } | ApiError::QueueFull { .. } => Some("5".into()),
            ApiError::Upstream { retry_after, .. } => retry_after.clone(),
            ApiError::Unavailable { retry_after, .. } => retry_after.map(|s| s.to_string()),
            _ => None,
        };
        match self.status() {
            429 | 503 => Some(known.unwrap_or_else(|| "1".into())),
            _ => known,
        }
    }

    /// Whether the same request, sent again soon, cannot succeed: the request itself is
    /// wrong, or a limit holds for the rest of the day. Such replies say `x-should-retry:
    /// false`, which the OpenAI and Anthropic SDKs obey. (A reply after upstream attempts
    /// says it too; `chat/` adds it there.)
    pub(crate) fn hopeless(&self) -> bool {
        match self {
            ApiError::Unavailable { code, .. } => {
                matches!(*code, "free_quota_exhausted" | "all_keys_rejected")
            }
            ApiError::Refused { status, .. } => !matches!(status, 408 | 503),
            ApiError::Upstream { .. }
            | ApiError::UpstreamInvalid { .. }
            | ApiError::UpstreamUnreachable { .. }
            | ApiError::UpstreamTimeout { .. }
            | ApiError::QueueTimeout { .. }
            | ApiError::QueueFull { .. }
            | ApiError::Internal { .. }
            | ApiError::ClientGone => false,
            _ => (400..500).contains(&self.status()),
        }
    }

    /// The JSON body sent to the client.
    pub(crate) fn body(&self) -> Value {
        let mut error = json!({
            "message": self.to_string(),
            "type": self.kind(),
            "code": self.code(),
        });
        if let ApiError::BadRequest { param: Some(p), .. } = self {
            error["param"] = Value::from(*p);
        }
        if let ApiError::ContextTooLong { .. } = self {
            error["param"] = Value::from("messages");
        }
        if let ApiError::Upstream {
            metadata: Some(m), ..
        } = self
        {
            error["metadata"] = m.clone();
        }
        json!({ "error": error })
    }

    /// The whole reply: status, JSON body, and `Retry-After`, `x-should-retry` or `Allow`
    /// when they apply.
    pub(crate) fn into_reply(self) -> Reply {
        let body = serde_json::to_vec(&self.body()).unwrap_or_default();
        self.reply_with_body(body)
    }

    /// The reply with `body` (in whichever shape the route speaks) and this error's headers.
    pub(crate) fn reply_with_body(self, body: Vec<u8>) -> Reply {
        let mut reply = Reply::json(self.status(), body);
        if let Some(secs) = self.retry_after() {
            reply = reply.with_header("Retry-After", secs);
        }
        if self.hopeless() {
            reply = reply.no_retry();
        }
        if let ApiError::MethodNotAllowed { allowed } = self {
            reply = reply.with_header("Allow", allowed);
        }
        reply
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ApiError::BadRequest { message, .. } => f.write_str(message),
            ApiError::UnsupportedMediaType { content_type } => write!(
                f,
                "the request body must be JSON sent with 'Content-Type: application/json' (got {})",
                content_type.as_deref().unwrap_or("no Content-Type")
            ),
            ApiError::PayloadTooLarge { limit } => write!(
                f,
                "the request body is larger than the limit of {limit} bytes (MAX_BODY_BYTES)"
            ),
            ApiError::ProxyKeyRequired => f.write_str(
                "this proxy needs its key: send 'Authorization: Bearer <PROXY_API_KEY>' or \
                 'x-api-key: <PROXY_API_KEY>' (the value of PROXY_API_KEY in the proxy's .env)",
            ),
            ApiError::NoApiKey => f.write_str(
                "no OpenRouter key is configured: set OPENROUTER_API_KEY in .env \
                 (get one at https://openrouter.ai/keys)",
            ),
            ApiError::NotFound { path } => write!(
                f,
                "no route for {}; this proxy serves POST /v1/chat/completions, \
                 POST /v1/responses, POST /v1/messages, POST /v1/messages/count_tokens, \
                 GET /v1/models, GET /v1/models/{{id}} and GET /health",
                crate::util::text::clip(path, 200)
            ),
            ApiError::ModelNotFound { id } => write!(
                f,
                "the model '{}' is not served here: GET /v1/models lists the models this proxy \
                 serves (free models only, unless ALLOW_PAID_MODELS is set)",
                crate::util::text::clip(id, 200)
            ),
            ApiError::MethodNotAllowed { allowed } => {
                write!(f, "method not allowed here; use {allowed}")
            }
            ApiError::QueueTimeout { waited, limit } => write!(
                f,
                "all {limit} upstream slots stayed busy for {:.0} s; try again shortly, or raise \
                 MAX_CONCURRENT_REQUESTS or QUEUE_TIMEOUT",
                waited.as_secs_f64()
            ),
            ApiError::QueueFull { waiting } => write!(
                f,
                "{waiting} calls are already waiting for an upstream slot; try again shortly"
            ),
            ApiError::UpstreamUnreachable { detail } => {
                write!(f, "cannot reach OpenRouter: {detail}")
            }
            ApiError::UpstreamTimeout { phase, after } => write!(
                f,
                "OpenRouter did not answer in time ({phase}, {:.1} s)",
                after.as_secs_f64()
            ),
            ApiError::Upstream { message, .. } => f.write_str(message),
            ApiError::UpstreamInvalid { detail } => {
                write!(
                    f,
                    "OpenRouter sent an answer that is not a completion: {detail}"
                )
            }
            ApiError::ContextTooLong {
                model,
                prompt_tokens,
                context,
            } => write!(
                f,
                "the prompt is about {prompt_tokens} tokens, and {model} takes at most {context} \
                 (its context length) with room left for an answer; shorten the messages, or \
                 send \"model\": \"auto\" to let the proxy choose a model with a larger context"
            ),
            ApiError::Unavailable { message, .. } => f.write_str(message),
            ApiError::Internal { detail } => write!(f, "internal error: {detail}"),
            ApiError::ClientGone => f.write_str("the client went away before the answer"),
            ApiError::Refused { message, .. } => f.write_str(message),
        }
    }
}

impl std::error::Error for ApiError {}

/// Builds the error for an upstream answer with an error status (or a 200 carrying an error
/// envelope), keeping OpenRouter's message, code and metadata.
pub(crate) fn from_upstream(status: u16, body: &[u8], retry_after: Option<String>) -> ApiError {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let mut error = parsed.as_ref().and_then(|v| v.get("error")).cloned();
    // Anthropic-shaped errors (OpenRouter's `/messages`) may carry metadata beside `error`.
    if let (Some(Value::Object(fields)), Some(metadata)) =
        (&mut error, parsed.as_ref().and_then(|v| v.get("metadata")))
    {
        fields.entry("metadata").or_insert_with(|| metadata.clone());
    }
    from_upstream_error(status, error.as_ref(), body, retry_after)
}

/// The status an Anthropic error `type` stands for, for an error that gives no code.
fn anthropic_status(error: &Value) -> Option<u16> {
    Some(match error.get("type")?.as_str()? {
        "invalid_request_error" => 400,
        "authentication_error" => 401,
        "billing_error" => 402,
        "permission_error" => 403,
        "not_found_error" => 404,
        "request_too_large" => 413,
        "rate_limit_error" => 429,
        "api_error" => 500,
        "timeout_error" => 504,
        "overloaded_error" => 529,
        _ => return None,
    })
}

/// Builds the error for OpenRouter's `error` object (when there is one) in an answer with
/// this status and body; the body is quoted when the object has no message.
pub(crate) fn from_upstream_error(
    status: u16,
    error: Option<&Value>,
    body: &[u8],
    retry_after: Option<String>,
) -> ApiError {
    let message = error
        .and_then(|e| e.get("message"))
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| {
            let text = String::from_utf8_lossy(body);
            let text: String = text.trim().chars().take(200).collect();
            if text.is_empty() {
                format!("OpenRouter answered HTTP {status} with an empty body")
            } else {
                format!("OpenRouter answered HTTP {status}: {text}")
            }
        });
    let metadata = error.and_then(|e| e.get("metadata")).cloned();
    let message = if status == 401 {
        format!("OpenRouter refused the key ({message}); check OPENROUTER_API_KEY in .env")
    } else {
        match provider_text(metadata.as_ref()) {
            // The provider's own words say what happened; OpenRouter's are often generic.
            Some(raw) if !raw.contains(message.as_str()) => {
                let provider = metadata
                    .as_ref()
                    .and_then(|m| m["provider_name"].as_str())
                    .map(|p| format!(", {}", crate::util::text::clip(p, 60)))
                    .unwrap_or_default();
                format!("{raw} (OpenRouter: {message}{provider})")
            }
            Some(raw) => raw,
            None => message,
        }
    };
    let code = error
        .and_then(|e| e.get("code"))
        .cloned()
        .or_else(|| error.and_then(anthropic_status).map(Value::from))
        .unwrap_or(Value::from(status));
    // A 200 carrying an error envelope is still an error: use its code when it is a status.
    let status = if (400..600).contains(&status) {
        status
    } else {
        code.as_u64()
            .and_then(|c| u16::try_from(c).ok())
            .filter(|c| (400..600).contains(c))
            .unwrap_or(502)
    };
    ApiError::Upstream {
        status,
        message,
        code,
        metadata,
        retry_after,
    }
}

/// The provider's own error text in OpenRouter's `metadata.raw` (a sentence, or a provider's
/// JSON error whose message is taken), trimmed and clipped; `None` when there is none.
fn provider_text(metadata: Option<&Value>) -> Option<String> {
    let raw = metadata?.get("raw")?.as_str()?.trim();
    let parsed: Option<Value> = serde_json::from_str(raw).ok();
    let text = match &parsed {
        Some(v) if v.is_object() => [&v["error"]["message"], &v["message"], &v["error"]]
            .into_iter()
            .find_map(Value::as_str)?,
        _ => raw,
    };
    let text = text.trim();
    (!text.is_empty()).then(|| crate::util::text::clip(text, 400))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PER_DAY: &str = r#"{"error":{"message":"Rate limit exceeded: free-models-per-day. Add 10 credits to unlock 1000 free model requests per day","code":429,"metadata":{"headers":{"X-RateLimit-Limit":"50","X-RateLimit-Remaining":"0","X-RateLimit-Reset":"1790553600000"},"limit_source":"openrouter_free_tier_daily"}},"user_id":"user_x"}"#;

    #[test]
    fn upstream_errors_keep_status_message_code_and_metadata() {
        let e = from_upstream(429, PER_DAY.as_bytes(), Some("30".into()));
        assert_eq!(e.status(), 429);
        let body = e.body();
        assert_eq!(body["error"]["type"], "rate_limit_error");
        assert_eq!(body["error"]["code"], 429);
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .starts_with("Rate limit exceeded: free-models-per-day.")
        );
        assert_eq!(
            body["error"]["metadata"]["headers"]["X-RateLimit-Reset"],
            "1790553600000"
        );
        assert!(body.get("user_id").is_none());
        let reply = e.into_reply();
        assert!(
            reply
                .headers
                .contains(&("Retry-After".to_string(), "30".to_string()))
        );
    }

    #[test]
    fn non_json_upstream_bodies_are_quoted_briefly() {
        let e = from_upstream(502, b"<html>Bad gateway</html>", None);
        assert_eq!(e.status(), 502);
        assert_eq!(
            e.to_string(),
            "OpenRouter answered HTTP 502: <html>Bad gateway</html>"
        );
        assert_eq!(e.body()["error"]["type"], "upstream_error");
    }

    #[test]
    fn an_error_envelope_in_a_200_takes_its_code_as_status() {
        let e = from_upstream(
            200,
            br#"{"error":{"message":"overloaded","code":529}}"#,
            None,
        );
        assert_eq!(e.status(), 529);
        let e = from_upstream(200, br#"{"error":{"message":"odd","code":"weird"}}"#, None);
        assert_eq!(e.status(), 502);
    }

    #[test]
    fn every_error_has_message_type_and_code() {
        let all = [
            ApiError::bad_request("messages is missing", Some("messages")),
            ApiError::NoApiKey,
            ApiError::QueueTimeout {
                waited: Duration::from_secs(60),
                limit: 5,
            },
            ApiError::UpstreamTimeout {
                phase: "waiting for response headers",
                after: Duration::from_secs(300),
            },
        ];
        for e in all {
            let body = e.body();
            for field in ["message", "type", "code"] {
                assert!(!body["error"][field].is_null(), "{field} missing in {body}");
            }
        }
    }

    #[test]
    fn the_providers_words_come_first() {
        let body =
            include_str!("../../tests/fixtures/openrouter/errors/provider-rate-limited_429.json");
        let e = from_upstream(429, body.as_bytes(), None);
        let message = e.to_string();
        assert!(
            message
                .starts_with("deepseek/deepseek-v4-pro-0813 is temporarily rate-limited upstream."),
            "{message}"
        );
        assert!(
            message.ends_with("(OpenRouter: Provider returned error, DeepInfra)"),
            "{message}"
        );
        // A provider's JSON error gives its message; no raw text leaves the message alone.
        let json_raw = r#"{"error":{"message":"Provider returned error","code":502,"metadata":{"raw":"{\"error\":{\"message\":\"upstream model crashed\"}}"}}}"#;
        let e = from_upstream(502, json_raw.as_bytes(), None);
        assert!(e.to_string().starts_with("upstream model crashed ("), "{e}");
        let e = from_upstream(429, PER_DAY.as_bytes(), None);
        assert!(
            e.to_string()
                .starts_with("Rate limit exceeded: free-models-per-day.")
        );
    }

    #[test]
    fn every_429_and_503_says_when_to_come_back() {
        let bare = [
            from_upstream(429, b"{}", None),
            from_upstream(503, b"busy", None),
            ApiError::Refused {
                status: 503,
                message: "busy".into(),
            },
        ];
        for e in bare {
            let reply = e.into_reply();
            assert_eq!(reply.header("Retry-After"), Some("1"));
        }
        let e = from_upstream(429, b"{}", Some("17".into()));
        assert_eq!(e.into_reply().header("Retry-After"), Some("17"));
        let e = from_upstream(502, b"{}", None);
        assert_eq!(e.into_reply().header("Retry-After"), None);
    }

    #[test]
    fn replies_that_retrying_cannot_fix_tell_sdks_not_to() {
        let table: [(ApiError, bool); 8] = [
            (ApiError::bad_request("no", None), true),
            (ApiError::ModelNotFound { id: "x".into() }, true),
            (ApiError::ProxyKeyRequired, true),
            (
                ApiError::Unavailable {
                    status: 429,
                    code: "free_quota_exhausted",
                    message: "done for today".into(),
                    retry_after: Some(3600),
                },
                true,
            ),
            (
                ApiError::Unavailable {
                    status: 429,
                    code: "free_rate_limited",
                    message: "a minute".into(),
                    retry_after: Some(30),
                },
                false,
            ),
            (ApiError::QueueFull { waiting: 9 }, false),
            (
                ApiError::Refused {
                    status: 408,
                    message: "slow".into(),
                },
                false,
            ),
            (from_upstream(429, b"{}", None), false),
        ];
        for (error, hopeless) in table {
            let shown = format!("{error:?}");
            let reply = error.into_reply();
            let header = reply.header("x-should-retry");
            assert_eq!(header == Some("false"), hopeless, "{shown}");
        }
    }
}
