//! Health of one loaded adapter version: consecutive traps and deadline
//! overruns take it out of service for a cool-down, so that a broken or
//! hostile adapter can not keep a host busy with calls that are bound to fail.
//!
//! Typed errors the adapter returns do not count, because they are results. After the
//! cool-down the adapter takes calls again; one more failure takes it out at
//! once, one success clears the count. Loading a new version starts a new
//! tracker, which is how a reload resets the health.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::model::AdapterHealth;

/// Consecutive traps or deadline overruns that mark an adapter unhealthy.
pub(crate) const UNHEALTHY_AFTER_FAILURES: u32 = 5;

/// How long an unhealthy adapter rejects calls before it is tried again.
pub(crate) const UNHEALTHY_COOL_DOWN: Duration = Duration::from_secs(30);

/// Reason an unhealthy adapter rejects a call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Unhealthy {
    /// Consecutive failures so far.
    pub(crate) failures: u32,
    /// The last trap or overrun, as its error message.
    pub(crate) last_failure: String,
    /// Time left until calls are accepted again.
    pub(crate) remaining: Duration,
}

#[derive(Default)]
struct State {
    consecutive_failures: u32,
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
                    failures: state.consecutive_failures,
                    last_failure: state.last_failure.clone(),
                    remaining,
                })
            }
            None => Ok(()),
        }
    }

    /// Records a trap or deadline overrun. Returns `true` when this failure
    /// starts a cool-down.
    pub(crate) fn record_failure(&self, failure: &str) -> bool {
        let mut state = self.lock();
        state.consecutive_failures = state.consecutive_failures.saturating_add(1);
        state.last_failure = failure.to_owned();
        if state.consecutive_failures < self.threshold {
            return false;
        }
        state.unhealthy_until = Some(Instant::now() + self.cool_down);
        true
    }

    /// Records a call that finished without trapping; clears the count.
    pub(crate) fn record_success(&self) {
        let mut state = self.lock();
        if state.consecutive_failures > 0 {
            *state = State::default();
        }
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
        assert!(!tracker.record_failure("trap 1"));
        assert!(!tracker.record_failure("trap 2"));
        assert!(tracker.admit().is_ok());
        assert_eq!(tracker.health(), AdapterHealth::Healthy);
    }

    #[test]
    fn threshold_failures_reject_with_last_reason() {
        let tracker = HealthTracker::new(3, Duration::from_secs(60));
        tracker.record_failure("trap 1");
        tracker.record_failure("trap 2");
        assert!(tracker.record_failure("trap 3"));

        let rejected = tracker.admit().unwrap_err();
        assert_eq!(rejected.failures, 3);
        assert_eq!(rejected.last_failure, "trap 3");
        assert!(rejected.remaining > Duration::from_secs(50));
        assert_eq!(tracker.health(), AdapterHealth::Unhealthy);
    }

    #[test]
    fn success_resets_the_count() {
        let tracker = HealthTracker::new(2, Duration::from_secs(60));
        tracker.record_failure("trap 1");
        tracker.record_success();
        assert!(!tracker.record_failure("trap 2"));
        assert!(tracker.admit().is_ok());
    }

    #[test]
    fn failure_after_cool_down_rejects_again_at_once() {
        let tracker = HealthTracker::new(2, Duration::from_millis(20));
        tracker.record_failure("trap 1");
        tracker.record_failure("trap 2");
        assert!(tracker.admit().is_err());

        std::thread::sleep(Duration::from_millis(40));
        assert!(tracker.admit().is_ok());
        assert!(tracker.record_failure("trap 3"));
        assert!(tracker.admit().is_err());
    }
}
