//! Yearly observations, stored as versions in knowledge time.
//!
//! A row is one version of the value that `source` published for (`metric`, `country`, `year`).
//! It was the current knowledge during `[recorded_from, recorded_to)`; `recorded_to IS NULL` marks
//! the current version. A NULL `value` records a withdrawal: the source stopped publishing the
//! figure. Rows are never updated except to close them, and never deleted; the partial unique
//! index keeps at most one current version per series point. `supersedes` links a version to the
//! one it replaced (a revision is such a pair), and `run_id` to the refresh run that recorded it.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Observations {
    Table,
    Id,
    Metric,
    Country,
    Source,
    Year,
    Value,
    Qualifier,
    Release,
    Citation,
    RecordedFrom,
    RecordedTo,
    Supersedes,
    RunId,
}

#[derive(DeriveIden)]
enum RefreshRuns {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Metrics {
    Table,
    Slug,
}

#[derive(DeriveIden)]
enum Countries {
    Table,
    Code,
}

#[derive(DeriveIden)]
enum Sources {
    Table,
    Id,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Observations::Table)
                    .col(
                        ColumnDef::new(Observations::Id)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(Observations::Metric).string().not_null())
                    .col(
                        ColumnDef::new(Observations::Country)
                            .string_len(3)
                            .not_null(),
                    )
                    .col(ColumnDef::new(Observations::Source).string().not_null())
                    .col(ColumnDef::new(Observations::Year).integer().not_null())
                    .col(ColumnDef::new(Observations::Value).double())
                    .col(ColumnDef::new(Observations::Qualifier).string_len(1))
                    .col(ColumnDef::new(Observations::Release).string())
                    .col(ColumnDef::new(Observations::Citation).text())
                    .col(
                        ColumnDef::new(Observations::RecordedFrom)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(ColumnDef::new(Observations::RecordedTo).timestamp_with_time_zone())
                    .col(ColumnDef::new(Observations::Supersedes).big_integer())
                    .col(ColumnDef::new(Observations::RunId).big_integer())
                    .foreign_key(
                        ForeignKey::create()
                            .from(Observations::Table, Observations::Supersedes)
                            .to(Observations::Table, Observations::Id),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(Observations::Table, Observations::RunId)
                            .to(RefreshRuns::Table, RefreshRuns::Id),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(Observations::Table, Observations::Metric)
                            .to(Metrics::Table, Metrics::Slug),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(Observations::Table, Observations::Country)
                            .to(Countries::Table, Countries::Code),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(Observations::Table, Observations::Source)
                            .to(Sources::Table, Sources::Id),
                    )
                    .to_owned(),
            )
            .await?;
        let db = manager.get_connection();
        // One current version per (metric, country, source, year); same syntax on both backends.
        db.execute_unprepared(
            "CREATE UNIQUE INDEX observations_one_current_version \
             ON observations (metric, country, source, year) WHERE recorded_to IS NULL",
        )
        .await?;
        // Series and as-of reads walk a (metric, country) pair's years in knowledge time.
        db.execute_unprepared(
            "CREATE INDEX observations_by_series \
             ON observations (metric, country, year, recorded_from)",
        )
        .await?;
        // Revisions are listed by the version that superseded another.
        db.execute_unprepared(
            "CREATE INDEX observations_by_supersedes ON observations (supersedes) \
             WHERE supersedes IS NOT NULL",
        )
        .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Observations::Table).to_owned())
            .await
    }
}
