//! Issue 4, debug mode: the DEBUG_MODE file switch, daily statistics, the call log, captures,
//! the /debug routes, and that no key ends up in any of them.

use std::fs;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::Duration;

use chrono::Local;
use openrouter_proxy::demo::{ERR_NO_CREDITS, Script};
use serde_json::Value;

use crate::common::*;

struct DebugProxy {
    proxy: TestProxy,
    cache: PathBuf,
    switch: PathBuf,
}

impl DebugProxy {
    fn start(extra: &[(&str, &str)]) -> DebugProxy {
        let dir = scratch_dir();
        let cache = dir.join("cache");
        let switch = dir.join("DEBUG_MODE.txt");
        let (c, s) = (
            cache.to_str().unwrap().to_string(),
            switch.to_str().unwrap().to_string(),
        );
        let mut settings = vec![("CACHE_DIR", c.as_str()), ("DEBUG_MODE_FILE", s.as_str())];
        settings.extend_from_slice(extra);
        let proxy = start(&settings);
        DebugProxy {
            proxy,
            cache,
            switch,
        }
    }

    fn on(&self) {
        fs::write(&self.switch, "").unwrap();
    }

    fn off(&self) {
        fs::remove_file(&self.switch).unwrap();
    }

    fn day_file(&self) -> PathBuf {
        self.cache
            .join(format!("CALLS_{}.json", Local::now().format("%Y%m%d")))
    }

    fn counters(&self) -> Value {
        serde_json::from_slice(&fs::read(self.day_file()).expect("the daily file")).unwrap()
    }

    fn captures(&self) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = fs::read_dir(self.cache.join("captures"))
            .map(|d| d.filter_map(Result::ok).map(|e| e.path()).collect())
            .unwrap_or_default();
        files.sort();
        files
    }
}

/// Every file below `dir`, with its text.
fn all_files(dir: &Path) -> Vec<(PathBuf, String)> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(all_files(&path));
        } else {
            let text = String::from_utf8_lossy(&fs::read(&path).unwrap()).into_owned();
            out.push((path, text));
        }
    }
    out
}

#[test]
fn the_debug_file_switches_captures_files_and_endpoints_at_run_time() {
    let d = DebugProxy::start(&[]);
    let addr = d.proxy.addr;
    debug_mode_is_off(addr);
    assert_eq!(post_chat(addr, HELLO).status, 200);
    assert!(!d.day_file().exists());
    assert!(d.captures().is_empty());

    d.on();
    let page = get(addr, "/debug");
    assert_eq!(page.status, 200);
    assert!(
        page.header("Content-Type")
            .unwrap()
            .starts_with("text/html")
    );
    assert!(page.text().contains("Test chat"));
    assert_eq!(post_chat(addr, HELLO).status, 200);
    assert_eq!(d.counters()["total"], 1);
    assert_eq!(d.captures().len(), 1);
    let stats = get(addr, "/debug/stats").json();
    assert_eq!(stats["total"], 1);
    assert_eq!(stats["success"], 1);
    assert_eq!(stats["days"].as_array().unwrap().len(), 14);

    d.off();
    assert_eq!(post_chat(addr, HELLO).status, 200);
    assert_eq!(
        d.counters()["total"],
        1,
        "no counting while debug mode is off"
    );
    assert_eq!(d.captures().len(), 1);
    debug_mode_is_off(addr);
}

/// Issue 14: with debug mode off, `/debug` said "no route" and gave no hint.
fn debug_mode_is_off(addr: std::net::SocketAddr) {
    let page = get(addr, "/debug");
    assert_eq!(page.status, 404);
    assert!(
        page.header("Content-Type")
            .unwrap()
            .starts_with("text/html")
    );
    assert!(page.text().contains("touch "), "{}", page.text());
    assert!(page.text().contains("href=\"/admin\""), "{}", page.text());
    let error = get(addr, "/debug/stats").expect_error(404);
    assert_eq!(error["code"], "debug_mode_off");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("DEBUG_MODE.txt"),
        "{error}"
    );
    // The console itself is there either way.
    assert_eq!(get(addr, "/admin").status, 200);
}

