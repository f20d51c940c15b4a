//! How many requests each service of a stack answered, by kind: what a run costs the
//! services it talks to, measured rather than worked out (the README's per-hour figures
//! for `pipecheck watch` are checked against it).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::extract::Request;

/// What a request is, as [`RequestCounts::snapshot`] names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    AmpRemoteWrite,
    AmpQuery,
    AmpQueryRange,
    AmpOtherDataPlane,
    AmpControlPlane,
    Sts,
    AmgControlPlane,
    GrafanaHttpApi,
    Ec2,
    Eks,
    Iam,
    KubernetesApi,
}

impl Kind {
    const ALL: [Kind; 12] = [
        Kind::AmpRemoteWrite,
        Kind::AmpQuery,
        Kind::AmpQueryRange,
        Kind::AmpOtherDataPlane,
        Kind::AmpControlPlane,
        Kind::Sts,
        Kind::AmgControlPlane,
        Kind::GrafanaHttpApi,
        Kind::Ec2,
        Kind::Eks,
        Kind::Iam,
        Kind::KubernetesApi,
    ];

    fn name(self) -> &'static str {
        match self {
            Kind::AmpRemoteWrite => "amp remote_write",
            Kind::AmpQuery => "amp query",
            Kind::AmpQueryRange => "amp query_range",
            Kind::AmpOtherDataPlane => "amp other data plane",
            Kind::AmpControlPlane => "amp control plane",
            Kind::Sts => "sts",
            Kind::AmgControlPlane => "amg control plane",
            Kind::GrafanaHttpApi => "grafana http api",
            Kind::Ec2 => "ec2",
            Kind::Eks => "eks",
            Kind::Iam => "iam",
            Kind::KubernetesApi => "kubernetes api",
        }
    }
}

/// Shared by the stack's services; clones count into the same table. Lock-free: the
/// mock's AMP is benchmarked under load.
#[derive(Clone, Debug, Default)]
pub struct RequestCounts(Arc<[AtomicU64; Kind::ALL.len()]>);

impl RequestCounts {
    /// `app`, counting each request it is handed as `kind(request)`.
    pub(crate) fn count(
        &self,
        app: Router,
        kind: impl Fn(&Request) -> Kind + Clone + Send + Sync + 'static,
    ) -> Router {
        let counts = self.clone();
        app.layer(axum::middleware::map_request(move |req: Request| {
            counts.0[kind(&req) as usize].fetch_add(1, Ordering::Relaxed);
            async move { req }
        }))
    }

    /// A service whose requests are all of one kind.
    pub(crate) fn count_all(&self, app: Router, kind: Kind) -> Router {
        self.count(app, move |_| kind)
    }

    /// The counts so far, by kind (kinds never asked are left out).
    pub fn snapshot(&self) -> BTreeMap<&'static str, u64> {
        Kind::ALL
            .iter()
            .zip(self.0.iter())
            .map(|(k, n)| (k.name(), n.load(Ordering::Relaxed)))
            .filter(|(_, n)| *n > 0)
            .collect()
    }
}

/// AMP's kinds: its data plane's remote writes and queries apart, the rest control plane.
pub(crate) fn amp_kind(req: &Request) -> Kind {
    let path = req.uri().path();
    if path.ends_with("/api/v1/remote_write") {
        Kind::AmpRemoteWrite
    } else if path.ends_with("/api/v1/query_range") {
        Kind::AmpQueryRange
    } else if path.ends_with("/api/v1/query") {
        Kind::AmpQuery
    } else if path.contains("/api/v1/") {
        Kind::AmpOtherDataPlane
    } else {
        Kind::AmpControlPlane
    }
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
        let kind = |path| amp_kind(&req(path));
        assert_eq!(
            kind("/workspaces/ws-1/api/v1/remote_write"),
            Kind::AmpRemoteWrite
        );
        assert_eq!(kind("/workspaces/ws-1/api/v1/query"), Kind::AmpQuery);
        assert_eq!(
            kind("/workspaces/ws-1/api/v1/query_range"),
            Kind::AmpQueryRange
        );
        assert_eq!(
            kind("/workspaces/ws-1/api/v1/labels"),
            Kind::AmpOtherDataPlane
        );
        assert_eq!(kind("/workspaces/ws-1"), Kind::AmpControlPlane);
        for (i, k) in Kind::ALL.into_iter().enumerate() {
            assert_eq!(k as usize, i, "ALL is in declaration order");
        }
    }
}
