//! The real binary: settings from `.env` and the environment, start-up without a key, refusal
//! of bad settings, and `--demo`.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use crate::common::*;

const BIN: &str = env!("CARGO_BIN_EXE_openrouter-proxy");

/// An empty folder of its own, so no `.env` of the developer's is read.
fn empty_dir() -> PathBuf {
    scratch_dir()
}

fn command(dir: &PathBuf, env: &[(&str, &str)], args: &[&str]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.current_dir(dir).env_clear().args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

/// A running proxy process, killed when dropped.
struct Running {
    child: Child,
    addr: SocketAddr,
    /// Every line the process wrote to stderr so far.
    log: Arc<Mutex<Vec<String>>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the binary and waits for its "listening on" line.
fn spawn(dir: &PathBuf, env: &[(&str, &str)], args: &[&str]) -> Running {
    spawn_command(command(dir, env, args))
}

/// Starts a command that runs the binary, and waits for its "listening on" line.
fn spawn_command(mut command: Command) -> Running {
    let mut child = command
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("start the binary");
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    let log = Arc::new(Mutex::new(Vec::new()));
    let lines = Arc::clone(&log);
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(rest) = line.split("listening on http://").nth(1) {
                let addr = rest.trim_end_matches("/v1").to_string();
                let _ = tx.send(addr);
            }
            lines.lock().unwrap().push(line);
        }
    });
    let addr = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("the proxy did not say where it listens");
    Running {
        child,
        addr: addr.parse().unwrap(),
        log,
    }
}

