//! Issue 6, running for weeks: `.env` hot reload, daemon mode, clean shutdown.

use std::fs;
use std::path::Path;
use std::time::Duration;

use openrouter_proxy::RawSettings;
use openrouter_proxy::demo::FakeUpstream;

use crate::common::*;

const KEY_B: &str = "sk-or-v1-bbbb111111111111111111111111111111111111111111111111111b";
const KEY_C: &str = "sk-or-v1-cccc111111111111111111111111111111111111111111111111111c";

fn env_text(fake: &FakeUpstream, cache: &Path, extra: &str) -> String {
    format!(
        "OPENROUTER_BASE_URL={}\nPORT=0\nCACHE_DIR={}\nRETRY_POLICY=never\n{extra}\n",
        fake.base_url(),
        cache.display()
    )
}

fn last_key(fake: &FakeUpstream) -> String {
    let seen = fake.chat_requests();
    seen.last()
        .unwrap()
        .header("Authorization")
        .unwrap()
        .trim_start_matches("Bearer ")
        .to_string()
}

#[test]
fn editing_dotenv_changes_keys_strategy_and_limit_without_a_restart() {
    let dir = scratch_dir();
    let env = dir.join(".env");
    let fake = FakeUpstream::start().unwrap();
    let cache = dir.join("cache");
    fs::write(
        &env,
        env_text(
            &fake,
            &cache,
            &format!("OPENROUTER_API_KEY={KEY}\nMAX_CONCURRENT_REQUESTS=2"),
        ),
    )
    .unwrap();
    let config = RawSettings::load(&env, true).unwrap().validate().unwrap();
    let (state, running) = openrouter_proxy::start(config).unwrap();
    let addr = running.local_addr();
    std::mem::forget(running);
    openrouter_proxy::watch_env_file(state.clone(), env.clone());
    assert_eq!(post_chat(addr, HELLO).status, 200);
    assert_eq!(last_key(&fake), KEY);
    let health = || get(addr, "/health").json();
    assert_eq!(health()["strategy"], "round_robin");

    // Written in place.
    thread_sleep_for_watcher();
    fs::write(
        &env,
        env_text(
            &fake,
            &cache,
            &format!(
                "OPENROUTER_API_KEYS={KEY_B},{KEY_C}\nLOAD_BALANCE_STRATEGY=least_used\nMAX_CONCURRENT_REQUESTS=4"
            ),
        ),
    )
    .unwrap();
    assert!(
        eventually(Duration::from_secs(5), || health()["concurrency"]["limit"]
            == 4),
        "the new limit was not applied"
    );
    assert_eq!(health()["strategy"], "least_used");
    assert_eq!(post_chat(addr, HELLO).status, 200);
    assert_eq!(last_key(&fake), KEY_B);
    assert_eq!(post_chat(addr, HELLO).status, 200);
    assert_eq!(last_key(&fake), KEY_C);

    // Saved the way many editors do: a new file renamed over the old one.
    let tmp = dir.join(".env.tmp");
    fs::write(
        &tmp,
        env_text(
            &fake,
            &cache,
            &format!("OPENROUTER_API_KEY={KEY_C}\nMAX_CONCURRENT_REQUESTS=3"),
        ),
    )
    .unwrap();
    fs::rename(&tmp, &env).unwrap();
    assert!(eventually(
        Duration::from_secs(5),
        || health()["concurrency"]["limit"] == 3
    ));
    assert_eq!(post_chat(addr, HELLO).status, 200);
    assert_eq!(last_key(&fake), KEY_C);

    // An invalid edit keeps the running configuration, and the proxy keeps serving.
    fs::write(
        &env,
        env_text(
            &fake,
            &cache,
            &format!("OPENROUTER_API_KEY={KEY_B}\nMAX_CONCURRENT_REQUESTS=zero"),
        ),
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(1200));
    assert_eq!(health()["concurrency"]["limit"], 3);
    assert_eq!(post_chat(addr, HELLO).status, 200);
    assert_eq!(
        last_key(&fake),
        KEY_C,
        "the invalid file's key was not taken"
    );
}

/// Lets the watcher see the first write as a change (file times have a coarse grain).
fn thread_sleep_for_watcher() {
    std::thread::sleep(Duration::from_millis(100));
}

