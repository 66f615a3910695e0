//! Issue 2, the foundation: routes, forwarding, live streaming, errors, the concurrency limit,
//! disconnects and the proxy key.

use std::thread;
use std::time::{Duration, Instant};

use openrouter_proxy::demo::{
    ERR_NO_CREDITS, ERR_NO_ENDPOINTS, ERR_PER_DAY, SSE_LFM, SSE_LING_REASONING, Script, StreamEnd,
    chunk_event,
};
use serde_json::json;

use crate::common::*;

#[test]
fn health_reports_version_uptime_and_key() {
    let proxy = start(&[]);
    let r = get(proxy.addr, "/health");
    assert_eq!(r.status, 200);
    let body = r.json();
    assert_eq!(body["status"], "ok");
    assert_eq!(body["version"], env!("CARGO_PKG_VERSION"));
    assert!(body["uptime_seconds"].is_u64());
    assert_eq!(body["openrouter_key_configured"], true);
    assert_eq!(body["concurrency"]["limit"], 5);
}

#[test]
fn without_a_key_the_server_starts_and_chat_says_what_to_set() {
    let proxy = start(&[("OPENROUTER_API_KEY", "")]);
    let health = get(proxy.addr, "/health").json();
    assert_eq!(health["openrouter_key_configured"], false);
    assert!(
        health["warning"]
            .as_str()
            .unwrap()
            .contains("OPENROUTER_API_KEY")
    );
    let error = post_chat(proxy.addr, HELLO).expect_error(401);
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("OPENROUTER_API_KEY")
    );
    assert!(error["message"].as_str().unwrap().contains(".env"));
    assert!(proxy.fake.chat_requests().is_empty());
}

#[test]
fn unknown_paths_get_404_and_wrong_methods_405() {
    let proxy = start(&[]);
    let r = get(proxy.addr, "/v1/nothing");
    let error = r.expect_error(404);
    assert_eq!(error["type"], "not_found_error");
    let r = request(proxy.addr, "GET", "/v1/chat/completions", &[], b"");
    r.expect_error(405);
    assert_eq!(r.header("Allow"), Some("POST"));
    let r = request(proxy.addr, "DELETE", "/health", &[], b"");
    r.expect_error(405);
    assert_eq!(r.header("Allow"), Some("GET"));
}

#[test]
fn a_chat_is_forwarded_as_sent_with_our_key_and_attribution() {
    // Smart max_tokens would add a field (see max_tokens.rs); without it, the bytes are the client's.
    let proxy = start(&[("X_TITLE", "my-tools"), ("SMART_MAX_TOKENS", "false")]);
    let body = r#"{"model":"meta-llama/llama-3.3-70b-instruct:free","temperature":0.2,"messages":[{"role":"user","content":"Hi"}]}"#;
    let r = request(
        proxy.addr,
        "POST",
        "/v1/chat/completions",
        &[
            ("Content-Type", "application/json"),
            ("Authorization", "Bearer client-own-token"),
        ],
        body.as_bytes(),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let answer = r.json();
    assert_eq!(
        answer["choices"][0]["message"]["content"],
        "Hello! How can I help you today?"
    );
    assert_eq!(answer["model"], "meta-llama/llama-3.3-70b-instruct:free");
    assert_eq!(answer["usage"]["total_tokens"], 25);
    assert_eq!(
        answer["provider"], "Fake",
        "OpenRouter's extra fields are kept"
    );

    let seen = proxy.fake.chat_requests();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].body, body.as_bytes());
    assert_eq!(
        seen[0].header("Authorization"),
        Some(format!("Bearer {KEY}").as_str())
    );
    assert_eq!(seen[0].header("X-Title"), Some("my-tools"));
    assert!(seen[0].header("HTTP-Referer").is_some());
    assert!(
        !seen[0]
            .headers
            .iter()
            .any(|(_, v)| v.contains("client-own-token")),
        "the client's Authorization must not reach OpenRouter"
    );
}

#[test]
fn a_reasoning_only_answer_gets_its_reasoning_as_content() {
    let proxy = start(&[]);
    proxy.fake.push(Script::reasoning_only("The answer is 42."));
    let r = post_chat(proxy.addr, HELLO);
    assert_eq!(r.status, 200);
    let message = &r.json()["choices"][0]["message"];
    assert_eq!(message["content"], "The answer is 42.");
    assert_eq!(message["reasoning"], "The answer is 42.");
}

