//! Schedules → queued runs. Each enabled schedule's next fire time is computed in its time zone
//! ([`CronSchedule::next_after`]); the loop sleeps until the earliest one on the [`Clock`] it is
//! given, then enqueues the run for exactly that instant. The database's unique key on
//! (schedule, fire time) makes every process that fires enqueue it once. Schedules are re-read
//! every `reload_every`, so a change made through the API takes effect without a restart.
//!
//! Occurrences that pass while no scheduler runs are not made up. When a process wakes late past
//! several occurrences of a schedule (it was suspended, or the clock was stepped), it enqueues the
//! latest of them once.

use crate::clock::Clock;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use techbalance_store::entities::schedule;
use techbalance_store::schedules::CronSchedule;
use techbalance_store::{Store, Timestamp};
use tokio::sync::{watch, Notify};

/// One enabled schedule as the loop follows it.
struct Entry {
    schedule: schedule::Model,
    cron: CronSchedule,
    next: Option<Timestamp>,
}

impl Entry {
    /// The occurrence to enqueue at `now`, if one has come: the latest that has (with how many
    /// earlier ones it stands for), after which the entry waits for the next.
    fn due(&mut self, now: Timestamp) -> Option<(Timestamp, u32)> {
        let mut fire = self.next.filter(|next| *next <= now)?;
        let mut passed = 0;
        while let Some(later) = self.cron.next_after(fire).filter(|later| *later <= now) {
            fire = later;
            passed += 1;
            if passed >= 1000 {
                break;
            }
        }
        self.next = self.cron.next_after(now);
        Some((fire, passed))
    }
}

/// Runs the schedules until `stop` turns true, re-reading them every `reload_every`.
pub async fn run(
    store: Store,
    clock: Arc<dyn Clock>,
    reload_every: Duration,
    wake: Arc<Notify>,
    mut stop: watch::Receiver<bool>,
) {
    let mut entries: HashMap<i64, Entry> = HashMap::new();
    let mut reload_at = tokio::time::Instant::now();
    while !*stop.borrow() {
        if tokio::time::Instant::now() >= reload_at {
            match store.schedules().await {
                Ok(schedules) => sync(&mut entries, schedules, clock.now()),
                Err(e) => tracing::warn!(error = %e, "could not read schedules"),
            }
            reload_at = tokio::time::Instant::now() + reload_every;
        }
        let now = clock.now();
        for entry in entries.values_mut() {
            if let Some((fire_time, passed)) = entry.due(now) {
                if passed > 0 {
                    tracing::warn!(schedule = entry.schedule.id, passed, %fire_time, "woke late: earlier occurrences folded into this one");
                }
                enqueue(&store, &entry.schedule, fire_time, &wake).await;
            }
        }
        let next = entries.values().filter_map(|e| e.next).min();
        let next_fire = async {
            match next {
                Some(at) => clock.sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = next_fire => {}
            () = tokio::time::sleep_until(reload_at) => {}
            _ = stop.changed() => {}
        }
    }
}

async fn enqueue(store: &Store, schedule: &schedule::Model, fire_time: Timestamp, wake: &Notify) {
    let id = schedule.id;
    match store
        .enqueue_scheduled(id, &schedule.source, fire_time)
        .await
    {
        Ok(Some(run)) => {
            tracing::info!(schedule = id, run = run.id, %fire_time, "scheduled run queued");
            wake.notify_one();
        }
        Ok(None) => tracing::debug!(schedule = id, %fire_time, "already queued by another process"),
        Err(e) => {
            tracing::warn!(schedule = id, %fire_time, error = %e, "could not queue the scheduled run")
        }
    }
}

/// Makes the followed entries match the enabled schedules; a new or changed schedule waits for
/// its first fire time after `now`.
fn sync(entries: &mut HashMap<i64, Entry>, schedules: Vec<schedule::Model>, now: Timestamp) {
    let wanted: HashMap<i64, schedule::Model> = schedules
        .into_iter()
        .filter(|s| s.enabled)
        .map(|s| (s.id, s))
        .collect();
    entries.retain(|id, entry| {
        let keep = wanted
            .get(id)
            .is_some_and(|new| same_timing(&entry.schedule, new));
        if !keep {
            tracing::info!(schedule = id, "schedule removed or changed");
        }
        keep
    });
    for (id, schedule) in wanted {
        if entries.contains_key(&id) {
            continue;
        }
        match CronSchedule::parse(&schedule.cron, &schedule.timezone) {
            Ok(cron) => {
                let next = cron.next_after(now);
                tracing::info!(schedule = id, source = %schedule.source, cron = %schedule.cron, timezone = %schedule.timezone, next = ?next, "schedule active");
                entries.insert(
                    id,
                    Entry {
                        schedule,
                        cron,
                        next,
                    },
                );
            }
            Err(problem) => tracing::warn!(schedule = id, %problem, "schedule skipped"),
        }
    }
}

fn same_timing(a: &schedule::Model, b: &schedule::Model) -> bool {
    (a.source.as_str(), a.cron.as_str(), a.timezone.as_str())
        == (b.source.as_str(), b.cron.as_str(), b.timezone.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Timestamp {
        chrono::DateTime::parse_from_rfc3339(text)
            .expect("RFC 3339 instant")
            .to_utc()
    }

    #[test]
    fn a_late_wake_queues_the_latest_occurrence_once_then_waits_for_the_next() {
        let cron = CronSchedule::parse("0 30 2 * * *", "America/New_York").expect("cron");
        let mut entry = Entry {
            schedule: schedule::Model {
                id: 1,
                source: "baseline".into(),
                cron: "0 30 2 * * *".into(),
                timezone: "America/New_York".into(),
                enabled: true,
                created_by: "test".into(),
                created_at: at("2027-03-01T00:00:00Z"),
                updated_at: at("2027-03-01T00:00:00Z"),
                last_fired_at: None,
            },
            next: cron.next_after(at("2027-03-12T12:00:00Z")),
            cron,
        };
        assert_eq!(entry.due(at("2027-03-13T07:29:59Z")), None, "not yet");
        // Asleep from before 2027-03-13's occurrence until after 2027-03-15's.
        assert_eq!(
            entry.due(at("2027-03-15T12:00:00Z")),
            Some((at("2027-03-15T06:30:00Z"), 2))
        );
        assert_eq!(entry.next, Some(at("2027-03-16T06:30:00Z")));
        assert_eq!(entry.due(at("2027-03-15T12:00:01Z")), None, "once");
    }
}
