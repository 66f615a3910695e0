//! The one JSON view of a model, for every place that shows one: `/v1/models` lifts
//! [`ModelFacts`] to the top level of OpenRouter's own entry (and gives Anthropic's clients
//! their own short form of it); the panel (`/debug/models`) and `models --json` show a
//! [`ModelView`], and the panel adds what it has seen of the model. These are plain structs
//! made for serializing; `Model` itself is not.

use serde::Serialize;
use serde_json::{Value, json};

use crate::autopilot::model::Model;
use crate::util::clock::rfc3339_utc;

/// What the proxy reads from OpenRouter's entry of a model, under the names `/v1/models`
/// gives them.
#[derive(Debug, Serialize)]
pub(crate) struct ModelFacts<'a> {
    /// The part of the id before `/`.
    owned_by: &'a str,
    context_length: Option<u64>,
    max_completion_tokens: Option<u64>,
    input_modalities: &'a [String],
    output_modalities: &'a [String],
    supported_parameters: &'a [String],
    /// "70B", "30B-A3B", when the id or name says.
    parameter_count: Option<&'a str>,
    free: bool,
}

/// A model as the proxy's own pages and commands list it.
#[derive(Debug, Serialize)]
pub(crate) struct ModelView<'a> {
    id: &'a str,
    name: &'a str,
    /// Whether it takes `tools`.
    tools: bool,
    #[serde(flatten)]
    facts: ModelFacts<'a>,
}

impl<'a> ModelFacts<'a> {
    pub(crate) fn of(model: &'a Model) -> ModelFacts<'a> {
        ModelFacts {
            owned_by: model
                .id
                .split_once('/')
                .map_or("openrouter", |(owner, _)| owner),
            context_length: model.context_length,
            max_completion_tokens: model.max_completion_tokens,
            input_modalities: &model.input_modalities,
            output_modalities: &model.output_modalities,
            supported_parameters: &model.supported_parameters,
            parameter_count: model.parameters.as_deref(),
            free: model.free,
        }
    }
}

impl<'a> ModelView<'a> {
    pub(crate) fn of(model: &'a Model) -> ModelView<'a> {
        ModelView {
            id: &model.id,
            name: &model.name,
            tools: model.supports("tools"),
            facts: ModelFacts::of(model),
        }
    }
}

/// One `/v1/models` entry: OpenRouter's `entry` as it came, with OpenAI's `object` and
/// `created` and the model's facts set at the top level.
pub(crate) fn openai_entry(entry: &Value, model: &Model) -> Value {
    let mut out = entry.clone();
    let Some(object) = out.as_object_mut() else {
        return out;
    };
    object.insert("object".into(), json!("model"));
    if !object.get("created").is_some_and(Value::is_u64) {
        object.insert("created".into(), json!(0));
    }
    if let Ok(Value::Object(facts)) = serde_json::to_value(ModelFacts::of(model)) {
        object.extend(facts);
    }
    out
}

/// A `/v1/models` entry (as [`openai_entry`] made it) in the shape of Anthropic's Models API:
/// `{"type":"model","id","display_name","created_at"}`.
pub(crate) fn anthropic_entry(entry: &Value) -> Value {
    let id = entry["id"].as_str().unwrap_or("");
    json!({
        "type": "model",
        "id": id,
        "display_name": entry["name"].as_str().unwrap_or(id),
        "created_at": rfc3339_utc(entry["created"].as_u64().unwrap_or(0)),
    })
}

/// A list of entries in Anthropic's shape: one page holding them all.
pub(crate) fn anthropic_list(entries: &[Value]) -> Value {
    let id = |e: Option<&Value>| e.map_or(Value::Null, |e| e["id"].clone());
    json!({
        "data": entries,
        "has_more": false,
        "first_id": id(entries.first()),
        "last_id": id(entries.last()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ENTRY: &str = r#"{"id":"qwen/qwen3-next-80b-a3b-instruct:free","name":"Qwen: Qwen3 Next 80B A3B Instruct (free)","created":1757612213,"context_length":262144,"architecture":{"input_modalities":["text"],"output_modalities":["text"]},"pricing":{"prompt":"0","completion":"0"},"top_provider":{"context_length":262144,"max_completion_tokens":null},"supported_parameters":["max_tokens","tools"]}"#;

    #[test]
    fn the_openai_entry_keeps_openrouters_fields_and_lifts_the_facts() {
        let entry: Value = serde_json::from_str(ENTRY).unwrap();
        let model = Model::from_json(&entry).unwrap();
        let out = serde_json::to_string(&openai_entry(&entry, &model)).unwrap();
        let expected = r#"{"architecture":{"input_modalities":["text"],"output_modalities":["text"]},"context_length":262144,"created":1757612213,"free":true,"id":"qwen/qwen3-next-80b-a3b-instruct:free","input_modalities":["text"],"max_completion_tokens":null,"name":"Qwen: Qwen3 Next 80B A3B Instruct (free)","object":"model","output_modalities":["text"],"owned_by":"qwen","parameter_count":"80B-A3B","pricing":{"completion":"0","prompt":"0"},"supported_parameters":["max_tokens","tools"],"top_provider":{"context_length":262144,"max_completion_tokens":null}}"#;
        assert_eq!(out, expected);
    }

    #[test]
    fn the_view_is_the_facts_with_id_name_and_tools() {
        let entry: Value = serde_json::from_str(ENTRY).unwrap();
        let model = Model::from_json(&entry).unwrap();
        let view = serde_json::to_value(ModelView::of(&model)).unwrap();
        assert_eq!(view["id"], "qwen/qwen3-next-80b-a3b-instruct:free");
        assert_eq!(view["tools"], true);
        let facts = serde_json::to_value(ModelFacts::of(&model)).unwrap();
        for (field, value) in facts.as_object().unwrap() {
            assert_eq!(&view[field], value, "{field}");
        }
    }

    #[test]
    fn the_anthropic_entry_is_id_name_and_date() {
        let entry: Value = serde_json::from_str(ENTRY).unwrap();
        let model = Model::from_json(&entry).unwrap();
        let out = anthropic_entry(&openai_entry(&entry, &model));
        assert_eq!(
            out.to_string(),
            r#"{"created_at":"2025-09-11T17:36:53Z","display_name":"Qwen: Qwen3 Next 80B A3B Instruct (free)","id":"qwen/qwen3-next-80b-a3b-instruct:free","type":"model"}"#
        );
        let list = anthropic_list(&[out.clone(), out]);
        assert_eq!(list["has_more"], false);
        assert_eq!(list["first_id"], "qwen/qwen3-next-80b-a3b-instruct:free");
        assert_eq!(anthropic_list(&[])["last_id"], Value::Null);
    }
}