#[test]
fn streaming_is_live_event_by_event() {
    let proxy = start(&[]);
    let gap = Duration::from_millis(150);
    proxy.fake.push(Script::stream_text(
        &["One", " two", " three", " four"],
        gap,
    ));
    let mut conn = send_chat(proxy.addr, HELLO_STREAM);
    let (status, _, headers) = conn.read_head();
    assert_eq!(status, 200);
    let content_type = headers.iter().find(|(k, _)| k == "Content-Type").unwrap();
    assert_eq!(content_type.1, "text/event-stream");
    let mut arrivals = Vec::new();
    let mut text = String::new();
    while let Some((piece, at)) = conn.read_chunk() {
        text.push_str(&String::from_utf8(piece).unwrap());
        arrivals.push(at);
    }
    let sent = proxy.fake.event_times();
    assert_eq!(sent.len(), 6, "4 parts, a stop event and [DONE]");
    // Each event reached the client before the fake even sent the next one.
    for i in 0..sent.len() - 1 {
        assert!(
            arrivals[i] < sent[i + 1],
            "event {i} arrived only after event {} was sent: buffered",
            i + 1
        );
    }
    assert!(text.contains(r#""content":" four""#));
    assert!(text.ends_with("data: [DONE]\n\n"));

    // The connection stays usable for the next request.
    conn.send("GET", "/health", &[], b"");
    assert_eq!(conn.read_response().status, 200);
}

#[test]
fn a_real_capture_streams_through_with_keepalive_comments() {
    let proxy = start(&[]);
    proxy
        .fake
        .push(Script::stream_fixture(SSE_LFM, Duration::ZERO));
    let r = post_chat(proxy.addr, HELLO_STREAM);
    assert_eq!(r.status, 200);
    let text = r.text();
    assert!(text.contains(": OPENROUTER PROCESSING"));
    let content: String = r
        .data_events()
        .iter()
        .filter(|d| *d != "[DONE]")
        .map(|d| serde_json::from_str::<serde_json::Value>(d).unwrap())
        .filter_map(|v| {
            v["choices"][0]["delta"]["content"]
                .as_str()
                .map(str::to_string)
        })
        .collect();
    assert_eq!(content, "Hello! How can I help you today?");
    assert_eq!(r.data_events().last().unwrap(), "[DONE]");
}

#[test]
fn streamed_reasoning_is_never_mixed_into_content() {
    let proxy = start(&[]);
    proxy
        .fake
        .push(Script::stream_fixture(SSE_LING_REASONING, Duration::ZERO));
    let r = post_chat(proxy.addr, HELLO_STREAM);
    let events: Vec<serde_json::Value> = r
        .data_events()
        .iter()
        .filter(|d| *d != "[DONE]")
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    let content: String = events
        .iter()
        .filter_map(|v| v["choices"][0]["delta"]["content"].as_str())
        .collect();
    let reasoning: String = events
        .iter()
        .filter_map(|v| v["choices"][0]["delta"]["reasoning"].as_str())
        .collect();
    assert!(content.contains("**x = 7**"));
    assert!(reasoning.starts_with("The user is asking me"));
    assert!(!content.contains("user is asking"));
}

#[test]
fn a_reasoning_only_stream_ends_with_the_reasoning_as_content() {
    let proxy = start(&[]);
    let events = vec![
        chunk_event(
            json!({"role":"assistant","content":"","reasoning":"Seven"}),
            None,
        ),
        ": OPENROUTER PROCESSING\n\n".to_string(),
        chunk_event(json!({"content":"","reasoning":" it is."}), Some("stop")),
        "data: [DONE]\n\n".to_string(),
    ];
    proxy.fake.push(Script::events(events));
    let r = post_chat(proxy.addr, HELLO_STREAM);
    let data = r.data_events();
    assert_eq!(data.last().unwrap(), "[DONE]");
    let fallback: serde_json::Value = serde_json::from_str(&data[data.len() - 2]).unwrap();
    assert_eq!(fallback["choices"][0]["delta"]["content"], "Seven it is.");
}

#[test]
fn a_stream_cut_mid_way_ends_with_an_error_event_and_done() {
    let proxy = start(&[]);
    proxy
        .fake
        .push(Script::stream_text(&["Hel", "lo"], Duration::ZERO).ending(StreamEnd::Drop));
    // Drop the stop event and [DONE] so the cut comes mid-answer.
    let r = post_chat(proxy.addr, HELLO_STREAM);
    assert_eq!(r.status, 200);
    let data = r.data_events();
    assert_eq!(data.last().unwrap(), "[DONE]");
    // The fake sent its stop and [DONE] before dropping, so this stream was complete:
    assert!(!r.text().contains("stream_interrupted"));

    let proxy = start(&[]);
    let events = vec![
        chunk_event(json!({"content":"Hel"}), None),
        chunk_event(json!({"content":"lo"}), None),
    ];
    proxy.fake.push(Script::Stream {
        events,
        gap: Duration::ZERO,
        end: StreamEnd::Drop,
    });
    let r = post_chat(proxy.addr, HELLO_STREAM);
    let data = r.data_events();
    assert_eq!(data.last().unwrap(), "[DONE]");
    let error: serde_json::Value = serde_json::from_str(&data[data.len() - 2]).unwrap();
    assert_eq!(error["error"]["code"], "stream_interrupted");
    assert_eq!(error["choices"][0]["finish_reason"], "error");
}

#[test]
fn an_upstream_error_event_mid_stream_reaches_the_client_then_done() {
    let proxy = start(&[]);
    let events = vec![
        chunk_event(json!({"content":"Hel"}), None),
        "data: {\"error\":{\"message\":\"Provider disconnected\",\"code\":502},\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"error\"}]}\n\n".to_string(),
    ];
    proxy.fake.push(Script::events(events));
    let r = post_chat(proxy.addr, HELLO_STREAM);
    let data = r.data_events();
    assert_eq!(data.len(), 3, "{data:?}");
    assert!(data[1].contains("Provider disconnected"));
    assert_eq!(data[2], "[DONE]");
}

#[test]
fn a_stream_that_goes_silent_hits_the_idle_timeout() {
    let proxy = start(&[("UPSTREAM_IDLE_TIMEOUT", "300ms")]);
    let events = vec![chunk_event(json!({"content":"Hel"}), None)];
    proxy.fake.push(Script::Stream {
        events,
        gap: Duration::ZERO,
        end: StreamEnd::Stall,
    });
    let start = Instant::now();
    let r = post_chat(proxy.addr, HELLO_STREAM);
    assert!(start.elapsed() < Duration::from_secs(5));
    let data = r.data_events();
    assert!(data[1].contains("went silent"), "{data:?}");
    assert_eq!(data.last().unwrap(), "[DONE]");
    assert!(eventually(Duration::from_secs(2), || proxy
        .state
        .limiter
        .usage()
        .in_flight
        == 0));
}

#[test]
fn upstream_error_statuses_pass_through_with_message_and_metadata() {
    let proxy = start(&[]);
    proxy.fake.push(Script::json(402, ERR_NO_CREDITS));
    let error = post_chat(proxy.addr, HELLO).expect_error(402);
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("Insufficient credits")
    );

    proxy.fake.push(Script::json(404, ERR_NO_ENDPOINTS));
    let error = post_chat(proxy.addr, HELLO_STREAM).expect_error(404);
    assert!(error["message"].as_str().unwrap().contains("data policy"));

    // Last: after this the only key is out of quota for the day.
    proxy
        .fake
        .push(Script::json(429, ERR_PER_DAY).with_header("Retry-After", "120"));
    let r = post_chat(proxy.addr, HELLO);
    let error = r.expect_error(429);
    assert_eq!(r.header("Retry-After"), Some("120"));
    assert_eq!(error["type"], "rate_limit_error");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("free-models-per-day")
    );
    assert_eq!(
        error["metadata"]["headers"]["X-RateLimit-Reset"],
        "1790553600000"
    );
}

