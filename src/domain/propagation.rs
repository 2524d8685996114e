//! Rule 2: who receives a fresh grant. When a profile gets a fresh grant in
//! one brand, on plans with cross-brand renewal every other *enabled* account
//! of that profile in the organization switches to it; on other plans only
//! the one account changes and the others are reported as left behind.
//! Disabled accounts never change; other organizations are never considered
//! (the caller passes only this organization's accounts).

use serde::Serialize;
use utoipa::ToSchema;

use super::plan::Plan;

/// Another account of the same profile, as the propagation sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sibling {
    pub account_id: String,
    pub brand_id: String,
    pub enabled: bool,
}

/// Why an account of the same profile did not receive the grant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LeftReason {
    /// The organization's plan does not include cross-brand renewal (Advanced and up).
    Plan,
    /// The account is disabled in that brand.
    Disabled,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Decision {
    /// Accounts to switch to the fresh credential.
    pub switch: Vec<Sibling>,
    /// Accounts that keep their credential, with the reason.
    pub left: Vec<(Sibling, LeftReason)>,
}

pub fn decide(plan: Plan, siblings: Vec<Sibling>) -> Decision {
    let mut decision = Decision::default();
    for sibling in siblings {
        if !sibling.enabled {
            decision.left.push((sibling, LeftReason::Disabled));
        } else if plan.features().cross_brand_renewal {
            decision.switch.push(sibling);
        } else {
            decision.left.push((sibling, LeftReason::Plan));
        }
    }
    decision
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sib(id: &str, enabled: bool) -> Sibling {
        Sibling {
            account_id: id.into(),
            brand_id: format!("b-{id}"),
            enabled,
        }
    }

    #[test]
    fn plan_and_enabled_decide() {
        for plan in Plan::ALL {
            let d = decide(plan, vec![sib("a", true), sib("b", false), sib("c", true)]);
            let switched: Vec<_> = d.switch.iter().map(|s| s.account_id.as_str()).collect();
            let left: Vec<_> = d
                .left
                .iter()
                .map(|(s, r)| (s.account_id.as_str(), *r))
                .collect();
            if plan.features().cross_brand_renewal {
                assert_eq!(switched, ["a", "c"]);
                assert_eq!(left, [("b", LeftReason::Disabled)]);
            } else {
                assert!(switched.is_empty());
                assert_eq!(
                    left,
                    [
                        ("a", LeftReason::Plan),
                        ("b", LeftReason::Disabled),
                        ("c", LeftReason::Plan)
                    ]
                );
            }
        }
    }
}
