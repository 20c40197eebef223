//! Versioned writes. A batch is everything one source currently publishes within a scope; it is
//! diffed against the current versions of that source and scope and written in one transaction:
//!
//! - a new (metric, country, year) opens a first version;
//! - a changed value or qualifier closes the current version and opens the next (a revision);
//! - a current value that the batch no longer has is withdrawn: closed, and followed by a
//!   version without a value;
//! - an unchanged value writes nothing.
//!
//! Nothing is ever deleted or overwritten: the only update sets `recorded_to` on a current row.

use crate::entities::observation;
use crate::sql::{placeholders, statement};
use crate::{Store, StoreError, Timestamp};
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ConnectionTrait, EntityTrait, FromQueryResult, Value,
};
use std::collections::{HashMap, HashSet};

/// Rows per multi-row statement: 11 bound values each stays under SQLite's 32,766 limit.
const CHUNK: usize = 1000;

/// One figure as a source publishes it.
#[derive(Clone, Debug, PartialEq)]
pub struct Point {
    pub metric: String,
    pub country: String,
    pub year: i32,
    pub value: f64,
    pub qualifier: Option<String>,
    pub citation: Option<String>,
}

/// What a batch speaks for: current values of the source inside the scope and absent from the
/// batch are withdrawn; values outside it are left alone.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Scope {
    pub metrics: Vec<String>,
    /// `None`: every country.
    pub countries: Option<Vec<String>>,
    /// Inclusive year range; `None`: every year.
    pub years: Option<(i32, i32)>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Batch {
    pub source: String,
    /// The source's own release marker, kept on each version written.
    pub release: Option<String>,
    pub scope: Scope,
    pub points: Vec<Point>,
}

/// What recording a batch did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RecordSummary {
    pub fetched: u64,
    pub inserted: u64,
    pub revised: u64,
    pub withdrawn: u64,
    pub unchanged: u64,
}

impl RecordSummary {
    pub fn versions_written(&self) -> u64 {
        self.inserted + self.revised + self.withdrawn
    }

    pub fn add(&mut self, other: RecordSummary) {
        self.fetched += other.fetched;
        self.inserted += other.inserted;
        self.revised += other.revised;
        self.withdrawn += other.withdrawn;
        self.unchanged += other.unchanged;
    }
}

impl Store {
    /// Records `batch` as known from `at`, in its own transaction.
    pub async fn record(&self, batch: &Batch, at: Timestamp) -> Result<RecordSummary, StoreError> {
        let txn = self.begin().await?;
        let summary = record_batch(&txn, batch, at, None).await?;
        txn.commit().await?;
        Ok(summary)
    }
}

#[derive(FromQueryResult)]
struct CurrentVersion {
    id: i64,
    metric: String,
    country: String,
    year: i32,
    value: Option<f64>,
    qualifier: Option<String>,
}

type SeriesPoint = (String, String, i32);

/// Records `batch` inside the caller's transaction, so that the caller can commit it together with
/// its own bookkeeping (or roll everything back). New versions point at `run`.
pub async fn record_batch(
    db: &impl ConnectionTrait,
    batch: &Batch,
    at: Timestamp,
    run: Option<i64>,
) -> Result<RecordSummary, StoreError> {
    validate(batch)?;
    let started = std::time::Instant::now();
    let mut current: HashMap<SeriesPoint, CurrentVersion> = load_current(db, batch)
        .await?
        .into_iter()
        .map(|v| ((v.metric.clone(), v.country.clone(), v.year), v))
        .collect();

    let loaded = std::time::Instant::now();
    let current_rows = current.len();
    let mut summary = RecordSummary {
        fetched: batch.points.len() as u64,
        ..RecordSummary::default()
    };
    let mut to_close: Vec<i64> = Vec::new();
    let mut to_open: Vec<observation::ActiveModel> = Vec::new();
    let new_version = |point: Option<&Point>, key: &SeriesPoint, supersedes: Option<i64>| {
        observation::ActiveModel {
            id: NotSet,
            metric: Set(key.0.clone()),
            country: Set(key.1.clone()),
            source: Set(batch.source.clone()),
            year: Set(key.2),
            value: Set(point.map(|p| p.value)),
            qualifier: Set(point.and_then(|p| p.qualifier.clone())),
            release: Set(batch.release.clone()),
            citation: Set(point.and_then(|p| p.citation.clone())),
            recorded_from: Set(at),
            recorded_to: Set(None),
            supersedes: Set(supersedes),
            run_id: Set(run),
        }
    };

    for point in &batch.points {
        let key = (point.metric.clone(), point.country.clone(), point.year);
        match current.remove(&key) {
            Some(existing)
                if existing.value == Some(point.value) && existing.qualifier == point.qualifier =>
            {
                summary.unchanged += 1;
            }
            Some(existing) => {
                // A changed value (a revision), or a withdrawn one that came back.
                if existing.value.is_some() {
                    summary.revised += 1;
                } else {
                    summary.inserted += 1;
                }
                to_close.push(existing.id);
                to_open.push(new_version(Some(point), &key, Some(existing.id)));
            }
            None => {
                summary.inserted += 1;
                to_open.push(new_version(Some(point), &key, None));
            }
        }
    }
    // Whatever is still current in scope but absent from the batch has been withdrawn upstream.
    for (key, existing) in current {
        if existing.value.is_some() {
            summary.withdrawn += 1;
            to_close.push(existing.id);
            to_open.push(new_version(None, &key, Some(existing.id)));
        }
    }

    let diffed = std::time::Instant::now();
    close_versions(db, &to_close, at).await?;
    let closed = std::time::Instant::now();
    for chunk in to_open.chunks(CHUNK) {
        observation::Entity::insert_many(chunk.to_vec())
            .exec_without_returning(db)
            .await?;
    }
    let inserted = std::time::Instant::now();
    tracing::debug!(
        source = %batch.source,
        points = batch.points.len() as u64,
        current = current_rows as u64,
        load_us = (loaded - started).as_micros() as u64,
        diff_us = (diffed - loaded).as_micros() as u64,
        close_us = (closed - diffed).as_micros() as u64,
        insert_us = (inserted - closed).as_micros() as u64,
        "batch recorded"
    );
    Ok(summary)
}

