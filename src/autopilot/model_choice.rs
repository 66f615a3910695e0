//! Which model serves a request: the client's own choice mapped to a free model, or the
//! proxy's automatic choice among free models able to serve it.
//!
//! Pure functions of the request, the catalog snapshot and the observed model health, so that
//! the same state always gives the same choice.

use std::sync::Arc;
use std::time::Instant;

use serde_json::Value;

use crate::autopilot::catalog::Snapshot;
use crate::autopilot::model::{FREE_ROUTER, Model};
use crate::autopilot::model_health::{Health, ModelHealth};
use crate::autopilot::model_refused::ModelRefused;
use crate::autopilot::tokens::PromptSize;

/// The model a request asked for, once resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Target {
    /// The proxy chooses among free models.
    Auto,
    /// This exact model; `free` says whether free limits apply.
    Pinned { id: String, free: bool },
}

/// Maps the request's `model` to a target: nothing, `auto` or `free` let the proxy choose; a
/// free id is used as given; a paid id with a `:free` variant uses the variant; anything else
/// is refused unless paid models are allowed. A model disabled in the console is refused
/// whatever else is allowed.
pub(crate) fn resolve(
    requested: Option<&str>,
    catalog: &Snapshot,
    allow_paid: bool,
) -> Result<Target, ModelRefused> {
    let name = requested.map(str::trim).unwrap_or("");
    if name.is_empty() || name.eq_ignore_ascii_case("auto") || name.eq_ignore_ascii_case("free") {
        return Ok(Target::Auto);
    }
    let pinned = |id: &str, free: bool| {
        Ok(Target::Pinned {
            id: id.to_string(),
            free,
        })
    };
    let disabled = |id: &str| ModelRefused::Disabled {
        name: id.to_string(),
    };
    if catalog.is_disabled(name) {
        return Err(disabled(name));
    }
    if catalog.get(name).is_some_and(|m| m.free) {
        return pinned(name, true);
    }
    let variant = format!("{name}:free");
    if catalog.get(&variant).is_some_and(|m| m.free) {
        return pinned(&variant, true);
    }
    if !allow_paid && catalog.is_disabled(&variant) {
        return Err(disabled(&variant));
    }
    if catalog.is_empty() && name.ends_with(":free") {
        // The list is not loaded yet; the id itself says the model is free.
        return pinned(name, true);
    }
    if allow_paid {
        return pinned(name, false);
    }
    Err(if catalog.is_empty() {
        ModelRefused::Unknown {
            name: name.to_string(),
        }
    } else {
        ModelRefused::not_free(name, catalog.free_models().map(|m| m.id.as_str()))
    })
}

/// Without paid models allowed, checks the request fields that could reach a paid model or a
/// billed feature behind `model`'s back: each entry of `models` (OpenRouter's own fallback
/// list) and each `model` of `fallbacks` (the same in Anthropic's Messages API) is resolved
/// like `model` and replaced by the free id it maps to; `plugins` and `web_search_options`
/// (billed web search and the like) are refused. Returns whether the body changed.
pub(crate) fn guard_paid_features(
    body: &mut Value,
    catalog: &Snapshot,
) -> Result<bool, ModelRefused> {
    for field in ["plugins", "web_search_options"] {
        let used = match &body[field] {
            Value::Null => false,
            Value::Array(a) => !a.is_empty(),
            _ => true,
        };
        if used {
            return Err(ModelRefused::BilledFeature { field });
        }
    }
    let mut changed = false;
    for field in ["models", "fallbacks"] {
        let Some(entries) = body.get_mut(field).and_then(Value::as_array_mut) else {
            continue;
        };
        for (index, entry) in entries.iter_mut().enumerate() {
            // `fallbacks` entries are `{"model": id}`; `models` entries are the id itself.
            let slot = match (field, entry) {
                ("fallbacks", Value::Object(fallback)) => fallback.get_mut("model"),
                ("models", entry) => Some(entry),
                _ => None,
            };
            let Some(slot) = slot else {
                return Err(ModelRefused::NotAnId { field, index });
            };
            changed |= free_fallback(slot, catalog, field, index)?;
        }
    }
    Ok(changed)
}

