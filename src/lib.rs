//! tokenwarden: keeps social media profiles' access tokens alive.
//!
//! Layout: `api` (HTTP only) → `domain` (plain rules) → `db` / `crypto`
//! (storage and secrets). `config`, `auth`, `error` and `startup` wire them.
//! `sandbox` is a simulated network, mounted beside the API only when enabled.

pub mod api;
pub mod auth;
pub mod cli;
pub mod config;
pub mod crypto;
pub mod db;
pub mod demo;
pub mod domain;
pub mod error;
pub mod flows;
pub mod metrics;
pub mod providers;
pub mod ratelimit;
pub mod sandbox;
pub mod startup;
pub mod telemetry;
pub mod worker;
