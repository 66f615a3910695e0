//! Serves one chat call: resolves the model, waits for an upstream slot, then for each attempt
//! picks the model and the key, sends the request, and classifies what came back. A retryable
//! failure is tried again when the retry policy allows: on the next model in the ranking for
//! an automatic choice, on the same model when the client pinned one, with another key when
//! the key was at fault. Streams can be retried only before their first event has reached the
//! client, which `SseRelay::start` guarantees.
//!
//! Every reply, success or failure, says in `X-Proxy-Model`, `X-Proxy-Attempts` and
//! `X-Proxy-Key` (masked) what happened; the same comes back to the handler as a
//! [`CallReport`] for debug mode's record.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Instant;

use serde_json::Value;

use crate::api::client_watch::client_gone;
use crate::api::error::{ApiError, from_upstream, from_upstream_error};
use crate::api::message::Reply;
use crate::app::state::{AppState, Live};
use crate::autopilot::catalog::Snapshot;
use crate::autopilot::key_pool::KeyLease;
use crate::autopilot::max_tokens;
use crate::autopilot::model_choice::{Needs, Ranking, Target, guard_paid_features, rank, resolve};
use crate::autopilot::tokens::PromptSize;
use crate::chat::answer::{Completion, finish_completion};
use crate::chat::refusal::nothing_can_serve;
use crate::chat::relay::{EarlyFailure, SseRelay};
use crate::chat::request::ChatRequest;
use crate::config::Config;
use crate::journal::call_record::{CallRecord, CallReport};
use crate::journal::stats::Outcome;
use crate::upstream::client::{UpstreamBody, is_client_gone};
use crate::upstream::failure::{Failure, classify_error, classify_status};

/// Upstream answers larger than this are refused (real answers are far smaller; the limit
/// only guards memory).
const MAX_ANSWER_BYTES: u64 = 256 << 20;
/// Error bodies are short; read at most this much of one.
const MAX_ERROR_BYTES: u64 = 1 << 20;

/// What one attempt produced when it succeeded.
enum Answer {
    Whole(Completion),
    Stream(Box<SseRelay<UpstreamBody>>),
}

/// A served call: the reply, and how the call ended unless a stream took the record to
/// finish it itself.
pub(crate) struct Served {
    pub(crate) reply: Reply,
    pub(crate) report: Option<CallReport>,
}

/// Which model and key the last attempt used, for the reply's headers.
struct Attempted {
    model: String,
    key: String,
    count: u32,
    /// The answer size sent, when one was.
    max_tokens: Option<u64>,
}

/// Serves a validated chat request; always returns the reply to send. A stream takes the
/// call's record with it; a whole reply comes with its report for the caller to finish the
/// record.
pub(crate) fn serve_chat(
    state: &AppState,
    live: &Live,
    chat: ChatRequest,
    body: &[u8],
    record: &mut CallRecord,
) -> Served {
    let mut attempted = None;
    match serve(state, live, chat, body, record, &mut attempted) {
        Ok(served) => served,
        Err(error) => {
            let mut report = CallReport::refused(&error);
            if let Some(a) = &attempted {
                report.model = Some(a.model.clone());
                report.key = Some(a.key.clone());
                report.attempts = a.count;
            }
            let mut reply = with_headers(error.into_reply(), attempted.as_ref());
            if attempted.is_some() {
                // The retry rule has had its say on this request: another try from the client
                // would only spend free quota on what the proxy already judged.
                reply = reply.no_retry();
            }
            Served {
                reply,
                report: Some(report),
            }
        }
    }
}

