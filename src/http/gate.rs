//! Who may talk to the proxy from a browser: the `Host` and `Origin` checks, and CORS.
//!
//! A local server is reachable by every web page the user opens. A page cannot make the
//! browser send another site's `Host`, but it can rebind its own name to 127.0.0.1 (DNS
//! rebinding): then its requests arrive with `Host: attacker.example`. So every request's
//! `Host` must name this proxy: an IP address (a rebinding page always has a name, never an
//! address), `localhost` or a `*.localhost` name, or a name listed in `ALLOWED_HOSTS`. And a
//! page of another origin sends `Origin` on every request that could spend or change anything
//! (POST, and any fetch that wants to read an answer): it is refused unless `CORS_ORIGINS`
//! lists it, in which case it also gets the CORS headers that let it read the answers.
//!
//! Pure functions of the request's headers and the settings, with a table test.

use std::net::IpAddr;

use crate::util::text::clip;

/// What the gate decided for one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Serve it; `cors` is the origin to name in `Access-Control-Allow-Origin`.
    Pass { cors: Option<String> },
    /// An `OPTIONS` request: answer it here (a CORS preflight when `cors` is set).
    Options { cors: Option<String> },
    /// Refuse with 403 and this message.
    Refuse(String),
}

/// The settings the gate reads: `ALLOWED_HOSTS` and `CORS_ORIGINS`, each lower case, where
/// `*` allows anything.
#[derive(Debug, Clone, Copy)]
pub(crate) struct GateSettings<'a> {
    pub allowed_hosts: &'a [String],
    pub cors_origins: &'a [String],
}

/// Decides for a request with this method, `Host` and `Origin`.
pub(crate) fn check(
    method: &str,
    host: Option<&str>,
    origin: Option<&str>,
    settings: GateSettings,
) -> Verdict {
    if let Some(host) = host
        && !host_allowed(host, settings.allowed_hosts)
    {
        return Verdict::Refuse(format!(
            "the Host header '{}' does not name this proxy, so the request is refused (a web page \
             could have sent it by rebinding its own name to this machine); to reach the proxy \
             under that name, add it to ALLOWED_HOSTS in .env (comma separated), or set \
             ALLOWED_HOSTS=* to turn this check off",
            clip(host, 200)
        ));
    }
    let cors = match origin.map(str::trim) {
        None => None,
        Some(origin) if same_origin(origin, host) => None,
        Some(origin) if origin_listed(origin, settings.cors_origins) => Some(origin.to_string()),
        Some(origin) => {
            return Verdict::Refuse(format!(
                "requests from the web page at '{}' are refused: a page of another origin may not \
                 use this proxy; to allow it, add that origin to CORS_ORIGINS in .env (comma \
                 separated), or set CORS_ORIGINS=* to allow every page",
                clip(origin, 200)
            ));
        }
    };
    if method == "OPTIONS" {
        Verdict::Options { cors }
    } else {
        Verdict::Pass { cors }
    }
}

/// The name in a `Host` value, without the port and the brackets of an IPv6 address.
fn host_name(host: &str) -> &str {
    let host = host.trim();
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    }
}

fn host_allowed(host: &str, allowed: &[String]) -> bool {
    let name = host_name(host).trim_end_matches('.').to_ascii_lowercase();
    name.parse::<IpAddr>().is_ok()
        || name == "localhost"
        || name.ends_with(".localhost")
        || allowed
            .iter()
            .any(|a| a == "*" || host_name(a).eq_ignore_ascii_case(&name))
}

/// Whether `origin` is the proxy's own origin, as the `Host` of the request names it.
fn same_origin(origin: &str, host: Option<&str>) -> bool {
    let Some(host) = host else {
        return false;
    };
    let rest = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"));
    rest.is_some_and(|authority| {
        authority
            .trim_end_matches('/')
            .eq_ignore_ascii_case(host.trim())
    })
}

fn origin_listed(origin: &str, listed: &[String]) -> bool {
    let origin = origin.trim_end_matches('/');
    listed
        .iter()
        .any(|o| o == "*" || o.trim_end_matches('/').eq_ignore_ascii_case(origin))
}

