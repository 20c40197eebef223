//! Versioned writes. A batch is everything one source currently publishes within a scope; it is
//! diffed against the current versions of that source and scope and written in one transaction:
//!
//! - a new (metric, country, year) opens a first version;
//! - a changed value or qualifier closes the current version and opens the next (a revision);
//! - a current value that the batch no longer has is withdrawn: closed, and followed by a
//!   version without a value;
//! - an unchanged value writes nothing.
//!
//! A batch from an upstream source is recorded under a [`Withdrawals`] policy: a series (metric ×
//! country) that would lose every current value in scope is *held* (nothing of it is recorded and
//! the caller is told), because a degenerate answer is not evidence that data is gone.
//!
//! Nothing is ever deleted or overwritten: the only update sets `recorded_to` on a current row.
//!
//! The write path is built for large batches (a World Bank refresh records about a million
//! figures, see `benches/refresh.rs`): the current versions of a batch are read with one query
//! and diffed through keys that borrow them; on PostgreSQL the new versions go in with one
//! `INSERT … SELECT … FROM UNNEST(arrays)` per [`PG_CHUNK`] rows and the closed ones with one
//! `UPDATE … WHERE id = ANY(array)`; SQLite takes multi-row `VALUES` lists of [`SQLITE_CHUNK`]
//! rows. A debug event, "batch recorded", times each step.

use crate::sql::{placeholders, statement};
use crate::{Store, StoreError, Timestamp};
use sea_orm::{ConnectionTrait, DatabaseBackend, Value};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

/// Rows per `INSERT … FROM UNNEST` on PostgreSQL (one bound array per column, whatever the size).
const PG_CHUNK: usize = 50_000;
/// Values bound per row of a multi-row `VALUES` on SQLite.
const SQLITE_VALUES_PER_ROW: usize = 11;
/// Rows per multi-row `VALUES` on SQLite: 22,000 bound values, under SQLite's 32,766.
const SQLITE_CHUNK: usize = 2_000;
/// Versions closed per `UPDATE` on SQLite (one bound value each).
const SQLITE_CLOSE_CHUNK: usize = 10_000;

/// One figure as a source publishes it.
#[derive(Clone, Debug, PartialEq)]
pub struct Point {
    pub metric: String,
    pub country: String,
    pub year: i32,
    pub value: f64,
    pub qualifier: Option<String>,
    /// Shared: a source usually cites every figure of a series the same way, and a World Bank
    /// refresh holds a million points at once.
    pub citation: Option<Arc<str>>,
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
    /// Withdrawals held back by the [`Withdrawals`] policy (not recorded).
    pub held: u64,
}

/// What a batch may withdraw on its own.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Withdrawals {
    /// Every withdrawal is recorded: an operator accepted them, or the source is the operator's
    /// own file (the baseline).
    #[default]
    Record,
    /// A series (metric × country) that had current values in scope and would have none is held:
    /// nothing of it is recorded. Other withdrawals are recorded.
    HoldWholeSeries,
    /// Every series with a withdrawal is held: none of its changes is recorded.
    HoldAll,
}

/// A series kept as it was because the batch would have withdrawn values from it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct HeldSeries {
    pub metric: String,
    pub country: String,
    /// Current values the batch would have withdrawn.
    pub withdrawals: u64,
}

/// What recording a batch under a [`Withdrawals`] policy did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Recorded {
    pub summary: RecordSummary,
    /// Sorted by metric, then country.
    pub held: Vec<HeldSeries>,
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
        self.held += other.held;
    }
}

impl Store {
    /// Records `batch` as known from `at`, in its own transaction.
    pub async fn record(&self, batch: &Batch, at: Timestamp) -> Result<RecordSummary, StoreError> {
        let txn = self.begin().await?;
        let summary = record_batch(&txn, batch, at, None).await?;
        self.commit_and_announce(txn, &[crate::changes::Notice::Changed])
            .await?;
        Ok(summary)
    }
}

