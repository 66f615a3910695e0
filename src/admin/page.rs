//! The console page, one HTML file compiled into the binary (no CDN, no build step), served at
//! `/admin` always and at `/debug` while debug mode is on; and what `/debug` says with debug
//! mode off. The page holds no data: everything it shows comes from `/admin/api`, behind the
//! console's access rule.

use crate::api::error::ApiError;
use crate::api::message::Reply;

const CONSOLE: &str = include_str!("console.html");

/// The console page.
pub(crate) fn console() -> Reply {
    html(200, CONSOLE.to_string())
}

/// `/debug` with debug mode off: a page saying how to turn it on, and that the console works
/// without it. `file` is the `DEBUG_MODE_FILE` setting.
pub(crate) fn debug_off(file: &str) -> Reply {
    let file = escape(file);
    html(
        404,
        format!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
             <title>openrouter-proxy · debug mode is off</title>\
             <style>body{{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:2rem auto;\
             padding:0 1rem}}code{{background:#8882;padding:.1rem .3rem;border-radius:4px}}\
             @media (prefers-color-scheme:dark){{body{{background:#15181f;color:#e3e6ec}}\
             a{{color:#8fb0ff}}}}</style></head><body>\
             <h1>Debug mode is off</h1>\
             <p>The daily counters, the call log and the captures are recorded only in debug \
             mode. To turn it on, create <code>{file}</code> in the folder the proxy runs in \
             (no restart needed):</p><p><code>touch {file}</code> \
             (Windows: <code>type nul &gt; {file}</code>)</p>\
             <p>The console at <a href=\"/admin\">/admin</a> works without it: keys, models, \
             concurrency and the test chat.</p></body></html>"
        ),
    )
}

/// A `/debug/*` data route with debug mode off: a 404 that says how to turn it on.
pub(crate) fn debug_off_error(file: &str) -> ApiError {
    ApiError::Unavailable {
        status: 404,
        code: "debug_mode_off",
        message: format!(
            "debug mode is off, so there is nothing recorded to show; create {file} in the \
             folder the proxy runs in to turn it on (touch {file}); the console at /admin \
             shows keys, models and concurrency without it"
        ),
        retry_after: None,
    }
}

fn html(status: u16, body: String) -> Reply {
    let mut reply = Reply::json(status, body.into_bytes());
    reply.headers = vec![
        ("Content-Type".into(), "text/html; charset=utf-8".into()),
        ("Cache-Control".into(), "no-store".into()),
        // The page loads nothing from elsewhere; a policy that says so stops injected markup
        // from reaching out, and no other site may frame it.
        (
            "Content-Security-Policy".into(),
            "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; \
             img-src 'self' data:; frame-ancestors 'none'"
                .into(),
        ),
        ("X-Frame-Options".into(), "DENY".into()),
    ];
    reply
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_loads_nothing_from_elsewhere() {
        for needle in ["http://", "https://", "//cdn", "src=\""] {
            let found = CONSOLE
                .match_indices(needle)
                .map(|(at, _)| &CONSOLE[at.saturating_sub(40)..(at + 60).min(CONSOLE.len())])
                .find(|around| !around.contains("www.w3.org/2000/svg"));
            assert!(found.is_none(), "{needle}: {found:?}");
        }
    }

    #[test]
    fn the_debug_off_page_names_the_file_escaped() {
        let reply = debug_off("<x>.txt");
        let crate::api::message::Body::Full(body) = reply.body else {
            panic!("not a whole body");
        };
        let text = String::from_utf8(body).unwrap();
        assert!(text.contains("touch &lt;x&gt;.txt"), "{text}");
        assert_eq!(reply.status, 404);
    }
}
