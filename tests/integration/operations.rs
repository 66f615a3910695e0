//! Issue 6, running for weeks: `.env` hot reload, daemon mode, clean shutdown.

use std::fs;
use std::path::Path;
use std::time::Duration;

use openrouter_proxy::config::RawSettings;
use openrouter_proxy::fake_upstream::FakeUpstream;

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
    openrouter_proxy::reload::spawn(state.clone(), env.clone());
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
        let out = Command::new(BIN)
            .current_dir(dir)
            .env_clear()
            .env("PORT", "0")
            .env("SHUTDOWN_GRACE", "5")
            .args(["daemon", action, "--demo"])
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
        let mut conn = Conn::open(addr);
        conn.send(
            "POST",
            "/v1/chat/completions",
            &[("Content-Type", "application/json")],
            HELLO_STREAM.as_bytes(),
        );
        conn.read_head();
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
}
