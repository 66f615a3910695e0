//! The OpenRouter keys: which one serves the next call (round robin, least used or random),
//! how much of each key's free daily allowance is used, and which keys are resting.
//!
//! A key rests after OpenRouter's per-minute free limit (until its reset), is out for the day
//! after the per-day limit (until `X-RateLimit-Reset` or 00:00 UTC), is rejected after a 401
//! (until the configuration changes), and is never used while the console has it disabled.
//! Daily use is counted per UTC day and saved in `CACHE_DIR/key_usage.json` by a background
//! thread, so a restart remembers it; the file names keys only by a fingerprint and their
//! masked form, never the key itself.

use std::collections::HashSet;
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use std::thread;
use std::time::{Duration, SystemTime};

use chrono::NaiveDate;
use serde::Serialize;

use crate::autopilot::key_shortage::KeyShortage;
use crate::autopilot::key_state::KeyState;
use crate::autopilot::key_usage_file::{KeyUsageFile, SavedDay};
use crate::config::Strategy;
use crate::upstream::failure::Failure;
use crate::util::clock::{epoch_ms, next_quota_reset, quota_day};
use crate::util::random::Random;
use crate::util::secret::{fingerprint, mask_key};
use crate::util::sync::{lock, wait_timeout};

/// A key chosen for one attempt.
#[derive(Clone)]
pub(crate) struct KeyLease {
    pub(crate) index: usize,
    pub(crate) secret: Arc<str>,
    pub(crate) masked: String,
}

impl std::fmt::Debug for KeyLease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the secret itself.
        write!(f, "KeyLease({}, {})", self.index, self.masked)
    }
}

/// Public only because the integration tests reach it through `AppState::keys` to put a key
/// in a known state; everything but [`KeyPool::record_failure`] is the crate's own.
pub struct KeyPool {
    secrets: Vec<Arc<str>>,
    /// Each key's fingerprint, its id in the console.
    ids: Vec<String>,
    strategy: Strategy,
    default_limit: u32,
    /// Counts and rest periods of every key, and the picking cursor.
    state: Mutex<PoolState>,
    /// Set when the state changed and the file is behind; the saver thread waits on it.
    dirty: Mutex<bool>,
    changed: Condvar,
    file: KeyUsageFile,
    /// The pool that replaced this one on a reload. From then on this pool never writes the
    /// file (one writer per file), and what calls still in flight record here goes there.
    successor: Mutex<Option<Weak<KeyPool>>>,
    /// Serializes writes of the file by this pool (the saver thread, a reload, shutdown).
    saving: Mutex<()>,
}

struct PoolState {
    /// The UTC day the counts belong to.
    day: NaiveDate,
    cursor: usize,
    rng: Random,
    keys: Vec<KeyState>,
}

/// A key's state for `/health`, the console and `check`.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct KeyReport {
    /// The fingerprint; the console's id for the key (not in `/health`).
    #[serde(skip)]
    pub(crate) id: String,
    /// Masked.
    pub(crate) key: String,
    /// Not disabled in the console.
    pub(crate) enabled: bool,
    /// `active`, `cooling_down`, `out_of_quota`, `rejected` (OpenRouter refused it) or
    /// `disabled` (in the console).
    pub(crate) state: &'static str,
    pub(crate) used_today: u32,
    pub(crate) daily_limit: u32,
    /// Free calls left today: 0 once the key is out of quota, whatever the counts say (the
    /// one figure every view shows).
    pub(crate) left: u32,
    pub(crate) limit_from_openrouter: bool,
    /// Epoch milliseconds when a resting or exhausted key comes back.
    pub(crate) until_ms: Option<u64>,
}

