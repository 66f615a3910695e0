//! Issue 3, the free-model autopilot: automatic choice, capability filters, failover under the
//! smart retry rule, key rotation and quotas, the catalog and its cache.

use std::thread;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use openrouter_proxy::Snapshot;
use openrouter_proxy::demo::{
    ERR_PER_MIN, ERR_PROVIDER_RATE_LIMITED, FakeUpstream, MODELS_JSON, Script, StreamEnd,
    chunk_event,
};
use serde_json::{Value, json};

use crate::common::*;

const KEY_A: &str = "sk-or-v1-aaaa000000000000000000000000000000000000000000000000000a";
const KEY_B: &str = "sk-or-v1-bbbb000000000000000000000000000000000000000000000000000b";
const KEY_C: &str = "sk-or-v1-cccc000000000000000000000000000000000000000000000000000c";

fn catalog() -> Snapshot {
    Snapshot::from_list(&serde_json::from_str(MODELS_JSON).unwrap(), None).unwrap()
}

/// The model each chat call asked the fake for, in order.
fn models_sent(fake: &FakeUpstream) -> Vec<String> {
    fake.chat_requests()
        .iter()
        .map(|r| {
            let body: Value = serde_json::from_slice(&r.body).unwrap();
            body["model"].as_str().unwrap_or("").to_string()
        })
        .collect()
}

/// The key each chat call used, in order.
fn keys_sent(fake: &FakeUpstream) -> Vec<String> {
    fake.chat_requests()
        .iter()
        .map(|r| {
            r.header("Authorization")
                .unwrap()
                .trim_start_matches("Bearer ")
                .to_string()
        })
        .collect()
}

fn three_keys(strategy: &'static str) -> Vec<(&'static str, &'static str)> {
    vec![
        ("OPENROUTER_API_KEY", KEY_A),
        (
            "OPENROUTER_API_KEYS",
            "sk-or-v1-bbbb000000000000000000000000000000000000000000000000000b,sk-or-v1-cccc000000000000000000000000000000000000000000000000000c",
        ),
        ("LOAD_BALANCE_STRATEGY", strategy),
    ]
}

