use sea_orm::entity::prelude::*;

/// One attempt to bring a source's figures in.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "refresh_runs")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub source: String,
    /// `manual` or `schedule`.
    pub trigger: String,
    /// `queued`, `running`, `succeeded`, `held`, `failed` or `cancelled`.
    pub status: String,
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
    pub error: Option<String>,
    /// Remarks such as series the source retired.
    pub notes: Option<String>,
    /// Schedule id + fire time, for scheduled runs.
    pub dedupe_key: Option<String>,
    pub schedule_id: Option<i64>,
    /// A failed run waits until then before it is retried.
    pub not_before: Option<DateTimeUtc>,
    /// Why it waits: `backoff` or `retry_after` (see [`crate::queue::WaitReason`]).
    pub wait_reason: Option<String>,
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
