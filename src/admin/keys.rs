//! The console's keys: list them (masked, never in full), add one to `.env`, remove one from
//! it, disable or enable one (`admin.json`).
//!
//! A key's id is its fingerprint (the name `key_usage.json` gives it). Adding or removing
//! edits the `.env` in use (`config/env_edit.rs` keeps every other line and comment), written
//! atomically, then puts the new key list in force at once through the same reload the file
//! watcher runs; the watcher's own reload that follows finds the same keys and changes
//! nothing that matters. When the real environment sets the key variables, the file's keys do
//! not count, so the console refuses to edit them (409) and says why.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::json;

use crate::admin::api::{json, json_body, refusal};
use crate::api::error::ApiError;
use crate::api::message::{HttpRequest, Reply};
use crate::app::background::refresh_key_allowances;
use crate::app::state::AppState;
use crate::autopilot::key_pool::KeyReport;
use crate::config::env_edit::{self, EnvEditError, KEY_VAR, KEYS_VAR};
use crate::config::{Config, RawSettings};
use crate::util::clock::from_epoch_ms;
use crate::util::fs::write_durably;
use crate::util::secret::fingerprint;
use crate::util::sync::lock;
use crate::util::time_format::utc_rfc3339;

/// One key as the console shows it.
#[derive(Serialize)]
struct KeyView {
    id: String,
    masked: String,
    enabled: bool,
    state: &'static str,
    used_today: u32,
    daily_limit: u32,
    /// Calls left today: the one figure, 0 once out of quota.
    left: u32,
    limit_from_openrouter: bool,
    /// When a resting or exhausted key comes back, RFC 3339 UTC.
    until: Option<String>,
    until_ms: Option<u64>,
}

impl KeyView {
    fn of(report: KeyReport) -> KeyView {
        KeyView {
            until: report.until_ms.map(|ms| utc_rfc3339(from_epoch_ms(ms))),
            until_ms: report.until_ms,
            id: report.id,
            masked: report.key,
            enabled: report.enabled,
            state: report.state,
            used_today: report.used_today,
            daily_limit: report.daily_limit,
            left: report.left,
            limit_from_openrouter: report.limit_from_openrouter,
        }
    }
}

/// `GET /keys`: every key, whether the console may add or remove keys (and why not), and a
/// warning when no key can serve a free model now.
pub(crate) fn list(state: &AppState) -> Reply {
    let keys = state.keys();
    let views: Vec<KeyView> = keys.report().into_iter().map(KeyView::of).collect();
    let editable = env_target(&state.config());
    json(
        200,
        &json!({
            "keys": views,
            "editable": editable.is_ok(),
            "not_editable_because": editable.err().map(|e| e.to_string()),
            "warning": keys.check_available(true).err().map(|e| e.to_string()),
        }),
    )
}

/// `POST /keys {"key":"sk-or-..."}`: appends the key to `OPENROUTER_API_KEYS` and uses it.
pub(crate) fn add(state: &AppState, req: &mut HttpRequest) -> Result<Reply, ApiError> {
    let body = json_body(state, req)?;
    let key = body["key"]
        .as_str()
        .ok_or_else(|| ApiError::bad_request("send the key as {\"key\": \"sk-or-...\"}", None))?
        .trim()
        .to_string();
    env_edit::check_new_key(&key).map_err(|e| ApiError::bad_request(e, None))?;
    let _editing = lock(&state.editing_env);
    let config = state.config();
    if config.keys.contains(&key) {
        return Err(refusal(
            409,
            "key_exists",
            format!("this key is already in use (id {})", fingerprint(&key)),
        ));
    }
    let path = env_target(&config)?;
    let text = read_env(&path)?;
    let edited = env_edit::add_key(&text, &key).map_err(|e| not_editable(&path, e))?;
    write_env(&path, &edited)?;
    apply_keys(state, |keys| {
        if !keys.contains(&key) {
            keys.push(key.clone());
        }
    })?;
    log::info!(
        "console: key {} added to {}",
        crate::util::secret::mask_key(&key),
        path.display()
    );
    let id = fingerprint(&key);
    let view = state
        .keys()
        .report()
        .into_iter()
        .find(|k| k.id == id)
        .map(KeyView::of);
    Ok(json(201, &json!({ "key": view })))
}

