//! Grant safety, edges (issue 20): bad bytes that only PostgreSQL refuses,
//! webhook targets reached through IPv6 translation, a resolver oracle, secrets
//! a cache could keep, standard JWTs, and `platform:admin` on a tenant token.

mod bounded_input;
mod nul;
mod secrets;
mod tokens;
