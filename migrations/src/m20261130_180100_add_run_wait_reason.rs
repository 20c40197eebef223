//! Why a queued run waits until its `not_before`: `backoff` after a failure, or `retry_after`
//! when the source asked for a pause (HTTP 429/503 with `Retry-After`).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum RefreshRuns {
    Table,
    WaitReason,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(RefreshRuns::Table)
                    .add_column(ColumnDef::new(RefreshRuns::WaitReason).string())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(RefreshRuns::Table)
                    .drop_column(RefreshRuns::WaitReason)
                    .to_owned(),
            )
            .await
    }
}
