//! Reads. Reference tables are small and read whole; observation reads take every key of a
//! level at once, so that the API issues one statement per level however many rows it has.

use crate::entities::{
    company, company_sector, country, highlight, metric, observation, sector, source,
};
use crate::sql::{placeholders, statement};
use crate::{Store, StoreError, Timestamp};
use sea_orm::sea_query::{Condition, Expr, Func, SimpleExpr};
use sea_orm::Order;
use sea_orm::{
    ColumnTrait, DatabaseBackend, EntityTrait, FromQueryResult, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, Value,
};
use std::collections::HashMap;

/// Which sources to prefer when several published a figure for the same year, most preferred
/// first: a metric's own order (`metrics.preferred_sources`, from the baseline file), or the
/// default order the store was given ([`Store::with_source_preference`]; the worker's source
/// registry declares it).
#[derive(Clone, Debug, Default)]
pub struct SourcePreference {
    default: Vec<String>,
    per_metric: HashMap<String, Vec<String>>,
}

impl SourcePreference {
    /// The metrics' own orders, over `default`.
    pub fn from_metrics<'a>(
        default: &[String],
        metrics: impl IntoIterator<Item = &'a metric::Model>,
    ) -> Self {
        let per_metric = metrics
            .into_iter()
            .filter_map(|m| {
                Some((
                    m.slug.clone(),
                    parse_preference(m.preferred_sources.as_deref()?),
                ))
            })
            .collect();
        Self {
            default: default.to_vec(),
            per_metric,
        }
    }

    /// The order for one metric, most preferred first.
    pub fn order(&self, metric: &str) -> Vec<&str> {
        self.per_metric
            .get(metric)
            .unwrap_or(&self.default)
            .iter()
            .map(String::as_str)
            .collect()
    }
}

