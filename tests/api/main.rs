//! End-to-end tests: the real HTTP server (and the real binary) on SQLite and on PostgreSQL.

mod browser;
mod fake_worldbank;
mod support;

mod cli;
mod cli_messages;
mod conformance;
mod cors;
mod dashboard;
mod database_tls;
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
mod refresh;
mod schema;
mod seed;
mod shutdown;
mod string_escapes;
mod subscriptions;
mod telemetry;
mod upstream;
mod workers;