#[cfg(unix)]
mod unix {
    use std::io::{BufRead, BufReader};
    use std::path::{Path, PathBuf};
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};

    use serde_json::Value;

    use crate::common::*;

    const BIN: &str = env!("CARGO_BIN_EXE_openrouter-proxy");

    fn daemon(dir: &Path, action: &str) -> (bool, String) {
        // Only the actions that start a proxy take `--demo` (issue 14: others refuse it).
        let demo = ["start", "restart"].contains(&action);
        let out = Command::new(BIN)
            .current_dir(dir)
            .env_clear()
            .env("PORT", "0")
            .env("SHUTDOWN_GRACE", "5")
            .env("DEBUG_MODE_FILE", dir.join("DEBUG_MODE.txt"))
            .args(["daemon", action])
            .args(demo.then_some("--demo"))
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    }

    fn status(dir: &Path) -> Value {
        let out = Command::new(BIN)
            .current_dir(dir)
            .env_clear()
            .args(["daemon", "status", "--json"])
            .output()
            .unwrap();
        serde_json::from_slice(&out.stdout).unwrap()
    }

    fn alive(pid: u64) -> bool {
        Command::new("kill")
            .args(["-0", &pid.to_string()])
            .stderr(Stdio::null())
            .status()
            .unwrap()
            .success()
    }

    fn pid_file(dir: &Path) -> PathBuf {
        dir.join("cache").join("daemon.pid")
    }

    #[test]
    fn the_daemon_starts_once_restarts_a_killed_proxy_and_stops_cleanly() {
        let dir = scratch_dir();
        let (ok, text) = daemon(&dir, "start");
        assert!(ok, "{text}");
        assert!(text.contains("started"), "{text}");
        let first = status(&dir);
        assert_eq!(first["running"], true);
        let (supervisor, proxy) = (
            first["pid"].as_u64().unwrap(),
            first["proxy_pid"].as_u64().unwrap(),
        );
        let port = first["port"].as_u64().unwrap();

        // A second start refuses, saying which one runs.
        let (ok, text) = daemon(&dir, "start");
        assert!(!ok);
        assert!(text.contains("already running"), "{text}");
        assert!(
            text.contains(&supervisor.to_string()) && text.contains(&port.to_string()),
            "{text}"
        );

        // SIGKILL the proxy: the supervisor brings it back, and status counts the restart.
        Command::new("kill")
            .args(["-9", &proxy.to_string()])
            .status()
            .unwrap();
        let start = Instant::now();
        let mut now = first.clone();
        while start.elapsed() < Duration::from_secs(10) {
            now = status(&dir);
            if now["restarts"] == 1 && now["health"]["status"] == "ok" {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        assert_eq!(now["restarts"], 1, "{now}");
        assert_eq!(now["health"]["status"], "ok", "{now}");
        let new_proxy = now["proxy_pid"].as_u64().unwrap();
        assert_ne!(new_proxy, proxy);
        assert!(start.elapsed() < Duration::from_secs(5));

        // Stop leaves no process and no pid file.
        let (ok, text) = daemon(&dir, "stop");
        assert!(ok, "{text}");
        assert!(!pid_file(&dir).exists());
        assert!(eventually(Duration::from_secs(3), || !alive(supervisor)
            && !alive(new_proxy)));
        assert_eq!(status(&dir)["running"], false);
    }

    #[test]
    fn a_stale_pid_file_does_not_block_start() {
        let dir = scratch_dir();
        std::fs::create_dir_all(dir.join("cache")).unwrap();
        std::fs::write(
            pid_file(&dir),
            r#"{"pid": 999999, "proxy_pid": 999998, "port": 1, "started_at": 0, "restarts": 4}"#,
        )
        .unwrap();
        let (ok, text) = daemon(&dir, "start");
        assert!(ok, "{text}");
        assert!(text.contains("stale"), "{text}");
        assert_eq!(status(&dir)["restarts"], 0);
        let (ok, _) = daemon(&dir, "stop");
        assert!(ok);
    }

    #[test]
    fn sigterm_lets_a_stream_finish_then_exits_zero() {
        let dir = scratch_dir();
        let mut child = Command::new(BIN)
            .current_dir(&dir)
            .env_clear()
            .env("PORT", "0")
            .arg("--demo")
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let mut lines = BufReader::new(stderr).lines();
        let addr = loop {
            let line = lines.next().unwrap().unwrap();
            if let Some(rest) = line.split("listening on http://").nth(1) {
                break rest.trim_end_matches("/v1").parse().unwrap();
            }
        };
        // The demo spaces its stream's events 60 ms apart: about a second in all.
        let mut conn = open_stream(addr);
        conn.read_chunk().unwrap();
        Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        let mut text = String::new();
        while let Some((piece, _)) = conn.read_chunk() {
            text.push_str(&String::from_utf8_lossy(&piece));
        }
        assert!(
            text.ends_with("data: [DONE]\n\n"),
            "the stream was cut: {text}"
        );
        let status = child.wait().unwrap();
        assert!(status.success(), "{status:?}");
        let rest: Vec<String> = lines.map_while(Result::ok).collect();
        assert!(rest.iter().any(|l| l.contains("shutting down")), "{rest:?}");
    }

    fn counters(dir: &Path) -> Value {
        let day = chrono::Local::now().format("%Y%m%d");
        let path = dir.join("cache").join(format!("CALLS_{day}.json"));
        serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
    }

    /// Every JSON file below `dir` parses, and every line of every `.jsonl` file does.
    fn all_json_valid(dir: &Path) -> usize {
        let mut checked = 0;
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            let path = entry.path();
            let name = path.display().to_string();
            if path.is_dir() {
                checked += all_json_valid(&path);
            } else if name.ends_with(".json") {
                let text = std::fs::read_to_string(&path).unwrap();
                assert!(
                    serde_json::from_str::<Value>(&text).is_ok(),
                    "{name} is not valid JSON"
                );
                checked += 1;
            } else if name.ends_with(".jsonl") {
                for line in std::fs::read_to_string(&path).unwrap().lines() {
                    assert!(
                        serde_json::from_str::<Value>(line).is_ok(),
                        "{name}: {line}"
                    );
                }
                checked += 1;
            }
        }
        checked
    }

    #[test]
    fn a_request_that_killed_tiny_http_gets_an_answer_and_nothing_restarts() {
        // Issue 11: tiny_http allocated a declared 10 TB body when it dropped the request,
        // and the process aborted (the daemon brought it back). Now it is an answer.
        let dir = scratch_dir();
        std::fs::write(dir.join("DEBUG_MODE.txt"), "").unwrap();
        let (ok, text) = daemon(&dir, "start");
        assert!(ok, "{text}");
        let port = status(&dir)["port"].as_u64().unwrap() as u16;
        let addr: std::net::SocketAddr = ([127, 0, 0, 1], port).into();
        for _ in 0..3 {
            assert_eq!(post_chat(addr, HELLO).status, 200);
        }
        for length in ["10000000000000", "18446744073709551615"] {
            let mut conn = Conn::open(addr);
            conn.send_raw(
                format!(
                    "GET /health HTTP/1.1\r\nHost: localhost\r\nContent-Length: {length}\r\n\r\n"
                )
                .as_bytes(),
            );
            assert_eq!(conn.read_response().status, 200);
        }
        assert_eq!(post_chat(addr, HELLO).status, 200);
        let now = status(&dir);
        assert_eq!(now["restarts"], 0, "{now}");
        assert_eq!(counters(&dir)["total"], 4);
        all_json_valid(&dir.join("cache"));
        let (ok, _) = daemon(&dir, "stop");
        assert!(ok);
    }

    #[test]
    fn kill_9_under_load_leaves_valid_files_that_count_every_answer_received() {
        let dir = scratch_dir();
        std::fs::write(dir.join("DEBUG_MODE.txt"), "").unwrap();
        let received = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let mut seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos() as u64;
        for round in 0..3 {
            let mut child = Command::new(BIN)
                .current_dir(&dir)
                .env_clear()
                .env("PORT", "0")
                .env("FREE_DAILY_LIMIT", "100000")
                .env("DEBUG_MODE_FILE", dir.join("DEBUG_MODE.txt"))
                .arg("--demo")
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
            let addr: std::net::SocketAddr = loop {
                let line = lines.next().unwrap().unwrap();
                if let Some(rest) = line.split("listening on http://").nth(1) {
                    break rest.trim_end_matches("/v1").parse().unwrap();
                }
            };
            std::thread::spawn(move || for _ in lines {});
            let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
            let clients: Vec<_> = (0..4)
                .map(|i| {
                    let (stop, received) = (stop.clone(), received.clone());
                    std::thread::spawn(move || {
                        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                            let body = if i % 2 == 0 { HELLO } else { HELLO_STREAM };
                            let complete = std::panic::catch_unwind(|| {
                                let r = post_chat(addr, body);
                                r.status == 200
                                    && (body == HELLO || r.text().ends_with("data: [DONE]\n\n"))
                            });
                            match complete {
                                Ok(true) => {
                                    received.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                                }
                                _ => std::thread::sleep(Duration::from_millis(20)),
                            }
                        }
                    })
                })
                .collect();
            // Under load (answers are coming), at a random moment 0.1 to 0.7 s later.
            let before = received.load(std::sync::atomic::Ordering::SeqCst);
            assert!(eventually(Duration::from_secs(10), || {
                received.load(std::sync::atomic::Ordering::SeqCst) > before
            }));
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            std::thread::sleep(Duration::from_millis(100 + seed % 600));
            child.kill().unwrap();
            child.wait().unwrap();
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
            for c in clients {
                let _ = c.join();
            }
            assert!(all_json_valid(&dir.join("cache")) >= 3, "round {round}");
        }
        let counted = counters(&dir)["total"].as_u64().unwrap();
        let got = received.load(std::sync::atomic::Ordering::SeqCst);
        assert!(got > 0);
        assert!(
            counted >= got,
            "the files count {counted} calls, but clients received {got} whole answers"
        );
        let c = counters(&dir);
        let parts = ["success", "failed", "timeout"].map(|f| c[f].as_u64().unwrap());
        assert_eq!(counted, parts.iter().sum::<u64>());
    }
}

