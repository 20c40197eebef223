//! What a country row stands for: `country` (an ISO 3166-1 country) or `aggregate` (a group
//! of countries a source publishes as one, such as the European Union, `EUU`).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Countries {
    Table,
    Kind,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Countries::Table)
                    .add_column(
                        ColumnDef::new(Countries::Kind)
                            .string()
                            .not_null()
                            .default("country"),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Countries::Table)
                    .drop_column(Countries::Kind)
                    .to_owned(),
            )
            .await
    }
}
