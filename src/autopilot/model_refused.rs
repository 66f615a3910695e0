//! Why the model a request names cannot be used: model choice's refusal as a value. The chat
//! layer turns it into a 400 naming the request field at fault; the words are here, next to
//! the rule they explain.

use std::fmt;

/// How many free model ids a refusal lists before saying how many more there are.
const SHOWN: usize = 8;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ModelRefused {
    /// The model list is not loaded yet, so `name` cannot be known to be free.
    Unknown { name: String },
    /// `name` is not a free model; `free` holds a few free ids, `more` counts the others.
    NotFree {
        name: String,
        free: Vec<String>,
        more: usize,
    },
    /// The console disabled `name`.
    Disabled { name: String },
    /// A request field that can add billed features even to free models.
    BilledFeature { field: &'static str },
    /// An entry of a fallback list (`models`, or Anthropic's `fallbacks`) that names no model.
    NotAnId { field: &'static str, index: usize },
    /// An entry of a fallback list that asks for the automatic choice instead of naming a
    /// model.
    NotAModel {
        field: &'static str,
        index: usize,
        name: String,
    },
    /// An entry of a fallback list refused for its own reason.
    Fallback {
        field: &'static str,
        index: usize,
        reason: Box<ModelRefused>,
    },
}

impl ModelRefused {
    /// Refuses `name`, listing some of the free models instead.
    pub(crate) fn not_free<'a>(name: &str, free: impl Iterator<Item = &'a str>) -> ModelRefused {
        let free: Vec<&str> = free.collect();
        ModelRefused::NotFree {
            name: name.to_string(),
            more: free.len().saturating_sub(SHOWN),
            free: free.into_iter().take(SHOWN).map(str::to_string).collect(),
        }
    }

    /// The request field at fault, when one is.
    pub(crate) fn field(&self) -> Option<&'static str> {
        match self {
            ModelRefused::Unknown { .. }
            | ModelRefused::NotFree { .. }
            | ModelRefused::Disabled { .. } => Some("model"),
            ModelRefused::BilledFeature { .. } => None,
            ModelRefused::NotAnId { field, .. }
            | ModelRefused::NotAModel { field, .. }
            | ModelRefused::Fallback { field, .. } => Some(field),
        }
    }
}

impl fmt::Display for ModelRefused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ModelRefused::Unknown { name } => write!(
                f,
                "the model list is not loaded yet, so the proxy cannot tell whether '{name}' is \
                 free; use a model id ending in ':free', or \"auto\" to let the proxy choose"
            ),
            ModelRefused::NotFree { name, free, more } => {
                write!(
                    f,
                    "'{name}' is not a free model. Leave out \"model\" or send \"model\": \
                     \"auto\" to let the proxy choose a free one, or pick one of: {}",
                    free.join(", ")
                )?;
                if *more > 0 {
                    write!(f, " and {more} more")?;
                }
                f.write_str(
                    " (GET /v1/models lists them all). To use paid models, set \
                     ALLOW_PAID_MODELS=true in .env",
                )
            }
            ModelRefused::Disabled { name } => write!(
                f,
                "'{name}' was disabled in the proxy's console (/admin, Models); enable it there, \
                 or leave out \"model\" (or send \"auto\") to let the proxy choose an enabled \
                 free model"
            ),
            // The run of spaces is in the message clients have always had.
            ModelRefused::BilledFeature { field } => write!(
                f,
                "'{field}' can add billed features (web search and the like) even to free{}\
                 models; remove it, or set ALLOW_PAID_MODELS=true in .env to allow it",
                " ".repeat(22)
            ),
            ModelRefused::NotAnId { field, index } => {
                write!(f, "{field}[{index}] must be a model id")
            }
            ModelRefused::NotAModel { field, index, name } => {
                write!(f, "{field}[{index}] must be a model id, not '{name}'")
            }
            ModelRefused::Fallback {
                field,
                index,
                reason,
            } => write!(f, "{field}[{index}]: {reason}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_free_list_is_cut_with_a_count() {
        let ids: Vec<String> = (0..11).map(|i| format!("m{i}:free")).collect();
        let refused = ModelRefused::not_free("x/paid", ids.iter().map(String::as_str));
        let text = refused.to_string();
        assert!(text.contains("m7:free and 3 more (GET"), "{text}");
        assert!(!text.contains("m8:free"), "{text}");
        let short = ModelRefused::not_free("x/paid", ["a:free"].into_iter()).to_string();
        assert!(short.contains("one of: a:free (GET"), "{short}");
        assert_eq!(refused.field(), Some("model"));
    }
}
