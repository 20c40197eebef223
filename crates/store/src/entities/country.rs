use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "countries")]
pub struct Model {
    /// ISO 3166-1 alpha-3 code, the public id.
    #[sea_orm(primary_key, auto_increment = false)]
    pub code: String,
    pub iso2: String,
    pub name: String,
    pub flag: String,
    /// `country` (ISO 3166-1) or `aggregate` (a group a source publishes as one, e.g. the EU).
    pub kind: String,
}

/// [`Model::kind`] of an ISO 3166-1 country.
pub const COUNTRY: &str = "country";
/// [`Model::kind`] of a group of countries published as one (the EU).
pub const AGGREGATE: &str = "aggregate";

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
