//! The audit log: who did what, when, with which arguments, and how it ended.
//!
//! An operator action is an [`Operation`]; [`Store::perform`] applies it in one transaction with
//! its audit entry, so there is no change without its audit row: when the entry cannot be
//! written, the operation fails ([`StoreError::AuditFailed`]) and changes nothing. The API's
//! mutations and the command line both go through it.
//!
//! Refused attempts (no token, a bad or a revoked one) are recorded by [`Store::record_refusal`],
//! counted rather than listed so that a flood cannot fill the disk: one row per
//! [`REFUSAL_WINDOW_SECS`] window, caller, address, action and outcome, whose `attempts` grows with
//! each attempt; past [`MAX_REFUSAL_ROWS`] rows in a window, further attempts are counted together
//! in one overflow row of that window (caller and address `*`); such rows are kept
//! [`REFUSAL_RETENTION_DAYS`] days.

use crate::changes::Notice;
use crate::entities::audit_entry;
use crate::{Store, StoreError, Timestamp, Transaction};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use std::future::Future;

/// Length of the window refused attempts are counted in.
pub const REFUSAL_WINDOW_SECS: i64 = 600;
/// Rows of refused attempts one window may hold before the rest share one overflow row.
pub const MAX_REFUSAL_ROWS: u64 = 100;
/// How long rows of refused attempts are kept.
pub const REFUSAL_RETENTION_DAYS: i64 = 30;
/// Longest arguments kept of a refused attempt (its first one).
const MAX_REFUSAL_ARGUMENTS: usize = 1_000;

/// An operator action, applied with its audit entry by [`Store::perform`].
pub trait Operation: Send {
    type Output: Send;

    /// The action as the audit log names it (the mutation's name, e.g. `createSchedule`).
    fn action(&self) -> &'static str;

    /// Its arguments, as the audit log keeps them.
    fn arguments(&self) -> serde_json::Value;

    /// Applies it inside `txn`.
    fn apply(
        self,
        txn: &Transaction,
    ) -> impl Future<Output = Result<Self::Output, StoreError>> + Send;

    /// What to announce to subscribers once it is committed.
    fn notices(_output: &Self::Output) -> Vec<Notice> {
        Vec::new()
    }
}

/// A refused attempt, as [`Store::record_refusal`] counts it.
#[derive(Clone, Copy, Debug)]
pub struct Refusal<'a> {
    /// The token's name when it was revoked, else `anonymous` or `invalid token`.
    pub actor: &'a str,
    /// The client address, when known.
    pub address: Option<&'a str>,
    /// What was attempted (a mutation or an operator read).
    pub action: &'a str,
    /// Its arguments, as JSON (only the first attempt's are kept).
    pub arguments: &'a str,
    /// The error code answered (`UNAUTHENTICATED`, `FORBIDDEN`).
    pub outcome: &'a str,
}

fn entry(
    actor: &str,
    action: &str,
    arguments: &str,
    outcome: &str,
    at: Timestamp,
) -> audit_entry::ActiveModel {
    audit_entry::ActiveModel {
        id: NotSet,
        actor: Set(actor.to_owned()),
        action: Set(action.to_owned()),
        arguments: Set(arguments.to_owned()),
        outcome: Set(outcome.to_owned()),
        at: Set(at),
        address: Set(None),
        attempts: Set(1),
        last_at: Set(None),
        aggregate_key: Set(None),
    }
}

async fn insert(
    db: &impl ConnectionTrait,
    row: audit_entry::ActiveModel,
) -> Result<audit_entry::Model, StoreError> {
    Ok(audit_entry::Entity::insert(row)
        .exec_with_returning(db)
        .await?)
}

/// Writes an audit entry inside `txn`, the transaction of the change it records (for changes
/// that are not an [`Operation`]: a refresh an operator allowed to withdraw values). Its failure
/// is [`StoreError::AuditFailed`]: roll the change back.
pub async fn record_in(
    txn: &Transaction,
    actor: &str,
    action: &str,
    arguments: &str,
) -> Result<(), StoreError> {
    insert(txn, entry(actor, action, arguments, "ok", crate::now()))
        .await
        .map(|_| ())
        .map_err(|e| StoreError::AuditFailed(Box::new(e)))
}

impl Store {
    /// Applies `operation` for `actor` and writes its audit entry in the same transaction; a
    /// failed operation changes nothing and is audited with its error code. When the entry
    /// cannot be written, nothing changes and the error is [`StoreError::AuditFailed`].
    pub async fn perform<O: Operation>(
        &self,
        actor: &str,
        operation: O,
    ) -> Result<O::Output, StoreError> {
        let action = operation.action();
        let arguments = operation.arguments().to_string();
        let txn = self.begin().await?;
        match operation.apply(&txn).await {
            Ok(output) => {
                let audited = insert(&txn, entry(actor, action, &arguments, "ok", crate::now()));
                if let Err(error) = audited.await {
                    let _ = txn.rollback().await;
                    tracing::error!(%error, action, actor, "the audit entry could not be written; nothing was changed");
                    return Err(StoreError::AuditFailed(Box::new(error)));
                }
                Store::commit(txn).await?;
                self.announce_all(O::notices(&output)).await;
                Ok(output)
            }
            Err(error) => {
                let _ = txn.rollback().await;
                if let Err(e) = self
                    .record_audit(actor, action, &arguments, error.code())
                    .await
                {
                    tracing::error!(error = %e, action, actor, "could not audit a failed operation (it changed nothing)");
                }
                Err(error)
            }
        }
    }

