//! Local stand-ins for the networks, over real HTTP, that several product areas' tests use.

pub mod linkedin_orgs;
pub mod meta_graph;
