//! The driver's command line: which servers to run, where to write the report, and how much
//! of each measurement to make. It only parses; nothing here starts or measures anything.

use std::path::{Path, PathBuf};
use std::time::Duration;

/// What the command line asked for.
pub struct Args {
    pub proxy_bin: PathBuf,
    pub nginx: Option<PathBuf>,
    pub strace: Option<PathBuf>,
    pub litellm: Option<PathBuf>,
    pub litellm_version: String,
    pub out: Option<PathBuf>,
    pub quick: bool,
    pub profile_load: Option<f64>,
    pub wrap: Option<String>,
    pub clients: usize,
    pub proxy_env: Vec<String>,
    pub stream: bool,
    pub held: Option<usize>,
    pub hold: u64,
}

/// How much of each measurement to make.
pub struct Sizes {
    pub warmup: usize,
    pub sequential: usize,
    pub peer_sequential: usize,
    pub short_streams: usize,
    pub concurrent_clients: usize,
    pub block: Duration,
    pub blocks: usize,
    pub streams: usize,
    pub held_streams: usize,
    /// Bursts of new connections after an idle pause, per path.
    pub burst_rounds: usize,
    /// Requests counted for the system calls and context switches per request.
    pub cost_requests: usize,
    /// Idle keep-alive connections held open for the memory they cost.
    pub idle_connections: usize,
}

impl Sizes {
    /// The full run, or a quick one that only checks the script works.
    pub fn new(quick: bool) -> Sizes {
        if quick {
            Sizes {
                warmup: 50,
                sequential: 300,
                peer_sequential: 100,
                short_streams: 60,
                concurrent_clients: 32,
                block: Duration::from_millis(300),
                blocks: 2,
                streams: 10,
                held_streams: 200,
                burst_rounds: 1,
                cost_requests: 200,
                idle_connections: 1000,
            }
        } else {
            Sizes {
                warmup: 300,
                sequential: 5000,
                peer_sequential: 1000,
                short_streams: 600,
                concurrent_clients: 32,
                block: Duration::from_millis(750),
                blocks: 6,
                streams: 80,
                held_streams: 200,
                // 4 rounds of 32: the p99 is the second longest wait, not the longest.
                burst_rounds: 4,
                cost_requests: 2000,
                idle_connections: 1000,
            }
        }
    }
}

/// Reads the command line; the proxy binary defaults to the one beside this driver.
pub fn parse_args() -> Result<Args, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    // target/release/examples/bench → target/release/openrouter-proxy
    let default_bin = exe
        .parent()
        .and_then(Path::parent)
        .map(|d| d.join("openrouter-proxy"))
        .unwrap_or_default();
    let mut args = Args {
        proxy_bin: default_bin,
        nginx: None,
        strace: None,
        litellm: None,
        litellm_version: String::new(),
        out: None,
        quick: false,
        profile_load: None,
        wrap: None,
        clients: 1,
        proxy_env: Vec::new(),
        stream: false,
        held: None,
        hold: 0,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = |name: &str| it.next().ok_or(format!("{name} needs a value"));
        match a.as_str() {
            "--proxy-bin" => args.proxy_bin = PathBuf::from(value("--proxy-bin")?),
            "--nginx" => args.nginx = Some(PathBuf::from(value("--nginx")?)),
            "--strace" => args.strace = Some(PathBuf::from(value("--strace")?)),
            "--litellm" => args.litellm = Some(PathBuf::from(value("--litellm")?)),
            "--litellm-version" => args.litellm_version = value("--litellm-version")?,
            "--out" => args.out = Some(PathBuf::from(value("--out")?)),
            "--quick" => args.quick = true,
            "--profile-load" => {
                let v = value("--profile-load")?;
                args.profile_load = Some(v.parse().map_err(|_| format!("bad seconds {v:?}"))?);
            }
            "--wrap" => args.wrap = Some(value("--wrap")?),
            "--clients" => {
                let v = value("--clients")?;
                args.clients = v.parse().map_err(|_| format!("bad --clients {v:?}"))?;
            }
            "--proxy-env" => args.proxy_env.push(value("--proxy-env")?),
            "--stream" => args.stream = true,
            "--held" => {
                let v = value("--held")?;
                args.held = Some(v.parse().map_err(|_| format!("bad --held {v:?}"))?);
            }
            "--hold" => {
                let v = value("--hold")?;
                args.hold = v.parse().map_err(|_| format!("bad --hold {v:?}"))?;
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    if !args.proxy_bin.exists() {
        return Err(format!(
            "no proxy binary at {}; build it with cargo build --release",
            args.proxy_bin.display()
        ));
    }
    Ok(args)
}
