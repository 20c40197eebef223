//! Provenance and evidence for the reference data: a citation beside every curated fact (null:
//! unsourced), each sector's evidence indicators, and the versions of each sector's editorial
//! verdict, valid in knowledge time during `[recorded_from, recorded_to)` like observations.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Sectors {
    Table,
    Slug,
    Citation,
}

#[derive(DeriveIden)]
enum Companies {
    Table,
    Citation,
    OwnershipCitation,
    FoundedCitation,
    HeadquartersCitation,
}

#[derive(DeriveIden)]
enum CompanySectors {
    Table,
    Citation,
}

#[derive(DeriveIden)]
enum Highlights {
    Table,
    Citation,
}

#[derive(DeriveIden)]
enum Metrics {
    Table,
    Slug,
}

#[derive(DeriveIden)]
enum RefreshRuns {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum SectorEvidence {
    Table,
    Sector,
    Metric,
    Position,
    HigherIsBetter,
    Role,
    Proxy,
}

#[derive(DeriveIden)]
enum SectorVerdicts {
    Table,
    Id,
    Sector,
    Leader,
    Summary,
    Citation,
    RecordedFrom,
    RecordedTo,
    RunId,
}

/// Each added column in its own statement: SQLite alters one column at a time.
fn citation_columns() -> Vec<(DynIden, DynIden)> {
    vec![
        (Sectors::Table.into_iden(), Sectors::Citation.into_iden()),
        (
            Companies::Table.into_iden(),
            Companies::Citation.into_iden(),
        ),
        (
            Companies::Table.into_iden(),
            Companies::OwnershipCitation.into_iden(),
        ),
        (
            Companies::Table.into_iden(),
            Companies::FoundedCitation.into_iden(),
        ),
        (
            Companies::Table.into_iden(),
            Companies::HeadquartersCitation.into_iden(),
        ),
        (
            CompanySectors::Table.into_iden(),
            CompanySectors::Citation.into_iden(),
        ),
        (
            Highlights::Table.into_iden(),
            Highlights::Citation.into_iden(),
        ),
    ]
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (table, column) in citation_columns() {
            manager
                .alter_table(
                    Table::alter()
                        .table(table)
                        .add_column(ColumnDef::new(column).text().null())
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_table(
                Table::create()
                    .table(SectorEvidence::Table)
                    .col(ColumnDef::new(SectorEvidence::Sector).string().not_null())
                    .col(ColumnDef::new(SectorEvidence::Metric).string().not_null())
                    .col(
                        ColumnDef::new(SectorEvidence::Position)
                            .integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(SectorEvidence::HigherIsBetter)
                            .boolean()
                            .not_null(),
                    )
                    .col(ColumnDef::new(SectorEvidence::Role).string().not_null())
                    .col(ColumnDef::new(SectorEvidence::Proxy).boolean().not_null())
                    .primary_key(
                        Index::create()
                            .col(SectorEvidence::Sector)
                            .col(SectorEvidence::Metric),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(SectorEvidence::Table, SectorEvidence::Sector)
                            .to(Sectors::Table, Sectors::Slug),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(SectorEvidence::Table, SectorEvidence::Metric)
                            .to(Metrics::Table, Metrics::Slug),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(SectorVerdicts::Table)
                    .col(
                        ColumnDef::new(SectorVerdicts::Id)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(SectorVerdicts::Sector).string().not_null())
                    .col(ColumnDef::new(SectorVerdicts::Leader).string().not_null())
                    .col(ColumnDef::new(SectorVerdicts::Summary).text().not_null())
                    .col(ColumnDef::new(SectorVerdicts::Citation).text().null())
                    .col(
                        ColumnDef::new(SectorVerdicts::RecordedFrom)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(ColumnDef::new(SectorVerdicts::RecordedTo).timestamp_with_time_zone())
                    .col(ColumnDef::new(SectorVerdicts::RunId).big_integer())
                    .foreign_key(
                        ForeignKey::create()
                            .from(SectorVerdicts::Table, SectorVerdicts::Sector)
                            .to(Sectors::Table, Sectors::Slug),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(SectorVerdicts::Table, SectorVerdicts::RunId)
                            .to(RefreshRuns::Table, RefreshRuns::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("sector_verdicts_by_sector")
                    .table(SectorVerdicts::Table)
                    .col(SectorVerdicts::Sector)
                    .col(SectorVerdicts::RecordedFrom)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(SectorVerdicts::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(SectorEvidence::Table).to_owned())
            .await?;
        for (table, column) in citation_columns() {
            manager
                .alter_table(Table::alter().table(table).drop_column(column).to_owned())
                .await?;
        }
        Ok(())
    }
}
