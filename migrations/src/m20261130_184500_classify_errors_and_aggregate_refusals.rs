//! Run errors split into what the public may read (a stable `error_code` and a readable
//! `error`) and what only operators see (`error_detail`); the audit log gains aggregated rows for
//! refused attempts (`attempts` counted under one `aggregate_key` per caller, address and time
//! window, from `at` to `last_at`).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum RefreshRuns {
    Table,
    Error,
    ErrorCode,
    ErrorDetail,
}

#[derive(DeriveIden)]
enum AuditLog {
    Table,
    At,
    Address,
    Attempts,
    LastAt,
    AggregateKey,
}

const AGGREGATE_KEY_INDEX: &str = "audit_log_aggregate_key";
const AT_INDEX: &str = "audit_log_at";

/// SQLite alters one column per statement.
async fn add_column(
    manager: &SchemaManager<'_>,
    table: impl IntoTableRef,
    column: ColumnDef,
) -> Result<(), DbErr> {
    manager
        .alter_table(Table::alter().table(table).add_column(column).to_owned())
        .await
}

async fn drop_column(
    manager: &SchemaManager<'_>,
    table: impl IntoTableRef,
    column: impl IntoIden,
) -> Result<(), DbErr> {
    manager
        .alter_table(Table::alter().table(table).drop_column(column).to_owned())
        .await
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        add_column(
            manager,
            RefreshRuns::Table,
            ColumnDef::new(RefreshRuns::ErrorCode).string().to_owned(),
        )
        .await?;
        add_column(
            manager,
            RefreshRuns::Table,
            ColumnDef::new(RefreshRuns::ErrorDetail).text().to_owned(),
        )
        .await?;
        // Errors recorded before were raw text (upstream URLs, database messages): they become
        // operator-only detail, and the public error says only that the run failed.
        manager
            .exec_stmt(
                Query::update()
                    .table(RefreshRuns::Table)
                    .value(RefreshRuns::ErrorDetail, Expr::col(RefreshRuns::Error))
                    .value(RefreshRuns::ErrorCode, "UNCLASSIFIED")
                    .value(
                        RefreshRuns::Error,
                        "the run failed (recorded before errors were classified)",
                    )
                    .and_where(Expr::col(RefreshRuns::Error).is_not_null())
                    .to_owned(),
            )
            .await?;
        add_column(
            manager,
            AuditLog::Table,
            ColumnDef::new(AuditLog::Address).string().to_owned(),
        )
        .await?;
        add_column(
            manager,
            AuditLog::Table,
            ColumnDef::new(AuditLog::Attempts)
                .big_integer()
                .not_null()
                .default(1)
                .to_owned(),
        )
        .await?;
        add_column(
            manager,
            AuditLog::Table,
            ColumnDef::new(AuditLog::LastAt)
                .timestamp_with_time_zone()
                .to_owned(),
        )
        .await?;
        add_column(
            manager,
            AuditLog::Table,
            ColumnDef::new(AuditLog::AggregateKey).string().to_owned(),
        )
        .await?;
        manager
            .create_index(
                Index::create()
                    .name(AGGREGATE_KEY_INDEX)
                    .table(AuditLog::Table)
                    .col(AuditLog::AggregateKey)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name(AT_INDEX)
                    .table(AuditLog::Table)
                    .col(AuditLog::At)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for index in [AT_INDEX, AGGREGATE_KEY_INDEX] {
            manager
                .drop_index(Index::drop().name(index).table(AuditLog::Table).to_owned())
                .await?;
        }
        for column in [
            AuditLog::AggregateKey,
            AuditLog::LastAt,
            AuditLog::Attempts,
            AuditLog::Address,
        ] {
            drop_column(manager, AuditLog::Table, column).await?;
        }
        manager
            .exec_stmt(
                Query::update()
                    .table(RefreshRuns::Table)
                    .value(RefreshRuns::Error, Expr::col(RefreshRuns::ErrorDetail))
                    .and_where(Expr::col(RefreshRuns::ErrorDetail).is_not_null())
                    .to_owned(),
            )
            .await?;
        drop_column(manager, RefreshRuns::Table, RefreshRuns::ErrorDetail).await?;
        drop_column(manager, RefreshRuns::Table, RefreshRuns::ErrorCode).await
    }
}
