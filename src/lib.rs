//! tokenwarden: keeps social media profiles' access tokens alive.
//!
//! Layers (see ARCHITECTURE.md): `api` (HTTP only) → `services` (one module
//! per use case) → `domain` (plain rules) and `db` / `providers` (storage,
//! outbound calls). `state` holds what they share, with the per-process
//! `registry` below the services; nothing imports upward.
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
pub mod html;
pub mod lru;
pub mod providers;
pub mod registry;
pub mod sandbox;
pub mod services;
pub mod state;
pub mod telemetry;
pub mod worker;
