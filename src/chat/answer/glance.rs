//! A quick look at a whole chat answer: the fields the proxy reads (model, usage, whether each
//! message has text), borrowed from the bytes instead of a full `serde_json::Value` tree.
//! Measured on the benchmark's answer, the tree cost about 20,000 instructions per request,
//! most of it allocation; this look costs a fraction. It declines (`None`) whenever the answer
//! is anything but the plain case (an `error` field, a field of an unexpected type, a message
//! that needs its reasoning copied), and the caller then takes the full path, so both paths
//! agree on every answer.

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// What a plain answer tells the proxy.
pub(super) struct Glance {
    pub(super) model: Option<String>,
    pub(super) usage: (u64, u64),
}

/// The plain case read in one pass, or `None` when the full path must decide.
pub(super) fn glance(bytes: &[u8]) -> Option<Glance> {
    let answer: Answer = serde_json::from_slice(bytes).ok()?;
    if answer.error.0 {
        return None;
    }
    let needs_fix = answer.choices.iter().any(|c| {
        c.message
            .as_ref()
            .is_some_and(|m| m.content.0 && m.reasoning.as_ref().is_some_and(|r| !r.0))
    });
    if needs_fix {
        return None;
    }
    let usage = answer.usage.unwrap_or_default();
    Some(Glance {
        model: answer.model.map(Cow::into_owned),
        usage: (
            usage.prompt_tokens.unwrap_or(0),
            usage.completion_tokens.unwrap_or(0),
        ),
    })
}

#[derive(Deserialize)]
struct Answer<'a> {
    #[serde(borrow)]
    model: Option<Cow<'a, str>>,
    usage: Option<Usage>,
    choices: Vec<Choice>,
    #[serde(default)]
    error: Present,
}

#[derive(Deserialize, Default)]
struct Usage {
    prompt_tokens: Option<u64>,
    completion_tokens: Option<u64>,
}

#[derive(Deserialize)]
struct Choice {
    message: Option<Message>,
}

#[derive(Deserialize)]
struct Message {
    /// Absent counts as blank, as `null` does.
    #[serde(default = "blank")]
    content: Blank,
    /// `null` reads as `None`, which the full path treats as no reasoning too.
    reasoning: Option<Blank>,
}

fn blank() -> Blank {
    Blank(true)
}

/// Whether the field was there at all, whatever it held.
#[derive(Default)]
struct Present(bool);

impl<'de> Deserialize<'de> for Present {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Present, D::Error> {
        IgnoredAny::deserialize(d).map(|_| Present(true))
    }
}

/// Whether a value holds no text: `null` or a string of white space. Anything else (text,
/// a list of parts, a number) is not blank. Reads strings without copying them.
struct Blank(bool);

impl<'de> Deserialize<'de> for Blank {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Blank, D::Error> {
        d.deserialize_any(BlankVisitor)
    }
}

struct BlankVisitor;

impl<'de> Visitor<'de> for BlankVisitor {
    type Value = Blank;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_str<E: de::Error>(self, s: &str) -> Result<Blank, E> {
        Ok(Blank(s.trim().is_empty()))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Blank, E> {
        Ok(Blank(true))
    }
    fn visit_none<E: de::Error>(self) -> Result<Blank, E> {
        Ok(Blank(true))
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Blank, E> {
        Ok(Blank(false))
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Blank, E> {
        Ok(Blank(false))
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Blank, E> {
        Ok(Blank(false))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Blank, E> {
        Ok(Blank(false))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Blank, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Blank(false))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Blank, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Blank(false))
    }
}
