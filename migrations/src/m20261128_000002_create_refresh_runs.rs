//! Refresh runs: one row per attempt to bring a source's figures in, with what it did or why it
//! failed. Observations point at the run that recorded them.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum RefreshRuns {
    Table,
    Id,
    Source,
    Trigger,
    Status,
    ScheduledFor,
    Attempt,
    CreatedAt,
    StartedAt,
    FinishedAt,
    PagesFetched,
    Fetched,
    Inserted,
    Revised,
    Withdrawn,
    Unchanged,
    Release,
    Error,
    Notes,
}

#[derive(DeriveIden)]
enum Sources {
    Table,
    Id,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let count = |column: RefreshRuns| {
            ColumnDef::new(column)
                .big_integer()
                .not_null()
                .default(0)
                .to_owned()
        };
        manager
            .create_table(
                Table::create()
                    .table(RefreshRuns::Table)
                    .col(
                        ColumnDef::new(RefreshRuns::Id)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(RefreshRuns::Source).string().not_null())
                    // manual | schedule
                    .col(ColumnDef::new(RefreshRuns::Trigger).string().not_null())
                    // queued | running | succeeded | failed | cancelled
                    .col(ColumnDef::new(RefreshRuns::Status).string().not_null())
                    .col(ColumnDef::new(RefreshRuns::ScheduledFor).timestamp_with_time_zone())
                    .col(
                        ColumnDef::new(RefreshRuns::Attempt)
                            .integer()
                            .not_null()
                            .default(1),
                    )
                    .col(
                        ColumnDef::new(RefreshRuns::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(ColumnDef::new(RefreshRuns::StartedAt).timestamp_with_time_zone())
                    .col(ColumnDef::new(RefreshRuns::FinishedAt).timestamp_with_time_zone())
                    .col(count(RefreshRuns::PagesFetched))
                    .col(count(RefreshRuns::Fetched))
                    .col(count(RefreshRuns::Inserted))
                    .col(count(RefreshRuns::Revised))
                    .col(count(RefreshRuns::Withdrawn))
                    .col(count(RefreshRuns::Unchanged))
                    .col(ColumnDef::new(RefreshRuns::Release).string())
                    .col(ColumnDef::new(RefreshRuns::Error).text())
                    .col(ColumnDef::new(RefreshRuns::Notes).text())
                    .foreign_key(
                        ForeignKey::create()
                            .from(RefreshRuns::Table, RefreshRuns::Source)
                            .to(Sources::Table, Sources::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("refresh_runs_by_source_status")
                    .table(RefreshRuns::Table)
                    .col(RefreshRuns::Source)
                    .col(RefreshRuns::Status)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(RefreshRuns::Table).to_owned())
            .await
    }
}
