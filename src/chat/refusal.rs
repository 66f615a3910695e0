//! What the client sees when the autopilot refuses a call: each policy module's own error
//! (no key can serve, the model is not allowed, the prompt does not fit, no slot) becomes the
//! [`ApiError`] with its status, code and `Retry-After`. This is the one place that decides
//! those for the autopilot's refusals; the policies only say what is wrong.

use std::time::Instant;

use crate::api::error::ApiError;
use crate::autopilot::key_shortage::KeyShortage;
use crate::autopilot::limiter::Refused;
use crate::autopilot::max_tokens::ContextTooLong;
use crate::autopilot::model_choice::Ranking;
use crate::autopilot::model_refused::ModelRefused;
use crate::autopilot::tokens::PromptSize;
use crate::util::time_format::human_duration;

impl From<KeyShortage> for ApiError {
    fn from(shortage: KeyShortage) -> ApiError {
        let (status, code) = match shortage {
            KeyShortage::NoKeys => return ApiError::NoApiKey,
            KeyShortage::AllRejected => (401, "all_keys_rejected"),
            KeyShortage::AllSwitchedOff => (503, "all_keys_disabled"),
            KeyShortage::DailyAllowance { .. } => (429, "free_quota_exhausted"),
            KeyShortage::PerMinute { .. } => (429, "free_rate_limited"),
        };
        ApiError::Unavailable {
            status,
            code,
            message: shortage.to_string(),
            retry_after: shortage.wait().map(|wait| wait.as_secs().max(1)),
        }
    }
}

impl From<ModelRefused> for ApiError {
    fn from(refused: ModelRefused) -> ApiError {
        ApiError::bad_request(refused.to_string(), refused.field())
    }
}

impl From<ContextTooLong> for ApiError {
    fn from(e: ContextTooLong) -> ApiError {
        ApiError::ContextTooLong {
            model: e.model,
            prompt_tokens: e.prompt_tokens,
            context: e.context,
        }
    }
}

impl From<Refused> for ApiError {
    fn from(refused: Refused) -> ApiError {
        match refused {
            Refused::TimedOut { waited, limit } => ApiError::QueueTimeout { waited, limit },
            Refused::QueueFull { waiting } => ApiError::QueueFull { waiting },
        }
    }
}

/// Why no free model can take a request: none is able to (400), or all able ones are cooling
/// down (503, with when the first comes back).
pub(crate) fn nothing_can_serve(ranking: &Ranking, prompt: &PromptSize) -> ApiError {
    if ranking.capable == 0 {
        return ApiError::bad_request(
            format!(
                "no free model can serve this request: it needs tools, image input, a \
                 response_format, or a context larger than its prompt of about {} tokens, and \
                 none has all it needs; GET /v1/models shows what each supports",
                prompt.tokens()
            ),
            None,
        );
    }
    let wait = ranking
        .next_back
        .map(|t| t.saturating_duration_since(Instant::now()))
        .unwrap_or_default();
    ApiError::Unavailable {
        status: 503,
        code: "models_cooling_down",
        message: format!(
            "every free model able to serve this request is resting after rate limits or \
             errors; the first is back in {}",
            human_duration(wait)
        ),
        retry_after: Some(wait.as_secs().max(1)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn each_refusal_has_its_status_code_and_wait() {
        let wait = Duration::from_secs(90);
        let table: [(ApiError, u16, &str, Option<&str>); 6] = [
            (
                KeyShortage::NoKeys.into(),
                401,
                "missing_openrouter_key",
                None,
            ),
            (
                KeyShortage::AllRejected.into(),
                401,
                "all_keys_rejected",
                None,
            ),
            (
                KeyShortage::DailyAllowance {
                    limit: 50,
                    from_openrouter: false,
                    wait,
                }
                .into(),
                429,
                "free_quota_exhausted",
                Some("90"),
            ),
            (
                KeyShortage::PerMinute { wait }.into(),
                429,
                "free_rate_limited",
                Some("90"),
            ),
            (
                ModelRefused::BilledFeature { field: "plugins" }.into(),
                400,
                "invalid_request",
                None,
            ),
            (
                ContextTooLong {
                    model: "m".into(),
                    prompt_tokens: 9,
                    context: 8,
                }
                .into(),
                400,
                "context_length_exceeded",
                None,
            ),
        ];
        for (error, status, code, retry_after) in table {
            assert_eq!(error.status(), status, "{error:?}");
            assert_eq!(error.body()["error"]["code"], code, "{error:?}");
            let reply = error.into_reply();
            let header = reply
                .headers
                .iter()
                .find(|(k, _)| k == "Retry-After")
                .map(|(_, v)| v.as_str());
            assert_eq!(header, retry_after);
        }
    }

    #[test]
    fn a_refused_model_names_its_field() {
        let refused = ModelRefused::Fallback {
            field: "models",
            index: 0,
            reason: Box::new(ModelRefused::Unknown { name: "x".into() }),
        };
        let body = ApiError::from(refused).body();
        assert_eq!(body["error"]["param"], "models");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .starts_with("models[0]: the model list is not loaded yet")
        );
        let body = ApiError::from(ModelRefused::BilledFeature { field: "plugins" }).body();
        assert!(body["error"].get("param").is_none());
    }
}
