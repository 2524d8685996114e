//! What an audit event records: the action and its outcome. Stored as text;
//! a stored value that does not parse is an error, never a silent default.

macro_rules! text_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal,)+ }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant,)+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }
        }

        impl std::str::FromStr for $name {
            type Err = $crate::domain::UnknownValue;

            fn from_str(s: &str) -> Result<Self, $crate::domain::UnknownValue> {
                Self::ALL
                    .iter()
                    .copied()
                    .find(|v| v.as_str() == s)
                    .ok_or_else(|| $crate::domain::UnknownValue::new(stringify!($name), s))
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}
pub(crate) use text_enum;

text_enum! {
    /// What happened.
    AuditAction {
        OrganizationCreated = "organization.created",
        OrganizationUpdated = "organization.updated",
        OrganizationPlanChanged = "organization.plan_changed",
        BrandCreated = "brand.created",
        BrandRenamed = "brand.renamed",
        BrandDeleted = "brand.deleted",
        AccountConnected = "account.connected",
        AccountReconnected = "account.reconnected",
        AccountImported = "account.imported",
        AccountRenewed = "account.renewed",
        AccountEnabled = "account.enabled",
        AccountDisabled = "account.disabled",
        AccountDisconnected = "account.disconnected",
        ReconnectLinkCreated = "account.reconnect_link_created",
        TokenExpiring = "token.expiring",
        TokenExpired = "token.expired",
        TokenReauthRequired = "token.reauth_required",
        TokenRefreshFailed = "token.refresh_failed",
        WebhookCreated = "webhook.created",
        WebhookUpdated = "webhook.updated",
        WebhookDeleted = "webhook.deleted",
        WebhookSecretRotated = "webhook.secret_rotated",
    }
}

text_enum! {
    /// Whether it worked.
    AuditOutcome {
        Success = "success",
        Failure = "failure",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_value_reads_back_and_unknown_text_is_an_error() {
        for action in AuditAction::ALL {
            assert_eq!(action.as_str().parse::<AuditAction>(), Ok(*action));
        }
        for outcome in AuditOutcome::ALL {
            assert_eq!(outcome.as_str().parse::<AuditOutcome>(), Ok(*outcome));
        }
        assert!("account.exploded".parse::<AuditAction>().is_err());
    }
}
