//! SQLite only: the change notices every process writes with its changes, so that a server's
//! subscribers hear of changes another process made (a `techbalance seed` or `refresh` on the
//! same file). PostgreSQL carries them with `NOTIFY` instead.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DatabaseBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ChangeNotices {
    Table,
    Id,
    Origin,
    Notice,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DatabaseBackend::Sqlite {
            return Ok(());
        }
        manager
            .create_table(
                Table::create()
                    .table(ChangeNotices::Table)
                    .col(
                        ColumnDef::new(ChangeNotices::Id)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    // The writing process (its change hub), which has told its own subscribers.
                    .col(ColumnDef::new(ChangeNotices::Origin).string().not_null())
                    // The notice as JSON: ids only.
                    .col(ColumnDef::new(ChangeNotices::Notice).text().not_null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DatabaseBackend::Sqlite {
            return Ok(());
        }
        manager
            .drop_table(Table::drop().table(ChangeNotices::Table).to_owned())
            .await
    }
}
