//! Countries, data sources, metrics, technology sectors, companies and narrative highlights:
//! reference data that the baseline describes and every observation points at.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Countries {
    Table,
    Code,
    Iso2,
    Name,
    Flag,
}

#[derive(DeriveIden)]
enum Sources {
    Table,
    Id,
    Name,
    Homepage,
    Terms,
}

#[derive(DeriveIden)]
enum Metrics {
    Table,
    Slug,
    Name,
    Unit,
    Category,
    Description,
    HigherIsBetter,
    PreferredSources,
}

#[derive(DeriveIden)]
enum Sectors {
    Table,
    Slug,
    Name,
    Leader,
    Summary,
    Position,
}

#[derive(DeriveIden)]
enum Companies {
    Table,
    Slug,
    Name,
    Country,
    Ownership,
    Founded,
    Headquarters,
    Description,
}

#[derive(DeriveIden)]
enum CompanySectors {
    Table,
    Company,
    Sector,
}

#[derive(DeriveIden)]
enum Highlights {
    Table,
    Id,
    Country,
    Topic,
    Position,
    Title,
    Body,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Countries::Table)
                    .col(
                        ColumnDef::new(Countries::Code)
                            .string_len(3)
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(Countries::Iso2)
                            .string_len(2)
                            .not_null()
                            .unique_key(),
                    )
                    .col(ColumnDef::new(Countries::Name).string().not_null())
                    .col(ColumnDef::new(Countries::Flag).string().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Sources::Table)
                    .col(
                        ColumnDef::new(Sources::Id)
                            .string()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(Sources::Name).string().not_null())
                    .col(ColumnDef::new(Sources::Homepage).string().not_null())
                    .col(ColumnDef::new(Sources::Terms).text().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Metrics::Table)
                    .col(
                        ColumnDef::new(Metrics::Slug)
                            .string()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(Metrics::Name).string().not_null())
                    .col(ColumnDef::new(Metrics::Unit).string().not_null())
                    .col(ColumnDef::new(Metrics::Category).string().not_null())
                    .col(ColumnDef::new(Metrics::Description).text().not_null())
                    .col(ColumnDef::new(Metrics::HigherIsBetter).boolean().not_null())
                    // Comma-separated source ids, most preferred first; NULL: the default order.
                    .col(ColumnDef::new(Metrics::PreferredSources).string())
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Sectors::Table)
                    .col(
                        ColumnDef::new(Sectors::Slug)
                            .string()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(Sectors::Name).string().not_null())
                    .col(ColumnDef::new(Sectors::Leader).string().not_null())
                    .col(ColumnDef::new(Sectors::Summary).text().not_null())
                    .col(ColumnDef::new(Sectors::Position).integer().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Companies::Table)
                    .col(
                        ColumnDef::new(Companies::Slug)
                            .string()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(Companies::Name).string().not_null())
                    .col(ColumnDef::new(Companies::Country).string_len(3).not_null())
                    .col(ColumnDef::new(Companies::Ownership).string().not_null())
                    .col(ColumnDef::new(Companies::Founded).integer())
                    .col(ColumnDef::new(Companies::Headquarters).string())
                    .col(ColumnDef::new(Companies::Description).text())
                    .foreign_key(
                        ForeignKey::create()
                            .from(Companies::Table, Companies::Country)
                            .to(Countries::Table, Countries::Code),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("companies_by_country_name")
                    .table(Companies::Table)
                    .col(Companies::Country)
                    .col(Companies::Name)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(CompanySectors::Table)
                    .col(ColumnDef::new(CompanySectors::Company).string().not_null())
                    .col(ColumnDef::new(CompanySectors::Sector).string().not_null())
                    .primary_key(
                        Index::create()
                            .col(CompanySectors::Company)
                            .col(CompanySectors::Sector),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(CompanySectors::Table, CompanySectors::Company)
                            .to(Companies::Table, Companies::Slug)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(CompanySectors::Table, CompanySectors::Sector)
                            .to(Sectors::Table, Sectors::Slug)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("company_sectors_by_sector")
                    .table(CompanySectors::Table)
                    .col(CompanySectors::Sector)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Highlights::Table)
                    .col(
                        ColumnDef::new(Highlights::Id)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(Highlights::Country).string_len(3).not_null())
                    .col(ColumnDef::new(Highlights::Topic).string().not_null())
                    .col(ColumnDef::new(Highlights::Position).integer().not_null())
                    .col(ColumnDef::new(Highlights::Title).string().not_null())
                    .col(ColumnDef::new(Highlights::Body).text().not_null())
                    .foreign_key(
                        ForeignKey::create()
                            .from(Highlights::Table, Highlights::Country)
                            .to(Countries::Table, Countries::Code),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("highlights_by_country_topic_position")
                    .table(Highlights::Table)
                    .col(Highlights::Country)
                    .col(Highlights::Topic)
                    .col(Highlights::Position)
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            Highlights::Table.into_iden(),
            CompanySectors::Table.into_iden(),
            Companies::Table.into_iden(),
            Sectors::Table.into_iden(),
            Metrics::Table.into_iden(),
            Sources::Table.into_iden(),
            Countries::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