    /// Applies `operation` in a transaction of its own, without an audit entry: for the store's
    /// own callers (seeding, tests), never for an operator's action.
    pub(crate) async fn apply_unaudited<O: Operation>(
        &self,
        operation: O,
    ) -> Result<O::Output, StoreError> {
        let txn = self.begin().await?;
        let output = operation.apply(&txn).await?;
        Store::commit(txn).await?;
        self.announce_all(O::notices(&output)).await;
        Ok(output)
    }

    /// Announces an operation's notices, or [`Notice::Changed`] when it has none: every
    /// committed operation makes cached answers stale, in every process.
    async fn announce_all(&self, notices: Vec<Notice>) {
        if notices.is_empty() {
            self.announce(Notice::Changed).await;
        }
        for notice in notices {
            self.announce(notice).await;
        }
    }

    /// Writes one audit entry on its own (an operation that failed and changed nothing).
    pub async fn record_audit(
        &self,
        actor: &str,
        action: &str,
        arguments: &str,
        outcome: &str,
    ) -> Result<audit_entry::Model, StoreError> {
        self.writable()?;
        insert(
            &self.db,
            entry(actor, action, arguments, outcome, crate::now()),
        )
        .await
    }

    /// Counts a refused attempt (see the module's documentation for the rule).
    pub async fn record_refusal(&self, refusal: Refusal<'_>) -> Result<(), StoreError> {
        self.record_refusal_at(refusal, crate::now()).await
    }

    /// [`Store::record_refusal`] as if it were `now` (tests place attempts in one window).
    pub async fn record_refusal_at(
        &self,
        refusal: Refusal<'_>,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        self.writable()?;
        let seconds = now.timestamp();
        let window = seconds - seconds.rem_euclid(REFUSAL_WINDOW_SECS);
        let address = refusal.address.unwrap_or("-");
        let key = format!(
            "{window}|{}|{address}|{}|{}",
            refusal.actor, refusal.action, refusal.outcome
        );
        if self.count_again(&key, now).await? {
            return Ok(());
        }
        let window_start = chrono::DateTime::from_timestamp(window, 0).unwrap_or(now);
        let rows = audit_entry::Entity::find()
            .filter(audit_entry::Column::At.gte(window_start))
            .filter(audit_entry::Column::AggregateKey.is_not_null())
            .count(&self.db)
            .await?;
        if rows == 0 {
            // A new window: forget the refusals past retention.
            let horizon = now - chrono::Duration::days(REFUSAL_RETENTION_DAYS);
            audit_entry::Entity::delete_many()
                .filter(audit_entry::Column::AggregateKey.is_not_null())
                .filter(audit_entry::Column::At.lt(horizon))
                .exec(&self.db)
                .await?;
        }
        let arguments: String = refusal
            .arguments
            .chars()
            .take(MAX_REFUSAL_ARGUMENTS)
            .collect();
        let mut row = entry(
            refusal.actor,
            refusal.action,
            &arguments,
            refusal.outcome,
            now,
        );
        if rows < MAX_REFUSAL_ROWS {
            row.address = Set(Some(address.to_owned()));
            row.aggregate_key = Set(Some(key));
        } else {
            row.actor = Set("*".to_owned());
            row.action = Set("*".to_owned());
            row.arguments = Set("{}".to_owned());
            row.outcome = Set("REFUSED".to_owned());
            row.address = Set(Some("*".to_owned()));
            row.aggregate_key = Set(Some(format!("{window}|*")));
        }
        row.last_at = Set(Some(now));
        // Another attempt may have created the row meanwhile: then it counts this one.
        audit_entry::Entity::insert(row)
            .on_conflict(
                OnConflict::column(audit_entry::Column::AggregateKey)
                    .value(
                        audit_entry::Column::Attempts,
                        Expr::col((audit_entry::Entity, audit_entry::Column::Attempts)).add(1),
                    )
                    .update_column(audit_entry::Column::LastAt)
                    .to_owned(),
            )
            .exec_without_returning(&self.db)
            .await?;
        Ok(())
    }

    /// Counts one more attempt on the row `key`; false when there is no such row.
    async fn count_again(&self, key: &str, now: Timestamp) -> Result<bool, StoreError> {
        let counted = audit_entry::Entity::update_many()
            .col_expr(
                audit_entry::Column::Attempts,
                Expr::col(audit_entry::Column::Attempts).add(1),
            )
            .col_expr(audit_entry::Column::LastAt, now.into())
            .filter(audit_entry::Column::AggregateKey.eq(key))
            .exec(&self.db)
            .await?;
        Ok(counted.rows_affected > 0)
    }

    /// Entries newest first, older than the entry `before` when given.
    pub async fn audit_log(
        &self,
        before: Option<i64>,
        limit: u64,
    ) -> Result<Vec<audit_entry::Model>, StoreError> {
        let mut query = audit_entry::Entity::find()
            .order_by_desc(audit_entry::Column::Id)
            .limit(limit);
        if let Some(before) = before {
            query = query.filter(audit_entry::Column::Id.lt(before));
        }
        Ok(query.all(&self.db).await?)
    }

    pub async fn count_audit_log(&self) -> Result<u64, StoreError> {
        Ok(audit_entry::Entity::find().count(&self.db).await?)
    }
}
