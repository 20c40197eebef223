//! Refresh schedules: which source is refreshed when, and at which instants a schedule fires.
//!
//! A schedule is a six-field cron expression (seconds first) read in an IANA time zone. It names
//! wall-clock times of that zone, and every fire time is computed for the day it falls on, with
//! the zone's offset of that day:
//!
//! - a wall-clock time that occurs once fires at that instant;
//! - a wall-clock time that occurs twice (the hour repeated when clocks go back) fires once, at
//!   its first occurrence;
//! - a wall-clock time that does not exist (the hour skipped when clocks go forward) fires at the
//!   first instant after the gap (02:30 in New York on 2027-03-14 fires at 03:00 EDT, 07:00Z);
//!   several such times fire once.
//!
//! Fire times are whole seconds, and the same function gives `nextFireAt` and the fire time a run
//! is queued for.

use crate::entities::schedule;
use crate::{Store, StoreError, Timestamp};
use chrono::{DateTime, LocalResult, NaiveDateTime, TimeZone, Timelike, Utc};
use croner::parser::{CronParser, Seconds};
use croner::Cron;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder};

/// Matching wall-clock times examined past `after` before a schedule is said to have no next
/// fire time (only a repeated hour of an every-second schedule needs more than one).
const MAX_CANDIDATES: u32 = 100_000;

/// A cron expression and the time zone it is read in, checked.
#[derive(Clone, Debug)]
pub struct CronSchedule {
    cron: Cron,
    expression: String,
    timezone: chrono_tz::Tz,
}

impl CronSchedule {
    /// Parses `expression` (six fields, seconds first; day of month and day of week both
    /// apply) in `timezone` (an IANA name such as `Europe/Paris`).
    pub fn parse(expression: &str, timezone: &str) -> Result<Self, String> {
        let expression = expression.split_whitespace().collect::<Vec<_>>().join(" ");
        let cron = CronParser::builder()
            .seconds(Seconds::Required)
            .dom_and_dow(true)
            .build()
            .parse(&expression)
            .map_err(|e| format!("invalid cron expression \"{expression}\" (six fields, seconds first, e.g. \"0 0 3 * * *\"): {e}"))?;
        let timezone: chrono_tz::Tz = timezone.trim().parse().map_err(|_| {
            format!(
                "unknown time zone \"{timezone}\" (use an IANA name such as UTC or Europe/Paris)"
            )
        })?;
        Ok(Self {
            cron,
            expression,
            timezone,
        })
    }

    /// The expression as stored: its fields separated by single spaces.
    pub fn expression(&self) -> &str {
        &self.expression
    }

    pub fn timezone(&self) -> chrono_tz::Tz {
        self.timezone
    }

    /// The first fire time strictly after `after`, in whole seconds; `None` when the expression
    /// matches no time within a year.
    pub fn next_after(&self, after: Timestamp) -> Option<Timestamp> {
        let after = after.with_nanosecond(0).unwrap_or(after);
        // Wall-clock times up to the one `after` shows all fire at or before it: start past it.
        let mut local = after.with_timezone(&self.timezone).naive_local();
        for _ in 0..MAX_CANDIDATES {
            local = self
                .cron
                .find_next_occurrence(&Utc.from_utc_datetime(&local), false)
                .ok()?
                .naive_utc();
            let at = self.instant_of(local)?;
            // A time of a repeated hour may stand for an instant already past.
            if at > after {
                return Some(at);
            }
        }
        None
    }

    /// The instant a wall-clock time stands for (see the module documentation).
    fn instant_of(&self, local: NaiveDateTime) -> Option<Timestamp> {
        match self.timezone.from_local_datetime(&local) {
            LocalResult::Single(at) => Some(at.with_timezone(&Utc)),
            LocalResult::Ambiguous(first, _) => Some(first.with_timezone(&Utc)),
            LocalResult::None => self.end_of_gap(local),
        }
    }

