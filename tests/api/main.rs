//! The one integration-test binary. Every storage test runs on SQLite and,
//! with TOKENWARDEN_TEST_POSTGRES_URL set, on PostgreSQL.

mod accounts;
mod architecture;
mod auth;
mod brand_scope;
mod brands;
mod cli;
mod client;
mod conditional;
mod conformance;
mod connections;
mod cors;
mod database_faults;
mod demo_frontend;
mod errors;
mod fakes;
mod helpers;
mod openapi;
mod operations;
mod organization;
mod providers;
mod ready_answers;
mod renewal;
mod revocation;
mod scopes;
mod security;
mod shutdown;
mod status_rule;
mod storage;
mod vault;
mod webhooks;
mod worker;
