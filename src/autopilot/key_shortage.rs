//! Why no key can serve a call now, and when that changes: the key pool's refusal as a value.
//! The chat layer decides what the client sees of it (status, code, `Retry-After`); the
//! words are here, next to the pool that knows what they mean.

use std::fmt;
use std::time::Duration;

use crate::util::time_format::human_duration;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum KeyShortage {
    /// No key is configured.
    NoKeys,
    /// OpenRouter refused every key (401) that could have served.
    AllRejected,
    /// Every key that OpenRouter did not refuse is disabled in the console.
    AllSwitchedOff,
    /// Every usable key has used its free daily allowance of `limit` calls (as OpenRouter
    /// reported it, or `FREE_DAILY_LIMIT` when it did not); the first is back after `wait`.
    DailyAllowance {
        limit: u32,
        from_openrouter: bool,
        wait: Duration,
    },
    /// Every usable key is resting after OpenRouter's per-minute limit; the first is back
    /// after `wait`.
    PerMinute { wait: Duration },
}

impl KeyShortage {
    /// How long until a key can serve again, when waiting helps.
    pub(crate) fn wait(&self) -> Option<Duration> {
        match self {
            KeyShortage::NoKeys | KeyShortage::AllRejected | KeyShortage::AllSwitchedOff => None,
            KeyShortage::DailyAllowance { wait, .. } | KeyShortage::PerMinute { wait } => {
                Some(*wait)
            }
        }
    }
}

impl fmt::Display for KeyShortage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyShortage::NoKeys => f.write_str("no OpenRouter key is configured"),
            KeyShortage::AllRejected => f.write_str(
                "OpenRouter refused every configured key (401); check OPENROUTER_API_KEY / \
                 OPENROUTER_API_KEYS in .env",
            ),
            KeyShortage::AllSwitchedOff => f.write_str(
                "every key that could serve is disabled in the proxy's console; enable one at \
                 /admin (Keys)",
            ),
            KeyShortage::DailyAllowance {
                limit,
                from_openrouter,
                wait,
            } => write!(
                f,
                "every key has used today's free-model allowance ({limit} calls a day, {}); it \
                 comes back in {} (at 00:00 UTC or OpenRouter's reset time). Keys of other \
                 OpenRouter accounts in OPENROUTER_API_KEYS would add allowance",
                if *from_openrouter {
                    "as OpenRouter reports for the key"
                } else {
                    "from FREE_DAILY_LIMIT, since OpenRouter has not said"
                },
                human_duration(*wait)
            ),
            KeyShortage::PerMinute { wait } => write!(
                f,
                "every key is resting after OpenRouter's per-minute free limit; try again in {}",
                human_duration(*wait)
            ),
        }
    }
}
