//! Smart max_tokens: the answer size to ask for from a given model.
//!
//! A request without an output limit (`max_tokens` or `max_completion_tokens` in chat,
//! `max_output_tokens` in Responses, `max_tokens` in Messages) gets the protocol's field set to
//! the model's output limit when known, never more than its context minus the prompt and a
//! margin. A client's own value above that is lowered to it. A prompt that leaves no room is
//! refused before any upstream call. Pure functions of the model and the prompt.

use crate::autopilot::model::{FREE_ROUTER, Model};
use crate::autopilot::tokens::{MIN_ANSWER_TOKENS, PromptSize};

/// The answer-size field to send and its value.
pub(crate) type Limit = (&'static str, u64);

/// The prompt leaves no room for an answer in the model's context: no attempt can help.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ContextTooLong {
    pub(crate) model: String,
    pub(crate) prompt_tokens: u64,
    pub(crate) context: u64,
}

/// The client's own limit, if it set one, in the first of `fields` it used.
pub(crate) fn requested(body: &serde_json::Value, fields: &[&'static str]) -> Option<Limit> {
    fields
        .iter()
        .find_map(|&field| body[field].as_u64().map(|v| (field, v)))
}

/// What to send to `model`: the client's limit lowered to what fits, or a limit filled in as
/// `field`. `None` leaves the request as it is (nothing is known of the model's limits).
pub(crate) fn plan(
    model: &Model,
    prompt: &PromptSize,
    requested: Option<Limit>,
    field: &'static str,
) -> Result<Option<Limit>, ContextTooLong> {
    // OpenRouter's free router picks a model at random: its own figures say nothing about it.
    if model.id == FREE_ROUTER {
        return Ok(requested);
    }
    let Some(context) = model.context_length else {
        let output = model.max_completion_tokens;
        return Ok(match (requested, output) {
            (Some((field, v)), Some(out)) => Some((field, v.min(out))),
            (None, Some(out)) => Some((field, out)),
            (requested, None) => requested,
        });
    };
    let output = model.max_completion_tokens.unwrap_or(context).min(context);
    let wanted = requested.map_or(output, |(_, v)| v.min(output));
    let room = prompt.room(context, wanted);
    if room < MIN_ANSWER_TOKENS {
        return Err(ContextTooLong {
            model: model.id.clone(),
            prompt_tokens: prompt.tokens(),
            context,
        });
    }
    let allowed = output.min(room);
    Ok(Some(match requested {
        Some((field, v)) => (field, v.min(allowed)),
        None => (field, allowed),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn model(context: Option<u64>, output: Option<u64>) -> Model {
        Model {
            id: "x/m:free".into(),
            name: "m".into(),
            context_length: context,
            max_completion_tokens: output,
            input_modalities: vec![],
            output_modalities: vec![],
            supported_parameters: vec![],
            free: true,
            parameters: None,
        }
    }

    fn short() -> Value {
        json!({"messages": [{"role": "user", "content": "Hi"}]})
    }

    #[test]
    fn fills_the_output_limit_when_the_prompt_leaves_room() {
        let body = short();
        let prompt = PromptSize::new(&body, true, 100);
        let m = model(Some(131_072), Some(8_192));
        assert_eq!(
            plan(&m, &prompt, None, "max_tokens").unwrap(),
            Some(("max_tokens", 8_192))
        );
    }

    #[test]
    fn without_an_output_limit_the_context_minus_prompt_and_margin() {
        let body = short();
        let prompt = PromptSize::new(&body, true, 100);
        let tokens = prompt.tokens();
        let m = model(Some(32_768), None);
        let expected = 32_768 - tokens - tokens / 10 - 100;
        assert_eq!(
            plan(&m, &prompt, None, "max_tokens").unwrap(),
            Some(("max_tokens", expected))
        );
    }

    #[test]
    fn a_long_prompt_lowers_the_limit_and_too_long_a_prompt_is_refused() {
        let body = json!({"messages": [{"role": "user", "content": "word ".repeat(6_000)}]});
        let prompt = PromptSize::new(&body, true, 100);
        let tokens = prompt.tokens();
        let m = model(Some(8_192), Some(8_192));
        let room = 8_192 - tokens - tokens / 10 - 100;
        assert_eq!(
            plan(&m, &prompt, None, "max_tokens").unwrap(),
            Some(("max_tokens", room))
        );
        let small = model(Some(4_096), None);
        assert_eq!(
            plan(&small, &prompt, None, "max_tokens").unwrap_err(),
            ContextTooLong {
                model: "x/m:free".into(),
                prompt_tokens: tokens,
                context: 4_096
            }
        );
    }

    #[test]
    fn a_clients_own_value_is_kept_or_lowered() {
        let body = short();
        let prompt = PromptSize::new(&body, true, 100);
        let m = model(Some(131_072), Some(8_192));
        assert_eq!(
            plan(&m, &prompt, Some(("max_tokens", 500)), "max_tokens").unwrap(),
            Some(("max_tokens", 500))
        );
        assert_eq!(
            plan(
                &m,
                &prompt,
                Some(("max_completion_tokens", 100_000)),
                "max_tokens"
            )
            .unwrap(),
            Some(("max_completion_tokens", 8_192))
        );
    }

    #[test]
    fn the_router_and_unknown_contexts_are_left_alone_or_capped() {
        let body = short();
        let prompt = PromptSize::new(&body, true, 100);
        let mut router = model(Some(200_000), None);
        router.id = FREE_ROUTER.into();
        assert_eq!(plan(&router, &prompt, None, "max_tokens").unwrap(), None);
        assert_eq!(
            plan(&model(None, None), &prompt, None, "max_tokens").unwrap(),
            None
        );
        assert_eq!(
            plan(
                &model(None, Some(4_000)),
                &prompt,
                Some(("max_tokens", 9_000)),
                "max_tokens"
            )
            .unwrap(),
            Some(("max_tokens", 4_000))
        );
    }

    #[test]
    fn the_clients_field_is_found() {
        let chat = &["max_tokens", "max_completion_tokens"];
        assert_eq!(
            requested(&json!({"max_tokens": 5}), chat),
            Some(("max_tokens", 5))
        );
        assert_eq!(
            requested(&json!({"max_completion_tokens": 7}), chat),
            Some(("max_completion_tokens", 7))
        );
        assert_eq!(requested(&json!({}), chat), None);
        let responses = &["max_output_tokens"];
        assert_eq!(requested(&json!({"max_tokens": 5}), responses), None);
        assert_eq!(
            requested(&json!({"max_output_tokens": 9}), responses),
            Some(("max_output_tokens", 9))
        );
    }

    #[test]
    fn the_filled_in_field_is_the_protocols() {
        let body = short();
        let prompt = PromptSize::new(&body, true, 100);
        let m = model(Some(131_072), Some(8_192));
        assert_eq!(
            plan(&m, &prompt, None, "max_output_tokens").unwrap(),
            Some(("max_output_tokens", 8_192))
        );
    }
}
