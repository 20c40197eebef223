//! Refresh schedules: which source is refreshed when. What makes a schedule valid is defined
//! here, with the parser settings tokio-cron-scheduler itself uses (six fields, seconds first).

use crate::entities::schedule;
use crate::{Store, StoreError, Timestamp};
use chrono::{TimeZone, Timelike};
use croner::parser::{CronParser, Seconds};
use croner::Cron;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder};

/// A cron expression and the time zone it is read in, checked.
#[derive(Clone, Debug)]
pub struct CronSchedule {
    cron: Cron,
    timezone: chrono_tz::Tz,
}

impl CronSchedule {
    /// Parses `expression` as tokio-cron-scheduler does, in `timezone` (an IANA name).
    pub fn parse(expression: &str, timezone: &str) -> Result<Self, String> {
        let cron = CronParser::builder()
            .seconds(Seconds::Required)
            .dom_and_dow(true)
            .build()
            .parse(expression)
            .map_err(|e| format!("invalid cron expression \"{expression}\" (six fields, seconds first, e.g. \"0 0 3 * * *\"): {e}"))?;
        let timezone: chrono_tz::Tz = timezone.parse().map_err(|_| {
            format!(
                "unknown time zone \"{timezone}\" (use an IANA name such as UTC or Europe/Paris)"
            )
        })?;
        Ok(Self { cron, timezone })
    }

    pub fn timezone(&self) -> chrono_tz::Tz {
        self.timezone
    }

    /// The next fire time strictly after `after`.
    pub fn next_after(&self, after: Timestamp) -> Option<Timestamp> {
        let local = self.timezone.from_utc_datetime(&after.naive_utc());
        self.cron
            .find_next_occurrence(&local, false)
            .ok()
            .map(|t| t.with_timezone(&chrono::Utc))
    }

    /// The fire time a trigger at `now` stands for: the latest occurrence at or before it, in
    /// whole seconds (every process computes the same one).
    pub fn fire_time_at(&self, now: Timestamp) -> Option<Timestamp> {
        let now = now.with_nanosecond(0).unwrap_or(now);
        let local = self.timezone.from_utc_datetime(&now.naive_utc());
        self.cron
            .find_previous_occurrence(&local, true)
            .ok()
            .map(|t| t.with_timezone(&chrono::Utc))
    }
}

/// A schedule to create.
#[derive(Clone, Debug)]
pub struct NewSchedule {
    pub source: String,
    pub cron: String,
    pub timezone: String,
    pub enabled: bool,
    pub created_by: String,
}

/// Changes to a schedule; `None` leaves a field as it is.
#[derive(Clone, Debug, Default)]
pub struct ScheduleChange {
    pub cron: Option<String>,
    pub timezone: Option<String>,
    pub enabled: Option<bool>,
}

/// The schedules created on first start: World Bank daily, OECD weekly (the baseline never).
pub const DEFAULT_SCHEDULES: &[(&str, &str)] =
    &[("worldbank", "0 0 3 * * *"), ("oecd-msti", "0 0 4 * * Mon")];

impl Store {
    pub async fn schedules(&self) -> Result<Vec<schedule::Model>, StoreError> {
        Ok(schedule::Entity::find()
            .order_by_asc(schedule::Column::Id)
            .all(&self.db)
            .await?)
    }

    pub async fn schedule(&self, id: i64) -> Result<Option<schedule::Model>, StoreError> {
        Ok(schedule::Entity::find_by_id(id).one(&self.db).await?)
    }

    /// Creates a schedule after checking its expression and time zone (not audited: see
    /// [`crate::operations`]).
    pub async fn create_schedule(&self, new: NewSchedule) -> Result<schedule::Model, StoreError> {
        crate::operations::insert_schedule(&self.db, new).await
    }

    /// Applies `change`; `None` when there is no such schedule.
    pub async fn update_schedule(
        &self,
        id: i64,
        change: ScheduleChange,
    ) -> Result<Option<schedule::Model>, StoreError> {
        let update = crate::operations::UpdateSchedule { id, change };
        match self.apply_unaudited(update).await {
            Ok(schedule) => Ok(Some(schedule)),
            Err(StoreError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Deletes a schedule; false when there was none. Its past runs stay.
    pub async fn delete_schedule(&self, id: i64) -> Result<bool, StoreError> {
        match self
            .apply_unaudited(crate::operations::DeleteSchedule { id })
            .await
        {
            Ok(()) => Ok(true),
            Err(StoreError::NotFound { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    pub(crate) async fn record_fire(&self, id: i64, at: Timestamp) -> Result<(), StoreError> {
        schedule::Entity::update_many()
            .col_expr(schedule::Column::LastFiredAt, at.into())
            .filter(schedule::Column::Id.eq(id))
            .exec(&self.db)
            .await?;
        Ok(())
    }

    /// Creates [`DEFAULT_SCHEDULES`] when no schedule exists yet.
    pub async fn create_default_schedules(&self) -> Result<(), StoreError> {
        if schedule::Entity::find().count(&self.db).await? > 0 {
            return Ok(());
        }
        for (source, cron) in DEFAULT_SCHEDULES {
            self.create_schedule(NewSchedule {
                source: (*source).to_owned(),
                cron: (*cron).to_owned(),
                timezone: "UTC".to_owned(),
                enabled: true,
                created_by: "system".to_owned(),
            })
            .await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn six_field_expressions_parse_and_others_are_refused() {
        assert!(CronSchedule::parse("0 0 3 * * *", "UTC").is_ok());
        assert!(CronSchedule::parse("* * * * * *", "Europe/Paris").is_ok());
        assert!(
            CronSchedule::parse("0 3 * * *", "UTC").is_err(),
            "five fields lack seconds"
        );
        assert!(CronSchedule::parse("every day", "UTC").is_err());
        assert!(CronSchedule::parse("0 0 3 * * *", "Mars/Olympus").is_err());
    }

    #[test]
    fn the_fire_time_is_the_latest_occurrence_at_or_before_the_trigger() {
        let every_minute = CronSchedule::parse("0 * * * * *", "UTC").expect("cron");
        let late = chrono::DateTime::parse_from_rfc3339("2026-01-01T10:00:00.400Z")
            .expect("time")
            .to_utc();
        let expected = chrono::DateTime::parse_from_rfc3339("2026-01-01T10:00:00Z")
            .expect("time")
            .to_utc();
        assert_eq!(every_minute.fire_time_at(late), Some(expected));
        assert_eq!(
            every_minute.next_after(expected),
            Some(expected + chrono::Duration::minutes(1))
        );
    }
}
