//! Schedules across daylight-saving changes, end to end: the scheduler loop on a clock the test
//! steps, enqueuing into the real store. Two schedulers (two processes' worth, each with its own
//! connection pool) fire every occurrence; each becomes exactly one run.

use crate::both_backends;
use crate::support::{Backend, TestApp};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use std::sync::Arc;
use std::time::Duration;
use techbalance_store::entities::refresh_run;
use techbalance_store::runs::{RunStatus, RunTrigger};
use techbalance_store::schedules::NewSchedule;
use techbalance_store::{Store, Timestamp};
use techbalance_worker::clock::ManualClock;
use techbalance_worker::scheduler;
use tokio::sync::{watch, Notify};

fn at(text: &str) -> Timestamp {
    chrono::DateTime::parse_from_rfc3339(text)
        .expect("RFC 3339 instant")
        .to_utc()
}

/// A scheduler task on its own clock; stopped when dropped.
struct RunningScheduler {
    clock: ManualClock,
    stop: watch::Sender<bool>,
}

impl RunningScheduler {
    fn start(store: Store, from: Timestamp) -> Self {
        let clock = ManualClock::new(from);
        let (stop, stopped) = watch::channel(false);
        tokio::spawn(scheduler::run(
            store,
            Arc::new(clock.clone()),
            Duration::from_secs(3600),
            Arc::new(Notify::new()),
            stopped,
        ));
        Self { clock, stop }
    }
}