fn validate(batch: &Batch) -> Result<(), StoreError> {
    let metrics: HashSet<&str> = batch.scope.metrics.iter().map(String::as_str).collect();
    let countries: Option<HashSet<&str>> = batch
        .scope
        .countries
        .as_ref()
        .map(|c| c.iter().map(String::as_str).collect());
    let mut seen = HashSet::with_capacity(batch.points.len());
    for p in &batch.points {
        let problem = if !metrics.contains(p.metric.as_str()) {
            Some("its metric is outside the batch's scope")
        } else if countries
            .as_ref()
            .is_some_and(|c| !c.contains(p.country.as_str()))
        {
            Some("its country is outside the batch's scope")
        } else if batch
            .scope
            .years
            .is_some_and(|(from, to)| p.year < from || p.year > to)
        {
            Some("its year is outside the batch's scope")
        } else if !p.value.is_finite() {
            Some("its value is not a finite number")
        } else if !seen.insert((p.metric.as_str(), p.country.as_str(), p.year)) {
            Some("it appears twice in the batch")
        } else {
            None
        };
        if let Some(problem) = problem {
            return Err(StoreError::Invalid(format!(
                "{} {} {} from {}: {problem}",
                p.metric, p.country, p.year, batch.source
            )));
        }
    }
    Ok(())
}

async fn load_current(
    db: &impl ConnectionTrait,
    batch: &Batch,
) -> Result<Vec<CurrentVersion>, StoreError> {
    if batch.scope.metrics.is_empty() {
        return Ok(Vec::new());
    }
    let mut values: Vec<Value> = vec![batch.source.clone().into()];
    let mut sql = format!(
        "SELECT id, metric, country, year, value, qualifier FROM observations \
         WHERE source = $1 AND recorded_to IS NULL AND metric IN ({})",
        placeholders(2, batch.scope.metrics.len())
    );
    values.extend(batch.scope.metrics.iter().map(|m| Value::from(m.clone())));
    if let Some(countries) = &batch.scope.countries {
        if countries.is_empty() {
            return Ok(Vec::new());
        }
        sql.push_str(&format!(
            " AND country IN ({})",
            placeholders(values.len() + 1, countries.len())
        ));
        values.extend(countries.iter().map(|c| Value::from(c.clone())));
    }
    if let Some((from, to)) = batch.scope.years {
        sql.push_str(&format!(
            " AND year BETWEEN ${} AND ${}",
            values.len() + 1,
            values.len() + 2
        ));
        values.push(from.into());
        values.push(to.into());
    }
    let stmt = statement(db.get_database_backend(), &sql, values);
    Ok(CurrentVersion::find_by_statement(stmt).all(db).await?)
}

async fn close_versions(
    db: &impl ConnectionTrait,
    ids: &[i64],
    at: Timestamp,
) -> Result<(), StoreError> {
    for chunk in ids.chunks(CHUNK) {
        let sql = format!(
            "UPDATE observations SET recorded_to = $1 WHERE recorded_to IS NULL AND id IN ({})",
            placeholders(2, chunk.len())
        );
        let mut values: Vec<Value> = vec![at.into()];
        values.extend(chunk.iter().map(|id| Value::from(*id)));
        let result = db
            .execute(statement(db.get_database_backend(), &sql, values))
            .await?;
        if result.rows_affected() != chunk.len() as u64 {
            // Someone else closed a version we read as current: refuse rather than fork history.
            return Err(StoreError::Invalid(
                "a current version changed while the batch was being recorded".into(),
            ));
        }
    }
    Ok(())
}
