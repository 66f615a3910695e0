//! What Linux says about processes and the machine (`/proc`): resident memory, CPU time,
//! context switches, children, load. Readings that fail give zero or NaN, never an error: a
//! figure missing from the report is better than no report.

use std::fs;
use std::thread;
use std::time::Duration;

/// The processes whose parent is `pid` (from `/proc/*/stat`).
pub fn children(pid: u32) -> Vec<u32> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|child| {
            let stat = fs::read_to_string(format!("/proc/{child}/stat")).unwrap_or_default();
            // After the command name: the state, then the parent's pid.
            let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
            rest.split_whitespace().nth(1) == Some(pid.to_string().as_str())
        })
        .collect()
}

/// Context switches (voluntary and not) of every thread of these processes so far. Threads
/// that have ended no longer count: the figure is for threads that live across the requests.
pub fn context_switches(pids: &[u32]) -> u64 {
    let mut total = 0;
    for pid in pids {
        let Ok(tasks) = fs::read_dir(format!("/proc/{pid}/task")) else {
            continue;
        };
        for task in tasks.flatten() {
            let status = fs::read_to_string(task.path().join("status")).unwrap_or_default();
            total += status
                .lines()
                .filter(|l| l.contains("ctxt_switches:"))
                .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
                .sum::<u64>();
        }
    }
    total
}

/// Resident memory of a process, in MiB.
pub fn rss_mib(pid: u32) -> f64 {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// Resident memory of several processes together, in MiB.
pub fn group_rss_mib(pids: &[u32]) -> f64 {
    pids.iter().map(|p| rss_mib(*p)).sum()
}

/// Resident memory once it has stopped changing (at most a few seconds).
pub fn settled_rss(pid: u32) -> f64 {
    settled_group_rss(&[pid])
}

/// Resident memory of several processes together, once it has stopped changing.
pub fn settled_group_rss(pids: &[u32]) -> f64 {
    let mut last = group_rss_mib(pids);
    let mut same = 0;
    for _ in 0..50 {
        thread::sleep(Duration::from_millis(100));
        let now = group_rss_mib(pids);
        if (now - last).abs() < 0.05 {
            same += 1;
            if same >= 3 {
                break;
            }
        } else {
            same = 0;
        }
        last = now;
    }
    last
}

/// User and system CPU time a process has used, in seconds (all its threads).
pub fn cpu_seconds(pid: u32) -> (f64, f64) {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The fields after the command name (which may hold spaces) start after the last ')'.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    let tick = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
            / 100.0
    };
    (tick(11), tick(12))
}

/// CPU time per request between two readings, as "user + system µs".
pub fn cpu_per_request(before: (f64, f64), after: (f64, f64), requests: usize) -> String {
    let n = requests.max(1) as f64;
    let user = (after.0 - before.0) / n * 1e6;
    let system = (after.1 - before.1) / n * 1e6;
    format!("{user:.0} + {system:.0} µs")
}

/// CPU seconds the whole machine has been busy (all cores, from /proc/stat).
pub fn machine_busy() -> f64 {
    let stat = fs::read_to_string("/proc/stat").unwrap_or_default();
    let line = stat.lines().next().unwrap_or("");
    let v: Vec<f64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal
    let busy: f64 =
        v.iter().take(8).sum::<f64>() - v.get(3).unwrap_or(&0.0) - v.get(4).unwrap_or(&0.0);
    busy / 100.0
}

/// CPU seconds used by this process and the children it has waited for (the servers).
pub fn own_cpu() -> f64 {
    let stat = fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<f64> = rest
        .split_whitespace()
        .filter_map(|x| x.parse().ok())
        .collect();
    // After the name: state is not a number, so utime, stime, cutime, cstime are 10..14 here.
    f.get(10..14).map_or(0.0, |x| x.iter().sum::<f64>()) / 100.0
}

/// The 1-minute load average.
pub fn loadavg() -> String {
    fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .next()
        .unwrap_or("?")
        .to_string()
}

pub fn machine() -> String {
    let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|l| l.trim_start_matches([' ', '\t', ':']).to_string())
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = thread::available_parallelism().map_or(0, |n| n.get());
    let kernel = fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!("{cores} cores, {model}, Linux {}", kernel.trim())
}
