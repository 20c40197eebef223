//! Refresh runs as records: reading them, and completing one in the transaction that records its
//! figures. How runs are queued, claimed and retried is in [`crate::queue`].

use crate::entities::{country, refresh_run};
use crate::record::RecordSummary;
use crate::sql::{literal, statement};
use crate::{Store, StoreError, Timestamp};
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, FromQueryResult, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect,
};

pub use crate::entities::refresh_run::{RunStatus, RunTrigger, WaitReason};

/// How a run ended, when it succeeded.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RunResult {
    pub summary: RecordSummary,
    pub pages_fetched: u32,
    pub release: Option<String>,
    pub notes: Option<String>,
}

/// Why a run failed: what anyone may read (a stable code and a readable message, without
/// secrets or internals) and the full detail, for operators only (credentials already masked).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunFailure {
    /// `UPSTREAM_UNREACHABLE`, `UPSTREAM_REFUSED`, `UPSTREAM_MALFORMED`, `STORAGE_FAILURE`, …
    pub code: &'static str,
    pub message: String,
    pub detail: String,
}

/// Filters on the run list, newest first.
#[derive(Clone, Debug, Default)]
pub struct RunFilter {
    pub source: Option<String>,
    pub status: Option<RunStatus>,
}

/// The latest successful (or held) run of a source.
#[derive(Clone, Debug, PartialEq, Eq, FromQueryResult)]
pub struct LastSuccess {
    pub source: String,
    pub finished_at: Timestamp,
    pub release: Option<String>,
}

impl Store {
    pub async fn run(&self, id: i64) -> Result<Option<refresh_run::Model>, StoreError> {
        Ok(refresh_run::Entity::find_by_id(id).one(&self.db).await?)
    }

    pub async fn runs_by_id(&self, ids: &[i64]) -> Result<Vec<refresh_run::Model>, StoreError> {
        Ok(refresh_run::Entity::find()
            .filter(refresh_run::Column::Id.is_in(ids.iter().copied()))
            .all(&self.db)
            .await?)
    }

    /// One page of runs, newest first, strictly older than the run `before` when given.
    pub async fn runs(
        &self,
        filter: &RunFilter,
        before: Option<i64>,
        limit: u64,
    ) -> Result<Vec<refresh_run::Model>, StoreError> {
        let mut query = refresh_run::Entity::find()
            .filter(run_condition(filter))
            .order_by_desc(refresh_run::Column::Id)
            .limit(limit);
        if let Some(before) = before {
            query = query.filter(refresh_run::Column::Id.lt(before));
        }
        Ok(query.all(&self.db).await?)
    }

    pub async fn count_runs(&self, filter: &RunFilter) -> Result<u64, StoreError> {
        Ok(refresh_run::Entity::find()
            .filter(run_condition(filter))
            .count(&self.db)
            .await?)
    }

    /// The latest successful run of every source that has one.
    pub async fn last_successes(&self) -> Result<Vec<LastSuccess>, StoreError> {
        let sql = format!(
            "SELECT source, finished_at, release FROM ( \
                 SELECT source, finished_at, release, ROW_NUMBER() OVER ( \
                     PARTITION BY source ORDER BY finished_at DESC, id DESC) AS pick \
                 FROM refresh_runs WHERE status IN ({}, {}) AND finished_at IS NOT NULL \
             ) latest WHERE pick = 1",
            literal(RunStatus::Succeeded),
            literal(RunStatus::Held),
        );
        Ok(
            LastSuccess::find_by_statement(statement(self.backend(), &sql, Vec::new()))
                .all(&self.db)
                .await?,
        )
    }
}

fn run_condition(filter: &RunFilter) -> sea_orm::Condition {
    let mut condition = sea_orm::Condition::all();
    if let Some(source) = &filter.source {
        condition = condition.add(refresh_run::Column::Source.eq(source.clone()));
    }
    if let Some(status) = &filter.status {
        condition = condition.add(refresh_run::Column::Status.eq(*status));
    }
    condition
}

/// Marks a run succeeded with what it did, inside the transaction that recorded its figures; `held`
/// instead when it held withdrawals back (`result.summary.held > 0`).
/// Fails when `worker` no longer holds the run (its lease expired and another worker claimed
/// it), so that the caller rolls its figures back: a run completes once.
pub async fn complete_run(
    db: &impl ConnectionTrait,
    id: i64,
    worker: &str,
    result: &RunResult,
    at: Timestamp,
) -> Result<(), StoreError> {
    let s = result.summary;
    let count = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
    let status = if s.held > 0 {
        RunStatus::Held
    } else {
        RunStatus::Succeeded
    };
    let done = refresh_run::Entity::update_many()
        .col_expr(refresh_run::Column::Status, status.into())
        .col_expr(refresh_run::Column::HeldWithdrawals, count(s.held).into())
        .col_expr(refresh_run::Column::FinishedAt, at.into())
        .col_expr(
            refresh_run::Column::PagesFetched,
            i64::from(result.pages_fetched).into(),
        )
        .col_expr(refresh_run::Column::Fetched, count(s.fetched).into())
        .col_expr(refresh_run::Column::Inserted, count(s.inserted).into())
        .col_expr(refresh_run::Column::Revised, count(s.revised).into())
        .col_expr(refresh_run::Column::Withdrawn, count(s.withdrawn).into())
        .col_expr(refresh_run::Column::Unchanged, count(s.unchanged).into())
        .col_expr(refresh_run::Column::Release, result.release.clone().into())
        .col_expr(refresh_run::Column::Notes, result.notes.clone().into())
        .col_expr(refresh_run::Column::Error, Option::<String>::None.into())
        .col_expr(
            refresh_run::Column::ErrorCode,
            Option::<String>::None.into(),
        )
        .col_expr(
            refresh_run::Column::ErrorDetail,
            Option::<String>::None.into(),
        )
        .col_expr(
            refresh_run::Column::LeaseUntil,
            Option::<Timestamp>::None.into(),
        )
        .filter(refresh_run::Column::Id.eq(id))
        .filter(refresh_run::Column::Status.eq(RunStatus::Running))
        .filter(refresh_run::Column::Worker.eq(worker))
        .exec(db)
        .await?;
    if done.rows_affected == 1 {
        Ok(())
    } else {
        Err(StoreError::Conflict(format!(
            "run {id} is no longer held by this worker; its figures were not recorded"
        )))
    }
}

/// Adds countries the store does not know yet; known ones keep their curated names.
pub async fn add_missing_countries(
    db: &impl ConnectionTrait,
    countries: &[country::Model],
) -> Result<(), StoreError> {
    if countries.is_empty() {
        return Ok(());
    }
    let rows = countries.iter().cloned().map(|c| country::ActiveModel {
        code: Set(c.code),
        iso2: Set(c.iso2),
        name: Set(c.name),
        flag: Set(c.flag),
        kind: Set(c.kind),
    });
    country::Entity::insert_many(rows)
        .on_conflict(OnConflict::new().do_nothing().to_owned())
        .do_nothing()
        .exec(db)
        .await?;
    Ok(())
}
