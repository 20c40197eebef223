//! End-to-end tests: the real HTTP server (and the real binary) on SQLite and on PostgreSQL.

mod fake_worldbank;
mod support;

mod baseline_file;
mod cli;
mod conformance;
mod dashboard;
mod fuzz;
mod hostile;
mod http;
mod live_clients;
mod observability;
mod operators;
mod outage;
mod queries;
mod refresh;
mod retry_after;
mod schedules;
mod schema;
pub(crate) mod seed;
mod shutdown;
pub(crate) mod subscriptions;
mod telemetry;
mod upstream;
mod workers;
