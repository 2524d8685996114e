//! The one integration-test binary. Every storage test runs on SQLite and,
//! with TOKENWARDEN_TEST_POSTGRES_URL set, on PostgreSQL.

mod accounts;
mod auth;
mod brands;
mod cli;
mod conformance;
mod cors;
mod demo_frontend;
mod errors;
mod helpers;
mod openapi;
mod operations;
mod organization;
mod providers;
mod renewal;
mod scopes;
mod status_rule;
mod storage;
mod vault;
mod worker;
