//! `/admin`: the console page, and the console's JSON API under `/admin/api`, which routes each
//! path to its handler (`keys.rs`, `models.rs`, `usage.rs`, `status.rs`) after the access rule
//! (`access.rs`). Errors take the usual OpenAI shape; every answer says not to cache it.
//!
//! | Route | Handler |
//! |---|---|
//! | `GET /status` | live state, debug mode, access, warnings |
//! | `GET, POST /keys`; `DELETE /keys/{id}`; `POST /keys/{id}/disable`, `/enable` | keys |
//! | `GET /models`; `POST /models/refresh`; `POST /models/{id}/disable`, `/enable` | models |
//! | `GET /usage?days=N`; `GET /calls?...`; `GET /calls/{id}/capture` | usage |
//! | `POST /chat` | the test chat: `/v1/chat/completions` behind the console's access rule |

use serde::Serialize;
use serde_json::Value;

use crate::admin::{access, keys, models, page, status, usage};
use crate::api::error::ApiError;
use crate::api::message::{HttpRequest, Reply};
use crate::app::state::AppState;
use crate::chat::handler::generate;
use crate::chat::protocol::Protocol;
use crate::chat::request::{check_content_type, read_body};
use crate::util::text::{decode_path_segment, decode_query_value};

/// The largest body a console call may send (a key, a model id): 64 KiB.
pub(crate) const MAX_BODY_BYTES: u64 = 64 << 10;

/// One route of the API, with what its path names.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Route {
    Status,
    Keys,
    Key(String),
    KeySwitch(String, bool),
    Models,
    ModelsRefresh,
    ModelSwitch(String, bool),
    Usage,
    Calls,
    Capture(String),
    Chat,
}

/// Whether `path` is the console's: `/admin`, `/admin/` or below `/admin/api/`.
pub(crate) fn owns(path: &str) -> bool {
    path == "/admin" || path == "/admin/" || path == "/admin/api" || path.starts_with("/admin/api/")
}

/// Answers a path [`owns`] says is the console's.
pub(crate) fn handle(state: &AppState, req: &mut HttpRequest) -> Result<Reply, ApiError> {
    let not_found = || ApiError::NotFound {
        path: req.path.clone(),
    };
    if req.path == "/admin" || req.path == "/admin/" {
        return match req.method.as_str() {
            "GET" | "HEAD" => Ok(page::console()),
            _ => Err(ApiError::MethodNotAllowed { allowed: "GET" }),
        };
    }
    access::check(state, req)?;
    let rest = req.path.strip_prefix("/admin/api/").unwrap_or("");
    let route = route_of(rest).ok_or_else(not_found)?;
    let method = if req.method == "HEAD" {
        "GET"
    } else {
        req.method.as_str()
    };
    match (method, route) {
        ("GET", Route::Status) => Ok(status::status(state)),
        ("GET", Route::Keys) => Ok(keys::list(state)),
        ("POST", Route::Keys) => keys::add(state, req),
        ("DELETE", Route::Key(id)) => keys::remove(state, &id),
        ("POST", Route::KeySwitch(id, on)) => keys::switch(state, &id, on),
        ("GET", Route::Models) => Ok(models::list(state)),
        ("POST", Route::ModelsRefresh) => models::refresh(state),
        ("POST", Route::ModelSwitch(id, on)) => models::switch(state, &id, on),
        ("GET", Route::Usage) => Ok(usage::usage(state, req)),
        ("GET", Route::Calls) => usage::calls(state, req),
        ("GET", Route::Capture(id)) => usage::capture(state, &id),
        ("POST", Route::Chat) if state.shutdown.asked() => Err(ApiError::shutting_down()),
        ("POST", Route::Chat) => Ok(generate(state, req, Protocol::Chat)),
        (_, route) => Err(ApiError::MethodNotAllowed {
            allowed: allowed(&route),
        }),
    }
}

