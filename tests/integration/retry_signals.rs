//! Issue 13, retries that do not multiply and model lookup: `x-should-retry: false` once the
//! proxy has had its say, `Retry-After` on every 429 and 503, the provider's words first, and
//! `GET /v1/models/{id}`.

use std::thread;
use std::time::Duration;

use openrouter_proxy::demo::{ERR_PER_DAY, ERR_PROVIDER_RATE_LIMITED, Script};
use serde_json::Value;

use crate::common::*;

/// What an OpenAI or Anthropic SDK does with `max_retries`: sends the request again after a
/// 408, 409, 429 or 5xx, unless the answer says `x-should-retry: false` (and always again
/// when it says `true`). Returns every answer it got, the last one last.
fn sdk_call(addr: std::net::SocketAddr, body: &str, max_retries: usize) -> Vec<Response> {
    let mut answers = Vec::new();
    for _ in 0..=max_retries {
        let r = post_chat(addr, body);
        let should_retry = match r.header("x-should-retry") {
            Some("false") => false,
            Some("true") => true,
            _ => matches!(r.status, 408 | 409 | 429 | 500..=599),
        };
        answers.push(r);
        if !should_retry {
            break;
        }
    }
    answers
}

fn down() -> Script {
    Script::json(503, r#"{"error":{"message":"Provider down","code":503}}"#)
}

#[test]
fn one_sdk_call_with_two_retries_makes_only_the_proxys_own_attempts() {
    // Issue 13: openai-node's maxRetries=2 turned one call into 3 x 2 = 6 upstream calls.
    let proxy = start(&[("RETRY_POLICY", "smart")]);
    for _ in 0..6 {
        proxy.fake.push(down());
    }
    let answers = sdk_call(proxy.addr, HELLO, 2);
    assert_eq!(answers.len(), 1, "the SDK tried once");
    let last = &answers[0];
    last.expect_error(503);
    assert_eq!(last.header("x-should-retry"), Some("false"));
    assert_eq!(last.header("X-Proxy-Attempts"), Some("2"));
    assert_eq!(
        proxy.fake.chat_requests().len(),
        2,
        "the proxy's two attempts"
    );
    assert!(last.header("Retry-After").is_some());

    // With no retry of its own (the rule said no), the proxy still speaks for the call.
    let proxy = start(&[("RETRY_POLICY", "never")]);
    proxy.fake.push(down());
    let answers = sdk_call(proxy.addr, HELLO, 2);
    assert_eq!(answers.len(), 1);
    assert_eq!(proxy.fake.chat_requests().len(), 1);
}

#[test]
fn what_waiting_clears_without_an_upstream_call_may_be_retried() {
    let proxy = start(&[("RETRY_POLICY", "never")]);
    // A pinned model rests after its provider's 429 ...
    let pinned =
        r#"{"model":"openai/gpt-oss-20b:free","messages":[{"role":"user","content":"x"}]}"#;
    proxy
        .fake
        .push(Script::json(429, ERR_PROVIDER_RATE_LIMITED).with_header("Retry-After", "2"));
    let r = post_chat(proxy.addr, pinned);
    r.expect_error(429);
    assert_eq!(r.header("Retry-After"), Some("2"));
    assert_eq!(r.header("x-should-retry"), Some("false"));
    // ... and a full queue costs no quota, so SDKs may come back: no `x-should-retry`.
    let proxy = start(&[("MAX_CONCURRENT_REQUESTS", "1"), ("QUEUE_TIMEOUT", "50ms")]);
    proxy
        .fake
        .push(Script::completion("slow").with_delay(Duration::from_millis(800)));
    let addr = proxy.addr;
    let slow = thread::spawn(move || post_chat(addr, HELLO));
    assert!(eventually(Duration::from_secs(5), || proxy.fake.active() == 1));
    let r = post_chat(proxy.addr, HELLO);
    r.expect_error(503);
    assert_eq!(r.header("x-should-retry"), None);
    assert_eq!(r.header("Retry-After"), Some("5"));
    assert_eq!(slow.join().unwrap().status, 200);
}

#[test]
fn a_429_without_retry_after_carries_the_proxys_own_rest() {
    let proxy = start(&[("MODEL_COOLDOWN", "42")]);
    proxy
        .fake
        .push(Script::json(429, ERR_PROVIDER_RATE_LIMITED));
    let r = post_chat(proxy.addr, HELLO);
    r.expect_error(429);
    assert_eq!(r.header("Retry-After"), Some("42"), "the model's rest");

    // The daily quota: until OpenRouter's reset, and no point trying again today.
    proxy.fake.push(Script::json(429, ERR_PER_DAY));
    let r = post_chat(proxy.addr, HELLO);
    r.expect_error(429);
    let wait: u64 = r.header("Retry-After").unwrap().parse().unwrap();
    assert!(wait >= 1, "{wait}");
    assert_eq!(r.header("x-should-retry"), Some("false"));
}

#[test]
fn the_providers_own_words_come_first() {
    let proxy = start(&[]);
    proxy
        .fake
        .push(Script::json(429, ERR_PROVIDER_RATE_LIMITED));
    let error = post_chat(proxy.addr, HELLO).expect_error(429);
    let message = error["message"].as_str().unwrap();
    assert!(
        message.starts_with("deepseek/deepseek-v4-pro-0813 is temporarily rate-limited upstream"),
        "{message}"
    );
    assert!(message.contains("Provider returned error"), "{message}");
    assert_eq!(error["metadata"]["provider_name"], "DeepInfra");
}

#[test]
fn a_request_that_cannot_succeed_says_so() {
    let proxy = start(&[]);
    let paid = r#"{"model":"openai/gpt-4o","messages":[{"role":"user","content":"x"}]}"#;
    let r = post_chat(proxy.addr, paid);
    r.expect_error(400);
    assert_eq!(r.header("x-should-retry"), Some("false"));
    let r = post_chat(proxy.addr, "{");
    assert_eq!(r.header("x-should-retry"), Some("false"));
    // A request that worked says nothing of the kind.
    let r = post_chat(proxy.addr, HELLO);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-should-retry"), None);
}

#[test]
fn one_model_is_found_by_its_id_raw_or_encoded() {
    let proxy = start(&[]);
    let list = get(proxy.addr, "/v1/models").json();
    let listed = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == "openai/gpt-oss-20b:free")
        .unwrap()
        .clone();
    for path in [
        "/v1/models/openai/gpt-oss-20b:free",
        "/v1/models/openai%2Fgpt-oss-20b%3Afree",
        "/models/openai/gpt-oss-20b%3Afree",
    ] {
        let r = get(proxy.addr, path);
        assert_eq!(r.status, 200, "{path}: {}", r.text());
        assert_eq!(r.json(), listed, "{path}");
    }
    for path in [
        "/v1/models/no/such-model:free",
        "/v1/models/meta-llama/llama-3.3-70b-instruct",
        "/v1/models/bad%zz",
    ] {
        let error = get(proxy.addr, path).expect_error(404);
        assert_eq!(error["code"], "model_not_found", "{path}");
        assert_eq!(error["type"], "invalid_request_error");
    }
    let r = request(proxy.addr, "POST", "/v1/models/x", &[], b"");
    r.expect_error(405);
}

#[test]
fn anthropic_clients_get_anthropics_list_shape() {
    let proxy = start(&[]);
    let headers = [("anthropic-version", "2023-06-01")];
    let list = request(proxy.addr, "GET", "/v1/models", &headers, b"").json();
    assert_eq!(list["has_more"], false);
    let data = list["data"].as_array().unwrap();
    assert_eq!(data.len(), 23);
    let first: &Value = &data[0];
    assert_eq!(first["type"], "model");
    for field in ["id", "display_name", "created_at"] {
        assert!(first[field].is_string(), "{field}: {first}");
    }
    assert_eq!(list["first_id"], first["id"]);
    let path = "/v1/models/openai/gpt-oss-20b:free";
    let one = request(proxy.addr, "GET", path, &headers, b"").json();
    assert_eq!(one["type"], "model");
    assert_eq!(one["id"], "openai/gpt-oss-20b:free");
    let r = request(proxy.addr, "GET", "/v1/models/nope", &headers, b"");
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["type"], "error");
    assert_eq!(r.json()["error"]["type"], "not_found_error");
}
