//! What `oauth2` builds, respelled where a network or the transport rule asks another spelling
//! (the requests still go out through the crate's client and the transport's `Call`):
//!
//! * TikTok calls the client id `client_key`, in the authorization URL and in form bodies.
//! * `oauth2` refuses an RFC 7009 endpoint that is not `https`, also on loopback hosts.

use std::borrow::Cow;

use url::Url;

/// The parameter name `oauth2` gives the client id.
const CLIENT_ID: &str = "client_id";

/// TikTok: the authorization URL `oauth2` built, with `client_id` renamed.
pub(super) fn client_id_in_query(mut url: Url, param: &str) -> Url {
    if param == CLIENT_ID {
        return url;
    }
    let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    url.query_pairs_mut().clear().extend_pairs(
        pairs
            .iter()
            .map(|(k, v)| (if k == CLIENT_ID { param } else { k }, v)),
    );
    url
}

/// TikTok: a form body `oauth2` built (it builds no other kind), with `client_id` renamed.
pub(super) fn client_id_in_form(body: Vec<u8>, param: &str) -> Vec<u8> {
    if param == CLIENT_ID || body.is_empty() {
        return body;
    }
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(url::form_urlencoded::parse(&body).map(|(k, v)| {
            let k = if k == CLIENT_ID {
                Cow::Borrowed(param)
            } else {
                k
            };
            (k, v)
        }))
        .finish()
        .into_bytes()
}

/// The URL `oauth2` is given for an RFC 7009 endpoint. The crate refuses anything but `https`
/// there (RFC 7009 §2), but the operator's transport rule already decided this URL: `https`, or
/// plain `http` on a loopback host when `allow_insecure_loopback` is set (the sandbox, local
/// fakes). The crate gets the `https` spelling; the transport's `Call` sends to the configured URL.
pub(super) fn https_spelling(url: &Url) -> Url {
    let mut u = url.clone();
    if u.scheme() == "http" {
        // Cannot fail: `url` allows switching between the special schemes `http` and `https`.
        let _ = u.set_scheme("https");
    }
    u
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_id_is_renamed_only_for_networks_that_want_it() {
        let u = Url::parse("https://a.example/auth?x=1&client_id=cid&state=s").unwrap();
        assert_eq!(client_id_in_query(u.clone(), "client_id"), u);
        assert_eq!(
            client_id_in_query(u, "client_key").as_str(),
            "https://a.example/auth?x=1&client_key=cid&state=s"
        );
        let form = b"grant_type=authorization_code&client_id=c+d&code=a%2Fb".to_vec();
        assert_eq!(client_id_in_form(form.clone(), "client_id"), form);
        assert_eq!(
            String::from_utf8(client_id_in_form(form, "client_key")).unwrap(),
            "grant_type=authorization_code&client_key=c+d&code=a%2Fb"
        );
    }

    #[test]
    fn only_http_is_respelled() {
        let http = Url::parse("http://127.0.0.1:8080/revoke").unwrap();
        assert_eq!(
            https_spelling(&http).as_str(),
            "https://127.0.0.1:8080/revoke"
        );
        let https = Url::parse("https://oauth2.googleapis.com/revoke").unwrap();
        assert_eq!(https_spelling(&https), https);
    }
}