/// `DELETE /keys/{id}`: takes the key out of `.env` and stops using it.
pub(crate) fn remove(state: &AppState, id: &str) -> Result<Reply, ApiError> {
    let _editing = lock(&state.editing_env);
    let config = state.config();
    let key = config
        .keys
        .iter()
        .find(|k| fingerprint(k) == id)
        .cloned()
        .ok_or_else(|| unknown_key(id))?;
    let path = env_target(&config)?;
    let text = read_env(&path)?;
    let edited = match env_edit::remove_key(&text, &key) {
        Err(EnvEditError::NotFound) => {
            return Err(refusal(
                409,
                "key_not_in_env",
                format!(
                    "this key is not in {} (it comes from elsewhere), so the console cannot \
                     remove it; disable it instead",
                    path.display()
                ),
            ));
        }
        other => other.map_err(|e| not_editable(&path, e))?,
    };
    write_env(&path, &edited)?;
    apply_keys(state, |keys| keys.retain(|k| *k != key))?;
    // A removed key's choice goes with it (the same key added again starts enabled).
    let _ = state.change_choices(|c| {
        c.disabled_keys.remove(id);
    });
    log::info!(
        "console: key {} removed from {}",
        crate::util::secret::mask_key(&key),
        path.display()
    );
    Ok(json(200, &json!({ "removed": id })))
}

/// `POST /keys/{id}/disable` and `/enable`.
pub(crate) fn switch(state: &AppState, id: &str, enabled: bool) -> Result<Reply, ApiError> {
    let keys = state.keys();
    let report = keys
        .report()
        .into_iter()
        .find(|k| k.id == id)
        .ok_or_else(|| unknown_key(id))?;
    state
        .change_choices(|c| {
            if enabled {
                c.disabled_keys.remove(id);
            } else {
                c.disabled_keys.insert(id.to_string(), report.key.clone());
            }
        })
        .map_err(|e| cannot_save(&e))?;
    let view = state
        .keys()
        .report()
        .into_iter()
        .find(|k| k.id == id)
        .map(KeyView::of);
    Ok(json(200, &json!({ "key": view })))
}

fn unknown_key(id: &str) -> ApiError {
    refusal(
        404,
        "key_not_found",
        format!(
            "no key has the id '{}' (GET /admin/api/keys lists them)",
            crate::util::text::clip(id, 64)
        ),
    )
}

fn cannot_save(e: &io::Error) -> ApiError {
    ApiError::Internal {
        detail: format!("cannot save the console's choices: {e}"),
    }
}

/// The `.env` file the console may edit, or why it may not.
fn env_target(config: &Config) -> Result<PathBuf, ApiError> {
    let Some(path) = config.env_file.clone() else {
        return Err(refusal(
            409,
            "no_env_file",
            "the proxy's settings did not come from a .env file, so keys cannot be added or \
             removed here",
        ));
    };
    let raw = RawSettings::load(&path, false)
        .map_err(|e| refusal(409, "env_not_editable", e.to_string()))?;
    let from_env: Vec<&str> = [KEY_VAR, KEYS_VAR]
        .into_iter()
        .filter(|v| raw.set_by_environment(v))
        .collect();
    if !from_env.is_empty() {
        return Err(refusal(
            409,
            "keys_set_by_environment",
            format!(
                "{} {} set in the proxy's environment, which wins over .env, so a key changed \
                 in {} would not count; change the environment instead (and restart the proxy)",
                from_env.join(" and "),
                if from_env.len() == 1 { "is" } else { "are" },
                path.display()
            ),
        ));
    }
    Ok(path)
}

fn not_editable(path: &Path, e: EnvEditError) -> ApiError {
    let why = match e {
        EnvEditError::NotFound => "the key is not in it".to_string(),
        EnvEditError::Unsafe(why) => why,
    };
    refusal(
        409,
        "env_not_editable",
        format!("{} was left as it is: {why}", path.display()),
    )
}

/// The file's text; empty when it does not exist yet.
fn read_env(path: &Path) -> Result<String, ApiError> {
    match fs::read_to_string(path) {
        Ok(text) => Ok(text),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(String::new()),
        Err(e) => Err(ApiError::Internal {
            detail: format!("cannot read {}: {e}", path.display()),
        }),
    }
}

/// Replaces the file atomically (a symlinked `.env` has its target replaced), keeping its
/// permissions.
fn write_env(path: &Path, text: &str) -> Result<(), ApiError> {
    let real = fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let permissions = fs::metadata(&real).map(|m| m.permissions()).ok();
    let written = write_durably(&real, text.as_bytes()).and_then(|()| match permissions {
        Some(p) => fs::set_permissions(&real, p),
        None => Ok(()),
    });
    written.map_err(|e| ApiError::Internal {
        detail: format!("cannot write {}: {e}", real.display()),
    })
}

/// Puts the running key list, as `edit` changes it, in force now, every other running setting
/// as it is (a reload by the watcher may have come in between: its settings are kept).
fn apply_keys(state: &AppState, edit: impl FnOnce(&mut Vec<String>)) -> Result<(), ApiError> {
    let mut next = (*state.config()).clone();
    edit(&mut next.keys);
    state
        .reload(next)
        .map_err(|detail| ApiError::Internal { detail })?;
    // The new key's allowance, as OpenRouter says, without making the console wait.
    let live = state.live();
    let _ = std::thread::Builder::new()
        .name("key-allowance".into())
        .spawn(move || refresh_key_allowances(&live));
    Ok(())
}
