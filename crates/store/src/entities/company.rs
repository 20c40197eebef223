use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "companies")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub slug: String,
    pub name: String,
    pub country: String,
    pub ownership: Ownership,
    pub founded: Option<i32>,
    pub headquarters: Option<String>,
    pub description: Option<String>,
    /// Where the company's listing (name, country) comes from; `None`: unsourced.
    pub citation: Option<String>,
    /// Where `ownership` comes from; `None`: unsourced.
    pub ownership_citation: Option<String>,
    /// Where `founded` comes from; `None`: unsourced.
    pub founded_citation: Option<String>,
    /// Where `headquarters` comes from; `None`: unsourced.
    pub headquarters_citation: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(has_many = "super::company_sector::Entity")]
    CompanySector,
}

impl Related<super::company_sector::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::CompanySector.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}

/// How a company is owned and steered; stored as `PRIVATE` or `STATE_SUPERVISED`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
pub enum Ownership {
    /// Privately or publicly held, run for profit.
    #[sea_orm(string_value = "PRIVATE")]
    Private,
    /// A national champion operating under state supervision.
    #[sea_orm(string_value = "STATE_SUPERVISED")]
    StateSupervised,
}