fn epoch_ms_in(d: Duration) -> u64 {
    (SystemTime::now() + d)
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

#[test]
fn a_request_without_a_model_is_served_by_a_free_model() {
    let proxy = start(&[]);
    let r = post_chat(proxy.addr, HELLO);
    assert_eq!(r.status, 200, "{}", r.text());
    let sent = models_sent(&proxy.fake);
    let model = catalog();
    let chosen = model.get(&sent[0]).expect("a catalog model");
    assert!(chosen.free, "{} is not free", chosen.id);
    assert_eq!(r.header("X-Proxy-Model"), Some(sent[0].as_str()));
    assert_eq!(r.header("X-Proxy-Attempts"), Some("1"));
    let shown_key = r.header("X-Proxy-Key").unwrap();
    assert!(shown_key.starts_with("sk-or-v1-tes") && shown_key.contains("..."));
    assert!(!shown_key.contains(&KEY[20..]));

    // "auto" and "free" do the same; a pinned free model is used as given.
    for name in ["auto", "free"] {
        let body = format!(r#"{{"model":"{name}","messages":[{{"role":"user","content":"x"}}]}}"#);
        assert_eq!(post_chat(proxy.addr, &body).status, 200);
    }
    let pinned =
        r#"{"model":"openai/gpt-oss-20b:free","messages":[{"role":"user","content":"x"}]}"#;
    post_chat(proxy.addr, pinned);
    assert_eq!(
        models_sent(&proxy.fake).last().unwrap(),
        "openai/gpt-oss-20b:free"
    );
}

#[test]
fn a_paid_model_is_refused_helpfully_unless_allowed() {
    let proxy = start(&[]);
    let paid = r#"{"model":"openai/gpt-4o","messages":[{"role":"user","content":"x"}]}"#;
    let error = post_chat(proxy.addr, paid).expect_error(400);
    let message = error["message"].as_str().unwrap();
    assert!(message.contains("not a free model"), "{message}");
    assert!(message.contains("\"auto\""), "{message}");
    assert!(message.contains(":free"), "{message}");
    assert_eq!(error["param"], "model");
    assert!(proxy.fake.chat_requests().is_empty());

    // A paid id whose :free variant exists is served by the variant.
    let variant = r#"{"model":"meta-llama/llama-3.3-70b-instruct","messages":[{"role":"user","content":"x"}]}"#;
    assert_eq!(post_chat(proxy.addr, variant).status, 200);
    assert_eq!(
        models_sent(&proxy.fake),
        vec!["meta-llama/llama-3.3-70b-instruct:free"]
    );

    let proxy = start(&[("ALLOW_PAID_MODELS", "true")]);
    assert_eq!(post_chat(proxy.addr, paid).status, 200);
    assert_eq!(models_sent(&proxy.fake), vec!["openai/gpt-4o"]);
    let health = get(proxy.addr, "/health").json();
    assert_eq!(
        health["keys"][0]["used_today"], 0,
        "paid calls do not use the free allowance"
    );
    let all = get(proxy.addr, "/v1/models").json();
    assert_eq!(all["data"].as_array().unwrap().len(), 337);
}

#[test]
fn a_tools_request_only_goes_to_tool_capable_models() {
    let proxy = start(&[("RETRY_POLICY", "4")]);
    for _ in 0..3 {
        proxy
            .fake
            .push(Script::json(429, ERR_PROVIDER_RATE_LIMITED));
    }
    let body = json!({
        "messages": [{"role": "user", "content": "weather?"}],
        "tools": [{"type": "function", "function": {"name": "weather", "parameters": {}}}]
    });
    let r = post_chat(proxy.addr, &body.to_string());
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("X-Proxy-Attempts"), Some("4"));
    let sent = models_sent(&proxy.fake);
    assert_eq!(sent.len(), 4);
    let catalog = catalog();
    for id in &sent {
        let m = catalog.get(id).unwrap();
        assert!(m.supports("tools"), "{id} cannot take tools");
    }
    let mut unique = sent.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(
        unique.len(),
        4,
        "each retry moves to another model: {sent:?}"
    );
}

#[test]
fn a_rate_limited_model_costs_exactly_one_retry_on_another_free_model() {
    let proxy = start(&[("RETRY_POLICY", "smart")]);
    proxy
        .fake
        .push(Script::json(429, ERR_PROVIDER_RATE_LIMITED).with_header("Retry-After", "30"));
    let r = post_chat(proxy.addr, HELLO);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("X-Proxy-Attempts"), Some("2"));
    let sent = models_sent(&proxy.fake);
    assert_eq!(sent.len(), 2);
    assert_ne!(sent[0], sent[1]);
    assert!(catalog().get(&sent[1]).unwrap().free);
    // The rate-limited model now rests: the next automatic choice avoids it.
    post_chat(proxy.addr, HELLO);
    assert_ne!(models_sent(&proxy.fake)[2], sent[0]);

    // Never more than one retry: two failures in a row reach the client.
    proxy.fake.push(Script::json(
        503,
        r#"{"error":{"message":"down","code":503}}"#,
    ));
    proxy.fake.push(Script::json(
        503,
        r#"{"error":{"message":"down","code":503}}"#,
    ));
    let before = proxy.fake.chat_requests().len();
    let r = post_chat(proxy.addr, HELLO);
    r.expect_error(503);
    assert_eq!(r.header("X-Proxy-Attempts"), Some("2"));
    assert_eq!(proxy.fake.chat_requests().len(), before + 2);
}

