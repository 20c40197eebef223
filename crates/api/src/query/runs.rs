//! Operations: refresh runs (what the worker did, newest first), schedules, the audit log.

use super::arguments;
use crate::connection::{
    decode_id_cursor, id_cursor, page_size, AuditEntryConnection, Page, RefreshRunConnection,
};
use crate::error::{ApiError, OrGraphqlError};
use crate::types::{store, AuditEntry, RefreshRun, RunStatus, Schedule};
use async_graphql::{Context, Object, Result, ID};
use techbalance_store::runs::RunFilter;

const CURSOR: &str = "run";
const AUDIT_CURSOR: &str = "audit";

#[derive(Default)]
pub struct RunsQuery;

#[Object]
impl RunsQuery {
    /// Refresh runs, newest first, optionally of one source and/or in one status.
    async fn refresh_runs(
        &self,
        ctx: &Context<'_>,
        source: Option<String>,
        status: Option<RunStatus>,
        #[graphql(desc = "Page size, 0 to 100", default = 20)] first: i32,
        after: Option<String>,
    ) -> Result<RefreshRunConnection> {
        let limit = page_size(first).or_gql()?;
        let after = after
            .as_deref()
            .map(|c| decode_id_cursor(CURSOR, c))
            .transpose()
            .or_gql()?;
        let filter = RunFilter {
            source: arguments::optional_source(ctx, source).await?,
            status: status.map(Into::into),
        };
        let rows = store(ctx).runs(&filter, after, limit + 1).await.or_gql()?;
        let total = store(ctx).count_runs(&filter).await.or_gql()?;
        Ok(Page::from_rows(
            rows,
            limit,
            after.is_some(),
            total,
            |r| id_cursor(CURSOR, r.id),
            RefreshRun,
        ))
    }

    /// One refresh run.
    async fn refresh_run(&self, ctx: &Context<'_>, id: ID) -> Result<RefreshRun> {
        let not_found = || ApiError::not_found("refresh run", id.as_str()).into_graphql();
        let id: i64 = id.parse().map_err(|_| not_found())?;
        store(ctx)
            .run(id)
            .await
            .or_gql()?
            .map(RefreshRun)
            .ok_or_else(not_found)
    }

    /// Every refresh schedule.
    async fn schedules(&self, ctx: &Context<'_>) -> Result<Vec<Schedule>> {
        Ok(store(ctx)
            .schedules()
            .await
            .or_gql()?
            .into_iter()
            .map(Schedule)
            .collect())
    }

    /// The mutations operators made, newest first. Operators only.
    async fn audit_log(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size, 0 to 100", default = 20)] first: i32,
        after: Option<String>,
    ) -> Result<AuditEntryConnection> {
        let arguments = serde_json::json!({ "first": first, "after": after });
        crate::operator::require_operator(ctx, "auditLog", &arguments).await?;
        let limit = page_size(first).or_gql()?;
        let after = after
            .as_deref()
            .map(|c| decode_id_cursor(AUDIT_CURSOR, c))
            .transpose()
            .or_gql()?;
        let rows = store(ctx).audit_log(after, limit + 1).await.or_gql()?;
        let total = store(ctx).count_audit_log().await.or_gql()?;
        Ok(Page::from_rows(
            rows,
            limit,
            after.is_some(),
            total,
            |e| id_cursor(AUDIT_CURSOR, e.id),
            AuditEntry,
        ))
    }
}
