//! The one integration-test binary. Every storage test runs on SQLite and,
//! with TOKENWARDEN_TEST_POSTGRES_URL set, on PostgreSQL.

mod accounts;
mod architecture;
mod auth;
mod brand_scope;
mod brands;
mod cli;
mod conditional;
mod conformance;
mod connections;
mod cors;
mod database_faults;
mod dead_ends;
mod demo_frontend;
mod errors;
mod grant_safety_edges;
mod grant_safety_engine;
mod grant_safety_revocation;
mod grant_safety_worker;
mod hardening;
mod helpers;
mod loose_ends;
mod openapi;
mod operations;
mod organization;
mod providers;
mod ready_answers;
mod renewal;
mod scopes;
mod shutdown;
mod status_rule;
mod storage;
mod vault;
mod webhooks;
mod worker;
