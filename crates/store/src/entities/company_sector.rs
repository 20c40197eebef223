use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "company_sectors")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub company: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub sector: String,
    /// Where the link comes from; `None`: unsourced (an editorial assignment).
    pub citation: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::company::Entity",
        from = "Column::Company",
        to = "super::company::Column::Slug"
    )]
    Company,
    #[sea_orm(
        belongs_to = "super::sector::Entity",
        from = "Column::Sector",
        to = "super::sector::Column::Slug"
    )]
    Sector,
}

impl Related<super::sector::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Sector.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}

impl Related<super::company::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Company.def()
    }
}
