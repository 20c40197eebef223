use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "sectors")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub slug: String,
    pub name: String,
    pub leader: SectorLeader,
    pub summary: String,
    /// Where the verdict comes from; `None`: unsourced.
    pub citation: Option<String>,
    /// Display order.
    pub position: i32,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// Who leads a sector; stored as `US`, `CHINA`, `CONTESTED` or `US_AND_ALLIES`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
pub enum SectorLeader {
    #[sea_orm(string_value = "US")]
    Us,
    #[sea_orm(string_value = "CHINA")]
    China,
    #[sea_orm(string_value = "CONTESTED")]
    Contested,
    #[sea_orm(string_value = "US_AND_ALLIES")]
    UsAndAllies,
}
