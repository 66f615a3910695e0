//! Issue 13, OpenAI's Responses API (`POST /v1/responses`: Codex CLI, the Agents SDK, the
//! Vercel AI SDK's default provider) on free models: the same autopilot as chat completions,
//! `max_output_tokens` as the output limit, streams passed through as OpenRouter sends them,
//! errors in OpenAI's shape.

use std::time::Duration;

use openrouter_proxy::demo::{ERR_PROVIDER_RATE_LIMITED, Script, StreamEnd};
use serde_json::{Value, json};

use crate::common::*;

const SSE_CODEX: &str =
    include_str!("../fixtures/openrouter/responses/text_gpt-5.6-sol_codex_2026-08.sse");
const HELLO_RESPONSES: &str = r#"{"model":"auto","input":"Hi"}"#;
const HELLO_RESPONSES_STREAM: &str = r#"{"model":"auto","stream":true,"input":"Hi"}"#;

fn post_responses(addr: std::net::SocketAddr, body: &str) -> Response {
    request(
        addr,
        "POST",
        "/v1/responses",
        &[("Content-Type", "application/json")],
        body.as_bytes(),
    )
}

/// The `data:` payloads of a stream (named events too), parsed, `[DONE]` left out.
fn data(r: &Response) -> Vec<Value> {
    r.text()
        .split("\n\n")
        .filter_map(|block| block.lines().find_map(|l| l.strip_prefix("data: ")))
        .filter(|d| *d != "[DONE]")
        .map(|d| serde_json::from_str(d).unwrap())
        .collect()
}

#[test]
fn a_response_is_served_by_a_free_model_with_the_proxys_headers() {
    let proxy = start(&[]);
    for path in ["/v1/responses", "/responses"] {
        let r = request(
            proxy.addr,
            "POST",
            path,
            &[("Content-Type", "application/json")],
            HELLO_RESPONSES.as_bytes(),
        );
        assert_eq!(r.status, 200, "{path}: {}", r.text());
        let body = r.json();
        assert_eq!(body["object"], "response");
        assert_eq!(body["output"][0]["content"][0]["type"], "output_text");
        assert!(r.header("X-Proxy-Model").unwrap().ends_with(":free"));
        assert_eq!(r.header("X-Proxy-Attempts"), Some("1"));
    }
    let calls = proxy.fake.model_calls();
    assert!(calls.iter().all(|c| c.path == "/api/v1/responses"));
    let sent: Value = serde_json::from_slice(&calls[0].body).unwrap();
    assert_eq!(sent["input"], "Hi");
    // The output limit is `max_output_tokens`, filled in and capped like chat's.
    let sent_limit = sent["max_output_tokens"].as_u64().unwrap();
    assert!(sent_limit > 1000, "{sent}");
    assert!(sent.get("max_tokens").is_none());
    let pinned = r#"{"model":"openai/gpt-oss-20b:free","input":"Hi","max_output_tokens":99999999}"#;
    let r = post_responses(proxy.addr, pinned);
    assert_eq!(r.header("X-Proxy-Max-Tokens"), Some("8192"));
    let sent: Value = serde_json::from_slice(&proxy.fake.model_calls()[2].body).unwrap();
    assert_eq!(sent["max_output_tokens"], 8192);
}

#[test]
fn errors_are_in_openais_shape() {
    let proxy = start(&[]);
    let error = post_responses(proxy.addr, r#"{"model":"auto"}"#).expect_error(400);
    assert_eq!(error["param"], "input");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("'input' is required")
    );
    let error =
        post_responses(proxy.addr, r#"{"model":"openai/gpt-4o","input":"x"}"#).expect_error(400);
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("not a free model")
    );
    proxy
        .fake
        .push(Script::json(429, ERR_PROVIDER_RATE_LIMITED));
    let r = post_responses(proxy.addr, HELLO_RESPONSES);
    let error = r.expect_error(429);
    assert_eq!(error["type"], "rate_limit_error");
    assert!(r.header("Retry-After").is_some());
    assert_eq!(r.header("x-should-retry"), Some("false"));
    assert!(proxy.fake.model_calls().len() == 1);
}

#[test]
fn a_stream_passes_through_as_openrouter_sent_it() {
    let proxy = start(&[]);
    proxy
        .fake
        .push(Script::stream_fixture(SSE_CODEX, Duration::ZERO));
    let r = post_responses(proxy.addr, HELLO_RESPONSES_STREAM);
    assert_eq!(r.status, 200);
    assert_eq!(
        r.text(),
        SSE_CODEX,
        "byte for byte, OpenRouter's [DONE] its own"
    );
    let text: String = data(&r)
        .iter()
        .filter(|e| e["type"] == "response.output_text.delta")
        .filter_map(|e| e["delta"].as_str().map(str::to_string))
        .collect();
    assert_eq!(text, "Two memory-safety bugs:\n\n");
}