/// The current versions of a batch's source and scope, one column each.
#[derive(Default)]
struct Current {
    id: Vec<i64>,
    metric: Vec<String>,
    country: Vec<String>,
    year: Vec<i32>,
    value: Vec<Option<f64>>,
    qualifier: Vec<Option<String>>,
}

/// A hash map keyed by (metric, country, year): a million of them per World Bank refresh, hashed
/// with foldhash rather than std's SipHash.
type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;
type FastSet<K> = HashSet<K, foldhash::fast::RandomState>;

/// A version to open, borrowing its strings from the batch or from the version it follows.
struct NewVersion<'a> {
    metric: &'a str,
    country: &'a str,
    year: i32,
    value: Option<f64>,
    qualifier: Option<&'a str>,
    citation: Option<&'a str>,
    supersedes: Option<i64>,
}

/// Where every version of one batch comes from: the source, its release, the recording time and
/// the run.
struct Provenance<'a> {
    source: &'a str,
    release: Option<&'a str>,
    at: Timestamp,
    run: Option<i64>,
}

/// Records `batch` inside the caller's transaction, so that the caller can commit it together with
/// its own bookkeeping (or roll everything back). New versions point at `run`. Every withdrawal
/// is recorded ([`Withdrawals::Record`]).
pub async fn record_batch(
    db: &impl ConnectionTrait,
    batch: &Batch,
    at: Timestamp,
    run: Option<i64>,
) -> Result<RecordSummary, StoreError> {
    Ok(
        record_batch_guarded(db, batch, at, run, Withdrawals::Record)
            .await?
            .summary,
    )
}

/// How a new version changes its series.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Change {
    Inserted,
    Revised,
    Withdrawn,
}

