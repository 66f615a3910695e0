//! Issue 12, secrets: an upstream (or an `HTTP_PROXY`) that quotes the key back never gets it
//! to the client, the statistics, the captures or the log. The fake quotes the request's
//! `Authorization` header wherever a script says `{{AUTHORIZATION}}`.

use std::fs;
use std::path::Path;

use openrouter_proxy::demo::{AUTHORIZATION_PLACEHOLDER, Script, chunk_event};
use serde_json::json;

use crate::common::*;

/// Every file under `dir`, read as text.
fn all_text(dir: &Path) -> String {
    let mut out = String::new();
    for entry in fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.push_str(&all_text(&path));
        } else {
            out.push_str(&String::from_utf8_lossy(
                &fs::read(&path).unwrap_or_default(),
            ));
        }
    }
    out
}

#[test]
fn a_key_quoted_back_by_upstream_reaches_no_one() {
    let dir = scratch_dir();
    let cache = dir.join("cache");
    let switch = dir.join("DEBUG_MODE.txt");
    fs::write(&switch, "").unwrap();
    let proxy = start(&[
        ("CACHE_DIR", cache.to_str().unwrap()),
        ("DEBUG_MODE_FILE", switch.to_str().unwrap()),
        ("RETRY_POLICY", "2"),
    ]);
    let quoted = format!(
        r#"{{"error":{{"message":"bad gateway: got 'Authorization: {AUTHORIZATION_PLACEHOLDER}'","code":502,"metadata":{{"raw":"{AUTHORIZATION_PLACEHOLDER}","headers":{{"{AUTHORIZATION_PLACEHOLDER}":"x"}}}}}}}}"#
    );
    // An error, retried once (the retry is logged), then given to the client.
    proxy.fake.push(Script::json(502, quoted.clone()));
    proxy.fake.push(Script::json(502, quoted.clone()));
    let r = post_chat(proxy.addr, HELLO);
    r.expect_error(502);
    assert!(!r.text().contains(KEY), "{}", r.text());
    assert!(r.text().contains("sk-or-v1-tes...001"), "{}", r.text());
    // A refusal (no retry).
    proxy
        .fake
        .push(Script::json(400, quoted.replace("502", "400")));
    let r = post_chat(proxy.addr, HELLO);
    r.expect_error(400);
    assert!(!r.text().contains(KEY));
    // A whole answer that quotes it.
    let answer = json!({
        "model": "m:free",
        "choices": [{"message": {"role": "assistant", "content": format!("your key is {AUTHORIZATION_PLACEHOLDER}")}}],
    });
    proxy.fake.push(Script::json(200, answer.to_string()));
    let r = post_chat(proxy.addr, HELLO);
    assert_eq!(r.status, 200);
    assert!(!r.text().contains(KEY), "{}", r.text());
    // A stream whose events quote it: content, then an error event.
    proxy.fake.push(Script::events(vec![
        chunk_event(
            json!({"role": "assistant", "content": format!("key {AUTHORIZATION_PLACEHOLDER}")}),
            None,
        ),
        format!(
            "data: {{\"error\":{{\"message\":\"upstream saw {AUTHORIZATION_PLACEHOLDER}\",\"code\":502}}}}\n\n"
        ),
    ]));
    let r = post_chat(proxy.addr, HELLO_STREAM);
    assert_eq!(r.status, 200);
    assert!(r.text().contains("data: [DONE]"));
    assert!(!r.text().contains(KEY), "{}", r.text());
    // A stream whose first event is an error quoting it (retried, then the client's error).
    for _ in 0..2 {
        proxy.fake.push(Script::events(vec![format!(
            "data: {{\"error\":{{\"message\":\"{AUTHORIZATION_PLACEHOLDER}\",\"code\":502}}}}\n\n"
        )]));
    }
    let r = post_chat(proxy.addr, HELLO_STREAM);
    assert!(!r.text().contains(KEY), "{}", r.text());
    // The fake did quote it, so the checks above could fail.
    assert!(
        proxy
            .fake
            .chat_requests()
            .iter()
            .all(|s| s.header("Authorization").is_some_and(|a| a.contains(KEY)))
    );
    // Statistics, call log and captures hold no key either.
    assert!(eventually(std::time::Duration::from_secs(5), || {
        cache.join("captures").exists()
    }));
    let written = all_text(&cache);
    assert!(
        written.contains("sk-or-v1-tes...001"),
        "the files name the key masked"
    );
    assert!(!written.contains(KEY), "a file in CACHE_DIR holds the key");
}
