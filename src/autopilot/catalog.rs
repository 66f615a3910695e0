//! The model catalog: OpenRouter's model list as the proxy holds it (`model.rs` reads each
//! entry).
//!
//! Loaded from `CACHE_DIR/models.json` at start (the last good copy), then from OpenRouter,
//! and refreshed in the background. Readers take an immutable [`Snapshot`]; a refresh swaps in
//! a new one. When neither the cache nor OpenRouter has answered, the catalog is empty and the
//! proxy still serves (see `model_choice.rs` for what it does then).

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, RwLock};
use std::time::{Duration, SystemTime};

use serde_json::{Value, json};

use crate::autopilot::model::Model;
use crate::autopilot::model_view::{anthropic_entry, anthropic_list, openai_entry};
use crate::upstream::client::{Upstream, UpstreamError};
use crate::util::fs::write_durably;
use crate::util::sync::{lock, read, write};

/// The model list is a few hundred KiB; refuse anything absurd.
const MAX_LIST_BYTES: u64 = 64 << 20;

/// An immutable view of the catalog.
#[derive(Default)]
pub struct Snapshot {
    pub(crate) models: Vec<Arc<Model>>,
    by_id: HashMap<String, usize>,
    /// Each model's `/v1/models` entry, in the order of `models`.
    entries: Arc<Vec<Value>>,
    /// Ids disabled in the console (some may name models the list no longer has).
    disabled: Arc<HashSet<String>>,
    /// `/v1/models` bodies, ready to send: free models only, and all models; then the same
    /// in the shape of Anthropic's Models API. Models disabled in the console are left out.
    free_list: Vec<u8>,
    full_list: Vec<u8>,
    anthropic_free_list: Vec<u8>,
    anthropic_full_list: Vec<u8>,
    /// When this list was fetched from OpenRouter (or written to the cache).
    pub fetched_at: Option<SystemTime>,
    /// The largest context among free models, and among all (asked on every chat call).
    max_context: (Option<u64>, Option<u64>),
}

impl Snapshot {
    /// Builds a snapshot from OpenRouter's `{"data":[...]}`.
    pub fn from_list(list: &Value, fetched_at: Option<SystemTime>) -> Option<Snapshot> {
        let list = list.get("data")?.as_array()?;
        let mut models = Vec::new();
        let mut entries = Vec::new();
        for entry in list {
            let Some(model) = Model::from_json(entry) else {
                continue;
            };
            entries.push(openai_entry(entry, &model));
            models.push(Arc::new(model));
        }
        Some(Snapshot::assemble(
            models,
            Arc::new(entries),
            Arc::default(),
            fetched_at,
        ))
    }

    /// The same list with the models in `disabled` hidden.
    pub(crate) fn with_disabled(&self, disabled: HashSet<String>) -> Snapshot {
        Snapshot::assemble(
            self.models.clone(),
            Arc::clone(&self.entries),
            Arc::new(disabled),
            self.fetched_at,
        )
    }

    fn assemble(
        models: Vec<Arc<Model>>,
        entries: Arc<Vec<Value>>,
        disabled: Arc<HashSet<String>>,
        fetched_at: Option<SystemTime>,
    ) -> Snapshot {
        let by_id = models
            .iter()
            .enumerate()
            .map(|(i, m)| (m.id.clone(), i))
            .collect();
        let shown = |free_only: bool| -> Vec<&Value> {
            models
                .iter()
                .zip(entries.iter())
                .filter(|(m, _)| (m.free || !free_only) && !disabled.contains(&m.id))
                .map(|(_, e)| e)
                .collect()
        };
        let openai = |data: &[&Value]| {
            serde_json::to_vec(&json!({"object": "list", "data": data})).unwrap_or_default()
        };
        let anthropic = |data: &[&Value]| {
            let data: Vec<Value> = data.iter().map(|e| anthropic_entry(e)).collect();
            serde_json::to_vec(&anthropic_list(&data)).unwrap_or_default()
        };
        let (free, all) = (shown(true), shown(false));
        let largest = |free_only: bool| {
            models
                .iter()
                .filter(|m| (m.free || !free_only) && !disabled.contains(&m.id))
                .filter_map(|m| m.context_length)
                .max()
        };
        let max_context = (largest(true), largest(false));
        Snapshot {
            free_list: openai(&free),
            full_list: openai(&all),
            anthropic_free_list: anthropic(&free),
            anthropic_full_list: anthropic(&all),
            models,
            entries,
            by_id,
            disabled,
            fetched_at,
            max_context,
        }
    }

