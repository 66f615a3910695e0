//! What the daemon asks the proxy it runs, over HTTP on loopback with the library's raw
//! client (the daemon must not depend on the upstream client): `GET /health`, and `POST
//! /admin/shutdown` with the token only the supervisor knows.

use std::net::SocketAddr;
use std::time::Duration;

use crate::util::http_client::Conn;

/// `GET /health` on loopback; the body when it answered 200.
pub(super) fn health(port: u16) -> Option<String> {
    let (status, body) = http(port, "GET", "/health", &[])?;
    (status == 200).then_some(body)
}

/// One exchange with the local proxy through the raw HTTP client (the daemon must not depend
/// on the upstream client): its status and body, or `None` when it did not answer.
fn http(port: u16, method: &str, path: &str, headers: &[(&str, &str)]) -> Option<(u16, String)> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut conn = Conn::open(addr, Duration::from_secs(5)).ok()?;
    let mut all = vec![("Connection", "close")];
    all.extend_from_slice(headers);
    conn.send(method, path, &all, b"").ok()?;
    let response = conn.read_response().ok()?;
    Some((response.status, response.text()))
}

/// Asks the proxy to shut down; whether it answered does not matter (the supervisor waits for
/// the process either way).
pub(super) fn shutdown(port: u16, token: &str) {
    let _ = http(port, "POST", "/admin/shutdown", &[("X-Admin-Token", token)]);
}
