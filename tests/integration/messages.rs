//! Issue 13, Anthropic's Messages API (`POST /v1/messages`, Claude Code's protocol) on free
//! models: the same autopilot as chat completions, streams passed through with their `event:`
//! lines, errors in Anthropic's shape, Anthropic's ways to authenticate, and a local token
//! count.

use std::time::Duration;

use openrouter_proxy::demo::{ERR_PER_MIN, ERR_PROVIDER_RATE_LIMITED, Script, StreamEnd};
use serde_json::{Value, json};

use crate::common::*;

const SSE_TEXT: &str =
    include_str!("../fixtures/openrouter/messages/text_claude-4.5-haiku_2025-10.sse");
const SSE_THINKING_TOOL: &str = include_str!(
    "../fixtures/openrouter/messages/thinking_tool_use_deepseek-v4-flash_digitalocean_2026-09.sse"
);
const HELLO_MESSAGES: &str =
    r#"{"model":"auto","max_tokens":1024,"messages":[{"role":"user","content":"Hi"}]}"#;
const HELLO_MESSAGES_STREAM: &str = r#"{"model":"auto","max_tokens":1024,"stream":true,"messages":[{"role":"user","content":"Hi"}]}"#;
const ANTHROPIC: (&str, &str) = ("anthropic-version", "2023-06-01");

fn post_messages(addr: std::net::SocketAddr, body: &str, headers: &[(&str, &str)]) -> Response {
    let mut all = vec![("Content-Type", "application/json"), ANTHROPIC];
    all.extend_from_slice(headers);
    request(addr, "POST", "/v1/messages", &all, body.as_bytes())
}

/// Asserts an Anthropic-shaped error with this status and type; returns its message.
fn expect_anthropic_error(r: &Response, status: u16, kind: &str) -> String {
    assert_eq!(r.status, status, "{}", r.text());
    let body = r.json();
    assert_eq!(body["type"], "error", "{body}");
    assert_eq!(body["error"]["type"], kind, "{body}");
    assert!(body.get("code").is_none() && body["error"].get("code").is_none());
    body["error"]["message"].as_str().unwrap().to_string()
}

/// The events of a stream: `(event name, data)`, comments left out.
fn events(r: &Response) -> Vec<(Option<String>, String)> {
    r.text()
        .split("\n\n")
        .filter_map(|block| {
            let name = block
                .lines()
                .find_map(|l| l.strip_prefix("event: "))
                .map(str::to_string);
            let data = block.lines().find_map(|l| l.strip_prefix("data: "))?;
            Some((name, data.to_string()))
        })
        .collect()
}

/// A capture as the client gets it: without OpenRouter's trailing `[DONE]` event.
fn without_done(sse: &str) -> &str {
    sse.strip_suffix("event: data\ndata: [DONE]\n\n").unwrap()
}

/// A stream script from a capture.
fn capture(sse: &str) -> Script {
    Script::stream_fixture(sse, Duration::ZERO)
}

