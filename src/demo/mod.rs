//! A fake OpenRouter on loopback, for the tests, the benchmark and `--demo`.
//!
//! It speaks just enough HTTP/1.1 over `std::net` to be driven exactly: each generation call
//! (chat completions, Responses, Messages) takes the next [`Script`] queued by the test
//! (delays, error statuses with real error bodies, streams spaced in time, a stream that
//! errors, drops or stalls mid-way, a hang), or a default answer in the protocol's real shape:
//! a tool call when tools are offered, JSON for structured output, text otherwise, and the
//! demo's failures on request. It records every request and the peak number of calls in
//! flight. It shares no code with the proxy beyond a lock helper, so that a bug there cannot
//! hide one here. `script.rs` holds what a call gets, `answer.rs` what it answers by default,
//! `shapes.rs` each protocol's bodies and events, `server.rs` the server.

mod answer;
mod script;
mod server;
mod shapes;

pub use answer::{DEMO_RATE_LIMITED, DEMO_UNAVAILABLE};
pub use script::{AUTHORIZATION_PLACEHOLDER, Script, StreamEnd, chunk_event};
pub use server::{FakeUpstream, Seen};

/// `GET /models` as OpenRouter answered it on 2026-06-16 (337 models, 22 free).
pub const MODELS_JSON: &str =
    include_str!("../../tests/fixtures/openrouter/models_2026-06-16.json");
/// A real stream from `liquid/lfm-2.5-1.2b-instruct:free`, keep-alive comments included.
pub const SSE_LFM: &str = include_str!(
    "../../tests/fixtures/openrouter/sse/lfm-2.5-1.2b-instruct_free_liquid_2026-01.sse"
);
/// A real stream from `inclusionai/ling-3.0-flash:free`: reasoning deltas, then content.
pub const SSE_LING_REASONING: &str = include_str!(
    "../../tests/fixtures/openrouter/sse/ling-3.0-flash_free_novita_reasoning_2026-07.sse"
);

// Real error bodies; tests/fixtures/openrouter/README.md says where each comes from.
/// 429 after OpenRouter's per-minute free limit.
pub const ERR_PER_MIN: &str =
    include_str!("../../tests/fixtures/openrouter/errors/free-models-per-min_429.json");
/// 429 after OpenRouter's per-day free limit.
pub const ERR_PER_DAY: &str =
    include_str!("../../tests/fixtures/openrouter/errors/free-models-per-day_429.json");
/// 429 from a provider that is busy: the model's fault, not the key's.
pub const ERR_PROVIDER_RATE_LIMITED: &str =
    include_str!("../../tests/fixtures/openrouter/errors/provider-rate-limited_429.json");
/// 404 when the account's data policy excludes every provider of the model.
pub const ERR_NO_ENDPOINTS: &str =
    include_str!("../../tests/fixtures/openrouter/errors/no-endpoints-data-policy_404.json");
/// 402 for a paid model without credits.
pub const ERR_NO_CREDITS: &str =
    include_str!("../../tests/fixtures/openrouter/errors/insufficient-credits_402.json");
/// 401 for a call without an `Authorization` header.
const ERR_NO_AUTH: &str =
    include_str!("../../tests/fixtures/openrouter/errors/no-auth-credentials_401.json");

/// The model the fake says answered when the request named none.
pub const DEFAULT_MODEL: &str = "liquid/lfm-2.5-1.2b-instruct:free";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_model_list_is_the_real_one() {
        let v: serde_json::Value = serde_json::from_str(MODELS_JSON).unwrap();
        assert_eq!(v["data"].as_array().unwrap().len(), 337);
    }

    #[test]
    fn the_error_bodies_are_json_with_their_status_as_code() {
        for (body, code) in [
            (ERR_PER_MIN, 429),
            (ERR_PER_DAY, 429),
            (ERR_PROVIDER_RATE_LIMITED, 429),
            (ERR_NO_ENDPOINTS, 404),
            (ERR_NO_CREDITS, 402),
            (ERR_NO_AUTH, 401),
        ] {
            let v: serde_json::Value = serde_json::from_str(body).unwrap();
            assert_eq!(v["error"]["code"], code, "{body}");
        }
    }
}
