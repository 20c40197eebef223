//! Sectors' evidence indicators and the versions of their editorial verdicts.

use crate::entities::{sector_evidence, sector_verdict};
use crate::{Store, StoreError, Timestamp};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};

impl Store {
    /// Every sector's evidence indicators, by sector and position.
    pub async fn sector_evidence(&self) -> Result<Vec<sector_evidence::Model>, StoreError> {
        use sector_evidence::Column as E;
        Ok(sector_evidence::Entity::find()
            .order_by_asc(E::Sector)
            .order_by_asc(E::Position)
            .all(&self.db)
            .await?)
    }

    /// Every version of every sector's verdict, by sector and knowledge time (oldest first).
    pub async fn sector_verdicts(&self) -> Result<Vec<sector_verdict::Model>, StoreError> {
        use sector_verdict::Column as V;
        Ok(sector_verdict::Entity::find()
            .order_by_asc(V::Sector)
            .order_by_asc(V::RecordedFrom)
            .order_by_asc(V::Id)
            .all(&self.db)
            .await?)
    }

    /// The verdict versions `run` recorded for `sectors`, each with the version it replaced.
    pub async fn verdict_revisions(
        &self,
        run: i64,
        sectors: &[String],
    ) -> Result<Vec<(sector_verdict::Model, sector_verdict::Model)>, StoreError> {
        use sector_verdict::Column as V;
        let rows = sector_verdict::Entity::find()
            .filter(V::Sector.is_in(sectors.iter().map(String::as_str)))
            .order_by_asc(V::RecordedFrom)
            .all(&self.db)
            .await?;
        Ok(rows
            .iter()
            .filter(|v| v.run_id == Some(run))
            .filter_map(|current| {
                let previous = rows.iter().find(|p| {
                    p.sector == current.sector && p.recorded_to == Some(current.recorded_from)
                })?;
                Some((previous.clone(), current.clone()))
            })
            .collect())
    }
}

/// The version of a verdict current at `at` (`None`: now) among one sector's `versions`.
pub fn verdict_as_of(
    versions: &[sector_verdict::Model],
    at: Option<Timestamp>,
) -> Option<&sector_verdict::Model> {
    versions.iter().find(|v| match at {
        None => v.recorded_to.is_none(),
        Some(at) => v.recorded_from <= at && v.recorded_to.is_none_or(|to| at < to),
    })
}