#[test]
fn a_message_is_served_by_a_free_model_with_the_proxys_headers() {
    let proxy = start(&[]);
    for path in ["/v1/messages", "/messages"] {
        let r = request(
            proxy.addr,
            "POST",
            path,
            &[("Content-Type", "application/json"), ANTHROPIC],
            HELLO_MESSAGES.as_bytes(),
        );
        assert_eq!(r.status, 200, "{path}: {}", r.text());
        let body = r.json();
        assert_eq!(body["type"], "message");
        assert_eq!(body["content"][0]["type"], "text");
        assert!(r.header("X-Proxy-Model").unwrap().ends_with(":free"));
        assert_eq!(r.header("X-Proxy-Attempts"), Some("1"));
        assert!(r.header("X-Proxy-Key").unwrap().contains("..."));
    }
    let calls = proxy.fake.model_calls();
    assert_eq!(calls.len(), 2);
    assert!(calls.iter().all(|c| c.path == "/api/v1/messages"));
    let sent: Value = serde_json::from_slice(&calls[0].body).unwrap();
    assert!(sent["model"].as_str().unwrap().ends_with(":free"));
    // A paid model's free variant; a paid model without one is refused in Anthropic's words.
    let variant = r#"{"model":"meta-llama/llama-3.3-70b-instruct","max_tokens":64,"messages":[{"role":"user","content":"x"}]}"#;
    assert_eq!(post_messages(proxy.addr, variant, &[]).status, 200);
    let sent: Value = serde_json::from_slice(&proxy.fake.model_calls()[2].body).unwrap();
    assert_eq!(sent["model"], "meta-llama/llama-3.3-70b-instruct:free");
    let paid = r#"{"model":"anthropic/claude-sonnet-4","max_tokens":64,"messages":[{"role":"user","content":"x"}]}"#;
    let r = post_messages(proxy.addr, paid, &[]);
    let message = expect_anthropic_error(&r, 400, "invalid_request_error");
    assert!(message.contains("not a free model"), "{message}");
    assert_eq!(r.header("x-should-retry"), Some("false"));
    assert_eq!(proxy.fake.model_calls().len(), 3);
}

#[test]
fn max_tokens_is_capped_to_the_models_limit_and_filled_when_missing() {
    let proxy = start(&[]);
    // openai/gpt-oss-20b:free: context 131072, output limit 8192 in the real list.
    let pinned = |max: &str| {
        format!(
            r#"{{"model":"openai/gpt-oss-20b:free",{max}"messages":[{{"role":"user","content":"Hi"}}]}}"#
        )
    };
    let r = post_messages(proxy.addr, &pinned(r#""max_tokens":10000000,"#), &[]);
    assert_eq!(r.status, 200, "{}", r.text());
    let capped: u64 = r.header("X-Proxy-Max-Tokens").unwrap().parse().unwrap();
    assert_eq!(capped, 8192);
    let sent: Value = serde_json::from_slice(&proxy.fake.model_calls()[0].body).unwrap();
    assert_eq!(sent["max_tokens"], capped);
    // Missing: filled in (Anthropic requires it).
    let r = post_messages(proxy.addr, &pinned(""), &[]);
    assert_eq!(r.status, 200);
    let sent: Value = serde_json::from_slice(&proxy.fake.model_calls()[1].body).unwrap();
    assert_eq!(sent["max_tokens"], 8192);
    // A thinking budget the lowered limit no longer holds is lowered with it.
    let thinking =
        pinned(r#""max_tokens":10000000,"thinking":{"type":"enabled","budget_tokens":9000000},"#);
    post_messages(proxy.addr, &thinking, &[]);
    let sent: Value = serde_json::from_slice(&proxy.fake.model_calls()[2].body).unwrap();
    assert_eq!(sent["max_tokens"], 8192);
    assert_eq!(sent["thinking"]["budget_tokens"], 4096, "{sent}");
}

#[test]
fn a_stream_passes_through_with_its_event_lines_and_no_done_added() {
    let proxy = start(&[]);
    proxy.fake.push(capture(SSE_TEXT));
    let r = post_messages(proxy.addr, HELLO_MESSAGES_STREAM, &[]);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("Content-Type"), Some("text/event-stream"));
    // Byte for byte: the capture's events and comments, up to `message_stop`; OpenRouter's
    // trailing `[DONE]`, which Anthropic's protocol does not have, is left out.
    assert_eq!(r.text(), without_done(SSE_TEXT));
    assert!(!r.text().contains("[DONE]"));
}

#[test]
fn stream_events_leave_one_by_one_as_they_arrive() {
    let proxy = start(&[]);
    let events: Vec<String> = SSE_TEXT
        .split("\n\n")
        .filter(|e| !e.is_empty())
        .map(|e| format!("{e}\n\n"))
        .collect();
    let count = events.len();
    proxy.fake.push(Script::Stream {
        events,
        gap: Duration::from_millis(40),
        end: StreamEnd::Complete,
    });
    let mut conn = Conn::open(proxy.addr);
    conn.send(
        "POST",
        "/v1/messages",
        &[("Content-Type", "application/json"), ANTHROPIC],
        HELLO_MESSAGES_STREAM.as_bytes(),
    );
    conn.read_head();
    let mut chunks = Vec::new();
    while let Some((chunk, _)) = conn.read_chunk() {
        chunks.push(String::from_utf8(chunk).unwrap());
    }
    // Each event is its own chunk, those held back until the answer began included; the
    // trailing `[DONE]` is left out.
    assert_eq!(chunks.len(), count - 1, "{chunks:?}");
    assert!(
        chunks.iter().all(|c| c.matches("\n\n").count() == 1),
        "{chunks:?}"
    );
}

#[test]
fn a_failure_before_the_answer_begins_is_retried_after_it_ends_in_anthropics_error_event() {
    let proxy = start(&[("RETRY_POLICY", "smart")]);
    // An HTTP 429, then an error event after message_start: both before the answer.
    let anthropic_429 = json!({"type": "error", "error": {"type": "rate_limit_error",
        "message": "Provider returned error"}, "metadata": {"raw": "x/y:free is temporarily rate-limited upstream"}});
    proxy
        .fake
        .push(Script::json(429, anthropic_429.to_string()));
    let r = post_messages(proxy.addr, HELLO_MESSAGES_STREAM, &[]);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("X-Proxy-Attempts"), Some("2"));

    let start = SSE_TEXT.split("\n\n").nth(2).unwrap();
    proxy.fake.push(Script::events(vec![
        format!("{start}\n\n"),
        "event: ping\ndata: {\"type\":\"ping\"}\n\n".into(),
        "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n".into(),
    ]));
    let r = post_messages(proxy.addr, HELLO_MESSAGES_STREAM, &[]);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("X-Proxy-Attempts"), Some("2"));
    assert!(
        !r.text().contains("Overloaded"),
        "the failed attempt never reached the client"
    );

    // After the answer began: the stream ends with Anthropic's error event.
    let text_only: Vec<String> = SSE_TEXT
        .split("\n\n")
        .take(5)
        .map(|e| format!("{e}\n\n"))
        .collect();
    proxy
        .fake
        .push(Script::events(text_only).ending(StreamEnd::Drop));
    let r = post_messages(proxy.addr, HELLO_MESSAGES_STREAM, &[]);
    let last = events(&r).pop().unwrap();
    assert_eq!(last.0.as_deref(), Some("error"));
    let data: Value = serde_json::from_str(&last.1).unwrap();
    assert_eq!(data["type"], "error");
    assert_eq!(data["error"]["type"], "api_error");
    assert!(
        data["error"]["message"]
            .as_str()
            .unwrap()
            .contains("OpenRouter")
    );
    assert!(!r.text().contains("[DONE]"));
}