/// The route of a path below `/admin/api/`. A model id may come percent-encoded or with its
/// `/` as it is.
fn route_of(rest: &str) -> Option<Route> {
    let switch = |tail: &str| match tail {
        "disable" => Some(false),
        "enable" => Some(true),
        _ => None,
    };
    let parts: Vec<&str> = rest.split('/').collect();
    Some(match parts.as_slice() {
        ["status"] => Route::Status,
        ["keys"] => Route::Keys,
        ["keys", id] if !id.is_empty() => Route::Key(segment(id)),
        ["keys", id, tail] if !id.is_empty() => Route::KeySwitch(segment(id), switch(tail)?),
        ["models"] => Route::Models,
        ["models", "refresh"] => Route::ModelsRefresh,
        ["models", .., tail] if parts.len() >= 3 => {
            let id = rest.strip_prefix("models/")?.strip_suffix(tail)?;
            let id = segment(id.strip_suffix('/')?);
            if id.is_empty() {
                return None;
            }
            Route::ModelSwitch(id, switch(tail)?)
        }
        ["usage"] => Route::Usage,
        ["calls"] => Route::Calls,
        ["calls", id, "capture"] if !id.is_empty() => Route::Capture(segment(id)),
        ["chat"] => Route::Chat,
        _ => return None,
    })
}

/// A path segment of the API decoded; kept as sent when it is not valid percent-encoding.
fn segment(text: &str) -> String {
    decode_path_segment(text).unwrap_or_else(|| text.to_string())
}

fn allowed(route: &Route) -> &'static str {
    match route {
        Route::Keys => "GET, POST",
        Route::Key(_) => "DELETE",
        Route::KeySwitch(..) | Route::ModelsRefresh | Route::ModelSwitch(..) | Route::Chat => {
            "POST"
        }
        Route::Status | Route::Models | Route::Usage | Route::Calls | Route::Capture(_) => "GET",
    }
}

/// A JSON answer that no cache keeps.
pub(crate) fn json(status: u16, body: &impl Serialize) -> Reply {
    Reply::json(status, serde_json::to_vec(body).unwrap_or_default())
        .with_header("Cache-Control", "no-store")
}

/// An error of the console's own, in the usual shape.
pub(crate) fn refusal(status: u16, code: &'static str, message: impl Into<String>) -> ApiError {
    ApiError::Unavailable {
        status,
        code,
        message: message.into(),
        retry_after: None,
    }
}

/// A query parameter, percent-decoded; empty counts as absent.
pub(crate) fn param(req: &HttpRequest, name: &str) -> Option<String> {
    req.query_param(name)
        .map(decode_query_value)
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// The body of a console call: JSON, an object, at most [`MAX_BODY_BYTES`] (read with the
/// chat route's own size-limited reader).
pub(crate) fn json_body(state: &AppState, req: &mut HttpRequest) -> Result<Value, ApiError> {
    check_content_type(req)?;
    let limit = MAX_BODY_BYTES.min(state.config().max_body_bytes);
    let body = read_body(req, limit)?;
    match serde_json::from_slice::<Value>(&body) {
        Ok(value) if value.is_object() => Ok(value),
        Ok(_) => Err(ApiError::bad_request(
            "the body must be a JSON object",
            None,
        )),
        Err(e) => Err(ApiError::bad_request(
            format!("the body is not valid JSON: {e}"),
            None,
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_map_to_their_routes() {
        let id = "meta-llama/llama-3.3-70b-instruct:free";
        let table: &[(&str, Option<Route>)] = &[
            ("status", Some(Route::Status)),
            ("keys", Some(Route::Keys)),
            ("keys/0123abcd", Some(Route::Key("0123abcd".into()))),
            (
                "keys/0123abcd/disable",
                Some(Route::KeySwitch("0123abcd".into(), false)),
            ),
            (
                "keys/0123abcd/enable",
                Some(Route::KeySwitch("0123abcd".into(), true)),
            ),
            ("keys/0123abcd/remove", None),
            ("keys/", None),
            ("models/refresh", Some(Route::ModelsRefresh)),
            (
                "models/meta-llama%2Fllama-3.3-70b-instruct%3Afree/disable",
                Some(Route::ModelSwitch(id.into(), false)),
            ),
            (
                "models/meta-llama/llama-3.3-70b-instruct:free/enable",
                Some(Route::ModelSwitch(id.into(), true)),
            ),
            ("models//disable", None),
            ("models/x/toggle", None),
            (
                "calls/20261201-101010-000001-3/capture",
                Some(Route::Capture("20261201-101010-000001-3".into())),
            ),
            ("calls/x", None),
            ("chat", Some(Route::Chat)),
            ("", None),
            ("nothing", None),
        ];
        for (path, expected) in table {
            assert_eq!(&route_of(path), expected, "{path}");
        }
        assert!(owns("/admin") && owns("/admin/api/keys") && !owns("/admin/shutdown"));
        assert!(!owns("/administrator"));
    }
}