fn serve(
    state: &AppState,
    live: &Live,
    mut chat: ChatRequest,
    body: &[u8],
    record: &mut CallRecord,
    attempted: &mut Option<Attempted>,
) -> Result<Served, ApiError> {
    let config = &live.config;
    let catalog = state.catalog.snapshot_when_ready(config.connect_timeout);
    let target = resolve(chat.model.as_deref(), &catalog, config.allow_paid_models)?;
    if !config.allow_paid_models && guard_paid_features(&mut chat.value, &catalog)? {
        chat.rewritten = true;
    }
    let chat = chat;
    let needs = Needs::of(&chat.value);
    let prompt = PromptSize::new(
        &chat.value,
        config.smart_max_tokens,
        config.max_tokens_margin,
    )
    .capped_at(
        catalog
            .max_context(config.allow_paid_models)
            .unwrap_or(u64::MAX),
    );
    let requested = max_tokens::requested(&chat.value);
    // Refuse now what no attempt could do: no able model, a prompt too long for the model named.
    match &target {
        Target::Auto => {
            let ranking = ranking(state, config, &catalog, &needs, &prompt, &[]);
            if ranking.order.is_empty() {
                return Err(nothing_can_serve(&ranking, &prompt));
            }
        }
        Target::Pinned { id, .. } => {
            if let (true, Some(model)) = (config.smart_max_tokens, catalog.get(id)) {
                max_tokens::plan(model, &prompt, requested)?;
            }
        }
    }
    // When no key can serve, say so now rather than after waiting for a slot.
    let free = !matches!(target, Target::Pinned { free: false, .. });
    live.keys.check_available(free)?;
    let permit = state.limiter.acquire(config.queue_timeout)?;
    // A client that gave up while it waited costs no quota: no call for it.
    if client_gone() {
        return Err(ApiError::ClientGone);
    }

    let mut tried_models: Vec<String> = Vec::new();
    let mut excluded_keys: Vec<usize> = Vec::new();
    let mut last_error: Option<ApiError> = None;
    for count in 1.. {
        if count > 1 && client_gone() {
            return Err(ApiError::ClientGone);
        }
        let (model, free, info) = match &target {
            Target::Pinned { id, free } => (id.clone(), *free, catalog.get(id).cloned()),
            Target::Auto => match ranking(state, config, &catalog, &needs, &prompt, &tried_models)
                .order
                .first()
            {
                Some(m) => (m.id.clone(), true, Some(Arc::clone(m))),
                None => {
                    return Err(last_error.unwrap_or(ApiError::Internal {
                        detail: "no model left to try".into(),
                    }));
                }
            },
        };
        // The answer size is planned for each model: a retry on another model replans it.
        let limit = match (&info, config.smart_max_tokens) {
            (Some(info), true) => max_tokens::plan(info, &prompt, requested)?,
            _ => requested,
        };
        let key = match live.keys.choose(&excluded_keys, free) {
            Ok(key) => key,
            Err(shortage) => return Err(last_error.unwrap_or(shortage.into())),
        };
        *attempted = Some(Attempted {
            model: model.clone(),
            key: key.masked.clone(),
            count,
            max_tokens: limit.map(|(_, v)| v),
        });
        let payload = payload_for(&chat, body, &model, limit, requested);
        let started = Instant::now();
        let outcome = attempt(live, &key, &payload, chat.stream);
        let (status, error) = match &outcome {
            Ok(_) => (200, None),
            Err((_, e)) => (e.status(), Some(e.to_string())),
        };
        record.attempt(
            &model,
            &key.masked,
            Some(status),
            started.elapsed(),
            error.as_deref(),
        );
        let reached_openrouter = match &outcome {
            Ok(_) => true,
            Err((f, _)) => !matches!(f, Failure::Network) && !f.tied_to_key(),
        };
        if free && reached_openrouter {
            live.keys.record_use(key.index);
        }
        if let Err((_, ApiError::ClientGone)) = &outcome {
            // The client left while OpenRouter worked on it: the request reached OpenRouter
            // (it counts against the key), but says nothing of the model, and nobody waits
            // for a retry.
            if free {
                live.keys.record_use(key.index);
            }
            return Err(ApiError::ClientGone);
        }
        match outcome {
            Ok(answer) => {
                state.health.record_success(&model, started.elapsed());
                state.history.record(true);
                let (reply, answered, usage) = match answer {
                    Answer::Whole(answer) => (
                        Reply::json(200, answer.body),
                        answer.model,
                        Some(answer.usage),
                    ),
                    Answer::Stream(relay) => {
                        let answered = relay.model().map(str::to_string);
                        record.first_byte();
                        let relay = relay.holding(permit).recording(
                            record.take(),
                            key.masked.clone(),
                            count,
                        );
                        (Reply::stream(Box::new(relay)), answered, None)
                    }
                };
                let answered = answered.unwrap_or(model);
                let report = usage.map(|usage| CallReport {
                    outcome: Outcome::Success,
                    model: Some(answered.clone()),
                    key: Some(key.masked.clone()),
                    attempts: count,
                    usage,
                    error: None,
                });
                let attempted = Attempted {
                    model: answered.clone(),
                    key: key.masked,
                    count,
                    max_tokens: limit.map(|(_, v)| v),
                };
                let reply = with_headers(reply.with_model(Some(answered)), Some(&attempted));
                return Ok(Served { reply, report });
            }
            Err((failure, error)) => {
                let error = error.or_retry_after(failure.wait_secs(config.model_cooldown));
                state.history.record(false);
                live.keys.record_failure(key.index, &failure);
                note_model_failure(state, config, &model, &failure);
                // A model that is gone is worth replacing only when the proxy chose it.
                let pinned_gone =
                    failure == Failure::ModelGone && matches!(target, Target::Pinned { .. });
                if !failure.retryable()
                    || pinned_gone
                    || !state.history.may_retry(config.retry_policy, count)
                {
                    return Err(error);
                }
                log::info!(
                    "retrying: {model} with key {} failed ({}: {error})",
                    key.masked,
                    failure.label()
                );
                if failure.tied_to_key() {
                    excluded_keys.push(key.index);
                } else if target == Target::Auto {
                    tried_models.push(model);
                }
                last_error = Some(error);
            }
        }
    }
    unreachable!("the attempt loop returns")
}

