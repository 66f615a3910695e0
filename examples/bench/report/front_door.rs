//! The front-door table (issue 11): each goal's figure for the proxy beside nginx's, the ratio,
//! and whether the goal is met.

use std::path::Path;
use std::process::Command;

use crate::args::{Args, Sizes};
use crate::measure::{
    BURST_IDLE, COST_NGINX, COST_NGINX_LARGE, COST_PROXY, COST_PROXY_LARGE, ONE_DIRECT,
    ONE_DIRECT_LARGE, ONE_NGINX, ONE_NGINX_LARGE, ONE_PROXY, ONE_PROXY_LARGE, Results,
};
use crate::report::{Align, Table};
use crate::stats::{Samples, ms};
use crate::target::LARGE_BODY;

/// How a figure is shown.
#[derive(Clone, Copy)]
enum Show {
    /// Microseconds, shown in ms.
    Ms,
    Count,
    Mib,
}

/// What a figure must be.
enum Goal {
    None,
    /// At most this many times nginx's figure.
    TimesNginx(f64),
    /// At most this value (in the figure's unit), said so.
    AtMost(f64, &'static str),
}

/// One row: a figure for the proxy and for nginx (`None` when not measured), and its goal.
struct GoalRow {
    figure: String,
    proxy: Option<f64>,
    nginx: Option<f64>,
    show: Show,
    goal: Goal,
}

/// Paths 1 and 2 of the many-clients runs are the proxy and nginx; 0 is direct.
const PROXY: usize = 1;
const NGINX: usize = 2;

pub fn section(r: &mut String, args: &Args, sizes: &Sizes, results: &Results) {
    r.push_str(&format!(
        "\n### The front door (issue 11): the proxy beside nginx\n\n\
         nginx {} as a reverse proxy in front of the same fake, in the same run: one worker \
         process, `proxy_buffering off`, HTTP/1.1 keep-alive to the fake (`keepalive 32`). \
         \"Added\" is a path's percentile minus the direct path's.\n",
        nginx_version(args.nginx.as_deref())
    ));
    let mut table = Table::new(&[
        ("figure", Align::Left),
        ("proxy", Align::Right),
        ("nginx", Align::Right),
        ("proxy ÷ nginx", Align::Right),
        ("goal", Align::Left),
        ("", Align::Left),
    ]);
    for goal in rows(sizes, results) {
        table.row(goal.cells());
    }
    table.render(r);
    if args.strace.is_none() {
        r.push_str("\nNo strace: system calls not counted.\n");
    }
}

/// The rows, in the order issue 11 lists its goals.
fn rows(sizes: &Sizes, results: &Results) -> Vec<GoalRow> {
    let added_p50 =
        |v: &[Samples], i: usize, base: usize| v.get(i).map(|s| s.pct(50.0) - v[base].pct(50.0));
    let pct = |v: &[Samples], i: usize, p: f64| v.get(i).map(|s| s.pct(p));
    let ttfb: Vec<Samples> = results
        .latency
        .ttfb
        .iter()
        .map(|t| t.ttfb.clone())
        .collect();
    let syscalls = |i: usize| {
        let costs = results.costs.get(i)?;
        costs.syscalls.as_ref().map(|(n, _)| *n)
    };
    let switches = |i: usize| results.costs.get(i).map(|c| c.switches);
    let mib = |mb: f64| mb * 1e6 / (1024.0 * 1024.0);
    let (one, c) = (&results.latency.one, sizes.concurrent_clients);
    let memory = &results.memory;
    let big = format!("{} KiB body", LARGE_BODY / 1024);
    vec![
        GoalRow {
            figure: "added p50, one request at a time (ms)".into(),
            proxy: added_p50(one, ONE_PROXY, ONE_DIRECT),
            nginx: added_p50(one, ONE_NGINX, ONE_DIRECT),
            show: Show::Ms,
            goal: Goal::TimesNginx(1.5),
        },
        GoalRow {
            figure: format!("added p50, one at a time, {big} (ms)"),
            proxy: added_p50(one, ONE_PROXY_LARGE, ONE_DIRECT_LARGE),
            nginx: added_p50(one, ONE_NGINX_LARGE, ONE_DIRECT_LARGE),
            show: Show::Ms,
            goal: Goal::TimesNginx(1.5),
        },
        GoalRow {
            figure: format!("p99 at {c} clients (ms)"),
            proxy: pct(&results.latency.clients, PROXY, 99.0),
            nginx: pct(&results.latency.clients, NGINX, 99.0),
            show: Show::Ms,
            goal: Goal::AtMost(10_000.0, "≤ 10 ms"),
        },
        GoalRow {
            figure: format!(
                "p99 wait, {c} new connections at once after {} s idle (ms)",
                BURST_IDLE.as_secs()
            ),
            proxy: pct(&results.latency.bursts, PROXY, 99.0),
            nginx: pct(&results.latency.bursts, NGINX, 99.0),
            show: Show::Ms,
            goal: Goal::AtMost(10_000.0, "≤ 10 ms"),
        },
        GoalRow {
            figure: "longest wait in those bursts (ms)".into(),
            proxy: pct(&results.latency.bursts, PROXY, 100.0),
            nginx: pct(&results.latency.bursts, NGINX, 100.0),
            show: Show::Ms,
            goal: Goal::None,
        },
        GoalRow {
            figure: "stream: first event, added p50 (ms)".into(),
            proxy: added_p50(&ttfb, PROXY, 0),
            nginx: added_p50(&ttfb, NGINX, 0),
            show: Show::Ms,
            goal: Goal::AtMost(150.0, "≤ 0.15 ms"),
        },
        GoalRow {
            figure: "system calls per request (`strace -c -f`)".into(),
            proxy: syscalls(COST_PROXY),
            nginx: syscalls(COST_NGINX),
            show: Show::Count,
            goal: Goal::AtMost(12.0, "≤ 12"),
        },
        GoalRow {
            figure: format!("system calls per request, {big}"),
            proxy: syscalls(COST_PROXY_LARGE),
            nginx: syscalls(COST_NGINX_LARGE),
            show: Show::Count,
            goal: Goal::None,
        },
        GoalRow {
            figure: "context switches per request (all threads)".into(),
            proxy: switches(COST_PROXY),
            nginx: switches(COST_NGINX),
            show: Show::Count,
            goal: Goal::None,
        },
        GoalRow {
            figure: format!("context switches per request, {big}"),
            proxy: switches(COST_PROXY_LARGE),
            nginx: switches(COST_NGINX_LARGE),
            show: Show::Count,
            goal: Goal::None,
        },
        GoalRow {
            figure: "idle RSS, SMART_MAX_TOKENS=false, after 1 request (MiB)".into(),
            proxy: Some(memory.idle),
            nginx: memory.nginx.map(|(idle, _)| idle),
            show: Show::Mib,
            goal: Goal::AtMost(mib(20.0), "≤ 20 MB (19.1 MiB)"),
        },
        GoalRow {
            figure: format!(
                "RSS added by {} idle keep-alive connections (MiB)",
                sizes.idle_connections
            ),
            proxy: Some(memory.idle_connections - memory.idle),
            nginx: memory.nginx.map(|(idle, with)| with - idle),
            show: Show::Mib,
            goal: Goal::AtMost(mib(30.0), "≤ +30 MB (28.6 MiB)"),
        },
    ]
}

impl GoalRow {
    fn cells(&self) -> Vec<String> {
        let shown = |v: Option<f64>| {
            v.map_or("n/a".to_string(), |v| match self.show {
                Show::Ms => ms(v),
                Show::Count | Show::Mib => format!("{v:.1}"),
            })
        };
        let ratio = match (self.proxy, self.nginx) {
            (Some(p), Some(n)) if n > 0.0 => format!("{:.1}×", p / n),
            _ => String::new(),
        };
        let (goal, met) = match &self.goal {
            Goal::None => ("(informative)".to_string(), None),
            Goal::TimesNginx(k) => (
                format!("≤ {k}× nginx's"),
                self.proxy.zip(self.nginx).map(|(p, n)| p <= k * n),
            ),
            Goal::AtMost(limit, said) => (said.to_string(), self.proxy.map(|p| p <= *limit)),
        };
        let met = match met {
            Some(true) => "met",
            Some(false) => "**not met**",
            None => "",
        };
        vec![
            self.figure.clone(),
            shown(self.proxy),
            shown(self.nginx),
            ratio,
            goal,
            met.to_string(),
        ]
    }
}

/// nginx's version as `nginx -v` says it, or a note that it did not run.
fn nginx_version(bin: Option<&Path>) -> String {
    let Some(bin) = bin else {
        return "(not run: no `--nginx`)".into();
    };
    let said = Command::new(bin)
        .arg("-v")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stderr).into_owned())
        .unwrap_or_default();
    said.trim()
        .strip_prefix("nginx version: nginx/")
        .map_or_else(|| "(version unknown)".into(), |v| v.to_string())
}