/// The daemon's commands as a user runs them, on any system.
mod daemon_start {
    use std::fs;
    use std::path::Path;
    use std::process::Command;
    use std::time::{Duration, Instant};

    use crate::common::*;

    const BIN: &str = env!("CARGO_BIN_EXE_openrouter-proxy");

    /// Runs the binary in `dir` with only `env` set: its exit code, its output (stdout, then
    /// stderr), and how long it took.
    fn run(dir: &Path, env: &[(&str, &str)], args: &[&str]) -> (Option<i32>, String, Duration) {
        let started = Instant::now();
        let out = Command::new(BIN)
            .current_dir(dir)
            .env_clear()
            .envs(env.iter().copied())
            .env("SHUTDOWN_GRACE", "5")
            .args(args)
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.code(), text, started.elapsed())
    }

    /// Issue 14: with its port taken, `daemon start` sat silent for 30 s while the supervisor
    /// tried a bind that could not succeed 11 times.
    #[test]
    fn start_fails_at_once_with_the_reason_when_the_port_is_taken() {
        let dir = scratch_dir();
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = taken.local_addr().unwrap().port().to_string();
        let env = [("PORT", port.as_str())];
        let (code, text, took) = run(&dir, &env, &["daemon", "start", "--demo"]);
        assert_eq!(code, Some(1), "{text}");
        // A generous bound: the point is "not 30 s", not a timing.
        assert!(took < Duration::from_secs(10), "took {took:?}: {text}");
        assert!(
            text.contains("the proxy could not start: cannot listen on")
                && text.contains(&format!(":{port}")),
            "{text}"
        );
        // Nothing is left running, and the proxy was started once, not restarted.
        let (code, text, _) = run(&dir, &[], &["daemon", "status"]);
        assert_eq!(code, Some(3), "{text}");
        assert!(!dir.join("cache").join("daemon.pid").exists());
        let log = fs::read_to_string(dir.join("cache").join("daemon.log")).unwrap();
        assert_eq!(
            log.matches("openrouter-proxy: cannot listen").count(),
            1,
            "{log}"
        );
        assert!(log.contains("not restarted"), "{log}");
        drop(taken);

        // Once the port is free, the next start works, with the old reason gone.
        let (code, text, _) = run(&dir, &env, &["daemon", "start", "--demo"]);
        assert_eq!(code, Some(0), "{text}");
        assert!(!dir.join("cache").join("daemon.failed").exists());
        let (code, text, _) = run(&dir, &[], &["daemon", "stop"]);
        assert_eq!(code, Some(0), "{text}");
    }

    #[test]
    fn start_refuses_an_invalid_setting_before_it_launches_anything() {
        let dir = scratch_dir();
        for (name, value) in [
            ("MAX_CONCURRENT_REQUESTS", "zero"),
            ("HTTP_PROXY", "gopher://proxy.invalid"),
        ] {
            let env = [("PORT", "0"), (name, value)];
            let (code, text, took) = run(&dir, &env, &["daemon", "start", "--demo"]);
            assert_eq!(code, Some(1), "{text}");
            assert!(took < Duration::from_secs(10), "took {took:?}: {text}");
            assert!(text.contains(name) && text.contains(value), "{text}");
            assert!(
                !dir.join("cache").exists(),
                "a supervisor was launched: {text}"
            );
        }
    }

    /// The supervisor learns the port from the proxy's "listening on" line, which `LOG_LEVEL`
    /// used to silence along with the other info lines.
    #[test]
    fn the_daemon_starts_with_log_level_error_and_status_reads_well() {
        let dir = scratch_dir();
        let env = [("PORT", "0"), ("LOG_LEVEL", "error")];
        let (code, text, _) = run(&dir, &env, &["daemon", "start", "--demo"]);
        assert_eq!(code, Some(0), "{text}");
        let (code, text, _) = run(&dir, &[], &["daemon", "status"]);
        assert_eq!(code, Some(0), "{text}");
        assert!(text.starts_with("running\n"), "{text}");
        assert!(
            text.contains("  uptime ") && text.contains(", since "),
            "{text}"
        );
        assert!(
            text.contains("  keys            sk-or-v1-dem...eam  active"),
            "{text}"
        );
        assert!(!text.contains('\x1b'), "piped, so no colour: {text:?}");
        let (_, text, _) = run(&dir, &[("CLICOLOR_FORCE", "1")], &["daemon", "status"]);
        assert!(text.starts_with("\x1b[32mrunning\x1b[0m"), "{text:?}");
        let (code, text, _) = run(&dir, &[], &["daemon", "stop"]);
        assert_eq!(code, Some(0), "{text}");
    }
}