#[test]
fn a_200_with_an_error_envelope_or_garbage_is_an_error() {
    let proxy = start(&[]);
    proxy.fake.push(Script::json(
        200,
        r#"{"error":{"message":"Provider returned error","code":502}}"#,
    ));
    let error = post_chat(proxy.addr, HELLO).expect_error(502);
    assert_eq!(error["message"], "Provider returned error");

    proxy.fake.push(Script::json(200, "<html>oops</html>"));
    let error = post_chat(proxy.addr, HELLO).expect_error(502);
    assert_eq!(error["code"], "upstream_invalid_response");
}

#[test]
fn unreachable_upstream_is_502_and_a_slow_one_504() {
    // A port nothing listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!("http://{}/api/v1", closed.local_addr().unwrap());
    drop(closed);
    let proxy = start(&[("OPENROUTER_BASE_URL", dead.as_str())]);
    let error = post_chat(proxy.addr, HELLO).expect_error(502);
    assert_eq!(error["code"], "upstream_unreachable");
    assert!(error["message"].as_str().unwrap().contains("refused"));

    let proxy = start(&[("UPSTREAM_RESPONSE_TIMEOUT", "300ms")]);
    proxy.fake.push(Script::Hang);
    let start = Instant::now();
    let error = post_chat(proxy.addr, HELLO).expect_error(504);
    assert!(start.elapsed() < Duration::from_secs(5));
    assert_eq!(error["code"], "upstream_timeout");

    proxy.fake.push(Script::Close);
    post_chat(proxy.addr, HELLO).expect_error(502);
    assert_eq!(proxy.state.limiter.usage().in_flight, 0);
}