fn ranking(
    state: &AppState,
    config: &Config,
    catalog: &Snapshot,
    needs: &Needs,
    prompt: &PromptSize,
    exclude: &[String],
) -> Ranking {
    rank(
        catalog,
        needs,
        prompt,
        &state.health,
        &config.model_preference,
        exclude,
        Instant::now(),
    )
}

/// The body to send for `model` with `limit`: the client's bytes when they already say that
/// (and nothing else changed), else the request with `model` and the limit replaced.
fn payload_for<'a>(
    chat: &ChatRequest,
    body: &'a [u8],
    model: &str,
    limit: Option<max_tokens::Limit>,
    requested: Option<max_tokens::Limit>,
) -> Cow<'a, [u8]> {
    if chat.model.as_deref() == Some(model) && !chat.rewritten && limit == requested {
        return Cow::Borrowed(body);
    }
    let Some(fields) = chat.value.as_object() else {
        return Cow::Borrowed(body);
    };
    let mut changes = vec![("model", Value::from(model))];
    if let Some((field, value)) = limit {
        changes.push((field, Value::from(value)));
    }
    let overlay = Overlay { fields, changes };
    Cow::Owned(serde_json::to_vec(&overlay).unwrap_or_default())
}

/// A JSON object written with some fields replaced or added, without copying the rest.
struct Overlay<'a> {
    fields: &'a serde_json::Map<String, Value>,
    changes: Vec<(&'static str, Value)>,
}

impl serde::Serialize for Overlay<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let changed = |k: &str| self.changes.iter().find(|(name, _)| *name == k);
        let mut map = serializer.serialize_map(None)?;
        for (k, v) in self.fields {
            match changed(k) {
                Some((_, new)) => map.serialize_entry(k, new)?,
                None => map.serialize_entry(k, v)?,
            }
        }
        for (k, v) in &self.changes {
            if !self.fields.contains_key(*k) {
                map.serialize_entry(k, v)?;
            }
        }
        map.end()
    }
}

/// Records what a failure says about the model: busy or down models cool down.
fn note_model_failure(state: &AppState, config: &Config, model: &str, failure: &Failure) {
    match failure {
        Failure::ModelUnavailable { retry_after, .. } => {
            let cooldown = retry_after.unwrap_or(config.model_cooldown);
            state.health.record_failure(model, Some(cooldown));
        }
        Failure::ModelGone => {
            // Gone until the catalog says otherwise.
            let cooldown = Some(config.catalog_refresh);
            state.health.record_failure(model, cooldown);
        }
        Failure::Network | Failure::BadAnswer => state.health.record_failure(model, None),
        // The key's or the request's fault, not the model's.
        _ => {}
    }
}