#[test]
fn the_daily_file_keeps_its_fields_and_invariant_under_concurrent_calls() {
    let d = DebugProxy::start(&[
        ("UPSTREAM_RESPONSE_TIMEOUT", "300ms"),
        ("MAX_CONCURRENT_REQUESTS", "8"),
        ("FREE_DAILY_LIMIT", "1000"),
    ]);
    d.on();
    for _ in 0..10 {
        d.proxy.fake.push(Script::json(402, ERR_NO_CREDITS));
    }
    for _ in 0..5 {
        d.proxy.fake.push(Script::Hang);
    }
    let clients: Vec<_> = (0..40)
        .map(|i| {
            let addr = d.proxy.addr;
            thread::spawn(move || {
                let body = if i % 2 == 0 { HELLO } else { HELLO_STREAM };
                post_chat(addr, body).status
            })
        })
        .collect();
    let statuses: Vec<u16> = clients.into_iter().map(|c| c.join().unwrap()).collect();
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 25);

    let c = d.counters();
    let text = fs::read_to_string(d.day_file()).unwrap();
    for field in [
        "date",
        "total",
        "success",
        "failed",
        "timeout",
        "retry",
        "last_updated",
    ] {
        assert!(
            text.contains(&format!("\"{field}\":")),
            "{field} missing: {text}"
        );
    }
    assert_eq!(c["date"], Local::now().format("%Y%m%d").to_string());
    assert_eq!(c["total"], 40);
    assert_eq!(c["success"], 25);
    assert_eq!(c["failed"], 10);
    assert_eq!(c["timeout"], 5);
    assert_eq!(c["retry"], 0);
    let total = c["total"].as_u64().unwrap();
    let parts = ["success", "failed", "timeout"].map(|f| c[f].as_u64().unwrap());
    assert_eq!(total, parts.iter().sum::<u64>());
    // Token totals come from the upstream's usage (the fake reports 15 + 10 per whole answer,
    // 15 + 10 in the recorded stream's last event).
    assert_eq!(c["prompt_tokens"], 25 * 15);
    assert_eq!(c["completion_tokens"], 25 * 10);
    let per_model: u64 = c["models"]
        .as_object()
        .unwrap()
        .values()
        .map(|m| m["total"].as_u64().unwrap())
        .sum();
    assert_eq!(per_model, 40);
    // The call log has one line per call.
    let log = fs::read_to_string(
        d.cache
            .join(format!("calls_{}.jsonl", Local::now().format("%Y%m%d"))),
    )
    .unwrap();
    assert_eq!(log.lines().count(), 40);
    let line: Value = serde_json::from_str(log.lines().next().unwrap()).unwrap();
    for field in [
        "time",
        "model",
        "key",
        "status",
        "attempts",
        "prompt_tokens",
        "latency_ms",
        "ttfb_ms",
        "error",
    ] {
        assert!(line.get(field).is_some(), "{field} missing in {line}");
    }
}

