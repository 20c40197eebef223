//! The curated baseline: `data/baseline.toml`, every figure with its year and citation.
//!
//! One configured [`BaselineFile`] is read at every load (seeding, a refresh from the command
//! line, a schedule, `triggerRefresh`), so an edit takes effect everywhere at the next load; the
//! run notes name the file and the SHA-256 of its text. The file is also compiled into the
//! binary, so a machine without it still has a baseline.

use super::registry::SourceSpec;
use super::{FetchRequest, Fetched, Source, SourceError};
use crate::WorkerError;
use async_trait::async_trait;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use techbalance_store::entities::company::{self, Ownership};
use techbalance_store::entities::sector::{self, SectorLeader};
use techbalance_store::entities::country::{self, CountryKind};
use techbalance_store::entities::{metric, sector_evidence, source};
use techbalance_store::reference::{CompanyEntry, HighlightEntry, ReferenceData, SectorLink};
use techbalance_store::record::{Batch, Point, Scope};

pub const SOURCE_ID: &str = "baseline";

/// The baseline in the registry: its `sources` row comes from the file; refreshed only on
/// demand; every official statistic is preferred to it.
pub const SPEC: SourceSpec = SourceSpec {
    id: SOURCE_ID,
    reference: None,
    schedule: None,
    preference_rank: 100,
    base_url: None,
    build: |context| Ok(Box::new(BaselineSource::new(context.baseline.clone()))),
};

/// The baseline shipped with this build.
pub const BUNDLED: &str = include_str!("../../../../data/baseline.toml");

const QUALIFIERS: &[&str] = &["~", "+"];
const ROLES: &[&str] = &[
    "input",
    "output",
    "adoption",
    "capacity",
    "investment",
    "research",
];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Baseline {
    source: SourceEntry,
    citation: Citation,
    /// Named citations for reference facts (sectors, companies, links, highlights).
    #[serde(default)]
    references: Vec<Reference>,
    countries: Vec<CountryEntry>,
    metrics: Vec<MetricEntry>,
    #[serde(default)]
    observations: Vec<ObservationEntry>,
    #[serde(default)]
    sectors: Vec<SectorEntry>,
    #[serde(default)]
    companies: Vec<CompanyRow>,
    #[serde(default)]
    highlights: Vec<HighlightRow>,
    /// Our World in Data charts refreshed by the `owid` source, and the metric each feeds.
    #[serde(default)]
    owid_charts: Vec<OwidChart>,
}

/// One Our World in Data chart and the metric one of its columns feeds (data, not code: the
/// `[[owid_charts]]` entries of the baseline file).
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct OwidChart {
    /// The chart's slug: `https://ourworldindata.org/grapher/<slug>`.
    pub slug: String,
    /// The metric slug its values are recorded under.
    pub metric: String,
    /// The CSV column's short name (`useColumnShortNames=true`).
    pub column: String,
    /// The metric's unit, which the values have once multiplied by `scale` (checked against the
    /// metric's own unit).
    pub unit: String,
    /// The unit the chart's metadata gives the column, when known: checked at every fetch, so that
    /// a chart that changes its unit is not recorded under the old scale.
    pub owid_unit: Option<String>,
    /// What each value is multiplied by (e.g. 1e9 from billions); 1 when absent.
    #[serde(default = "unit_scale")]
    pub scale: f64,
    /// How the slug and the column's short name were checked.
    pub checked: String,
}

