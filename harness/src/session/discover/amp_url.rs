//! Recognising an AMP remote-write URL in a collector's config: the workspace it writes
//! to and the region, from `https://aps-workspaces.<region>.amazonaws.com/workspaces/<id>/api/v1/remote_write`
//! (FIPS and China partitions too), or from a URL at an AMP endpoint the target was told
//! about (`AWS_ENDPOINT_URL_AMP`, the mock's), whose region is the target's.

use std::sync::LazyLock;

use regex::Regex;
use serde::Serialize;

/// Where a collector writes: the workspace and its region (its URL without credentials,
/// query or fragment).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RemoteWrite {
    pub workspace_id: String,
    pub region: String,
    pub url: String,
}

/// The AMP endpoints a URL may name besides AWS's own hosts, with the region they serve.
#[derive(Clone, Debug, Default)]
pub struct KnownEndpoints {
    /// `(origin, region)`: `http://127.0.0.1:4567`, `us-east-1`.
    pub origins: Vec<(String, String)>,
}

impl KnownEndpoints {
    pub fn with(mut self, endpoint: &str, region: &str) -> Self {
        if let Some(origin) = origin_of(endpoint) {
            self.origins.push((origin, region.to_string()));
        }
        self
    }
}

static URL: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r#"https?://[^\s"'<>\\{}|^`,\]\[]+"#).expect("a valid regex"));
static AWS_HOST: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^aps-workspaces(?:-fips)?\.([a-z]{2}(?:-[a-z]+)+-\d)\.amazonaws\.com(?:\.cn)?$")
        .expect("a valid regex")
});
static PATH: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^/workspaces/(ws-[A-Za-z0-9-]+)/api/v1/remote_write/?$").expect("a valid regex")
});

/// `scheme://host[:port]` of `url`, lower-cased; None when it is no URL.
fn origin_of(url: &str) -> Option<String> {
    let u = reqwest::Url::parse(url.trim()).ok()?;
    let host = u.host_str()?.to_ascii_lowercase();
    Some(match u.port() {
        Some(p) => format!("{}://{host}:{p}", u.scheme()),
        None => format!("{}://{host}", u.scheme()),
    })
}

/// The remote write `url` names, if it is an AMP workspace's remote-write URL.
pub fn parse(url: &str, known: &KnownEndpoints) -> Option<RemoteWrite> {
    let u = reqwest::Url::parse(url.trim()).ok()?;
    let ws = PATH.captures(u.path())?.get(1)?.as_str().to_string();
    let host = u.host_str()?.to_ascii_lowercase();
    let region = match AWS_HOST.captures(&host) {
        Some(c) => c.get(1)?.as_str().to_string(),
        None => {
            let origin = origin_of(url)?;
            known
                .origins
                .iter()
                .find(|(o, _)| *o == origin)
                .map(|(_, r)| r.clone())?
        }
    };
    // Credentials in the URL, a query or a fragment never leave this function.
    let mut clean = u.clone();
    let _ = clean.set_username("");
    let _ = clean.set_password(None);
    clean.set_query(None);
    clean.set_fragment(None);
    Some(RemoteWrite {
        workspace_id: ws,
        region,
        url: clean.to_string(),
    })
}

/// Every AMP remote-write URL in `text` (a config file, an argument, an env value), each
/// once, in order.
pub fn find_in(text: &str, known: &KnownEndpoints) -> Vec<RemoteWrite> {
    let mut out: Vec<RemoteWrite> = Vec::new();
    for m in URL.find_iter(text) {
        // YAML and JSON may end a URL with punctuation the pattern keeps.
        let candidate = m.as_str().trim_end_matches(['.', ';', ')', '}']);
        if let Some(rw) = parse(candidate, known)
            && !out.contains(&rw)
        {
            out.push(rw);
        }
    }
    out
}

