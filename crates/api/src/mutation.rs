//! Operator mutations. Each needs a valid token, and each is written to the audit log with its
//! arguments and outcome.

use crate::auth::Caller;
use crate::error::{ApiError, OrGraphqlError};
use crate::types::{store, RefreshRun, Schedule};
use async_graphql::{Context, Object, Result, ID};
use serde_json::json;
use std::future::Future;
use techbalance_store::schedules::{NewSchedule, ScheduleChange};
use techbalance_store::StoreError;

#[derive(Default)]
pub struct MutationRoot;

#[Object]
impl MutationRoot {
    /// Queues a refresh of `source` now. While one is queued, returns that one instead.
    async fn trigger_refresh(&self, ctx: &Context<'_>, source: String) -> Result<RefreshRun> {
        audited(ctx, "triggerRefresh", json!({ "source": source }), async {
            known_source(ctx, &source).await?;
            let (run, _) = store(ctx)
                .enqueue_manual(&source)
                .await
                .map_err(store_error)?;
            Ok(RefreshRun(run))
        })
        .await
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
        let arguments =
            json!({ "source": source, "cron": cron, "timezone": timezone, "enabled": enabled });
        audited(ctx, "createSchedule", arguments, async {
            let operator = operator_name(ctx)?;
            known_source(ctx, &source).await?;
            let (schedule, _) = store(ctx)
                .create_schedule(NewSchedule {
                    source,
                    cron,
                    timezone,
                    enabled,
                    created_by: operator,
                })
                .await
                .map_err(store_error)?;
            Ok(Schedule(schedule))
        })
        .await
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
        let arguments =
            json!({ "id": id.as_str(), "cron": cron, "timezone": timezone, "enabled": enabled });
        audited(ctx, "updateSchedule", arguments, async {
            let id = numeric_id("schedule", &id)?;
            store(ctx)
                .update_schedule(
                    id,
                    ScheduleChange {
                        cron,
                        timezone,
                        enabled,
                    },
                )
                .await
                .map_err(store_error)?
                .map(Schedule)
                .ok_or_else(|| ApiError::not_found("schedule", id.to_string()).into_graphql())
        })
        .await
    }

    /// Deletes a schedule (its past runs stay); returns its id.
    async fn delete_schedule(&self, ctx: &Context<'_>, id: ID) -> Result<ID> {
        audited(ctx, "deleteSchedule", json!({ "id": id.as_str() }), async {
            let number = numeric_id("schedule", &id)?;
            if store(ctx).delete_schedule(number).await.or_gql()? {
                Ok(id.clone())
            } else {
                Err(ApiError::not_found("schedule", id.as_str()).into_graphql())
            }
        })
        .await
    }

    /// Accepts the withdrawals a `HELD` run kept back: queues a refresh of its source that
    /// records every withdrawal its answer implies (or marks the source's queued run so), and
    /// returns that run. `BAD_USER_INPUT` when the run is not held.
    async fn accept_withdrawals(&self, ctx: &Context<'_>, run: ID) -> Result<RefreshRun> {
        audited(
            ctx,
            "acceptWithdrawals",
            json!({ "run": run.as_str() }),
            async {
                let number = numeric_id("refresh run", &run)?;
                store(ctx)
                    .accept_withdrawals(number)
                    .await
                    .map_err(store_error)?
                    .map(RefreshRun)
                    .ok_or_else(|| ApiError::not_found("refresh run", run.as_str()).into_graphql())
            },
        )
        .await
    }

    /// Cancels a queued run (a run already executing finishes).
    async fn cancel_run(&self, ctx: &Context<'_>, id: ID) -> Result<RefreshRun> {
        audited(ctx, "cancelRun", json!({ "id": id.as_str() }), async {
            let number = numeric_id("refresh run", &id)?;
            match store(ctx).cancel_run(number).await.or_gql()? {
                Some(run) => Ok(RefreshRun(run)),
                None => match store(ctx).run(number).await.or_gql()? {
                    Some(run) => Err(ApiError::bad_input(format!(
                        "run {number} is {}, only a queued run can be cancelled",
                        run.status
                    ))
                    .into_graphql()),
                    None => Err(ApiError::not_found("refresh run", id.as_str()).into_graphql()),
                },
            }
        })
        .await
    }
}

/// The operator making this request, or the error to answer with.
pub(crate) fn operator_name(ctx: &Context<'_>) -> Result<String> {
    match ctx.data_opt::<Caller>().unwrap_or(&Caller::Anonymous) {
        Caller::Operator(name) => Ok(name.clone()),
        Caller::Anonymous => Err(ApiError::Unauthenticated(
            "an operator token is required: send Authorization: Bearer <token>".into(),
        )
        .into_graphql()),
        Caller::Invalid => {
            Err(ApiError::Unauthenticated("the token is not valid".into()).into_graphql())
        }
        Caller::Revoked(name) => Err(ApiError::Forbidden(format!(
            "the token \"{name}\" has been revoked"
        ))
        .into_graphql()),
        Caller::Unknown => Err(ApiError::Unavailable.into_graphql()),
    }
}

/// Runs `work` for an operator and writes the audit entry; callers without a valid token get
/// their error and change nothing.
async fn audited<T>(
    ctx: &Context<'_>,
    action: &str,
    arguments: serde_json::Value,
    work: impl Future<Output = Result<T>>,
) -> Result<T> {
    let operator = operator_name(ctx)?;
    let result = work.await;
    let outcome = match &result {
        Ok(_) => "ok".to_owned(),
        Err(error) => error
            .extensions
            .as_ref()
            .and_then(|e| e.get("code"))
            .map(|code| code.to_string().trim_matches('"').to_owned())
            .unwrap_or_else(|| "error".to_owned()),
    };
    if let Err(e) = store(ctx)
        .record_audit(&operator, action, &arguments.to_string(), &outcome)
        .await
    {
        tracing::error!(error = %e, action, "could not write the audit entry");
    }
    result
}

async fn known_source(ctx: &Context<'_>, id: &str) -> Result<()> {
    match store(ctx).find_source(id).await.or_gql()? {
        Some(_) => Ok(()),
        None => Err(ApiError::bad_input(format!("unknown source \"{id}\"")).into_graphql()),
    }
}

fn numeric_id(what: &'static str, id: &ID) -> Result<i64> {
    id.parse()
        .map_err(|_| ApiError::not_found(what, id.as_str()).into_graphql())
}

/// Invalid schedules are the caller's fault; other store errors are not.
fn store_error(err: StoreError) -> async_graphql::Error {
    match err {
        StoreError::Invalid(message) | StoreError::Conflict(message) => {
            ApiError::BadInput(message).into_graphql()
        }
        other => ApiError::from(other).into_graphql(),
    }
}