fn unit_scale() -> f64 {
    1.0
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SourceEntry {
    id: String,
    name: String,
    homepage: String,
    terms: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Citation {
    title: String,
    updated: String,
}

/// A work cited for reference facts, named by `id` in their `citation` fields.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Reference {
    id: String,
    title: String,
    publisher: Option<String>,
    updated: String,
    section: Option<String>,
    url: Option<String>,
}

impl Reference {
    /// `"US & China Balance" (updated 2026-01), section "Sector-by-Sector"`.
    fn text(&self) -> String {
        let mut text = format!("\"{}\"", self.title);
        if let Some(publisher) = &self.publisher {
            text.push_str(&format!(", {publisher}"));
        }
        text.push_str(&format!(" (updated {})", self.updated));
        if let Some(section) = &self.section {
            text.push_str(&format!(", section \"{section}\""));
        }
        if let Some(url) = &self.url {
            text.push_str(&format!(", {url}"));
        }
        text
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CountryEntry {
    code: String,
    iso2: String,
    name: String,
    flag: String,
    /// `country` (the default: an ISO 3166-1 country) or `aggregate` (a group of countries that
    /// sources publish as one, e.g. the European Union).
    #[serde(default, deserialize_with = "vocabulary")]
    kind: CountryKind,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MetricEntry {
    slug: String,
    name: String,
    unit: String,
    category: String,
    description: String,
    higher_is_better: bool,
    /// Source ids, most preferred first, when this metric departs from the default order.
    preferred_sources: Option<Vec<String>>,
}

#[derive(Debug, Deserialize, PartialEq, Eq, Clone, Copy)]
#[serde(rename_all = "lowercase")]
enum YearBasis {
    Stated,
    Implied,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ObservationEntry {
    metric: String,
    country: String,
    year: i32,
    value: f64,
    qualifier: Option<String>,
    year_basis: YearBasis,
    note: Option<String>,
    /// A `references` id, for a figure from another work than the page of `[citation]`.
    citation: Option<String>,
}

/// A value of one of the store's vocabularies, as stored (`CHINA`, `STATE_SUPERVISED`); any
/// other text is an error that lists the values allowed.
fn vocabulary<'de, D, E>(deserializer: D) -> Result<E, D::Error>
where
    D: serde::Deserializer<'de>,
    E: techbalance_store::entities::StoredValue,
{
    let text = String::deserialize(deserializer)?;
    techbalance_store::entities::parse_stored(&text).map_err(serde::de::Error::custom)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SectorEntry {
    slug: String,
    name: String,
    #[serde(deserialize_with = "vocabulary")]
    leader: SectorLeader,
    summary: String,
    /// A `references` id; absent: the verdict is unsourced.
    citation: Option<String>,
    /// The indicators the verdict can be checked against, most telling first.
    #[serde(default)]
    evidence: Vec<EvidenceEntry>,
}

#[derive(Debug, Deserialize, PartialEq, Eq, Clone, Copy)]
#[serde(rename_all = "lowercase")]
enum Better {
    Higher,
    Lower,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EvidenceEntry {
    metric: String,
    /// Which direction is the stronger position; must agree with the metric's.
    better: Better,
    role: String,
    /// Economy-wide rather than specific to the sector.
    #[serde(default)]
    proxy: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CompanyRow {
    slug: String,
    name: String,
    country: String,
    sectors: Vec<String>,
    #[serde(deserialize_with = "vocabulary")]
    ownership: Ownership,
    founded: Option<i32>,
    headquarters: Option<String>,
    description: Option<String>,
    /// `references` ids; an absent one leaves that fact unsourced.
    citation: Option<String>,
    ownership_citation: Option<String>,
    founded_citation: Option<String>,
    headquarters_citation: Option<String>,
    /// Sector slug → `references` id, for the links (of `sectors`) a source supports.
    #[serde(default)]
    sector_citations: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct HighlightRow {
    country: String,
    topic: String,
    title: String,
    body: String,
    /// A `references` id; absent: unsourced.
    citation: Option<String>,
}

impl Baseline {
    /// Parses and checks a baseline; `origin` names it in errors (a path, or "bundled").
    pub fn parse(text: &str, origin: &str) -> Result<Self, WorkerError> {
        let invalid = |problem: String| WorkerError::Baseline {
            origin: origin.to_owned(),
            problem,
        };
        let baseline: Baseline = toml::from_str(text).map_err(|e| invalid(e.to_string()))?;
        baseline.check().map_err(invalid)?;
        Ok(baseline)
    }

    pub fn bundled() -> Result<Self, WorkerError> {
        Self::parse(BUNDLED, "bundled with this build")
    }

    /// Every reference must resolve and every enumerated field hold a known value.
    fn check(&self) -> Result<(), String> {
        if self.source.id != SOURCE_ID {
            return Err(format!(
                "source id must be \"{SOURCE_ID}\", found \"{}\"",
                self.source.id
            ));
        }
        let countries = unique(self.countries.iter().map(|c| c.code.as_str()), "country")?;
        let metrics = unique(self.metrics.iter().map(|m| m.slug.as_str()), "metric")?;
        let sectors = unique(self.sectors.iter().map(|s| s.slug.as_str()), "sector")?;
        unique(self.companies.iter().map(|c| c.slug.as_str()), "company")?;
        for chart in &self.owid_charts {
            let at = format!("owid chart {} ({})", chart.slug, chart.column);
            let Some(metric) = self.metrics.iter().find(|m| m.slug == chart.metric) else {
                return Err(format!("{at}: unknown metric {}", chart.metric));
            };
            if metric.unit != chart.unit {
                return Err(format!(
                    "{at}: unit {} differs from the unit of metric {} ({})",
                    chart.unit, metric.slug, metric.unit
                ));
            }
            if !(chart.scale.is_finite() && chart.scale > 0.0) {
                return Err(format!("{at}: scale must be a positive number"));
            }
            let well_formed = |text: &str| {
                !text.is_empty()
                    && text
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            };
            if !well_formed(&chart.slug) || !well_formed(&chart.column) {
                return Err(format!(
                    "{at}: slugs and column names are letters, digits, - and _"
                ));
            }
            if chart.checked.trim().is_empty() {
                return Err(format!("{at}: say how the chart was checked"));
            }
        }
        unique(
            self.owid_charts.iter().map(|c| c.metric.as_str()),
            "owid chart metric",
        )?;
        for c in &self.countries {
            if c.code.len() != 3
                || c.iso2.len() != 2
                || !c.code.chars().all(|ch| ch.is_ascii_uppercase())
            {
                return Err(format!(
                    "country {}: codes must be ISO 3166-1 alpha-3 and alpha-2 (for an \
                     aggregate, three and two capital letters)",
                    c.code
                ));
            }
        }
        for o in &self.observations {
            let at = format!("observation {} {} {}", o.metric, o.country, o.year);
            if !metrics.contains(o.metric.as_str()) {
                return Err(format!("{at}: unknown metric"));
            }
            if !countries.contains(o.country.as_str()) {
                return Err(format!("{at}: unknown country"));
            }
            if !o.value.is_finite() {
                return Err(format!("{at}: value must be a finite number"));
            }
            if let Some(id) = o
                .citation
                .as_ref()
                .filter(|id| !self.references.iter().any(|r| &r.id == *id))
            {
                return Err(format!("{at}: unknown reference {id}"));
            }
            if let Some(q) = &o.qualifier {
                if !QUALIFIERS.contains(&q.as_str()) {
                    return Err(format!("{at}: qualifier must be one of {QUALIFIERS:?}"));
                }
            }
        }
        let references = unique(self.references.iter().map(|r| r.id.as_str()), "reference")?;
        let cited = |what: String, id: Option<&String>| match id {
            Some(id) if !references.contains(id.as_str()) => {
                Err(format!("{what}: unknown reference {id}"))
            }
            _ => Ok(()),
        };
        for s in &self.sectors {
            cited(format!("sector {}", s.slug), s.citation.as_ref())?;
            unique(
                s.evidence.iter().map(|e| e.metric.as_str()),
                "evidence metric",
            )
            .map_err(|e| format!("sector {}: {e}", s.slug))?;
            for e in &s.evidence {
                let at = format!("sector {} evidence {}", s.slug, e.metric);
                let Some(metric) = self.metrics.iter().find(|m| m.slug == e.metric) else {
                    return Err(format!("{at}: unknown metric"));
                };
                if metric.higher_is_better != (e.better == Better::Higher) {
                    return Err(format!(
                        "{at}: better = {:?} contradicts the metric's higher_is_better = {}",
                        e.better, metric.higher_is_better
                    ));
                }
                if !ROLES.contains(&e.role.as_str()) {
                    return Err(format!("{at}: role must be one of {ROLES:?}"));
                }
            }
        }
        for c in &self.companies {
            if !countries.contains(c.country.as_str()) {
                return Err(format!("company {}: unknown country {}", c.slug, c.country));
            }
            if let Some(s) = c.sectors.iter().find(|s| !sectors.contains(s.as_str())) {
                return Err(format!("company {}: unknown sector {s}", c.slug));
            }
            let at = format!("company {}", c.slug);
            for id in [
                &c.citation,
                &c.ownership_citation,
                &c.founded_citation,
                &c.headquarters_citation,
            ] {
                cited(at.clone(), id.as_ref())?;
            }
            for (sector, id) in &c.sector_citations {
                if !c.sectors.contains(sector) {
                    return Err(format!(
                        "{at}: sector_citations names {sector}, which is not in its sectors"
                    ));
                }
                cited(at.clone(), Some(id))?;
            }
        }
        for h in &self.highlights {
            cited(format!("highlight \"{}\"", h.title), h.citation.as_ref())?;
        }
        if let Some(h) = self
            .highlights
            .iter()
            .find(|h| !countries.contains(h.country.as_str()))
        {
            return Err(format!(
                "highlight \"{}\": unknown country {}",
                h.title, h.country
            ));
        }
        Ok(())
    }

    /// The text of the reference named `id` (checked to exist by [`Baseline::check`]).
    fn cite(&self, id: Option<&String>) -> Option<String> {
        let id = id?;
        self.references
            .iter()
            .find(|r| &r.id == id)
            .map(Reference::text)
    }

    pub fn reference_data(&self) -> ReferenceData {
        let mut positions: HashMap<(&str, &str), i32> = Default::default();
        ReferenceData {
            sources: vec![source::Model {
                id: self.source.id.clone(),
                name: self.source.name.clone(),
                homepage: self.source.homepage.clone(),
                terms: self.source.terms.clone(),
            }],
            countries: self
                .countries
                .iter()
                .map(|c| country::Model {
                    code: c.code.clone(),
                    iso2: c.iso2.clone(),
                    name: c.name.clone(),
                    flag: c.flag.clone(),
                    kind: c.kind,
                })
                .collect(),
            metrics: self
                .metrics
                .iter()
                .map(|m| metric::Model {
                    slug: m.slug.clone(),
                    name: m.name.clone(),
                    unit: m.unit.clone(),
                    category: m.category.clone(),
                    description: m.description.clone(),
                    higher_is_better: m.higher_is_better,
                    preferred_sources: m.preferred_sources.as_ref().map(|s| s.join(",")),
                })
                .collect(),
            sectors: self
                .sectors
                .iter()
                .zip(0..)
                .map(|(s, position)| sector::Model {
                    slug: s.slug.clone(),
                    name: s.name.clone(),
                    leader: s.leader,
                    summary: s.summary.clone(),
                    position,
                    citation: self.cite(s.citation.as_ref()),
                })
                .collect(),
            evidence: self
                .sectors
                .iter()
                .flat_map(|s| {
                    s.evidence
                        .iter()
                        .zip(0..)
                        .map(|(e, position)| sector_evidence::Model {
                            sector: s.slug.clone(),
                            metric: e.metric.clone(),
                            position,
                            higher_is_better: e.better == Better::Higher,
                            role: e.role.clone(),
                            proxy: e.proxy,
                        })
                })
                .collect(),
            companies: self
                .companies
                .iter()
                .map(|c| CompanyEntry {
                    company: company::Model {
                        slug: c.slug.clone(),
                        name: c.name.clone(),
                        country: c.country.clone(),
                        ownership: c.ownership,
                        founded: c.founded,
                        headquarters: c.headquarters.clone(),
                        description: c.description.clone(),
                        citation: self.cite(c.citation.as_ref()),
                        ownership_citation: self.cite(c.ownership_citation.as_ref()),
                        founded_citation: self.cite(c.founded_citation.as_ref()),
                        headquarters_citation: self.cite(c.headquarters_citation.as_ref()),
                    },
                    sectors: c
                        .sectors
                        .iter()
                        .map(|sector| SectorLink {
                            sector: sector.clone(),
                            citation: self.cite(c.sector_citations.get(sector)),
                        })
                        .collect(),
                })
                .collect(),
            highlights: self
                .highlights
                .iter()
                .map(|h| {
                    let position = positions.entry((&h.country, &h.topic)).or_insert(0);
                    *position += 1;
                    HighlightEntry {
                        country: h.country.clone(),
                        topic: h.topic.clone(),
                        position: *position,
                        title: h.title.clone(),
                        body: h.body.clone(),
                        citation: self.cite(h.citation.as_ref()),
                    }
                })
                .collect(),
        }
    }

    /// The Our World in Data charts the `owid` source refreshes.
    pub fn owid_charts(&self) -> &[OwidChart] {
        &self.owid_charts
    }

    /// The figures as one batch speaking for every metric of the file: a figure removed from the
    /// file is recorded as withdrawn.
    pub fn batch(&self) -> Batch {
        Batch {
            source: SOURCE_ID.to_owned(),
            release: Some(self.citation.updated.clone()),
            scope: Scope {
                metrics: self.metrics.iter().map(|m| m.slug.clone()).collect(),
                countries: None,
                years: None,
            },
            points: self
                .observations
                .iter()
                .map(|o| Point {
                    metric: o.metric.clone(),
                    country: o.country.clone(),
                    year: o.year,
                    value: o.value,
                    qualifier: o.qualifier.clone(),
                    citation: Some(self.citation_of(o).into()),
                })
                .collect(),
        }
    }

    fn citation_of(&self, o: &ObservationEntry) -> String {
        let year = match o.year_basis {
            YearBasis::Stated => format!("{} figure as the page states it", o.year),
            YearBasis::Implied => format!("year {} implied, not stated by the page", o.year),
        };
        let work = match self.cite(o.citation.as_ref()) {
            Some(reference) => reference,
            None => format!(
                "\"{}\" (updated {})",
                self.citation.title, self.citation.updated
            ),
        };
        let mut text = format!("{work}; {year}");
        if let Some(note) = &o.note {
            text.push_str(". ");
            text.push_str(note);
        }
        text
    }
}

/// Where the baseline is read from, anew at every load.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BaselineFile {
    /// A TOML file (an absolute path, so that every load reads the same one).
    Path(PathBuf),
    /// The copy compiled into this build.
    Bundled,
}

/// A baseline as read, with where it came from.
#[derive(Debug)]
pub struct LoadedBaseline {
    pub baseline: Baseline,
    /// The file's path, or `bundled with this build`.
    pub origin: String,
    /// SHA-256 of the file's bytes, lower-case hex.
    pub sha256: String,
}

impl LoadedBaseline {
    /// `baseline read from <path> (sha256 <hex>)`, as run notes and the command line say it.
    pub fn describe(&self) -> String {
        let from = match self.origin.as_str() {
            BUNDLED_ORIGIN => BUNDLED_ORIGIN.to_owned(),
            path => format!("read from {path}"),
        };
        format!("baseline {from} (sha256 {})", self.sha256)
    }
}

const BUNDLED_ORIGIN: &str = "bundled with this build";

impl BaselineFile {
    /// Reads and checks the baseline now. Errors name the file.
    pub fn load(&self) -> Result<LoadedBaseline, WorkerError> {
        let (text, origin) = match self {
            BaselineFile::Path(path) => {
                let origin = path.display().to_string();
                let text = std::fs::read_to_string(path).map_err(|e| WorkerError::Baseline {
                    origin: origin.clone(),
                    problem: format!("cannot read it: {e}"),
                })?;
                (text, origin)
            }
            BaselineFile::Bundled => (BUNDLED.to_owned(), BUNDLED_ORIGIN.to_owned()),
        };
        let baseline = Baseline::parse(&text, &origin)?;
        let sha256 = Sha256::digest(text.as_bytes())
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect();
        Ok(LoadedBaseline {
            baseline,
            origin,
            sha256,
        })
    }
}

/// The baseline as a refreshable source: the same pipeline as the public sources, so that an
/// edited file records revisions like any other release. The file is read at every fetch, and
/// its reference data (metrics, countries, sectors, companies, highlights) are recorded in the
/// run's transaction with its figures.
pub struct BaselineSource {
    file: BaselineFile,
}

impl BaselineSource {
    pub fn new(file: BaselineFile) -> Self {
        Self { file }
    }
}

#[async_trait]
impl Source for BaselineSource {
    fn id(&self) -> &'static str {
        SOURCE_ID
    }

    /// The operator's own file: a figure removed from it is withdrawn as it is.
    fn upstream(&self) -> bool {
        false
    }

    async fn fetch(&self, request: &FetchRequest<'_>) -> Result<Fetched, SourceError> {
        let loaded = self.file.load().map_err(|e| SourceError::File {
            source_id: SOURCE_ID,
            problem: e.to_string(),
        })?;
        let batch = loaded.baseline.batch();
        (request.progress)(super::Progress {
            pages_fetched: 1,
            pages_total: 1,
            observations: batch.points.len() as u64,
        });
        Ok(Fetched {
            release: batch.release.clone(),
            batches: vec![batch],
            pages: 1,
            reference: Some(loaded.baseline.reference_data()),
            notes: vec![loaded.describe()],
            ..Fetched::default()
        })
    }
}

fn unique<'a>(
    items: impl Iterator<Item = &'a str>,
    what: &str,
) -> Result<HashSet<&'a str>, String> {
    let mut seen = HashSet::new();
    for item in items {
        if !seen.insert(item) {
            return Err(format!("{what} {item} is defined twice"));
        }
    }
    Ok(seen)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bundled_baseline_parses_and_is_consistent() {
        let baseline = Baseline::bundled().expect("bundled baseline");
        let batch = baseline.batch();
        assert!(batch
            .points
            .iter()
            .any(|p| p.metric == "rd_intensity" && p.country == "USA" && p.value == 3.5));
        assert!(batch
            .points
            .iter()
            .any(|p| p.metric == "rd_intensity" && p.country == "CHN" && p.value == 2.6));
        assert_eq!(baseline.reference_data().companies.len(), 20);
        assert_eq!(baseline.reference_data().sectors.len(), 8);
    }

    #[test]
    fn every_required_metric_slug_is_defined() {
        let baseline = Baseline::bundled().expect("bundled baseline");
        let slugs: HashSet<_> = baseline.metrics.iter().map(|m| m.slug.as_str()).collect();
        for slug in [
            "rd_spending_usd",
            "rd_intensity",
            "researchers_fte",
            "researchers_per_million",
            "stem_phd_graduates",
            "patent_applications",
            "patent_applications_resident",
            "patent_applications_nonresident",
            "scientific_papers",
            "top_cited_share",
            "ai_private_investment_usd",
            "ai_phd_international_share",
            "li_ion_capacity_share",
            "solar_panel_production_share",
            "high_tech_exports_usd",
            "gdp_usd",
        ] {
            assert!(
                slugs.contains(slug),
                "metric {slug} missing from the baseline"
            );
        }
    }

    #[test]
    fn a_figure_for_an_unknown_metric_is_refused_with_its_name() {
        let text = BUNDLED.replacen("metric = \"rd_intensity\"", "metric = \"rd_intensitty\"", 1);
        let err = Baseline::parse(&text, "edited").expect_err("unknown metric must be refused");
        assert!(err.to_string().contains("rd_intensitty"), "{err}");
        assert!(err.to_string().contains("edited"), "{err}");
    }

    #[test]
    fn an_unknown_field_is_refused() {
        let text = format!("{BUNDLED}\n[extra]\nx = 1\n");
        let err = Baseline::parse(&text, "edited").expect_err("unknown field must be refused");
        assert!(err.to_string().contains("extra"), "{err}");
    }

    #[test]
    fn implied_years_say_so_in_the_citation() {
        let baseline = Baseline::bundled().expect("bundled baseline");
        let batch = baseline.batch();
        let rd = batch
            .points
            .iter()
            .find(|p| p.metric == "rd_intensity")
            .expect("rd_intensity");
        assert!(rd
            .citation
            .as_deref()
            .is_some_and(|c| c.contains("implied") && c.contains("US & China Balance")));
    }

    #[test]
    fn a_citation_naming_an_unknown_reference_is_refused_with_its_name() {
        let text = BUNDLED.replacen(
            "citation = \"balance-sectors\"",
            "citation = \"balance-sectorz\"",
            1,
        );
        let err = Baseline::parse(&text, "edited").expect_err("unknown reference must be refused");
        assert!(err.to_string().contains("balance-sectorz"), "{err}");
    }

    #[test]
    fn evidence_must_name_a_known_metric_and_agree_with_its_direction() {
        let from =
            "{ metric = \"space_objects_launched\", better = \"higher\", role = \"output\" }";
        assert!(BUNDLED.contains(from));
        for (to, expected) in [
            (from.replace("higher", "lower"), "contradicts"),
            (
                from.replace("space_objects_launched", "space_objects"),
                "unknown metric",
            ),
            (from.replace("output", "prestige"), "role must be one of"),
        ] {
            let text = BUNDLED.replacen(from, &to, 1);
            let err = Baseline::parse(&text, "edited").expect_err("bad evidence must be refused");
            assert!(err.to_string().contains(expected), "{err}");
            assert!(err.to_string().contains("space-technology"), "{err}");
        }
    }

    #[test]
    fn a_link_citation_must_be_for_one_of_the_company_s_sectors() {
        let from = "sector_citations = { \"space-technology\" = \"balance-sectors\" }";
        assert!(BUNDLED.contains(from));
        let text = BUNDLED.replacen(from, &from.replace("space-technology", "semiconductors"), 1);
        let err = Baseline::parse(&text, "edited").expect_err("a stray link citation is refused");
        assert!(err.to_string().contains("spacex"), "{err}");
    }

    #[test]
    fn every_sector_names_evidence_and_the_required_indicators() {
        let baseline = Baseline::bundled().expect("bundled baseline");
        let data = baseline.reference_data();
        for sector in &data.sectors {
            assert!(
                data.evidence.iter().any(|e| e.sector == sector.slug),
                "{} names no evidence",
                sector.slug
            );
            assert!(sector.citation.is_some(), "{} is uncited", sector.slug);
        }
        let has = |sector: &str, metric: &str| {
            data.evidence
                .iter()
                .any(|e| e.sector == sector && e.metric == metric)
        };
        assert!(has("space-technology", "space_objects_launched"));
        assert!(has("artificial-intelligence", "ai_private_investment_usd"));
        assert!(has("artificial-intelligence", "ai_large_scale_systems"));
    }

    #[test]
    fn aspi_headline_counts_are_cited_to_aspi_and_no_per_technology_figure_is_made_up() {
        let baseline = Baseline::bundled().expect("bundled baseline");
        let batch = baseline.batch();
        let mut counts: Vec<(&str, i32, f64)> = batch
            .points
            .iter()
            .filter(|p| p.metric == "critical_technologies_led")
            .map(|p| (p.country.as_str(), p.year, p.value))
            .collect();
        counts.sort_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
        assert_eq!(
            counts,
            [("CHN", 2024, 66.0), ("USA", 2007, 60.0), ("USA", 2024, 8.0)]
        );
        for point in batch
            .points
            .iter()
            .filter(|p| p.metric == "critical_technologies_led")
        {
            assert!(point
                .citation
                .as_deref()
                .is_some_and(|c| c.contains("Critical Technology Tracker") && c.contains("ASPI")));
        }
    }
}
