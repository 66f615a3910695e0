//! Classifies a failed upstream attempt: may it be retried, and is it the key's fault, the
//! model's, or the request's? Read from the status, OpenRouter's error body and its headers,
//! as the real error bodies in `tests/fixtures/openrouter/errors/` show them.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;

/// What went wrong with one attempt, as far as retrying is concerned.
#[derive(Debug, Clone, PartialEq)]
pub enum Failure {
    /// The key's account hit `free-models-per-min`; usable again at `reset`.
    KeyPerMinute { reset: Option<SystemTime> },
    /// The key's account hit `free-models-per-day`; out until `reset` (or 00:00 UTC).
    KeyPerDay { reset: Option<SystemTime> },
    /// OpenRouter refused the key (401).
    KeyRejected,
    /// This model is busy or down (provider rate limit, 408, 5xx): cool it down.
    ModelUnavailable {
        status: u16,
        retry_after: Option<Duration>,
    },
    /// The model has no endpoint any more (404, e.g. a `:free` variant that ended). Worth
    /// trying another model when the proxy chose; final when the client named this one.
    ModelGone,
    /// No answer in time, or the connection failed, before OpenRouter answered.
    Network,
    /// OpenRouter answered (a 200) and the answer then broke off or went silent: the request
    /// reached it, so it counts against the key's allowance.
    Cut,
    /// A 200 that is not a completion (an error envelope, garbage), or a stream that failed
    /// before its first event.
    BadAnswer,
    /// The request itself was refused (other 4xx): retrying cannot help.
    Fatal,
}

impl Failure {
    pub(crate) fn retryable(&self) -> bool {
        !matches!(self, Failure::Fatal)
    }

    /// True when another key, not another model, is what a retry needs.
    pub(crate) fn tied_to_key(&self) -> bool {
        matches!(
            self,
            Failure::KeyPerMinute { .. } | Failure::KeyPerDay { .. } | Failure::KeyRejected
        )
    }

    /// Seconds until trying again could work, when the failure says.
    pub(crate) fn retry_after_secs(&self) -> Option<u64> {
        let reset = match self {
            Failure::KeyPerMinute { reset } | Failure::KeyPerDay { reset } => (*reset)?,
            Failure::ModelUnavailable { retry_after, .. } => {
                return retry_after.map(|d| d.as_secs());
            }
            _ => return None,
        };
        let wait = reset.duration_since(SystemTime::now()).unwrap_or_default();
        Some(wait.as_secs().max(1))
    }

    /// Seconds until trying again could work: what the failure itself says, else how long the
    /// proxy rests the key or the model after it (a minute for the per-minute limit, until
    /// 00:00 UTC for the daily one, `model_cooldown` for a busy model). `None` when waiting
    /// does not help.
    pub(crate) fn wait_secs(&self, model_cooldown: Duration) -> Option<u64> {
        if let Some(secs) = self.retry_after_secs() {
            return Some(secs);
        }
        let wait = match self {
            Failure::KeyPerMinute { .. } => Duration::from_secs(60),
            Failure::KeyPerDay { .. } => crate::util::clock::next_quota_reset()
                .duration_since(SystemTime::now())
                .unwrap_or_default(),
            Failure::ModelUnavailable { .. } => model_cooldown,
            _ => return None,
        };
        Some(wait.as_secs().max(1))
    }

    /// A short word for logs, statistics and the panel.
    pub(crate) fn label(&self) -> &'static str {
        match self {
            Failure::KeyPerMinute { .. } => "key_rate_limited_per_minute",
            Failure::KeyPerDay { .. } => "key_out_of_daily_quota",
            Failure::KeyRejected => "key_rejected",
            Failure::ModelUnavailable { .. } => "model_unavailable",
            Failure::ModelGone => "model_gone",
            Failure::Network => "network",
            Failure::Cut => "answer_cut_off",
            Failure::BadAnswer => "bad_answer",
            Failure::Fatal => "request_refused",
        }
    }
}

/// Classifies an upstream error status with its body and `Retry-After` header.
pub(crate) fn classify_status(status: u16, body: &[u8], retry_after: Option<&str>) -> Failure {
    let parsed: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let error = &parsed["error"];
    let message = error["message"].as_str().unwrap_or("");
    // Anthropic-shaped bodies (OpenRouter's `/messages`) may hold the metadata beside `error`.
    let metadata = error.get("metadata").or_else(|| parsed.get("metadata"));
    classify_error(status, message, metadata, retry_after)
}

/// Classifies an upstream error from its parts: the status (for a 200 carrying an error
/// envelope, the status its code names), OpenRouter's message and metadata, and the
/// `Retry-After` header.
pub(crate) fn classify_error(
    status: u16,
    message: &str,
    metadata: Option<&Value>,
    retry_after: Option<&str>,
) -> Failure {
    let retry_after = retry_after.and_then(parse_retry_after);
    let reset = || metadata.and_then(reset_time);
    match status {
        429 if message.contains("free-models-per-day") => Failure::KeyPerDay { reset: reset() },
        429 if message.contains("free-models-per-min") => Failure::KeyPerMinute { reset: reset() },
        401 => Failure::KeyRejected,
        // The account's privacy settings exclude the model's providers: no model will do.
        404 if message.contains("data policy") => Failure::Fatal,
        404 => Failure::ModelGone,
        429 | 408 | 500 | 502 | 503 | 524 | 529 => Failure::ModelUnavailable {
            status,
            retry_after,
        },
        // A 200 reaching here carried an error envelope.
        200 => Failure::BadAnswer,
        _ => Failure::Fatal,
    }
}

