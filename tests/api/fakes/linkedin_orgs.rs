//! A local stand-in for LinkedIn's Community Management API over real HTTP, as LinkedIn
//! documents it (learn.microsoft.com/linkedin/marketing/community-management/organizations/):
//!
//! * "Organization Access Control by Role": `GET /rest/organizationAcls?q=roleAssignee` with
//!   optional `role` and `state` filters answers the member's ACLs as `elements[]` of
//!   `{roleAssignee, role, state, organization}` (URNs), paginated by `start`/`count` with
//!   `paging.{start, count, total}`.
//! * "Organization Lookup API", batch get of administered organizations:
//!   `GET /rest/organizations?ids=List(1,2)` (Rest.li 2.0 syntax) answers
//!   `{results: {"1": {id, localizedName, vanityName}}, statuses, errors}`.
//! * Every versioned call carries `LinkedIn-Version: YYYYMM` and
//!   `X-Restli-Protocol-Version: 2.0.0`; without them this stub refuses the call (400), as a
//!   versioned API would not serve it. A bad token answers 401 `INVALID_ACCESS_TOKEN`
//!   ("Authentication" error responses).
//!
//! The stub pages at most `page_cap` elements whatever `count` asks, so a short list still
//! takes several pages.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::json;
use url::Url;

/// One ACL row: the organization's id and name, the member's role and its state.
#[derive(Clone)]
pub struct Acl {
    pub organization: u64,
    pub name: &'static str,
    pub vanity: &'static str,
    pub role: &'static str,
    pub state: &'static str,
}

#[derive(Clone, Default)]
pub struct LinkedInOrgs {
    inner: Arc<Mutex<Inner>>,
}

#[derive(Default)]
struct Inner {
    /// member token → (member id, ACLs)
    members: HashMap<String, (String, Vec<Acl>)>,
    page_cap: usize,
    /// Each call: path, query, and whether the two version headers were right.
    seen: Vec<(String, String, bool)>,
}

impl LinkedInOrgs {
    pub fn new(page_cap: usize) -> Self {
        let me = LinkedInOrgs::default();
        me.inner.lock().unwrap().page_cap = page_cap;
        me
    }

    /// The member behind `token` holds these ACLs.
    pub fn member(&self, token: &str, member: &str, acls: Vec<Acl>) {
        self.inner
            .lock()
            .unwrap()
            .members
            .insert(token.to_owned(), (member.to_owned(), acls));
    }

    /// Every call: (path, raw query, versioned headers present).
    pub fn seen(&self) -> Vec<(String, String, bool)> {
        self.inner.lock().unwrap().seen.clone()
    }

    pub fn start(&self) -> Url {
        let me = self.clone();
        crate::providers::start(move |cfg| {
            let me = me.clone();
            cfg.default_service(web::to(move |req: HttpRequest| {
                let me = me.clone();
                async move { me.answer(&req) }
            }));
        })
    }

    fn answer(&self, req: &HttpRequest) -> HttpResponse {
        let header = |k: &str| {
            req.headers()
                .get(k)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned()
        };
        let versioned =
            header("linkedin-version").len() == 6 && header("x-restli-protocol-version") == "2.0.0";
        let mut g = self.inner.lock().unwrap();
        g.seen.push((
            req.path().to_owned(),
            req.query_string().to_owned(),
            versioned,
        ));
        if !versioned {
            return HttpResponse::BadRequest().json(json!({
                "status": 400, "code": "VERSION_MISSING",
                "message": "A version must be present. Please specify a version by adding the LinkedIn-Version header."
            }));
        }
        let token = header("authorization")
            .strip_prefix("Bearer ")
            .unwrap_or("")
            .to_owned();
        let Some((member, acls)) = g.members.get(&token).cloned() else {
            return HttpResponse::Unauthorized().json(json!({
                "status": 401, "serviceErrorCode": 65600,
                "code": "INVALID_ACCESS_TOKEN", "message": "Invalid access token"
            }));
        };
        let query: HashMap<String, String> =
            url::form_urlencoded::parse(req.query_string().as_bytes())
                .into_owned()
                .collect();
        match req.path() {
            "/rest/organizationAcls"
                if query.get("q").map(String::as_str) == Some("roleAssignee") =>
            {
                let wanted: Vec<&Acl> = acls
                    .iter()
                    .filter(|a| query.get("role").is_none_or(|r| r == a.role))
                    .filter(|a| query.get("state").is_none_or(|s| s == a.state))
                    .collect();
                let start: usize = query.get("start").and_then(|s| s.parse().ok()).unwrap_or(0);
                let count: usize = query
                    .get("count")
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(10)
                    .min(g.page_cap);
                let elements: Vec<serde_json::Value> = wanted
                    .iter()
                    .skip(start)
                    .take(count)
                    .map(|a| {
                        json!({
                            "roleAssignee": format!("urn:li:person:{member}"),
                            "role": a.role,
                            "state": a.state,
                            "organization": format!("urn:li:organization:{}", a.organization),
                        })
                    })
                    .collect();
                HttpResponse::Ok().json(json!({
                    "paging": {"start": start, "count": count, "total": wanted.len(), "links": []},
                    "elements": elements,
                }))
            }
            "/rest/organizations" => {
                // Rest.li 2.0: `ids=List(1,2)`, its parentheses and commas not encoded.
                let Some(list) = req
                    .query_string()
                    .split('&')
                    .find_map(|p| p.strip_prefix("ids=List("))
                    .and_then(|p| p.strip_suffix(')'))
                else {
                    return HttpResponse::BadRequest().json(json!({
                        "status": 400, "message": "ids must be a Rest.li 2.0 List(...)"
                    }));
                };
                let mut results = serde_json::Map::new();
                let mut statuses = serde_json::Map::new();
                for id in list.split(',') {
                    if let Some(a) = acls.iter().find(|a| a.organization.to_string() == id) {
                        results.insert(
                            id.to_owned(),
                            json!({"id": a.organization, "localizedName": a.name, "vanityName": a.vanity}),
                        );
                        statuses.insert(id.to_owned(), json!(200));
                    }
                }
                HttpResponse::Ok()
                    .json(json!({"results": results, "statuses": statuses, "errors": {}}))
            }
            _ => {
                HttpResponse::NotFound().json(json!({"status": 404, "message": "no such resource"}))
            }
        }
    }
}
