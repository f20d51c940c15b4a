//! How many requests each service of a stack answered, by kind: what a run costs the
//! services it talks to, measured rather than worked out (the README's per-hour figures
//! for `pipecheck watch` are checked against it).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::extract::Request;

/// The kinds counted, as [`RequestCounts::snapshot`] names them.
const KINDS: [&str; 12] = [
    "amp remote_write",
    "amp query",
    "amp query_range",
    "amp other data plane",
    "amp control plane",
    "sts",
    "amg control plane",
    "grafana http api",
    "ec2",
    "eks",
    "iam",
    "kubernetes api",
];

/// Shared by the stack's services; clones count into the same table. Lock-free: the
/// mock's AMP is benchmarked under load.
#[derive(Clone, Debug, Default)]
pub struct RequestCounts(Arc<[AtomicU64; KINDS.len()]>);

impl RequestCounts {
    /// `app`, counting each request it is handed under `kind(request)`, an index of
    /// [`KINDS`].
    pub(crate) fn count(&self, app: Router, kind: fn(&Request) -> usize) -> Router {
        let counts = self.clone();
        app.layer(axum::middleware::map_request(move |req: Request| {
            counts.0[kind(&req)].fetch_add(1, Ordering::Relaxed);
            async move { req }
        }))
    }

    /// The counts so far, by kind (kinds never asked are left out).
    pub fn snapshot(&self) -> BTreeMap<&'static str, u64> {
        KINDS
            .iter()
            .zip(self.0.iter())
            .map(|(k, n)| (*k, n.load(Ordering::Relaxed)))
            .filter(|(_, n)| *n > 0)
            .collect()
    }
}

fn kind(name: &str) -> usize {
    KINDS
        .iter()
        .position(|k| *k == name)
        .expect("a kind of KINDS")
}

/// AMP's kinds: its data plane's remote writes and queries apart, the rest control plane.
pub(crate) fn amp_kind(req: &Request) -> usize {
    let path = req.uri().path();
    kind(if path.ends_with("/api/v1/remote_write") {
        "amp remote_write"
    } else if path.ends_with("/api/v1/query_range") {
        "amp query_range"
    } else if path.ends_with("/api/v1/query") {
        "amp query"
    } else if path.contains("/api/v1/") {
        "amp other data plane"
    } else {
        "amp control plane"
    })
}

pub(crate) fn sts_kind(_: &Request) -> usize {
    kind("sts")
}

pub(crate) fn amg_kind(_: &Request) -> usize {
    kind("amg control plane")
}

pub(crate) fn grafana_kind(_: &Request) -> usize {
    kind("grafana http api")
}

pub(crate) fn ec2_kind(_: &Request) -> usize {
    kind("ec2")
}

pub(crate) fn eks_kind(_: &Request) -> usize {
    kind("eks")
}

pub(crate) fn iam_kind(_: &Request) -> usize {
    kind("iam")
}

pub(crate) fn kube_kind(_: &Request) -> usize {
    kind("kubernetes api")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amp_requests_are_told_apart_by_path() {
        let req = |path: &str| {
            Request::builder()
                .uri(path)
                .body(axum::body::Body::empty())
                .unwrap()
        };
        let name = |path| KINDS[amp_kind(&req(path))];
        assert_eq!(
            name("/workspaces/ws-1/api/v1/remote_write"),
            "amp remote_write"
        );
        assert_eq!(name("/workspaces/ws-1/api/v1/query"), "amp query");
        assert_eq!(
            name("/workspaces/ws-1/api/v1/query_range"),
            "amp query_range"
        );
        assert_eq!(
            name("/workspaces/ws-1/api/v1/labels"),
            "amp other data plane"
        );
        assert_eq!(name("/workspaces/ws-1"), "amp control plane");
        for k in KINDS {
            assert_eq!(KINDS[kind(k)], k);
        }
    }
}
