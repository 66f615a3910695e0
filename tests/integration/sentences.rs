//! Issue 12: what the commands print is made of sentences, and files they read never panic
//! them.

use std::process::Command;

use crate::common::*;

const BIN: &str = env!("CARGO_BIN_EXE_openrouter-proxy");

fn command(dir: &std::path::Path, env: &[(&str, &str)], args: &[&str]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.current_dir(dir).env_clear().args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

#[test]
fn check_says_what_went_wrong_in_words() {
    // It printed Debug text: `Unreachable("connection refused")`.
    let dir = scratch_dir();
    let env = [
        ("OPENROUTER_BASE_URL", "http://127.0.0.1:9/api/v1"),
        (
            "OPENROUTER_API_KEY",
            "sk-or-v1-sentence-0000000000000000000000",
        ),
    ];
    let out = command(&dir, &env, &["check"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success());
    assert!(text.contains("cannot reach OpenRouter"), "{text}");
    assert!(
        !text.contains("Unreachable(") && !text.contains("(\""),
        "{text}"
    );
}

#[test]
fn a_daily_file_with_an_odd_date_does_not_panic_stats() {
    // A `date` shorter than YYYYMMDD was sliced as if it had eight digits.
    let dir = scratch_dir();
    let day = chrono::Local::now().format("%Y%m%d").to_string();
    std::fs::create_dir_all(dir.join("cache")).unwrap();
    std::fs::write(
        dir.join("cache").join(format!("CALLS_{day}.json")),
        r#"{"date":"26","total":1,"success":1,"failed":0,"timeout":0,"retry":0,"last_updated":"x"}"#,
    )
    .unwrap();
    let out = command(&dir, &[], &["stats", "--days", "2"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
