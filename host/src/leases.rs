//! Lease expiry: one schedule ordered by deadline, and one task that sleeps
//! until the earliest deadline and hands each expired environment to the
//! service for collection. Nothing scans all records periodically.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::{Notify, Semaphore};

use crate::environments::EnvironmentService;
use crate::ids::EnvironmentId;

/// Collections that may run at once; a slow adapter destroy must not hold up
/// the others.
const MAX_CONCURRENT_COLLECTIONS: usize = 64;

/// How often destroyed environments past their retention are purged.
const TOMBSTONE_PURGE_INTERVAL: Duration = Duration::from_secs(3600);

#[derive(Default)]
struct Entries {
    by_deadline: BTreeSet<(DateTime<Utc>, EnvironmentId)>,
    deadlines: HashMap<EnvironmentId, DateTime<Utc>>,
}

/// Lease deadlines of live environments, earliest first.
#[derive(Default)]
pub struct LeaseSchedule {
    entries: Mutex<Entries>,
    changed: Notify,
}

impl LeaseSchedule {
    /// Creates an empty schedule.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets or moves the deadline of `id`.
    pub fn set(&self, id: &EnvironmentId, deadline: DateTime<Utc>) {
        let mut entries = self.lock();
        if let Some(previous) = entries.deadlines.insert(id.clone(), deadline) {
            entries.by_deadline.remove(&(previous, id.clone()));
        }
        entries.by_deadline.insert((deadline, id.clone()));
        drop(entries);
        // A stored permit wakes the collector even if it is not waiting yet,
        // so a new earliest deadline is never missed.
        self.changed.notify_one();
    }

    /// Removes `id`, for an environment destroyed before its lease ended.
    pub fn remove(&self, id: &EnvironmentId) {
        let mut entries = self.lock();
        if let Some(previous) = entries.deadlines.remove(id) {
            entries.by_deadline.remove(&(previous, id.clone()));
        }
    }

    /// Returns the deadline of `id`, if scheduled.
    pub fn deadline(&self, id: &EnvironmentId) -> Option<DateTime<Utc>> {
        self.lock().deadlines.get(id).copied()
    }

    /// Number of scheduled leases.
    pub fn len(&self) -> usize {
        self.lock().deadlines.len()
    }

    /// Returns whether no lease is scheduled.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn next_deadline(&self) -> Option<DateTime<Utc>> {
        self.lock()
            .by_deadline
            .first()
            .map(|(deadline, _)| *deadline)
    }

    /// Removes and returns every id whose deadline is at or before `now`.
    fn take_due(&self, now: DateTime<Utc>) -> Vec<EnvironmentId> {
        let mut entries = self.lock();
        let mut due = Vec::new();
        while let Some((deadline, _)) = entries.by_deadline.first() {
            if *deadline > now {
                break;
            }
            let (_, id) = entries.by_deadline.pop_first().expect("checked non-empty");
            entries.deadlines.remove(&id);
            due.push(id);
        }
        due
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Entries> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Collects environments whose lease ended, forever. Each collection runs in
/// its own task, at most [`MAX_CONCURRENT_COLLECTIONS`] at once.
pub async fn run_collector(service: Arc<EnvironmentService>, schedule: Arc<LeaseSchedule>) {
    let permits = Arc::new(Semaphore::new(MAX_CONCURRENT_COLLECTIONS));
    loop {
        let now = Utc::now();
        match schedule.next_deadline() {
            None => schedule.changed.notified().await,
            Some(deadline) if deadline > now => {
                let wait = (deadline - now).to_std().unwrap_or_default();
                tokio::select! {
                    () = tokio::time::sleep(wait) => {}
                    () = schedule.changed.notified() => {}
                }
            }
            Some(_) => {
                for id in schedule.take_due(now) {
                    let Ok(permit) = Arc::clone(&permits).acquire_owned().await else {
                        return;
                    };
                    let service = Arc::clone(&service);
                    tokio::spawn(async move {
                        service.expire(&id).await;
                        drop(permit);
                    });
                }
            }
        }
    }
}

/// Forgets destroyed environments past their retention, once an hour.
pub async fn run_tombstone_purge(service: Arc<EnvironmentService>) {
    let mut interval = tokio::time::interval(TOMBSTONE_PURGE_INTERVAL);
    loop {
        interval.tick().await;
        service.purge_tombstones().await;
    }
}

#[cfg(test)]
mod tests {
    use chrono::Duration as ChronoDuration;

    use super::*;

    fn id(value: &str) -> EnvironmentId {
        EnvironmentId::parse(value).unwrap()
    }

    #[test]
    fn due_entries_come_out_in_deadline_order() {
        let schedule = LeaseSchedule::new();
        let now = Utc::now();
        schedule.set(&id("late"), now + ChronoDuration::seconds(60));
        schedule.set(&id("second"), now - ChronoDuration::seconds(1));
        schedule.set(&id("first"), now - ChronoDuration::seconds(2));

        assert_eq!(schedule.take_due(now), vec![id("first"), id("second")]);
        assert_eq!(schedule.len(), 1);
        assert_eq!(
            schedule.next_deadline(),
            Some(now + ChronoDuration::seconds(60))
        );
    }

    #[test]
    fn moving_a_deadline_replaces_the_old_one() {
        let schedule = LeaseSchedule::new();
        let now = Utc::now();
        schedule.set(&id("env"), now - ChronoDuration::seconds(1));
        schedule.set(&id("env"), now + ChronoDuration::seconds(30));

        assert!(schedule.take_due(now).is_empty());
        assert_eq!(schedule.len(), 1);
        schedule.remove(&id("env"));
        assert!(schedule.is_empty());
    }
}