#[test]
fn the_smart_rule_stops_retrying_when_the_day_started_well_and_three_fail() {
    let proxy = start(&[("RETRY_POLICY", "smart")]);
    for _ in 0..3 {
        assert_eq!(post_chat(proxy.addr, HELLO).status, 200);
    }
    let down = || Script::json(502, r#"{"error":{"message":"Provider down","code":502}}"#);
    // S S S F: the last three include a success, so one retry (which also fails).
    proxy.fake.push(down());
    proxy.fake.push(down());
    let r = post_chat(proxy.addr, HELLO);
    assert_eq!(r.header("X-Proxy-Attempts"), Some("2"));
    // S S S F F F: a clean start and three failures in a row: no retry.
    proxy.fake.push(down());
    let r = post_chat(proxy.addr, HELLO);
    r.expect_error(502);
    assert_eq!(r.header("X-Proxy-Attempts"), Some("1"));
}

#[test]
fn keys_rotate_round_robin() {
    let proxy = start(&three_keys("round_robin"));
    for _ in 0..4 {
        post_chat(proxy.addr, HELLO);
    }
    assert_eq!(keys_sent(&proxy.fake), vec![KEY_A, KEY_B, KEY_C, KEY_A]);
}

#[test]
fn keys_rotate_to_the_least_used() {
    let proxy = start(&three_keys("least_used"));
    // Key A rests for a moment after a per-minute limit.
    let body = ERR_PER_MIN.replace(
        "1759750012000",
        &epoch_ms_in(Duration::from_millis(2000)).to_string(),
    );
    proxy.fake.push(Script::json(429, body));
    post_chat(proxy.addr, HELLO).expect_error(429);
    for _ in 0..4 {
        assert_eq!(post_chat(proxy.addr, HELLO).status, 200);
    }
    thread::sleep(Duration::from_millis(2100));
    // A has 1 use, B and C 2 each: A until it catches up, then A again on the tie.
    post_chat(proxy.addr, HELLO);
    post_chat(proxy.addr, HELLO);
    assert_eq!(
        keys_sent(&proxy.fake),
        vec![KEY_A, KEY_B, KEY_C, KEY_B, KEY_C, KEY_A, KEY_A]
    );
}

#[test]
fn keys_rotate_at_random() {
    let proxy = start(&three_keys("random"));
    for _ in 0..30 {
        post_chat(proxy.addr, HELLO);
    }
    let keys = keys_sent(&proxy.fake);
    for key in [KEY_A, KEY_B, KEY_C] {
        let n = keys.iter().filter(|k| *k == key).count();
        assert!(n >= 3, "{key} used {n} times in 30");
    }
}

#[test]
fn a_key_refused_with_401_is_never_used_again() {
    let mut settings = three_keys("round_robin");
    settings.push(("RETRY_POLICY", "smart"));
    let proxy = start(&settings);
    proxy.fake.push(Script::json(
        401,
        r#"{"error":{"message":"User not found.","code":401}}"#,
    ));
    // A is refused; the call moves to another key and succeeds.
    let r = post_chat(proxy.addr, HELLO);
    assert_eq!(r.status, 200, "{}", r.text());
    for _ in 0..6 {
        assert_eq!(post_chat(proxy.addr, HELLO).status, 200);
    }
    let keys = keys_sent(&proxy.fake);
    assert_eq!(keys[0], KEY_A);
    assert!(keys[1..].iter().all(|k| k != KEY_A), "{keys:?}");
    let health = get(proxy.addr, "/health").json();
    assert_eq!(health["keys"][0]["state"], "rejected");
    assert!(!health.to_string().contains(KEY_A));
}

#[test]
fn a_key_out_of_daily_quota_is_skipped_until_its_reset() {
    let proxy = start(&[
        ("OPENROUTER_API_KEY", KEY_A),
        ("OPENROUTER_API_KEYS", KEY_B),
    ]);
    // Long enough for the calls below on a loaded machine.
    let reset = epoch_ms_in(Duration::from_millis(2500));
    let body = openrouter_proxy::demo::ERR_PER_DAY.replace("1790553600000", &reset.to_string());
    proxy.fake.push(Script::json(429, body));
    let r = post_chat(proxy.addr, HELLO);
    r.expect_error(429);
    let wait: u64 = r.header("Retry-After").unwrap().parse().unwrap();
    assert!(
        (1..=3).contains(&wait),
        "Retry-After {wait}, from X-RateLimit-Reset"
    );
    for _ in 0..3 {
        assert_eq!(post_chat(proxy.addr, HELLO).status, 200);
    }
    let health = get(proxy.addr, "/health").json();
    assert_eq!(health["keys"][0]["state"], "out_of_quota");
    assert_eq!(health["keys"][0]["until_ms"], reset);
    let left = reset.saturating_sub(epoch_ms_in(Duration::ZERO));
    thread::sleep(Duration::from_millis(left + 100));
    post_chat(proxy.addr, HELLO);
    post_chat(proxy.addr, HELLO);
    let keys = keys_sent(&proxy.fake);
    assert_eq!(&keys[..4], &[KEY_A, KEY_B, KEY_B, KEY_B]);
    assert!(
        keys[4..].contains(&KEY_A.to_string()),
        "A is back after its reset: {keys:?}"
    );
}

#[test]
fn when_every_key_is_out_of_quota_the_answer_comes_at_once() {
    let proxy = start(&[("FREE_DAILY_LIMIT", "2")]);
    // The fake's GET /key reports a limit of 50; wait until the proxy has read it, then
    // exhaust the key the way OpenRouter says it is exhausted.
    proxy
        .fake
        .push(Script::json(429, openrouter_proxy::demo::ERR_PER_DAY));
    post_chat(proxy.addr, HELLO).expect_error(429);
    let calls = proxy.fake.chat_requests().len();
    let r = post_chat(proxy.addr, HELLO);
    let error = r.expect_error(429);
    assert_eq!(error["code"], "free_quota_exhausted");
    let wait: u64 = r.header("Retry-After").unwrap().parse().unwrap();
    assert!(wait > 0 && wait <= 86_400);
    assert!(error["message"].as_str().unwrap().contains("00:00 UTC"));
    assert_eq!(
        proxy.fake.chat_requests().len(),
        calls,
        "OpenRouter was not called"
    );
}

/// Issue 12: the message said "50 a day per account" while /health showed OpenRouter's 1000.
#[test]
fn the_quota_message_states_the_keys_real_allowance() {
    let fake = FakeUpstream::start().unwrap();
    fake.set_daily_limit(1000);
    let proxy = start_with(fake, &[]);
    assert!(eventually(Duration::from_secs(5), || {
        get(proxy.addr, "/health").json()["keys"][0]["daily_limit"] == 1000
    }));
    proxy
        .fake
        .push(Script::json(429, openrouter_proxy::demo::ERR_PER_DAY));
    post_chat(proxy.addr, HELLO).expect_error(429);
    let error = post_chat(proxy.addr, HELLO).expect_error(429);
    let message = error["message"].as_str().unwrap();
    assert!(
        message.contains("1000 calls a day, as OpenRouter reports for the key"),
        "{message}"
    );
    assert!(!message.contains("(50 calls"), "{message}");
}

#[test]
fn when_every_able_model_rests_the_answer_is_503_at_once() {
    let proxy = start(&[("RETRY_POLICY", "10")]);
    let body = json!({
        "messages": [{"role": "user", "content": [
            {"type": "text", "text": "what is this"},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}
        ]}],
        "tools": [{"type": "function", "function": {"name": "f", "parameters": {}}}]
    })
    .to_string();
    for _ in 0..10 {
        proxy
            .fake
            .push(Script::json(429, ERR_PROVIDER_RATE_LIMITED).with_header("Retry-After", "60"));
    }
    post_chat(proxy.addr, &body).expect_error(429);
    let tried = models_sent(&proxy.fake);
    let catalog = catalog();
    for id in tried.iter().filter(|id| *id != "openrouter/free") {
        let m = catalog.get(id).unwrap();
        assert!(m.supports("tools") && m.takes_images(), "{id}");
    }
    assert_eq!(
        tried.last().unwrap(),
        "openrouter/free",
        "the router is the last resort"
    );
    let r = post_chat(proxy.addr, &body);
    let error = r.expect_error(503);
    assert_eq!(error["code"], "models_cooling_down");
    let wait: u64 = r.header("Retry-After").unwrap().parse().unwrap();
    assert!((50..=60).contains(&wait), "{wait}");
    assert_eq!(models_sent(&proxy.fake).len(), tried.len());
}

