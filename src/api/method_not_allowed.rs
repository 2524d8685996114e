//! The routes read back from the OpenAPI document, for the answers that
//! actix cannot give by itself: a known path asked with a method it does not
//! serve answers 405 with `Allow` (RFC 9110 §15.5.6), not 404.
//!
//! utoipa-actix-web registers each `#[get]`/`#[post]`/… handler as its own
//! actix resource guarded by its method, so a request with another method
//! falls through every resource to the app's default service. That default
//! service asks this table whether the path is known.

use utoipa::openapi::OpenApi;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Parameter,
}

/// Every path template of the document with the methods it serves.
#[derive(Debug, Clone, Default)]
pub struct KnownRoutes {
    routes: Vec<(Vec<Segment>, Vec<&'static str>)>,
}

impl KnownRoutes {
    pub fn from_openapi(doc: &OpenApi) -> Self {
        let routes = doc
            .paths
            .paths
            .iter()
            .map(|(template, item)| {
                let segments = template
                    .split('/')
                    .map(|s| {
                        if s.starts_with('{') && s.ends_with('}') {
                            Segment::Parameter
                        } else {
                            Segment::Literal(s.to_string())
                        }
                    })
                    .collect();
                let methods = [
                    ("GET", item.get.is_some()),
                    ("PUT", item.put.is_some()),
                    ("POST", item.post.is_some()),
                    ("DELETE", item.delete.is_some()),
                    ("OPTIONS", item.options.is_some()),
                    ("HEAD", item.head.is_some()),
                    ("PATCH", item.patch.is_some()),
                    ("TRACE", item.trace.is_some()),
                ]
                .into_iter()
                .filter_map(|(m, present)| present.then_some(m))
                .collect();
                (segments, methods)
            })
            .collect();
        Self { routes }
    }

    /// The methods served at `path` (`None` when no route has this path).
    /// Like actix's router, a literal segment beats a parameter: `…/accounts/connect`
    /// is the connect route, not an account called `connect`.
    pub fn allowed(&self, path: &str) -> Option<Vec<&'static str>> {
        let parts: Vec<&str> = path.split('/').collect();
        let mut best: Option<(usize, Vec<&'static str>)> = None;
        for (segments, methods) in &self.routes {
            let matches = segments.len() == parts.len()
                && segments.iter().zip(&parts).all(|(s, p)| match s {
                    Segment::Literal(l) => l == p,
                    Segment::Parameter => !p.is_empty(),
                });
            if !matches {
                continue;
            }
            let literals = segments
                .iter()
                .filter(|s| matches!(s, Segment::Literal(_)))
                .count();
            match &mut best {
                Some((n, allowed)) if *n == literals => {
                    for m in methods {
                        if !allowed.contains(m) {
                            allowed.push(m);
                        }
                    }
                }
                Some((n, _)) if *n > literals => {}
                _ => best = Some((literals, methods.clone())),
            }
        }
        best.map(|(_, allowed)| allowed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_paths_list_their_methods() {
        let routes = KnownRoutes::from_openapi(&crate::api::openapi());
        assert_eq!(routes.allowed("/v1/brands"), Some(vec!["GET", "POST"]));
        assert_eq!(
            routes.allowed("/v1/brands/anything"),
            Some(vec!["GET", "DELETE", "PATCH"])
        );
        assert_eq!(routes.allowed("/v1/brands/"), None);
        assert_eq!(
            routes.allowed("/v1/brands/b/accounts/connect"),
            Some(vec!["POST"])
        );
        assert_eq!(
            routes.allowed("/v1/brands/b/accounts/a"),
            Some(vec!["GET", "DELETE", "PATCH"])
        );
        assert_eq!(routes.allowed("/v1/nothing"), None);
        assert_eq!(routes.allowed("/healthz"), Some(vec!["GET"]));
    }
}
