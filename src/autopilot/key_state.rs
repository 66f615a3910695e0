//! One key's state in the pool: its use today, its allowance, when it rests, and whether
//! OpenRouter refused it or the console disabled it; and what that makes of it (can it serve,
//! when is it back, what state to show, what is left).

use std::time::SystemTime;

use crate::util::clock::next_quota_reset;

#[derive(Clone, Debug, Default)]
pub(super) struct KeyState {
    pub(super) used: u32,
    pub(super) limit: u32,
    pub(super) limit_from_api: bool,
    pub(super) resting_until: Option<SystemTime>,
    pub(super) out_until: Option<SystemTime>,
    /// OpenRouter refused the key (401).
    pub(super) rejected: bool,
    /// Disabled in the console.
    pub(super) switched_off: bool,
}

impl KeyState {
    /// Neither refused by OpenRouter nor disabled in the console.
    pub(super) fn usable(&self) -> bool {
        !self.rejected && !self.switched_off
    }

    pub(super) fn available(&self, now: SystemTime, free_model: bool) -> bool {
        if !self.usable() {
            return false;
        }
        !free_model
            || (self.resting_until.is_none_or(|t| t <= now)
                && self.out_until.is_none_or(|t| t <= now)
                && self.used < self.limit)
    }

    /// When this key can serve a free model again.
    pub(super) fn back_at(&self, now: SystemTime) -> SystemTime {
        let mut at = now;
        if let Some(t) = self.resting_until {
            at = at.max(t);
        }
        if let Some(t) = self.out_until {
            at = at.max(t);
        }
        if self.used >= self.limit {
            at = at.max(next_quota_reset());
        }
        at
    }

    /// The state every view shows (`disabled`, `rejected`, `out_of_quota`, `cooling_down` or
    /// `active`, first that applies) and when it ends, if it ends by itself.
    pub(super) fn condition(&self, now: SystemTime) -> (&'static str, Option<SystemTime>) {
        if self.switched_off {
            ("disabled", None)
        } else if self.rejected {
            ("rejected", None)
        } else if self.out_until.is_some_and(|t| t > now) {
            ("out_of_quota", self.out_until)
        } else if self.used >= self.limit {
            ("out_of_quota", Some(next_quota_reset()))
        } else if self.resting_until.is_some_and(|t| t > now) {
            ("cooling_down", self.resting_until)
        } else {
            ("active", None)
        }
    }

    /// Free calls left today: none once out of quota, whatever the counts say, so that "left"
    /// and the state always agree.
    pub(super) fn left(&self, now: SystemTime) -> u32 {
        match self.condition(now).0 {
            "out_of_quota" => 0,
            _ => self.limit.saturating_sub(self.used),
        }
    }
}
