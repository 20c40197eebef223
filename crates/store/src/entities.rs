//! sea-orm entities, one per table. They stay inside the store: callers get these models as
//! plain data and the API wraps them in its own GraphQL types.

pub mod api_token;
pub mod audit_entry;
pub mod company;
pub mod company_sector;
pub mod country;
pub mod highlight;
pub mod metric;
pub mod observation;
pub mod refresh_run;
pub mod schedule;
pub mod sector;
pub mod sector_evidence;
pub mod sector_verdict;
pub mod source;
