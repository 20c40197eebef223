//! Schedules → queued runs. tokio-cron-scheduler is only the trigger: when a schedule fires, this
//! process enqueues the run for that fire time, and the database's unique key on (schedule, fire
//! time) makes every process that fired enqueue it once. Schedules are re-read periodically, so a
//! change made through the API takes effect without a restart.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use techbalance_store::entities::schedule;
use techbalance_store::schedules::CronSchedule;
use techbalance_store::Store;
use tokio::sync::{watch, Notify};
use tokio_cron_scheduler::{Job, JobScheduler};
use uuid::Uuid;

/// Runs the schedules until `stop` turns true, re-reading them every `reload_every`.
pub async fn run(
    store: Store,
    reload_every: Duration,
    wake: Arc<Notify>,
    mut stop: watch::Receiver<bool>,
) -> Result<(), tokio_cron_scheduler::JobSchedulerError> {
    let mut scheduler = JobScheduler::new().await?;
    scheduler.start().await?;
    let mut jobs: HashMap<i64, (Uuid, schedule::Model)> = HashMap::new();
    while !*stop.borrow() {
        match store.schedules().await {
            Ok(schedules) => sync(&scheduler, &mut jobs, schedules, &store, &wake).await,
            Err(e) => tracing::warn!(error = %e, "could not read schedules"),
        }
        tokio::select! {
            _ = tokio::time::sleep(reload_every) => {}
            _ = stop.changed() => {}
        }
    }
    scheduler.shutdown().await
}

/// Makes the scheduler's jobs match the enabled schedules.
async fn sync(
    scheduler: &JobScheduler,
    jobs: &mut HashMap<i64, (Uuid, schedule::Model)>,
    schedules: Vec<schedule::Model>,
    store: &Store,
    wake: &Arc<Notify>,
) {
    let wanted: HashMap<i64, schedule::Model> = schedules
        .into_iter()
        .filter(|s| s.enabled)
        .map(|s| (s.id, s))
        .collect();
    let stale: Vec<i64> = jobs
        .iter()
        .filter(|(id, (_, old))| wanted.get(id).is_none_or(|new| !same_timing(old, new)))
        .map(|(id, _)| *id)
        .collect();
    for id in stale {
        if let Some((job, _)) = jobs.remove(&id) {
            if let Err(e) = scheduler.remove(&job).await {
                tracing::warn!(schedule = id, error = %e, "could not remove a job");
            }
            tracing::info!(schedule = id, "schedule removed or changed");
        }
    }
    for (id, schedule) in wanted {
        if jobs.contains_key(&id) {
            continue;
        }
        match job(&schedule, store.clone(), wake.clone()) {
            Ok(job) => match scheduler.add(job).await {
                Ok(uuid) => {
                    tracing::info!(schedule = id, source = %schedule.source, cron = %schedule.cron, "schedule active");
                    jobs.insert(id, (uuid, schedule));
                }
                Err(e) => tracing::warn!(schedule = id, error = %e, "could not add a job"),
            },
            Err(problem) => tracing::warn!(schedule = id, %problem, "schedule skipped"),
        }
    }
}

fn same_timing(a: &schedule::Model, b: &schedule::Model) -> bool {
    (a.source.as_str(), a.cron.as_str(), a.timezone.as_str())
        == (b.source.as_str(), b.cron.as_str(), b.timezone.as_str())
}

fn job(schedule: &schedule::Model, store: Store, wake: Arc<Notify>) -> Result<Job, String> {
    let cron = CronSchedule::parse(&schedule.cron, &schedule.timezone)?;
    let (id, source) = (schedule.id, schedule.source.clone());
    let timezone = cron.timezone();
    Job::new_async_tz(schedule.cron.as_str(), timezone, move |_, _| {
        let (store, wake, cron, source) =
            (store.clone(), wake.clone(), cron.clone(), source.clone());
        Box::pin(async move {
            let Some(fire_time) = cron.fire_time_at(techbalance_store::now()) else {
                return;
            };
            match store.enqueue_scheduled(id, &source, fire_time).await {
                Ok(Some(run)) => {
                    tracing::info!(schedule = id, run = run.id, %fire_time, "scheduled run queued");
                    wake.notify_one();
                }
                Ok(None) => {
                    tracing::debug!(schedule = id, %fire_time, "already queued by another process")
                }
                Err(e) => {
                    tracing::warn!(schedule = id, error = %e, "could not queue the scheduled run")
                }
            }
        })
    })
    .map_err(|e| e.to_string())
}