/// The order a metric row declares, most preferred first (empty entries ignored).
pub fn parse_preference(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The order of `metric`: its own if it declares one, else `default`.
pub fn preference_of(metric: &metric::Model, default: &[String]) -> Vec<String> {
    match metric.preferred_sources.as_deref().map(parse_preference) {
        Some(order) if !order.is_empty() => order,
        _ => default.to_vec(),
    }
}

/// Filters on observations. `as_of: None` reads current knowledge.
#[derive(Clone, Debug, Default)]
pub struct ObservationFilter {
    pub metric: String,
    pub countries: Option<Vec<String>>,
    pub from_year: Option<i32>,
    pub to_year: Option<i32>,
    pub source: Option<String>,
    pub as_of: Option<Timestamp>,
}

/// Filters and keyset position for the companies connection, ordered by (name, slug).
#[derive(Clone, Debug, Default)]
pub struct CompanyFilter {
    pub country: Option<String>,
    pub sector: Option<String>,
}

impl Store {
    pub async fn countries(&self) -> Result<Vec<country::Model>, StoreError> {
        Ok(country::Entity::find()
            .order_by_asc(country::Column::Name)
            .all(&self.db)
            .await?)
    }

    /// Finds a country by ISO3 or ISO2 code, case-insensitively.
    pub async fn find_country(&self, code: &str) -> Result<Option<country::Model>, StoreError> {
        let code = code.trim().to_ascii_uppercase();
        let column = if code.len() == 2 {
            country::Column::Iso2
        } else {
            country::Column::Code
        };
        Ok(country::Entity::find()
            .filter(column.eq(code))
            .one(&self.db)
            .await?)
    }

    pub async fn metrics(&self, category: Option<&str>) -> Result<Vec<metric::Model>, StoreError> {
        let mut query = metric::Entity::find().order_by_asc(metric::Column::Slug);
        if let Some(category) = category {
            query = query.filter(metric::Column::Category.eq(category));
        }
        Ok(query.all(&self.db).await?)
    }

    pub async fn find_metric(&self, slug: &str) -> Result<Option<metric::Model>, StoreError> {
        Ok(metric::Entity::find_by_id(slug.to_owned())
            .one(&self.db)
            .await?)
    }

    pub async fn sources(&self) -> Result<Vec<source::Model>, StoreError> {
        Ok(source::Entity::find()
            .order_by_asc(source::Column::Id)
            .all(&self.db)
            .await?)
    }

    pub async fn find_source(&self, id: &str) -> Result<Option<source::Model>, StoreError> {
        Ok(source::Entity::find_by_id(id.to_owned())
            .one(&self.db)
            .await?)
    }

    /// Which sources currently publish a value of which metric: `(metric, source)` pairs, of the
    /// given metrics or of all, ordered by metric and source id.
    ///
    /// One index probe per (metric, source) pair (`observations_current_by_source`), so the cost
    /// follows the number of metrics and sources, not the number of observations.
    pub async fn metric_sources(
        &self,
        metrics: Option<&[String]>,
    ) -> Result<Vec<(String, source::Model)>, StoreError> {
        #[derive(FromQueryResult)]
        struct Row {
            metric: String,
            id: String,
            name: String,
            homepage: String,
            terms: String,
        }
        // A scalar subquery rather than EXISTS: PostgreSQL turns an EXISTS into a semi-join that
        // reads every current observation; the subquery stays one index probe per pair.
        let mut values: Vec<Value> = Vec::new();
        let metric_clause = match metrics {
            Some([]) => return Ok(Vec::new()),
            Some(slugs) => in_list("m.slug", slugs, &mut values),
            None => "TRUE".to_owned(),
        };
        let sql = format!(
            "SELECT m.slug AS metric, s.id, s.name, s.homepage, s.terms \
             FROM metrics m CROSS JOIN sources s \
             WHERE {metric_clause} AND ( \
                 SELECT 1 FROM observations o \
                 WHERE o.metric = m.slug AND o.source = s.id \
                   AND o.recorded_to IS NULL AND o.value IS NOT NULL \
                 LIMIT 1) IS NOT NULL \
             ORDER BY m.slug, s.id"
        );
        let rows = Row::find_by_statement(statement(self.backend(), &sql, values))
            .all(&self.db)
            .await?;
        Ok(rows
            .into_iter()
            .map(|r| {
                let source = source::Model {
                    id: r.id,
                    name: r.name,
                    homepage: r.homepage,
                    terms: r.terms,
                };
                (r.metric, source)
            })
            .collect())
    }

    /// Every company, by name, ignoring case (`Alibaba, Baidu, BYD`).
    pub async fn companies(&self) -> Result<Vec<company::Model>, StoreError> {
        Ok(company::Entity::find()
            .order_by(lower_name(), Order::Asc)
            .order_by_asc(company::Column::Slug)
            .all(&self.db)
            .await?)
    }

    /// Which company is active in which sector.
    pub async fn company_sectors(&self) -> Result<Vec<company_sector::Model>, StoreError> {
        Ok(company_sector::Entity::find().all(&self.db).await?)
    }

    /// Every highlight, by country, topic and position.
    pub async fn highlights(&self) -> Result<Vec<highlight::Model>, StoreError> {
        Ok(highlight::Entity::find()
            .order_by_asc(highlight::Column::Country)
            .order_by_asc(highlight::Column::Topic)
            .order_by_asc(highlight::Column::Position)
            .all(&self.db)
            .await?)
    }

    pub async fn sectors(&self, leader: Option<&str>) -> Result<Vec<sector::Model>, StoreError> {
        let mut query = sector::Entity::find().order_by_asc(sector::Column::Position);
        if let Some(leader) = leader {
            query = query.filter(sector::Column::Leader.eq(leader));
        }
        Ok(query.all(&self.db).await?)
    }

    pub async fn find_sector(&self, slug: &str) -> Result<Option<sector::Model>, StoreError> {
        Ok(sector::Entity::find_by_id(slug.to_owned())
            .one(&self.db)
            .await?)
    }

    /// One page of companies after the keyset position `(name, slug)`, in order of name (ignoring
    /// case, as the database lowercases it), then slug.
    pub async fn companies_page(
        &self,
        filter: &CompanyFilter,
        after: Option<(String, String)>,
        limit: u64,
    ) -> Result<Vec<company::Model>, StoreError> {
        let mut query = company::Entity::find()
            .filter(company_condition(filter))
            .order_by(lower_name(), Order::Asc)
            .order_by_asc(company::Column::Slug)
            .limit(limit);
        if let Some((name, slug)) = after {
            let after_name = || Expr::expr(Func::lower(Expr::val(name.clone())));
            query = query.filter(
                Condition::any()
                    .add(Expr::expr(lower_name()).gt(after_name()))
                    .add(
                        Expr::expr(lower_name())
                            .eq(after_name())
                            .and(company::Column::Slug.gt(slug)),
                    ),
            );
        }
        Ok(query.all(&self.db).await?)
    }

    pub async fn count_companies(&self, filter: &CompanyFilter) -> Result<u64, StoreError> {
        Ok(company::Entity::find()
            .filter(company_condition(filter))
            .count(&self.db)
            .await?)
    }

    /// Every source's values of one metric that were known at `as_of` (or are current), ordered by
    /// country, year and source. Withdrawn values are left out.
    pub async fn observations(
        &self,
        filter: &ObservationFilter,
    ) -> Result<Vec<observation::Model>, StoreError> {
        use observation::Column as C;
        let mut query = observation::Entity::find()
            .filter(C::Metric.eq(filter.metric.clone()))
            .filter(C::Value.is_not_null())
            .filter(known_at(filter.as_of))
            .order_by_asc(C::Country)
            .order_by_asc(C::Year)
            .order_by_asc(C::Source);
        if let Some(countries) = &filter.countries {
            query = query.filter(C::Country.is_in(countries.iter().cloned()));
        }
        if let Some(from) = filter.from_year {
            query = query.filter(C::Year.gte(from));
        }
        if let Some(to) = filter.to_year {
            query = query.filter(C::Year.lte(to));
        }
        if let Some(source) = &filter.source {
            query = query.filter(C::Source.eq(source.clone()));
        }
        Ok(query.all(&self.db).await?)
    }

    /// The most recent year's value for each (metric, country) among current versions, of the
    /// given metrics and countries (`None`: all), one source per point chosen by `preference`
    /// (sources not listed come last, by id). Ordered by metric, then country; pairs without a
    /// current value are left out.
    ///
    /// Each pair is one probe of `observations_latest` (metric, country, year descending) that
    /// stops at the newest year, so the cost follows the answer, not the table.
    pub async fn latest_values(
        &self,
        metrics: Option<&[String]>,
        countries: Option<&[String]>,
        preference: &SourcePreference,
    ) -> Result<Vec<observation::Model>, StoreError> {
        if matches!(metrics, Some([])) || matches!(countries, Some([])) {
            return Ok(Vec::new());
        }
        let mut values: Vec<Value> = Vec::new();
        let rank = source_rank_sql(preference, &mut values);
        let metric_clause = match metrics {
            Some(slugs) => in_list("m.slug", slugs, &mut values),
            None => "TRUE".to_owned(),
        };
        let country_clause = match countries {
            Some(codes) => in_list("c.code", codes, &mut values),
            None => "TRUE".to_owned(),
        };
        let newest = format!(
            "FROM observations o \
             WHERE o.metric = m.slug AND o.country = c.code \
               AND o.recorded_to IS NULL AND o.value IS NOT NULL \
             ORDER BY o.year DESC, {rank}, o.source \
             LIMIT 1"
        );
        // PostgreSQL probes each pair through LATERAL (joining on a correlated id, it hashes the
        // whole table instead); SQLite has no LATERAL and probes the correlated id per pair.
        let pick = match self.backend() {
            DatabaseBackend::Postgres => format!("CROSS JOIN LATERAL (SELECT o.* {newest}) v"),
            _ => format!("JOIN observations v ON v.id = (SELECT o.id {newest})"),
        };
        let sql = format!(
            "SELECT v.id, v.metric, v.country, v.source, v.year, v.value, v.qualifier, v.release, \
                    v.citation, v.recorded_from, v.recorded_to, v.supersedes, v.run_id \
             FROM metrics m CROSS JOIN countries c {pick} \
             WHERE {metric_clause} AND {country_clause} \
             ORDER BY v.metric, v.country"
        );
        Ok(observation::Entity::find()
            .from_raw_sql(statement(self.backend(), &sql, values))
            .all(&self.db)
            .await?)
    }
}

/// `column IN ($n, …)` over `items`, binding them into `values`.
fn in_list(column: &str, items: &[String], values: &mut Vec<Value>) -> String {
    let list = placeholders(values.len() + 1, items.len());
    values.extend(items.iter().map(|item| Value::from(item.clone())));
    format!("{column} IN ({list})")
}

/// `CASE WHEN o.metric = $1 AND o.source = $2 THEN 0 … WHEN o.source = $9 THEN 0 … ELSE n END`:
/// each metric's own order first, then the default order; binds the ids into `values`.
fn source_rank_sql(preference: &SourcePreference, values: &mut Vec<Value>) -> String {
    let mut sql = String::from("CASE");
    let mut metrics: Vec<(&String, &Vec<String>)> = preference.per_metric.iter().collect();
    metrics.sort();
    let bind = |value: &str, values: &mut Vec<Value>| {
        values.push(Value::from(value.to_owned()));
        format!("${}", values.len())
    };
    for (metric, order) in metrics {
        for (rank, source) in order.iter().enumerate() {
            let m = bind(metric, values);
            let s = bind(source, values);
            sql.push_str(&format!(
                " WHEN o.metric = {m} AND o.source = {s} THEN {rank}"
            ));
        }
    }
    for (rank, source) in preference.default.iter().enumerate() {
        let s = bind(source, values);
        sql.push_str(&format!(" WHEN o.source = {s} THEN {rank}"));
    }
    sql.push_str(&format!(" ELSE {} END", preference.default.len().max(16)));
    sql
}

/// Versions valid at `as_of` (`recorded_from <= as_of < recorded_to`), or the current ones.
fn known_at(as_of: Option<Timestamp>) -> Condition {
    use observation::Column as C;
    match as_of {
        None => Condition::all().add(C::RecordedTo.is_null()),
        Some(at) => Condition::all().add(C::RecordedFrom.lte(at)).add(
            Condition::any()
                .add(C::RecordedTo.is_null())
                .add(C::RecordedTo.gt(at)),
        ),
    }
}

fn company_condition(filter: &CompanyFilter) -> Condition {
    let mut condition = Condition::all();
    if let Some(country) = &filter.country {
        condition = condition.add(company::Column::Country.eq(country.clone()));
    }
    if let Some(sector) = &filter.sector {
        condition = condition.add(
            company::Column::Slug.in_subquery(
                sea_orm::sea_query::Query::select()
                    .column(company_sector::Column::Company)
                    .from(company_sector::Entity)
                    .and_where(Expr::col(company_sector::Column::Sector).eq(sector.clone()))
                    .to_owned(),
            ),
        );
    }
    condition
}

/// The rank of `source` in `preference` (unlisted sources after every listed one).
pub fn source_rank(source: &str, preference: &[&str]) -> usize {
    preference
        .iter()
        .position(|s| *s == source)
        .unwrap_or(preference.len())
}

/// Keeps one observation per (country, year): the most preferred source's (ties by source id).
/// The result is ordered by country, then year.
pub fn preferred_per_year(
    mut rows: Vec<observation::Model>,
    preference: &[&str],
) -> Vec<observation::Model> {
    rows.sort_by(|a, b| {
        (
            a.country.as_str(),
            a.year,
            source_rank(&a.source, preference),
            a.source.as_str(),
        )
            .cmp(&(
                b.country.as_str(),
                b.year,
                source_rank(&b.source, preference),
                b.source.as_str(),
            ))
    });
    rows.dedup_by(|later, first| later.country == first.country && later.year == first.year);
    rows
}

/// A company's name lowercased by the database, the order companies are listed in.
fn lower_name() -> SimpleExpr {
    Func::lower(Expr::col(company::Column::Name)).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obs(country: &str, year: i32, source: &str, value: f64) -> observation::Model {
        observation::Model {
            id: 0,
            metric: "m".into(),
            country: country.into(),
            source: source.into(),
            year,
            value: Some(value),
            qualifier: None,
            release: None,
            citation: None,
            recorded_from: chrono::DateTime::UNIX_EPOCH,
            recorded_to: None,
            supersedes: None,
            run_id: None,
        }
    }

    #[test]
    fn official_statistics_win_over_the_baseline_for_the_same_year() {
        let rows = vec![
            obs("USA", 2022, "baseline", 1.0),
            obs("USA", 2022, "worldbank", 2.0),
            obs("USA", 2023, "baseline", 3.0),
            obs("CHN", 2022, "baseline", 4.0),
        ];
        let picked = preferred_per_year(rows, &["oecd-msti", "worldbank", "baseline"]);
        let summary: Vec<_> = picked
            .iter()
            .map(|o| (o.country.as_str(), o.year, o.source.as_str()))
            .collect();
        assert_eq!(
            summary,
            vec![
                ("CHN", 2022, "baseline"),
                ("USA", 2022, "worldbank"),
                ("USA", 2023, "baseline")
            ]
        );
    }

    #[test]
    fn a_metric_without_an_order_of_its_own_follows_the_order_given() {
        let default = vec!["worldbank".to_owned(), "baseline".to_owned()];
        let preference = SourcePreference::from_metrics(&default, []);
        assert_eq!(preference.order("rd_intensity"), ["worldbank", "baseline"]);
        assert!(SourcePreference::default().order("rd_intensity").is_empty());
    }

    #[test]
    fn unlisted_sources_rank_after_listed_ones() {
        let preference = ["worldbank", "baseline"];
        assert!(source_rank("elsewhere", &preference) > source_rank("baseline", &preference));
    }
}
