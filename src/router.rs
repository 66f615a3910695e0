//! Maps a request to its handler: checks the path, the method and the proxy key, then calls
//! the handler and turns any error into its reply. Handlers never write to the client.

use serde_json::json;

use crate::chat::chat_completions;
use crate::error::ApiError;
use crate::http::{HttpRequest, Reply};
use crate::secret::constant_time_eq;
use crate::state::AppState;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Route {
    Health,
    Models,
    Chat,
}

pub fn route(state: &AppState, req: &mut HttpRequest) -> Reply {
    handle(state, req).unwrap_or_else(ApiError::into_reply)
}

fn handle(state: &AppState, req: &mut HttpRequest) -> Result<Reply, ApiError> {
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
        Route::Models => {
            let body = state
                .models
                .get(&state.upstream, state.config.api_key.as_deref())?;
            Ok(Reply::json(200, body.to_vec()))
        }
        Route::Chat => chat_completions(state, req),
    }
}

/// When `PROXY_API_KEY` is set, the client must send it as a Bearer token.
fn check_proxy_key(state: &AppState, req: &HttpRequest) -> Result<(), ApiError> {
    let Some(expected) = state.config.proxy_api_key.as_deref() else {
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

fn health(state: &AppState) -> Reply {
    let usage = state.limiter.usage();
    let key_configured = state.config.api_key.is_some();
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
    });
    if !key_configured {
        body["warning"] =
            json!("no OpenRouter key: set OPENROUTER_API_KEY in .env, then restart the proxy");
    }
    Reply::json(200, serde_json::to_vec(&body).unwrap_or_default())
}
