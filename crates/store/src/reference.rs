//! Reference data (countries, sources, metrics, sectors, companies, highlights): upserted as a
//! whole from the baseline, so loading the same data twice changes nothing. A sector's editorial
//! verdict is also versioned (`sector_verdicts`): a changed verdict closes the current version
//! and records a new one, like a revised observation.

use crate::entities::{
    company, company_sector, country, highlight, metric, sector, sector_evidence, sector_verdict,
    source,
};
use crate::{Store, StoreError, Timestamp};
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveModelTrait,
    ActiveValue::{NotSet, Set},
    ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter, TransactionTrait,
};

/// The source reference data (sectors, companies, links, highlights) are loaded from: the
/// curated baseline.
pub const REFERENCE_SOURCE: &str = "baseline";

/// A company and the sectors it is active in.
#[derive(Clone, Debug, PartialEq)]
pub struct CompanyEntry {
    pub company: company::Model,
    pub sectors: Vec<SectorLink>,
}

/// A company's activity in a sector, with where that comes from (`None`: unsourced).
#[derive(Clone, Debug, PartialEq)]
pub struct SectorLink {
    pub sector: String,
    pub citation: Option<String>,
}

impl From<&str> for SectorLink {
    /// An unsourced link.
    fn from(sector: &str) -> Self {
        SectorLink {
            sector: sector.to_owned(),
            citation: None,
        }
    }
}

/// One narrative highlight, identified by (country, topic, position).
#[derive(Clone, Debug, PartialEq)]
pub struct HighlightEntry {
    pub country: String,
    pub topic: String,
    pub position: i32,
    pub title: String,
    pub body: String,
    /// Where the point comes from; `None`: unsourced.
    pub citation: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct ReferenceData {
    pub sources: Vec<source::Model>,
    pub countries: Vec<country::Model>,
    pub metrics: Vec<metric::Model>,
    pub sectors: Vec<sector::Model>,
    pub companies: Vec<CompanyEntry>,
    pub highlights: Vec<HighlightEntry>,
    /// Each sector's evidence indicators; a sector named here has its list replaced as a whole.
    pub evidence: Vec<sector_evidence::Model>,
}

impl Store {
    /// Inserts or updates every entry of `data` in one transaction.
    pub async fn upsert_reference_data(&self, data: &ReferenceData) -> Result<(), StoreError> {
        let txn = self.db.begin().await?;
        upsert_reference(&txn, data, crate::now(), None).await?;
        self.commit_and_announce(txn, &[crate::changes::Notice::Changed])
            .await
    }

    /// Whether the database holds no data source yet (a fresh database).
    pub async fn is_empty(&self) -> Result<bool, StoreError> {
        use sea_orm::PaginatorTrait;
        Ok(source::Entity::find().count(&self.db).await? == 0)
    }
}

/// Collects `rows` at once, so that the future holds only them (not the iterator borrowing the
/// caller's data): the refresh that records reference data runs on a spawned task.
fn upsert<'a, A, I>(
    db: &'a impl ConnectionTrait,
    rows: I,
    on_conflict: OnConflict,
) -> impl std::future::Future<Output = Result<(), StoreError>> + Send + 'a
where
    A: sea_orm::ActiveModelTrait + Send + Sync + 'a,
    I: IntoIterator<Item = A>,
{
    let rows: Vec<A> = rows.into_iter().collect();
    async move {
        for chunk in rows.chunks(200) {
            A::Entity::insert_many(chunk.to_vec())
                .on_conflict(on_conflict.clone())
                .do_nothing()
                .exec(db)
                .await?;
        }
        Ok(())
    }
}

