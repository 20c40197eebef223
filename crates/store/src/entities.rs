//! sea-orm entities, one per table. They stay inside the store: callers get these models as
//! plain data and the API wraps them in its own GraphQL types.

pub mod api_token;
pub mod audit_entry;
pub mod company;
pub mod company_sector;
pub mod country;
pub mod highlight;
pub mod metric;
pub mod observation;
pub mod refresh_run;
pub mod schedule;
pub mod sector;
pub mod sector_evidence;
pub mod sector_verdict;
pub mod source;

/// A closed vocabulary stored as text: [`refresh_run::RunStatus`], [`refresh_run::RunTrigger`],
/// [`refresh_run::WaitReason`], [`sector::SectorLeader`], [`company::Ownership`]. Reading a row
/// whose text is none of its values fails the query (`StoreError`), never guesses a value.
pub trait StoredValue: sea_orm::ActiveEnum<Value = String> + sea_orm::Iterable {
    /// The text stored for this value (`queued`, `US_AND_ALLIES`, …).
    fn stored(&self) -> String {
        self.to_value()
    }

    /// Every value, in declaration order.
    fn all() -> Vec<Self> {
        Self::iter().collect()
    }
}

impl<E: sea_orm::ActiveEnum<Value = String> + sea_orm::Iterable> StoredValue for E {}

/// The vocabulary value stored as `text`; an error that lists the values allowed when `text` is
/// none of them.
pub fn parse_stored<E: StoredValue>(text: &str) -> Result<E, String> {
    E::try_from_value(&text.to_owned())
        .map_err(|_| format!("`{text}` is not one of {:?}", E::values()))
}

#[cfg(test)]
mod tests {
    use super::company::Ownership;
    use super::refresh_run::{RunStatus, RunTrigger, WaitReason};
    use super::sector::SectorLeader;
    use super::*;

    /// The values already in databases: changing one needs a data migration.
    #[test]
    fn vocabularies_keep_the_values_stored_so_far() {
        fn stored<E: StoredValue>() -> Vec<String> {
            E::all().iter().map(StoredValue::stored).collect()
        }
        assert_eq!(
            stored::<RunStatus>(),
            [
                "queued",
                "running",
                "succeeded",
                "held",
                "failed",
                "cancelled"
            ]
        );
        assert_eq!(stored::<RunTrigger>(), ["manual", "schedule"]);
        assert_eq!(stored::<WaitReason>(), ["backoff", "retry_after"]);
        assert_eq!(
            stored::<SectorLeader>(),
            ["US", "CHINA", "CONTESTED", "US_AND_ALLIES"]
        );
        assert_eq!(stored::<Ownership>(), ["PRIVATE", "STATE_SUPERVISED"]);
    }

    #[test]
    fn an_unknown_stored_value_is_an_error_naming_the_allowed_ones() {
        assert_eq!(parse_stored("schedule"), Ok(RunTrigger::Schedule));
        assert_eq!(
            parse_stored::<RunTrigger>("cron"),
            Err("`cron` is not one of [\"manual\", \"schedule\"]".to_owned())
        );
    }
}
