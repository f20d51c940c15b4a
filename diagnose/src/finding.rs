//! What `pipecheck diagnose` reports: findings, their severities, and the catalog of checks
//! (one JUnit testcase each).

use serde::Serialize;

use super::yaml::Pos;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Breaks the pipeline; makes the exit code 1.
    Error,
    /// Works, but is fragile or weaker than it should be.
    Warning,
    /// Worth knowing; nothing to fix.
    Info,
}

impl Severity {
    pub fn label(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "info",
        }
    }
}

/// One finding. The serde shape is the `--format json` shape (version 1).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// The check's id: `L1`…`L8` from the fault catalog, `D1`… added by diagnose.
    pub id: &'static str,
    pub severity: Severity,
    /// The file as given on the command line.
    pub file: String,
    /// 1-based.
    pub line: usize,
    /// 1-based, in characters.
    pub column: usize,
    /// e.g. `serviceAccounts.server.annotations`, `Statement[0].Condition.StringEquals."…:sub"`.
    pub key_path: String,
    /// What is wrong, and what it causes.
    pub message: String,
    /// What to do.
    pub fix: String,
    /// The corrected snippet, where it is short.
    pub snippet: Option<String>,
}

impl Finding {
    pub(crate) fn new(
        id: &'static str,
        severity: Severity,
        file: &str,
        pos: Pos,
        key_path: impl Into<String>,
        message: impl Into<String>,
        fix: impl Into<String>,
    ) -> Finding {
        Finding {
            id,
            severity,
            file: file.to_string(),
            line: pos.line.max(1),
            column: pos.column.max(1),
            key_path: key_path.into(),
            message: message.into(),
            fix: fix.into(),
            snippet: None,
        }
    }

    pub(crate) fn snippet(mut self, s: impl Into<String>) -> Finding {
        self.snippet = Some(s.into());
        self
    }
}

/// A check: one JUnit testcase.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Check {
    pub id: &'static str,
    pub title: &'static str,
    /// The inputs it reads, for "not checked" verdicts.
    pub needs: Needs,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Needs {
    HelmValues,
    /// Helm values or a collector config.
    Writer,
    TrustPolicy,
    CollectorConfig,
    PermissionPolicy,
    /// A trust or permission policy.
    Policy,
    Any,
    /// Two files or more.
    TwoFiles,
    /// A collector config and `--collector-image`.
    CollectorImage,
    /// Helm values and `--crd`.
    Crd,
    GrafanaDatasource,
}

/// Every check, in report order.
pub const CHECKS: &[Check] = &[
    Check {
        id: "L1",
        title: "the eks.amazonaws.com/role-arn annotation sits on the service account the chart creates",
        needs: Needs::HelmValues,
    },
    Check {
        id: "L2",
        title: "remote-write URLs are of the AMP form, and SigV4 signs for the URL's region",
        needs: Needs::Writer,
    },
    Check {
        id: "L3",
        title: "the role trust policy admits the service account (sub) with the STS audience (aud)",
        needs: Needs::TrustPolicy,
    },
    Check {
        id: "L4",
        title: "the collector's prometheusremotewrite exporter authenticates with a sigv4auth extension the service enables",
        needs: Needs::CollectorConfig,
    },
    Check {
        id: "L5",
        title: "helm values use the keys of the chart they are for (prometheus: server.remoteWrite, snake_case; kube-prometheus-stack: prometheus.prometheusSpec.remoteWrite, camelCase)",
        needs: Needs::HelmValues,
    },
    Check {
        id: "L6",
        title: "the collector image has every component the collector config uses (ADOT: sigv4auth from v0.18, awsprometheusremotewrite up to v0.20)",
        needs: Needs::CollectorImage,
    },
    Check {
        id: "L7",
        title: "the installed Prometheus CRD knows every remoteWrite field the kube-prometheus-stack values set (sigv4, …)",
        needs: Needs::Crd,
    },
    Check {
        id: "L8",
        title: "the Grafana data source's SigV4 settings are ones Grafana reads (sigV4Auth a boolean, keys spelled right, a known sigV4AuthType, the URL's region)",
        needs: Needs::GrafanaDatasource,
    },
    Check {
        id: "D1",
        title: "no placeholders left unexpanded (${VAR}, <ACCOUNT_ID>, REPLACE_ME)",
        needs: Needs::Any,
    },
    Check {
        id: "D2",
        title: "AMP workspace ids are of the form ws-<uuid>",
        needs: Needs::Any,
    },
    Check {
        id: "D3",
        title: "the permission policies allow aps:RemoteWrite on the workspace (the collector's role)",
        needs: Needs::PermissionPolicy,
    },
    Check {
        id: "D4",
        title: "the permission policies allow aps:QueryMetrics on the workspace (Grafana's role, and pipecheck's query check)",
        needs: Needs::PermissionPolicy,
    },
    Check {
        id: "D5",
        title: "no static AWS access keys in the files (IRSA instead)",
        needs: Needs::Any,
    },
    Check {
        id: "D6",
        title: "service account annotations are set where the chart creates the service account",
        needs: Needs::HelmValues,
    },
    Check {
        id: "D7",
        title: "the files name the same AMP workspace and region",
        needs: Needs::TwoFiles,
    },
    Check {
        id: "D8",
        title: "policy documents are ones IAM accepts",
        needs: Needs::Policy,
    },
    Check {
        id: "D9",
        title: "every file and document is an input diagnose recognises (nothing passes unchecked)",
        needs: Needs::Any,
    },
    Check {
        id: "D10",
        title: "each file is what its flag says (a trust policy given as --helm-values is no helm values)",
        needs: Needs::Any,
    },
    Check {
        id: "D20",
        title: "namespaces and service account names are ones Kubernetes accepts (DNS-1123 label / subdomain), in values, collector resources and trust policies' `:sub`",
        needs: Needs::Any,
    },
    Check {
        id: "D21",
        title: "with no collector image named (the current release), the collector config uses no component the current ADOT and OpenTelemetry releases removed (logging, awsprometheusremotewrite, memory_ballast)",
        needs: Needs::CollectorConfig,
    },
    Check {
        id: "D22",
        title: "no key is defined twice in one YAML map (the collector refuses the config; helm keeps only the last)",
        needs: Needs::Writer,
    },
    Check {
        id: "D23",
        title: "the collector's prometheus receiver holds its Prometheus config under `config:`, with `scrape_configs` a list",
        needs: Needs::CollectorConfig,
    },
    Check {
        id: "D24",
        title: "helm values use no key that moved in a later chart version (prometheus chart: kubeStateMetrics, nodeExporter, pushgateway, alertmanagerFiles, …)",
        needs: Needs::HelmValues,
    },
    Check {
        id: "D25",
        title: "ARNs in a permission policy's Resource have their service's shape (arn:aws:aps:<region>:<account>:workspace/ws-…, arn:aws:iam::<account>:role/…)",
        needs: Needs::PermissionPolicy,
    },
];

/// The checks as `pipecheck diagnose --help` lists them.
pub(crate) fn checks_help() -> String {
    let mut out =
        String::from("Checks (one JUnit testcase each; L* are the fault catalog's static rows):");
    for c in CHECKS {
        out.push_str(&format!("\n  {}  {}", c.id, c.title));
    }
    out
}