    /// A model that may serve calls (not disabled in the console).
    pub fn get(&self, id: &str) -> Option<&Arc<Model>> {
        self.get_any(id).filter(|_| !self.is_disabled(id))
    }

    /// A model of the list, disabled or not.
    pub(crate) fn get_any(&self, id: &str) -> Option<&Arc<Model>> {
        self.by_id.get(id).map(|&i| &self.models[i])
    }

    /// Whether the console disabled this model id.
    pub(crate) fn is_disabled(&self, id: &str) -> bool {
        self.disabled.contains(id)
    }

    pub(crate) fn disabled(&self) -> &HashSet<String> {
        &self.disabled
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.models.is_empty()
    }

    /// The free models that may serve calls.
    pub(crate) fn free_models(&self) -> impl Iterator<Item = &Arc<Model>> {
        self.models
            .iter()
            .filter(|m| m.free && !self.is_disabled(&m.id))
    }

    /// The largest context of the models a request could use (free ones, or all).
    pub fn max_context(&self, include_paid: bool) -> Option<u64> {
        if include_paid {
            self.max_context.1
        } else {
            self.max_context.0
        }
    }

    /// The `/v1/models` body: free models only unless paid ones are allowed.
    pub(crate) fn list_body(&self, include_paid: bool) -> &[u8] {
        if include_paid {
            &self.full_list
        } else {
            &self.free_list
        }
    }

    /// The same list in the shape of Anthropic's Models API.
    pub(crate) fn anthropic_list_body(&self, include_paid: bool) -> &[u8] {
        if include_paid {
            &self.anthropic_full_list
        } else {
            &self.anthropic_free_list
        }
    }

    /// One model's `/v1/models` entry, when the list shows it (not disabled in the console).
    pub(crate) fn entry(&self, id: &str, include_paid: bool) -> Option<&Value> {
        let &i = self.by_id.get(id)?;
        let shown = (include_paid || self.models[i].free) && !self.is_disabled(id);
        shown.then(|| &self.entries[i])
    }
}

/// The live catalog: the current snapshot, and whether the first load has been tried.
pub struct Catalog {
    /// Swapped whole on each successful refresh.
    current: RwLock<Arc<Snapshot>>,
    /// True once the first load from OpenRouter has been tried (successfully or not).
    first_try_done: Mutex<bool>,
    tried: Condvar,
    cache_file: PathBuf,
}

impl Catalog {
    /// A catalog holding what `CACHE_DIR/models.json` had, if anything.
    pub(crate) fn new(cache_dir: &Path) -> Catalog {
        let cache_file = cache_dir.join("models.json");
        let cached = read_cache(&cache_file).unwrap_or_default();
        Catalog {
            current: RwLock::new(Arc::new(cached)),
            first_try_done: Mutex::new(false),
            tried: Condvar::new(),
            cache_file,
        }
    }

    pub(crate) fn snapshot(&self) -> Arc<Snapshot> {
        Arc::clone(&read(&self.current))
    }

    /// Hides the models in `disabled` from everything that serves calls, now and in every
    /// list loaded later.
    pub(crate) fn set_disabled(&self, disabled: HashSet<String>) {
        let mut current = write(&self.current);
        *current = Arc::new(current.with_disabled(disabled));
    }

    /// The snapshot, after waiting (at most `limit`) for the first load when nothing is known
    /// yet, so that the first requests after start-up see the real list.
    pub(crate) fn snapshot_when_ready(&self, limit: Duration) -> Arc<Snapshot> {
        let snapshot = self.snapshot();
        if !snapshot.is_empty() {
            return snapshot;
        }
        let done = lock(&self.first_try_done);
        let _ = self.tried.wait_timeout_while(done, limit, |done| !*done);
        self.snapshot()
    }

