//! Operator control: refresh schedules, API tokens (stored as hashes only) and the audit log of
//! every mutation.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Schedules {
    Table,
    Id,
    Source,
    Cron,
    Timezone,
    Enabled,
    CreatedBy,
    CreatedAt,
    UpdatedAt,
    LastFiredAt,
}

#[derive(DeriveIden)]
enum ApiTokens {
    Table,
    Id,
    Name,
    TokenHash,
    CreatedAt,
    RevokedAt,
}

#[derive(DeriveIden)]
enum AuditLog {
    Table,
    Id,
    Actor,
    Action,
    Arguments,
    Outcome,
    At,
}

#[derive(DeriveIden)]
enum Sources {
    Table,
    Id,
}

fn id(column: impl IntoIden) -> ColumnDef {
    ColumnDef::new(column)
        .big_integer()
        .not_null()
        .auto_increment()
        .primary_key()
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Schedules::Table)
                    .col(id(Schedules::Id))
                    .col(ColumnDef::new(Schedules::Source).string().not_null())
                    // Six fields, seconds first, as tokio-cron-scheduler takes them.
                    .col(ColumnDef::new(Schedules::Cron).string().not_null())
                    .col(
                        ColumnDef::new(Schedules::Timezone)
                            .string()
                            .not_null()
                            .default("UTC"),
                    )
                    .col(
                        ColumnDef::new(Schedules::Enabled)
                            .boolean()
                            .not_null()
                            .default(true),
                    )
                    .col(ColumnDef::new(Schedules::CreatedBy).string().not_null())
                    .col(
                        ColumnDef::new(Schedules::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Schedules::UpdatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(ColumnDef::new(Schedules::LastFiredAt).timestamp_with_time_zone())
                    .foreign_key(
                        ForeignKey::create()
                            .from(Schedules::Table, Schedules::Source)
                            .to(Sources::Table, Sources::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ApiTokens::Table)
                    .col(id(ApiTokens::Id))
                    .col(
                        ColumnDef::new(ApiTokens::Name)
                            .string()
                            .not_null()
                            .unique_key(),
                    )
                    // SHA-256 of the token, hex; the token itself is never stored.
                    .col(
                        ColumnDef::new(ApiTokens::TokenHash)
                            .string()
                            .not_null()
                            .unique_key(),
                    )
                    .col(
                        ColumnDef::new(ApiTokens::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(ColumnDef::new(ApiTokens::RevokedAt).timestamp_with_time_zone())
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(AuditLog::Table)
                    .col(id(AuditLog::Id))
                    .col(ColumnDef::new(AuditLog::Actor).string().not_null())
                    .col(ColumnDef::new(AuditLog::Action).string().not_null())
                    // The mutation's arguments as JSON.
                    .col(ColumnDef::new(AuditLog::Arguments).text().not_null())
                    // `ok`, or the error code the mutation answered with.
                    .col(ColumnDef::new(AuditLog::Outcome).string().not_null())
                    .col(
                        ColumnDef::new(AuditLog::At)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            AuditLog::Table.into_iden(),
            ApiTokens::Table.into_iden(),
            Schedules::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
