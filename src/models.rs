//! `GET /v1/models`: OpenRouter's model list in OpenAI's list format.
//!
//! Each entry keeps all of OpenRouter's fields (context length, pricing and so on) and gains
//! the ones OpenAI clients expect: `object: "model"` and `owned_by`. The converted list is
//! kept for a few minutes so that editors polling this endpoint cost nothing upstream; when a
//! refresh fails, the last good list is served.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::error::{ApiError, from_upstream};
use crate::upstream::Upstream;

/// How long a fetched list is served before asking OpenRouter again.
const FRESH_FOR: Duration = Duration::from_secs(300);
/// The model list is a few hundred KiB; refuse anything absurd.
const MAX_LIST_BYTES: u64 = 64 << 20;

#[derive(Default)]
pub struct ModelList {
    /// The last converted list and when it was fetched.
    cached: Mutex<Option<(Instant, Arc<Vec<u8>>)>>,
}

impl ModelList {
    /// The list as a ready JSON body, from the cache when fresh.
    pub fn get(&self, upstream: &Upstream, key: Option<&str>) -> Result<Arc<Vec<u8>>, ApiError> {
        let cached = self
            .cached
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        if let Some((at, body)) = &cached {
            if at.elapsed() < FRESH_FOR {
                return Ok(Arc::clone(body));
            }
        }
        match fetch(upstream, key) {
            Ok(body) => {
                let body = Arc::new(body);
                *self.cached.lock().unwrap_or_else(|e| e.into_inner()) =
                    Some((Instant::now(), Arc::clone(&body)));
                Ok(body)
            }
            Err(e) => match cached {
                Some((_, body)) => Ok(body),
                None => Err(e),
            },
        }
    }
}

fn fetch(upstream: &Upstream, key: Option<&str>) -> Result<Vec<u8>, ApiError> {
    let response = upstream.get("/models", key)?;
    let status = response.status;
    let retry_after = response.retry_after.clone();
    let bytes =
        response
            .body
            .read_all(MAX_LIST_BYTES)
            .map_err(|e| ApiError::UpstreamUnreachable {
                detail: format!("reading the model list failed: {e}"),
            })?;
    if status != 200 {
        return Err(from_upstream(status, &bytes, retry_after));
    }
    let list: Value = serde_json::from_slice(&bytes).map_err(|e| ApiError::UpstreamInvalid {
        detail: format!("the model list is not JSON: {e}"),
    })?;
    let converted = to_openai_list(list).ok_or_else(|| ApiError::UpstreamInvalid {
        detail: "the model list has no 'data' array".into(),
    })?;
    Ok(serde_json::to_vec(&converted).unwrap_or_default())
}

/// Converts `{"data":[...]}` from OpenRouter into `{"object":"list","data":[...]}`.
pub fn to_openai_list(mut list: Value) -> Option<Value> {
    let Value::Array(models) = list.get_mut("data")?.take() else {
        return None;
    };
    let data: Vec<Value> = models
        .into_iter()
        .filter_map(|mut m| {
            let id = m.get("id")?.as_str()?.to_string();
            let object = m.as_object_mut()?;
            object.insert("object".into(), json!("model"));
            if !object.get("created").is_some_and(Value::is_u64) {
                object.insert("created".into(), json!(0));
            }
            let owner = id.split_once('/').map_or("openrouter", |(owner, _)| owner);
            object.insert("owned_by".into(), json!(owner));
            Some(m)
        })
        .collect();
    Some(json!({"object": "list", "data": data}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_real_list_converts_with_every_field_kept() {
        let raw: Value = serde_json::from_str(include_str!(
            "../tests/fixtures/openrouter/models_2026-06-16.json"
        ))
        .unwrap();
        let count = raw["data"].as_array().unwrap().len();
        let list = to_openai_list(raw).unwrap();
        assert_eq!(list["object"], "list");
        let data = list["data"].as_array().unwrap();
        assert_eq!(data.len(), count);
        let llama = data
            .iter()
            .find(|m| m["id"] == "meta-llama/llama-3.3-70b-instruct:free")
            .unwrap();
        assert_eq!(llama["object"], "model");
        assert_eq!(llama["owned_by"], "meta-llama");
        assert!(llama["created"].as_u64().unwrap() > 1_600_000_000);
        assert!(llama["context_length"].as_u64().is_some());
        assert!(llama["pricing"].is_object());
    }

    #[test]
    fn entries_without_an_id_are_dropped() {
        let list = to_openai_list(json!({"data":[{"name":"x"},{"id":"a/b"}]})).unwrap();
        assert_eq!(list["data"].as_array().unwrap().len(), 1);
        assert_eq!(list["data"][0]["created"], 0);
        assert!(to_openai_list(json!({"models": []})).is_none());
    }
}
