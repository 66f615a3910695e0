//! What one request costs a server's processes: context switches and system calls.

use std::fs;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use crate::client::Client;
use crate::progress;
use crate::system::context_switches;
use crate::target::Target;

/// What one request costs a server's processes, counted over requests sent one at a time on
/// one keep-alive connection.
pub struct Costs {
    /// Context switches of the server's threads per request.
    pub switches: f64,
    /// System calls per request (`strace -c -f`) and the most frequent ones, when strace ran.
    pub syscalls: Option<(f64, String)>,
}

/// Sends `n` requests through `target` counting the context switches of `pids`, then `n` more
/// under `strace -c -f` (when given) counting their system calls. The two passes are apart
/// because tracing slows every system call down, and with it the scheduling.
pub fn request_costs(
    target: &Target,
    pids: &[u32],
    n: usize,
    strace: Option<&Path>,
    summary: &Path,
) -> Result<Costs, String> {
    let mut conn = Client::new(target.addr);
    let mut send = |count: usize| -> Result<(), String> {
        for _ in 0..count {
            match conn.exchange(&target.whole) {
                Ok(200) => {}
                other => return Err(format!("{}: {other:?}", target.label)),
            }
        }
        Ok(())
    };
    send(50)?;
    let before = context_switches(pids);
    send(n)?;
    let switches = context_switches(pids).saturating_sub(before) as f64 / n as f64;
    let syscalls = match strace {
        Some(bin) => Some(count_syscalls(bin, pids, summary, n, || send(n))?),
        None => None,
    };
    Ok(Costs { switches, syscalls })
}

/// Runs `work` (`n` requests) with strace attached to every thread of `pids`, and returns the
/// system calls per request and the six most frequent ones, per request.
pub fn count_syscalls(
    bin: &Path,
    pids: &[u32],
    summary: &Path,
    n: usize,
    work: impl FnOnce() -> Result<(), String>,
) -> Result<(f64, String), String> {
    let mut cmd = Command::new(bin);
    cmd.args(["-c", "-f", "-o"]).arg(summary);
    for pid in pids {
        cmd.arg("-p").arg(pid.to_string());
    }
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start strace: {e}"))?;
    // strace says "Process N attached" (with "with M threads" when it has several) once it
    // has attached every thread of a process given: all must be traced before the requests
    // start, and waiting longer would count the idle threads' timers as the requests' cost.
    let attached = Arc::new(AtomicUsize::new(0));
    let stderr = child.stderr.take().expect("piped stderr");
    let seen = Arc::clone(&attached);
    let reader = thread::spawn(move || {
        let mut said = String::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.contains(" attached") {
                seen.fetch_add(1, Ordering::SeqCst);
            } else {
                said.push_str(&line);
                said.push('\n');
            }
        }
        said
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    while attached.load(Ordering::SeqCst) < pids.len() {
        if Instant::now() > deadline {
            let _ = child.kill();
            return Err(format!(
                "strace attached {} of {} processes within 20 s",
                attached.load(Ordering::SeqCst),
                pids.len()
            ));
        }
        if let Ok(Some(status)) = child.try_wait() {
            let said = reader.join().unwrap_or_default();
            return Err(format!("strace exited ({status}): {said}"));
        }
        thread::sleep(Duration::from_millis(20));
    }
    thread::sleep(Duration::from_millis(200));
    let t0 = Instant::now();
    let result = work();
    progress(&format!(
        "  {n} requests under strace: {:.2} ms each",
        t0.elapsed().as_secs_f64() * 1000.0 / n as f64
    ));
    let _ = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status();
    let _ = child.wait();
    let said = reader.join().unwrap_or_default();
    result?;
    let text = fs::read_to_string(summary).map_err(|e| format!("no strace summary: {e} {said}"))?;
    let mut calls: Vec<(String, u64)> = text
        .lines()
        .filter(|l| !l.starts_with('%') && !l.starts_with('-'))
        .filter_map(|l| {
            let fields: Vec<&str> = l.split_whitespace().collect();
            Some((fields.last()?.to_string(), fields.get(3)?.parse().ok()?))
        })
        .collect();
    let total = calls
        .iter()
        .find(|(name, _)| name == "total")
        .map(|(_, n)| *n)
        .ok_or_else(|| format!("no total in the strace summary: {text}"))?;
    calls.retain(|(name, _)| name != "total");
    calls.sort_by_key(|c| std::cmp::Reverse(c.1));
    let top: Vec<String> = calls
        .iter()
        .take(6)
        .map(|(name, c)| format!("{name} {:.1}", *c as f64 / n as f64))
        .collect();
    Ok((total as f64 / n as f64, top.join(", ")))
}
