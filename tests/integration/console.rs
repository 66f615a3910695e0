//! Issue 14, the console: `/admin` and its API under `/admin/api`, over real sockets: who may
//! use it, keys added to and removed from `.env`, keys and models disabled (and what that does
//! to calls), usage, the call log and captures.

use std::fs;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use openrouter_proxy::RawSettings;
use openrouter_proxy::demo::{ERR_NO_CREDITS, FakeUpstream, Script};
use serde_json::Value;

use crate::common::*;

const KEY_B: &str = "sk-or-v1-cons0b1111111111111111111111111111111111111111111111111b";
const PASSWORD: &str = "console-password-0123";
const PROXY_KEY: &str = "proxy-key-for-v1-0456";

/// A console call: `method path`, with a Bearer token when given, and a JSON body.
fn call(addr: SocketAddr, method: &str, path: &str, token: Option<&str>, body: &str) -> Response {
    let auth = token.map(|t| format!("Bearer {t}"));
    let mut headers = vec![("Content-Type", "application/json")];
    if let Some(auth) = &auth {
        headers.push(("Authorization", auth.as_str()));
    }
    request(addr, method, path, &headers, body.as_bytes())
}

fn api(addr: SocketAddr, method: &str, path: &str, body: &str) -> Response {
    call(addr, method, &format!("/admin/api{path}"), None, body)
}

fn keys_sent_since(fake: &FakeUpstream, from: usize) -> Vec<String> {
    fake.requests()[from..]
        .iter()
        .filter_map(|r| r.header("Authorization"))
        .map(|a| a.trim_start_matches("Bearer ").to_string())
        .collect()
}

