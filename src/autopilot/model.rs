//! One model of OpenRouter's list, with the fields the proxy decides by: which models are
//! free, what each can take and answer, and its size when its id or name states it.

use serde_json::Value;

/// OpenRouter's own router that picks a free model at random; free, but not a model itself.
pub(crate) const FREE_ROUTER: &str = "openrouter/free";

/// One model, with the fields the proxy decides by. Public, with the fields a test of the
/// choice reads, because the public [`Snapshot`](crate::Snapshot) hands it out.
#[derive(Debug)]
pub struct Model {
    pub id: String,
    pub(crate) name: String,
    pub context_length: Option<u64>,
    pub(crate) max_completion_tokens: Option<u64>,
    pub(crate) input_modalities: Vec<String>,
    pub(crate) output_modalities: Vec<String>,
    pub(crate) supported_parameters: Vec<String>,
    pub free: bool,
    /// The parameter count when the id or name states it: "70B", "1.2B", "30B-A3B".
    pub(crate) parameters: Option<String>,
}

impl Model {
    pub fn supports(&self, parameter: &str) -> bool {
        self.supported_parameters.iter().any(|p| p == parameter)
    }

    pub fn takes_images(&self) -> bool {
        self.input_modalities.iter().any(|m| m == "image")
    }

    /// Reads one entry of OpenRouter's list; `None` when it has no id.
    pub(crate) fn from_json(entry: &Value) -> Option<Model> {
        let id = entry.get("id")?.as_str()?.to_string();
        let name = entry["name"].as_str().unwrap_or(&id).to_string();
        let strings = |v: &Value| -> Vec<String> {
            v.as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|s| s.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default()
        };
        let price = |field: &str| price_value(&entry["pricing"][field]);
        let free = id == FREE_ROUTER
            || (id.ends_with(":free") && price("prompt") == 0.0 && price("completion") == 0.0);
        Some(Model {
            context_length: entry["context_length"]
                .as_u64()
                .or_else(|| entry["top_provider"]["context_length"].as_u64()),
            max_completion_tokens: entry["top_provider"]["max_completion_tokens"].as_u64(),
            input_modalities: strings(&entry["architecture"]["input_modalities"]),
            output_modalities: strings(&entry["architecture"]["output_modalities"]),
            supported_parameters: strings(&entry["supported_parameters"]),
            parameters: parameter_count(&id).or_else(|| parameter_count(&name)),
            free,
            name,
            id,
        })
    }
}

/// Prices are decimal strings ("0", "0.0000003"), sometimes numbers; a missing one is zero.
fn price_value(v: &Value) -> f64 {
    match v {
        Value::String(s) => s.trim().parse().unwrap_or(f64::NAN),
        Value::Number(n) => n.as_f64().unwrap_or(f64::NAN),
        Value::Null => 0.0,
        _ => f64::NAN,
    }
}

/// Finds a parameter count such as `70b`, `1.2B`, `8x7b` or `30b-a3b` in an id or a name.
fn parameter_count(text: &str) -> Option<String> {
    let tokens: Vec<&str> = text
        .split(|c: char| c == '-' || c == '/' || c == ':' || c == '_' || c.is_whitespace())
        .map(|t| t.trim_matches(|c: char| c == '(' || c == ')' || c == ','))
        .collect();
    let size = |t: &str| -> Option<String> {
        let number = t.strip_suffix(['b', 'B'])?;
        let plain = |n: &str| {
            !n.is_empty()
                && n.chars().all(|c| c.is_ascii_digit() || c == '.')
                && n.starts_with(|c: char| c.is_ascii_digit())
                && !n.ends_with('.')
        };
        match number.split_once(['x', 'X']) {
            Some((experts, each)) if plain(experts) && plain(each) => {
                Some(format!("{experts}x{each}B"))
            }
            None if plain(number) => Some(format!("{number}B")),
            _ => None,
        }
    };
    for (i, token) in tokens.iter().enumerate() {
        if let Some(total) = size(token) {
            let active = tokens
                .get(i + 1)
                .and_then(|t| t.strip_prefix(['a', 'A']))
                .and_then(size);
            return Some(match active {
                Some(active) => format!("{total}-A{active}"),
                None => total,
            });
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameter_counts_are_read_from_ids_and_names() {
        let cases = [
            ("meta-llama/llama-3.3-70b-instruct:free", Some("70B")),
            ("liquid/lfm-2.5-1.2b-instruct:free", Some("1.2B")),
            ("qwen/qwen3-next-80b-a3b-instruct:free", Some("80B-A3B")),
            ("nvidia/nemotron-3-ultra-550b-a55b:free", Some("550B-A55B")),
            ("mistralai/mixtral-8x7b-instruct", Some("8x7B")),
            ("Meta: Llama 3.1 405B Instruct", Some("405B")),
            ("openai/gpt-oss-120b:free", Some("120B")),
            ("qwen/qwen3-coder:free", None),
            ("google/gemini-2.5-flash", None),
        ];
        for (text, expected) in cases {
            assert_eq!(parameter_count(text).as_deref(), expected, "{text}");
        }
    }
}