/// Resolves one fallback model id in place; returns whether it changed.
fn free_fallback(
    slot: &mut Value,
    catalog: &Snapshot,
    field: &'static str,
    index: usize,
) -> Result<bool, ModelRefused> {
    let Some(name) = slot.as_str() else {
        return Err(ModelRefused::NotAnId { field, index });
    };
    match resolve(Some(name), catalog, false) {
        Ok(Target::Pinned { id, .. }) if id != name => {
            *slot = Value::String(id);
            Ok(true)
        }
        Ok(Target::Pinned { .. }) => Ok(false),
        Ok(Target::Auto) => Err(ModelRefused::NotAModel {
            field,
            index,
            name: name.to_string(),
        }),
        Err(reason) => Err(ModelRefused::Fallback {
            field,
            index,
            reason: Box::new(reason),
        }),
    }
}

/// What a request needs from a model.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Needs {
    pub(crate) tools: bool,
    pub(crate) images: bool,
    pub(crate) response_format: bool,
}

impl Needs {
    /// What a request of any protocol needs: tools (`tools` or chat's `functions`), images
    /// (an image part in chat's or Anthropic's `messages`, or in a Responses `input` item),
    /// structured output (chat's `response_format`, the Responses API's `text.format`,
    /// Anthropic's `output_config.format`).
    pub(crate) fn of(body: &Value) -> Needs {
        let listed = |v: &Value| v.as_array().is_some_and(|a| !a.is_empty());
        let tools = listed(&body["tools"]) || listed(&body["functions"]);
        let conversation = [&body["messages"], &body["input"]]
            .into_iter()
            .filter_map(Value::as_array)
            .flatten();
        let images = conversation.into_iter().any(|m| {
            m["content"].as_array().is_some_and(|parts| {
                parts.iter().any(|p| {
                    matches!(
                        p["type"].as_str(),
                        Some("image_url" | "input_image" | "image")
                    )
                })
            })
        });
        let structured = |format: &Value| {
            format
                .as_object()
                .is_some_and(|f| f.get("type").and_then(Value::as_str) != Some("text"))
        };
        let response_format = structured(&body["response_format"])
            || structured(&body["text"]["format"])
            || structured(&body["output_config"]["format"]);
        Needs {
            tools,
            images,
            response_format,
        }
    }
}

/// Whether `model` can serve a request with these needs and this prompt. Classifier models
/// (safety and guard models) never serve chats chosen automatically.
pub(crate) fn capable(model: &Model, needs: &Needs, prompt: &PromptSize) -> bool {
    let id = model.id.to_ascii_lowercase();
    model.free
        && !id.contains("safety")
        && !id.contains("guard")
        && (model.output_modalities.is_empty()
            || model.output_modalities.iter().any(|m| m == "text"))
        && (!needs.tools || model.supports("tools"))
        && (!needs.images || model.takes_images())
        && (!needs.response_format || model.supports("response_format"))
        && model.context_length.is_none_or(|c| prompt.fits(c))
}

/// The automatic choice's candidates, best first.
#[derive(Debug, Default)]
pub(crate) struct Ranking {
    pub(crate) order: Vec<Arc<Model>>,
    /// How many models could serve the request at all (cooling down or not).
    pub(crate) capable: usize,
    /// When the first of the cooling-down capable models is back.
    pub(crate) next_back: Option<Instant>,
}