/// A workspace ARN's id and region: `arn:aws:aps:us-west-2:111122223333:workspace/ws-…`.
pub fn workspace_from_arn(arn: &str) -> Option<(String, String)> {
    let a = crate::arn::Arn::parse(arn).filter(|a| a.service == "aps")?;
    let ws = a.resource_id("workspace")?;
    (!a.region.is_empty() && ws.starts_with("ws-")).then(|| (ws.to_string(), a.region.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const WS: &str = "ws-1a2b3c4d-5e6f-7a8b-9c0d-1e2f3a4b5c6d";

    #[test]
    fn aws_hosts_give_workspace_and_region() {
        let none = KnownEndpoints::default();
        for (url, region) in [
            (
                format!(
                    "https://aps-workspaces.eu-west-1.amazonaws.com/workspaces/{WS}/api/v1/remote_write"
                ),
                "eu-west-1",
            ),
            (
                format!(
                    "https://aps-workspaces-fips.us-gov-west-1.amazonaws.com/workspaces/{WS}/api/v1/remote_write/"
                ),
                "us-gov-west-1",
            ),
            (
                format!(
                    "https://aps-workspaces.cn-north-1.amazonaws.com.cn/workspaces/{WS}/api/v1/remote_write"
                ),
                "cn-north-1",
            ),
        ] {
            let rw = parse(&url, &none).unwrap_or_else(|| panic!("{url}"));
            assert_eq!((rw.workspace_id.as_str(), rw.region.as_str()), (WS, region));
        }
    }

    #[test]
    fn other_urls_are_not_amp_remote_writes() {
        let none = KnownEndpoints::default();
        for url in [
            format!("https://aps-workspaces.us-east-1.amazonaws.com/workspaces/{WS}/api/v1/query"),
            format!("https://aps-workspaces.evil.example/workspaces/{WS}/api/v1/remote_write"),
            format!("https://example.com/workspaces/{WS}/api/v1/remote_write"),
            "https://mimir.example/api/v1/push".to_string(),
            "not a url".to_string(),
        ] {
            assert_eq!(parse(&url, &none), None, "{url}");
        }
    }

    #[test]
    fn a_known_endpoint_gives_the_targets_region() {
        let known = KnownEndpoints::default().with("http://127.0.0.1:4567/", "us-east-1");
        let url = format!("http://127.0.0.1:4567/workspaces/{WS}/api/v1/remote_write");
        let rw = parse(&url, &known).unwrap();
        assert_eq!(rw.region, "us-east-1");
        assert_eq!(parse(&url.replace("4567", "4568"), &known), None);
    }

    #[test]
    fn credentials_and_queries_are_dropped() {
        let url = format!(
            "https://user:s3cret@aps-workspaces.us-east-1.amazonaws.com/workspaces/{WS}/api/v1/remote_write?token=s3cret"
        );
        let rw = parse(&url, &KnownEndpoints::default()).unwrap();
        assert!(!rw.url.contains("s3cret"), "{}", rw.url);
    }

    #[test]
    fn urls_are_found_in_yaml_json_and_flags() {
        let url = format!(
            "https://aps-workspaces.us-east-1.amazonaws.com/workspaces/{WS}/api/v1/remote_write"
        );
        let known = KnownEndpoints::default();
        for text in [
            format!("remote_write:\n- url: {url}\n  sigv4:\n    region: us-east-1\n"),
            format!("{{\"endpoint\":\"{url}\",\"auth\":{{}}}}"),
            format!("--remote-write.url={url}"),
            format!("url: '{url}'  # and again {url}"),
        ] {
            let found = find_in(&text, &known);
            assert_eq!(found.len(), 1, "{text}: {found:?}");
            assert_eq!(found[0].workspace_id, WS);
        }
    }

    #[test]
    fn workspace_arns() {
        assert_eq!(
            workspace_from_arn(&format!(
                "arn:aws:aps:us-west-2:111122223333:workspace/{WS}"
            )),
            Some((WS.to_string(), "us-west-2".to_string()))
        );
        assert_eq!(
            workspace_from_arn("arn:aws:aps:us-west-2:1:scraper/s-1"),
            None
        );
        assert_eq!(workspace_from_arn("ws-1"), None);
    }
}
