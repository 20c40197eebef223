//! Operations: refresh runs, schedules and the audit log of operators' mutations.

use super::{required, Source};
use crate::loaders::SourceId;
use async_graphql::{Context, Enum, Object, Result, ID};
use chrono::{DateTime, Utc};
use techbalance_store::entities::{audit_entry, refresh_run, schedule};

/// What set a refresh run off.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(remote = "refresh_run::RunTrigger")]
pub enum RunTrigger {
    Manual,
    Schedule,
}

/// Where a refresh run stands.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "refresh_run::RunStatus")]
pub enum RunStatus {
    Queued,
    Running,
    Succeeded,
    /// Finished, but withdrawals were held back for an operator (see `heldWithdrawals`, `notes`
    /// and the `acceptWithdrawals` mutation); everything else was recorded.
    Held,
    Failed,
    Cancelled,
}

/// Why a queued run waits before a worker may start it.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "refresh_run::WaitReason")]
pub enum RunWaitReason {
    /// The retry backoff after a failed attempt (`TECHBALANCE_RUN_RETRY_SECS` × 2^(attempt−2)).
    Backoff,
    /// The source answered 429 or 503 with `Retry-After`: the run waits until the time it asked
    /// for, at most `TECHBALANCE_RUN_RETRY_AFTER_MAX_SECS` (the run's `error` quotes the answer).
    RetryAfter,
}

pub struct RefreshRun(pub refresh_run::Model);

impl RefreshRun {
    fn is_queued(&self) -> bool {
        self.0.status == refresh_run::RunStatus::Queued
    }
}