/// Inserts or updates every entry of `data` through `db` (inside the caller's transaction), and
/// records a new verdict version, valid from `at`, for each sector whose verdict (leader, summary
/// or citation) changed. Returns the sectors whose verdict was revised (not those recorded for
/// the first time).
pub async fn upsert_reference(
    db: &crate::Transaction,
    data: &ReferenceData,
    at: Timestamp,
    run: Option<i64>,
) -> Result<Vec<String>, StoreError> {
    upsert(
        db,
        data.sources
            .iter()
            .cloned()
            .map(IntoActiveModel::into_active_model),
        OnConflict::column(source::Column::Id)
            .update_columns([
                source::Column::Name,
                source::Column::Homepage,
                source::Column::Terms,
            ])
            .to_owned(),
    )
    .await?;
    upsert(
        db,
        data.countries
            .iter()
            .cloned()
            .map(IntoActiveModel::into_active_model),
        OnConflict::column(country::Column::Code)
            .update_columns([
                country::Column::Iso2,
                country::Column::Name,
                country::Column::Flag,
                country::Column::Kind,
            ])
            .to_owned(),
    )
    .await?;
    upsert(
        db,
        data.metrics
            .iter()
            .cloned()
            .map(IntoActiveModel::into_active_model),
        OnConflict::column(metric::Column::Slug)
            .update_columns([
                metric::Column::Name,
                metric::Column::Unit,
                metric::Column::Category,
                metric::Column::Description,
                metric::Column::HigherIsBetter,
                metric::Column::PreferredSources,
            ])
            .to_owned(),
    )
    .await?;
    upsert(
        db,
        data.sectors
            .iter()
            .cloned()
            .map(IntoActiveModel::into_active_model),
        OnConflict::column(sector::Column::Slug)
            .update_columns([
                sector::Column::Name,
                sector::Column::Leader,
                sector::Column::Summary,
                sector::Column::Position,
                sector::Column::Citation,
            ])
            .to_owned(),
    )
    .await?;
    upsert(
        db,
        data.companies
            .iter()
            .map(|entry| entry.company.clone().into_active_model()),
        OnConflict::column(company::Column::Slug)
            .update_columns([
                company::Column::Name,
                company::Column::Country,
                company::Column::Ownership,
                company::Column::Founded,
                company::Column::Headquarters,
                company::Column::Description,
                company::Column::Citation,
                company::Column::OwnershipCitation,
                company::Column::FoundedCitation,
                company::Column::HeadquartersCitation,
            ])
            .to_owned(),
    )
    .await?;
    // A company's sector list is replaced as a whole.
    let slugs: Vec<&str> = data
        .companies
        .iter()
        .map(|e| e.company.slug.as_str())
        .collect();
    if !slugs.is_empty() {
        company_sector::Entity::delete_many()
            .filter(company_sector::Column::Company.is_in(slugs))
            .exec(db)
            .await?;
    }
    upsert(
        db,
        data.companies.iter().flat_map(|entry| {
            entry
                .sectors
                .iter()
                .map(|link| company_sector::ActiveModel {
                    company: Set(entry.company.slug.clone()),
                    sector: Set(link.sector.clone()),
                    citation: Set(link.citation.clone()),
                })
        }),
        OnConflict::columns([
            company_sector::Column::Company,
            company_sector::Column::Sector,
        ])
        .do_nothing()
        .to_owned(),
    )
    .await?;
    upsert(
        db,
        data.highlights.iter().map(|h| highlight::ActiveModel {
            id: NotSet,
            country: Set(h.country.clone()),
            topic: Set(h.topic.clone()),
            position: Set(h.position),
            title: Set(h.title.clone()),
            body: Set(h.body.clone()),
            citation: Set(h.citation.clone()),
        }),
        OnConflict::columns([
            highlight::Column::Country,
            highlight::Column::Topic,
            highlight::Column::Position,
        ])
        .update_columns([
            highlight::Column::Title,
            highlight::Column::Body,
            highlight::Column::Citation,
        ])
        .to_owned(),
    )
    .await?;
    // A sector's evidence list is replaced as a whole.
    let mut evidence_sectors: Vec<&str> = data.evidence.iter().map(|e| e.sector.as_str()).collect();
    evidence_sectors.dedup();
    if !evidence_sectors.is_empty() {
        sector_evidence::Entity::delete_many()
            .filter(sector_evidence::Column::Sector.is_in(evidence_sectors))
            .exec(db)
            .await?;
    }
    upsert(
        db,
        data.evidence
            .iter()
            .cloned()
            .map(IntoActiveModel::into_active_model),
        OnConflict::columns([
            sector_evidence::Column::Sector,
            sector_evidence::Column::Metric,
        ])
        .do_nothing()
        .to_owned(),
    )
    .await?;
    record_verdicts(db, &data.sectors, at, run).await
}

/// Closes the current verdict version of each sector whose verdict differs from `sectors`' and
/// records the new one from `at`; a sector without any version gets its first.
async fn record_verdicts(
    db: &crate::Transaction,
    sectors: &[sector::Model],
    at: Timestamp,
    run: Option<i64>,
) -> Result<Vec<String>, StoreError> {
    use sector_verdict::Column as V;
    if sectors.is_empty() {
        return Ok(Vec::new());
    }
    let current = sector_verdict::Entity::find()
        .filter(V::RecordedTo.is_null())
        .filter(V::Sector.is_in(sectors.iter().map(|s| s.slug.as_str())))
        .all(db)
        .await?;
    let mut recorded = Vec::new();
    for sector in sectors {
        let previous = current.iter().find(|v| v.sector == sector.slug);
        let revised = previous.is_some();
        if let Some(previous) = previous {
            if previous.leader == sector.leader
                && previous.summary == sector.summary
                && previous.citation == sector.citation
            {
                continue;
            }
            sector_verdict::Entity::update_many()
                .col_expr(V::RecordedTo, sea_orm::sea_query::Expr::value(at))
                .filter(V::Id.eq(previous.id))
                .exec(db)
                .await?;
        }
        sector_verdict::ActiveModel {
            id: NotSet,
            sector: Set(sector.slug.clone()),
            leader: Set(sector.leader),
            summary: Set(sector.summary.clone()),
            citation: Set(sector.citation.clone()),
            recorded_from: Set(at),
            recorded_to: Set(None),
            run_id: Set(run),
        }
        .insert(db)
        .await?;
        if revised {
            recorded.push(sector.slug.clone());
        }
    }
    Ok(recorded)
}
