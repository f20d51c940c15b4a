//! The resource types the mock Kubernetes API serves: one table that discovery, routing
//! and storage all read. Adding a type is one row here (storage is generic).

/// One served resource type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ResourceType {
    /// API group; `""` is the core group (`/api/v1`).
    pub group: &'static str,
    pub version: &'static str,
    /// Plural name, unique across the table: the storage key.
    pub plural: &'static str,
    pub singular: &'static str,
    pub kind: &'static str,
    pub namespaced: bool,
    pub short_names: &'static [&'static str],
    pub categories: &'static [&'static str],
}

/// What every type supports on the mock (no watch, no deletecollection).
pub const VERBS: &[&str] = &["create", "delete", "get", "list", "patch", "update"];

const fn core(
    plural: &'static str,
    singular: &'static str,
    kind: &'static str,
    namespaced: bool,
    short_names: &'static [&'static str],
    categories: &'static [&'static str],
) -> ResourceType {
    ResourceType {
        group: "",
        version: "v1",
        plural,
        singular,
        kind,
        namespaced,
        short_names,
        categories,
    }
}

const fn grouped(
    group: &'static str,
    version: &'static str,
    plural: &'static str,
    singular: &'static str,
    kind: &'static str,
    short_names: &'static [&'static str],
    categories: &'static [&'static str],
) -> ResourceType {
    ResourceType {
        group,
        version,
        plural,
        singular,
        kind,
        namespaced: true,
        short_names,
        categories,
    }
}

pub const RESOURCES: &[ResourceType] = &[
    core("namespaces", "namespace", "Namespace", false, &["ns"], &[]),
    core("nodes", "node", "Node", false, &["no"], &[]),
    core(
        "serviceaccounts",
        "serviceaccount",
        "ServiceAccount",
        true,
        &["sa"],
        &[],
    ),
    core("pods", "pod", "Pod", true, &["po"], &["all"]),
    core("services", "service", "Service", true, &["svc"], &["all"]),
    core("configmaps", "configmap", "ConfigMap", true, &["cm"], &[]),
    core("secrets", "secret", "Secret", true, &[], &[]),
    core("events", "event", "Event", true, &["ev"], &[]),
    grouped(
        "apps",
        "v1",
        "deployments",
        "deployment",
        "Deployment",
        &["deploy"],
        &["all"],
    ),
    grouped(
        "apps",
        "v1",
        "daemonsets",
        "daemonset",
        "DaemonSet",
        &["ds"],
        &["all"],
    ),
    grouped(
        "apps",
        "v1",
        "replicasets",
        "replicaset",
        "ReplicaSet",
        &["rs"],
        &["all"],
    ),
    grouped(
        "apps",
        "v1",
        "statefulsets",
        "statefulset",
        "StatefulSet",
        &["sts"],
        &["all"],
    ),
    grouped(
        "opentelemetry.io",
        "v1beta1",
        "opentelemetrycollectors",
        "opentelemetrycollector",
        "OpenTelemetryCollector",
        &["otelcol", "otelcols"],
        &[],
    ),
    grouped(
        "monitoring.coreos.com",
        "v1",
        "prometheuses",
        "prometheus",
        "Prometheus",
        &["prom"],
        &["prometheus-operator"],
    ),
    ResourceType {
        group: "apiextensions.k8s.io",
        version: "v1",
        plural: "customresourcedefinitions",
        singular: "customresourcedefinition",
        kind: "CustomResourceDefinition",
        namespaced: false,
        short_names: &["crd", "crds"],
        categories: &["api-extensions"],
    },
    // RBAC, cluster-scoped: what the AMP managed scraper's Kubernetes user is granted.
    ResourceType {
        group: "rbac.authorization.k8s.io",
        version: "v1",
        plural: "clusterroles",
        singular: "clusterrole",
        kind: "ClusterRole",
        namespaced: false,
        short_names: &[],
        categories: &[],
    },
    ResourceType {
        group: "rbac.authorization.k8s.io",
        version: "v1",
        plural: "clusterrolebindings",
        singular: "clusterrolebinding",
        kind: "ClusterRoleBinding",
        namespaced: false,
        short_names: &[],
        categories: &[],
    },
];

/// Subresources listed in discovery: `(parent plural, subresource, kind, verbs)`.
pub const SUBRESOURCES: &[(&str, &str, &str, &[&str])] = &[
    ("pods", "log", "Pod", &["get"]),
    ("serviceaccounts", "token", "TokenRequest", &["create"]),
];

impl ResourceType {
    /// `v1` or `apps/v1`.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// `pods` or `deployments.apps`, as the apiserver names a resource in messages.
    pub fn qualified(&self) -> String {
        if self.group.is_empty() {
            self.plural.to_string()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    pub fn list_kind(&self) -> String {
        format!("{}List", self.kind)
    }
}

/// The type served at `group`/`version` under `plural`.
pub fn find(group: &str, version: &str, plural: &str) -> Option<&'static ResourceType> {
    RESOURCES
        .iter()
        .find(|r| r.group == group && r.version == version && r.plural == plural)
}

/// The type stored under `plural` (plurals are unique in the table).
pub fn by_plural(plural: &str) -> Option<&'static ResourceType> {
    RESOURCES.iter().find(|r| r.plural == plural)
}

/// Every group version served, core first: `("", "v1")`, `("apps", "v1")`, ….
pub fn group_versions() -> Vec<(&'static str, &'static str)> {
    let mut out: Vec<(&str, &str)> = Vec::new();
    for r in RESOURCES {
        if !out.contains(&(r.group, r.version)) {
            out.push((r.group, r.version));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plurals_are_unique() {
        for (i, a) in RESOURCES.iter().enumerate() {
            for b in &RESOURCES[i + 1..] {
                assert_ne!(a.plural, b.plural);
            }
        }
    }

    #[test]
    fn names() {
        let d = by_plural("deployments").unwrap();
        assert_eq!(d.api_version(), "apps/v1");
        assert_eq!(d.qualified(), "deployments.apps");
        assert_eq!(by_plural("pods").unwrap().qualified(), "pods");
        assert_eq!(group_versions()[0], ("", "v1"));
    }
}
