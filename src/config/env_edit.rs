//! Edits of a `.env` text that the console makes: a key appended to `OPENROUTER_API_KEYS`, a
//! key taken out of `OPENROUTER_API_KEY` or `OPENROUTER_API_KEYS`.
//!
//! Only the one line that assigns the variable changes (the last one, which is the one the
//! loader keeps); every other line, comment and blank line stays byte for byte, and so does a
//! comment at the end of the edited line. The result is read back with the loader's own parser
//! and must give the same value for every other variable and the intended value for the edited
//! one; a file this module cannot edit that safely (a value spread over several lines, quoting
//! it does not follow) is refused, never half edited. Pure functions of the text: the caller
//! reads and writes the file.

use super::raw::parse_text;

/// Where the extra keys go.
pub(crate) const KEYS_VAR: &str = "OPENROUTER_API_KEYS";
/// The single-key variable, read before the list.
pub(crate) const KEY_VAR: &str = "OPENROUTER_API_KEY";

/// Why a `.env` text was not edited.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum EnvEditError {
    /// The key to remove is not in the text.
    NotFound,
    /// The text cannot be edited safely; the sentence says why.
    Unsafe(String),
}

/// Checks that `key` can be written into `.env` as it is: the characters of an OpenRouter key
/// (letters, digits, `-`, `_`, `.`), 20 to 256 of them.
pub(crate) fn check_new_key(key: &str) -> Result<(), String> {
    if !(20..=256).contains(&key.len()) {
        return Err(format!(
            "a key has 20 to 256 characters (OpenRouter's look like sk-or-v1- and 64 more); \
             this one has {}",
            key.len()
        ));
    }
    if let Some(bad) = key
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
    {
        return Err(format!(
            "a key holds only letters, digits, '-', '_' and '.'; this one has {:?}",
            bad
        ));
    }
    Ok(())
}

/// `text` with `key` appended to `OPENROUTER_API_KEYS` (a line is added at the end when the
/// variable has none).
pub(crate) fn add_key(text: &str, key: &str) -> Result<String, EnvEditError> {
    let before = entries(text)?;
    let mut list = split_list(value_of(&before, KEYS_VAR));
    list.push(key.to_string());
    let new_value = list.join(",");
    let edited = match last_line_of(text, KEYS_VAR) {
        Some(index) => replace_value(text, index, KEYS_VAR, &new_value),
        None => {
            let mut out = text.to_string();
            if !out.is_empty() && !out.ends_with('\n') {
                out.push('\n');
            }
            out.push_str(&format!("{KEYS_VAR}={new_value}\n"));
            out
        }
    };
    verify(&before, &edited, &[(KEYS_VAR, new_value)])?;
    Ok(edited)
}

/// `text` without `key`, wherever `OPENROUTER_API_KEY` or `OPENROUTER_API_KEYS` hold it.
pub(crate) fn remove_key(text: &str, key: &str) -> Result<String, EnvEditError> {
    let before = entries(text)?;
    let mut edited = text.to_string();
    let mut expected = Vec::new();
    for var in [KEY_VAR, KEYS_VAR] {
        let list = split_list(value_of(&before, var));
        if !list.iter().any(|k| k == key) {
            continue;
        }
        let kept: Vec<String> = list.into_iter().filter(|k| k != key).collect();
        let new_value = kept.join(",");
        let index = last_line_of(&edited, var)
            .ok_or_else(|| EnvEditError::Unsafe(format!("{var} is set by no line of its own")))?;
        edited = replace_value(&edited, index, var, &new_value);
        expected.push((var, new_value));
    }
    if expected.is_empty() {
        return Err(EnvEditError::NotFound);
    }
    verify(&before, &edited, &expected)?;
    Ok(edited)
}

fn entries(text: &str) -> Result<Vec<(String, String)>, EnvEditError> {
    parse_text(text).map_err(|e| EnvEditError::Unsafe(format!("the file does not parse: {e}")))
}