#[test]
fn a_stream_is_retried_only_before_its_first_event() {
    let proxy = start(&[("RETRY_POLICY", "smart")]);
    // Fails before any event: the client never notices.
    proxy.fake.push(Script::Close);
    let r = post_chat(proxy.addr, HELLO_STREAM);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("X-Proxy-Attempts"), Some("2"));
    assert_eq!(r.streamed_content(), "Hello! How can I help you today?");
    assert!(!r.text().contains("\"error\""));

    // An error as the first event is a failure before the answer began: retried too.
    proxy.fake.push(Script::events(vec![
        "data: {\"error\":{\"message\":\"Provider returned error\",\"code\":502}}\n\n".into(),
    ]));
    let r = post_chat(proxy.addr, HELLO_STREAM);
    assert_eq!(r.header("X-Proxy-Attempts"), Some("2"));
    assert!(!r.text().contains("Provider returned error"));

    // Fails after its first event: no retry, an error event, then [DONE].
    let before = proxy.fake.chat_requests().len();
    proxy.fake.push(Script::Stream {
        events: vec![chunk_event(json!({"content": "Par"}), None)],
        gap: Duration::ZERO,
        end: StreamEnd::Drop,
    });
    let r = post_chat(proxy.addr, HELLO_STREAM);
    assert_eq!(r.header("X-Proxy-Attempts"), Some("1"));
    let data = r.data_events();
    assert!(data[0].contains("Par"));
    assert!(data[1].contains("stream_interrupted"));
    assert_eq!(data[2], "[DONE]");
    assert_eq!(proxy.fake.chat_requests().len(), before + 1);
}

