use sea_orm::entity::prelude::*;

/// One indicator a sector's leadership is judged on, in display order.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "sector_evidence")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub sector: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub metric: String,
    pub position: i32,
    /// Which direction is the stronger position (the metric's own direction).
    pub higher_is_better: bool,
    /// `input`, `output`, `adoption`, `capacity`, `investment` or `research`.
    pub role: String,
    /// Whether the indicator is economy-wide rather than specific to the sector.
    pub proxy: bool,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