    /// Fetches the list from OpenRouter; on success swaps it in, saves it to the cache and
    /// returns how many free models it has.
    pub(crate) fn refresh(
        &self,
        upstream: &Upstream,
        key: Option<&str>,
    ) -> Result<usize, CatalogError> {
        let result = fetch(upstream, key).and_then(|(bytes, list)| {
            let snapshot =
                Snapshot::from_list(&list, Some(SystemTime::now())).ok_or(CatalogError::NoData)?;
            if let Err(e) = write_durably(&self.cache_file, &bytes) {
                log::warn!(
                    "cannot save the model list to {}: {e}",
                    self.cache_file.display()
                );
            }
            // The console's choices carry over to the new list.
            let mut current = write(&self.current);
            let snapshot = snapshot.with_disabled(current.disabled().clone());
            let free = snapshot.free_models().count();
            *current = Arc::new(snapshot);
            Ok(free)
        });
        *lock(&self.first_try_done) = true;
        self.tried.notify_all();
        result
    }
}

/// Why the model list could not be loaded.
#[derive(Debug)]
pub(crate) enum CatalogError {
    /// No answer from OpenRouter.
    Unreachable(UpstreamError),
    /// The answer broke off.
    Cut(io::Error),
    /// OpenRouter answered with an error status; its message, or the start of its body.
    Refused {
        status: u16,
        message: String,
    },
    NotJson(serde_json::Error),
    /// JSON without the `data` array of models.
    NoData,
}

impl fmt::Display for CatalogError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CatalogError::Unreachable(UpstreamError::Timeout { phase, after }) => write!(
                f,
                "OpenRouter did not answer in time ({phase}, {:.1} s)",
                after.as_secs_f64()
            ),
            CatalogError::Unreachable(UpstreamError::Unreachable(detail)) => {
                write!(f, "cannot reach OpenRouter: {detail}")
            }
            // Background work serves no client; kept for completeness.
            CatalogError::Unreachable(UpstreamError::ClientGone) => {
                f.write_str("the call was dropped because its client went away")
            }
            CatalogError::Cut(e) => write!(f, "reading the model list failed: {e}"),
            CatalogError::Refused { status, message } => {
                write!(f, "OpenRouter answered HTTP {status}: {message}")
            }
            CatalogError::NotJson(e) => write!(f, "the model list is not JSON: {e}"),
            CatalogError::NoData => f.write_str("the model list has no 'data' array"),
        }
    }
}

fn fetch(upstream: &Upstream, key: Option<&str>) -> Result<(Vec<u8>, Value), CatalogError> {
    let response = upstream
        .get("/models", key)
        .map_err(CatalogError::Unreachable)?;
    let status = response.status;
    let bytes = response
        .body
        .read_all(MAX_LIST_BYTES)
        .map_err(CatalogError::Cut)?;
    if status != 200 {
        let parsed: Value = serde_json::from_slice(&bytes).unwrap_or_default();
        let message = match parsed["error"]["message"].as_str() {
            Some(message) => message.to_string(),
            None if bytes.trim_ascii().is_empty() => "an empty body".to_string(),
            None => String::from_utf8_lossy(bytes.trim_ascii())
                .chars()
                .take(200)
                .collect(),
        };
        return Err(CatalogError::Refused { status, message });
    }
    let list = serde_json::from_slice(&bytes).map_err(CatalogError::NotJson)?;
    Ok((bytes, list))
}

