//! The operator actions, each an [`Operation`] that [`Store::perform`](crate::Store::perform)
//! applies in one transaction with its audit entry. The API's mutations and the command line
//! build these and nothing else, so both are audited the same way.

use crate::audit::Operation;
use crate::changes::Notice;
use crate::entities::{api_token, refresh_run, schedule, source};
use crate::error::is_unique_violation;
use crate::queue::{new_run, queued_run};
use crate::runs::{RunStatus, RunTrigger};
use crate::schedules::{CronSchedule, NewSchedule, ScheduleChange};
use crate::{StoreError, Transaction};
use sea_orm::{
    ActiveEnum,
    ActiveValue::{NotSet, Set},
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, TransactionTrait,
};
use serde_json::json;

/// Queues a manual refresh of `source`; while one is queued, that one is returned instead
/// (`false`: nothing was queued).
pub struct TriggerRefresh {
    pub source: String,
}

/// Creates a schedule.
pub struct CreateSchedule(pub NewSchedule);

/// Changes a schedule.
pub struct UpdateSchedule {
    pub id: i64,
    pub change: ScheduleChange,
}

/// Deletes a schedule (its past runs stay).
pub struct DeleteSchedule {
    pub id: i64,
}

/// Cancels a queued run.
pub struct CancelRun {
    pub id: i64,
}

/// Stores a new operator token (its hash).
pub struct CreateToken {
    pub name: String,
    pub token_hash: String,
}

/// Revokes the active token `name`.
pub struct RevokeToken {
    pub name: String,
}

async fn known_source(db: &impl ConnectionTrait, id: &str) -> Result<(), StoreError> {
    match source::Entity::find_by_id(id).one(db).await? {
        Some(_) => Ok(()),
        None => Err(StoreError::Invalid(format!("unknown source \"{id}\""))),
    }
}

impl Operation for TriggerRefresh {
    type Output = (refresh_run::Model, bool);

    fn action(&self) -> &'static str {
        "triggerRefresh"
    }

    fn arguments(&self) -> serde_json::Value {
        json!({ "source": self.source })
    }

    async fn apply(self, txn: &Transaction) -> Result<Self::Output, StoreError> {
        known_source(txn, &self.source).await?;
        if let Some(queued) = queued_run(txn, &self.source).await? {
            return Ok((queued, false));
        }
        // A savepoint: another process may queue one between the read and the insert, and a
        // failed statement would end the whole transaction on PostgreSQL.
        let savepoint = txn.begin().await?;
        let inserted =
            refresh_run::Entity::insert(new_run(&self.source, RunTrigger::Manual, crate::now()))
                .exec_with_returning(&savepoint)
                .await;
        match inserted {
            Ok(run) => {
                savepoint.commit().await?;
                Ok((run, true))
            }
            Err(err) if is_unique_violation(&err) => {
                savepoint.rollback().await?;
                match queued_run(txn, &self.source).await? {
                    Some(queued) => Ok((queued, false)),
                    None => Err(StoreError::Conflict(format!(
                        "could not queue a run of {}",
                        self.source
                    ))),
                }
            }
            Err(err) => Err(err.into()),
        }
    }

    fn notices((run, queued): &Self::Output) -> Vec<Notice> {
        if *queued {
            vec![Notice::Run { run: run.id }]
        } else {
            Vec::new()
        }
    }
}

impl Operation for CreateSchedule {
    /// The schedule, and whether it was created now (`false`: an identical one existed).
    type Output = (schedule::Model, bool);

    fn action(&self) -> &'static str {
        "createSchedule"
    }

    fn arguments(&self) -> serde_json::Value {
        let new = &self.0;
        json!({ "source": new.source, "cron": new.cron, "timezone": new.timezone, "enabled": new.enabled })
    }

    async fn apply(self, txn: &Transaction) -> Result<Self::Output, StoreError> {
        known_source(txn, &self.0.source).await?;
        insert_schedule(txn, self.0).await
    }
}