#[test]
fn a_200_carrying_an_error_is_retried() {
    let proxy = start(&[("RETRY_POLICY", "smart")]);
    proxy.fake.push(Script::json(
        200,
        r#"{"error":{"message":"Provider returned error","code":502}}"#,
    ));
    let r = post_chat(proxy.addr, HELLO);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("X-Proxy-Attempts"), Some("2"));
}

#[test]
fn the_catalog_survives_a_restart_without_network() {
    let cache = scratch_dir();
    let cache = cache.to_str().unwrap();
    let proxy = start(&[("CACHE_DIR", cache)]);
    assert_eq!(get(proxy.addr, "/v1/models").status, 200);
    assert!(std::path::Path::new(cache).join("models.json").exists());

    // OpenRouter is unreachable now: the cached list still serves.
    let fake = FakeUpstream::start().unwrap();
    fake.set_models_down(true);
    let proxy = start_with(fake, &[("CACHE_DIR", cache)]);
    let list = get(proxy.addr, "/v1/models").json();
    assert_eq!(list["data"].as_array().unwrap().len(), 23);
    assert_eq!(
        post_chat(
            proxy.addr,
            r#"{"model":"meta-llama/llama-3.3-70b-instruct","messages":[{"role":"user","content":"x"}]}"#
        )
        .status,
        200
    );
}

#[test]
fn with_no_catalog_at_all_it_starts_and_uses_openrouters_free_router() {
    let fake = FakeUpstream::start().unwrap();
    fake.set_models_down(true);
    let proxy = start_with(fake, &[]);
    let error = get(proxy.addr, "/v1/models").expect_error(503);
    assert!(error["message"].as_str().unwrap().contains("keeps trying"));
    assert_eq!(post_chat(proxy.addr, HELLO).status, 200);
    assert_eq!(models_sent(&proxy.fake), vec!["openrouter/free"]);
    // A :free id passes on trust; another id is explained.
    let free = r#"{"model":"x/y:free","messages":[{"role":"user","content":"x"}]}"#;
    assert_eq!(post_chat(proxy.addr, free).status, 200);
    let other = r#"{"model":"x/y","messages":[{"role":"user","content":"x"}]}"#;
    let error = post_chat(proxy.addr, other).expect_error(400);
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("not loaded yet")
    );
}

