//! Health of one loaded adapter version: consecutive traps and deadline
//! overruns take it out of service for a cool-down, so that a broken or
//! hostile adapter can not keep a host busy with calls that are bound to fail.
//!
//! Failures are counted per function, because the host follows a failed
//! `create` with a `destroy` that may well succeed. With one count for all
//! functions, an adapter whose `create` always traps would stay healthy.
//! Typed errors the adapter returns do not count, because they are results.
//! After the cool-down the adapter takes calls again. One more failure of the
//! same function takes it out at once, and one success of that function clears
//! its count. Loading a new version starts a new tracker, which is how a
//! reload resets the health.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::model::AdapterHealth;

/// Consecutive traps or deadline overruns of one function that mark an
/// adapter unhealthy.
pub(crate) const UNHEALTHY_AFTER_FAILURES: u32 = 5;

/// How long an unhealthy adapter rejects calls before it is tried again.
pub(crate) const UNHEALTHY_COOL_DOWN: Duration = Duration::from_secs(30);

/// Reason an unhealthy adapter rejects a call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Unhealthy {
    /// Consecutive failures of the function that tripped the cool-down.
    pub(crate) failures: u32,
    /// The last trap or overrun, as its error message.
    pub(crate) last_failure: String,
    /// Time left until calls are accepted again.
    pub(crate) remaining: Duration,
}

#[derive(Default)]
struct State {
    /// Consecutive failures per WIT function name.
    consecutive_failures: HashMap<&'static str, u32>,
    /// Count of the function that tripped the cool-down.
    tripped_failures: u32,
    last_failure: String,
    unhealthy_until: Option<Instant>,
}

/// Failure count and cool-down of one adapter version.
pub(crate) struct HealthTracker {
    threshold: u32,
    cool_down: Duration,
    state: Mutex<State>,
}

impl Default for HealthTracker {
    fn default() -> Self {
        Self::new(UNHEALTHY_AFTER_FAILURES, UNHEALTHY_COOL_DOWN)
    }
}

impl HealthTracker {
    pub(crate) fn new(threshold: u32, cool_down: Duration) -> Self {
        Self {
            threshold: threshold.max(1),
            cool_down,
            state: Mutex::new(State::default()),
        }
    }

    /// Returns `Err` while the adapter cools down after too many failures.
    pub(crate) fn admit(&self) -> Result<(), Unhealthy> {
        let state = self.lock();
        match state.unhealthy_until {
            Some(until) => {
                let remaining = until.saturating_duration_since(Instant::now());
                if remaining.is_zero() {
                    return Ok(());
                }
                Err(Unhealthy {
                    failures: state.tripped_failures,
                    last_failure: state.last_failure.clone(),
                    remaining,
                })
            }
            None => Ok(()),
        }
    }

    /// Records a trap or deadline overrun of `function`. Returns `true` when
    /// this failure starts a cool-down.
    pub(crate) fn record_failure(&self, function: &'static str, failure: &str) -> bool {
        let mut state = self.lock();
        let count = state.consecutive_failures.entry(function).or_default();
        *count = count.saturating_add(1);
        let count = *count;
        state.last_failure = failure.to_owned();
        if count < self.threshold {
            return false;
        }
        state.tripped_failures = count;
        state.unhealthy_until = Some(Instant::now() + self.cool_down);
        true
    }

    /// Records a call of `function` that finished without trapping, which
    /// clears that function's count.
    pub(crate) fn record_success(&self, function: &'static str) {
        let mut state = self.lock();
        state.consecutive_failures.remove(function);
    }

    /// Returns `Unhealthy` during a cool-down, `Healthy` otherwise.
    pub(crate) fn health(&self) -> AdapterHealth {
        match self.admit() {
            Ok(()) => AdapterHealth::Healthy,
            Err(_) => AdapterHealth::Unhealthy,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // The state is a few plain fields, always consistent between
        // statements, so a panic elsewhere while holding the lock leaves
        // nothing half-written.
        self.state.lock().unwrap_or_else(|err| err.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_below_threshold_keep_admitting() {
        let tracker = HealthTracker::new(3, Duration::from_secs(60));
        assert!(!tracker.record_failure("create", "trap 1"));
        assert!(!tracker.record_failure("create", "trap 2"));
        assert!(tracker.admit().is_ok());
        assert_eq!(tracker.health(), AdapterHealth::Healthy);
    }

    #[test]
    fn threshold_failures_reject_with_last_reason() {
        let tracker = HealthTracker::new(3, Duration::from_secs(60));
        tracker.record_failure("create", "trap 1");
        tracker.record_failure("create", "trap 2");
        assert!(tracker.record_failure("create", "trap 3"));

        let rejected = tracker.admit().unwrap_err();
        assert_eq!(rejected.failures, 3);
        assert_eq!(rejected.last_failure, "trap 3");
        assert!(rejected.remaining > Duration::from_secs(50));
        assert_eq!(tracker.health(), AdapterHealth::Unhealthy);
    }

    #[test]
    fn success_resets_the_count() {
        let tracker = HealthTracker::new(2, Duration::from_secs(60));
        tracker.record_failure("create", "trap 1");
        tracker.record_success("create");
        assert!(!tracker.record_failure("create", "trap 2"));
        assert!(tracker.admit().is_ok());
    }

    #[test]
    fn success_of_another_function_keeps_the_count() {
        let tracker = HealthTracker::new(2, Duration::from_secs(60));
        tracker.record_failure("create", "trap 1");
        tracker.record_success("destroy");
        assert!(tracker.record_failure("create", "trap 2"));
        assert!(tracker.admit().is_err());
    }

    #[test]
    fn failure_after_cool_down_rejects_again_at_once() {
        let tracker = HealthTracker::new(2, Duration::from_millis(20));
        tracker.record_failure("create", "trap 1");
        tracker.record_failure("create", "trap 2");
        assert!(tracker.admit().is_err());

        std::thread::sleep(Duration::from_millis(40));
        assert!(tracker.admit().is_ok());
        assert!(tracker.record_failure("create", "trap 3"));
        assert!(tracker.admit().is_err());
    }
}
