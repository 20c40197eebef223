use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "sectors")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub slug: String,
    pub name: String,
    /// `US`, `CHINA`, `CONTESTED` or `US_AND_ALLIES`.
    pub leader: String,
    pub summary: String,
    /// Where the verdict comes from; `None`: unsourced.
    pub citation: Option<String>,
    /// Display order.
    pub position: i32,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
