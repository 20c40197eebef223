//! Operator mutations. Each needs a valid token, checked for every operation
//! ([`require_operator`]), and each is one store [`Operation`], applied in the transaction that
//! writes its audit entry: no audit row, no change.

use crate::error::{ApiError, OrGraphqlError as _};
use crate::operator::require_operator;
use crate::types::{store, RefreshRun, Schedule};
use async_graphql::{Context, Object, Result, ID};
use techbalance_store::audit::Operation;
use techbalance_store::operations::{
    AcceptWithdrawals, CancelRun, CreateSchedule, DeleteSchedule, TriggerRefresh, UpdateSchedule,
};
use techbalance_store::schedules::{NewSchedule, ScheduleChange};

#[derive(Default)]
pub struct MutationRoot;

#[Object]
impl MutationRoot {
    /// Queues a refresh of `source` now. While one is queued, returns that one instead.
    async fn trigger_refresh(&self, ctx: &Context<'_>, source: String) -> Result<RefreshRun> {
        let (run, _) = perform(ctx, TriggerRefresh { source }).await?;
        Ok(RefreshRun(run))
    }

    /// Schedules refreshes of `source`: a six-field cron expression (seconds first) read in
    /// `timezone` (an IANA name). Idempotent: when `source` already has a schedule with this
    /// expression (fields compared after collapsing spaces) and zone, that schedule is returned
    /// unchanged.
    async fn create_schedule(
        &self,
        ctx: &Context<'_>,
        source: String,
        cron: String,
        #[graphql(default = "UTC")] timezone: String,
        #[graphql(default = true)] enabled: bool,
    ) -> Result<Schedule> {
        let mut new = NewSchedule {
            source,
            cron,
            timezone,
            enabled,
            created_by: String::new(),
        };
        let operation = CreateSchedule(new.clone());
        let operator = require_operator(ctx, operation.action(), &operation.arguments()).await?;
        new.created_by = operator.clone();
        store(ctx)
            .perform(&operator, CreateSchedule(new))
            .await
            .map(|(schedule, _created)| Schedule(schedule))
            .or_gql()
    }

    /// Changes a schedule's expression, time zone or whether it is enabled.
    async fn update_schedule(
        &self,
        ctx: &Context<'_>,
        id: ID,
        cron: Option<String>,
        timezone: Option<String>,
        enabled: Option<bool>,
    ) -> Result<Schedule> {
        let change = ScheduleChange {
            cron,
            timezone,
            enabled,
        };
        let id = numeric_id(ctx, "updateSchedule", "schedule", &id).await?;
        perform(ctx, UpdateSchedule { id, change })
            .await
            .map(Schedule)
    }

    /// Deletes a schedule (its past runs stay); returns its id.
    async fn delete_schedule(&self, ctx: &Context<'_>, id: ID) -> Result<ID> {
        let number = numeric_id(ctx, "deleteSchedule", "schedule", &id).await?;
        perform(ctx, DeleteSchedule { id: number }).await?;
        Ok(id)
    }

    /// Accepts the withdrawals a `HELD` run kept back: queues a refresh of its source that
    /// records every withdrawal its answer implies (or marks the source's queued run so), and
    /// returns that run. `BAD_USER_INPUT` when the run is not held.
    async fn accept_withdrawals(&self, ctx: &Context<'_>, run: ID) -> Result<RefreshRun> {
        let held = numeric_id(ctx, "acceptWithdrawals", "refresh run", &run).await?;
        perform(ctx, AcceptWithdrawals { held })
            .await
            .map(RefreshRun)
    }

    /// Cancels a queued run (a run already executing finishes).
    async fn cancel_run(&self, ctx: &Context<'_>, id: ID) -> Result<RefreshRun> {
        let id = numeric_id(ctx, "cancelRun", "refresh run", &id).await?;
        perform(ctx, CancelRun { id }).await.map(RefreshRun)
    }
}

/// Checks the caller, then applies `operation` with its audit entry.
async fn perform<O: Operation>(ctx: &Context<'_>, operation: O) -> Result<O::Output> {
    let operator = require_operator(ctx, operation.action(), &operation.arguments()).await?;
    store(ctx).perform(&operator, operation).await.or_gql()
}

/// The id of `what`; one that is not a number names nothing (for an operator, audited as such).
async fn numeric_id(ctx: &Context<'_>, action: &str, what: &'static str, id: &ID) -> Result<i64> {
    if let Ok(number) = id.parse() {
        return Ok(number);
    }
    let arguments = serde_json::json!({ "id": id.as_str() });
    let operator = require_operator(ctx, action, &arguments).await?;
    let error = ApiError::not_found(what, id.as_str());
    if let Err(e) = store(ctx)
        .record_audit(
            &operator,
            action,
            &arguments.to_string(),
            error.code().as_str(),
        )
        .await
    {
        tracing::error!(error = %e, action, "could not audit a failed operation (it changed nothing)");
    }
    Err(error.into_graphql())
}