#[test]
fn a_bad_setting_stops_the_program_naming_variable_and_value() {
    let dir = empty_dir();
    let out = command(&dir, &[("PORT", "50OO")], &[]).output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("PORT=\"50OO\""), "{stderr}");

    let out = command(&dir, &[("HOST", "0.0.0.0")], &[]).output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("HOST") && stderr.contains("PROXY_API_KEY"),
        "{stderr}"
    );

    let out = command(&dir, &[], &["--env-file", "missing.env"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing.env"));
}

/// Issue 14: the console adds keys to the `.env` the binary was started with, and refuses
/// (409, saying why) when the real environment sets the key variables, which win over it.
#[test]
fn the_console_edits_the_dotenv_in_use_unless_the_environment_sets_the_keys() {
    let dir = empty_dir();
    let fake = openrouter_proxy::demo::FakeUpstream::start().unwrap();
    let base = fake.base_url();
    std::fs::write(dir.join(".env"), "# mine\nPORT=0\nOPENROUTER_API_KEYS=\n").unwrap();
    let key = "sk-or-v1-binary-console-0000000000000000000000000000000000000000";
    let body = format!("{{\"key\":\"{key}\"}}");
    let add = |addr| {
        request(
            addr,
            "POST",
            "/admin/api/keys",
            &[("Content-Type", "application/json")],
            body.as_bytes(),
        )
    };
    let env = [("OPENROUTER_BASE_URL", base.as_str())];
    let proxy = spawn(&dir, &env, &[]);
    let r = add(proxy.addr);
    assert_eq!(r.status, 201, "{}", r.text());
    let text = std::fs::read_to_string(dir.join(".env")).unwrap();
    assert_eq!(text, format!("# mine\nPORT=0\nOPENROUTER_API_KEYS={key}\n"));
    assert_eq!(
        get(proxy.addr, "/health").json()["keys"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    drop(proxy);

    let from_env = [
        ("OPENROUTER_BASE_URL", base.as_str()),
        ("OPENROUTER_API_KEYS", KEY),
    ];
    let proxy = spawn(&dir, &from_env, &[]);
    let e = add(proxy.addr).expect_error(409);
    assert_eq!(e["code"], "keys_set_by_environment");
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains("OPENROUTER_API_KEYS is set"),
        "{e}"
    );
    let keys = get_json(proxy.addr, "/admin/api/keys");
    assert_eq!(keys["editable"], false);
    assert_eq!(
        std::fs::read_to_string(dir.join(".env")).unwrap(),
        text,
        "the file was left alone"
    );
}

fn get_json(addr: SocketAddr, path: &str) -> serde_json::Value {
    get(addr, path).json()
}

#[test]
fn it_starts_without_a_key_and_health_says_so() {
    let dir = empty_dir();
    let proxy = spawn(&dir, &[("PORT", "0")], &[]);
    let health = get(proxy.addr, "/health").json();
    assert_eq!(health["status"], "ok");
    assert_eq!(health["openrouter_key_configured"], false);
}

#[test]
fn settings_come_from_dotenv_and_the_environment_wins() {
    let dir = empty_dir();
    std::fs::write(
        dir.join(".env"),
        "# a comment\nPORT=0\nOPENROUTER_API_KEY=sk-or-v1-from-the-file-000000000000\nMAX_CONCURRENT_REQUESTS=3\nQUEUE_TIMEOUT=7\n",
    )
    .unwrap();
    let proxy = spawn(&dir, &[("MAX_CONCURRENT_REQUESTS", "9")], &[]);
    let health = get(proxy.addr, "/health").json();
    assert_eq!(health["openrouter_key_configured"], true);
    assert_eq!(health["concurrency"]["limit"], 9);

    std::fs::write(dir.join("other.env"), "PORT=0\nMAX_CONCURRENT_REQUESTS=4\n").unwrap();
    let proxy = spawn(&dir, &[], &["--env-file", "other.env"]);
    let health = get(proxy.addr, "/health").json();
    assert_eq!(health["openrouter_key_configured"], false);
    assert_eq!(health["concurrency"]["limit"], 4);

    // Issue 12: an empty variable in the environment counts as unset, as in the file.
    let proxy = spawn(
        &dir,
        &[("MAX_CONCURRENT_REQUESTS", ""), ("PORT", " ")],
        &["--env-file", "other.env"],
    );
    let health = get(proxy.addr, "/health").json();
    assert_eq!(health["concurrency"]["limit"], 4);
}

#[test]
fn a_misspelt_setting_is_named_at_start_and_in_check() {
    // Issue 12: it used to pass silently.
    let dir = empty_dir();
    std::fs::write(dir.join(".env"), "PORT=0\nMAX_CONCURENT_REQUESTS=3\n").unwrap();
    let proxy = spawn(&dir, &[], &["--demo"]);
    let log = proxy.log.lock().unwrap().join("\n");
    assert!(
        log.contains("MAX_CONCURENT_REQUESTS")
            && log.contains("did you mean MAX_CONCURRENT_REQUESTS?"),
        "{log}"
    );
    let out = command(&dir, &[], &["check", "--demo"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("did you mean MAX_CONCURRENT_REQUESTS?"),
        "{text}"
    );
}

#[test]
fn demo_mode_answers_with_no_key_and_no_network() {
    let dir = empty_dir();
    let proxy = spawn(&dir, &[("PORT", "0")], &["--demo"]);
    let r = post_chat(proxy.addr, HELLO);
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.json()["choices"][0]["message"]["content"].is_string());
    let r = post_chat(proxy.addr, HELLO_STREAM);
    assert!(r.text().ends_with("data: [DONE]\n\n"));
    assert_eq!(get(proxy.addr, "/v1/models").status, 200);
}

#[test]
fn help_and_version_print_and_exit() {
    let dir = empty_dir();
    let out = command(&dir, &[], &["--version"]).output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains(env!("CARGO_PKG_VERSION")));
    let out = command(&dir, &[], &["--help"]).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("--demo"));
}