/// One upstream attempt.
fn attempt(
    live: &Live,
    key: &KeyLease,
    payload: &[u8],
    stream: bool,
) -> Result<Answer, (Failure, ApiError)> {
    let response = live
        .upstream
        .post_chat(&key.secret, payload, stream)
        .map_err(|e| (Failure::Network, ApiError::from(e)))?;
    if response.status != 200 {
        let bytes = response.body.read_all(MAX_ERROR_BYTES).unwrap_or_default();
        // An upstream (or a proxy on the way) may quote the key back: never pass it on.
        let bytes = live.redactor.redact_bytes(&bytes).into_owned();
        let failure = classify_status(response.status, &bytes, response.retry_after.as_deref());
        return Err((
            failure,
            from_upstream(response.status, &bytes, response.retry_after),
        ));
    }
    if stream && !response.is_json {
        return SseRelay::start(response.body)
            .map(|relay| Answer::Stream(Box::new(relay.redacting(Arc::clone(&live.redactor)))))
            .map_err(|early| match early {
                EarlyFailure::ErrorEvent(mut error) => {
                    live.redactor.redact_json(&mut error);
                    // The object itself is what to quote if it carries no message.
                    let quoted = error.to_string();
                    let error = from_upstream_error(200, Some(&error), quoted.as_bytes(), None);
                    envelope_failure(error)
                }
                EarlyFailure::NoEvent => (
                    Failure::BadAnswer,
                    ApiError::UpstreamInvalid {
                        detail: "the stream ended before its first event".into(),
                    },
                ),
            });
    }
    let bytes = response
        .body
        .read_all(MAX_ANSWER_BYTES)
        .map_err(|e| match e.kind() {
            _ if is_client_gone(&e) => (Failure::Network, ApiError::ClientGone),
            std::io::ErrorKind::TimedOut => (
                Failure::Network,
                ApiError::UpstreamTimeout {
                    phase: "receiving the answer",
                    after: live.config.response_timeout,
                },
            ),
            _ => (
                Failure::Network,
                ApiError::UpstreamUnreachable {
                    detail: format!("the answer was cut off: {e}"),
                },
            ),
        })?;
    let bytes = match live.redactor.redact_bytes(&bytes) {
        std::borrow::Cow::Owned(clean) => clean,
        std::borrow::Cow::Borrowed(_) => bytes,
    };
    match finish_completion(bytes) {
        Ok(answer) => Ok(Answer::Whole(answer)),
        Err(error @ ApiError::Upstream { .. }) => Err(envelope_failure(error)),
        Err(error) => Err((Failure::BadAnswer, error)),
    }
}

/// A 200 (or a first event) carrying an error envelope: a failure classified by the status,
/// message and metadata inside, and never fatal, since the request itself was accepted.
fn envelope_failure(error: ApiError) -> (Failure, ApiError) {
    let failure = match &error {
        ApiError::Upstream {
            status,
            message,
            metadata,
            ..
        } => classify_error(*status, message, metadata.as_ref(), None),
        _ => Failure::BadAnswer,
    };
    let failure = match failure {
        Failure::Fatal => Failure::BadAnswer,
        f => f,
    };
    (failure, error)
}

fn with_headers(mut reply: Reply, attempted: Option<&Attempted>) -> Reply {
    if let Some(a) = attempted {
        reply = reply
            .with_header("X-Proxy-Model", a.model.clone())
            .with_header("X-Proxy-Attempts", a.count.to_string())
            .with_header("X-Proxy-Key", a.key.clone());
        if let Some(n) = a.max_tokens {
            reply = reply.with_header("X-Proxy-Max-Tokens", n.to_string());
        }
        if reply.model.is_none() {
            reply.model = Some(a.model.clone());
        }
    }
    reply
}
