//! Maps a request to its handler: checks `Host` and `Origin` (`gate.rs`), the path, the
//! method and the proxy key, then calls the handler and turns any error into its reply.
//! Handlers never write to the client.

use serde_json::json;

use crate::admin::{api as console, debug};
use crate::api::error::ApiError;
use crate::api::message::{HttpRequest, Reply};
use crate::app::state::AppState;
use crate::chat::handler::chat_completions;
use crate::http::gate::{self, GateSettings, Verdict};
use crate::util::secret::constant_time_eq;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Route {
    Health,
    Models,
    Chat,
}

/// Answers one request.
pub fn route(state: &AppState, req: &mut HttpRequest) -> Reply {
    let config = state.config();
    let settings = GateSettings {
        allowed_hosts: &config.allowed_hosts,
        cors_origins: &config.cors_origins,
    };
    let verdict = gate::check(
        &req.method,
        req.header("Host"),
        req.header("Origin"),
        settings,
    );
    let cors = match verdict {
        Verdict::Refuse(message) => {
            return ApiError::Refused {
                status: 403,
                message,
            }
            .into_reply();
        }
        Verdict::Options { cors } => return options(cors.as_deref()),
        Verdict::Pass { cors } => cors,
    };
    let mut reply = handle(state, req).unwrap_or_else(ApiError::into_reply);
    if let Some(origin) = cors {
        reply.headers.extend(gate::cors_headers(&origin));
    }
    reply
}

/// `OPTIONS`: a CORS preflight for a listed origin, else the methods the proxy answers.
fn options(cors: Option<&str>) -> Reply {
    let mut reply = Reply {
        status: 204,
        headers: vec![("Allow".into(), "GET, HEAD, POST, DELETE, OPTIONS".into())],
        body: crate::api::message::Body::Full(Vec::new()),
        model: None,
    };
    if let Some(origin) = cors {
        reply.headers.extend(gate::preflight_headers(origin));
    }
    reply
}

fn handle(state: &AppState, req: &mut HttpRequest) -> Result<Reply, ApiError> {
    if req.path == "/admin/shutdown" {
        return admin_shutdown(state, req);
    }
    if console::owns(&req.path) {
        return console::handle(state, req);
    }
    if req.path == "/debug" || req.path.starts_with("/debug/") {
        return debug::handle(state, req, || check_proxy_key(state, req));
    }
    // Clients configured with a base URL without `/v1` call the bare paths; serve both.
    let route = match req.path.as_str() {
        "/health" | "/v1/health" => Route::Health,
        "/v1/models" | "/models" => Route::Models,
        "/v1/chat/completions" | "/chat/completions" => Route::Chat,
        _ => {
            return Err(ApiError::NotFound {
                path: req.path.clone(),
            });
        }
    };
    let method = req.method.as_str();
    let allowed = match route {
        Route::Health | Route::Models => matches!(method, "GET" | "HEAD"),
        Route::Chat => method == "POST",
    };
    if !allowed {
        let allowed = if route == Route::Chat { "POST" } else { "GET" };
        return Err(ApiError::MethodNotAllowed { allowed });
    }
    if route != Route::Health {
        check_proxy_key(state, req)?;
    }
    match route {
        Route::Health => Ok(health(state)),
        Route::Models => models(state),
        Route::Chat if state.shutdown.asked() => Err(ApiError::Unavailable {
            status: 503,
            code: "shutting_down",
            message: "the proxy is shutting down; try again in a moment".into(),
            retry_after: Some(5),
        }),
        Route::Chat => Ok(chat_completions(state, req)),
    }
}

/// `POST /admin/shutdown`: the daemon's supervisor stops its proxy cleanly, on any platform,
/// with the token it gave it. Without a token (not run by the supervisor) the route does not
/// exist.
fn admin_shutdown(state: &AppState, req: &HttpRequest) -> Result<Reply, ApiError> {
    let not_found = || ApiError::NotFound {
        path: req.path.clone(),
    };
    let expected = state.admin_token.as_deref().ok_or_else(not_found)?;
    let sent = req.header("X-Admin-Token").unwrap_or("");
    // Only the supervisor on this machine sends it.
    let local = req.peer.ip().is_loopback();
    if req.method != "POST" || !local || !constant_time_eq(sent.as_bytes(), expected.as_bytes()) {
        return Err(not_found());
    }
    state.shutdown.ask();
    Ok(Reply::json(200, br#"{"status":"shutting down"}"#.to_vec()))
}

/// When `PROXY_API_KEY` is set, the client must send it as a Bearer token.
fn check_proxy_key(state: &AppState, req: &HttpRequest) -> Result<(), ApiError> {
    let config = state.config();
    let Some(expected) = config.proxy_api_key.as_deref() else {
        return Ok(());
    };
    let sent = req
        .header("Authorization")
        .and_then(|v| v.trim().strip_prefix("Bearer "))
        .map(str::trim)
        .unwrap_or("");
    if constant_time_eq(sent.as_bytes(), expected.as_bytes()) {
        Ok(())
    } else {
        Err(ApiError::ProxyKeyRequired)
    }
}

/// `GET /v1/models`: the free models (all models when paid ones are allowed).
fn models(state: &AppState) -> Result<Reply, ApiError> {
    let config = state.config();
    let catalog = state.catalog.snapshot_when_ready(config.connect_timeout);
    if catalog.is_empty() {
        return Err(ApiError::Unavailable {
            status: 503,
            code: "models_not_loaded",
            message: "the model list has not loaded from OpenRouter yet (and there is no \
                      cached copy); the proxy keeps trying in the background"
                .into(),
            retry_after: Some(30),
        });
    }
    let body = catalog.list_body(config.allow_paid_models).to_vec();
    Ok(Reply::json(200, body))
}

fn health(state: &AppState) -> Reply {
    let usage = state.limiter.usage();
    let keys = state.keys();
    let key_configured = !keys.is_empty();
    let catalog = state.catalog.snapshot();
    let mut body = json!({
        "status": "ok",
        "version": env!("CARGO_PKG_VERSION"),
        "uptime_seconds": state.started.elapsed().as_secs(),
        "openrouter_key_configured": key_configured,
        "concurrency": {
            "limit": usage.limit,
            "in_flight": usage.in_flight,
            "waiting": usage.waiting,
        },
        "keys": keys.report(),
        "strategy": keys.strategy().to_string(),
        "models": {
            "free": catalog.free_models().count(),
            "total": catalog.models.len(),
        },
    });
    if !key_configured {
        body["warning"] = json!(
            "no OpenRouter key: set OPENROUTER_API_KEY in .env; the proxy picks it up while it \
             runs, no restart needed"
        );
    }
    Reply::json(200, serde_json::to_vec(&body).unwrap_or_default())
}