/// `metadata.headers.X-RateLimit-Reset`, in epoch milliseconds.
fn reset_time(metadata: &Value) -> Option<SystemTime> {
    let reset = &metadata["headers"]["X-RateLimit-Reset"];
    let ms = reset
        .as_u64()
        .or_else(|| reset.as_str().and_then(|s| s.trim().parse().ok()))?;
    // Cap at a year ahead: a value in the wrong unit must not overflow the clock.
    let year = SystemTime::now() + Duration::from_secs(366 * 86_400);
    UNIX_EPOCH
        .checked_add(Duration::from_millis(ms))
        .map(|t| t.min(year))
}

/// `Retry-After` in seconds (the HTTP-date form is rare upstream and ignored).
fn parse_retry_after(value: &str) -> Option<Duration> {
    let secs: f64 = value.trim().parse().ok()?;
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs.min(86_400.0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    // Real error bodies; tests/fixtures/openrouter/README.md says where each comes from.
    const ERR_PER_MIN: &str =
        include_str!("../../tests/fixtures/openrouter/errors/free-models-per-min_429.json");
    const ERR_PER_DAY: &str =
        include_str!("../../tests/fixtures/openrouter/errors/free-models-per-day_429.json");
    const ERR_PROVIDER_RATE_LIMITED: &str =
        include_str!("../../tests/fixtures/openrouter/errors/provider-rate-limited_429.json");
    const ERR_NO_ENDPOINTS: &str =
        include_str!("../../tests/fixtures/openrouter/errors/no-endpoints-data-policy_404.json");
    const ERR_NO_CREDITS: &str =
        include_str!("../../tests/fixtures/openrouter/errors/insufficient-credits_402.json");

    #[test]
    fn real_rate_limit_bodies_are_told_apart() {
        let f = classify_status(429, ERR_PER_MIN.as_bytes(), None);
        assert_eq!(
            f,
            Failure::KeyPerMinute {
                reset: Some(UNIX_EPOCH + Duration::from_millis(1_759_750_012_000))
            }
        );
        assert!(f.tied_to_key() && f.retryable());
        assert_eq!(
            f.retry_after_secs(),
            Some(1),
            "a reset in the past means: now"
        );

        let f = classify_status(429, ERR_PER_DAY.as_bytes(), None);
        assert_eq!(
            f,
            Failure::KeyPerDay {
                reset: Some(UNIX_EPOCH + Duration::from_millis(1_790_553_600_000))
            }
        );
        assert!(f.tied_to_key());

        let f = classify_status(429, ERR_PROVIDER_RATE_LIMITED.as_bytes(), Some("7"));
        assert_eq!(
            f,
            Failure::ModelUnavailable {
                status: 429,
                retry_after: Some(Duration::from_secs(7))
            }
        );
        assert!(!f.tied_to_key() && f.retryable());
    }

    #[test]
    fn other_client_errors_are_fatal_and_401_is_the_keys() {
        assert_eq!(
            classify_status(404, ERR_NO_ENDPOINTS.as_bytes(), None),
            Failure::Fatal,
            "a data-policy 404 is the account's, not the model's"
        );
        let ended = br#"{"error":{"message":"This free variant has ended","code":404,"metadata":{"error_type":"free_variant_ended"}}}"#;
        assert_eq!(classify_status(404, ended, None), Failure::ModelGone);
        assert_eq!(
            classify_status(402, ERR_NO_CREDITS.as_bytes(), None),
            Failure::Fatal
        );
        assert!(!Failure::Fatal.retryable());
        let f = classify_status(
            401,
            br#"{"error":{"message":"User not found.","code":401}}"#,
            None,
        );
        assert_eq!(f, Failure::KeyRejected);
        assert!(f.tied_to_key());
    }

    #[test]
    fn server_errors_and_timeouts_are_the_models() {
        for status in [408, 500, 502, 503, 524, 529] {
            let f = classify_status(status, b"<html>busy</html>", None);
            assert!(
                matches!(f, Failure::ModelUnavailable { .. }),
                "{status}: {f:?}"
            );
        }
        assert_eq!(classify_status(400, b"{}", None), Failure::Fatal);
    }

    #[test]
    fn a_structured_error_is_classified_like_its_body() {
        let error: Value = serde_json::from_str::<Value>(ERR_PER_DAY).unwrap()["error"].clone();
        let message = error["message"].as_str().unwrap();
        assert_eq!(
            classify_error(429, message, error.get("metadata"), None),
            classify_status(429, ERR_PER_DAY.as_bytes(), None)
        );
        // No metadata: the reset is unknown, the kind is not.
        assert_eq!(
            classify_error(429, message, None, None),
            Failure::KeyPerDay { reset: None }
        );
        assert_eq!(
            classify_error(529, "overloaded", None, Some("3")),
            Failure::ModelUnavailable {
                status: 529,
                retry_after: Some(Duration::from_secs(3))
            }
        );
    }

    #[test]
    fn the_wait_is_the_failures_own_else_the_rest_the_proxy_gives() {
        let cooldown = Duration::from_secs(45);
        let busy = Failure::ModelUnavailable {
            status: 429,
            retry_after: None,
        };
        assert_eq!(busy.wait_secs(cooldown), Some(45));
        let told = Failure::ModelUnavailable {
            status: 429,
            retry_after: Some(Duration::from_secs(7)),
        };
        assert_eq!(told.wait_secs(cooldown), Some(7));
        assert_eq!(
            Failure::KeyPerMinute { reset: None }.wait_secs(cooldown),
            Some(60)
        );
        let day = Failure::KeyPerDay { reset: None }
            .wait_secs(cooldown)
            .unwrap();
        assert!((1..=86_400).contains(&day), "{day}");
        assert_eq!(Failure::Fatal.wait_secs(cooldown), None);
        assert_eq!(Failure::ModelGone.wait_secs(cooldown), None);
    }
}
