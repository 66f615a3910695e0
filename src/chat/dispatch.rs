//! Serves one call, whichever its protocol: resolves the model, waits for an upstream slot,
//! then for each attempt picks the model and the key, sends the request (`attempt.rs`), and
//! classifies what came back. A retryable failure is tried again when the retry policy
//! allows: on the next model in the ranking for an automatic choice, on the same model when
//! the client pinned one, with another key when the key was at fault. Streams can be retried
//! only before their answer has begun, which `SseRelay::start` guarantees.
//!
//! Every reply, success or failure, says in `X-Proxy-Model`, `X-Proxy-Attempts` and
//! `X-Proxy-Key` (masked) what happened; an error after an upstream attempt says
//! `x-should-retry: false` too. The same comes back to the handler as a [`CallReport`] for
//! debug mode's record.

use std::sync::Arc;
use std::time::Instant;

use crate::api::client_watch::client_gone;
use crate::api::error::ApiError;
use crate::api::message::Reply;
use crate::app::state::{AppState, Live};
use crate::autopilot::catalog::Snapshot;
use crate::autopilot::max_tokens;
use crate::autopilot::model_choice::{Needs, Ranking, Target, guard_paid_features, rank, resolve};
use crate::autopilot::tokens::PromptSize;
use crate::chat::attempt::{Answer, Outgoing, attempt};
use crate::chat::payload::payload_for;
use crate::chat::refusal::nothing_can_serve;
use crate::chat::request::CallRequest;
use crate::config::Config;
use crate::journal::call_record::{CallRecord, CallReport};
use crate::journal::stats::Outcome;
use crate::upstream::failure::Failure;

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

/// Serves a validated request; always returns the reply to send, errors in the protocol's
/// shape. A stream takes the call's record with it; a whole reply comes with its report for
/// the caller to finish the record. `forwarded` are the client headers the protocol passes
/// on.
pub(crate) fn serve_call(
    state: &AppState,
    live: &Live,
    call: CallRequest,
    body: &[u8],
    forwarded: &[(String, String)],
    record: &mut CallRecord,
) -> Served {
    let mut attempted = None;
    let shape = call.protocol.error_shape();
    match serve(state, live, call, body, forwarded, record, &mut attempted) {
        Ok(served) => served,
        Err(error) => {
            let mut report = CallReport::refused(&error);
            if let Some(a) = &attempted {
                report.model = Some(a.model.clone());
                report.key = Some(a.key.clone());
                report.attempts = a.count;
            }
            let mut reply = with_headers(shape.reply(error), attempted.as_ref());
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
    mut call: CallRequest,
    body: &[u8],
    forwarded: &[(String, String)],
    record: &mut CallRecord,
    attempted: &mut Option<Attempted>,
) -> Result<Served, ApiError> {
    let config = &live.config;
    let catalog = state.catalog.snapshot_when_ready(config.connect_timeout);
    let target = resolve(call.model.as_deref(), &catalog, config.allow_paid_models)?;
    if !config.allow_paid_models && guard_paid_features(&mut call.value, &catalog)? {
        call.rewritten = true;
    }
    let call = call;
    let protocol = call.protocol;
    let limit_field = protocol.limit_fields()[0];
    let needs = Needs::of(&call.value);
    let prompt = PromptSize::new(
        &call.value,
        config.smart_max_tokens,
        config.max_tokens_margin,
    )
    .capped_at(
        catalog
            .max_context(config.allow_paid_models)
            .unwrap_or(u64::MAX),
    );
    let requested = max_tokens::requested(&call.value, protocol.limit_fields());
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
                max_tokens::plan(model, &prompt, requested, limit_field)?;
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
            (Some(info), true) => max_tokens::plan(info, &prompt, requested, limit_field)?,
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
        let payload = payload_for(&call, body, &model, limit, requested);
        let outgoing = Outgoing {
            protocol,
            payload: &payload,
            stream: call.stream,
            forwarded,
        };
        let started = Instant::now();
        let outcome = attempt(live, &key, &outgoing);
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
        Failure::Network | Failure::Cut | Failure::BadAnswer => {
            state.health.record_failure(model, None)
        }
        // The key's or the request's fault, not the model's.
        _ => {}
    }
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