#[test]
fn a_failure_before_the_answer_begins_is_retried_after_it_ends_in_response_failed() {
    let proxy = start(&[("RETRY_POLICY", "smart")]);
    let events: Vec<String> = SSE_CODEX
        .split("\n\n")
        .filter(|e| !e.is_empty())
        .map(|e| format!("{e}\n\n"))
        .collect();
    // `response.created`, then the provider fails: the client has nothing yet.
    let failed = json!({"type": "response.failed", "sequence_number": 1, "response": {
        "id": "gen-x", "status": "failed", "output": [],
        "error": {"code": "rate_limit_exceeded", "message": "x/y:free is temporarily rate-limited upstream"}}});
    proxy.fake.push(Script::events(vec![
        events[2].clone(),
        format!("data: {failed}\n\n"),
    ]));
    let r = post_responses(proxy.addr, HELLO_RESPONSES_STREAM);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("X-Proxy-Attempts"), Some("2"));
    assert!(
        !r.text().contains("gen-x"),
        "the failed attempt never reached the client"
    );

    // After the answer began: `error`, then `response.failed`.
    proxy
        .fake
        .push(Script::events(events[..9].to_vec()).ending(StreamEnd::Drop));
    let r = post_responses(proxy.addr, HELLO_RESPONSES_STREAM);
    let all = data(&r);
    let n = all.len();
    assert_eq!(all[n - 2]["type"], "error");
    assert_eq!(all[n - 2]["code"], "stream_interrupted");
    assert_eq!(all[n - 1]["type"], "response.failed");
    assert_eq!(all[n - 1]["response"]["status"], "failed");
    assert!(r.text().contains("event: response.failed\n"));
    assert!(!r.text().contains("[DONE]"), "no [DONE] added");
}

#[test]
fn an_answer_that_only_reasoned_gets_an_output_text_message() {
    let proxy = start(&[]);
    let whole = json!({"id": "resp_1", "object": "response", "status": "completed", "error": null,
        "model": "m:free", "output": [{"type": "reasoning", "id": "rs_1", "summary": [],
            "content": [{"type": "reasoning_text", "text": "It is 4."}]}],
        "usage": {"input_tokens": 3, "output_tokens": 5}});
    proxy.fake.push(Script::json(200, whole.to_string()));
    let body = post_responses(proxy.addr, HELLO_RESPONSES).json();
    assert_eq!(body["output"][1]["type"], "message");
    assert_eq!(body["output"][1]["content"][0]["text"], "It is 4.");

    let created = SSE_CODEX.split("\n\n").nth(2).unwrap();
    proxy.fake.push(Script::events(vec![
        format!("{created}\n\n"),
        "data: {\"type\":\"response.output_item.added\",\"output_index\":0,\"item\":{\"id\":\"rs_1\",\"type\":\"reasoning\",\"summary\":[]},\"sequence_number\":1}\n\n".into(),
        "data: {\"type\":\"response.reasoning_text.delta\",\"output_index\":0,\"item_id\":\"rs_1\",\"content_index\":0,\"delta\":\"It is 4.\",\"sequence_number\":2}\n\n".into(),
        "data: {\"type\":\"response.completed\",\"response\":{\"id\":\"gen-1\",\"status\":\"completed\",\"output\":[{\"type\":\"reasoning\",\"id\":\"rs_1\",\"summary\":[]}],\"usage\":{\"input_tokens\":3,\"output_tokens\":5}},\"sequence_number\":3}\n\n".into(),
        "data: [DONE]\n\n".into(),
    ]));
    let r = post_responses(proxy.addr, HELLO_RESPONSES_STREAM);
    let all = data(&r);
    let completed = all.last().unwrap();
    assert_eq!(completed["type"], "response.completed");
    assert_eq!(
        completed["response"]["output"][1]["content"][0]["text"],
        "It is 4."
    );
    assert!(
        all.iter()
            .any(|e| e["type"] == "response.output_text.delta" && e["delta"] == "It is 4.")
    );
    assert!(r.text().ends_with("data: [DONE]\n\n"));
}

#[test]
fn a_codex_turn_with_tools_reaches_a_tool_capable_model() {
    let proxy = start(&[]);
    // The shape Codex CLI sends (see the fixture's README): instructions, input items, flat
    // function tools, reasoning, store false, a stream.
    let body = json!({
        "model": "auto", "instructions": "You are Codex, a coding agent.",
        "input": [{"type": "message", "role": "user",
                   "content": [{"type": "input_text", "text": "list the files"}]}],
        "tools": [{"type": "function", "name": "exec_command", "strict": false,
                   "description": "Runs a command in a PTY",
                   "parameters": {"type": "object", "properties": {"cmd": {"type": "string"}},
                                  "required": ["cmd"]}}],
        "tool_choice": "auto", "parallel_tool_calls": false,
        "reasoning": {"effort": "high", "summary": "auto"}, "store": false, "stream": true,
        "include": ["reasoning.encrypted_content"], "prompt_cache_key": "abc"
    });
    let r = post_responses(proxy.addr, &body.to_string());
    assert_eq!(r.status, 200, "{}", r.text());
    let sent: Value = serde_json::from_slice(&proxy.fake.model_calls()[0].body).unwrap();
    let catalog = openrouter_proxy::Snapshot::from_list(
        &serde_json::from_str(openrouter_proxy::demo::MODELS_JSON).unwrap(),
        None,
    )
    .unwrap();
    let chosen = sent["model"].as_str().unwrap();
    assert!(catalog.get(chosen).unwrap().supports("tools"), "{chosen}");
    let all = data(&r);
    let call = all
        .iter()
        .find(|e| e["type"] == "response.output_item.done")
        .unwrap();
    assert_eq!(call["item"]["type"], "function_call");
    assert_eq!(call["item"]["name"], "exec_command");
    assert_eq!(all.last().unwrap()["type"], "response.completed");
}
