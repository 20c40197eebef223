//! `techbalance schedule list|add|pause|resume|remove`: each change is one audited store
//! operation, as the API's mutations are, so a refused change is audited with its code too.

use clap::Subcommand;
use techbalance::config::Config;
use techbalance_store::operations::{CreateSchedule, DeleteSchedule, UpdateSchedule};
use techbalance_store::schedules::{CronSchedule, NewSchedule, ScheduleChange};
use techbalance_store::{Store, StoreError};

#[derive(Subcommand)]
pub enum ScheduleAction {
    /// List the schedules, with when each fires next.
    List,
    /// Add a schedule: a six-field cron expression, seconds first ("0 0 3 * * *").
    Add {
        /// The source to refresh: baseline, worldbank or oecd-msti.
        source: String,
        /// Six fields, seconds first: "0 0 3 * * *" is 03:00:00 every day.
        cron: String,
        /// The IANA time zone the cron fields are read in (e.g. Europe/Paris).
        #[arg(long, default_value = "UTC")]
        timezone: String,
    },
    /// Stop a schedule from firing.
    Pause {
        /// The schedule's id, as `schedule list` shows it.
        id: i64,
    },
    /// Let a paused schedule fire again.
    Resume {
        /// The schedule's id, as `schedule list` shows it.
        id: i64,
    },
    /// Delete a schedule.
    Remove {
        /// The schedule's id, as `schedule list` shows it.
        id: i64,
    },
}

pub async fn run(config: &Config, action: ScheduleAction) -> anyhow::Result<()> {
    let store = techbalance::open_store(config).await?;
    techbalance::seed_if_empty(&store, config).await?;
    let actor = super::actor();
    let no_schedule = |id: i64| anyhow::anyhow!("no schedule {id}");
    match action {
        ScheduleAction::List => print!("{}", list(&store).await?),
        ScheduleAction::Add {
            source,
            cron,
            timezone,
        } => {
            let new = NewSchedule {
                source: source.clone(),
                cron,
                timezone,
                enabled: true,
                created_by: actor.clone(),
            };
            let (schedule, created) = match store.perform(&actor, CreateSchedule(new)).await {
                Err(StoreError::Invalid(message)) if message.starts_with("unknown source") => {
                    anyhow::bail!(
                        "{message}: use one of {}",
                        techbalance::source_ids().join(", ")
                    )
                }
                done => done?,
            };
            if created {
                println!("schedule {} added", schedule.id);
            } else {
                println!(
                    "schedule {} already refreshes {} at \"{}\" in {}; nothing added",
                    schedule.id, schedule.source, schedule.cron, schedule.timezone
                );
            }
        }
        ScheduleAction::Pause { id } | ScheduleAction::Resume { id } => {
            let enabled = matches!(action, ScheduleAction::Resume { .. });
            let change = ScheduleChange {
                enabled: Some(enabled),
                ..Default::default()
            };
            match store.perform(&actor, UpdateSchedule { id, change }).await {
                Err(StoreError::NotFound { .. }) => return Err(no_schedule(id)),
                done => done?,
            };
            println!(
                "schedule {id} {}",
                if enabled { "resumed" } else { "paused" }
            );
        }
        ScheduleAction::Remove { id } => {
            match store.perform(&actor, DeleteSchedule { id }).await {
                Err(StoreError::NotFound { .. }) => return Err(no_schedule(id)),
                done => done?,
            }
            println!("schedule {id} removed");
        }
    }
    Ok(())
}

/// The schedules as a table: each column as wide as its widest cell, two spaces apart; times in
/// RFC 3339, UTC.
async fn list(store: &Store) -> anyhow::Result<String> {
    let now = chrono::Utc::now();
    let mut rows = vec![[
        "id",
        "source",
        "cron",
        "timezone",
        "enabled",
        "next fire",
        "last fired",
    ]
    .map(str::to_owned)];
    for s in store.schedules().await? {
        let next = match CronSchedule::parse(&s.cron, &s.timezone) {
            _ if !s.enabled => "paused".to_owned(),
            Ok(schedule) => schedule
                .next_after(now)
                .map_or_else(|| "none within a year".to_owned(), |t| t.to_rfc3339()),
            Err(_) => "invalid".to_owned(),
        };
        let last = s
            .last_fired_at
            .map_or_else(|| "never".to_owned(), |t| t.to_rfc3339());
        rows.push([
            s.id.to_string(),
            s.source,
            s.cron,
            s.timezone,
            s.enabled.to_string(),
            next,
            last,
        ]);
    }
    Ok(table(&rows))
}

/// Left-aligned columns, each as wide as its widest cell, separated by two spaces.
fn table<const N: usize>(rows: &[[String; N]]) -> String {
    let mut widths = [0; N];
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut text = String::new();
    for row in rows {
        let cells: Vec<String> = row
            .iter()
            .zip(widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        text.push_str(cells.join("  ").trim_end());
        text.push('\n');
    }
    text
}

#[cfg(test)]
mod tests {
    #[test]
    fn columns_are_as_wide_as_their_widest_cell_and_never_run_together() {
        let rows = [
            ["id", "cron", "next"].map(str::to_owned),
            ["12", "0 0 4 * * Mon", "x"].map(str::to_owned),
        ];
        assert_eq!(
            super::table(&rows),
            "id  cron           next\n12  0 0 4 * * Mon  x\n"
        );
    }
}
