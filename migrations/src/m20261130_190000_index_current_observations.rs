//! Indexes that answer "the latest value" and "which sources publish a metric" from the current
//! versions alone, one probe per requested (metric, country) or (metric, source) pair, instead
//! of a window or a `DISTINCT` over every current observation.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        // `latest_values`: a (metric, country) pair's newest year is the first entry; the
        // preferred source is chosen among that year's few entries.
        db.execute_unprepared(
            "CREATE INDEX observations_latest \
             ON observations (metric, country, year DESC, source) \
             WHERE recorded_to IS NULL AND value IS NOT NULL",
        )
        .await?;
        // `metric_sources`: whether a source has any current value of a metric.
        db.execute_unprepared(
            "CREATE INDEX observations_current_by_source \
             ON observations (metric, source) \
             WHERE recorded_to IS NULL AND value IS NOT NULL",
        )
        .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        db.execute_unprepared("DROP INDEX observations_current_by_source")
            .await?;
        db.execute_unprepared("DROP INDEX observations_latest")
            .await?;
        Ok(())
    }
}