impl KeyPool {
    /// A pool for `secrets` (duplicates dropped), restoring today's counts from `cache_dir`,
    /// with a thread that saves them after each change. Keys whose fingerprint is in
    /// `switched_off` are disabled.
    pub(crate) fn start(
        secrets: &[String],
        strategy: Strategy,
        default_limit: u32,
        cache_dir: &Path,
        switched_off: &HashSet<String>,
    ) -> Arc<KeyPool> {
        let mut unique: Vec<Arc<str>> = Vec::new();
        for s in secrets {
            if !unique.iter().any(|u| **u == **s) {
                unique.push(Arc::from(s.as_str()));
            }
        }
        let today = quota_day();
        let file = KeyUsageFile::in_dir(cache_dir);
        let ids: Vec<String> = unique.iter().map(|s| fingerprint(s)).collect();
        let keys = file
            .load(today, &unique)
            .into_iter()
            .zip(&ids)
            .map(|(saved, id)| {
                let state = match saved {
                    Some(day) => KeyState {
                        used: day.used,
                        limit: day.limit,
                        out_until: day.out_until,
                        ..KeyState::default()
                    },
                    None => KeyState {
                        limit: default_limit,
                        ..KeyState::default()
                    },
                };
                KeyState {
                    switched_off: switched_off.contains(id),
                    ..state
                }
            })
            .collect();
        let pool = Arc::new(KeyPool {
            secrets: unique,
            ids,
            strategy,
            default_limit,
            state: Mutex::new(PoolState {
                day: today,
                cursor: 0,
                rng: Random::new(),
                keys,
            }),
            dirty: Mutex::new(false),
            changed: Condvar::new(),
            successor: Mutex::new(None),
            saving: Mutex::new(()),
            file,
        });
        if !pool.secrets.is_empty() {
            let saver = Arc::downgrade(&pool);
            let _ = thread::Builder::new()
                .name("key-usage-saver".into())
                .spawn(move || save_while_alive(&saver));
        }
        pool
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.secrets.is_empty()
    }

    pub(crate) fn strategy(&self) -> Strategy {
        self.strategy
    }

    /// The keys the proxy may use for its own calls (`GET /key`, the model list): those not
    /// disabled in the console, with their index.
    pub(crate) fn usable_secrets(&self) -> Vec<(usize, Arc<str>)> {
        let state = lock(&self.state);
        self.secrets
            .iter()
            .enumerate()
            .filter(|(i, _)| !state.keys[*i].switched_off)
            .map(|(i, s)| (i, Arc::clone(s)))
            .collect()
    }

    /// Disables the keys whose fingerprint is in `ids` and enables the others (the console's
    /// choice, applied at once).
    pub(crate) fn set_switched_off(&self, ids: &HashSet<String>) {
        let mut state = lock(&self.state);
        for (key, id) in state.keys.iter_mut().zip(&self.ids) {
            key.switched_off = ids.contains(id);
        }
    }

