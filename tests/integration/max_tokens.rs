//! Issue 5, smart max_tokens: the value sent upstream for real models from the fixture
//! catalog, the 400 for a prompt too long for a named model, the automatic choice skipping
//! models too small, clamping, replanning on a retry, and the switch that turns it off.

use openrouter_proxy::PromptSize;
use openrouter_proxy::demo::{ERR_PROVIDER_RATE_LIMITED, FakeUpstream, Script};
use serde_json::{Value, json};

use crate::common::*;

/// The body the fake received for each chat call.
fn sent(fake: &FakeUpstream) -> Vec<Value> {
    fake.chat_requests()
        .iter()
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect()
}

fn chat(model: &str, content: &str) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": content}]})
}

/// Tokens the proxy counts for the prompt of `body` (the counter is unit-tested against
/// OpenAI's published counts).
fn tokens(body: &Value) -> u64 {
    PromptSize::new(body, true, 0).tokens()
}

/// The room the default margin leaves in `context`.
fn room(context: u64, prompt: u64) -> u64 {
    context - prompt - prompt / 10 - 100
}

#[test]
fn the_value_sent_depends_on_each_models_limits() {
    let proxy = start(&[]);
    let cases = [
        // 131k context, 8192 output limit: the limit.
        ("openai/gpt-oss-20b:free", None),
        // 32k context, no output limit: context minus prompt and margin.
        ("liquid/lfm-2.5-1.2b-instruct:free", Some(32_768)),
        // 131k context, no output limit.
        ("meta-llama/llama-3.3-70b-instruct:free", Some(131_072)),
        // 262k context and an output limit as large: the prompt's room wins.
        ("nex-agi/nex-n2-pro:free", Some(262_144)),
    ];
    for (i, (model, context)) in cases.iter().enumerate() {
        let body = chat(model, "Summarise the history of Rome in three sentences.");
        let r = post_chat(proxy.addr, &body.to_string());
        assert_eq!(r.status, 200, "{model}: {}", r.text());
        let expected = match context {
            None => 8_192,
            Some(c) => room(*c, tokens(&body)),
        };
        assert_eq!(sent(&proxy.fake)[i]["max_tokens"], expected, "{model}");
        assert_eq!(
            r.header("X-Proxy-Max-Tokens"),
            Some(expected.to_string().as_str())
        );
    }
}

#[test]
fn a_prompt_too_long_for_the_named_model_is_refused_before_upstream() {
    let proxy = start(&[]);
    // About 40 000 tokens, for a model with a 32 768-token context.
    let body = chat("liquid/lfm-2.5-1.2b-instruct:free", &"word ".repeat(40_000));
    let error = post_chat(proxy.addr, &body.to_string()).expect_error(400);
    assert_eq!(error["code"], "context_length_exceeded");
    assert_eq!(error["param"], "messages");
    let message = error["message"].as_str().unwrap();
    assert!(message.contains(&tokens(&body).to_string()), "{message}");
    assert!(message.contains("32768"), "{message}");
    assert!(proxy.fake.chat_requests().is_empty());
}

#[test]
fn the_automatic_choice_skips_models_too_small_for_the_prompt() {
    // Prefer a small-context model: it must still be skipped.
    let proxy = start(&[("FREE_MODEL_PREFERENCE", "liquid/lfm-2.5-1.2b-instruct:free")]);
    let small = chat("auto", "Hi");
    post_chat(proxy.addr, &small.to_string());
    assert_eq!(
        sent(&proxy.fake)[0]["model"],
        "liquid/lfm-2.5-1.2b-instruct:free"
    );

    let long = chat("auto", &"word ".repeat(150_000));
    let r = post_chat(proxy.addr, &long.to_string());
    assert_eq!(r.status, 200, "{}", r.text());
    let chosen = sent(&proxy.fake)[1]["model"].as_str().unwrap().to_string();
    let catalog = openrouter_proxy::Snapshot::from_list(
        &serde_json::from_str(openrouter_proxy::demo::MODELS_JSON).unwrap(),
        None,
    )
    .unwrap();
    let context = catalog.get(&chosen).unwrap().context_length.unwrap();
    assert!(context >= 200_000, "{chosen} has only {context}");

    // Larger than every context: a 400 that says how large the prompt is.
    let huge = chat("auto", &"word ".repeat(1_200_000));
    let error = post_chat(proxy.addr, &huge.to_string()).expect_error(400);
    assert!(error["message"].as_str().unwrap().contains("tokens"));
}

#[test]
fn a_clients_own_limit_is_lowered_to_what_the_model_allows() {
    let proxy = start(&[]);
    let mut body = chat("openai/gpt-oss-20b:free", "Hi");
    body["max_tokens"] = json!(100_000);
    let r = post_chat(proxy.addr, &body.to_string());
    assert_eq!(r.header("X-Proxy-Max-Tokens"), Some("8192"));
    body["max_tokens"] = json!(500);
    post_chat(proxy.addr, &body.to_string());
    let mut newer = chat("openai/gpt-oss-20b:free", "Hi");
    newer["max_completion_tokens"] = json!(50_000);
    post_chat(proxy.addr, &newer.to_string());
    let bodies = sent(&proxy.fake);
    assert_eq!(bodies[0]["max_tokens"], 8_192);
    assert_eq!(bodies[1]["max_tokens"], 500);
    assert_eq!(bodies[2]["max_completion_tokens"], 8_192);
    assert!(bodies[2].get("max_tokens").is_none());
}

#[test]
fn a_retry_on_another_model_plans_again() {
    let proxy = start(&[
        ("RETRY_POLICY", "smart"),
        (
            "FREE_MODEL_PREFERENCE",
            "openai/gpt-oss-20b:free,liquid/lfm-2.5-1.2b-instruct:free",
        ),
    ]);
    proxy
        .fake
        .push(Script::json(429, ERR_PROVIDER_RATE_LIMITED));
    let body = chat("auto", "Hi");
    assert_eq!(post_chat(proxy.addr, &body.to_string()).status, 200);
    let bodies = sent(&proxy.fake);
    assert_eq!(bodies[0]["model"], "openai/gpt-oss-20b:free");
    assert_eq!(bodies[0]["max_tokens"], 8_192);
    assert_eq!(bodies[1]["model"], "liquid/lfm-2.5-1.2b-instruct:free");
    assert_eq!(bodies[1]["max_tokens"], room(32_768, tokens(&body)));
}

#[test]
fn the_switch_turns_it_all_off() {
    let proxy = start(&[("SMART_MAX_TOKENS", "false")]);
    let body = chat("openai/gpt-oss-20b:free", "Hi").to_string();
    let r = post_chat(proxy.addr, &body);
    assert!(r.header("X-Proxy-Max-Tokens").is_none());
    assert_eq!(
        proxy.fake.chat_requests()[0].body,
        body.as_bytes(),
        "forwarded untouched"
    );
    let long = chat("liquid/lfm-2.5-1.2b-instruct:free", &"word ".repeat(40_000));
    assert_eq!(post_chat(proxy.addr, &long.to_string()).status, 200);
}