#[test]
fn every_error_the_proxy_makes_is_in_anthropics_shape() {
    let proxy = start(&[
        ("PROXY_API_KEY", "local-secret"),
        ("MAX_BODY_BYTES", "2000"),
    ]);
    let key = ("x-api-key", "local-secret");
    let r = post_messages(proxy.addr, HELLO_MESSAGES, &[]);
    expect_anthropic_error(&r, 401, "authentication_error");
    let r = post_messages(proxy.addr, "{", &[key]);
    expect_anthropic_error(&r, 400, "invalid_request_error");
    let r = post_messages(proxy.addr, r#"{"max_tokens":5}"#, &[key]);
    let message = expect_anthropic_error(&r, 400, "invalid_request_error");
    assert!(message.contains("'messages' is required"), "{message}");
    let big = format!(
        r#"{{"messages":[{{"role":"user","content":"{}"}}]}}"#,
        "x".repeat(3000)
    );
    let r = post_messages(proxy.addr, &big, &[key]);
    expect_anthropic_error(&r, 413, "request_too_large");
    let r = request(proxy.addr, "GET", "/v1/messages", &[key], b"");
    expect_anthropic_error(&r, 405, "invalid_request_error");
    let r = request(proxy.addr, "POST", "/v1/messages/batches", &[key], b"");
    expect_anthropic_error(&r, 404, "not_found_error");
    let r = request(
        proxy.addr,
        "POST",
        "/v1/messages",
        &[("Host", "evil.example"), key],
        b"",
    );
    expect_anthropic_error(&r, 403, "permission_error");
    // OpenRouter's own errors too, with their status, headers and useful text first.
    proxy
        .fake
        .push(Script::json(429, ERR_PROVIDER_RATE_LIMITED).with_header("Retry-After", "9"));
    let r = post_messages(proxy.addr, HELLO_MESSAGES, &[key]);
    let message = expect_anthropic_error(&r, 429, "rate_limit_error");
    assert!(
        message.starts_with("deepseek/deepseek-v4-pro-0813 is temporarily"),
        "{message}"
    );
    assert_eq!(r.header("Retry-After"), Some("9"));
    assert_eq!(r.header("x-should-retry"), Some("false"));
    proxy
        .fake
        .push(Script::json(502, "<html>bad gateway</html>"));
    let r = post_messages(proxy.addr, HELLO_MESSAGES, &[key]);
    expect_anthropic_error(&r, 502, "api_error");
    proxy.fake.push(Script::json(
        529,
        r#"{"error":{"message":"Overloaded","code":529}}"#,
    ));
    let r = post_messages(proxy.addr, HELLO_MESSAGES, &[key]);
    expect_anthropic_error(&r, 529, "overloaded_error");
    // The proxy's own refusals: every key resting after the per-minute limit.
    proxy.fake.push(Script::json(429, ERR_PER_MIN));
    post_messages(proxy.addr, HELLO_MESSAGES, &[key]);
    let r = post_messages(proxy.addr, HELLO_MESSAGES, &[key]);
    expect_anthropic_error(&r, 429, "rate_limit_error");
    assert!(r.header("Retry-After").is_some());
}

#[test]
fn anthropic_clients_authenticate_their_way_and_their_credentials_stay_here() {
    let proxy = start(&[("PROXY_API_KEY", "local-secret")]);
    let beta = ("anthropic-beta", "interleaved-thinking-2025-05-14");
    for auth in [
        ("x-api-key", "local-secret"),
        ("Authorization", "Bearer local-secret"),
    ] {
        let r = post_messages(proxy.addr, HELLO_MESSAGES, &[auth, beta]);
        assert_eq!(r.status, 200, "{auth:?}: {}", r.text());
    }
    let r = post_messages(proxy.addr, HELLO_MESSAGES, &[("x-api-key", "wrong")]);
    let message = expect_anthropic_error(&r, 401, "authentication_error");
    assert!(message.contains("x-api-key"), "{message}");
    for call in proxy.fake.model_calls() {
        assert_eq!(
            call.header("Authorization"),
            Some(format!("Bearer {KEY}").as_str())
        );
        assert_eq!(call.header("x-api-key"), None);
        assert_eq!(call.header("anthropic-version"), Some("2023-06-01"));
        assert_eq!(
            call.header("anthropic-beta"),
            Some("interleaved-thinking-2025-05-14")
        );
    }
    // The key works on the other routes too.
    let models = request(
        proxy.addr,
        "GET",
        "/v1/models",
        &[("x-api-key", "local-secret")],
        b"",
    );
    assert_eq!(models.status, 200);
}

#[test]
fn count_tokens_is_answered_here_without_a_call() {
    let proxy = start(&[]);
    let body = json!({"model": "auto", "system": "You are terse.", "messages": [
        {"role": "user", "content": "Count the tokens of this sentence, please."}
    ]});
    let r = request(
        proxy.addr,
        "POST",
        "/v1/messages/count_tokens",
        &[("Content-Type", "application/json"), ANTHROPIC],
        body.to_string().as_bytes(),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let counted = r.json();
    let n = counted["input_tokens"].as_u64().unwrap();
    assert!((15..40).contains(&n), "{counted}");
    assert_eq!(counted.as_object().unwrap().len(), 1);
    assert!(proxy.fake.model_calls().is_empty());
    let r = request(
        proxy.addr,
        "POST",
        "/messages/count_tokens",
        &[("Content-Type", "application/json")],
        b"{}",
    );
    expect_anthropic_error(&r, 400, "invalid_request_error");
}

#[test]
fn an_answer_that_only_thought_gets_a_text_block() {
    let proxy = start(&[]);
    let thinking = json!({"id": "gen-1", "type": "message", "role": "assistant", "model": "m:free",
        "content": [{"type": "thinking", "thinking": "The answer is 4.", "signature": ""}],
        "stop_reason": "end_turn", "usage": {"input_tokens": 5, "output_tokens": 9}});
    proxy.fake.push(Script::json(200, thinking.to_string()));
    let body = post_messages(proxy.addr, HELLO_MESSAGES, &[]).json();
    assert_eq!(
        body["content"][1],
        json!({"type": "text", "text": "The answer is 4."})
    );

    // In a stream: a text block before message_delta; a tool use needs none.
    let thought_only: String = SSE_THINKING_TOOL
        .split("\n\n")
        .filter(|e| !e.contains("\"index\":1"))
        .map(|e| format!("{e}\n\n"))
        .collect();
    proxy
        .fake
        .push(capture(thought_only.trim_end_matches('\n')));
    let r = post_messages(proxy.addr, HELLO_MESSAGES_STREAM, &[]);
    let all = events(&r);
    let added = all
        .iter()
        .position(|(_, d)| d.contains(r#""text":"The user wants""#))
        .expect("a text delta");
    let delta = all
        .iter()
        .position(|(n, _)| n.as_deref() == Some("message_delta"))
        .unwrap();
    assert!(added < delta);
    assert_eq!(all[added].0.as_deref(), Some("content_block_delta"));
    proxy.fake.push(capture(SSE_THINKING_TOOL));
    let r = post_messages(proxy.addr, HELLO_MESSAGES_STREAM, &[]);
    assert_eq!(
        r.text(),
        without_done(SSE_THINKING_TOOL),
        "a tool use is an answer: nothing added"
    );
}

#[test]
fn a_claude_code_turn_goes_through_with_its_tools_to_a_tool_capable_model() {
    let proxy = start(&[]);
    // The shape Claude Code sends: system blocks with cache_control, tools, metadata, stream.
    let body = json!({
        "model": "auto", "max_tokens": 32000, "stream": true, "temperature": 1,
        "system": [
            {"type": "text", "text": "You are Claude Code, Anthropic's official CLI for Claude.",
             "cache_control": {"type": "ephemeral"}},
            {"type": "text", "text": "You are an interactive agent that helps users with software engineering tasks."}
        ],
        "messages": [{"role": "user", "content": [
            {"type": "text", "text": "List the files here.", "cache_control": {"type": "ephemeral"}}
        ]}],
        "tools": [{"name": "Bash", "description": "Runs a shell command",
            "input_schema": {"type": "object", "properties": {"command": {"type": "string"}},
                             "required": ["command"]}}],
        "metadata": {"user_id": "user_abc_account__session_123"}
    });
    let mut conn = Conn::open(proxy.addr);
    conn.send(
        "POST",
        "/v1/messages?beta=true",
        &[
            ("Content-Type", "application/json"),
            ANTHROPIC,
            (
                "anthropic-beta",
                "claude-code-20250219,interleaved-thinking-2025-05-14",
            ),
            ("Authorization", "Bearer anything"),
            ("x-app", "cli"),
        ],
        body.to_string().as_bytes(),
    );
    let r = conn.read_response();
    assert_eq!(r.status, 200, "{}", r.text());
    let sent: Value = serde_json::from_slice(&proxy.fake.model_calls()[0].body).unwrap();
    let chosen = sent["model"].as_str().unwrap();
    let catalog = openrouter_proxy::Snapshot::from_list(
        &serde_json::from_str(openrouter_proxy::demo::MODELS_JSON).unwrap(),
        None,
    )
    .unwrap();
    assert!(catalog.get(chosen).unwrap().supports("tools"), "{chosen}");
    assert_eq!(sent["system"], body["system"]);
    // The fake calls the tool; the client sees Anthropic's tool_use block stream.
    let all = events(&r);
    assert!(
        all.iter().any(|(_, d)| d.contains(r#""type":"tool_use""#)),
        "{}",
        r.text()
    );
    assert!(
        all.iter()
            .any(|(n, _)| n.as_deref() == Some("message_stop"))
    );
}

#[test]
fn debug_mode_records_each_call_with_its_route_and_masks_the_clients_key() {
    let dir = scratch_dir();
    let switch = dir.join("DEBUG_MODE.txt");
    std::fs::write(&switch, "").unwrap();
    let cache = dir.join("cache");
    let proxy = start(&[
        ("CACHE_DIR", cache.to_str().unwrap()),
        ("DEBUG_MODE_FILE", switch.to_str().unwrap()),
    ]);
    proxy.fake.push(capture(SSE_TEXT));
    let client_key = ("x-api-key", "sk-ant-client-secret-0123456789");
    let r = post_messages(proxy.addr, HELLO_MESSAGES_STREAM, &[client_key]);
    assert_eq!(r.status, 200);
    let r = request(
        proxy.addr,
        "POST",
        "/v1/responses",
        &[("Content-Type", "application/json")],
        br#"{"input":"Hi"}"#,
    );
    assert_eq!(r.status, 200);
    assert!(eventually(Duration::from_secs(5), || {
        get(proxy.addr, "/debug/calls").json()["total"] == 2
    }));
    let calls = get(proxy.addr, "/debug/calls").json();
    let routes: Vec<&str> = calls["calls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["route"].as_str().unwrap())
        .collect();
    assert!(
        routes.contains(&"messages") && routes.contains(&"responses"),
        "{calls}"
    );
    let messages = calls["calls"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["route"] == "messages")
        .unwrap();
    assert_eq!(messages["outcome"], "success");
    assert_eq!(
        messages["prompt_tokens"], 8,
        "usage read from message_delta"
    );
    let name = messages["capture"].as_str().unwrap();
    let capture = get(proxy.addr, &format!("/debug/capture/{name}"));
    let text = capture.text();
    assert!(!text.contains("sk-ant-client-secret"), "{text}");
    let capture = capture.json();
    assert_eq!(capture["request"]["route"], "messages");
    assert_eq!(capture["request"]["path"], "/v1/messages");
    assert_eq!(capture["response"]["text"], "Hello");
    assert!(
        capture["response"]["events"]
            .as_str()
            .unwrap()
            .contains("event: message_stop")
    );
}

#[test]
fn the_http_edges_own_refusals_speak_anthropic_on_its_routes() {
    let proxy = start(&[]);
    let smuggling = |path: &str| {
        let mut conn = Conn::open(proxy.addr);
        conn.send_raw(
            format!(
                "POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\n\
                 Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
            )
            .as_bytes(),
        );
        conn.read_response()
    };
    let r = smuggling("/v1/messages?beta=true");
    expect_anthropic_error(&r, 400, "invalid_request_error");
    assert_eq!(r.header("x-should-retry"), Some("false"));
    smuggling("/v1/chat/completions").expect_error(400);
}

#[test]
fn paid_models_cannot_sneak_in_through_anthropics_fallbacks() {
    let proxy = start(&[]);
    let body = json!({"model": "auto", "max_tokens": 64,
        "fallbacks": [{"model": "anthropic/claude-opus-4"}],
        "messages": [{"role": "user", "content": "x"}]});
    let r = post_messages(proxy.addr, &body.to_string(), &[]);
    let message = expect_anthropic_error(&r, 400, "invalid_request_error");
    assert!(message.starts_with("fallbacks[0]:"), "{message}");
    assert!(proxy.fake.model_calls().is_empty());
}
