//! Maps a request to its handler: checks `Host` and `Origin` (`gate.rs`), the path, the
//! method and the proxy key, then calls the handler and turns any error into its reply.
//! Handlers never write to the client.

use serde_json::json;

use std::sync::Arc;

use crate::admin::{api as console, debug};
use crate::api::error::ApiError;
use crate::api::error_shape::ErrorShape;
use crate::api::message::{HttpRequest, Reply};
use crate::app::state::AppState;
use crate::autopilot::catalog::Snapshot;
use crate::autopilot::model_view::anthropic_entry;
use crate::chat::count_tokens::count_tokens;
use crate::chat::handler::generate;
use crate::chat::protocol::Protocol;
use crate::http::gate::{self, GateSettings, Verdict};
use crate::util::secret::constant_time_eq;
use crate::util::text::decode_path_segment;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Route {
    Health,
    Models,
    /// `GET /v1/models/{id}`.
    Model,
    /// `POST /v1/chat/completions`, `/v1/responses`, `/v1/messages`.
    Generate(Protocol),
    /// `POST /v1/messages/count_tokens`, answered here.
    CountTokens,
}

/// Answers one request.
pub(crate) fn route(state: &AppState, req: &mut HttpRequest) -> Reply {
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
    // Errors come in the shape of the API the client speaks on this route.
    let shape = ErrorShape::for_request(&req.path, &req.headers);
    let cors = match verdict {
        Verdict::Refuse(message) => {
            return shape.reply(ApiError::Refused {
                status: 403,
                message,
            });
        }
        Verdict::Options { cors } => return options(cors.as_deref()),
        Verdict::Pass { cors } => cors,
    };
    let mut reply = handle(state, req).unwrap_or_else(|e| shape.reply(e));
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
        return debug::handle(state, req);
    }
    // Clients configured with a base URL without `/v1` call the bare paths; serve both.
    let route = match req.path.as_str() {
        "/health" | "/v1/health" => Route::Health,
        "/v1/models" | "/models" => Route::Models,
        path if model_id(path).is_some() => Route::Model,
        "/v1/chat/completions" | "/chat/completions" => Route::Generate(Protocol::Chat),
        "/v1/responses" | "/responses" => Route::Generate(Protocol::Responses),
        "/v1/messages" | "/messages" => Route::Generate(Protocol::Messages),
        "/v1/messages/count_tokens" | "/messages/count_tokens" => Route::CountTokens,
        _ => {
            return Err(ApiError::NotFound {
                path: req.path.clone(),
            });
        }
    };
    let method = req.method.as_str();
    let (allowed, methods) = match route {
        Route::Health | Route::Models | Route::Model => (matches!(method, "GET" | "HEAD"), "GET"),
        Route::Generate(_) | Route::CountTokens => (method == "POST", "POST"),
    };
    if !allowed {
        return Err(ApiError::MethodNotAllowed { allowed: methods });
    }
    if route != Route::Health {
        check_proxy_key(state, req)?;
    }
    match route {
        Route::Health => Ok(health(state)),
        Route::Models => models(state, req),
        Route::Model => model(state, req),
        Route::CountTokens => count_tokens(state, req),
        Route::Generate(_) if state.shutdown.asked() => Err(ApiError::shutting_down()),
        Route::Generate(protocol) => Ok(generate(state, req, protocol)),
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

/// When `PROXY_API_KEY` is set, the client must send it: as a Bearer token (OpenAI's SDKs,
/// and Anthropic's with `ANTHROPIC_AUTH_TOKEN`) or as `x-api-key` (Anthropic's SDKs with an
/// API key).
fn check_proxy_key(state: &AppState, req: &HttpRequest) -> Result<(), ApiError> {
    let config = state.config();
    let Some(expected) = config.proxy_api_key.as_deref() else {
        return Ok(());
    };
    let bearer = req.bearer();
    let api_key = req.header("x-api-key").map(str::trim);
    let matches = |sent: Option<&str>| {
        sent.is_some_and(|sent| constant_time_eq(sent.as_bytes(), expected.as_bytes()))
    };
    // Both are compared, whichever is present, so the time taken says nothing of which.
    let (by_bearer, by_api_key) = (matches(bearer), matches(api_key));
    if by_bearer || by_api_key {
        Ok(())
    } else {
        Err(ApiError::ProxyKeyRequired)
    }
}

/// `GET /v1/models`: the free models (all models when paid ones are allowed), in Anthropic's
/// list shape for a client that sends `anthropic-version`.
fn models(state: &AppState, req: &HttpRequest) -> Result<Reply, ApiError> {
    let config = state.config();
    let catalog = loaded_catalog(state)?;
    let body = if req.header("anthropic-version").is_some() {
        catalog.anthropic_list_body(config.allow_paid_models)
    } else {
        catalog.list_body(config.allow_paid_models)
    };
    Ok(Reply::json(200, body.to_vec()))
}

/// `GET /v1/models/{id}`: one entry of that list, in the same shape, or a 404.
fn model(state: &AppState, req: &HttpRequest) -> Result<Reply, ApiError> {
    let config = state.config();
    let id = model_id(&req.path).unwrap_or_default();
    let catalog = loaded_catalog(state)?;
    let Some(entry) = catalog.entry(&id, config.allow_paid_models) else {
        return Err(ApiError::ModelNotFound { id });
    };
    let entry = if req.header("anthropic-version").is_some() {
        anthropic_entry(entry)
    } else {
        entry.clone()
    };
    Ok(Reply::json(
        200,
        serde_json::to_vec(&entry).unwrap_or_default(),
    ))
}

/// The model id in `/v1/models/{id}` (or `/models/{id}`), percent-decoded: ids hold `/` and
/// `:`, sent as they are or encoded. One that does not decode is looked up as it came (and
/// not found).
fn model_id(path: &str) -> Option<String> {
    let rest = path
        .strip_prefix("/v1/models/")
        .or_else(|| path.strip_prefix("/models/"))
        .filter(|rest| !rest.is_empty())?;
    Some(decode_path_segment(rest).unwrap_or_else(|| rest.to_string()))
}

/// The catalog, once it has loaded (or a 503 saying it has not).
fn loaded_catalog(state: &AppState) -> Result<Arc<Snapshot>, ApiError> {
    let catalog = state
        .catalog
        .snapshot_when_ready(state.config().connect_timeout);
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
    Ok(catalog)
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
