//! A source has at most one schedule per (cron expression, time zone): creating an identical
//! schedule returns the existing one. Identical schedules made before are folded into the oldest
//! (their past runs stay).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Schedules {
    Table,
    Source,
    Cron,
    Timezone,
}

const INDEX: &str = "schedules_source_cron_timezone_key";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared(
                "DELETE FROM schedules WHERE id NOT IN ( \
                     SELECT MIN(id) FROM schedules GROUP BY source, cron, timezone)",
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name(INDEX)
                    .table(Schedules::Table)
                    .col(Schedules::Source)
                    .col(Schedules::Cron)
                    .col(Schedules::Timezone)
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(Index::drop().name(INDEX).table(Schedules::Table).to_owned())
            .await
    }
}
