//! The body each attempt sends: the client's own bytes when nothing needs changing, else the
//! request with the model and the output limit replaced, written without copying the rest of
//! the parsed request. An Anthropic thinking budget that a lowered `max_tokens` would no
//! longer hold is lowered with it, since Anthropic refuses a budget not below `max_tokens`.

use std::borrow::Cow;

use serde_json::Value;

use crate::autopilot::max_tokens;
use crate::chat::request::CallRequest;

/// The body to send for `model` with `limit`: the client's bytes when they already say that
/// (and nothing else changed), else the request with `model` and the limit replaced.
pub(crate) fn payload_for<'a>(
    call: &CallRequest,
    body: &'a [u8],
    model: &str,
    limit: Option<max_tokens::Limit>,
    requested: Option<max_tokens::Limit>,
) -> Cow<'a, [u8]> {
    if call.model.as_deref() == Some(model) && !call.rewritten && limit == requested {
        return Cow::Borrowed(body);
    }
    let Some(fields) = call.value.as_object() else {
        return Cow::Borrowed(body);
    };
    let mut changes = vec![("model", Value::from(model))];
    if let Some((field, value)) = limit {
        changes.push((field, Value::from(value)));
        if let Some(thinking) = fitted_thinking(&call.value["thinking"], value) {
            changes.push(("thinking", thinking));
        }
    }
    let overlay = Overlay { fields, changes };
    Cow::Owned(serde_json::to_vec(&overlay).unwrap_or_default())
}

/// Anthropic's smallest thinking budget.
const MIN_THINKING_BUDGET: u64 = 1024;

/// An extended-thinking setting (`{"type":"enabled","budget_tokens":N}`) fitted under an
/// answer of `max_tokens`: half of it when the budget does not fit (and that half is at least
/// Anthropic's minimum), thinking off when not even that fits; `None` when it fits as it is.
fn fitted_thinking(thinking: &Value, max_tokens: u64) -> Option<Value> {
    let budget = thinking["budget_tokens"].as_u64()?;
    if thinking["type"] != "enabled" || budget < max_tokens {
        return None;
    }
    let half = max_tokens / 2;
    let mut fitted = thinking.clone();
    if half >= MIN_THINKING_BUDGET {
        fitted["budget_tokens"] = Value::from(half);
        Some(fitted)
    } else {
        Some(serde_json::json!({"type": "disabled"}))
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_thinking_budget_is_fitted_under_a_lowered_limit() {
        let thinking = json!({"type": "enabled", "budget_tokens": 31_999});
        assert_eq!(
            fitted_thinking(&thinking, 8_192),
            Some(json!({"type": "enabled", "budget_tokens": 4_096}))
        );
        assert_eq!(
            fitted_thinking(&thinking, 1_500),
            Some(json!({"type": "disabled"}))
        );
        assert_eq!(fitted_thinking(&thinking, 32_000), None);
        assert_eq!(fitted_thinking(&json!({"type": "adaptive"}), 100), None);
        assert_eq!(fitted_thinking(&Value::Null, 100), None);
    }
}