/// Inserts a schedule after checking its expression and time zone, or returns the schedule that
/// already has this source, expression and zone (`false`). The expression is stored with single
/// spaces between its fields, the zone by its IANA name; a unique key on the three makes this
/// hold across processes too.
pub(crate) async fn insert_schedule<C>(
    db: &C,
    new: NewSchedule,
) -> Result<(schedule::Model, bool), StoreError>
where
    C: ConnectionTrait + TransactionTrait,
{
    let checked = CronSchedule::parse(&new.cron, &new.timezone).map_err(StoreError::Invalid)?;
    let (cron, timezone) = (checked.expression(), checked.timezone().name());
    if let Some(existing) = schedule_with(db, &new.source, cron, timezone).await? {
        return Ok((existing, false));
    }
    let now = crate::now();
    let row = schedule::ActiveModel {
        id: NotSet,
        source: Set(new.source.clone()),
        cron: Set(cron.to_owned()),
        timezone: Set(timezone.to_owned()),
        enabled: Set(new.enabled),
        created_by: Set(new.created_by),
        created_at: Set(now),
        updated_at: Set(now),
        last_fired_at: Set(None),
    };
    // A savepoint: another process may create the same schedule between the read and the
    // insert, and a failed statement would end the whole transaction on PostgreSQL.
    let savepoint = db.begin().await?;
    match schedule::Entity::insert(row)
        .exec_with_returning(&savepoint)
        .await
    {
        Ok(created) => {
            savepoint.commit().await?;
            Ok((created, true))
        }
        Err(err) if is_unique_violation(&err) => {
            savepoint.rollback().await?;
            schedule_with(db, &new.source, cron, timezone)
                .await?
                .map(|existing| (existing, false))
                .ok_or_else(|| StoreError::Conflict("could not create the schedule".into()))
        }
        Err(err) => Err(err.into()),
    }
}

async fn schedule_with(
    db: &impl ConnectionTrait,
    source: &str,
    cron: &str,
    timezone: &str,
) -> Result<Option<schedule::Model>, StoreError> {
    Ok(schedule::Entity::find()
        .filter(schedule::Column::Source.eq(source))
        .filter(schedule::Column::Cron.eq(cron))
        .filter(schedule::Column::Timezone.eq(timezone))
        .one(db)
        .await?)
}

impl Operation for UpdateSchedule {
    type Output = schedule::Model;

    fn action(&self) -> &'static str {
        "updateSchedule"
    }

    fn arguments(&self) -> serde_json::Value {
        let c = &self.change;
        json!({ "id": self.id.to_string(), "cron": c.cron, "timezone": c.timezone, "enabled": c.enabled })
    }

    /// A change that would make the schedule identical to another schedule of its source is
    /// refused (a conflict naming that one).
    async fn apply(self, txn: &Transaction) -> Result<Self::Output, StoreError> {
        let not_found = || StoreError::NotFound {
            what: "schedule",
            id: self.id.to_string(),
        };
        let Some(current) = schedule::Entity::find_by_id(self.id).one(txn).await? else {
            return Err(not_found());
        };
        let change = self.change;
        let checked = CronSchedule::parse(
            change.cron.as_deref().unwrap_or(&current.cron),
            change.timezone.as_deref().unwrap_or(&current.timezone),
        )
        .map_err(StoreError::Invalid)?;
        let (cron, timezone) = (checked.expression(), checked.timezone().name());
        if let Some(other) = schedule_with(txn, &current.source, cron, timezone)
            .await?
            .filter(|other| other.id != self.id)
        {
            return Err(StoreError::Conflict(format!(
                "schedule {} already refreshes {} at \"{cron}\" in {timezone}",
                other.id, current.source
            )));
        }
        let savepoint = txn.begin().await?;
        let updated = schedule::Entity::update_many()
            .col_expr(schedule::Column::Cron, cron.into())
            .col_expr(schedule::Column::Timezone, timezone.into())
            .col_expr(
                schedule::Column::Enabled,
                change.enabled.unwrap_or(current.enabled).into(),
            )
            .col_expr(schedule::Column::UpdatedAt, crate::now().into())
            .filter(schedule::Column::Id.eq(self.id))
            .exec(&savepoint)
            .await;
        match updated {
            Ok(_) => savepoint.commit().await?,
            Err(err) if is_unique_violation(&err) => {
                savepoint.rollback().await?;
                return Err(StoreError::Conflict(format!(
                    "another schedule already refreshes {} at \"{cron}\" in {timezone}",
                    current.source
                )));
            }
            Err(err) => return Err(err.into()),
        }
        schedule::Entity::find_by_id(self.id)
            .one(txn)
            .await?
            .ok_or_else(not_found)
    }
}

impl Operation for DeleteSchedule {
    type Output = ();

    fn action(&self) -> &'static str {
        "deleteSchedule"
    }

    fn arguments(&self) -> serde_json::Value {
        json!({ "id": self.id.to_string() })
    }

    async fn apply(self, txn: &Transaction) -> Result<(), StoreError> {
        let deleted = schedule::Entity::delete_by_id(self.id).exec(txn).await?;
        if deleted.rows_affected == 1 {
            Ok(())
        } else {
            Err(StoreError::NotFound {
                what: "schedule",
                id: self.id.to_string(),
            })
        }
    }
}

impl Operation for CancelRun {
    type Output = refresh_run::Model;

