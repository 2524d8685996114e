//! Propagation: who receives a fresh grant. When a profile gets a fresh grant
//! in one brand, on plans with cross-brand renewal every other *enabled*
//! account of that profile in the organization switches to it, in the same
//! transaction; on other plans only the one account changes and the others are
//! reported as left behind. Disabled accounts never change; other
//! organizations are never considered (the caller passes only this
//! organization's accounts). [`decide`] says who switches; [`report`] says,
//! after the fact, who shares the grant and who was left and why.

use serde::Serialize;
use utoipa::ToSchema;

use super::ids::{AccountId, BrandId};
use super::plan::Plan;

/// Another account of the same profile, as the propagation sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sibling {
    pub account_id: AccountId,
    pub brand_id: BrandId,
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

/// Why `plan` leaves an account with this `enabled` out; `None` when it
/// switches.
fn left_reason(plan: Plan, enabled: bool) -> Option<LeftReason> {
    if !enabled {
        Some(LeftReason::Disabled)
    } else if plan.features().cross_brand_renewal {
        None
    } else {
        Some(LeftReason::Plan)
    }
}

pub fn decide(plan: Plan, siblings: Vec<Sibling>) -> Decision {
    let mut decision = Decision::default();
    for sibling in siblings {
        match left_reason(plan, sibling.enabled) {
            None => decision.switch.push(sibling),
            Some(reason) => decision.left.push((sibling, reason)),
        }
    }
    decision
}

/// Another account of the profile as it is stored after a fresh grant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiblingAfter<S> {
    pub sibling: Sibling,
    /// Whether it now uses the fresh grant's credential.
    pub shares_grant: bool,
    /// Its token status now.
    pub status: S,
}

/// The propagation report: who shares the fresh grant, who was left and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report<S> {
    pub renewed: Vec<Sibling>,
    pub left: Vec<(Sibling, LeftReason, S)>,
    /// How many accounts in brands the caller does not reach share the grant
    /// (they are not listed: see `Audience::report`).
    pub renewed_elsewhere: usize,
    /// How many accounts in brands the caller does not reach were left.
    pub left_elsewhere: usize,
}

impl<S> Default for Report<S> {
    fn default() -> Self {
        Self {
            renewed: Vec::new(),
            left: Vec::new(),
            renewed_elsewhere: 0,
            left_elsewhere: 0,
        }
    }
}

/// The report read off the stored state: enabled accounts on the fresh
/// credential share it; every other account was left. An enabled account on
/// another credential under a plan with cross-brand renewal can only have been
/// disabled when the grant arrived, so that is its reason.
pub fn report<S>(plan: Plan, siblings: Vec<SiblingAfter<S>>) -> Report<S> {
    let mut report = Report::default();
    for after in siblings {
        if after.shares_grant && after.sibling.enabled {
            report.renewed.push(after.sibling);
        } else {
            let reason = left_reason(plan, after.sibling.enabled).unwrap_or(LeftReason::Disabled);
            report.left.push((after.sibling, reason, after.status));
        }
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sib(account_id: AccountId, enabled: bool) -> Sibling {
        Sibling {
            account_id,
            brand_id: BrandId::new(),
            enabled,
        }
    }

    #[test]
    fn plan_and_enabled_decide() {
        let [a, b, c] = [(); 3].map(|()| AccountId::new());
        for plan in Plan::ALL {
            let d = decide(plan, vec![sib(a, true), sib(b, false), sib(c, true)]);
            let switched: Vec<_> = d.switch.iter().map(|s| s.account_id).collect();
            let left: Vec<_> = d.left.iter().map(|(s, r)| (s.account_id, *r)).collect();
            if plan.features().cross_brand_renewal {
                assert_eq!(switched, [a, c]);
                assert_eq!(left, [(b, LeftReason::Disabled)]);
            } else {
                assert!(switched.is_empty());
                assert_eq!(
                    left,
                    [
                        (a, LeftReason::Plan),
                        (b, LeftReason::Disabled),
                        (c, LeftReason::Plan)
                    ]
                );
            }
        }
    }
}