/// Headers a preflight for `origin` is answered with.
pub(crate) fn preflight_headers(origin: &str) -> Vec<(String, String)> {
    [
        ("Access-Control-Allow-Origin", origin),
        ("Access-Control-Allow-Methods", "GET, POST, DELETE, OPTIONS"),
        (
            "Access-Control-Allow-Headers",
            "authorization, content-type, x-api-key, anthropic-version, anthropic-beta, \
             openai-organization, openai-project, x-stainless-retry-count, \
             x-stainless-timeout, x-stainless-lang, x-stainless-package-version, x-stainless-os, \
             x-stainless-arch, x-stainless-runtime, x-stainless-runtime-version",
        ),
        ("Access-Control-Max-Age", "600"),
        ("Vary", "Origin"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// Headers every answer to a listed origin carries.
pub(crate) fn cors_headers(origin: &str) -> Vec<(String, String)> {
    vec![
        ("Access-Control-Allow-Origin".into(), origin.to_string()),
        (
            "Access-Control-Expose-Headers".into(),
            "x-proxy-model, x-proxy-attempts, x-proxy-key, x-proxy-max-tokens, retry-after".into(),
        ),
        ("Vary".into(), "Origin".into()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings<'a>(hosts: &'a [String], origins: &'a [String]) -> GateSettings<'a> {
        GateSettings {
            allowed_hosts: hosts,
            cors_origins: origins,
        }
    }

    /// (method, Host, Origin, ALLOWED_HOSTS, CORS_ORIGINS, verdict)
    type Row<'a> = (
        &'a str,
        Option<&'a str>,
        Option<&'a str>,
        &'a Vec<String>,
        &'a Vec<String>,
        char,
    );

    #[test]
    fn the_gate_table() {
        let none: Vec<String> = vec![];
        let hosts = vec!["proxy.lan".to_string()];
        let origins = vec!["https://app.example".to_string()];
        let star = vec!["*".to_string()];
        let pass = |cors: Option<&str>| Verdict::Pass {
            cors: cors.map(str::to_string),
        };
        // (method, Host, Origin, ALLOWED_HOSTS, CORS_ORIGINS, verdict: P pass, C cors, O options, R refuse)
        let table: Vec<Row> = vec![
            ("GET", Some("localhost:5000"), None, &none, &none, 'P'),
            ("GET", Some("LOCALHOST"), None, &none, &none, 'P'),
            ("GET", Some("127.0.0.1:5000"), None, &none, &none, 'P'),
            ("GET", Some("[::1]:5000"), None, &none, &none, 'P'),
            ("GET", Some("192.168.1.20:5000"), None, &none, &none, 'P'),
            ("GET", Some("app.localhost:5000"), None, &none, &none, 'P'),
            ("GET", None, None, &none, &none, 'P'),
            ("GET", Some("attacker.example"), None, &none, &none, 'R'),
            (
                "POST",
                Some("attacker.example:5000"),
                None,
                &none,
                &none,
                'R',
            ),
            (
                "GET",
                Some("localhost.attacker.example"),
                None,
                &none,
                &none,
                'R',
            ),
            ("GET", Some("proxy.lan:5000"), None, &hosts, &none, 'P'),
            ("GET", Some("other.lan"), None, &hosts, &none, 'R'),
            ("GET", Some("anything.example"), None, &star, &none, 'P'),
            // The panel's own requests.
            (
                "POST",
                Some("localhost:5000"),
                Some("http://localhost:5000"),
                &none,
                &none,
                'P',
            ),
            (
                "POST",
                Some("127.0.0.1:5000"),
                Some("http://127.0.0.1:5000"),
                &none,
                &none,
                'P',
            ),
            // Another page.
            (
                "POST",
                Some("localhost:5000"),
                Some("https://evil.example"),
                &none,
                &none,
                'R',
            ),
            (
                "POST",
                Some("localhost:5000"),
                Some("null"),
                &none,
                &none,
                'R',
            ),
            (
                "POST",
                Some("localhost:5000"),
                Some("http://localhost:3000"),
                &none,
                &none,
                'R',
            ),
            (
                "POST",
                Some("localhost:5000"),
                Some("https://app.example"),
                &none,
                &origins,
                'C',
            ),
            (
                "POST",
                Some("localhost:5000"),
                Some("https://app.example"),
                &none,
                &star,
                'C',
            ),
            (
                "OPTIONS",
                Some("localhost:5000"),
                Some("https://app.example"),
                &none,
                &origins,
                'O',
            ),
            (
                "OPTIONS",
                Some("localhost:5000"),
                Some("https://evil.example"),
                &none,
                &origins,
                'R',
            ),
        ];
        for (method, host, origin, hosts, origins, expected) in table {
            let got = check(method, host, origin, settings(hosts, origins));
            let ok = match expected {
                'P' => got == pass(None),
                'C' => got == pass(origin),
                'O' => {
                    got == Verdict::Options {
                        cors: origin.map(str::to_string),
                    }
                }
                _ => matches!(got, Verdict::Refuse(_)),
            };
            assert!(ok, "{method} {host:?} {origin:?}: {got:?}");
        }
    }

    #[test]
    fn refusals_name_the_setting_and_clip_what_the_client_sent() {
        let none: Vec<String> = vec![];
        let long = "a".repeat(5000);
        let Verdict::Refuse(m) = check("GET", Some(&long), None, settings(&none, &none)) else {
            panic!()
        };
        assert!(m.contains("ALLOWED_HOSTS") && m.len() < 700, "{}", m.len());
        let Verdict::Refuse(m) = check(
            "POST",
            Some("localhost"),
            Some("https://x.example"),
            settings(&none, &none),
        ) else {
            panic!()
        };
        assert!(m.contains("CORS_ORIGINS"), "{m}");
    }
}
