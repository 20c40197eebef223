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
    pub kind: CountryKind,
}

/// What a country row stands for; stored as `country` or `aggregate`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
pub enum CountryKind {
    /// An ISO 3166-1 country.
    #[default]
    #[sea_orm(string_value = "country")]
    Country,
    /// A group of countries a source publishes as one (the European Union, `EUU`).
    #[sea_orm(string_value = "aggregate")]
    Aggregate,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
