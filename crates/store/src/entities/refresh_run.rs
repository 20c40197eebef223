use sea_orm::entity::prelude::*;

/// One attempt to bring a source's figures in.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "refresh_runs")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub source: String,
    pub trigger: RunTrigger,
    pub status: RunStatus,
    /// The schedule's fire time, for scheduled runs.
    pub scheduled_for: Option<DateTimeUtc>,
    pub attempt: i32,
    pub created_at: DateTimeUtc,
    pub started_at: Option<DateTimeUtc>,
    pub finished_at: Option<DateTimeUtc>,
    pub pages_fetched: i64,
    pub fetched: i64,
    pub inserted: i64,
    pub revised: i64,
    pub withdrawn: i64,
    pub unchanged: i64,
    /// The source's release marker as of this run.
    pub release: Option<String>,
    /// Why the run failed, for anyone to read: classified, without secrets or internals.
    pub error: Option<String>,
    /// The class of the failure, stable (`UPSTREAM_UNREACHABLE`, `STORAGE_FAILURE`, …).
    pub error_code: Option<String>,
    /// The full failure (credentials redacted), for operators only.
    pub error_detail: Option<String>,
    /// Remarks such as series the source retired.
    pub notes: Option<String>,
    /// Schedule id + fire time, for scheduled runs.
    pub dedupe_key: Option<String>,
    pub schedule_id: Option<i64>,
    /// A failed run waits until then before it is retried.
    pub not_before: Option<DateTimeUtc>,
    /// Why it waits.
    pub wait_reason: Option<WaitReason>,
    /// Until when the claiming worker holds the run.
    pub lease_until: Option<DateTimeUtc>,
    pub worker: Option<String>,
    /// How many times the run was claimed.
    pub claims: i32,
    /// Withdrawals the guard kept back for an operator to accept (the run is then `held`).
    pub held_withdrawals: i64,
    /// Set off by an operator accepting withdrawals: the guard does not hold any back.
    pub accept_withdrawals: bool,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// What set a run off; stored as `manual` or `schedule`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
pub enum RunTrigger {
    /// An operator asked for it (API, CLI or the start-up refresh).
    #[sea_orm(string_value = "manual")]
    Manual,
    /// A schedule fired.
    #[sea_orm(string_value = "schedule")]
    Schedule,
}

/// Where a run stands; stored in lower case (`queued`, `running`, …).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
pub enum RunStatus {
    /// Waiting for a worker (possibly until `not_before`).
    #[sea_orm(string_value = "queued")]
    Queued,
    /// Claimed by a worker that holds it until `lease_until`.
    #[sea_orm(string_value = "running")]
    Running,
    #[sea_orm(string_value = "succeeded")]
    Succeeded,
    /// Finished, with withdrawals held back for an operator to accept (the rest was recorded).
    #[sea_orm(string_value = "held")]
    Held,
    #[sea_orm(string_value = "failed")]
    Failed,
    /// Cancelled by an operator while it was queued.
    #[sea_orm(string_value = "cancelled")]
    Cancelled,
}

/// Why a queued run waits until its `not_before`; stored as `backoff` or `retry_after`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
pub enum WaitReason {
    /// The retry policy's backoff after a failed attempt.
    #[sea_orm(string_value = "backoff")]
    Backoff,
    /// The source asked for a pause (HTTP 429/503 with `Retry-After`).
    #[sea_orm(string_value = "retry_after")]
    RetryAfter,
}
