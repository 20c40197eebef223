use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "highlights")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub country: String,
    /// `ai_advantages`, `talent`, `chip_controls`, `business_models`, ...
    pub topic: String,
    pub position: i32,
    pub title: String,
    pub body: String,
    /// Where the point comes from; `None`: unsourced.
    pub citation: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
