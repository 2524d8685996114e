//! Manage Accounts over real OAuth: the sandbox network and local fakes.

mod connect;
mod fault_matrix;
mod import;
mod manage;
mod presets;

use std::collections::BTreeMap;

fn query_of(url: &str) -> BTreeMap<String, String> {
    url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect()
}
