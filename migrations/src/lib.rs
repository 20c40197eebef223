//! Schema migrations of techbalance, one file per step, each runnable on PostgreSQL and SQLite.

pub use sea_orm_migration::prelude::*;

mod m20261128_000001_create_reference_tables;
mod m20261128_000002_create_refresh_runs;
mod m20261128_000003_create_observations;
mod m20261129_000004_create_schedules_tokens_audit;
mod m20261130_000005_add_run_withdrawal_guard;
mod m20261130_180000_add_unique_schedule_timing;
mod m20261130_180100_add_run_wait_reason;
mod m20261130_180200_create_change_notices;
mod m20261130_184500_classify_errors_and_aggregate_refusals;
mod m20261130_190000_index_current_observations;
mod m20261130_213000_add_country_kind;
mod m20261130_220000_add_provenance_and_sector_evidence;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261128_000001_create_reference_tables::Migration),
            Box::new(m20261128_000002_create_refresh_runs::Migration),
            Box::new(m20261128_000003_create_observations::Migration),
            Box::new(m20261129_000004_create_schedules_tokens_audit::Migration),
            Box::new(m20261130_000005_add_run_withdrawal_guard::Migration),
            Box::new(m20261130_180000_add_unique_schedule_timing::Migration),
            Box::new(m20261130_180100_add_run_wait_reason::Migration),
            Box::new(m20261130_180200_create_change_notices::Migration),
            Box::new(m20261130_184500_classify_errors_and_aggregate_refusals::Migration),
            Box::new(m20261130_190000_index_current_observations::Migration),
            Box::new(m20261130_213000_add_country_kind::Migration),
            Box::new(m20261130_220000_add_provenance_and_sector_evidence::Migration),
        ]
    }
}