fn read_cache(path: &Path) -> Option<Snapshot> {
    let bytes = fs::read(path).ok()?;
    let modified = fs::metadata(path).and_then(|m| m.modified()).ok();
    let list: Value = serde_json::from_slice(&bytes).ok()?;
    Snapshot::from_list(&list, modified)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::autopilot::model::FREE_ROUTER;
    use serde_json::json;

    fn fixture() -> Snapshot {
        let list: Value = serde_json::from_str(include_str!(
            "../../tests/fixtures/openrouter/models_2026-06-16.json"
        ))
        .unwrap();
        Snapshot::from_list(&list, None).unwrap()
    }

    #[test]
    fn free_means_free_suffix_and_zero_prices() {
        let snap = fixture();
        let free: Vec<&str> = snap.free_models().map(|m| m.id.as_str()).collect();
        assert_eq!(free.len(), 23, "22 :free models and the router: {free:?}");
        assert!(
            free.iter()
                .all(|id| id.ends_with(":free") || *id == FREE_ROUTER)
        );
        assert!(!snap.get("meta-llama/llama-3.3-70b-instruct").unwrap().free);

        let router = json!({"data":[
            {"id":"openrouter/free","pricing":{"prompt":"0","completion":"0"}},
            {"id":"x/priced:free","pricing":{"prompt":"0.1","completion":"0"}},
            {"id":"x/omitted:free","pricing":{}},
        ]});
        let snap = Snapshot::from_list(&router, None).unwrap();
        assert!(snap.get("openrouter/free").unwrap().free);
        assert!(!snap.get("x/priced:free").unwrap().free);
        assert!(snap.get("x/omitted:free").unwrap().free);
    }

    #[test]
    fn disabled_models_are_listed_nowhere_that_serves_calls() {
        let snap = fixture();
        let id = "meta-llama/llama-3.3-70b-instruct:free";
        let before = snap.list_body(false).to_vec();
        let off = snap.with_disabled(HashSet::from([id.to_string()]));
        assert!(off.get(id).is_none());
        assert!(off.get_any(id).is_some(), "the console still sees it");
        assert!(off.is_disabled(id));
        assert_eq!(off.free_models().count(), 22);
        let list: Value = serde_json::from_slice(off.list_body(false)).unwrap();
        let data = list["data"].as_array().unwrap();
        assert_eq!(data.len(), 22);
        assert!(data.iter().all(|m| m["id"] != id));
        let all: Value = serde_json::from_slice(off.list_body(true)).unwrap();
        assert_eq!(all["data"].as_array().unwrap().len(), 336);
        // Enabled again, the list is what it was, byte for byte.
        let on = off.with_disabled(HashSet::new());
        assert_eq!(on.list_body(false), &before[..]);
    }

    #[test]
    fn an_older_list_parses_too() {
        let list: Value = serde_json::from_str(include_str!(
            "../../tests/fixtures/openrouter/models_2026-05-01.json"
        ))
        .unwrap();
        let snap = Snapshot::from_list(&list, None).unwrap();
        assert_eq!(snap.models.len(), 371);
        let suffixed = snap
            .free_models()
            .filter(|m| m.id.ends_with(":free"))
            .count();
        assert_eq!(suffixed, 29);
    }

    #[test]
    fn capabilities_come_from_the_real_list() {
        let snap = fixture();
        let llama = snap.get("meta-llama/llama-3.3-70b-instruct:free").unwrap();
        assert!(llama.context_length.unwrap() >= 8000);
        assert_eq!(llama.parameters.as_deref(), Some("70B"));
        let nemo = snap.get("nvidia/nemotron-nano-12b-v2-vl:free").unwrap();
        assert!(nemo.takes_images());
        let pro = snap.get("nex-agi/nex-n2-pro:free").unwrap();
        assert!(pro.supports("tools"));
        assert_eq!(pro.max_completion_tokens, Some(262144));
    }

    #[test]
    fn the_free_list_is_openai_shaped_with_lifted_fields() {
        let snap = fixture();
        let list: Value = serde_json::from_slice(snap.list_body(false)).unwrap();
        let data = list["data"].as_array().unwrap();
        assert_eq!(data.len(), 23);
        let m = data
            .iter()
            .find(|m| m["id"] == "qwen/qwen3-next-80b-a3b-instruct:free")
            .unwrap();
        assert_eq!(m["object"], "model");
        assert_eq!(m["owned_by"], "qwen");
        assert_eq!(m["parameter_count"], "80B-A3B");
        for field in [
            "context_length",
            "max_completion_tokens",
            "input_modalities",
            "output_modalities",
            "supported_parameters",
            "name",
            "created",
            "pricing",
        ] {
            assert!(m.get(field).is_some(), "{field} missing");
        }
        let all: Value = serde_json::from_slice(snap.list_body(true)).unwrap();
        assert_eq!(all["data"].as_array().unwrap().len(), 337);
    }

    #[test]
    fn one_entry_is_the_lists_own_and_paid_ones_show_only_when_allowed() {
        let snap = fixture();
        let list: Value = serde_json::from_slice(snap.list_body(false)).unwrap();
        let id = "qwen/qwen3-next-80b-a3b-instruct:free";
        let listed = list["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["id"] == id);
        assert_eq!(snap.entry(id, false), listed);
        assert!(
            snap.entry("meta-llama/llama-3.3-70b-instruct", false)
                .is_none()
        );
        assert!(
            snap.entry("meta-llama/llama-3.3-70b-instruct", true)
                .is_some()
        );
        assert!(snap.entry("no/such-model", true).is_none());
        let anthropic: Value = serde_json::from_slice(snap.anthropic_list_body(false)).unwrap();
        assert_eq!(anthropic["data"].as_array().unwrap().len(), 23);
        assert_eq!(anthropic["data"][0]["type"], "model");
    }
}
