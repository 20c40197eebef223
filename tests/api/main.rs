//! End-to-end tests: the real HTTP server (and the real binary) on SQLite and on PostgreSQL.

mod browser;
mod fake_worldbank;
mod support;

mod audit;
mod baseline_file;
mod cli;
mod cli_messages;
mod conformance;
mod cors;
mod dashboard;
mod database_file;
mod friendly;
mod fuzz;
mod hostile;
mod http;
mod input_coercion;
mod live_clients;
mod observability;
mod operators;
mod outage;
mod page;
mod queries;
mod readme;
mod refresh;
mod retry_after;
mod revocation;
mod schedules;
mod schema;
mod secrets;
pub(crate) mod seed;
mod shutdown;
mod string_escapes;
pub(crate) mod subscriptions;
mod telemetry;
mod upstream;
mod workers;
