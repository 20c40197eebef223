use sea_orm::entity::prelude::*;

/// One mutation an operator made (or attempted).
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
    pub at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
