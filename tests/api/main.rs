//! End-to-end tests: the real HTTP server (and the real binary) on SQLite and on PostgreSQL.

mod fake_worldbank;
mod support;

mod cli;
mod conformance;
mod dashboard;
mod database_tls;
mod fuzz;
mod hostile;
mod http;
mod live_clients;
mod observability;
mod operators;
mod outage;
mod queries;
mod refresh;
mod schema;
mod seed;
mod shutdown;
mod subscriptions;
mod telemetry;
mod upstream;
mod workers;
