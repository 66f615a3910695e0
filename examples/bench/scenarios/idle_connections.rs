//! Idle keep-alive connections held open: what they cost a server in memory.

use std::time::Duration;

use crate::client::Client;
use crate::system::settled_group_rss;
use crate::target::Target;

/// Opens `count` keep-alive connections one after the other, each served one request and then
/// left idle, and returns the resident memory of `pids` before and with them all open.
pub fn idle_connections(target: &Target, pids: &[u32], count: usize) -> Result<(f64, f64), String> {
    let before = settled_group_rss(pids);
    let mut conns = Vec::with_capacity(count);
    for i in 0..count {
        let mut conn = Client::new(target.addr);
        conn.timeout = Duration::from_secs(10);
        match conn.exchange(&target.whole) {
            Ok(200) => conns.push(conn),
            other => {
                return Err(format!(
                    "{}: idle connection {i} of {count}: {other:?}",
                    target.label
                ));
            }
        }
    }
    let with = settled_group_rss(pids);
    drop(conns);
    Ok((before, with))
}
