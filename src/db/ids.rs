//! The domain's typed ids as SQL `Text`, byte for byte the text stored
//! before ids had types: diesel binds the id's canonical text and reads a
//! stored one back through its parser, so a stored value that is no UUID
//! is a fault reported as such rather than an id nobody issued.

use diesel::backend::Backend;
use diesel::deserialize::FromSqlRow;
use diesel::deserialize::{self, FromSql};
use diesel::expression::AsExpression;
use diesel::serialize::{self, Output, ToSql};
use diesel::sql_types::Text;

use crate::domain::ids::{
    AccountId, AuditEventId, BrandId, ConnectionId, CredentialId, OAuthStateId, OrganizationId,
    ProfileId, ReconnectLinkId, WebhookAttemptId, WebhookId, WebhookMessageId,
};

macro_rules! text_ids {
    ($($name:ident, $proxy:ident;)+) => {$(
        // `foreign_derive` has diesel derive its expression and row traits for
        // the id itself; the domain, which owns the type, knows no diesel.
        #[derive(AsExpression, FromSqlRow)]
        #[diesel(foreign_derive)]
        #[diesel(sql_type = Text)]
        #[expect(dead_code, reason = "only there to carry the derives to the id")]
        struct $proxy($name);

        impl<DB> ToSql<Text, DB> for $name
        where
            DB: Backend,
            str: ToSql<Text, DB>,
        {
            fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, DB>) -> serialize::Result {
                self.as_str().to_sql(out)
            }
        }

        impl<DB> FromSql<Text, DB> for $name
        where
            DB: Backend,
            String: FromSql<Text, DB>,
        {
            fn from_sql(bytes: DB::RawValue<'_>) -> deserialize::Result<Self> {
                let text = String::from_sql(bytes)?;
                parse_stored::<$name>(&text)
            }
        }
    )+};
}

fn parse_stored<T: std::str::FromStr<Err = uuid::Error>>(text: &str) -> deserialize::Result<T> {
    text.parse()
        .map_err(|e| format!("stored id {text:?} is no UUID: {e}").into())
}

text_ids! {
    BrandId, BrandIdSql;
    ProfileId, ProfileIdSql;
    AccountId, AccountIdSql;
    CredentialId, CredentialIdSql;
    AuditEventId, AuditEventIdSql;
    OAuthStateId, OAuthStateIdSql;
    ReconnectLinkId, ReconnectLinkIdSql;
    WebhookId, WebhookIdSql;
    ConnectionId, ConnectionIdSql;
    WebhookMessageId, WebhookMessageIdSql;
    WebhookAttemptId, WebhookAttemptIdSql;
}

#[derive(AsExpression, FromSqlRow)]
#[diesel(foreign_derive)]
#[diesel(sql_type = Text)]
#[expect(dead_code, reason = "only there to carry the derives to the id")]
struct OrganizationIdSql(OrganizationId);

impl<DB> ToSql<Text, DB> for OrganizationId
where
    DB: Backend,
    str: ToSql<Text, DB>,
{
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, DB>) -> serialize::Result {
        self.as_str().to_sql(out)
    }
}

impl<DB> FromSql<Text, DB> for OrganizationId
where
    DB: Backend,
    String: FromSql<Text, DB>,
{
    fn from_sql(bytes: DB::RawValue<'_>) -> deserialize::Result<Self> {
        String::from_sql(bytes).map(OrganizationId::named)
    }
}
