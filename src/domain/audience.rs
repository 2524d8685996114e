//! Who a request reaches inside its organization: every brand, or only the
//! brands its token's `brands` claim lists (docs/rules.md#tenant-scoping).
//! Every brand-, account- and profile-level use case takes an [`Audience`]
//! instead of a bare organization id, so the restriction is applied where
//! the organization is: in the queries and the checks that already answer
//! 404 for another organization's ids.

use std::collections::BTreeSet;
use std::sync::Arc;

use super::ids::{BrandId, OrganizationId};
use super::propagation::Report;

/// The organization a request acts in and the brands it reaches there.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Audience {
    organization: OrganizationId,
    /// `None`: every brand of the organization.
    brands: Option<Arc<BTreeSet<BrandId>>>,
}

impl Audience {
    /// Every brand of the organization.
    pub fn organization(organization: OrganizationId) -> Self {
        Self {
            organization,
            brands: None,
        }
    }

    /// Only these brands of the organization. Ids that name no brand of it
    /// reach nothing: the organization filter of every query still applies.
    pub fn brands(organization: OrganizationId, brands: impl IntoIterator<Item = BrandId>) -> Self {
        Self {
            organization,
            brands: Some(Arc::new(brands.into_iter().collect())),
        }
    }

    pub fn organization_id(&self) -> &OrganizationId {
        &self.organization
    }

    /// The brands reached, in id order; `None` for every brand.
    pub fn brand_ids(&self) -> Option<&BTreeSet<BrandId>> {
        self.brands.as_deref()
    }

    /// Whether the audience is the whole organization.
    pub fn is_whole_organization(&self) -> bool {
        self.brands.is_none()
    }

    pub fn reaches(&self, brand_id: BrandId) -> bool {
        self.brands.as_ref().is_none_or(|b| b.contains(&brand_id))
    }

    /// A text naming the audience exactly: the organization, and the brands
    /// when restricted. Two audiences have the same key only when they reach
    /// the same brands (kept answers, their tags and idempotency records are
    /// told apart by it).
    pub fn key(&self) -> String {
        match &self.brands {
            None => self.organization.to_string(),
            Some(brands) => format!(
                "{} brands={}",
                self.organization,
                brands
                    .iter()
                    .map(BrandId::to_string)
                    .collect::<Vec<_>>()
                    .join(",")
            ),
        }
    }

    /// A propagation report as this audience may see it: accounts in the
    /// brands it reaches are listed; the others only counted, so one agency
    /// client does not learn another's brands.
    pub fn report<S>(&self, report: Report<S>) -> Report<S> {
        if self.brands.is_none() {
            return report;
        }
        let (renewed, renewed_hidden): (Vec<_>, Vec<_>) = report
            .renewed
            .into_iter()
            .partition(|s| self.reaches(s.brand_id));
        let (left, left_hidden): (Vec<_>, Vec<_>) = report
            .left
            .into_iter()
            .partition(|(s, _, _)| self.reaches(s.brand_id));
        Report {
            renewed,
            left,
            renewed_elsewhere: report.renewed_elsewhere + renewed_hidden.len(),
            left_elsewhere: report.left_elsewhere + left_hidden.len(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ids::AccountId;
    use crate::domain::propagation::{LeftReason, Sibling};

    fn sibling(brand: BrandId) -> Sibling {
        Sibling {
            account_id: AccountId::new(),
            brand_id: brand,
            enabled: true,
        }
    }

    fn org() -> OrganizationId {
        OrganizationId::named("org")
    }

    #[test]
    fn a_restricted_audience_sees_other_brands_only_as_counts() {
        let [b1, b2, b3, b4, b9] = [(); 5].map(|()| BrandId::new());
        let report = Report {
            renewed: vec![sibling(b1), sibling(b2), sibling(b3)],
            left: vec![(sibling(b4), LeftReason::Disabled, ())],
            renewed_elsewhere: 0,
            left_elsewhere: 0,
        };
        let audience = Audience::brands(org(), [b1, b9]);

        let seen = audience.report(report.clone());

        assert_eq!(seen.renewed, vec![report.renewed[0].clone()]);
        assert!(seen.left.is_empty());
        assert_eq!((seen.renewed_elsewhere, seen.left_elsewhere), (2, 1));
        assert_eq!(Audience::organization(org()).report(report.clone()), report);
    }

    #[test]
    fn keys_tell_audiences_apart() {
        let (b1, b2) = (BrandId::new(), BrandId::new());
        let whole = Audience::organization(org());
        let one = Audience::brands(org(), [b1]);
        let two = Audience::brands(org(), [b2, b1]);
        let same = Audience::brands(org(), [b1, b2]);
        assert_ne!(whole.key(), one.key());
        assert_ne!(one.key(), two.key());
        assert_eq!(two.key(), same.key());
        assert!(whole.reaches(BrandId::new()) && one.reaches(b1) && !one.reaches(b2));
    }
}