#[test]
fn bad_requests_get_400_naming_the_problem() {
    let proxy = start(&[]);
    let cases = [
        ("{\"messages\":", "not valid JSON"),
        ("[1,2]", "JSON object"),
        ("{}", "'messages' is required"),
        (r#"{"messages":[]}"#, "at least one"),
        (r#"{"messages":"hi"}"#, "must be a list"),
        (
            r#"{"stream":"yes","messages":[{"role":"user","content":"x"}]}"#,
            "'stream'",
        ),
        (
            r#"{"model":1,"messages":[{"role":"user","content":"x"}]}"#,
            "'model'",
        ),
        ("", "empty"),
    ];
    for (body, expected) in cases {
        let error = post_chat(proxy.addr, body).expect_error(400);
        let message = error["message"].as_str().unwrap();
        assert!(message.contains(expected), "{body:?} gave {message:?}");
    }
    let r = request(
        proxy.addr,
        "POST",
        "/v1/chat/completions",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        HELLO.as_bytes(),
    );
    let error = r.expect_error(415);
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("application/json")
    );
    assert!(proxy.fake.chat_requests().is_empty());
    assert_eq!(get(proxy.addr, "/health").status, 200);
}

#[test]
fn bodies_over_the_limit_get_413() {
    let proxy = start(&[("MAX_BODY_BYTES", "1000")]);
    // Declared too large: refused from the header alone.
    let mut conn = Conn::open(proxy.addr);
    conn.send_raw(
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 5000\r\n\r\n",
    );
    let r = conn.read_response();
    let error = r.expect_error(413);
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("MAX_BODY_BYTES")
    );

    // Chunked without a length: refused once the limit is passed.
    let mut conn = Conn::open(proxy.addr);
    let chunk = "x".repeat(800);
    let raw = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n320\r\n{chunk}\r\n320\r\n{chunk}\r\n0\r\n\r\n"
    );
    conn.send_raw(raw.as_bytes());
    conn.read_response().expect_error(413);
    assert!(proxy.fake.chat_requests().is_empty());
}

#[test]
fn the_proxy_key_guards_v1_but_not_health() {
    let proxy = start(&[("PROXY_API_KEY", "local-secret-123")]);
    let chat = |auth: Option<&str>| {
        let mut headers = vec![("Content-Type", "application/json")];
        if let Some(a) = auth {
            headers.push(("Authorization", a));
        }
        request(
            proxy.addr,
            "POST",
            "/v1/chat/completions",
            &headers,
            HELLO.as_bytes(),
        )
    };
    let error = chat(None).expect_error(401);
    assert!(error["message"].as_str().unwrap().contains("PROXY_API_KEY"));
    chat(Some("Bearer wrong")).expect_error(401);
    chat(Some("Bearer local-secret-12")).expect_error(401);
    assert_eq!(chat(Some("Bearer local-secret-123")).status, 200);
    // The scheme's name is case-insensitive (RFC 9110), as the console has it too.
    assert_eq!(chat(Some("bearer local-secret-123")).status, 200);
    get(proxy.addr, "/v1/models").expect_error(401);
    let models = request(
        proxy.addr,
        "GET",
        "/v1/models",
        &[("Authorization", "Bearer local-secret-123")],
        b"",
    );
    assert_eq!(models.status, 200);
    assert_eq!(get(proxy.addr, "/health").status, 200);
    // The proxy key is never what goes upstream.
    let seen = proxy.fake.chat_requests();
    assert_eq!(
        seen[0].header("Authorization"),
        Some(format!("Bearer {KEY}").as_str())
    );
}

