//! The withdrawal guard: how many withdrawals a run held back for an operator, and whether a run
//! was set off to record withdrawals an operator accepted.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum RefreshRuns {
    Table,
    HeldWithdrawals,
    AcceptWithdrawals,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite alters a table one column at a time.
        manager
            .alter_table(
                Table::alter()
                    .table(RefreshRuns::Table)
                    .add_column(
                        ColumnDef::new(RefreshRuns::HeldWithdrawals)
                            .big_integer()
                            .not_null()
                            .default(0),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(RefreshRuns::Table)
                    .add_column(
                        ColumnDef::new(RefreshRuns::AcceptWithdrawals)
                            .boolean()
                            .not_null()
                            .default(false),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [RefreshRuns::AcceptWithdrawals, RefreshRuns::HeldWithdrawals] {
            manager
                .alter_table(
                    Table::alter()
                        .table(RefreshRuns::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