    /// The first instant whose wall-clock time is past `local`, a time the zone skips: the
    /// transition that skips it.
    fn end_of_gap(&self, local: NaiveDateTime) -> Option<Timestamp> {
        let wall = |seconds: i64| {
            DateTime::from_timestamp(seconds, 0)
                .map(|at| at.with_timezone(&self.timezone).naive_local())
        };
        // Offsets lie within −12 h … +14 h, so the transition is within 15 h of `local` read as
        // UTC: before `lo` the wall clock shows less than `local`, from `hi` on more.
        let pivot = local.and_utc().timestamp();
        let (mut lo, mut hi) = (pivot - 15 * 3600, pivot + 15 * 3600);
        while hi - lo > 1 {
            let middle = lo + (hi - lo) / 2;
            if wall(middle)? > local {
                hi = middle;
            } else {
                lo = middle;
            }
        }
        DateTime::from_timestamp(hi, 0)
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

    /// Creates a schedule after checking its expression and time zone, or returns the schedule
    /// that already has this source, expression and zone (the bool says whether it was created
    /// now); not audited: see [`crate::operations`].
    pub async fn create_schedule(
        &self,
        new: NewSchedule,
    ) -> Result<(schedule::Model, bool), StoreError> {
        crate::operations::insert_schedule(&self.db, new).await
    }

    /// Applies `change`; `None` when there is no such schedule. A change that would make it
    /// identical to another schedule of its source is refused (a conflict naming that one).
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

    /// Creates `defaults` (the sources' default schedules, from the worker's registry) when no
    /// schedule exists yet.
    pub async fn create_default_schedules(
        &self,
        defaults: &[NewSchedule],
    ) -> Result<(), StoreError> {
        if schedule::Entity::find().count(&self.db).await? > 0 {
            return Ok(());
        }
        for schedule in defaults {
            self.create_schedule(schedule.clone()).await?;
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

    fn at(text: &str) -> Timestamp {
        DateTime::parse_from_rfc3339(text)
            .expect("RFC 3339 instant")
            .to_utc()
    }

    /// The fire times of `cron` in `zone` strictly after `from`, `n` of them, as RFC 3339 in UTC.
    fn fire_times(cron: &str, zone: &str, from: &str, n: usize) -> Vec<String> {
        let schedule = CronSchedule::parse(cron, zone).expect("schedule");
        let mut times = Vec::new();
        let mut after = at(from);
        for _ in 0..n {
            after = schedule.next_after(after).expect("a next fire time");
            times.push(after.format("%Y-%m-%dT%H:%M:%SZ").to_string());
        }
        times
    }

    #[test]
    fn new_york_02_30_fires_at_the_end_of_the_skipped_hour_then_in_summer_time() {
        // 2027-03-14: 02:00 EST becomes 03:00 EDT; 02:30 does not exist.
        assert_eq!(
            fire_times(
                "0 30 2 * * *",
                "America/New_York",
                "2027-03-12T12:00:00Z",
                4
            ),
            [
                "2027-03-13T07:30:00Z", // 02:30 EST
                "2027-03-14T07:00:00Z", // 03:00 EDT, the first instant after the gap
                "2027-03-15T06:30:00Z", // 02:30 EDT
                "2027-03-16T06:30:00Z",
            ]
        );
    }

    #[test]
    fn new_york_01_30_keeps_its_wall_clock_time_across_both_changes() {
        assert_eq!(
            fire_times(
                "0 30 1 * * *",
                "America/New_York",
                "2027-03-13T00:00:00Z",
                3
            ),
            [
                "2027-03-13T06:30:00Z",
                "2027-03-14T06:30:00Z", // 01:30 EST, before the change at 02:00
                "2027-03-15T05:30:00Z", // 01:30 EDT
            ]
        );
        // 2027-11-07: 02:00 EDT becomes 01:00 EST; 01:30 occurs twice and fires once.
        assert_eq!(
            fire_times(
                "0 30 1 * * *",
                "America/New_York",
                "2027-11-06T00:00:00Z",
                3
            ),
            [
                "2027-11-06T05:30:00Z",
                "2027-11-07T05:30:00Z", // 01:30 EDT, the first occurrence
                "2027-11-08T06:30:00Z", // 01:30 EST
            ]
        );
        assert_eq!(
            fire_times(
                "0 30 2 * * *",
                "America/New_York",
                "2027-11-06T00:00:00Z",
                3
            ),
            [
                "2027-11-06T06:30:00Z",
                "2027-11-07T07:30:00Z", // 02:30 EST: after the repeated hour, once
                "2027-11-08T07:30:00Z",
            ]
        );
    }

    #[test]
    fn a_time_asked_for_during_the_repeated_hour_is_never_one_already_past() {
        // 06:10Z is 01:10 EST, in the second pass of the repeated hour: 01:30 fired at 05:30Z.
        assert_eq!(
            fire_times(
                "0 30 1 * * *",
                "America/New_York",
                "2027-11-07T06:10:00Z",
                1
            ),
            ["2027-11-08T06:30:00Z"]
        );
        // An interval schedule fires at each wall-clock time once: not again in the second pass.
        assert_eq!(
            fire_times(
                "0 */20 * * * *",
                "America/New_York",
                "2027-11-07T05:30:00Z",
                3
            ),
            [
                "2027-11-07T05:40:00Z", // 01:40 EDT
                "2027-11-07T07:00:00Z", // 02:00 EST; 01:00–01:40 EST are times already fired
                "2027-11-07T07:20:00Z",
            ]
        );
    }

    #[test]
    fn every_time_in_a_gap_fires_once_at_its_end() {
        assert_eq!(
            fire_times(
                "0 */20 * * * *",
                "America/New_York",
                "2027-03-14T06:30:00Z",
                3
            ),
            [
                "2027-03-14T06:40:00Z", // 01:40 EST
                "2027-03-14T07:00:00Z", // 02:00, 02:20, 02:40 skipped: 03:00 EDT, once
                "2027-03-14T07:20:00Z",
            ]
        );
        assert_eq!(
            fire_times(
                "0 45 */2 * * *",
                "America/New_York",
                "2027-03-14T05:00:00Z",
                2
            ),
            ["2027-03-14T05:45:00Z", "2027-03-14T07:00:00Z"]
        );
    }

    #[test]
    fn european_changes_at_one_o_clock_utc() {
        // London: 2027-03-28 01:00 GMT → 02:00 BST; 2027-10-31 02:00 BST → 01:00 GMT.
        assert_eq!(
            fire_times("0 30 1 * * *", "Europe/London", "2027-03-27T00:00:00Z", 3),
            [
                "2027-03-27T01:30:00Z",
                "2027-03-28T01:00:00Z",
                "2027-03-29T00:30:00Z"
            ]
        );
        assert_eq!(
            fire_times("0 30 1 * * *", "Europe/London", "2027-10-30T00:00:00Z", 3),
            [
                "2027-10-30T00:30:00Z",
                "2027-10-31T00:30:00Z",
                "2027-11-01T01:30:00Z"
            ]
        );
        // Berlin: 2027-03-28 02:00 CET → 03:00 CEST; 2027-10-31 03:00 CEST → 02:00 CET.
        assert_eq!(
            fire_times("0 30 2 * * *", "Europe/Berlin", "2027-03-27T00:00:00Z", 3),
            [
                "2027-03-27T01:30:00Z",
                "2027-03-28T01:00:00Z",
                "2027-03-29T00:30:00Z"
            ]
        );
        assert_eq!(
            fire_times("0 30 2 * * *", "Europe/Berlin", "2027-10-30T00:00:00Z", 3),
            [
                "2027-10-30T00:30:00Z",
                "2027-10-31T00:30:00Z",
                "2027-11-01T01:30:00Z"
            ]
        );
    }

    #[test]
    fn southern_hemisphere_changes_run_the_other_way() {
        // Sydney: 2027-04-04 03:00 AEDT → 02:00 AEST; 2027-10-03 02:00 AEST → 03:00 AEDT.
        assert_eq!(
            fire_times(
                "0 30 2 * * *",
                "Australia/Sydney",
                "2027-04-02T00:00:00Z",
                3
            ),
            [
                "2027-04-02T15:30:00Z",
                "2027-04-03T15:30:00Z", // 02:30 AEDT, the first of two
                "2027-04-04T16:30:00Z", // 02:30 AEST
            ]
        );
        assert_eq!(
            fire_times(
                "0 30 2 * * *",
                "Australia/Sydney",
                "2027-10-01T00:00:00Z",
                3
            ),
            [
                "2027-10-01T16:30:00Z",
                "2027-10-02T16:00:00Z", // 03:00 AEDT, the end of the gap
                "2027-10-03T15:30:00Z",
            ]
        );
    }

    #[test]
    fn half_hour_offsets_and_a_half_hour_change() {
        // Kolkata, +05:30 all year.
        assert_eq!(
            fire_times("0 30 2 * * *", "Asia/Kolkata", "2027-03-13T00:00:00Z", 2),
            ["2027-03-13T21:00:00Z", "2027-03-14T21:00:00Z"]
        );
        // Lord Howe moves by 30 minutes: 2027-10-03 02:00 +10:30 → 02:30 +11;
        // 2027-04-04 02:00 +11 → 01:30 +10:30.
        assert_eq!(
            fire_times(
                "0 15 2 * * *",
                "Australia/Lord_Howe",
                "2027-10-01T00:00:00Z",
                3
            ),
            [
                "2027-10-01T15:45:00Z",
                "2027-10-02T15:30:00Z", // 02:30 +11, the end of the gap
                "2027-10-03T15:15:00Z",
            ]
        );
        assert_eq!(
            fire_times(
                "0 45 1 * * *",
                "Australia/Lord_Howe",
                "2027-04-02T00:00:00Z",
                3
            ),
            [
                "2027-04-02T14:45:00Z",
                "2027-04-03T14:45:00Z", // 01:45 +11, the first of two
                "2027-04-04T15:15:00Z", // 01:45 +10:30
            ]
        );
    }

    #[test]
    fn fire_times_are_whole_seconds_strictly_after_the_instant_given() {
        let every_minute = CronSchedule::parse("0 * * * * *", "UTC").expect("cron");
        assert_eq!(
            every_minute.next_after(at("2026-01-01T10:00:00.712223Z")),
            Some(at("2026-01-01T10:01:00Z"))
        );
        assert_eq!(
            every_minute.next_after(at("2026-01-01T09:59:59.999Z")),
            Some(at("2026-01-01T10:00:00Z"))
        );
        assert_eq!(
            every_minute.next_after(at("2026-01-01T10:00:00Z")),
            Some(at("2026-01-01T10:01:00Z"))
        );
    }

    #[test]
    fn expressions_are_stored_with_single_spaces() {
        let spaced = CronSchedule::parse("  0  0 3 * *   * ", "UTC").expect("cron");
        assert_eq!(spaced.expression(), "0 0 3 * * *");
    }
}
