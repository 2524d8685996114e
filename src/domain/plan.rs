//! The plan feature matrix (docs/rules.md, "Plans"), in one place.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The organization's subscription plan.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Plan {
    Free,
    Starter,
    Advanced,
    Enterprise,
}

/// What a plan allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
pub struct Features {
    /// Most brands the organization may have; `null` means unlimited.
    #[schema(example = 50)]
    pub max_brands: Option<u32>,
    /// Whether a renewal in one brand spreads to every other brand with the same profile enabled.
    pub cross_brand_renewal: bool,
    /// Whether webhooks may be subscribed.
    pub webhooks: bool,
}

impl Plan {
    pub const ALL: [Plan; 4] = [Plan::Free, Plan::Starter, Plan::Advanced, Plan::Enterprise];

    pub fn as_str(self) -> &'static str {
        match self {
            Plan::Free => "free",
            Plan::Starter => "starter",
            Plan::Advanced => "advanced",
            Plan::Enterprise => "enterprise",
        }
    }

    pub fn parse(s: &str) -> Option<Plan> {
        Plan::ALL.into_iter().find(|p| p.as_str() == s)
    }

    pub fn features(self) -> Features {
        match self {
            Plan::Free => Features {
                max_brands: Some(1),
                cross_brand_renewal: false,
                webhooks: false,
            },
            Plan::Starter => Features {
                max_brands: Some(5),
                cross_brand_renewal: false,
                webhooks: false,
            },
            Plan::Advanced => Features {
                max_brands: Some(50),
                cross_brand_renewal: true,
                webhooks: true,
            },
            Plan::Enterprise => Features {
                max_brands: None,
                cross_brand_renewal: true,
                webhooks: true,
            },
        }
    }

    /// Whether an organization with `count` brands may create one more.
    pub fn allows_brand_count(self, count: u64) -> bool {
        self.features()
            .max_brands
            .is_none_or(|max| count <= u64::from(max))
    }

    /// The cheapest plan for which `allowed` holds, to name in a
    /// `plan-limit-reached` answer.
    pub fn cheapest_where(allowed: impl Fn(Plan) -> bool) -> Option<Plan> {
        Plan::ALL.into_iter().find(|p| allowed(*p))
    }
}

impl std::fmt::Display for Plan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn brand_limits_follow_the_matrix() {
        assert!(Plan::Free.allows_brand_count(1));
        assert!(!Plan::Free.allows_brand_count(2));
        assert!(Plan::Starter.allows_brand_count(5));
        assert!(!Plan::Starter.allows_brand_count(6));
        assert!(!Plan::Advanced.allows_brand_count(51));
        assert!(Plan::Enterprise.allows_brand_count(100_000));
        assert_eq!(
            Plan::cheapest_where(|p| p.allows_brand_count(6)),
            Some(Plan::Advanced)
        );
        assert_eq!(
            Plan::cheapest_where(|p| p.features().cross_brand_renewal),
            Some(Plan::Advanced)
        );
        assert_eq!(
            Plan::cheapest_where(|p| p.features().webhooks),
            Some(Plan::Advanced)
        );
    }
}
