use sea_orm::entity::prelude::*;

/// One version of one yearly figure, as a source published it, valid in knowledge time during
/// `[recorded_from, recorded_to)`. `value` is `None` for a withdrawal.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "observations")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub metric: String,
    pub country: String,
    pub source: String,
    pub year: i32,
    pub value: Option<f64>,
    /// `~` approximate, `+` lower bound.
    pub qualifier: Option<String>,
    /// The source's own release marker (e.g. World Bank `lastupdated`).
    pub release: Option<String>,
    pub citation: Option<String>,
    pub recorded_from: DateTimeUtc,
    pub recorded_to: Option<DateTimeUtc>,
    /// The version this one replaced, if any.
    pub supersedes: Option<i64>,
    /// The refresh run that recorded this version.
    pub run_id: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
