//! End-to-end tests: the real HTTP server (and the real binary) on SQLite and on PostgreSQL.

mod fake_worldbank;
mod support;

mod cli;
mod dashboard;
mod http;
mod operators;
mod queries;
mod refresh;
mod schema;
mod seed;
mod workers;
