//! Reference data (countries, sources, metrics, sectors, companies, highlights): upserted as a
//! whole from the baseline, so loading the same data twice changes nothing.

use crate::entities::{company, company_sector, country, highlight, metric, sector, source};
use crate::{Store, StoreError};
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter, TransactionTrait,
};

/// A company and the sectors it is active in.
#[derive(Clone, Debug, PartialEq)]
pub struct CompanyEntry {
    pub company: company::Model,
    pub sectors: Vec<String>,
}

/// One narrative highlight, identified by (country, topic, position).
#[derive(Clone, Debug, PartialEq)]
pub struct HighlightEntry {
    pub country: String,
    pub topic: String,
    pub position: i32,
    pub title: String,
    pub body: String,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct ReferenceData {
    pub sources: Vec<source::Model>,
    pub countries: Vec<country::Model>,
    pub metrics: Vec<metric::Model>,
    pub sectors: Vec<sector::Model>,
    pub companies: Vec<CompanyEntry>,
    pub highlights: Vec<HighlightEntry>,
}

impl Store {
    /// Inserts or updates every entry of `data` in one transaction.
    pub async fn upsert_reference_data(&self, data: &ReferenceData) -> Result<(), StoreError> {
        let txn = self.db.begin().await?;
        upsert_reference(&txn, data).await?;
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

/// Inserts or updates every entry of `data` through `db` (inside the caller's transaction).
pub async fn upsert_reference(
    db: &crate::Transaction,
    data: &ReferenceData,
) -> Result<(), StoreError> {
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
                .map(|sector| company_sector::ActiveModel {
                    company: Set(entry.company.slug.clone()),
                    sector: Set(sector.clone()),
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
        }),
        OnConflict::columns([
            highlight::Column::Country,
            highlight::Column::Topic,
            highlight::Column::Position,
        ])
        .update_columns([highlight::Column::Title, highlight::Column::Body])
        .to_owned(),
    )
    .await?;
    Ok(())
}