impl Drop for RunningScheduler {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

async fn add(store: &Store, cron: &str, timezone: &str) -> i64 {
    let (schedule, created) = store
        .create_schedule(NewSchedule {
            source: "baseline".into(),
            cron: cron.into(),
            timezone: timezone.into(),
            enabled: true,
            created_by: "test".into(),
        })
        .await
        .expect("schedule");
    assert!(created);
    schedule.id
}

/// Fire times of the runs of `schedule` queued for instants in `(from, to]`, as RFC 3339.
async fn fired(store: &Store, schedule: i64, from: Timestamp, to: Timestamp) -> Vec<String> {
    refresh_run::Entity::find()
        .filter(refresh_run::Column::ScheduleId.eq(schedule))
        .filter(refresh_run::Column::ScheduledFor.gt(from))
        .filter(refresh_run::Column::ScheduledFor.lte(to))
        .order_by_asc(refresh_run::Column::ScheduledFor)
        .all(store.connection())
        .await
        .expect("runs")
        .into_iter()
        .map(|run| {
            assert_eq!(
                (run.trigger, run.status),
                (RunTrigger::Schedule, RunStatus::Queued)
            );
            run.scheduled_for
                .expect("a scheduled run says when it was due")
                .format("%Y-%m-%dT%H:%M:%SZ")
                .to_string()
        })
        .collect()
}

/// A schedule and the three fire times it should get in a window.
type Expected = (i64, [&'static str; 3]);

async fn schedules_fire_at_their_zones_wall_clock_times_through_daylight_saving_changes(
    backend: Backend,
) {
    let app = TestApp::builder(backend).start().await;
    let other_process = techbalance::open_store(&app.config)
        .await
        .expect("a second store");
    let store = &app.store;
    let ny_0230 = add(store, "0 30 2 * * *", "America/New_York").await;
    let ny_0130 = add(store, "0 30 1 * * *", "America/New_York").await;
    let berlin_0230 = add(store, "0 30 2 * * *", "Europe/Berlin").await;
    let london_0130 = add(store, "0 30 1 * * *", "Europe/London").await;
    let sydney_0230 = add(store, "0 30 2 * * *", "Australia/Sydney").await;
    let lord_howe_0215 = add(store, "0 15 2 * * *", "Australia/Lord_Howe").await;
    let lord_howe_0145 = add(store, "0 45 1 * * *", "Australia/Lord_Howe").await;
    let kolkata_0230 = add(store, "0 30 2 * * *", "Asia/Kolkata").await;

    // Each window: three days around a change, stepped ten minutes at a time by two schedulers
    // started at its beginning; then the fire times each schedule got in it.
    let windows: &[(&str, &[Expected])] = &[
        // New York springs forward 2027-03-14 02:00 EST → 03:00 EDT.
        (
            "2027-03-13T00:00:00Z",
            &[
                (
                    ny_0230,
                    [
                        "2027-03-13T07:30:00Z",
                        "2027-03-14T07:00:00Z",
                        "2027-03-15T06:30:00Z",
                    ],
                ),
                (
                    ny_0130,
                    [
                        "2027-03-13T06:30:00Z",
                        "2027-03-14T06:30:00Z",
                        "2027-03-15T05:30:00Z",
                    ],
                ),
            ],
        ),
        // Europe springs forward 2027-03-28 at 01:00Z.
        (
            "2027-03-27T00:00:00Z",
            &[
                (
                    berlin_0230,
                    [
                        "2027-03-27T01:30:00Z",
                        "2027-03-28T01:00:00Z",
                        "2027-03-29T00:30:00Z",
                    ],
                ),
                (
                    london_0130,
                    [
                        "2027-03-27T01:30:00Z",
                        "2027-03-28T01:00:00Z",
                        "2027-03-29T00:30:00Z",
                    ],
                ),
            ],
        ),
        // Sydney (an hour) and Lord Howe (half an hour) fall back 2027-04-04.
        (
            "2027-04-02T00:00:00Z",
            &[
                (
                    sydney_0230,
                    [
                        "2027-04-02T15:30:00Z",
                        "2027-04-03T15:30:00Z",
                        "2027-04-04T16:30:00Z",
                    ],
                ),
                (
                    lord_howe_0145,
                    [
                        "2027-04-02T14:45:00Z",
                        "2027-04-03T14:45:00Z",
                        "2027-04-04T15:15:00Z",
                    ],
                ),
            ],
        ),
        // ... and spring forward 2027-10-03; Kolkata (+05:30) has no change.
        (
            "2027-10-01T00:00:00Z",
            &[
                (
                    sydney_0230,
                    [
                        "2027-10-01T16:30:00Z",
                        "2027-10-02T16:00:00Z",
                        "2027-10-03T15:30:00Z",
                    ],
                ),
                (
                    lord_howe_0215,
                    [
                        "2027-10-01T15:45:00Z",
                        "2027-10-02T15:30:00Z",
                        "2027-10-03T15:15:00Z",
                    ],
                ),
                (
                    kolkata_0230,
                    [
                        "2027-10-01T21:00:00Z",
                        "2027-10-02T21:00:00Z",
                        "2027-10-03T21:00:00Z",
                    ],
                ),
            ],
        ),
        // Europe falls back 2027-10-31 at 01:00Z.
        (
            "2027-10-30T00:00:00Z",
            &[
                (
                    berlin_0230,
                    [
                        "2027-10-30T00:30:00Z",
                        "2027-10-31T00:30:00Z",
                        "2027-11-01T01:30:00Z",
                    ],
                ),
                (
                    london_0130,
                    [
                        "2027-10-30T00:30:00Z",
                        "2027-10-31T00:30:00Z",
                        "2027-11-01T01:30:00Z",
                    ],
                ),
            ],
        ),
        // New York falls back 2027-11-07 02:00 EDT → 01:00 EST.
        (
            "2027-11-06T00:00:00Z",
            &[
                (
                    ny_0230,
                    [
                        "2027-11-06T06:30:00Z",
                        "2027-11-07T07:30:00Z",
                        "2027-11-08T07:30:00Z",
                    ],
                ),
                (
                    ny_0130,
                    [
                        "2027-11-06T05:30:00Z",
                        "2027-11-07T05:30:00Z",
                        "2027-11-08T06:30:00Z",
                    ],
                ),
            ],
        ),
    ];
    for (start, expected) in windows {
        let start = at(start);
        let end = start + chrono::Duration::days(3);
        let first = RunningScheduler::start(store.clone(), start);
        let second = RunningScheduler::start(other_process.clone(), start);
        let mut now = start;
        while now < end {
            now += chrono::Duration::minutes(10);
            for scheduler in [&first, &second] {
                tokio::time::timeout(Duration::from_secs(30), scheduler.clock.advance(now))
                    .await
                    .unwrap_or_else(|_| panic!("the scheduler did not settle at {now}"));
            }
        }
        for (schedule, times) in *expected {
            assert_eq!(
                fired(store, *schedule, start, end).await,
                times.to_vec(),
                "schedule {schedule} in the window from {start}"
            );
        }
    }
}

both_backends!(schedules_fire_at_their_zones_wall_clock_times_through_daylight_saving_changes);