/// One attempt to bring a source's figures in.
#[Object]
impl RefreshRun {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    async fn source(&self, ctx: &Context<'_>) -> Result<Source> {
        required(ctx, SourceId(self.0.source.clone()))
            .await
            .map(Source)
    }
    async fn trigger(&self) -> RunTrigger {
        self.0.trigger.into()
    }
    async fn status(&self) -> RunStatus {
        self.0.status.into()
    }
    /// The schedule's fire time; null for a manual run.
    async fn scheduled_for(&self) -> Option<DateTime<Utc>> {
        self.0.scheduled_for
    }
    async fn attempt(&self) -> i32 {
        self.0.attempt
    }
    /// While the run is queued: the earliest instant a worker may start it (null when it may
    /// start at once).
    async fn not_before(&self) -> Option<DateTime<Utc>> {
        self.0.not_before.filter(|_| self.is_queued())
    }
    /// While the run is queued for a later attempt: why it waits until `notBefore`.
    async fn wait_reason(&self) -> Option<RunWaitReason> {
        self.0
            .wait_reason
            .filter(|_| self.is_queued())
            .map(Into::into)
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    async fn started_at(&self) -> Option<DateTime<Utc>> {
        self.0.started_at
    }
    async fn finished_at(&self) -> Option<DateTime<Utc>> {
        self.0.finished_at
    }
    async fn pages_fetched(&self) -> i64 {
        self.0.pages_fetched
    }
    /// Observations received from the source.
    async fn fetched(&self) -> i64 {
        self.0.fetched
    }
    /// First versions recorded (new years, or withdrawn values published again).
    async fn inserted(&self) -> i64 {
        self.0.inserted
    }
    async fn revised(&self) -> i64 {
        self.0.revised
    }
    async fn withdrawn(&self) -> i64 {
        self.0.withdrawn
    }
    async fn unchanged(&self) -> i64 {
        self.0.unchanged
    }
    /// The source's release marker as of this run.
    async fn release(&self) -> Option<&str> {
        self.0.release.as_deref()
    }
    /// Why the run failed, in words anyone may read (no URL, credential or database message).
    async fn error(&self) -> Option<&str> {
        self.0.error.as_deref()
    }
    /// The class of the failure, stable: `UPSTREAM_UNREACHABLE`, `UPSTREAM_REFUSED`,
    /// `UPSTREAM_MALFORMED`, `UPSTREAM_THROTTLED`, `STORAGE_UNAVAILABLE`, `STORAGE_FAILURE`, `STORAGE_LOST`,
    /// `RUN_CONFLICT`, `BASELINE_INVALID`, `SOURCE_UNKNOWN`, `INTERRUPTED` (or `UNCLASSIFIED`
    /// for runs recorded before errors were classified).
    async fn error_code(&self) -> Option<&str> {
        self.0.error_code.as_deref()
    }
    /// The full failure (URLs with their credentials masked). Operators only: `UNAUTHENTICATED`
    /// or `FORBIDDEN` otherwise.
    async fn error_detail(&self, ctx: &Context<'_>) -> Result<Option<&str>> {
        crate::operator::check_operator(ctx)?;
        Ok(self.0.error_detail.as_deref())
    }
    /// Remarks, such as the baseline file read and its SHA-256, series the source retired,
    /// countries it refused or left out, conflicts in its answer, and withdrawals held.
    async fn notes(&self) -> Option<&str> {
        self.0.notes.as_deref()
    }
    /// Withdrawals the guard held back for an operator (current values the source's answer no
    /// longer had, left as they were); 0 unless the run is `HELD`.
    async fn held_withdrawals(&self) -> i64 {
        self.0.held_withdrawals
    }
    /// Whether the run records every withdrawal, because an operator accepted them.
    async fn accepts_withdrawals(&self) -> bool {
        self.0.accept_withdrawals
    }
}

pub struct Schedule(pub schedule::Model);

/// When a source is refreshed.
#[Object]
impl Schedule {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    async fn source(&self, ctx: &Context<'_>) -> Result<Source> {
        required(ctx, SourceId(self.0.source.clone()))
            .await
            .map(Source)
    }
    /// Six fields, seconds first (`0 0 3 * * *`: every day at 03:00:00).
    async fn cron(&self) -> &str {
        &self.0.cron
    }
    async fn timezone(&self) -> &str {
        &self.0.timezone
    }
    async fn enabled(&self) -> bool {
        self.0.enabled
    }
    /// The operator (token name) who created it, or `system`.
    async fn created_by(&self) -> &str {
        &self.0.created_by
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
    async fn last_fired_at(&self) -> Option<DateTime<Utc>> {
        self.0.last_fired_at
    }
    /// The next fire time; null while disabled.
    async fn next_fire_at(&self) -> Option<DateTime<Utc>> {
        if !self.0.enabled {
            return None;
        }
        techbalance_store::schedules::CronSchedule::parse(&self.0.cron, &self.0.timezone)
            .ok()
            .and_then(|c| c.next_after(techbalance_store::now()))
    }
}

pub struct AuditEntry(pub audit_entry::Model);

/// One mutation an operator made, or refused attempts counted together (`attempts` of them
/// between `at` and `lastAt`, from `address`).
#[Object]
impl AuditEntry {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    /// The operator's token name (`cli:<user>` from the command line); for refused attempts,
    /// the revoked token's name, `anonymous` or `invalid token`.
    async fn actor(&self) -> &str {
        &self.0.actor
    }
    /// The mutation, e.g. `triggerRefresh`.
    async fn action(&self) -> &str {
        &self.0.action
    }
    /// Its arguments.
    async fn arguments(&self) -> async_graphql::Json<serde_json::Value> {
        async_graphql::Json(
            serde_json::from_str(&self.0.arguments).unwrap_or(serde_json::Value::Null),
        )
    }
    /// `ok`, or the error code the mutation answered with.
    async fn outcome(&self) -> &str {
        &self.0.outcome
    }
    /// When it happened; for counted refusals, the first attempt.
    async fn at(&self) -> DateTime<Utc> {
        self.0.at
    }
    /// How many attempts the entry stands for: 1, or more for refused attempts counted together.
    async fn attempts(&self) -> i64 {
        self.0.attempts
    }
    /// The last attempt counted, for refused attempts.
    async fn last_at(&self) -> Option<DateTime<Utc>> {
        self.0.last_at
    }
    /// The client address, for refused attempts (`*` for the overflow entry of a window).
    async fn address(&self) -> Option<&str> {
        self.0.address.as_deref()
    }
}