/// The value the loader keeps for `name`: its last assignment.
fn value_of<'a>(entries: &'a [(String, String)], name: &str) -> &'a str {
    entries
        .iter()
        .rev()
        .find(|(k, _)| k == name)
        .map_or("", |(_, v)| v.as_str())
}

fn split_list(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .map(str::to_string)
        .collect()
}

/// The index (among `text.split_inclusive('\n')`) of the last line assigning `name`.
fn last_line_of(text: &str, name: &str) -> Option<usize> {
    text.split_inclusive('\n')
        .enumerate()
        .filter(|(_, line)| assigned_name(line) == Some(name))
        .map(|(i, _)| i)
        .last()
}

/// The variable a line assigns: `NAME=...` or `export NAME=...`, spaces allowed around `=`.
fn assigned_name(line: &str) -> Option<&str> {
    let rest = line.trim_start();
    let rest = rest
        .strip_prefix("export")
        .filter(|r| r.starts_with([' ', '\t']))
        .map_or(rest, str::trim_start);
    let end = rest
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'))
        .unwrap_or(rest.len());
    let (name, after) = rest.split_at(end);
    (!name.is_empty() && after.trim_start().starts_with('=')).then_some(name)
}

/// The line at `index` rewritten as `NAME=value`, keeping its indentation, an `export `, a
/// comment at its end and its line ending.
fn replace_value(text: &str, index: usize, name: &str, value: &str) -> String {
    let mut out = String::with_capacity(text.len() + value.len());
    for (i, line) in text.split_inclusive('\n').enumerate() {
        if i != index {
            out.push_str(line);
            continue;
        }
        let ending = &line[line.trim_end_matches(['\r', '\n']).len()..];
        let body = &line[..line.len() - ending.len()];
        let indent = &body[..body.len() - body.trim_start().len()];
        let export = if body.trim_start().starts_with("export") {
            "export "
        } else {
            ""
        };
        out.push_str(&format!(
            "{indent}{export}{name}={value}{}{ending}",
            trailing_comment(body)
        ));
    }
    out
}

/// The ` # comment` after an assignment's value, with the spaces before it; empty when none.
fn trailing_comment(line: &str) -> &str {
    let Some(eq) = line.find('=') else {
        return "";
    };
    let value = &line[eq + 1..];
    let start = value.len() - value.trim_start().len();
    let mut chars = value[start..].char_indices();
    let after_value = match chars.next() {
        Some((_, quote @ ('"' | '\''))) => {
            let mut escaped = false;
            let close = chars.find(|&(_, c)| {
                let found = c == quote && !escaped;
                escaped = quote == '"' && c == '\\' && !escaped;
                found
            });
            match close {
                Some((at, _)) => start + at + 1,
                None => return "",
            }
        }
        _ => {
            // Unquoted: a comment starts at a `#` after whitespace.
            let bytes = value.as_bytes();
            match (start..bytes.len())
                .find(|&i| bytes[i] == b'#' && i > 0 && bytes[i - 1].is_ascii_whitespace())
            {
                Some(hash) => value[..hash].trim_end().len(),
                None => return "",
            }
        }
    };
    let rest = &value[after_value..];
    if rest.trim_start().starts_with('#') {
        rest
    } else {
        ""
    }
}