#[test]
fn paid_models_cannot_sneak_in_through_models_or_plugins() {
    let proxy = start(&[]);
    let sneaky =
        r#"{"model":"auto","models":["openai/gpt-4o"],"messages":[{"role":"user","content":"x"}]}"#;
    let error = post_chat(proxy.addr, sneaky).expect_error(400);
    assert!(error["message"].as_str().unwrap().starts_with("models[0]:"));
    let plugins = r#"{"plugins":[{"id":"web"}],"messages":[{"role":"user","content":"x"}]}"#;
    let error = post_chat(proxy.addr, plugins).expect_error(400);
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("ALLOW_PAID_MODELS")
    );
    assert!(proxy.fake.chat_requests().is_empty());
    // Free fallbacks are fine, and paid ids with a free variant are mapped to it.
    let fallback = r#"{"model":"openai/gpt-oss-20b:free","models":["meta-llama/llama-3.3-70b-instruct"],"messages":[{"role":"user","content":"x"}]}"#;
    assert_eq!(post_chat(proxy.addr, fallback).status, 200);
    let sent: Value = serde_json::from_slice(&proxy.fake.chat_requests()[0].body).unwrap();
    assert_eq!(sent["models"][0], "meta-llama/llama-3.3-70b-instruct:free");
}

#[test]
fn a_model_that_is_gone_is_replaced_when_chosen_automatically() {
    let gone = r#"{"error":{"message":"This free variant has ended","code":404}}"#;
    let proxy = start(&[("RETRY_POLICY", "smart")]);
    proxy.fake.push(Script::json(404, gone));
    let r = post_chat(proxy.addr, HELLO);
    assert_eq!(r.status, 200, "{}", r.text());
    let sent = models_sent(&proxy.fake);
    assert_ne!(sent[0], sent[1]);
    // It rests: the next automatic choice does not pick it again.
    post_chat(proxy.addr, HELLO);
    assert_ne!(models_sent(&proxy.fake)[2], sent[0]);

    // A model the client named is not replaced: the 404 is the answer.
    proxy.fake.push(Script::json(404, gone));
    let pinned =
        r#"{"model":"openai/gpt-oss-20b:free","messages":[{"role":"user","content":"x"}]}"#;
    let r = post_chat(proxy.addr, pinned);
    r.expect_error(404);
    assert_eq!(r.header("X-Proxy-Attempts"), Some("1"));
}

#[test]
fn failed_connections_do_not_use_the_allowance() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!("http://{}/api/v1", closed.local_addr().unwrap());
    drop(closed);
    let proxy = start(&[
        ("OPENROUTER_BASE_URL", dead.as_str()),
        ("FREE_DAILY_LIMIT", "2"),
    ]);
    for _ in 0..4 {
        post_chat(proxy.addr, HELLO).expect_error(502);
    }
    let health = get(proxy.addr, "/health").json();
    assert_eq!(health["keys"][0]["used_today"], 0);
    assert_eq!(health["keys"][0]["state"], "active");
}

#[test]
fn an_answer_cut_off_after_openrouter_answered_uses_the_allowance() {
    let proxy = start(&[("RETRY_POLICY", "never")]);
    // A 200 whose body stops short: the request reached OpenRouter, so it counts.
    proxy.fake.push(Script::Raw(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n{\"id\":"
            .to_vec(),
    ));
    post_chat(proxy.addr, HELLO).expect_error(502);
    let health = get(proxy.addr, "/health").json();
    assert_eq!(health["keys"][0]["used_today"], 1);
}

#[test]
fn exhausted_keys_are_reported_without_waiting_for_a_slot() {
    let proxy = start(&[("MAX_CONCURRENT_REQUESTS", "1"), ("QUEUE_TIMEOUT", "5")]);
    proxy.fake.push(Script::stream_text(
        &["a", "b", "c"],
        Duration::from_millis(500),
    ));
    let addr = proxy.addr;
    let busy = thread::spawn(move || post_chat(addr, HELLO_STREAM));
    assert!(eventually(Duration::from_secs(2), || proxy.fake.active() == 1));
    // Exhaust the key while the only slot is busy.
    proxy
        .state
        .keys()
        .record_failure(0, &openrouter_proxy::Failure::KeyPerDay { reset: None });
    let t = std::time::Instant::now();
    post_chat(proxy.addr, HELLO).expect_error(429);
    assert!(
        t.elapsed() < Duration::from_millis(1000),
        "{:?}",
        t.elapsed()
    );
    busy.join().unwrap();
}
