//! The run queue. A schedule firing or an operator's trigger only enqueues a run; workers claim
//! queued runs and hold them under a lease they keep renewing. PostgreSQL coordinates every
//! process through this table:
//!
//! - scheduled runs carry a unique `dedupe_key` (schedule id + fire time), so N schedulers firing
//!   enqueue the run once;
//! - a claim locks the oldest eligible row with `FOR UPDATE SKIP LOCKED`, so two workers never
//!   claim the same run; a partial unique index lets only one run per source be `running`;
//! - a run whose worker died keeps `status = 'running'` until its lease passes, then any worker
//!   claims it again (re-running is safe: refreshes are idempotent);
//! - a failed run is queued again after a backoff until it has used its attempts; when the source
//!   asked for a pause (`Retry-After`), not before the time it asked for, capped.
//!
//! On SQLite (one process) the same statements run without row locks: SQLite serialises writers.

use crate::changes::Notice;
use crate::entities::refresh_run;
use crate::error::is_unique_violation;
use crate::runs::{RunFailure, RunStatus, RunTrigger, WaitReason};
use crate::sql::{literal, statement};
use crate::{DatabaseBackend, Store, StoreError, Timestamp};
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Value,
};
use std::time::Duration;

/// How failed runs are retried.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub max_attempts: i32,
    /// The wait before attempt n+1 is `base × 2^(n-1)`.
    pub base: Duration,
    /// The longest a run waits for the time a source asked for (`Retry-After`).
    pub max_retry_after: Duration,
}

impl RetryPolicy {
    /// Never retried: a failure is final.
    pub const FINAL: RetryPolicy = RetryPolicy {
        max_attempts: 1,
        base: Duration::ZERO,
        max_retry_after: Duration::ZERO,
    };

    pub fn delay_after(&self, attempt: i32) -> Duration {
        let factor = 2u32.saturating_pow(u32::try_from(attempt.max(1) - 1).unwrap_or(0).min(16));
        self.base.saturating_mul(factor)
    }
}

/// What became of a failed run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AfterFailure {
    /// Queued again, to start no earlier than `at`, for `reason`.
    Retry {
        at: Timestamp,
        attempt: i32,
        reason: WaitReason,
    },
    /// Out of attempts: left failed with its error.
    Failed,
    /// The run was no longer held by this worker; nothing was changed.
    NotHeld,
}

fn plus(at: Timestamp, duration: Duration) -> Timestamp {
    at + chrono::Duration::from_std(duration).unwrap_or(chrono::Duration::MAX)
}

pub(crate) fn new_run(
    source: &str,
    trigger: RunTrigger,
    now: Timestamp,
) -> refresh_run::ActiveModel {
    refresh_run::ActiveModel {
        id: NotSet,
        source: Set(source.to_owned()),
        trigger: Set(trigger),
        status: Set(RunStatus::Queued),
        scheduled_for: Set(None),
        attempt: Set(1),
        created_at: Set(now),
        started_at: Set(None),
        finished_at: Set(None),
        pages_fetched: Set(0),
        fetched: Set(0),
        inserted: Set(0),
        revised: Set(0),
        withdrawn: Set(0),
        unchanged: Set(0),
        release: Set(None),
        error: Set(None),
        error_code: Set(None),
        error_detail: Set(None),
        notes: Set(None),
        dedupe_key: Set(None),
        schedule_id: Set(None),
        not_before: Set(None),
        wait_reason: Set(None),
        lease_until: Set(None),
        worker: Set(None),
        claims: Set(0),
        held_withdrawals: Set(0),
        accept_withdrawals: Set(false),
    }
}

impl Store {
    /// An operator's trigger: the queued run of `source` if there is one, else a new one.
    /// Returns the run and whether it was created now.
    pub async fn enqueue_manual(
        &self,
        source: &str,
    ) -> Result<(refresh_run::Model, bool), StoreError> {
        if let Some(queued) = queued_run(&self.db, source).await? {
            return Ok((queued, false));
        }
        match refresh_run::Entity::insert(new_run(source, RunTrigger::Manual, crate::now()))
            .exec_with_returning(&self.db)
            .await
        {
            Ok(run) => {
                self.announce(Notice::Run { run: run.id }).await;
                Ok((run, true))
            }
            // Another process queued one between our read and our insert: return that one.
            Err(err) if is_unique_violation(&err) => match queued_run(&self.db, source).await? {
                Some(queued) => Ok((queued, false)),
                None => Err(StoreError::Conflict(format!(
                    "could not queue a run of {source}"
                ))),
            },
            Err(err) => Err(err.into()),
        }
    }