#[test]
fn models_are_listed_in_openai_format() {
    let proxy = start(&[]);
    let r = get(proxy.addr, "/v1/models");
    assert_eq!(r.status, 200);
    let list = r.json();
    assert_eq!(list["object"], "list");
    let data = list["data"].as_array().unwrap();
    assert_eq!(data.len(), 23, "the 22 :free models and openrouter/free");
    for m in data {
        assert!(m["id"].is_string());
        assert_eq!(m["object"], "model");
        assert!(m["created"].is_u64());
        assert!(m["owned_by"].is_string());
    }
    let free = data
        .iter()
        .find(|m| m["id"] == "openai/gpt-oss-20b:free")
        .unwrap();
    assert_eq!(free["owned_by"], "openai");
    assert!(free["context_length"].is_u64());
    // A second call is served from the catalog.
    get(proxy.addr, "/v1/models");
    let fetched = proxy
        .fake
        .requests()
        .iter()
        .filter(|s| s.path.ends_with("/models"))
        .count();
    assert_eq!(fetched, 1);
}

#[test]
fn at_most_n_calls_reach_the_upstream_and_the_rest_wait_their_turn() {
    let proxy = start(&[("MAX_CONCURRENT_REQUESTS", "2")]);
    for _ in 0..6 {
        proxy
            .fake
            .push(Script::completion("slow").with_delay(Duration::from_millis(200)));
    }
    let clients: Vec<_> = (0..6)
        .map(|_| {
            let addr = proxy.addr;
            thread::spawn(move || post_chat(addr, HELLO).status)
        })
        .collect();
    // While they run, /health answers at once.
    assert!(eventually(Duration::from_secs(5), || proxy.fake.active() == 2));
    let t = Instant::now();
    let health = get(proxy.addr, "/health").json();
    assert!(
        t.elapsed() < Duration::from_millis(1000),
        "/health waited: {:?}",
        t.elapsed()
    );
    assert_eq!(health["concurrency"]["in_flight"], 2);
    let statuses: Vec<u16> = clients.into_iter().map(|c| c.join().unwrap()).collect();
    assert_eq!(statuses, vec![200; 6]);
    assert_eq!(proxy.fake.peak_concurrency(), 2);
}

#[test]
fn streams_hold_their_slot_and_the_queue_times_out_with_503() {
    let proxy = start(&[("MAX_CONCURRENT_REQUESTS", "1"), ("QUEUE_TIMEOUT", "300ms")]);
    proxy.fake.push(Script::stream_text(
        &["a", "b", "c", "d", "e"],
        Duration::from_millis(200),
    ));
    let addr = proxy.addr;
    let streaming = thread::spawn(move || post_chat(addr, HELLO_STREAM));
    assert!(eventually(Duration::from_secs(2), || proxy.fake.active() == 1));
    let r = post_chat(proxy.addr, HELLO);
    let error = r.expect_error(503);
    assert_eq!(error["code"], "queue_timeout");
    assert!(r.header("Retry-After").is_some());
    assert_eq!(streaming.join().unwrap().status, 200);
    assert_eq!(proxy.fake.peak_concurrency(), 1);
    assert_eq!(post_chat(proxy.addr, HELLO).status, 200);
}

#[test]
fn a_client_leaving_mid_stream_closes_the_upstream_and_frees_the_slot() {
    let proxy = start(&[("MAX_CONCURRENT_REQUESTS", "1")]);
    let parts: Vec<String> = (0..200).map(|i| format!("w{i} ")).collect();
    let parts: Vec<&str> = parts.iter().map(String::as_str).collect();
    proxy
        .fake
        .push(Script::stream_text(&parts, Duration::from_millis(20)));
    let mut conn = open_stream(proxy.addr);
    conn.read_chunk().expect("a first event");
    drop(conn);
    assert!(
        eventually(Duration::from_secs(5), || proxy.fake.aborted_streams() == 1),
        "the upstream stream was not closed"
    );
    assert!(eventually(Duration::from_secs(2), || proxy
        .state
        .limiter
        .usage()
        .in_flight
        == 0));
    // The slot is free for the next call.
    assert_eq!(post_chat(proxy.addr, HELLO).status, 200);
}