#[test]
fn the_log_has_one_line_per_request_and_never_the_key() {
    let dir = empty_dir();
    let key = "sk-or-v1-secret-abcdef0123456789abcdef0123456789";
    // Nothing listens on port 9 of loopback: every chat call fails upstream.
    let env = [
        ("PORT", "0"),
        ("OPENROUTER_API_KEY", key),
        ("OPENROUTER_BASE_URL", "http://127.0.0.1:9/api/v1"),
    ];
    let proxy = spawn(&dir, &env, &[]);
    post_chat(proxy.addr, HELLO).expect_error(502);
    request(
        proxy.addr,
        "GET",
        "/health?key=sk-or-v1-in-a-query",
        &[],
        b"",
    );
    assert!(eventually(Duration::from_secs(2), || {
        proxy
            .log
            .lock()
            .unwrap()
            .iter()
            .any(|l| l.contains("GET /health 200"))
    }));
    let log = proxy.log.lock().unwrap().join("\n");
    assert!(log.contains("POST /v1/chat/completions 502"), "{log}");
    assert!(
        log.contains("sk-or-v1-sec...789"),
        "the banner shows the key masked: {log}"
    );
    assert!(!log.contains(key), "{log}");
    assert!(!log.contains("in-a-query"), "{log}");
}