    /// Accepts the withdrawals the run `held` kept back (see
    /// [`crate::operations::AcceptWithdrawals`]; not audited). `None` when there is no such
    /// run; [`StoreError::Invalid`] when the run is not held.
    pub async fn accept_withdrawals(
        &self,
        held: i64,
    ) -> Result<Option<refresh_run::Model>, StoreError> {
        match self
            .apply_unaudited(crate::operations::AcceptWithdrawals { held })
            .await
        {
            Ok(run) => Ok(Some(run)),
            Err(StoreError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// A schedule fired: enqueues its run for `fire_time` unless another process already did
    /// (`None` then). Also records the schedule's last fire time.
    pub async fn enqueue_scheduled(
        &self,
        schedule_id: i64,
        source: &str,
        fire_time: Timestamp,
    ) -> Result<Option<refresh_run::Model>, StoreError> {
        self.writable()?;
        let key = format!(
            "schedule:{schedule_id}:{}",
            fire_time.format("%Y-%m-%dT%H:%M:%SZ")
        );
        let mut run = new_run(source, RunTrigger::Schedule, crate::now());
        run.scheduled_for = Set(Some(fire_time));
        run.schedule_id = Set(Some(schedule_id));
        run.dedupe_key = Set(Some(key));
        let inserted = refresh_run::Entity::insert(run)
            .on_conflict(
                sea_orm::sea_query::OnConflict::column(refresh_run::Column::DedupeKey)
                    .do_nothing()
                    .to_owned(),
            )
            .do_nothing()
            .exec(&self.db)
            .await?;
        let id = match inserted {
            sea_orm::TryInsertResult::Inserted(result) => result.last_insert_id,
            _ => return Ok(None),
        };
        self.record_fire(schedule_id, fire_time).await?;
        self.announce(Notice::Run { run: id }).await;
        self.run(id).await
    }

    /// Claims the oldest run that is queued and due, or whose lease has expired, for `worker`,
    /// unless its source already has a run executing, or asked for a pause (`Retry-After`) that
    /// a queued run is still waiting out: every run of that source waits for it. `None` when there is nothing to do.
    pub async fn claim_run(
        &self,
        worker: &str,
        lease: Duration,
    ) -> Result<Option<refresh_run::Model>, StoreError> {
        self.claim_run_at(worker, lease, crate::now()).await
    }

    /// [`Store::claim_run`] as of `now` (tests step the time with it).
    pub async fn claim_run_at(
        &self,
        worker: &str,
        lease: Duration,
        now: Timestamp,
    ) -> Result<Option<refresh_run::Model>, StoreError> {
        self.writable()?;
        let lock = match self.backend() {
            DatabaseBackend::Postgres => "FOR UPDATE SKIP LOCKED",
            _ => "",
        };
        let sql = format!(
            "UPDATE refresh_runs \
             SET status = {running}, worker = $2, lease_until = $3, claims = claims + 1, \
                 started_at = $1, finished_at = NULL \
             WHERE id = ( \
                 SELECT r.id FROM refresh_runs r \
                 WHERE ((r.status = {queued} AND (r.not_before IS NULL OR r.not_before <= $1)) \
                        OR (r.status = {running} AND r.lease_until < $1)) \
                   AND NOT EXISTS ( \
                       SELECT 1 FROM refresh_runs busy \
                       WHERE busy.source = r.source AND busy.status = {running} \
                         AND busy.id <> r.id AND busy.lease_until >= $1) \
                   AND NOT EXISTS ( \
                       SELECT 1 FROM refresh_runs paused \
                       WHERE paused.source = r.source AND paused.status = {queued} \
                         AND paused.wait_reason = {retry_after} AND paused.not_before > $1) \
                 ORDER BY r.id \
                 LIMIT 1 {lock}) \
             RETURNING *",
            running = literal(RunStatus::Running),
            queued = literal(RunStatus::Queued),
            retry_after = literal(WaitReason::RetryAfter),
        );
        let values: Vec<Value> = vec![now.into(), worker.into(), plus(now, lease).into()];
        let claimed = refresh_run::Entity::find()
            .from_raw_sql(statement(self.backend(), &sql, values))
            .one(&self.db)
            .await;
        match claimed {
            Ok(run) => {
                if let Some(run) = &run {
                    self.announce(Notice::Run { run: run.id }).await;
                }
                Ok(run)
            }
            // Another worker started a run of the same source meanwhile: nothing to claim now.
            Err(err) if is_unique_violation(&err) => Ok(None),
            Err(err) => Err(err.into()),
        }
    }

    /// Opens a run that this process executes at once (a refresh from the command line), held by
    /// `worker` under `lease`. Fails with a conflict when the source is already being refreshed.
    pub async fn start_run(
        &self,
        source: &str,
        trigger: RunTrigger,
        worker: &str,
        lease: Duration,
    ) -> Result<refresh_run::Model, StoreError> {
        self.start_run_accepting(source, trigger, worker, lease, false)
            .await
    }

    /// [`Store::start_run`]; with `accept_withdrawals`, the run records every withdrawal (an
    /// operator accepted them).
    pub async fn start_run_accepting(
        &self,
        source: &str,
        trigger: RunTrigger,
        worker: &str,
        lease: Duration,
        accept_withdrawals: bool,
    ) -> Result<refresh_run::Model, StoreError> {
        let now = crate::now();
        let mut run = new_run(source, trigger, now);
        run.accept_withdrawals = Set(accept_withdrawals);
        run.status = Set(RunStatus::Running);
        run.started_at = Set(Some(now));
        run.worker = Set(Some(worker.to_owned()));
        run.lease_until = Set(Some(plus(now, lease)));
        run.claims = Set(1);
        match refresh_run::Entity::insert(run)
            .exec_with_returning(&self.db)
            .await
        {
            Ok(run) => {
                self.announce(Notice::Run { run: run.id }).await;
                Ok(run)
            }
            Err(err) if is_unique_violation(&err) => Err(StoreError::Conflict(format!(
                "a refresh of {source} is already running"
            ))),
            Err(err) => Err(err.into()),
        }
    }

    /// Extends the lease of a run `worker` holds; false when it no longer holds it.
    pub async fn renew_lease(
        &self,
        id: i64,
        worker: &str,
        lease: Duration,
    ) -> Result<bool, StoreError> {
        let result = refresh_run::Entity::update_many()
            .col_expr(
                refresh_run::Column::LeaseUntil,
                plus(crate::now(), lease).into(),
            )
            .filter(refresh_run::Column::Id.eq(id))
            .filter(refresh_run::Column::Status.eq(RunStatus::Running))
            .filter(refresh_run::Column::Worker.eq(worker))
            .exec(&self.db)
            .await?;
        Ok(result.rows_affected == 1)
    }

    /// A run `worker` held has failed: queue it again after a backoff, or leave it failed once it
    /// has used its attempts. Nothing it fetched was recorded. When the source asked to be called
    /// again no earlier than `retry_at` (`Retry-After`), the run waits until then too, for at
    /// most `retry.max_retry_after`; the run says which wait applies.
    pub async fn fail_run(
        &self,
        id: i64,
        worker: &str,
        failure: &RunFailure,
        retry: RetryPolicy,
        retry_at: Option<Timestamp>,
    ) -> Result<AfterFailure, StoreError> {
        self.writable()?;
        let Some(run) = self.run(id).await? else {
            return Ok(AfterFailure::NotHeld);
        };
        if run.status != RunStatus::Running || run.worker.as_deref() != Some(worker) {
            return Ok(AfterFailure::NotHeld);
        }
        let now = crate::now();
        let held = refresh_run::Entity::update_many()
            .filter(refresh_run::Column::Id.eq(id))
            .filter(refresh_run::Column::Status.eq(RunStatus::Running))
            .filter(refresh_run::Column::Worker.eq(worker))
            .col_expr(refresh_run::Column::Error, failure.message.clone().into())
            .col_expr(refresh_run::Column::ErrorCode, failure.code.into())
            .col_expr(
                refresh_run::Column::ErrorDetail,
                failure.detail.clone().into(),
            )
            .col_expr(refresh_run::Column::FinishedAt, now.into())
            .col_expr(
                refresh_run::Column::LeaseUntil,
                Option::<Timestamp>::None.into(),
            );
        if run.attempt < retry.max_attempts {
            let (at, reason) = next_attempt(now, run.attempt, retry, retry_at);
            let attempt = run.attempt + 1;
            let requeued = held
                .clone()
                .col_expr(refresh_run::Column::Status, RunStatus::Queued.into())
                .col_expr(refresh_run::Column::Attempt, attempt.into())
                .col_expr(refresh_run::Column::NotBefore, at.into())
                .col_expr(
                    refresh_run::Column::WaitReason,
                    (at > now).then_some(reason).into(),
                )
                .exec(&self.db)
                .await;
            match requeued {
                Ok(r) if r.rows_affected == 1 => {
                    self.announce(Notice::Run { run: id }).await;
                    return Ok(AfterFailure::Retry {
                        at,
                        attempt,
                        reason,
                    });
                }
                Ok(_) => return Ok(AfterFailure::NotHeld),
                // An operator queued another manual run meanwhile: that one will do; fail this.
                Err(err) if is_unique_violation(&err) => {}
                Err(err) => return Err(err.into()),
            }
        }
        let failed = held
            .col_expr(refresh_run::Column::Status, RunStatus::Failed.into())
            .exec(&self.db)
            .await?;
        Ok(if failed.rows_affected == 1 {
            self.announce(Notice::Run { run: id }).await;
            AfterFailure::Failed
        } else {
            AfterFailure::NotHeld
        })
    }

    /// Cancels a queued run; `None` when no queued run has that id.
    pub async fn cancel_run(&self, id: i64) -> Result<Option<refresh_run::Model>, StoreError> {
        match self
            .apply_unaudited(crate::operations::CancelRun { id })
            .await
        {
            Ok(run) => Ok(Some(run)),
            Err(StoreError::NotFound { .. } | StoreError::Invalid(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Records how far a run has got, and announces it.
    pub async fn record_progress(
        &self,
        id: i64,
        pages_fetched: u32,
        fetched: u64,
    ) -> Result<(), StoreError> {
        refresh_run::Entity::update_many()
            .col_expr(
                refresh_run::Column::PagesFetched,
                i64::from(pages_fetched).into(),
            )
            .col_expr(
                refresh_run::Column::Fetched,
                i64::try_from(fetched).unwrap_or(i64::MAX).into(),
            )
            .filter(refresh_run::Column::Id.eq(id))
            .filter(refresh_run::Column::Status.eq(RunStatus::Running))
            .exec(&self.db)
            .await?;
        self.announce(Notice::Run { run: id }).await;
        Ok(())
    }
}

/// When a failed attempt's run may start again, and why it waits: the backoff, or the time the
/// source asked for (capped) when that is later.
fn next_attempt(
    now: Timestamp,
    attempt: i32,
    retry: RetryPolicy,
    retry_at: Option<Timestamp>,
) -> (Timestamp, WaitReason) {
    let backoff = plus(now, retry.delay_after(attempt));
    match retry_at.map(|asked| asked.min(plus(now, retry.max_retry_after))) {
        Some(asked) if asked > backoff => (asked, WaitReason::RetryAfter),
        _ => (backoff, WaitReason::Backoff),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_retry_after_later_than_the_backoff_is_waited_for_up_to_the_cap() {
        let policy = RetryPolicy {
            max_attempts: 5,
            base: Duration::from_secs(60),
            max_retry_after: Duration::from_secs(7200),
        };
        let now = chrono::DateTime::parse_from_rfc3339("2027-03-14T07:00:00Z")
            .expect("instant")
            .to_utc();
        let minutes = |n: i64| now + chrono::Duration::minutes(n);
        assert_eq!(
            next_attempt(now, 1, policy, None),
            (minutes(1), WaitReason::Backoff)
        );
        assert_eq!(
            next_attempt(now, 1, policy, Some(minutes(60))),
            (minutes(60), WaitReason::RetryAfter)
        );
        assert_eq!(
            next_attempt(now, 1, policy, Some(minutes(600))),
            (minutes(120), WaitReason::RetryAfter),
            "capped"
        );
        assert_eq!(
            next_attempt(now, 3, policy, Some(minutes(2))),
            (minutes(4), WaitReason::Backoff),
            "the backoff is longer than the source asked"
        );
    }

    #[test]
    fn retries_back_off_exponentially() {
        let policy = RetryPolicy {
            max_attempts: 5,
            base: Duration::from_secs(60),
            max_retry_after: Duration::ZERO,
        };
        assert_eq!(policy.delay_after(1), Duration::from_secs(60));
        assert_eq!(policy.delay_after(2), Duration::from_secs(120));
        assert_eq!(policy.delay_after(4), Duration::from_secs(480));
    }
}

/// The oldest queued run of `source`.
pub(crate) async fn queued_run(
    db: &impl ConnectionTrait,
    source: &str,
) -> Result<Option<refresh_run::Model>, StoreError> {
    Ok(refresh_run::Entity::find()
        .filter(refresh_run::Column::Source.eq(source))
        .filter(refresh_run::Column::Status.eq(RunStatus::Queued))
        .order_by_asc(refresh_run::Column::Id)
        .one(db)
        .await?)
}