#[test]
fn http10_clients_get_a_plain_stream_then_close() {
    let proxy = start(&[]);
    proxy
        .fake
        .push(Script::stream_text(&["old", " client"], Duration::ZERO));
    let mut conn = Conn::open(proxy.addr);
    let raw = format!(
        "POST /v1/chat/completions HTTP/1.0\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{HELLO_STREAM}",
        HELLO_STREAM.len()
    );
    conn.send_raw(raw.as_bytes());
    let r = conn.read_response();
    assert_eq!(r.status, 200);
    assert_eq!(r.version, "HTTP/1.0");
    assert!(r.header("Transfer-Encoding").is_none());
    assert!(r.text().contains(r#""content":" client""#));
    assert!(r.text().ends_with("data: [DONE]\n\n"));
}

#[test]
fn several_requests_share_one_keep_alive_connection() {
    let proxy = start(&[]);
    let mut conn = Conn::open(proxy.addr);
    for _ in 0..3 {
        conn.send(
            "POST",
            "/v1/chat/completions",
            &[("Content-Type", "application/json")],
            HELLO.as_bytes(),
        );
        assert_eq!(conn.read_response().status, 200);
        conn.send(
            "POST",
            "/v1/chat/completions",
            &[("Content-Type", "application/json")],
            HELLO_STREAM.as_bytes(),
        );
        let r = conn.read_response();
        assert!(r.text().ends_with("data: [DONE]\n\n"));
    }
}

#[test]
fn upstream_calls_go_through_http_proxy_when_set() {
    // A second fake stands in for the proxy: it records what reaches it.
    let relay = openrouter_proxy::demo::FakeUpstream::start().unwrap();
    let via = format!("http://{}", relay.addr());
    let proxy = start(&[("HTTP_PROXY", via.as_str())]);
    let r = post_chat(proxy.addr, HELLO);
    assert!(!relay.requests().is_empty(), "nothing reached HTTP_PROXY");
    assert!(
        proxy.fake.chat_requests().is_empty(),
        "the call bypassed HTTP_PROXY"
    );
    r.expect_error(502);
}

#[test]
fn lying_content_lengths_do_not_take_workers_away() {
    // Few workers, so that losing any of them would show.
    let proxy = start(&[("MAX_CONCURRENT_REQUESTS", "2")]);
    // A declared length no body could have (tiny_http panicked while dropping such a
    // request): an answer, and the connection closes.
    for _ in 0..20 {
        let mut conn = Conn::open(proxy.addr);
        conn.send_raw(
            b"GET /nope HTTP/1.1\r\nHost: localhost\r\nContent-Length: 18446744073709551615\r\n\r\n",
        );
        assert_eq!(conn.read_response().status, 404);
    }
    // Bodies announced and never sent, on routes that do not read them: each connection stays
    // open, and no worker may wait for it.
    let mut idle = Vec::new();
    for _ in 0..20 {
        let mut conn = Conn::open(proxy.addr);
        conn.send_raw(b"POST /health HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2000\r\n\r\n");
        assert_eq!(conn.read_response().status, 405);
        idle.push(conn);
    }
    let t = Instant::now();
    assert_eq!(get(proxy.addr, "/health").status, 200);
    assert_eq!(post_chat(proxy.addr, HELLO).status, 200);
    assert!(t.elapsed() < Duration::from_secs(2));
}

#[test]
fn http10_keep_alive_streams_end_with_a_length() {
    let proxy = start(&[]);
    let mut conn = Conn::open(proxy.addr);
    let raw = format!(
        "POST /v1/chat/completions HTTP/1.0\r\nConnection: keep-alive\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{HELLO_STREAM}",
        HELLO_STREAM.len()
    );
    conn.send_raw(raw.as_bytes());
    let (status, _, headers) = conn.read_head();
    assert_eq!(status, 200);
    let length: usize = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("Content-Length"))
        .expect("a Content-Length")
        .1
        .parse()
        .unwrap();
    let mut body = vec![0; length];
    std::io::Read::read_exact(&mut conn.reader, &mut body).unwrap();
    assert!(
        String::from_utf8(body)
            .unwrap()
            .ends_with("data: [DONE]\n\n")
    );
}

#[test]
fn upstream_text_cannot_inject_headers() {
    let proxy = start(&[]);
    proxy.fake.push(Script::json(
        200,
        r#"{"model":"evil\r\nX-Injected: yes","choices":[{"message":{"content":"hi"}}]}"#,
    ));
    let r = post_chat(proxy.addr, HELLO);
    assert_eq!(r.status, 200);
    assert!(r.header("X-Injected").is_none());
    assert_eq!(r.header("X-Proxy-Model"), Some("evilX-Injected: yes"));
}