    fn action(&self) -> &'static str {
        "cancelRun"
    }

    fn arguments(&self) -> serde_json::Value {
        json!({ "id": self.id.to_string() })
    }

    async fn apply(self, txn: &Transaction) -> Result<Self::Output, StoreError> {
        let id = self.id;
        let cancelled = refresh_run::Entity::update_many()
            .col_expr(refresh_run::Column::Status, RunStatus::Cancelled.into())
            .col_expr(refresh_run::Column::FinishedAt, crate::now().into())
            .filter(refresh_run::Column::Id.eq(id))
            .filter(refresh_run::Column::Status.eq(RunStatus::Queued))
            .exec(txn)
            .await?;
        let run = refresh_run::Entity::find_by_id(id).one(txn).await?;
        match run {
            Some(run) if cancelled.rows_affected == 1 => Ok(run),
            Some(run) => Err(StoreError::Invalid(format!(
                "run {id} is {}, only a queued run can be cancelled",
                run.status.to_value()
            ))),
            None => Err(StoreError::NotFound {
                what: "refresh run",
                id: id.to_string(),
            }),
        }
    }

    fn notices(run: &Self::Output) -> Vec<Notice> {
        vec![Notice::Run { run: run.id }]
    }
}

impl Operation for CreateToken {
    type Output = ();

    fn action(&self) -> &'static str {
        "createToken"
    }

    fn arguments(&self) -> serde_json::Value {
        json!({ "name": self.name })
    }

    async fn apply(self, txn: &Transaction) -> Result<(), StoreError> {
        let row = api_token::ActiveModel {
            id: NotSet,
            name: Set(self.name.clone()),
            token_hash: Set(self.token_hash),
            created_at: Set(crate::now()),
            revoked_at: Set(None),
        };
        match api_token::Entity::insert(row).exec(txn).await {
            Ok(_) => Ok(()),
            Err(err) if is_unique_violation(&err) => Err(StoreError::Conflict(format!(
                "a token named \"{}\" already exists",
                self.name
            ))),
            Err(err) => Err(err.into()),
        }
    }
}

impl Operation for RevokeToken {
    type Output = ();

    fn action(&self) -> &'static str {
        "revokeToken"
    }

    fn arguments(&self) -> serde_json::Value {
        json!({ "name": self.name })
    }

    async fn apply(self, txn: &Transaction) -> Result<(), StoreError> {
        let revoked = api_token::Entity::update_many()
            .col_expr(api_token::Column::RevokedAt, crate::now().into())
            .filter(api_token::Column::Name.eq(&self.name))
            .filter(api_token::Column::RevokedAt.is_null())
            .exec(txn)
            .await?;
        if revoked.rows_affected == 1 {
            Ok(())
        } else {
            Err(StoreError::NotFound {
                what: "active token",
                id: self.name,
            })
        }
    }
}

/// Accepts the withdrawals the run `held` kept back: queues a run of its source that records
/// every withdrawal its fetch implies (or marks the source's queued run so), and returns it.
pub struct AcceptWithdrawals {
    pub held: i64,
}

impl Operation for AcceptWithdrawals {
    type Output = refresh_run::Model;

    fn action(&self) -> &'static str {
        "acceptWithdrawals"
    }

    fn arguments(&self) -> serde_json::Value {
        json!({ "run": self.held.to_string() })
    }

    async fn apply(self, txn: &Transaction) -> Result<Self::Output, StoreError> {
        let held = self.held;
        let Some(run) = refresh_run::Entity::find_by_id(held).one(txn).await? else {
            return Err(StoreError::NotFound {
                what: "refresh run",
                id: held.to_string(),
            });
        };
        if run.status != RunStatus::Held {
            return Err(StoreError::Invalid(format!(
                "run {held} is {}: only a held run's withdrawals can be accepted",
                run.status.to_value()
            )));
        }
        // A worker may claim the queued run between our two statements: then queue another.
        for _ in 0..3 {
            let trigger = TriggerRefresh {
                source: run.source.clone(),
            };
            let (queued, _) = trigger.apply(txn).await?;
            let marked = refresh_run::Entity::update_many()
                .col_expr(refresh_run::Column::AcceptWithdrawals, true.into())
                .filter(refresh_run::Column::Id.eq(queued.id))
                .filter(refresh_run::Column::Status.eq(RunStatus::Queued))
                .exec(txn)
                .await?;
            if marked.rows_affected == 1 {
                if let Some(marked) = refresh_run::Entity::find_by_id(queued.id).one(txn).await? {
                    return Ok(marked);
                }
            }
        }
        Err(StoreError::Conflict(format!(
            "could not queue a run of {} that accepts withdrawals",
            run.source
        )))
    }

    fn notices(run: &Self::Output) -> Vec<Notice> {
        vec![Notice::Run { run: run.id }]
    }
}