    fn state(&self) -> MutexGuard<'_, PoolState> {
        let mut state = lock(&self.state);
        let today = quota_day();
        if state.day != today {
            state.day = today;
            for k in &mut state.keys {
                k.used = 0;
            }
        }
        state
    }

    fn mark_dirty(&self) {
        *lock(&self.dirty) = true;
        self.changed.notify_one();
    }

    /// Whether some key could serve now; the error says why not and when that changes.
    pub(crate) fn check_available(&self, free_model: bool) -> Result<(), KeyShortage> {
        if self.secrets.is_empty() {
            return Err(KeyShortage::NoKeys);
        }
        let now = SystemTime::now();
        let state = self.state();
        if state.keys.iter().any(|k| k.available(now, free_model)) {
            Ok(())
        } else {
            Err(self.none_available(&state, &[], now))
        }
    }

    /// Hands this pool's role to `successor` (a reload): this pool stops writing the file,
    /// and what it is told from now on is passed on.
    ///
    /// The successor takes over what this pool counted (the higher count of each key both
    /// have), so a call counted here while the successor was being built is not lost. The
    /// state is locked while the role changes hands: every change is either made here before
    /// the hand-over, and handed over, or forwarded after it.
    pub(crate) fn retire(&self, successor: &Arc<KeyPool>) {
        let _saving = lock(&self.saving);
        let state = self.state();
        *lock(&self.successor) = Some(Arc::downgrade(successor));
        successor.absorb(&self.secrets, &state);
    }

    /// Takes over the counts a retiring pool kept for the keys this pool has too.
    fn absorb(&self, secrets: &[Arc<str>], before: &PoolState) {
        let mut state = self.state();
        if state.day != before.day {
            return;
        }
        for (secret, old) in secrets.iter().zip(&before.keys) {
            let Some(i) = self.secrets.iter().position(|s| s == secret) else {
                continue;
            };
            let key = &mut state.keys[i];
            key.used = key.used.max(old.used);
            key.out_until = key.out_until.max(old.out_until);
            if old.limit_from_api && !key.limit_from_api {
                key.limit = old.limit;
                key.limit_from_api = true;
            }
        }
        drop(state);
        self.mark_dirty();
    }

    /// This pool's state, to change key `index` in; or, once the pool is retired, where the
    /// change goes instead: the successor and its index for the same key (`None` when the
    /// successor does not have it). The state is locked before the successor is looked at,
    /// in the order `retire` takes them.
    fn state_or_successor(
        &self,
        index: usize,
    ) -> Result<MutexGuard<'_, PoolState>, Option<(Arc<KeyPool>, usize)>> {
        let state = self.state();
        match self.forward(index) {
            None => Ok(state),
            Some((next, there)) => Err(there.map(|i| (next, i))),
        }
    }

    /// The successor pool and its index for this pool's key `index`, once retired.
    fn forward(&self, index: usize) -> Option<(Arc<KeyPool>, Option<usize>)> {
        let next = lock(&self.successor).as_ref()?.upgrade()?;
        let secret = self.secrets.get(index)?;
        let there = next.secrets.iter().position(|s| s == secret);
        Some((next, there))
    }

    /// Counts one free-model call that reached OpenRouter against the key's daily allowance.
    pub(crate) fn record_use(&self, index: usize) {
        let mut state = match self.state_or_successor(index) {
            Ok(state) => state,
            Err(successor) => {
                if let Some((next, i)) = successor {
                    next.record_use(i);
                }
                return;
            }
        };
        if let Some(key) = state.keys.get_mut(index) {
            key.used += 1;
        }
        drop(state);
        self.mark_dirty();
    }

    /// Picks a key for one attempt, skipping `exclude`. For a free model the key must also be
    /// within its daily allowance and not resting. Use is counted by [`KeyPool::record_use`],
    /// once the attempt has reached OpenRouter.
    pub(crate) fn choose(
        &self,
        exclude: &[usize],
        free_model: bool,
    ) -> Result<KeyLease, KeyShortage> {
        if self.secrets.is_empty() {
            return Err(KeyShortage::NoKeys);
        }
        let now = SystemTime::now();
        let mut state = self.state();
        let usable: Vec<usize> = (0..state.keys.len())
            .filter(|i| !exclude.contains(i))
            .filter(|&i| state.keys[i].available(now, free_model))
            .collect();
        let Some(&first) = usable.first() else {
            return Err(self.none_available(&state, exclude, now));
        };
        let index = match self.strategy {
            Strategy::RoundRobin => {
                let n = state.keys.len();
                let cursor = state.cursor;
                (0..n)
                    .map(|step| (cursor + step) % n)
                    .find(|i| usable.contains(i))
                    .unwrap_or(first)
            }
            Strategy::LeastUsed => usable
                .iter()
                .copied()
                .min_by_key(|&i| (state.keys[i].used, i))
                .unwrap_or(first),
            Strategy::Random => usable[state.rng.below(usable.len())],
        };
        state.cursor = index + 1;
        drop(state);
        Ok(KeyLease {
            index,
            secret: Arc::clone(&self.secrets[index]),
            masked: mask_key(&self.secrets[index]),
        })
    }

    /// Why no key can serve now, and when that changes.
    fn none_available(&self, state: &PoolState, exclude: &[usize], now: SystemTime) -> KeyShortage {
        let candidates: Vec<&KeyState> = state
            .keys
            .iter()
            .enumerate()
            .filter(|(i, _)| !exclude.contains(i))
            .map(|(_, k)| k)
            .collect();
        if candidates.iter().all(|k| k.rejected || k.switched_off) {
            return if candidates.iter().any(|k| k.switched_off) {
                KeyShortage::AllSwitchedOff
            } else {
                KeyShortage::AllRejected
            };
        }
        let back_at = candidates
            .iter()
            .filter(|k| k.usable())
            .map(|k| k.back_at(now))
            .min()
            .unwrap_or(now);
        let wait = back_at.duration_since(now).unwrap_or_default();
        let all_daily = candidates
            .iter()
            .filter(|k| k.usable())
            .all(|k| k.out_until.is_some_and(|t| t > now) || k.used >= k.limit);
        if all_daily {
            // The allowance the keys really have: OpenRouter's figure when `GET /key` gave
            // one, else FREE_DAILY_LIMIT.
            let usable = candidates.iter().filter(|k| k.usable());
            let limit = usable
                .clone()
                .map(|k| k.limit)
                .max()
                .unwrap_or(self.default_limit);
            let from_openrouter = usable.clone().all(|k| k.limit_from_api);
            KeyShortage::DailyAllowance {
                limit,
                from_openrouter,
                wait,
            }
        } else {
            KeyShortage::PerMinute { wait }
        }
    }

    /// Applies what a failed attempt says about its key.
    pub fn record_failure(&self, index: usize, failure: &Failure) {
        let mut state = match self.state_or_successor(index) {
            Ok(state) => state,
            Err(successor) => {
                if let Some((next, i)) = successor {
                    next.record_failure(i, failure);
                }
                return;
            }
        };
        let now = SystemTime::now();
        let Some(key) = state.keys.get_mut(index) else {
            return;
        };
        match failure {
            Failure::KeyPerMinute { reset } => {
                let at = reset.filter(|t| *t > now);
                key.resting_until = Some(at.unwrap_or(now + Duration::from_secs(60)));
            }
            Failure::KeyPerDay { reset } => {
                let at = reset.filter(|t| *t > now);
                key.out_until = Some(at.unwrap_or_else(next_quota_reset));
            }
            Failure::KeyRejected => key.rejected = true,
            _ => return,
        }
        drop(state);
        self.mark_dirty();
    }

    /// Takes the allowance and use that `GET /key` reported for this key: OpenRouter's count is
    /// the truth, whatever the proxy counted.
    pub(crate) fn apply_key_info(&self, index: usize, limit: Option<u32>, used: Option<u32>) {
        let mut state = self.state();
        let Some(key) = state.keys.get_mut(index) else {
            return;
        };
        if let Some(limit) = limit.filter(|l| *l > 0) {
            key.limit = limit;
            key.limit_from_api = true;
        }
        if let Some(used) = used {
            key.used = used;
        }
        drop(state);
        self.mark_dirty();
    }

    /// Every key's state, masked.
    pub(crate) fn report(&self) -> Vec<KeyReport> {
        let now = SystemTime::now();
        let state = self.state();
        state
            .keys
            .iter()
            .enumerate()
            .map(|(i, k)| {
                let (name, until) = k.condition(now);
                KeyReport {
                    id: self.ids[i].clone(),
                    key: mask_key(&self.secrets[i]),
                    enabled: !k.switched_off,
                    state: name,
                    used_today: k.used,
                    daily_limit: k.limit,
                    left: k.left(now),
                    limit_from_openrouter: k.limit_from_api,
                    until_ms: until.map(epoch_ms),
                }
            })
            .collect()
    }

    /// Waits up to a second for a change; saves if there was one, then rests a second, so a
    /// busy proxy writes the file once a second, not once a call.
    fn save_if_changed(&self) {
        let mut dirty = lock(&self.dirty);
        if !*dirty {
            dirty = wait_timeout(&self.changed, dirty, Duration::from_secs(1));
        }
        let was_dirty = std::mem::replace(&mut *dirty, false);
        drop(dirty);
        if was_dirty {
            self.save();
            thread::sleep(Duration::from_secs(1));
        }
    }

    /// Writes today's counts now (a retired pool writes nothing: its successor owns the file).
    pub(crate) fn save(&self) {
        let _saving = lock(&self.saving);
        if lock(&self.successor).is_some() {
            return;
        }
        let (day, keys) = {
            let state = self.state();
            let keys: Vec<SavedDay> = state
                .keys
                .iter()
                .map(|k| SavedDay {
                    used: k.used,
                    limit: k.limit,
                    out_until: k.out_until,
                })
                .collect();
            (state.day, keys)
        };
        let secrets = self.secrets.iter().map(|s| &**s);
        self.file.save(day, secrets.zip(keys));
    }
}

