use sea_orm::entity::prelude::*;

/// One version of a sector's editorial verdict, valid in knowledge time during
/// `[recorded_from, recorded_to)`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "sector_verdicts")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub sector: String,
    pub leader: super::sector::SectorLeader,
    pub summary: String,
    /// Where the verdict comes from; `None`: unsourced.
    pub citation: Option<String>,
    pub recorded_from: DateTimeUtc,
    pub recorded_to: Option<DateTimeUtc>,
    /// The refresh run that recorded this version.
    pub run_id: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