/// Reads `edited` back: every variable keeps its value but those in `changed`, which have
/// theirs.
fn verify(
    before: &[(String, String)],
    edited: &str,
    changed: &[(&str, String)],
) -> Result<(), EnvEditError> {
    let after = entries(edited)?;
    let names = before.iter().chain(&after).map(|(k, _)| k.as_str());
    for name in names {
        let expected = changed
            .iter()
            .find(|(var, _)| *var == name)
            .map_or_else(|| value_of(before, name), |(_, v)| v.as_str());
        if value_of(&after, name).trim() != expected.trim() {
            return Err(EnvEditError::Unsafe(format!(
                "the line of {name} could not be rewritten safely (quoting or a value over \
                 several lines); edit the file by hand"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "sk-or-v1-aaaa0000000000000000000000000000";
    const B: &str = "sk-or-v1-bbbb0000000000000000000000000000";
    const C: &str = "sk-or-v1-cccc0000000000000000000000000000";

    #[test]
    fn a_key_is_appended_and_every_other_line_kept() {
        let text = format!(
            "# my keys\nOPENROUTER_API_KEY={A}\n\n# more keys, one account each\n\
             OPENROUTER_API_KEYS={B}   # the second account\nPORT=5001\n"
        );
        let edited = add_key(&text, C).unwrap();
        assert_eq!(
            edited,
            format!(
                "# my keys\nOPENROUTER_API_KEY={A}\n\n# more keys, one account each\n\
                 OPENROUTER_API_KEYS={B},{C}   # the second account\nPORT=5001\n"
            )
        );
        // An empty list, quoted values and `export`, Windows line endings.
        let edited = add_key("export OPENROUTER_API_KEYS=\"\" # none yet\r\nX=1\r\n", A).unwrap();
        assert_eq!(
            edited,
            format!("export OPENROUTER_API_KEYS={A} # none yet\r\nX=1\r\n")
        );
        // No line for the list: one is added at the end.
        assert_eq!(
            add_key("PORT=1", A).unwrap(),
            format!("PORT=1\nOPENROUTER_API_KEYS={A}\n")
        );
        assert_eq!(
            add_key("", A).unwrap(),
            format!("OPENROUTER_API_KEYS={A}\n")
        );
    }

    #[test]
    fn the_last_assignment_is_the_one_edited() {
        let text = format!("OPENROUTER_API_KEYS={A}\nOPENROUTER_API_KEYS={B}\n");
        let edited = add_key(&text, C).unwrap();
        assert_eq!(
            edited,
            format!("OPENROUTER_API_KEYS={A}\nOPENROUTER_API_KEYS={B},{C}\n")
        );
    }

    #[test]
    fn a_key_is_removed_from_either_variable() {
        let text = format!(
            "OPENROUTER_API_KEY={A} # main\n# keep me\nOPENROUTER_API_KEYS=\"{B}, {A} ,{C}\"\n"
        );
        let edited = remove_key(&text, A).unwrap();
        assert_eq!(
            edited,
            format!("OPENROUTER_API_KEY= # main\n# keep me\nOPENROUTER_API_KEYS={B},{C}\n")
        );
        assert_eq!(remove_key(&edited, A), Err(EnvEditError::NotFound));
        let edited = remove_key(&edited, C).unwrap();
        assert!(
            edited.ends_with(&format!("OPENROUTER_API_KEYS={B}\n")),
            "{edited}"
        );
    }

    #[test]
    fn what_cannot_be_edited_safely_is_refused() {
        // A double-quoted value over two lines: the second line looks like an assignment.
        let text = format!("OPENROUTER_API_KEYS=\"{A},\nOPENROUTER_API_KEYS={B}\"\n");
        assert!(matches!(add_key(&text, C), Err(EnvEditError::Unsafe(_))));
        assert!(matches!(
            add_key("NOT VALID LINE\n", C),
            Err(EnvEditError::Unsafe(_))
        ));
    }

    #[test]
    fn only_plain_keys_are_written() {
        assert!(check_new_key(A).is_ok());
        assert!(check_new_key("short").is_err());
        for bad in [
            " space",
            ",comma",
            "\"quote",
            "#hash",
            "new\nline",
            "$dollar",
        ] {
            let key = format!("sk-or-v1-0000000000000000{bad}");
            assert!(check_new_key(&key).is_err(), "{key:?}");
        }
    }

    #[test]
    fn comments_after_quoted_values_are_found() {
        assert_eq!(trailing_comment("K=\"a # b\" # c"), " # c");
        assert_eq!(trailing_comment("K='a' #c"), " #c");
        assert_eq!(trailing_comment("K=a#b"), "");
        assert_eq!(trailing_comment("K=a #b"), " #b");
        assert_eq!(trailing_comment("K=\"a\\\" # x\""), "");
    }
}