fn id_of(addr: SocketAddr, masked_prefix: &str) -> String {
    let keys = api(addr, "GET", "/keys", "").json();
    let found = keys["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["masked"].as_str().unwrap().starts_with(masked_prefix))
        .unwrap_or_else(|| panic!("no key {masked_prefix} in {keys}"));
    found["id"].as_str().unwrap().to_string()
}

/// A proxy started from a `.env` file (watched, as `serve` does), in its own folder.
struct FromEnvFile {
    proxy: TestProxy,
    env: PathBuf,
}

fn start_from_env_file(lines: &str) -> FromEnvFile {
    let dir = scratch_dir();
    let fake = FakeUpstream::start().unwrap();
    let env = dir.join(".env");
    let text = format!(
        "# settings for the console test\nOPENROUTER_BASE_URL={}\nPORT=0\nCACHE_DIR={}\n\
         RETRY_POLICY=never\n{lines}",
        fake.base_url(),
        dir.join("cache").display()
    );
    fs::write(&env, text).unwrap();
    let config = RawSettings::load(&env, true).unwrap().validate().unwrap();
    let (state, running) = openrouter_proxy::start(config).unwrap();
    let addr = running.local_addr();
    std::mem::forget(running);
    openrouter_proxy::watch_env_file(state.clone(), env.clone());
    FromEnvFile {
        proxy: TestProxy { addr, state, fake },
        env,
    }
}

#[test]
fn the_password_guards_the_console_then_the_proxy_key_then_this_machine() {
    let dir = scratch_dir();
    let switch = dir.join("DEBUG_MODE.txt");
    fs::write(&switch, "").unwrap();
    let cache = dir.join("cache");
    let p = start(&[
        ("ADMIN_PASSWORD", PASSWORD),
        ("PROXY_API_KEY", PROXY_KEY),
        ("DEBUG_MODE_FILE", switch.to_str().unwrap()),
        ("CACHE_DIR", cache.to_str().unwrap()),
    ]);
    let page = get(p.addr, "/admin");
    assert_eq!(page.status, 200, "the page holds no data and needs nothing");
    assert!(
        page.header("Content-Type")
            .unwrap()
            .starts_with("text/html")
    );
    for (method, path) in [
        ("GET", "/status"),
        ("GET", "/keys"),
        ("POST", "/keys"),
        ("DELETE", "/keys/0123456789abcdef"),
        ("POST", "/keys/0123456789abcdef/disable"),
        ("GET", "/models"),
        ("POST", "/models/refresh"),
        ("POST", "/models/a%2Fb/disable"),
        ("GET", "/usage"),
        ("GET", "/calls"),
        ("GET", "/calls/1-2/capture"),
        ("POST", "/chat"),
    ] {
        let path = format!("/admin/api{path}");
        let e = call(p.addr, method, &path, None, "{}").expect_error(401);
        assert_eq!(e["code"], "admin_password_required", "{method} {path}");
        let e = call(p.addr, method, &path, Some(PROXY_KEY), "{}").expect_error(401);
        assert_eq!(e["code"], "admin_password_refused", "{method} {path}");
    }
    let status = call(p.addr, "GET", "/admin/api/status", Some(PASSWORD), "").json();
    assert_eq!(status["access"], "admin_password");
    // The test chat needs only the console's password; /v1 still needs the proxy key.
    let chat = call(p.addr, "POST", "/admin/api/chat", Some(PASSWORD), HELLO);
    assert_eq!(chat.status, 200, "{}", chat.text());
    // Its capture keeps the request's headers, the password masked.
    let captures: Vec<String> = fs::read_dir(cache.join("captures"))
        .unwrap()
        .map(|e| fs::read_to_string(e.unwrap().path()).unwrap())
        .collect();
    assert_eq!(captures.len(), 1);
    assert!(!captures[0].contains(PASSWORD), "{}", captures[0]);
    call(
        p.addr,
        "POST",
        "/v1/chat/completions",
        Some(PASSWORD),
        HELLO,
    )
    .expect_error(401);

    let p = start(&[("PROXY_API_KEY", PROXY_KEY)]);
    let e = api(p.addr, "GET", "/keys", "").expect_error(401);
    assert!(
        e["message"].as_str().unwrap().contains("PROXY_API_KEY"),
        "{e}"
    );
    let ok = call(p.addr, "GET", "/admin/api/keys", Some(PROXY_KEY), "");
    assert_eq!(ok.status, 200);

    let p = start(&[]);
    assert_eq!(
        api(p.addr, "GET", "/status", "").json()["access"],
        "local_only"
    );
    // The Host and Origin checks come first, as for every route.
    let r = request(
        p.addr,
        "GET",
        "/admin/api/keys",
        &[("Origin", "http://evil.example")],
        b"",
    );
    assert_eq!(r.status, 403);
    let r = request(
        p.addr,
        "POST",
        "/admin/api/keys/x/disable",
        &[("Host", "evil.example")],
        b"",
    );
    assert_eq!(r.status, 403);
}

#[test]
fn wrong_methods_paths_and_bodies_get_the_usual_errors() {
    let p = start(&[]);
    api(p.addr, "PUT", "/keys", "").expect_error(405);
    api(p.addr, "GET", "/keys/x/disable", "").expect_error(405);
    api(p.addr, "GET", "/nothing", "").expect_error(404);
    call(p.addr, "POST", "/admin", None, "").expect_error(405);
    api(p.addr, "POST", "/keys", "[1]").expect_error(400);
    api(p.addr, "POST", "/keys", "{\"key\": 5}").expect_error(400);
    api(p.addr, "POST", "/keys", "not json").expect_error(400);
    let big = format!("{{\"key\":\"{}\"}}", "k".repeat(100 << 10));
    api(p.addr, "POST", "/keys", &big).expect_error(413);
    let r = request(
        p.addr,
        "POST",
        "/admin/api/keys",
        &[("Content-Type", "text/plain")],
        b"{}",
    );
    r.expect_error(415);
    api(p.addr, "POST", "/keys/0123456789abcdef/disable", "").expect_error(404);
    api(p.addr, "POST", "/models/nobody%2Fnothing/disable", "").expect_error(404);
}

#[test]
fn a_key_added_in_the_console_goes_into_dotenv_and_is_used_at_once() {
    let lines = format!(
        "# the main account\nOPENROUTER_API_KEY={KEY}\n\n# other accounts, comma separated\n\
         OPENROUTER_API_KEYS=   # none yet\nMAX_CONCURRENT_REQUESTS=3\n# the end\n"
    );
    let f = start_from_env_file(&lines);
    let addr = f.proxy.addr;
    let before = fs::read_to_string(&f.env).unwrap();
    let keys = api(addr, "GET", "/keys", "");
    assert!(!keys.text().contains(KEY), "a full key was shown");
    let keys = keys.json();
    assert_eq!(keys["editable"], true, "{keys}");
    assert_eq!(keys["keys"].as_array().unwrap().len(), 1);
    let first = &keys["keys"][0];
    assert_eq!(first["masked"], "sk-or-v1-tes...001");
    assert_eq!(first["enabled"], true);
    assert_eq!(first["left"], first["daily_limit"]);

    let added = api(addr, "POST", "/keys", &format!("{{\"key\":\" {KEY_B} \"}}"));
    assert_eq!(added.status, 201, "{}", added.text());
    assert!(!added.text().contains(KEY_B));
    let id_b = added.json()["key"]["id"].as_str().unwrap().to_string();
    let after = fs::read_to_string(&f.env).unwrap();
    assert_eq!(
        after,
        before.replace(
            "OPENROUTER_API_KEYS=   # none yet",
            &format!("OPENROUTER_API_KEYS={KEY_B}   # none yet")
        ),
        "only the list's line changed"
    );
    // In use at once: round robin gives the next two calls one key each.
    let from = f.proxy.fake.requests().len();
    for _ in 0..2 {
        assert_eq!(post_chat(addr, HELLO).status, 200);
    }
    let sent = keys_sent_since(&f.proxy.fake, from);
    assert!(sent.iter().any(|k| k == KEY_B), "{sent:?}");
    // The watcher's own reload of the edited file changes nothing.
    std::thread::sleep(Duration::from_millis(1500));
    let keys = api(addr, "GET", "/keys", "").json();
    assert_eq!(keys["keys"].as_array().unwrap().len(), 2, "{keys}");
    assert_eq!(get(addr, "/health").json()["concurrency"]["limit"], 3);

    let again = api(addr, "POST", "/keys", &format!("{{\"key\":\"{KEY_B}\"}}"));
    assert_eq!(again.expect_error(409)["code"], "key_exists");
    let bad = api(
        addr,
        "POST",
        "/keys",
        "{\"key\":\"sk-or-v1-has a space-000000\"}",
    );
    bad.expect_error(400);

    let removed = api(addr, "DELETE", &format!("/keys/{id_b}"), "");
    assert_eq!(removed.status, 200, "{}", removed.text());
    let text = fs::read_to_string(&f.env).unwrap();
    assert_eq!(text, before, "the list's line is back as it was");
    let from = f.proxy.fake.requests().len();
    for _ in 0..3 {
        assert_eq!(post_chat(addr, HELLO).status, 200);
    }
    assert!(
        keys_sent_since(&f.proxy.fake, from)
            .iter()
            .all(|k| k == KEY)
    );
    api(addr, "DELETE", &format!("/keys/{id_b}"), "").expect_error(404);
}

#[test]
fn without_a_dotenv_file_keys_cannot_be_edited_and_the_console_says_why() {
    let p = start(&[]);
    let keys = api(p.addr, "GET", "/keys", "").json();
    assert_eq!(keys["editable"], false);
    assert!(
        keys["not_editable_because"]
            .as_str()
            .unwrap()
            .contains(".env")
    );
    let e = api(p.addr, "POST", "/keys", &format!("{{\"key\":\"{KEY_B}\"}}")).expect_error(409);
    assert_eq!(e["code"], "no_env_file");
}

#[test]
fn a_disabled_key_is_never_used_and_the_choice_survives_a_restart() {
    let cache = scratch_dir();
    let cache_dir = cache.to_str().unwrap();
    let settings = [("OPENROUTER_API_KEYS", KEY_B), ("CACHE_DIR", cache_dir)];
    let p = start(&settings);
    // The first call waits for the start-up's own requests (allowances, model list).
    assert_eq!(post_chat(p.addr, HELLO).status, 200);
    let id_a = id_of(p.addr, "sk-or-v1-tes");
    let off = api(p.addr, "POST", &format!("/keys/{id_a}/disable"), "");
    assert_eq!(off.status, 200, "{}", off.text());
    assert_eq!(off.json()["key"]["enabled"], false);
    assert_eq!(off.json()["key"]["state"], "disabled");
    let from = p.fake.requests().len();
    for _ in 0..5 {
        assert_eq!(post_chat(p.addr, HELLO).status, 200);
    }
    assert_eq!(api(p.addr, "POST", "/models/refresh", "").status, 200);
    let sent = keys_sent_since(&p.fake, from);
    assert!(sent.len() >= 6, "{sent:?}");
    assert!(
        sent.iter().all(|k| k == KEY_B),
        "a disabled key was used: {sent:?}"
    );
    let saved = fs::read_to_string(cache.join("admin.json")).unwrap();
    assert!(saved.contains(&id_a) && !saved.contains(KEY), "{saved}");

    // With every key disabled, calls are refused at once, and the console warns.
    let id_b = id_of(p.addr, "sk-or-v1-con");
    api(p.addr, "POST", &format!("/keys/{id_b}/disable"), "");
    let e = post_chat(p.addr, HELLO).expect_error(503);
    assert_eq!(e["code"], "all_keys_disabled");
    let status = api(p.addr, "GET", "/status", "").json();
    assert!(
        status["warning"].as_str().unwrap().contains("disabled"),
        "{status}"
    );
    api(p.addr, "POST", &format!("/keys/{id_b}/enable"), "");

    // A restart on the same cache folder reads the choice back.
    let again = start(&settings);
    let keys = api(again.addr, "GET", "/keys", "").json();
    let a = keys["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] == id_a.as_str());
    assert_eq!(a.unwrap()["enabled"], false, "{keys}");
    assert_eq!(post_chat(again.addr, HELLO).status, 200);
    assert!(keys_sent_since(&again.fake, 0).iter().all(|k| k == KEY_B));
}

/// The model the automatic choice takes first.
fn first_choice(addr: SocketAddr) -> String {
    let r = post_chat(addr, HELLO);
    assert_eq!(r.status, 200, "{}", r.text());
    r.header("X-Proxy-Model").unwrap().to_string()
}

fn listed(addr: SocketAddr) -> Vec<String> {
    get(addr, "/v1/models").json()["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn a_disabled_model_is_not_listed_not_chosen_and_refused_by_name() {
    let cache = scratch_dir();
    let settings = [("CACHE_DIR", cache.to_str().unwrap())];
    let p = start(&settings);
    let model = first_choice(p.addr);
    assert!(listed(p.addr).contains(&model));
    let encoded = model.replace('/', "%2F").replace(':', "%3A");
    let off = api(p.addr, "POST", &format!("/models/{encoded}/disable"), "");
    assert_eq!(off.status, 200, "{}", off.text());

    assert!(!listed(p.addr).contains(&model), "still in /v1/models");
    let models = api(p.addr, "GET", "/models", "").json();
    let entry = models["models"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == model.as_str())
        .expect("the console still lists it");
    assert_eq!(entry["enabled"], false);
    assert_eq!(
        models["enabled"].as_u64().unwrap() + 1,
        models["listed"].as_u64().unwrap()
    );
    for _ in 0..4 {
        assert_ne!(first_choice(p.addr), model, "chosen automatically");
    }
    let sent_models: Vec<Value> = p
        .fake
        .chat_requests()
        .iter()
        .skip(1)
        .map(|r| serde_json::from_slice::<Value>(&r.body).unwrap()["model"].clone())
        .collect();
    assert!(
        sent_models.iter().all(|m| m != model.as_str()),
        "{sent_models:?}"
    );
    let named = format!(
        "{{\"model\":\"{model}\",\"messages\":[{{\"role\":\"user\",\"content\":\"Hi\"}}]}}"
    );
    let e = post_chat(p.addr, &named).expect_error(400);
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains("disabled in the proxy's console"),
        "{e}"
    );
    assert_eq!(e["param"], "model");
    let refreshed = api(p.addr, "POST", "/models/refresh", "").json();
    assert_eq!(refreshed["disabled"], 1, "{refreshed}");
    assert!(
        !listed(p.addr).contains(&model),
        "a refresh keeps the choice"
    );

    // A restart reads the choice back; enabling (the id's `/` as it is) lists it again.
    let again = start(&settings);
    assert!(!listed(again.addr).contains(&model));
    let on = api(again.addr, "POST", &format!("/models/{model}/enable"), "");
    assert_eq!(on.status, 200, "{}", on.text());
    assert!(listed(again.addr).contains(&model));
    assert_eq!(post_chat(again.addr, &named).status, 200);
}

/// A proxy in debug mode that served a few calls of each kind.
fn with_calls() -> (TestProxy, PathBuf) {
    let dir = scratch_dir();
    let switch = dir.join("DEBUG_MODE.txt");
    fs::write(&switch, "").unwrap();
    let p = start(&[("DEBUG_MODE_FILE", switch.to_str().unwrap())]);
    for _ in 0..3 {
        assert_eq!(post_chat(p.addr, HELLO).status, 200);
    }
    p.fake.push(Script::json(402, ERR_NO_CREDITS));
    post_chat(p.addr, HELLO).expect_error(402);
    let stream = post_chat(p.addr, HELLO_STREAM);
    assert!(stream.text().contains("[DONE]"));
    let test_chat = api(p.addr, "POST", "/chat", HELLO);
    assert_eq!(test_chat.status, 200);
    (p, switch)
}

#[test]
fn usage_gives_days_models_and_todays_percentiles() {
    let (p, switch) = with_calls();
    let usage = api(p.addr, "GET", "/usage?days=3", "").json();
    assert_eq!(usage["days"].as_array().unwrap().len(), 3);
    let today = &usage["today"];
    assert_eq!(today["total"], 6, "{usage}");
    assert_eq!(today["failed"], 1);
    let rate = today["success_rate"].as_f64().unwrap();
    assert!((rate - 5.0 / 6.0).abs() < 1e-9, "{rate}");
    assert!(
        today["p50_ms"].is_u64() && today["p95_ms"].is_u64(),
        "{today}"
    );
    assert!(today["p50_ms"].as_u64() <= today["p95_ms"].as_u64());
    let models = usage["models"].as_array().unwrap();
    let counted: u64 = models
        .iter()
        .map(|m| m["tally"]["total"].as_u64().unwrap())
        .sum();
    assert_eq!(counted, 6);
    assert_eq!(usage["days"][2]["total"], 6, "today is last");

    fs::remove_file(switch).unwrap();
    let status = api(p.addr, "GET", "/status", "").json();
    assert_eq!(status["debug_mode"], false);
    let file = status["debug_mode_file"].as_str().unwrap();
    assert!(file.ends_with("DEBUG_MODE.txt"), "{file}");
    assert_eq!(api(p.addr, "GET", "/usage", "").json()["debug_mode"], false);
}

fn total(addr: SocketAddr, query: &str) -> u64 {
    let r = api(addr, "GET", &format!("/calls?{query}"), "");
    assert_eq!(r.status, 200, "{query}: {}", r.text());
    r.json()["total"].as_u64().unwrap()
}

#[test]
fn the_call_log_filters_sorts_pages_and_exports() {
    let (p, _switch) = with_calls();
    let addr = p.addr;
    let all = api(addr, "GET", "/calls", "").json();
    assert_eq!(all["total"], 6, "{all}");
    let first = &all["calls"][0];
    // The route is the protocol: the console's test chat is a chat completion too.
    assert_eq!(first["route"], "chat", "newest first");
    assert!(
        first["at_ms"].is_u64() && first["id"].is_string(),
        "{first}"
    );
    let facets = &all["facets"];
    assert_eq!(facets["routes"].as_array().unwrap().len(), 1, "{facets}");

    let page = api(addr, "GET", "/calls?per_page=4&page=2", "").json();
    assert_eq!(
        (page["page"].as_u64(), page["pages"].as_u64()),
        (Some(2), Some(2))
    );
    assert_eq!(page["calls"].as_array().unwrap().len(), 2);
    assert_eq!(total(addr, "outcome=failed"), 1);
    assert_eq!(total(addr, "outcome=success"), 5);
    assert_eq!(total(addr, "route=chat"), 6);
    assert_eq!(total(addr, "route=messages"), 0);
    let model = all["calls"][1]["model"]
        .as_str()
        .unwrap()
        .replace('/', "%2F");
    assert!(total(addr, &format!("model={model}")) >= 1);
    assert_eq!(total(addr, "model=nobody"), 0);
    let id = id_of(addr, "sk-or-v1-tes");
    assert_eq!(total(addr, &format!("key={id}")), 6);
    assert_eq!(total(addr, "key=sk-or-v1-tes...001"), 6);
    assert_eq!(total(addr, "key=sk-or-v1-xxx...000"), 0);
    assert_eq!(total(addr, "q=402"), 1);
    assert_eq!(total(addr, "q=CREDITS"), 1, "the error text, any case");
    assert_eq!(total(addr, "q=402&outcome=success"), 0);
    let today = all["date"].as_str().unwrap();
    assert_eq!(
        total(
            addr,
            &format!("date={}-{}-{}", &today[..4], &today[4..6], &today[6..])
        ),
        6
    );

    let by_latency = api(addr, "GET", "/calls?sort=latency&dir=asc", "").json();
    let latencies: Vec<u64> = by_latency["calls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["latency_ms"].as_u64().unwrap())
        .collect();
    assert!(latencies.windows(2).all(|w| w[0] <= w[1]), "{latencies:?}");
    api(addr, "GET", "/calls?sort=mood", "").expect_error(400);
    api(addr, "GET", "/calls?date=yesterday", "").expect_error(400);

    let csv = api(
        addr,
        "GET",
        "/calls?format=csv&outcome=success&per_page=1",
        "",
    );
    assert!(csv.header("Content-Type").unwrap().starts_with("text/csv"));
    let rows: Vec<&str> = std::str::from_utf8(&csv.body).unwrap().lines().collect();
    assert_eq!(
        rows.len(),
        6,
        "a header and every matching call, not one page: {rows:?}"
    );
    assert!(rows[0].starts_with("time,model,key,route,status,outcome"));
}

#[test]
fn a_capture_opens_by_the_calls_id_with_a_streams_events_as_a_list() {
    let (p, _switch) = with_calls();
    let calls = api(p.addr, "GET", "/calls", "").json();
    let stream = calls["calls"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["stream"] == true)
        .expect("the streamed call");
    let id = stream["id"].as_str().unwrap();
    let capture = api(p.addr, "GET", &format!("/calls/{id}/capture"), "").json();
    assert_eq!(capture["id"], id);
    assert_eq!(capture["request"]["body"]["messages"][0]["content"], "Hi");
    let events = capture["response"]["events"]
        .as_array()
        .expect("a list of events");
    assert!(events.len() > 2, "{events:?}");
    assert!(
        events
            .iter()
            .all(|e| e.as_str().unwrap().starts_with("data:")
                || e.as_str().unwrap().starts_with(':'))
    );
    assert!(!capture["response"]["text"].as_str().unwrap().is_empty());
    assert!(capture["attempts"].as_array().unwrap().len() == 1);
    for bad in ["20990101-000000-000000-0", "..%2Fkey_usage", "x"] {
        api(p.addr, "GET", &format!("/calls/{bad}/capture"), "").expect_error(404);
    }
}

#[test]
fn the_status_shows_live_state_and_warns_when_no_key_can_serve() {
    let p = start(&[]);
    let status = api(p.addr, "GET", "/status", "").json();
    assert_eq!(status["concurrency"]["limit"], 5);
    assert_eq!(status["keys"]["total"], 1);
    assert!(status["warning"].is_null(), "{status}");
    let p = start(&[("OPENROUTER_API_KEY", "")]);
    let status = api(p.addr, "GET", "/status", "").json();
    assert!(
        status["warning"]
            .as_str()
            .unwrap()
            .contains("no OpenRouter key"),
        "{status}"
    );
}
