//! Refresh runs, which are also the work queue: a schedule firing or an operator's trigger
//! enqueues a run, workers claim queued runs (PostgreSQL: `FOR UPDATE SKIP LOCKED`) under a lease
//! they keep renewing, and a run whose lease expires is claimed again. Observations point at the
//! run that recorded them.

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
    DedupeKey,
    ScheduleId,
    NotBefore,
    LeaseUntil,
    Worker,
    Claims,
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
                    // Schedule id + fire time: N schedulers firing enqueue the run once.
                    .col(ColumnDef::new(RefreshRuns::DedupeKey).string().unique_key())
                    .col(ColumnDef::new(RefreshRuns::ScheduleId).big_integer())
                    // A failed run waits until then before it is retried.
                    .col(ColumnDef::new(RefreshRuns::NotBefore).timestamp_with_time_zone())
                    // The claiming worker renews this; once past, another worker may claim the run.
                    .col(ColumnDef::new(RefreshRuns::LeaseUntil).timestamp_with_time_zone())
                    .col(ColumnDef::new(RefreshRuns::Worker).string())
                    // How many times the run was claimed (a re-claim after a crash counts).
                    .col(
                        ColumnDef::new(RefreshRuns::Claims)
                            .integer()
                            .not_null()
                            .default(0),
                    )
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
            .await?;
        let db = manager.get_connection();
        // At most one run per source executes at a time.
        db.execute_unprepared(
            "CREATE UNIQUE INDEX refresh_runs_one_running_per_source \
             ON refresh_runs (source) WHERE status = 'running'",
        )
        .await?;
        // A manual trigger while one is queued returns that one instead of queuing a duplicate.
        db.execute_unprepared(
            "CREATE UNIQUE INDEX refresh_runs_one_queued_manual_per_source \
             ON refresh_runs (source) WHERE status = 'queued' AND \"trigger\" = 'manual'",
        )
        .await?;
        db.execute_unprepared(
            "CREATE INDEX refresh_runs_queued ON refresh_runs (id) WHERE status IN ('queued', 'running')",
        )
        .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(RefreshRuns::Table).to_owned())
            .await
    }
}
