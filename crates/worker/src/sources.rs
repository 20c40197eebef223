//! One module per source of figures, behind one trait: fetch → parse → batches of normalised
//! observations, each with the source's release marker. Each module declares what the service
//! needs to know about its source in one [`SourceSpec`]; [`REGISTRY`] lists them (see
//! [`registry`] for how to add a source).

pub mod registry;

pub use registry::SourceSpec;

/// Declares each source's module and lists its `SPEC` in [`REGISTRY`], in this order (the order
/// of `refresh all`, of the default schedules, and of equal preference ranks).
macro_rules! registry {
    ($($module:ident),+ $(,)?) => {
        $(pub mod $module;)+

        /// Every source, in the order of the `registry!` line.
        pub const REGISTRY: &[&SourceSpec] = &[$(&$module::SPEC),+];
    };
}

// Adding a source: its module's name here (see `registry`).
registry!(baseline, worldbank, oecd, owid);

use async_trait::async_trait;
use techbalance_store::record::Batch;
use techbalance_store::reference::ReferenceData;

/// A publisher of figures that the worker can refresh.
#[async_trait]
pub trait Source: Send + Sync {
    /// `worldbank`, `oecd-msti`, `owid`, `baseline`.
    fn id(&self) -> &'static str;

    /// Fetches and strictly parses everything the source publishes for `request.countries`.
    /// Nothing is written here: the pipeline records the result, or nothing when this fails.
    async fn fetch(&self, request: &FetchRequest<'_>) -> Result<Fetched, SourceError>;

    /// Whether the figures come from a publisher outside this service. Their withdrawals are
    /// guarded (a degenerate answer is not evidence that data is gone); the baseline, the
    /// operator's own file, is not.
    fn upstream(&self) -> bool {
        true
    }
}

/// What to fetch, and where to report progress.
pub struct FetchRequest<'a> {
    /// ISO 3166-1 alpha-3 codes.
    pub countries: &'a [String],
    pub progress: &'a (dyn Fn(Progress) + Send + Sync),
}

/// Reported after every page or file fetched.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Progress {
    pub pages_fetched: u32,
    /// Pages known to exist so far (grows as the source reveals its paging).
    pub pages_total: u32,
    pub observations: u64,
}

/// A country as a source names it, for countries the store does not know yet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CountryInfo {
    pub code: String,
    pub iso2: String,
    pub name: String,
}

/// Everything one fetch produced.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Fetched {
    /// One batch per series (e.g. per World Bank indicator), each with its scope and release.
    pub batches: Vec<Batch>,
    /// The newest release marker seen (e.g. World Bank `lastupdated`).
    pub release: Option<String>,
    /// Series the source no longer publishes (World Bank error 175): their stored values are
    /// left as they are, and the run says so.
    pub retired: Vec<String>,
    /// Countries named by the source, with its names for them.
    pub countries: Vec<CountryInfo>,
    pub pages: u32,
    /// Reference data to record with the figures (the baseline's metrics, countries, …).
    pub reference: Option<ReferenceData>,
    /// Remarks for the run's notes: countries the source refused or left out, series left out
    /// because the answer contradicted itself, the baseline file read with its hash.
    pub notes: Vec<String>,
}

/// Narrows a refused request down to the countries refused: a request for several countries that
/// the source refuses as a whole is split in halves, recursively, until each refused country is
/// alone. Sources ask for [`Bisection::next_group`], and report a refusal with
/// [`Bisection::refused`].
#[derive(Debug)]
pub struct Bisection {
    pending: Vec<Vec<String>>,
    /// Each refused country with the source's reason.
    pub refused: Vec<(String, String)>,
    requested: usize,
}

impl Bisection {
    pub fn new(countries: Vec<String>) -> Self {
        let requested = countries.len();
        Self {
            pending: if countries.is_empty() {
                Vec::new()
            } else {
                vec![countries]
            },
            refused: Vec::new(),
            requested,
        }
    }

    /// The next group of countries to request.
    pub fn next_group(&mut self) -> Option<Vec<String>> {
        self.pending.pop()
    }

    /// The source refused `group`: split it, or record its one country as refused.
    pub fn refused(&mut self, mut group: Vec<String>, problem: String) {
        if group.len() > 1 {
            self.split(group);
        } else if let Some(country) = group.pop() {
            self.refused.push((country, problem));
        }
    }

    /// Requests `group` again in two halves (a group of one is dropped).
    pub fn split(&mut self, mut group: Vec<String>) {
        if group.len() > 1 {
            let second = group.split_off(group.len() / 2);
            // Popped last-in first-out: the first half is requested first.
            self.pending.push(second);
            self.pending.push(group);
        }
    }

    /// Whether every country requested was refused (the request itself is at fault then).
    pub fn all_refused(&self) -> bool {
        self.requested > 0 && self.refused.len() == self.requested
    }
}

/// The run's note on countries a source refused: "refused by worldbank, not refreshed: TWN
/// (error 120: …)".
pub fn refused_note(source_id: &str, refused: &[(String, String)]) -> String {
    let refused: Vec<String> = refused
        .iter()
        .map(|(country, problem)| format!("{country} ({problem})"))
        .collect();
    format!(
        "refused by {source_id}, not refreshed: {}",
        refused.join(", ")
    )
}

/// Why a fetch failed. Every message names the source, the URL and the problem; its text masks
/// credentials in URLs (see [`crate::redact`]) while its fields keep them, so log the error with
/// `%`, never `?`.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The request could not be completed (connection, timeout, 5xx, 429) within the attempts allowed.
    #[error("{source_id}: GET {}: {}", crate::redact::text(.url), crate::redact::text(.problem))]
    Unreachable {
        source_id: &'static str,
        url: String,
        problem: String,
    },
    /// The source answered 429 or 503 asking to be called again no earlier than `retry_at`
    /// (`Retry-After`), later than the fetcher waits within one attempt: the run waits for it.
    #[error("{source_id}: GET {}: {problem}", crate::redact::text(.url))]
    Throttled {
        source_id: &'static str,
        url: String,
        problem: String,
        retry_at: chrono::DateTime<chrono::Utc>,
    },
    /// A source file cannot be read or is invalid (the baseline); `problem` names the file.
    #[error("{source_id}: {problem}")]
    File {
        source_id: &'static str,
        problem: String,
    },
    /// The source refused the request (a 4xx, or an error payload such as World Bank id 120).
    #[error("{source_id}: GET {}: refused: {}", crate::redact::text(.url), crate::redact::text(.problem))]
    Refused {
        source_id: &'static str,
        url: String,
        problem: String,
    },
    /// The payload is malformed, truncated, re-shaped or inconsistent.
    #[error("{source_id}: GET {}: malformed payload: {}", crate::redact::text(.url), crate::redact::text(.problem))]
    Malformed {
        source_id: &'static str,
        url: String,
        problem: String,
    },
}

impl SourceError {
    /// The instant the source asked to be called again, when it asked.
    pub fn retry_at(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        match self {
            SourceError::Throttled { retry_at, .. } => Some(*retry_at),
            _ => None,
        }
    }
}
