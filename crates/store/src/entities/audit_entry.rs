use sea_orm::entity::prelude::*;

/// One mutation an operator made (or attempted), or refused attempts aggregated.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "audit_log")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The token name.
    pub actor: String,
    /// The mutation, e.g. `triggerRefresh`.
    pub action: String,
    /// Its arguments, as JSON.
    pub arguments: String,
    /// `ok`, or the error code answered.
    pub outcome: String,
    /// When it happened (for aggregated refusals: the first attempt of the window).
    pub at: DateTimeUtc,
    /// The client address, for refused attempts.
    pub address: Option<String>,
    /// How many attempts the row stands for: 1, or more for aggregated refusals.
    pub attempts: i64,
    /// The last attempt an aggregated row counts.
    pub last_at: Option<DateTimeUtc>,
    /// What aggregated refusals are counted under (window, caller, address, action, outcome).
    pub aggregate_key: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