/// Saves a pool's counts after each change, until the pool is gone or retired by a reload.
fn save_while_alive(pool: &Weak<KeyPool>) {
    while let Some(pool) = pool.upgrade() {
        if lock(&pool.successor).is_some() {
            return;
        }
        pool.save_if_changed();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A folder no other test uses.
    fn scratch() -> std::path::PathBuf {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let nanos = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        std::env::temp_dir().join(format!("orp-keys-{}-{nanos}-{n}", std::process::id()))
    }

    fn pool(n: usize, strategy: Strategy) -> Arc<KeyPool> {
        let keys: Vec<String> = (0..n)
            .map(|i| format!("sk-or-v1-key{i}-0000000000000000000000"))
            .collect();
        KeyPool::start(&keys, strategy, 50, &scratch(), &HashSet::new())
    }

    /// Picks `n` keys, each used once.
    fn picks(pool: &KeyPool, n: usize) -> Vec<usize> {
        (0..n)
            .map(|_| {
                let index = pool.choose(&[], true).unwrap().index;
                pool.record_use(index);
                index
            })
            .collect()
    }

    #[test]
    fn round_robin_cycles_and_skips_resting_keys() {
        let p = pool(3, Strategy::RoundRobin);
        assert_eq!(picks(&p, 4), vec![0, 1, 2, 0]);
        p.record_failure(2, &Failure::KeyPerMinute { reset: None });
        assert_eq!(picks(&p, 3), vec![1, 0, 1]);
        // A paid model does not care about free limits.
        assert_eq!(p.choose(&[0, 1], false).unwrap().index, 2);
    }

    #[test]
    fn a_key_disabled_in_the_console_is_never_chosen() {
        let p = pool(3, Strategy::RoundRobin);
        let off = HashSet::from([p.ids[1].clone()]);
        p.set_switched_off(&off);
        assert_eq!(picks(&p, 4), vec![0, 2, 0, 2]);
        assert!(
            p.choose(&[0, 2], false).is_err(),
            "not even for a paid model"
        );
        assert_eq!(p.usable_secrets().len(), 2);
        let report = p.report();
        assert_eq!((report[1].state, report[1].enabled), ("disabled", false));
        assert_eq!(report[1].id, fingerprint(&p.secrets[1]));
        // All off: the refusal says so, and where to turn one back on.
        p.set_switched_off(&p.ids.iter().cloned().collect());
        assert_eq!(
            p.check_available(true).unwrap_err(),
            KeyShortage::AllSwitchedOff
        );
        p.set_switched_off(&HashSet::new());
        assert!(p.check_available(true).is_ok());
        // A pool built with the choice has it from the start.
        let keys = vec!["sk-or-v1-started-off-00000000000000000000".to_string()];
        let off = HashSet::from([fingerprint(&keys[0])]);
        let q = KeyPool::start(&keys, Strategy::RoundRobin, 50, &scratch(), &off);
        assert!(q.choose(&[], true).is_err());
    }

    /// Issue 14: a key showed "out of quota" next to "Free left 967".
    #[test]
    fn a_key_out_of_quota_has_nothing_left() {
        let p = pool(1, Strategy::RoundRobin);
        p.apply_key_info(0, Some(1000), Some(33));
        assert_eq!(p.report()[0].left, 967);
        p.record_failure(0, &Failure::KeyPerDay { reset: None });
        let report = p.report();
        assert_eq!((report[0].state, report[0].left), ("out_of_quota", 0));
        assert!(report[0].until_ms.is_some());
    }

    #[test]
    fn least_used_evens_out() {
        let p = pool(3, Strategy::LeastUsed);
        p.apply_key_info(0, None, Some(5));
        p.apply_key_info(1, None, Some(2));
        assert_eq!(picks(&p, 3), vec![2, 2, 1]);
    }

    #[test]
    fn random_uses_every_key() {
        let p = pool(3, Strategy::Random);
        let got = picks(&p, 60);
        for k in 0..3 {
            assert!(got.iter().filter(|&&i| i == k).count() >= 5, "{got:?}");
        }
    }

    #[test]
    fn a_rejected_key_is_never_used_again() {
        let p = pool(2, Strategy::RoundRobin);
        p.record_failure(0, &Failure::KeyRejected);
        assert_eq!(picks(&p, 4), vec![1, 1, 1, 1]);
        assert!(p.choose(&[], false).is_ok_and(|k| k.index == 1));
        assert_eq!(p.choose(&[1], true).unwrap_err(), KeyShortage::AllRejected);
    }

    #[test]
    fn the_daily_allowance_and_its_reset() {
        let p = pool(1, Strategy::RoundRobin);
        p.apply_key_info(0, Some(2), Some(0));
        picks(&p, 2);
        let e = p.choose(&[], true).unwrap_err();
        assert!(
            matches!(
                e,
                KeyShortage::DailyAllowance {
                    limit: 2,
                    from_openrouter: true,
                    ..
                }
            ),
            "{e:?}"
        );
        assert!(e.to_string().contains("allowance"), "{e}");
        // An explicit reset in the past means the key is back.
        let p = pool(1, Strategy::RoundRobin);
        p.record_failure(
            0,
            &Failure::KeyPerDay {
                reset: Some(SystemTime::now() + Duration::from_millis(300)),
            },
        );
        assert!(p.choose(&[], true).is_err());
    }

    #[test]
    fn usage_survives_a_restart_without_the_key_in_the_file() {
        let dir = scratch();
        let keys = vec!["sk-or-v1-persisted-000000000000000000000".to_string()];
        let p = KeyPool::start(&keys, Strategy::RoundRobin, 50, &dir, &HashSet::new());
        picks(&p, 3);
        p.save();
        let text = std::fs::read_to_string(dir.join("key_usage.json")).unwrap();
        assert!(!text.contains(&keys[0]), "{text}");
        let again = KeyPool::start(&keys, Strategy::RoundRobin, 50, &dir, &HashSet::new());
        assert_eq!(again.report()[0].used_today, 3);
    }

    /// Issue 12: after a reload, the old pool's saver could overwrite the new pool's counts
    /// with stale ones, and calls still in flight counted on the old pool.
    #[test]
    fn a_retired_pool_never_writes_and_passes_on_what_it_is_told() {
        let dir = scratch();
        let keys = vec![
            "sk-or-v1-reloaded-a-00000000000000000000".to_string(),
            "sk-or-v1-reloaded-b-00000000000000000000".to_string(),
        ];
        let old = KeyPool::start(&keys, Strategy::RoundRobin, 50, &dir, &HashSet::new());
        old.record_use(0);
        old.save();
        // The reload: the new pool has the keys in another order.
        let swapped = vec![keys[1].clone(), keys[0].clone()];
        let new = KeyPool::start(&swapped, Strategy::RoundRobin, 50, &dir, &HashSet::new());
        assert_eq!(new.report()[1].used_today, 1, "read from the file");
        // A call counted by the old pool after the new one read the file is not lost.
        old.record_use(0);
        old.retire(&new);
        assert_eq!(new.report()[1].used_today, 2, "handed over");
        // A call that was in flight on the old pool finishes now.
        old.record_use(0);
        old.record_failure(1, &Failure::KeyRejected);
        assert_eq!(new.report()[1].used_today, 3);
        assert_eq!(new.report()[0].state, "rejected");
        new.save();
        old.save();
        let again = KeyPool::start(&keys, Strategy::RoundRobin, 50, &dir, &HashSet::new());
        assert_eq!(
            again.report()[0].used_today,
            3,
            "the old pool did not overwrite"
        );
    }
}
