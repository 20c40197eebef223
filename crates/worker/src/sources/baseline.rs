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
use std::collections::HashSet;
use std::path::PathBuf;
use techbalance_store::entities::{company, country, metric, sector, source};
use techbalance_store::reference::{CompanyEntry, HighlightEntry, ReferenceData};
use techbalance_store::revisions::{Batch, Point, Scope};

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

const LEADERS: &[&str] = &["US", "CHINA", "CONTESTED", "US_AND_ALLIES"];
const OWNERSHIPS: &[&str] = &["PRIVATE", "STATE_SUPERVISED"];
const QUALIFIERS: &[&str] = &["~", "+"];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Baseline {
    source: SourceEntry,
    citation: Citation,
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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CountryEntry {
    code: String,
    iso2: String,
    name: String,
    flag: String,
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
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SectorEntry {
    slug: String,
    name: String,
    leader: String,
    summary: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CompanyRow {
    slug: String,
    name: String,
    country: String,
    sectors: Vec<String>,
    ownership: String,
    founded: Option<i32>,
    headquarters: Option<String>,
    description: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct HighlightRow {
    country: String,
    topic: String,
    title: String,
    body: String,
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
        for c in &self.countries {
            if c.code.len() != 3
                || c.iso2.len() != 2
                || !c.code.chars().all(|ch| ch.is_ascii_uppercase())
            {
                return Err(format!(
                    "country {}: codes must be ISO 3166-1 alpha-3 and alpha-2",
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
            if let Some(q) = &o.qualifier {
                if !QUALIFIERS.contains(&q.as_str()) {
                    return Err(format!("{at}: qualifier must be one of {QUALIFIERS:?}"));
                }
            }
        }
        for s in &self.sectors {
            if !LEADERS.contains(&s.leader.as_str()) {
                return Err(format!(
                    "sector {}: leader must be one of {LEADERS:?}",
                    s.slug
                ));
            }
        }
        for c in &self.companies {
            if !countries.contains(c.country.as_str()) {
                return Err(format!("company {}: unknown country {}", c.slug, c.country));
            }
            if !OWNERSHIPS.contains(&c.ownership.as_str()) {
                return Err(format!(
                    "company {}: ownership must be one of {OWNERSHIPS:?}",
                    c.slug
                ));
            }
            if let Some(s) = c.sectors.iter().find(|s| !sectors.contains(s.as_str())) {
                return Err(format!("company {}: unknown sector {s}", c.slug));
            }
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

    pub fn reference_data(&self) -> ReferenceData {
        let mut positions: std::collections::HashMap<(&str, &str), i32> = Default::default();
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
                    leader: s.leader.clone(),
                    summary: s.summary.clone(),
                    position,
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
                        ownership: c.ownership.clone(),
                        founded: c.founded,
                        headquarters: c.headquarters.clone(),
                        description: c.description.clone(),
                    },
                    sectors: c.sectors.clone(),
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
                    }
                })
                .collect(),
        }
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
        let mut text = format!(
            "\"{}\" (updated {}); {year}",
            self.citation.title, self.citation.updated
        );
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
}