#[test]
fn stats_prints_the_daily_counters_as_a_table_or_json() {
    let dir = empty_dir();
    let day = chrono::Local::now().format("%Y%m%d").to_string();
    std::fs::create_dir_all(dir.join("cache")).unwrap();
    std::fs::write(
        dir.join("cache").join(format!("CALLS_{day}.json")),
        format!(r#"{{"date":"{day}","total":10,"success":7,"failed":2,"timeout":1,"retry":3,"prompt_tokens":1234567,"last_updated":"2026-02-16T20:30:45.123456"}}"#),
    )
    .unwrap();
    let out = command(&dir, &[], &["stats", "--days", "3"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 5, "header, 3 days, sum: {text}");
    assert!(
        lines[3].split_whitespace().collect::<Vec<_>>()[1..7]
            == ["10", "7", "2", "1", "3", "1,234,567"],
        "counts are grouped as on the console: {text}"
    );
    let out = command(&dir, &[], &["stats", "--json"]).output().unwrap();
    let days: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(days.as_array().unwrap().len(), 14);
    assert_eq!(days[13]["total"], 10);
}

#[test]
fn models_and_check_print_tables_or_json() {
    let dir = empty_dir();
    let out = command(&dir, &[], &["models", "--demo"]).output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    let header = text.lines().next().unwrap();
    for column in ["model", "context", "max out", "input", "tools", "params"] {
        assert!(header.contains(column), "{header}");
    }
    assert!(text.contains("meta-llama/llama-3.3-70b-instruct:free"));
    assert!(text.contains("23 free models"), "{text}");
    assert!(
        text.contains("   131,072"),
        "a context of 131072 is grouped: {text}"
    );
    let out = command(&dir, &[], &["models", "--demo", "--json"])
        .output()
        .unwrap();
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(list.as_array().unwrap().len(), 23);

    let out = command(&dir, &[], &["check", "--demo"]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("settings: valid"), "{text}");
    assert!(
        text.contains("sk-or-v1-dem...eam") && text.contains(" ok"),
        "{text}"
    );
    assert!(!text.contains("demo-key-for"), "the key is masked: {text}");
    let out = command(&dir, &[], &["check", "--demo", "--json"])
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["ok"], true);
    assert_eq!(report["keys"][0]["free_today"]["limit"], 1_000_000);

    // A key OpenRouter refuses makes `check` fail and say so.
    let fake = openrouter_proxy::demo::FakeUpstream::start().unwrap();
    let base = fake.base_url();
    let env = [
        ("OPENROUTER_BASE_URL", base.as_str()),
        ("OPENROUTER_API_KEY", ""),
    ];
    let out = command(&dir, &env, &["check"]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("no OpenRouter key"));
}

#[cfg(unix)]
#[test]
fn out_of_file_descriptors_it_serves_again_once_they_free_up() {
    // Issue 11: tiny_http's accept loop ended on the first failed accept, for good.
    let dir = empty_dir();
    let mut cmd = Command::new("sh");
    cmd.current_dir(&dir)
        .env_clear()
        .env("PORT", "0")
        .env("PATH", "/usr/bin:/bin")
        .args(["-c", "ulimit -n 64 && exec \"$0\" --demo", BIN]);
    let proxy = spawn_command(cmd);
    assert_eq!(get(proxy.addr, "/health").status, 200);
    // Far more connections than descriptors: the kernel queues those the proxy cannot accept.
    let conns: Vec<std::net::TcpStream> = (0..150)
        .filter_map(|_| std::net::TcpStream::connect(proxy.addr).ok())
        .collect();
    std::thread::sleep(Duration::from_millis(1500));
    drop(conns);
    assert!(
        eventually(Duration::from_secs(15), || std::panic::catch_unwind(|| {
            get(proxy.addr, "/health").status
        })
        .is_ok_and(|s| s == 200)),
        "the proxy no longer serves"
    );
    assert_eq!(post_chat(proxy.addr, HELLO).status, 200);
    let log = proxy.log.lock().unwrap().join("\n");
    let failures = log.matches("cannot accept a connection").count();
    assert!(
        (1..=3).contains(&failures),
        "one line per burst of failed accepts, not one per failure: {failures}\n{log}"
    );
}

#[test]
fn a_key_quoted_back_by_upstream_never_reaches_the_log() {
    // Issue 12: the `retrying ... failed` line quoted the upstream's message, key and all.
    use openrouter_proxy::demo::{AUTHORIZATION_PLACEHOLDER, Script};
    let dir = empty_dir();
    let fake = openrouter_proxy::demo::FakeUpstream::start().unwrap();
    let body = format!(
        r#"{{"error":{{"message":"proxy error: Authorization: {AUTHORIZATION_PLACEHOLDER}","code":502}}}}"#
    );
    fake.push(Script::json(502, body.clone()));
    fake.push(Script::json(502, body));
    let key = "sk-or-v1-quoted-abcdef0123456789abcdef0123456789";
    let base = fake.base_url();
    let env = [
        ("PORT", "0"),
        ("OPENROUTER_API_KEY", key),
        ("OPENROUTER_BASE_URL", base.as_str()),
        ("RETRY_POLICY", "2"),
    ];
    let proxy = spawn(&dir, &env, &[]);
    let r = post_chat(proxy.addr, HELLO);
    r.expect_error(502);
    assert!(!r.text().contains(key));
    assert!(eventually(Duration::from_secs(2), || {
        proxy
            .log
            .lock()
            .unwrap()
            .iter()
            .any(|l| l.contains("POST /v1/chat/completions 502"))
    }));
    let log = proxy.log.lock().unwrap().join("\n");
    assert!(log.contains("retrying"), "{log}");
    assert!(!log.contains(key), "{log}");
    assert!(log.contains("sk-or-v1-quo...789"), "{log}");
}

/// Runs the binary to its end, or fails the test once `limit` passes (a command that should
/// have been refused may instead start a server and never end).
fn output_within(mut command: Command, limit: Duration) -> std::process::Output {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the binary");
    let started = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > limit {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "still running after {limit:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

fn text(out: &[u8]) -> String {
    String::from_utf8_lossy(out).into_owned()
}

/// Issue 14: `models --help`, `serve --help` and `daemon start --help` printed the global
/// help, and `daemon --help` and `help` were errors.
#[test]
fn every_command_has_its_own_help_by_flag_or_by_help() {
    let dir = empty_dir();
    let commands = [
        "serve",
        "models",
        "stats",
        "check",
        "daemon start",
        "daemon stop",
        "daemon status",
        "daemon restart",
    ];
    for name in commands {
        let words: Vec<&str> = name.split(' ').collect();
        let by_flag = command(&dir, &[], &[&words[..], &["--help"]].concat())
            .output()
            .unwrap();
        assert!(by_flag.status.success(), "{name}");
        let help = text(&by_flag.stdout);
        assert!(
            help.starts_with(&format!("openrouter-proxy {name}: ")),
            "{name}: {help}"
        );
        assert!(
            help.contains(&format!("Usage: openrouter-proxy {name}")),
            "{help}"
        );
        assert!(help.contains("Exit codes:") && help.contains("  2  usage error"));
        let by_word = command(&dir, &[], &[&["help"], &words[..]].concat())
            .output()
            .unwrap();
        assert!(by_word.status.success(), "help {name}");
        assert_eq!(text(&by_word.stdout), help, "help {name}");
    }
    let models = text(
        &command(&dir, &[], &["models", "-h"])
            .output()
            .unwrap()
            .stdout,
    );
    assert!(
        models.contains("--json") && !models.contains("--days"),
        "{models}"
    );
    let status = text(
        &command(&dir, &[], &["help", "daemon", "status"])
            .output()
            .unwrap()
            .stdout,
    );
    assert!(status.contains("  3  not running"), "{status}");

    for args in [&["daemon", "--help"][..], &["help", "daemon"]] {
        let out = command(&dir, &[], args).output().unwrap();
        assert!(out.status.success(), "{args:?}");
        let help = text(&out.stdout);
        for action in ["start", "stop", "status", "restart"] {
            assert!(help.contains(&format!("\n  {action} ")), "{help}");
        }
        assert!(!help.contains("supervise"), "{help}");
    }

    let all = command(&dir, &[], &["help"]).output().unwrap();
    assert!(all.status.success());
    assert_eq!(
        text(&all.stdout),
        text(&command(&dir, &[], &["--help"]).output().unwrap().stdout)
    );
    let all = text(&all.stdout);
    for name in commands {
        assert!(all.contains(&format!("\n  {name} ")), "{all}");
    }
    assert!(
        !all.contains("supervise"),
        "the supervisor is internal: {all}"
    );
}

/// Issue 14: usage errors exited 1, `--json` alone started a server on port 5000, and
/// `models --days 3` and `daemon stop --json` were accepted and ignored.
#[test]
fn usage_errors_exit_2_naming_the_problem_and_start_nothing() {
    let dir = empty_dir();
    let cases: &[(&[&str], &str)] = &[
        (&["--json"], "--json does not apply to `serve`"),
        (&["--days", "3"], "--days does not apply to `serve`"),
        (
            &["models", "--days", "3"],
            "--days does not apply to `models`",
        ),
        (
            &["daemon", "stop", "--json"],
            "--json does not apply to `daemon stop`",
        ),
        (
            &["daemon", "status", "--demo"],
            "--demo does not apply to `daemon status`",
        ),
        (&["stats", "--demo"], "--demo does not apply to `stats`"),
        (&["--nope"], "unknown option --nope"),
        (&["check", "-x"], "unknown option -x"),
        (&["frobnicate"], "unknown command \"frobnicate\""),
        (
            &["models", "extra"],
            "unexpected argument \"extra\" after `models`",
        ),
        (&["daemon"], "`daemon` needs an action"),
        (&["daemon", "go"], "unknown daemon action \"go\""),
        (
            &["stats", "--days", "0"],
            "--days needs a whole number of at least 1",
        ),
        (&["stats", "--days"], "--days"),
        (&["stats", "--json", "--json"], "--json is given twice"),
        (&["help", "frobnicate"], "unknown command \"frobnicate\""),
        (&["models", "--version"], "--version takes no command"),
    ];
    for (args, problem) in cases {
        // PORT=0: were the line to start a server after all, it would not take port 5000.
        let out = output_within(
            command(&dir, &[("PORT", "0")], args),
            Duration::from_secs(10),
        );
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.starts_with("openrouter-proxy: ") && stderr.contains(problem),
            "{args:?}: {stderr}"
        );
        assert!(
            stderr.contains("openrouter-proxy help"),
            "{args:?}: {stderr}"
        );
        assert!(out.stdout.is_empty(), "{args:?}");
    }
    // The misplaced option's error shows the command's usage.
    let out = command(&dir, &[], &["models", "--days", "3"])
        .output()
        .unwrap();
    assert!(
        text(&out.stderr)
            .contains("Usage: openrouter-proxy models [--env-file PATH] [--demo] [--json]"),
        "{}",
        text(&out.stderr)
    );
    // Failures that are not about the command line keep exit code 1.
    let out = command(&dir, &[("PORT", "50OO")], &["check"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
}

/// Issue 14: no colour on a terminal. Piped output has none, `CLICOLOR_FORCE=1` stands in
/// for a terminal, and `NO_COLOR` wins over both.
#[test]
fn colour_only_where_it_is_wanted() {
    let dir = empty_dir();
    let check = |env: &[(&str, &str)]| {
        let out = command(&dir, env, &["check", "--demo"]).output().unwrap();
        assert!(out.status.success(), "{}", text(&out.stdout));
        text(&out.stdout)
    };
    let piped = check(&[]);
    assert!(!piped.contains('\x1b'), "{piped:?}");
    let forced = check(&[("CLICOLOR_FORCE", "1")]);
    assert!(
        forced.contains("settings: \x1b[32mvalid\x1b[0m"),
        "{forced:?}"
    );
    assert!(forced.contains("\x1b[32mok\x1b[0m"), "{forced:?}");
    let refused = check(&[("CLICOLOR_FORCE", "1"), ("NO_COLOR", "1")]);
    assert!(!refused.contains('\x1b'), "{refused:?}");
    assert_eq!(refused.lines().count(), piped.lines().count());

    // The log lines on stderr: the "listening on" line is the first.
    let first_line = |env: &[(&str, &str)]| {
        let mut all = vec![("PORT", "0")];
        all.extend_from_slice(env);
        let mut child = command(&dir, &all, &["--demo"])
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stderr.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let _ = child.kill();
        let _ = child.wait();
        line
    };
    let plain = first_line(&[]);
    assert!(
        plain.contains("listening on http://") && !plain.contains('\x1b'),
        "{plain:?}"
    );
    let coloured = first_line(&[("CLICOLOR_FORCE", "1")]);
    assert!(coloured.contains("\x1b[32mINFO "), "{coloured:?}");
    assert!(!first_line(&[("CLICOLOR_FORCE", "1"), ("NO_COLOR", "1")]).contains('\x1b'));
}

/// Issue 14: the banner and `/health` said to restart after adding a key, but a key added to
/// `.env` is picked up while the proxy runs.
#[test]
fn without_a_key_no_message_asks_for_a_restart() {
    let dir = empty_dir();
    // Nothing listens on port 9 of loopback: no test reaches the network.
    let base = "OPENROUTER_BASE_URL=http://127.0.0.1:9/api/v1\nPORT=0\n";
    std::fs::write(dir.join(".env"), base).unwrap();
    let proxy = spawn(&dir, &[], &[]);
    let health = get(proxy.addr, "/health").json();
    let warning = health["warning"].as_str().unwrap();
    assert!(warning.contains("OPENROUTER_API_KEY"), "{warning}");
    assert!(warning.contains("no restart needed"), "{warning}");
    assert!(!warning.contains("then restart"), "{warning}");
    assert!(eventually(Duration::from_secs(2), || {
        proxy
            .log
            .lock()
            .unwrap()
            .iter()
            .any(|l| l.contains("no OpenRouter key yet"))
    }));
    let log = proxy.log.lock().unwrap().join("\n");
    assert!(
        log.contains("no restart needed") && !log.contains("and restart"),
        "{log}"
    );

    // And it is true: the key written to `.env` now is used without a restart. The file is
    // written again until then: the watcher starts just after the banner, and a write before
    // it watches would go unseen.
    let with_key = format!("{base}OPENROUTER_API_KEY=sk-or-v1-added-later-0000000000000000\n");
    let picked_up = (0..20).any(|_| {
        std::fs::write(dir.join(".env"), &with_key).unwrap();
        eventually(Duration::from_millis(500), || {
            get(proxy.addr, "/health").json()["openrouter_key_configured"] == true
        })
    });
    assert!(picked_up, "the key was not picked up");
    assert!(get(proxy.addr, "/health").json()["warning"].is_null());
}