/// Ranks the free models able to serve `needs`, skipping those cooling down and those in
/// `exclude`: by recent success rate, then latency, then the preference list, then context
/// length (then id, so that ties always break the same way). OpenRouter's own free router
/// comes last, as the fallback; it is the only candidate while the catalog is empty.
pub(crate) fn rank(
    catalog: &Snapshot,
    needs: &Needs,
    prompt: &PromptSize,
    health: &ModelHealth,
    preference: &[String],
    exclude: &[String],
    now: Instant,
) -> Ranking {
    let mut ranking = Ranking::default();
    let fallback;
    let models: Vec<&Arc<Model>> = if catalog.is_empty() {
        fallback = Arc::new(Model {
            id: FREE_ROUTER.into(),
            name: "OpenRouter free router".into(),
            context_length: None,
            max_completion_tokens: None,
            input_modalities: Vec::new(),
            output_modalities: Vec::new(),
            supported_parameters: Vec::new(),
            free: true,
            parameters: None,
        });
        vec![&fallback]
    } else {
        catalog.free_models().collect()
    };
    let mut scored: Vec<(&Arc<Model>, Health)> = Vec::new();
    for model in models {
        // The router says little of the models behind it: trust it to pick a capable one,
        // but not with a prompt larger than its stated context.
        let able = if model.id == FREE_ROUTER {
            model.context_length.is_none_or(|c| prompt.fits(c))
        } else {
            capable(model, needs, prompt)
        };
        if !able {
            continue;
        }
        ranking.capable += 1;
        if exclude.contains(&model.id) {
            continue;
        }
        let h = health.get(&model.id);
        if h.cooling(now) {
            let back = h.cooling_until.unwrap_or(now);
            ranking.next_back = Some(ranking.next_back.map_or(back, |t| t.min(back)));
            continue;
        }
        scored.push((model, h));
    }
    let preference_of = |id: &str| {
        preference
            .iter()
            .position(|p| p == id)
            .unwrap_or(usize::MAX)
    };
    scored.sort_by(|(a, ha), (b, hb)| {
        let router = |m: &Model| m.id == FREE_ROUTER;
        router(a)
            .cmp(&router(b))
            .then(hb.success_rate.total_cmp(&ha.success_rate))
            .then(
                ha.latency_ms
                    .unwrap_or(f64::INFINITY)
                    .total_cmp(&hb.latency_ms.unwrap_or(f64::INFINITY)),
            )
            .then(preference_of(&a.id).cmp(&preference_of(&b.id)))
            .then(b.context_length.cmp(&a.context_length))
            .then_with(|| a.id.cmp(&b.id))
    });
    ranking.order = scored.into_iter().map(|(m, _)| Arc::clone(m)).collect();
    ranking
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::time::Duration;

    fn catalog() -> Snapshot {
        let list: Value = serde_json::from_str(include_str!(
            "../../tests/fixtures/openrouter/models_2026-06-16.json"
        ))
        .unwrap();
        Snapshot::from_list(&list, None).unwrap()
    }

    fn pinned(id: &str) -> Target {
        Target::Pinned {
            id: id.into(),
            free: true,
        }
    }

    #[test]
    fn resolving_the_requested_model() {
        let c = catalog();
        for auto in [None, Some(""), Some("auto"), Some("free"), Some("AUTO")] {
            assert_eq!(resolve(auto, &c, false).unwrap(), Target::Auto);
        }
        let free = "meta-llama/llama-3.3-70b-instruct:free";
        assert_eq!(resolve(Some(free), &c, false).unwrap(), pinned(free));
        // A paid id whose :free variant exists uses the variant.
        assert_eq!(
            resolve(Some("meta-llama/llama-3.3-70b-instruct"), &c, false).unwrap(),
            pinned(free)
        );
        let e = resolve(Some("openai/gpt-4o"), &c, false).unwrap_err();
        assert_eq!(e.field(), Some("model"));
        let message = e.to_string();
        assert!(
            message.contains("auto") && message.contains(":free"),
            "{message}"
        );
        assert!(message.contains("ALLOW_PAID_MODELS"), "{message}");
        assert_eq!(
            resolve(Some("openai/gpt-4o"), &c, true).unwrap(),
            Target::Pinned {
                id: "openai/gpt-4o".into(),
                free: false
            }
        );
    }

    #[test]
    fn a_model_disabled_in_the_console_is_refused_by_name_and_never_ranked() {
        let free = "meta-llama/llama-3.3-70b-instruct:free";
        let c = catalog().with_disabled(std::collections::HashSet::from([free.to_string()]));
        for (asked, allow_paid) in [
            (free, false),
            (free, true),
            ("meta-llama/llama-3.3-70b-instruct", false),
        ] {
            let e = resolve(Some(asked), &c, allow_paid).unwrap_err();
            assert_eq!(e, ModelRefused::Disabled { name: free.into() });
            assert!(
                e.to_string().contains("disabled in the proxy's console"),
                "{e}"
            );
        }
        // With paid models allowed, the paid model itself is another model.
        assert!(resolve(Some("meta-llama/llama-3.3-70b-instruct"), &c, true).is_ok());
        let body = hi();
        let prompt = PromptSize::new(&body, false, 0);
        let r = rank(
            &c,
            &Needs::default(),
            &prompt,
            &ModelHealth::default(),
            &[free.to_string()],
            &[],
            Instant::now(),
        );
        assert!(!r.order.is_empty());
        assert!(r.order.iter().all(|m| m.id != free));
        // Even before the list has loaded.
        let empty = Snapshot::default()
            .with_disabled(std::collections::HashSet::from(["x/y:free".to_string()]));
        assert!(resolve(Some("x/y:free"), &empty, false).is_err());
    }

    #[test]
    fn without_a_catalog_free_ids_pass_and_others_are_explained() {
        let empty = Snapshot::default();
        assert_eq!(
            resolve(Some("x/y:free"), &empty, false).unwrap(),
            pinned("x/y:free")
        );
        let e = resolve(Some("x/y"), &empty, false).unwrap_err();
        assert!(e.to_string().contains("not loaded yet"));
        let body = hi();
        let prompt = PromptSize::new(&body, false, 0);
        let r = rank(
            &empty,
            &Needs::default(),
            &prompt,
            &ModelHealth::default(),
            &[],
            &[],
            Instant::now(),
        );
        assert_eq!(r.order[0].id, FREE_ROUTER);
    }

    #[test]
    fn paid_models_cannot_sneak_in_through_other_fields() {
        let c = catalog();
        let mut body = json!({"models": ["openai/gpt-4o"]});
        let e = guard_paid_features(&mut body, &c).unwrap_err();
        assert!(e.to_string().starts_with("models[0]:"), "{e}");
        let mut body =
            json!({"models": ["meta-llama/llama-3.3-70b-instruct", "openai/gpt-oss-20b:free"]});
        assert!(guard_paid_features(&mut body, &c).unwrap());
        assert_eq!(body["models"][0], "meta-llama/llama-3.3-70b-instruct:free");
        for field in ["plugins", "web_search_options"] {
            let mut body = json!({ field: [{"id": "web"}] });
            let e = guard_paid_features(&mut body, &c).unwrap_err();
            assert!(e.to_string().contains("ALLOW_PAID_MODELS"));
        }
        let mut plain = json!({"messages": [], "plugins": []});
        assert!(!guard_paid_features(&mut plain, &c).unwrap());
        // Anthropic's `fallbacks`: `{"model": id}` entries, checked the same way.
        let mut body = json!({"fallbacks": [{"model": "meta-llama/llama-3.3-70b-instruct"}]});
        assert!(guard_paid_features(&mut body, &c).unwrap());
        assert_eq!(
            body["fallbacks"][0]["model"],
            "meta-llama/llama-3.3-70b-instruct:free"
        );
        let mut body = json!({"fallbacks": [{"model": "anthropic/claude-opus-4"}]});
        let e = guard_paid_features(&mut body, &c).unwrap_err();
        assert!(e.to_string().starts_with("fallbacks[0]:"), "{e}");
        assert_eq!(e.field(), Some("fallbacks"));
        let mut body = json!({"fallbacks": ["anthropic/claude-opus-4"]});
        let e = guard_paid_features(&mut body, &c).unwrap_err();
        assert_eq!(e.to_string(), "fallbacks[0] must be a model id");
    }

    #[test]
    fn needs_are_read_from_the_request() {
        let body = json!({
            "tools": [{"type": "function", "function": {"name": "f"}}],
            "response_format": {"type": "json_object"},
            "messages": [{"role": "user", "content": [
                {"type": "text", "text": "what is this"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}
            ]}]
        });
        let needs = Needs::of(&body);
        assert!(needs.tools && needs.images && needs.response_format);
        let plain = Needs::of(&json!({"messages": [], "response_format": {"type": "text"}}));
        assert_eq!(plain, Needs::default());
    }

    fn hi() -> Value {
        json!({"messages": [{"role": "user", "content": "hi"}]})
    }

    #[test]
    fn only_capable_models_are_ranked() {
        let c = catalog();
        let health = ModelHealth::default();
        let body = hi();
        let prompt = PromptSize::new(&body, true, 100);
        let needs = Needs {
            tools: true,
            images: true,
            ..Needs::default()
        };
        let r = rank(&c, &needs, &prompt, &health, &[], &[], Instant::now());
        assert!(!r.order.is_empty());
        for m in r.order.iter().filter(|m| m.id != FREE_ROUTER) {
            assert!(m.supports("tools") && m.takes_images(), "{}", m.id);
        }
        assert_eq!(r.order.last().unwrap().id, FREE_ROUTER);
        // Only models whose context holds the prompt: a 150k-token prompt rules out the
        // 128k and 131k contexts, the router's 200k holds it.
        let long = json!({"messages": [{"role": "user", "content": "word ".repeat(150_000)}]});
        let prompt_150k = PromptSize::new(&long, true, 100);
        let r = rank(
            &c,
            &Needs::default(),
            &prompt_150k,
            &health,
            &[],
            &[],
            Instant::now(),
        );
        assert!(!r.order.is_empty());
        for m in &r.order {
            assert!(
                m.context_length.unwrap() >= 200_000,
                "{} is too small",
                m.id
            );
        }
        // Classifiers are never chosen.
        let r = rank(
            &c,
            &Needs::default(),
            &prompt,
            &health,
            &[],
            &[],
            Instant::now(),
        );
        assert!(r.order.iter().all(|m| !m.id.contains("safety")));
    }

    #[test]
    fn ranking_uses_health_then_preference_then_context() {
        let c = catalog();
        let health = ModelHealth::default();
        let now = Instant::now();
        let body = hi();
        let p = PromptSize::new(&body, true, 100);
        let r = rank(&c, &Needs::default(), &p, &health, &[], &[], now);
        // With nothing seen, the largest context wins.
        assert_eq!(r.order[0].id, "qwen/qwen3-coder:free");
        let same = rank(&c, &Needs::default(), &p, &health, &[], &[], now);
        let ids = |r: &Ranking| r.order.iter().map(|m| m.id.clone()).collect::<Vec<_>>();
        assert_eq!(ids(&r), ids(&same), "same state, same choice");

        let pref = vec!["openai/gpt-oss-20b:free".to_string()];
        let r = rank(&c, &Needs::default(), &p, &health, &pref, &[], now);
        assert_eq!(r.order[0].id, "openai/gpt-oss-20b:free");

        // A model that answered beats preference; a faster one beats a slower one.
        health.record_success(
            "meta-llama/llama-3.2-3b-instruct:free",
            Duration::from_millis(900),
        );
        health.record_success(
            "liquid/lfm-2.5-1.2b-instruct:free",
            Duration::from_millis(300),
        );
        let r = rank(&c, &Needs::default(), &p, &health, &pref, &[], now);
        assert_eq!(r.order[0].id, "liquid/lfm-2.5-1.2b-instruct:free");
        assert_eq!(r.order[1].id, "meta-llama/llama-3.2-3b-instruct:free");

        // Cooling models are skipped and say when they are back.
        health.record_failure(
            "liquid/lfm-2.5-1.2b-instruct:free",
            Some(Duration::from_secs(30)),
        );
        let r = rank(
            &c,
            &Needs::default(),
            &p,
            &health,
            &pref,
            &[],
            Instant::now(),
        );
        assert!(
            r.order
                .iter()
                .all(|m| m.id != "liquid/lfm-2.5-1.2b-instruct:free")
        );
        assert!(r.next_back.is_some());
    }

    #[test]
    fn every_protocol_says_what_it_needs_its_own_way() {
        let all = Needs {
            tools: true,
            images: true,
            response_format: true,
        };
        let responses = serde_json::json!({
            "input": [{"role": "user", "content": [
                {"type": "input_text", "text": "what is this"},
                {"type": "input_image", "image_url": "data:image/png;base64,AAAA"}
            ]}],
            "tools": [{"type": "function", "name": "f", "parameters": {}}],
            "text": {"format": {"type": "json_schema", "name": "x", "schema": {}}}
        });
        assert_eq!(Needs::of(&responses), all);
        let messages = serde_json::json!({
            "messages": [{"role": "user", "content": [
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AAAA"}}
            ]}],
            "tools": [{"name": "f", "input_schema": {"type": "object"}}],
            "output_config": {"format": {"type": "json_schema", "schema": {}}}
        });
        assert_eq!(Needs::of(&messages), all);
        let plain = serde_json::json!({"input": "hi", "text": {"format": {"type": "text"}}});
        assert_eq!(Needs::of(&plain), Needs::default());
    }
}
