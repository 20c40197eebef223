//! Reading knowledge time: revisions (a version and the one it replaced) and whole histories.

use crate::entities::observation;
use crate::sql::statement;
use crate::{Store, StoreError, Timestamp};
use sea_orm::{
    ColumnTrait, EntityTrait, FromQueryResult, QueryFilter, QueryOrder, Statement, Value,
};

/// A version that replaced an earlier one: a changed value, a withdrawal (`value: None`) or a
/// value that came back (`previous_value: None`).
#[derive(Clone, Debug, PartialEq, FromQueryResult)]
pub struct Revision {
    pub id: i64,
    pub metric: String,
    pub country: String,
    pub source: String,
    pub year: i32,
    pub value: Option<f64>,
    pub qualifier: Option<String>,
    pub previous_id: i64,
    pub previous_value: Option<f64>,
    pub previous_qualifier: Option<String>,
    pub recorded_at: Timestamp,
    pub run_id: Option<i64>,
}

/// Which revisions to list, oldest first.
#[derive(Clone, Debug, Default)]
pub struct RevisionFilter {
    pub metric: String,
    pub country: Option<String>,
    pub source: Option<String>,
    /// Only revisions recorded at or after this instant.
    pub since: Option<Timestamp>,
}

/// One series point of one source: (metric, country, source, year).
pub type SeriesKey = (String, String, String, i32);

impl Store {
    /// Revisions matching `filter`, oldest first, after the revision `after` when given.
    pub async fn revisions(
        &self,
        filter: &RevisionFilter,
        after: Option<i64>,
        limit: u64,
    ) -> Result<Vec<Revision>, StoreError> {
        let (conditions, mut values) = revision_conditions(filter);
        let mut sql = format!(
            "SELECT n.id, n.metric, n.country, n.source, n.year, n.value, n.qualifier, \
                    p.id AS previous_id, p.value AS previous_value, \
                    p.qualifier AS previous_qualifier, n.recorded_from AS recorded_at, n.run_id \
             FROM observations n JOIN observations p ON p.id = n.supersedes \
             WHERE {conditions}"
        );
        if let Some(after) = after {
            values.push(after.into());
            sql.push_str(&format!(" AND n.id > ${}", values.len()));
        }
        values.push(i64::try_from(limit).unwrap_or(i64::MAX).into());
        sql.push_str(&format!(" ORDER BY n.id LIMIT ${}", values.len()));
        Ok(
            Revision::find_by_statement(statement(self.backend(), &sql, values))
                .all(&self.db)
                .await?,
        )
    }

    pub async fn count_revisions(&self, filter: &RevisionFilter) -> Result<u64, StoreError> {
        #[derive(FromQueryResult)]
        struct Count {
            count: i64,
        }
        let (conditions, values) = revision_conditions(filter);
        let sql = format!(
            "SELECT COUNT(*) AS count FROM observations n \
             WHERE n.supersedes IS NOT NULL AND {conditions}"
        );
        let stmt: Statement = statement(self.backend(), &sql, values);
        let count = Count::find_by_statement(stmt).one(&self.db).await?;
        Ok(count.map_or(0, |c| u64::try_from(c.count).unwrap_or(0)))
    }

    /// Every version of each series point, oldest first.
    pub async fn histories(
        &self,
        keys: &[SeriesKey],
    ) -> Result<Vec<observation::Model>, StoreError> {
        use observation::Column as C;
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let distinct = |f: fn(&SeriesKey) -> Value| {
            let mut v: Vec<Value> = keys.iter().map(f).collect();
            v.dedup();
            v
        };
        let rows = observation::Entity::find()
            .filter(C::Metric.is_in(distinct(|k| k.0.clone().into())))
            .filter(C::Country.is_in(distinct(|k| k.1.clone().into())))
            .filter(C::Source.is_in(distinct(|k| k.2.clone().into())))
            .filter(C::Year.is_in(distinct(|k| k.3.into())))
            .order_by_asc(C::RecordedFrom)
            .order_by_asc(C::Id)
            .all(&self.db)
            .await?;
        Ok(rows
            .into_iter()
            .filter(|o| {
                keys.iter().any(|k| {
                    k.0 == o.metric && k.1 == o.country && k.2 == o.source && k.3 == o.year
                })
            })
            .collect())
    }
}

fn revision_conditions(filter: &RevisionFilter) -> (String, Vec<Value>) {
    let mut values: Vec<Value> = vec![filter.metric.clone().into()];
    let mut sql = String::from("n.metric = $1");
    if let Some(country) = &filter.country {
        values.push(country.clone().into());
        sql.push_str(&format!(" AND n.country = ${}", values.len()));
    }
    if let Some(source) = &filter.source {
        values.push(source.clone().into());
        sql.push_str(&format!(" AND n.source = ${}", values.len()));
    }
    if let Some(since) = filter.since {
        values.push(since.into());
        sql.push_str(&format!(" AND n.recorded_from >= ${}", values.len()));
    }
    (sql, values)
}