/// [`record_batch`] under a withdrawal policy: held series are left exactly as they were.
pub async fn record_batch_guarded(
    db: &impl ConnectionTrait,
    batch: &Batch,
    at: Timestamp,
    run: Option<i64>,
    policy: Withdrawals,
) -> Result<Recorded, StoreError> {
    let started = Instant::now();
    validate(batch)?;
    let validated = Instant::now();
    let loaded_versions = load_current(db, batch).await?;
    let loaded = Instant::now();
    let countries: Option<FastSet<&str>> = batch
        .scope
        .countries
        .as_ref()
        .map(|c| c.iter().map(String::as_str).collect());
    // Keys borrow the loaded rows and map to their position: no string is copied to diff. The
    // scope's countries are applied here (see `load_current`).
    let mut current: FastMap<(&str, &str, i32), usize> =
        FastMap::with_capacity_and_hasher(loaded_versions.id.len(), Default::default());
    for (i, country) in loaded_versions.country.iter().enumerate() {
        if countries
            .as_ref()
            .is_none_or(|c| c.contains(country.as_str()))
        {
            let key = (
                loaded_versions.metric[i].as_str(),
                country.as_str(),
                loaded_versions.year[i],
            );
            current.insert(key, i);
        }
    }
    let in_scope = current.len();
    let v = &loaded_versions;

    let mut summary = RecordSummary {
        fetched: batch.points.len() as u64,
        ..RecordSummary::default()
    };
    let mut changes: Vec<(Change, NewVersion<'_>)> = Vec::new();
    for point in &batch.points {
        let key = (point.metric.as_str(), point.country.as_str(), point.year);
        match current.remove(&key) {
            Some(i)
                if v.value[i] == Some(point.value)
                    && v.qualifier[i].as_deref() == point.qualifier.as_deref() =>
            {
                summary.unchanged += 1;
            }
            // A changed value (a revision), or a withdrawn one that came back.
            Some(i) => changes.push((
                if v.value[i].is_some() {
                    Change::Revised
                } else {
                    Change::Inserted
                },
                opened(point, Some(v.id[i])),
            )),
            None => changes.push((Change::Inserted, opened(point, None))),
        }
    }
    // Whatever is still current in scope but absent from the batch has been withdrawn upstream.
    for i in current.into_values() {
        if v.value[i].is_some() {
            changes.push((
                Change::Withdrawn,
                NewVersion {
                    metric: &v.metric[i],
                    country: &v.country[i],
                    year: v.year[i],
                    value: None,
                    qualifier: None,
                    citation: None,
                    supersedes: Some(v.id[i]),
                },
            ));
        }
    }
    let held = hold(batch, &mut changes, policy);
    summary.held = held.iter().map(|h| h.withdrawals).sum();
    let mut to_close: Vec<i64> = Vec::with_capacity(changes.len());
    let mut to_open: Vec<NewVersion<'_>> = Vec::with_capacity(changes.len());
    for (change, version) in changes {
        match change {
            Change::Inserted => summary.inserted += 1,
            Change::Revised => summary.revised += 1,
            Change::Withdrawn => summary.withdrawn += 1,
        }
        to_close.extend(version.supersedes);
        to_open.push(version);
    }
    let diffed = Instant::now();

    close_versions(db, &to_close, at).await?;
    let closed = Instant::now();
    let provenance = Provenance {
        source: &batch.source,
        release: batch.release.as_deref(),
        at,
        run,
    };
    open_versions(db, &to_open, &provenance).await?;
    let inserted = Instant::now();
    tracing::debug!(
        source = %batch.source,
        points = batch.points.len() as u64,
        current = in_scope as u64,
        validate_us = micros(validated - started),
        load_us = micros(loaded - validated),
        diff_us = micros(diffed - loaded),
        close_us = micros(closed - diffed),
        insert_us = micros(inserted - closed),
        "batch recorded"
    );
    Ok(Recorded { summary, held })
}

/// Removes the changes of every series `policy` holds, and names those series.
fn hold(
    batch: &Batch,
    changes: &mut Vec<(Change, NewVersion<'_>)>,
    policy: Withdrawals,
) -> Vec<HeldSeries> {
    if policy == Withdrawals::Record {
        return Vec::new();
    }
    let mut withdrawals: FastMap<(&str, &str), u64> = FastMap::default();
    for (change, version) in changes.iter() {
        if *change == Change::Withdrawn {
            *withdrawals
                .entry((version.metric, version.country))
                .or_default() += 1;
        }
    }
    if withdrawals.is_empty() {
        return Vec::new();
    }
    if policy == Withdrawals::HoldWholeSeries {
        // A series with a value in the batch keeps it: only the others lose every value.
        for p in &batch.points {
            withdrawals.remove(&(p.metric.as_str(), p.country.as_str()));
        }
    }
    changes.retain(|(_, v)| !withdrawals.contains_key(&(v.metric, v.country)));
    let mut held: Vec<HeldSeries> = withdrawals
        .into_iter()
        .map(|((metric, country), withdrawals)| HeldSeries {
            metric: metric.to_owned(),
            country: country.to_owned(),
            withdrawals,
        })
        .collect();
    held.sort();
    held
}

/// Current values of `source` (versions with a value, not superseded), to weigh withdrawals.
pub async fn count_current_values(
    db: &impl ConnectionTrait,
    source: &str,
) -> Result<u64, StoreError> {
    let backend = db.get_database_backend();
    let stmt = statement(
        backend,
        "SELECT COUNT(*) AS n FROM observations \
         WHERE source = $1 AND recorded_to IS NULL AND value IS NOT NULL",
        vec![source.into()],
    );
    let n: i64 = match db.query_one(stmt).await? {
        Some(row) => row.try_get_by_index(0)?,
        None => 0,
    };
    Ok(u64::try_from(n).unwrap_or(0))
}

/// The version that records `point`.
fn opened(point: &Point, supersedes: Option<i64>) -> NewVersion<'_> {
    NewVersion {
        metric: &point.metric,
        country: &point.country,
        year: point.year,
        value: Some(point.value),
        qualifier: point.qualifier.as_deref(),
        citation: point.citation.as_deref(),
        supersedes,
    }
}

fn micros(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

fn validate(batch: &Batch) -> Result<(), StoreError> {
    let metrics: FastSet<&str> = batch.scope.metrics.iter().map(String::as_str).collect();
    let countries: Option<FastSet<&str>> = batch
        .scope
        .countries
        .as_ref()
        .map(|c| c.iter().map(String::as_str).collect());
    let mut seen = FastSet::with_capacity_and_hasher(batch.points.len(), Default::default());
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

/// The current versions of the batch's source within its metrics and years. The country list is
/// applied by the caller rather than in SQL: a World Bank scope names hundreds of countries, and
/// once PostgreSQL switches the prepared statement to its generic plan (after five executions) it
/// checks an `IN` list of parameters row by row, linearly: 30 times slower at 556 countries.
///
/// PostgreSQL answers with one row of arrays (`array_agg`): decoding 20,000 rows one by one cost
/// about 4 µs each, most of the time of an unchanged refresh once parsing was fast. Arrays carry
/// no NULL elements here, so the nullable columns come with a mask, as in `unnest_insert`.
async fn load_current(db: &impl ConnectionTrait, batch: &Batch) -> Result<Current, StoreError> {
    if batch.scope.metrics.is_empty()
        || batch.scope.countries.as_ref().is_some_and(|c| c.is_empty())
    {
        return Ok(Current::default());
    }
    let backend = db.get_database_backend();
    let columns = match backend {
        DatabaseBackend::Postgres => {
            "array_agg(id), array_agg(metric::text), array_agg(country::text), \
             array_agg(year::int4), array_agg(coalesce(value, 0)::float8), \
             array_agg(value IS NULL), array_agg(coalesce(qualifier, '')::text), \
             array_agg(qualifier IS NULL)"
        }
        _ => "id, metric, country, year, value, qualifier",
    };
    let mut values: Vec<Value> = vec![batch.source.clone().into()];
    let mut sql = format!(
        "SELECT {columns} FROM observations \
         WHERE source = $1 AND recorded_to IS NULL AND metric IN ({})",
        placeholders(2, batch.scope.metrics.len())
    );
    values.extend(batch.scope.metrics.iter().map(|m| Value::from(m.clone())));
    if let Some((from, to)) = batch.scope.years {
        sql.push_str(&format!(
            " AND year BETWEEN ${} AND ${}",
            values.len() + 1,
            values.len() + 2
        ));
        values.push(from.into());
        values.push(to.into());
    }
    let stmt = statement(backend, &sql, values);
    if backend != DatabaseBackend::Postgres {
        let rows = db.query_all(stmt).await?;
        let mut current = Current::default();
        for row in rows {
            current.id.push(row.try_get_by_index(0)?);
            current.metric.push(row.try_get_by_index(1)?);
            current.country.push(row.try_get_by_index(2)?);
            current.year.push(row.try_get_by_index(3)?);
            current.value.push(row.try_get_by_index(4)?);
            current.qualifier.push(row.try_get_by_index(5)?);
        }
        return Ok(current);
    }
    let Some(row) = db.query_one(stmt).await? else {
        return Ok(Current::default());
    };
    // No row matched: every aggregate is NULL.
    let Some(id) = row.try_get_by_index::<Option<Vec<i64>>>(0)? else {
        return Ok(Current::default());
    };
    let metric: Vec<String> = array(&row, 1)?;
    let country: Vec<String> = array(&row, 2)?;
    let year: Vec<i32> = array(&row, 3)?;
    let value: Vec<f64> = array(&row, 4)?;
    let value_null: Vec<bool> = array(&row, 5)?;
    let qualifier: Vec<String> = array(&row, 6)?;
    let qualifier_null: Vec<bool> = array(&row, 7)?;
    let n = id.len();
    if [
        metric.len(),
        country.len(),
        year.len(),
        value.len(),
        value_null.len(),
        qualifier.len(),
        qualifier_null.len(),
    ]
    .iter()
    .any(|&len| len != n)
    {
        return Err(StoreError::Internal(
            "the current versions came back as arrays of different lengths".into(),
        ));
    }
    Ok(Current {
        id,
        metric,
        country,
        year,
        value: value
            .into_iter()
            .zip(value_null)
            .map(|(v, null)| (!null).then_some(v))
            .collect(),
        qualifier: qualifier
            .into_iter()
            .zip(qualifier_null)
            .map(|(q, null)| (!null).then_some(q))
            .collect(),
    })
}

/// Column `i` of an aggregated row: an array, or NULL for no rows.
fn array<T>(row: &sea_orm::QueryResult, i: usize) -> Result<Vec<T>, StoreError>
where
    Vec<T>: sea_orm::TryGetable,
{
    Ok(row
        .try_get_by_index::<Option<Vec<T>>>(i)?
        .unwrap_or_default())
}

async fn close_versions(
    db: &impl ConnectionTrait,
    ids: &[i64],
    at: Timestamp,
) -> Result<(), StoreError> {
    let backend = db.get_database_backend();
    let chunk_size = match backend {
        DatabaseBackend::Postgres => PG_CHUNK,
        _ => SQLITE_CLOSE_CHUNK,
    };
    for chunk in ids.chunks(chunk_size) {
        let (sql, values) = match backend {
            DatabaseBackend::Postgres => (
                "UPDATE observations SET recorded_to = $1 \
                 WHERE recorded_to IS NULL AND id = ANY($2::int8[])"
                    .to_owned(),
                vec![at.into(), Value::from(chunk.to_vec())],
            ),
            _ => {
                // Anonymous placeholders: see `values_insert`.
                let sql = format!(
                    "UPDATE observations SET recorded_to = ? WHERE recorded_to IS NULL AND id IN ({})",
                    vec!["?"; chunk.len()].join(", ")
                );
                let mut values: Vec<Value> = Vec::with_capacity(chunk.len() + 1);
                values.push(at.into());
                values.extend(chunk.iter().map(|id| Value::from(*id)));
                (sql, values)
            }
        };
        let result = db.execute(statement(backend, &sql, values)).await?;
        if result.rows_affected() != chunk.len() as u64 {
            // Someone else closed a version we read as current: refuse rather than fork history.
            return Err(StoreError::Conflict(
                "a current version changed while the batch was being recorded".into(),
            ));
        }
    }
    Ok(())
}

/// The columns every insert names, in this order.
const COLUMNS: &str = "metric, country, source, year, value, qualifier, release, citation, \
                       recorded_from, recorded_to, supersedes, run_id";

async fn open_versions(
    db: &impl ConnectionTrait,
    rows: &[NewVersion<'_>],
    provenance: &Provenance<'_>,
) -> Result<(), StoreError> {
    match db.get_database_backend() {
        DatabaseBackend::Postgres => {
            for chunk in rows.chunks(PG_CHUNK) {
                db.execute(unnest_insert(chunk, provenance)).await?;
            }
        }
        backend => {
            for chunk in rows.chunks(SQLITE_CHUNK) {
                db.execute(values_insert(backend, chunk, provenance))
                    .await?;
            }
        }
    }
    Ok(())
}

/// PostgreSQL: one statement whatever the chunk size, each column bound as one array. Arrays are
/// bound without NULL elements, so each nullable column comes with a mask of its NULLs.
fn unnest_insert(rows: &[NewVersion<'_>], provenance: &Provenance<'_>) -> sea_orm::Statement {
    let n = rows.len();
    let mut metric = Vec::with_capacity(n);
    let mut country = Vec::with_capacity(n);
    let mut year = Vec::with_capacity(n);
    let mut value = Vec::with_capacity(n);
    let mut value_null = Vec::with_capacity(n);
    let mut qualifier = Vec::with_capacity(n);
    let mut qualifier_null = Vec::with_capacity(n);
    let mut citation = Vec::with_capacity(n);
    let mut citation_null = Vec::with_capacity(n);
    let mut supersedes = Vec::with_capacity(n);
    let mut supersedes_null = Vec::with_capacity(n);
    for row in rows {
        metric.push(row.metric.to_owned());
        country.push(row.country.to_owned());
        year.push(row.year);
        value.push(row.value.unwrap_or(0.0));
        value_null.push(row.value.is_none());
        qualifier.push(row.qualifier.unwrap_or_default().to_owned());
        qualifier_null.push(row.qualifier.is_none());
        citation.push(row.citation.unwrap_or_default().to_owned());
        citation_null.push(row.citation.is_none());
        supersedes.push(row.supersedes.unwrap_or(0));
        supersedes_null.push(row.supersedes.is_none());
    }
    let mut values = vec![
        Value::from(provenance.source),
        Value::from(provenance.release.map(str::to_owned)),
        Value::from(provenance.at),
        Value::from(provenance.run),
    ];
    values.extend([
        Value::from(metric),
        Value::from(country),
        Value::from(year),
        Value::from(value),
        Value::from(value_null),
        Value::from(qualifier),
        Value::from(qualifier_null),
        Value::from(citation),
        Value::from(citation_null),
        Value::from(supersedes),
        Value::from(supersedes_null),
    ]);
    let sql = format!(
        "INSERT INTO observations ({COLUMNS}) \
         SELECT u.metric, u.country, $1, u.year, \
                CASE WHEN u.value_null THEN NULL ELSE u.value END, \
                CASE WHEN u.qualifier_null THEN NULL ELSE u.qualifier END, \
                $2, \
                CASE WHEN u.citation_null THEN NULL ELSE u.citation END, \
                $3, NULL, \
                CASE WHEN u.supersedes_null THEN NULL ELSE u.supersedes END, \
                $4 \
         FROM UNNEST($5::text[], $6::text[], $7::int4[], $8::float8[], $9::bool[], \
                     $10::text[], $11::bool[], $12::text[], $13::bool[], $14::int8[], $15::bool[]) \
              AS u(metric, country, year, value, value_null, qualifier, qualifier_null, \
                   citation, citation_null, supersedes, supersedes_null)"
    );
    statement(DatabaseBackend::Postgres, &sql, values)
}

/// SQLite (and any other backend): a multi-row `VALUES` list with anonymous `?` placeholders.
/// Numbered ones (`?NNN`) are looked up linearly when bound, which makes binding a statement of
/// thousands of values quadratic.
fn values_insert(
    backend: DatabaseBackend,
    rows: &[NewVersion<'_>],
    provenance: &Provenance<'_>,
) -> sea_orm::Statement {
    // The columns of COLUMNS, in order; recorded_to is NULL on every new version.
    const ROW: &str = "(?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, ?, ?)";
    let mut values: Vec<Value> = Vec::with_capacity(rows.len() * SQLITE_VALUES_PER_ROW);
    let mut sql = String::with_capacity(64 + rows.len() * (ROW.len() + 2));
    sql.push_str("INSERT INTO observations (");
    sql.push_str(COLUMNS);
    sql.push_str(") VALUES ");
    for (i, row) in rows.iter().enumerate() {
        if i > 0 {
            sql.push_str(", ");
        }
        sql.push_str(ROW);
        values.extend([
            Value::from(row.metric),
            Value::from(row.country),
            Value::from(provenance.source),
            Value::from(row.year),
            Value::from(row.value),
            Value::from(row.qualifier.map(str::to_owned)),
            Value::from(provenance.release.map(str::to_owned)),
            Value::from(row.citation.map(str::to_owned)),
            Value::from(provenance.at),
            Value::from(row.supersedes),
            Value::from(provenance.run),
        ]);
    }
    sea_orm::Statement::from_sql_and_values(backend, sql, values)
}