#[test]
fn retries_are_counted() {
    let d = DebugProxy::start(&[("RETRY_POLICY", "smart")]);
    d.on();
    d.proxy.fake.push(Script::json(
        429,
        openrouter_proxy::demo::ERR_PROVIDER_RATE_LIMITED,
    ));
    assert_eq!(post_chat(d.proxy.addr, HELLO).status, 200);
    let c = d.counters();
    assert_eq!(
        (c["total"].as_u64(), c["retry"].as_u64()),
        (Some(1), Some(1))
    );
    let capture: Value = serde_json::from_slice(&fs::read(&d.captures()[0]).unwrap()).unwrap();
    let attempts = capture["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 2);
    assert_eq!(attempts[0]["status"], 429);
    assert_eq!(attempts[1]["status"], 200);
    assert_ne!(attempts[0]["model"], attempts[1]["model"]);
}

#[test]
fn a_corrupt_daily_file_is_set_aside_at_start() {
    let dir = scratch_dir();
    let cache = dir.join("cache");
    fs::create_dir_all(&cache).unwrap();
    let day = Local::now().format("%Y%m%d");
    fs::write(cache.join(format!("CALLS_{day}.json")), "{\"date\":\"2026").unwrap();
    let switch = dir.join("DEBUG_MODE.txt");
    fs::write(&switch, "").unwrap();
    let proxy = start(&[
        ("CACHE_DIR", cache.to_str().unwrap()),
        ("DEBUG_MODE_FILE", switch.to_str().unwrap()),
    ]);
    let aside = fs::read_dir(&cache)
        .unwrap()
        .filter_map(Result::ok)
        .any(|e| e.file_name().to_string_lossy().contains(".corrupt-"));
    assert!(aside);
    assert_eq!(post_chat(proxy.addr, HELLO).status, 200);
    assert_eq!(get(proxy.addr, "/debug/stats").json()["total"], 1);
}

#[test]
fn a_streamed_answer_is_captured_whole_and_a_client_leaving_counts_once() {
    let d = DebugProxy::start(&[]);
    d.on();
    let r = post_chat(d.proxy.addr, HELLO_STREAM);
    assert_eq!(r.status, 200);
    let capture: Value = serde_json::from_slice(&fs::read(&d.captures()[0]).unwrap()).unwrap();
    assert_eq!(
        capture["response"]["text"],
        "Hello! How can I help you today?"
    );
    assert!(
        capture["response"]["events"]
            .as_str()
            .unwrap()
            .contains("data: [DONE]")
    );
    assert_eq!(capture["request"]["body"]["stream"], true);
    let c = d.counters();
    assert_eq!(
        (c["success"].as_u64(), c["completion_tokens"].as_u64()),
        (Some(1), Some(10))
    );

    // A client that leaves mid-stream: counted once, as failed.
    let parts: Vec<String> = (0..100).map(|i| format!("w{i} ")).collect();
    let parts: Vec<&str> = parts.iter().map(String::as_str).collect();
    d.proxy
        .fake
        .push(Script::stream_text(&parts, Duration::from_millis(20)));
    let mut conn = open_stream(d.proxy.addr);
    conn.read_chunk();
    drop(conn);
    assert!(eventually(Duration::from_secs(5), || d.counters()["total"] == 2));
    thread::sleep(Duration::from_millis(200));
    let c = d.counters();
    assert_eq!(
        (c["total"].as_u64(), c["failed"].as_u64()),
        (Some(2), Some(1))
    );
}

#[test]
fn the_debug_routes_serve_the_panel_data() {
    let d = DebugProxy::start(&[]);
    d.on();
    for _ in 0..3 {
        post_chat(d.proxy.addr, HELLO);
    }
    d.proxy.fake.push(Script::json(402, ERR_NO_CREDITS));
    post_chat(d.proxy.addr, HELLO);
    let addr = d.proxy.addr;
    let c = get(addr, "/debug/concurrency").json();
    assert_eq!(c["limit"], 5);
    assert_eq!(c["in_flight"], 0);
    assert_eq!(c["waiting"], 0);
    assert_eq!(c["recent"].as_array().unwrap().len(), 4);

    let calls = get(addr, "/debug/calls?per_page=2").json();
    assert_eq!(calls["total"], 4);
    assert_eq!(calls["pages"], 2);
    assert_eq!(calls["calls"].as_array().unwrap().len(), 2);
    assert_eq!(calls["calls"][0]["status"], 402, "newest first");
    let failed = get(addr, "/debug/calls?status=failed").json();
    assert_eq!(failed["total"], 1);
    let model = calls["calls"][1]["model"]
        .as_str()
        .unwrap()
        .replace('/', "%2F");
    let by_model = get(addr, &format!("/debug/calls?model={model}")).json();
    assert!(by_model["total"].as_u64().unwrap() >= 1);

    let name = calls["calls"][0]["capture"].as_str().unwrap();
    let capture = get(addr, &format!("/debug/capture/{name}")).json();
    assert_eq!(capture["response"]["status"], 402);

    let models = get(addr, "/debug/models").json();
    assert_eq!(models["models"].as_array().unwrap().len(), 23);
    let keys = get(addr, "/debug/keys").json();
    assert_eq!(keys["keys"][0]["used_today"], 4);

    // Path tricks lead nowhere.
    for path in [
        "/debug/capture/..%2Fkey_usage.json",
        "/debug/capture/../key_usage.json",
        "/debug/../v1/models",
        "/debug/capture/",
        "/debug/nothing",
    ] {
        assert_eq!(get(addr, path).status, 404, "{path}");
    }
}

#[test]
fn with_a_proxy_key_the_debug_data_needs_it() {
    let d = DebugProxy::start(&[("PROXY_API_KEY", "panel-secret-0123456789")]);
    d.on();
    assert_eq!(
        get(d.proxy.addr, "/debug").status,
        200,
        "the page itself holds no data"
    );
    get(d.proxy.addr, "/debug/stats").expect_error(401);
    let r = request(
        d.proxy.addr,
        "GET",
        "/debug/stats",
        &[("Authorization", "Bearer panel-secret-0123456789")],
        b"",
    );
    assert_eq!(r.status, 200);
}

#[test]
fn with_an_admin_password_the_debug_data_needs_it_not_the_proxy_key() {
    let d = DebugProxy::start(&[
        ("PROXY_API_KEY", "panel-secret-0123456789"),
        ("ADMIN_PASSWORD", "console-password-42"),
    ]);
    d.on();
    let with = |secret: &str| {
        let bearer = format!("Bearer {secret}");
        request(
            d.proxy.addr,
            "GET",
            "/debug/calls",
            &[("Authorization", bearer.as_str())],
            b"",
        )
    };
    with("panel-secret-0123456789").expect_error(401);
    assert_eq!(with("console-password-42").status, 200);
}

#[test]
fn no_capture_file_or_page_holds_a_key() {
    let proxy_key = "proxy-secret-abcdefghijklmnop";
    let d = DebugProxy::start(&[("PROXY_API_KEY", proxy_key), ("RETRY_POLICY", "smart")]);
    d.on();
    let auth = format!("Bearer {proxy_key}");
    // A user pasting a key into a message must not see it written to disk either.
    let body = format!(
        r#"{{"messages":[{{"role":"user","content":"my key is {KEY} and {proxy_key}"}}]}}"#
    );
    d.proxy.fake.push(Script::json(
        429,
        openrouter_proxy::demo::ERR_PROVIDER_RATE_LIMITED,
    ));
    for b in [body.as_str(), HELLO_STREAM] {
        let r = request(
            d.proxy.addr,
            "POST",
            "/v1/chat/completions",
            &[
                ("Content-Type", "application/json"),
                ("Authorization", &auth),
            ],
            b.as_bytes(),
        );
        assert_eq!(r.status, 200, "{}", r.text());
    }
    let files = all_files(&d.cache);
    assert!(files.len() >= 5, "{files:?}");
    for (path, text) in &files {
        assert!(
            !text.contains(KEY),
            "{} holds the OpenRouter key",
            path.display()
        );
        assert!(
            !text.contains(proxy_key),
            "{} holds the proxy key",
            path.display()
        );
    }
    for path in [
        "/debug",
        "/debug/stats",
        "/debug/concurrency",
        "/debug/calls",
        "/debug/keys",
        "/debug/models",
        "/health",
    ] {
        let r = request(d.proxy.addr, "GET", path, &[("Authorization", &auth)], b"");
        assert_eq!(r.status, 200, "{path}");
        assert!(!r.text().contains(KEY), "{path} shows the OpenRouter key");
        assert!(!r.text().contains(proxy_key), "{path} shows the proxy key");
    }
}

/// The capture of the latest call.
fn last_capture(d: &DebugProxy) -> Value {
    let files = d.captures();
    let last = files.last().expect("a capture");
    serde_json::from_slice(&fs::read(last).unwrap()).unwrap()
}

#[test]
fn issue_12_a_stream_capture_holds_the_first_events_text() {
    let d = DebugProxy::start(&[]);
    d.on();
    d.proxy
        .fake
        .push(Script::stream_text(&["Hel", "lo", "!"], Duration::ZERO));
    let r = post_chat(d.proxy.addr, HELLO_STREAM);
    assert_eq!(r.streamed_content(), "Hello!");
    let capture = last_capture(&d);
    assert_eq!(capture["response"]["text"], "Hello!", "{capture}");
}

#[test]
fn issue_12_a_reasoning_only_stream_capture_holds_the_reasoning_sent_as_content() {
    let d = DebugProxy::start(&[]);
    d.on();
    let event =
        |delta: Value, finish: Option<&str>| openrouter_proxy::demo::chunk_event(delta, finish);
    d.proxy.fake.push(Script::events(vec![
        event(
            serde_json::json!({"content": "", "reasoning": "Think"}),
            None,
        ),
        event(serde_json::json!({"reasoning": "ing."}), Some("stop")),
        "data: [DONE]\n\n".to_string(),
    ]));
    let r = post_chat(d.proxy.addr, HELLO_STREAM);
    assert_eq!(r.streamed_content(), "Thinking.");
    let capture = last_capture(&d);
    assert_eq!(capture["response"]["text"], "Thinking.", "{capture}");
}

#[test]
fn issue_12_a_client_leaving_mid_stream_leaves_what_it_got_in_the_capture() {
    let d = DebugProxy::start(&[]);
    d.on();
    let parts: Vec<String> = (0..100).map(|i| format!("w{i} ")).collect();
    let parts: Vec<&str> = parts.iter().map(String::as_str).collect();
    d.proxy
        .fake
        .push(Script::stream_text(&parts, Duration::from_millis(20)));
    let mut conn = open_stream(d.proxy.addr);
    let mut received = Vec::new();
    for _ in 0..3 {
        received.extend(conn.read_chunk().expect("a chunk").0);
    }
    drop(conn);
    assert!(eventually(Duration::from_secs(5), || d.day_file().exists()
        && d.counters()["total"] == 1));
    let capture = last_capture(&d);
    let events = capture["response"]["events"].as_str().unwrap();
    let received = String::from_utf8(received).unwrap();
    assert!(
        events.starts_with(&received),
        "the capture lost what the client got:\n{events:?}\nvs\n{received:?}"
    );
    let text = capture["response"]["text"].as_str().unwrap();
    assert!(text.starts_with("w0 w1 w2 "), "{capture}");
    assert!(!events.contains("[DONE]"), "{events}");
}

#[test]
fn issue_15_a_whole_answers_record_says_what_dispatch_did() {
    let d = DebugProxy::start(&[("RETRY_POLICY", "smart")]);
    d.on();
    d.proxy.fake.push(Script::json(
        429,
        openrouter_proxy::demo::ERR_PROVIDER_RATE_LIMITED,
    ));
    let r = post_chat(d.proxy.addr, HELLO);
    assert_eq!(r.status, 200);
    d.proxy.fake.push(Script::json(402, ERR_NO_CREDITS));
    post_chat(d.proxy.addr, HELLO).expect_error(402);
    assert_eq!(post_chat(d.proxy.addr, HELLO_STREAM).status, 200);

    let calls = get(d.proxy.addr, "/debug/calls").json();
    let calls = calls["calls"].as_array().unwrap();
    let (stream, refused, answered) = (&calls[0], &calls[1], &calls[2]);
    assert_eq!(answered["model"], r.header("X-Proxy-Model").unwrap());
    assert_eq!(answered["attempts"], 2);
    assert_eq!(answered["prompt_tokens"], 15);
    assert_eq!(answered["outcome"], "success");
    assert_eq!(refused["attempts"], 1);
    assert_eq!(refused["outcome"], "failed");
    assert_eq!(
        refused["error"],
        "Insufficient credits. Add more using https://openrouter.ai/settings/credits"
    );
    // One key, one name, whichever way the call was answered.
    let key = get(d.proxy.addr, "/debug/keys").json()["keys"][0]["key"].clone();
    for call in [stream, refused, answered] {
        assert_eq!(call["key"], key, "{call}");
    }
}
