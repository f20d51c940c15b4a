//! End-to-end trials of the cluster scenarios (`eks-adot`, `eks-prometheus`): the real
//! `pipecheck` binary against the mock stack's EKS, IAM, STS and Kubernetes API. Each
//! fault trial asserts the exit code, the single root cause, the verdict's key words, the
//! evidence a person would otherwise dig out with kubectl and the AWS console, and that
//! every link depending on the root cause is blocked. Also: F11 and F12 together (the
//! first to break is reported; with it fixed the second shows), `--target aws` without
//! credentials or kubeconfig (exit 2, one line), and a read-only `--target aws` run against
//! the mock's exports.

use std::process::Stdio;

use libtest_mimic::{Failed, Trial};

use crate::support::{
    self, Depends, Mock, Ran, Report, bare_aws_command, chain_passes, dependents_in, ensure, exits,
    pipecheck, read_junit, refused_before_running, run, succeeded, text, tmp,
};

/// The ADOT chain in report order; a link with two dependencies has a row for each.
pub const DEPENDS_EKS_ADOT: &[Depends] = &[
    ("amp.workspace", "aws.identity"),
    ("eks.cluster", "aws.identity"),
    ("iam.oidc_provider", "eks.cluster"),
    ("k8s.api", "eks.cluster"),
    ("k8s.namespace", "k8s.api"),
    ("k8s.service_account", "k8s.namespace"),
    ("iam.role_trust", "k8s.service_account"),
    ("iam.role_trust", "iam.oidc_provider"),
    ("iam.role_permissions", "iam.role_trust"),
    ("iam.role_permissions", "amp.workspace"),
    ("eks.addon", "k8s.api"),
    ("k8s.cert_manager", "eks.addon"),
    ("network.egress", "eks.cluster"),
    ("network.egress", "k8s.api"),
    ("collector.config", "k8s.api"),
    ("collector.config", "amp.workspace"),
    ("collector.config", "network.egress"),
    ("collector.running", "collector.config"),
    ("collector.running", "iam.role_permissions"),
    ("amp.remote_write", "amp.workspace"),
    ("amp.query", "amp.remote_write"),
];

/// The links of the ADOT chain the other shapes' chains do without.
const ADOT_ONLY: &[&str] = &["eks.addon", "k8s.cert_manager"];

/// The scenarios whose collector is not the ADOT add-on's.
const WITHOUT_ADDON: &[&str] = &[
    "eks-prometheus",
    "eks-kube-prometheus-stack",
    "eks-otel-daemonset",
    "eks-adot-manifests",
];

/// A cluster fault: scenario, fault, link, fails (else warns), verdict key words,
/// evidence key words (in the failure's or warning's text).
type Row = (
    &'static str,
    &'static str,
    &'static str,
    bool,
    &'static [&'static str],
    &'static [&'static str],
);

const FAULTS: &[Row] = &[
    (
        "eks-adot",
        "sa-unannotated",
        "k8s.service_account",
        true,
        &[
            "adot-col/adot-collector",
            "has no eks.amazonaws.com/role-arn annotation",
        ],
        &[
            "annotations: (none)",
            "pod adot-collector-",
            "runs as service account adot-collector",
        ],
    ),
    (
        "eks-prometheus",
        "sa-unannotated",
        "k8s.service_account",
        true,
        &[
            "prometheus/amp-iamproxy-ingest-service-account",
            "has no eks.amazonaws.com/role-arn annotation",
        ],
        &[
            "serviceAccounts.server.annotations",
            "Deployment prometheus/prometheus-for-amp-server",
        ],
    ),
    (
        "eks-adot",
        "trust-other-namespace",
        "iam.role_trust",
        true,
        &[
            "trusts system:serviceaccount:springboot:adot-collector",
            "run as system:serviceaccount:adot-col:adot-collector",
        ],
        &[
            "\"system:serviceaccount:springboot:adot-collector\"",
            "must equal `system:serviceaccount:springboot:adot-collector` but the token says `system:serviceaccount:adot-col:adot-collector`",
            "refused: AccessDenied: Not authorized to perform sts:AssumeRoleWithWebIdentity",
        ],
    ),
    (
        "eks-prometheus",
        "trust-other-namespace",
        "iam.role_trust",
        true,
        &[
            "trusts system:serviceaccount:springboot:amp-iamproxy-ingest-service-account",
            "run as system:serviceaccount:prometheus:amp-iamproxy-ingest-service-account",
        ],
        &["refused: AccessDenied: Not authorized to perform sts:AssumeRoleWithWebIdentity"],
    ),
    (
        "eks-adot",
        "trust-other-service-account",
        "iam.role_trust",
        true,
        &[
            "trusts system:serviceaccount:adot-col:otel-collector",
            "run as system:serviceaccount:adot-col:adot-collector",
        ],
        &["refused: AccessDenied"],
    ),
    (
        "eks-adot",
        "oidc-provider-missing",
        "iam.oidc_provider",
        true,
        &[
            "no IAM OIDC provider for cluster pipecheck's issuer oidc.eks.us-east-1.amazonaws.com/id/",
        ],
        &[
            "eksctl utils associate-iam-oidc-provider",
            "InvalidIdentityToken",
            "no providers",
        ],
    ),
    (
        "eks-adot",
        "role-no-policies",
        "iam.role_permissions",
        true,
        &[
            "role pipecheck-adot-collector has no permission policy",
            "aps:RemoteWrite",
        ],
        &[
            "no policies attached or inline",
            "-> 403",
            "not authorized to perform",
        ],
    ),
    (
        "eks-prometheus",
        "role-no-policies",
        "iam.role_permissions",
        true,
        &["role amp-iamproxy-ingest-role has no permission policy"],
        &["no policies attached or inline", "-> 403"],
    ),
    (
        "eks-adot",
        "collector-crash-loop",
        "collector.running",
        true,
        &[
            "is CrashLoopBackOff after 6 restarts",
            "unknown type: \"awsprometheusremotewrite\"",
        ],
        &[
            "last terminated with exit 1 (Error)",
            "last log lines (previous instance)",
            "BackOff",
        ],
    ),
    (
        "eks-prometheus",
        "collector-crash-loop",
        "collector.running",
        true,
        &[
            "is CrashLoopBackOff after 6 restarts",
            "could not get SigV4 credentials",
        ],
        &["container prometheus-server: ready false, 6 restarts"],
    ),
    (
        "eks-adot",
        "adot-addon-missing",
        "eks.addon",
        true,
        &["the adot add-on is not installed on cluster pipecheck"],
        &["eks:ListAddons", "coredns"],
    ),
    (
        "eks-adot",
        "adot-addon-degraded",
        "eks.addon",
        true,
        &["is DEGRADED, not ACTIVE", "InsufficientNumberOfReplicas"],
        &["health issues: InsufficientNumberOfReplicas"],
    ),
    (
        "eks-adot",
        "adot-addon-create-failed",
        "eks.addon",
        true,
        &["is CREATE_FAILED, not ACTIVE"],
        &["ConfigurationConflict"],
    ),
    (
        "eks-adot",
        "adot-addon-unsupported",
        "eks.addon",
        true,
        &["v0.109.0-eksbuild.2 does not support Kubernetes 1.33"],
        &[
            "adot versions supporting Kubernetes 1.33: v0.131.0-eksbuild.1, v0.117.0-eksbuild.1",
            "--addon-version v0.131.0-eksbuild.1",
        ],
    ),
    (
        "eks-adot",
        "cert-manager-missing",
        "k8s.cert_manager",
        true,
        &["cert-manager is not installed"],
        &["no cert-manager deployments in namespace cert-manager"],
    ),
    (
        "eks-adot",
        "cert-manager-not-ready",
        "k8s.cert_manager",
        true,
        &["cert-manager is not ready: cert-manager-webhook (0/1 ready)"],
        &["deployment cert-manager/cert-manager-webhook: 0/1 ready, Available False"],
    ),
    (
        "eks-adot",
        "irsa-sa-unused",
        "k8s.service_account",
        true,
        &[
            "has no eks.amazonaws.com/role-arn annotation",
            "adot-col/adot-collector-irsa",
            "no pod runs as it",
        ],
        &[
            "annotated service accounts no pod uses",
            "spec.serviceAccount",
        ],
    ),
    (
        "eks-adot",
        "irsa-sa-extra",
        "k8s.service_account",
        false,
        &["adot-col/adot-collector-irsa", "no pod runs as it"],
        &[],
    ),
    // F07 in a cluster run: iam.role_permissions' own probe write may meet the 429s
    // first; a throttled probe proves nothing, so only amp.remote_write warns.
    (
        "eks-adot",
        "throttled-transient",
        "amp.remote_write",
        false,
        &["retried attempt(s)", "429"],
        &[],
    ),
    (
        "eks-adot",
        "pods-predate-annotation",
        "k8s.service_account",
        true,
        &["were started before it was set"],
        &[
            "AWS_ROLE_ARN not set",
            "kubectl rollout restart -n adot-col deployment/adot-collector",
            "node role (what these pods use until restarted)",
            "HttpPutResponseHopLimit 2",
        ],
    ),
    (
        "eks-adot",
        "sigv4-assumes-own-role",
        "collector.config",
        true,
        &[
            "extensions.sigv4auth.assume_role.arn is arn:aws:iam::111122223333:role/pipecheck-adot-collector, the role it already runs as",
            "User: arn:aws:sts::111122223333:assumed-role/pipecheck-adot-collector/<session> is not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::111122223333:role/pipecheck-adot-collector",
        ],
        &[
            "serviceaccount adot-col/adot-collector eks.amazonaws.com/role-arn: arn:aws:iam::111122223333:role/pipecheck-adot-collector",
            "Statement[0]: Allow Federated arn:aws:iam::111122223333:oidc-provider/",
            "not allowed: Statement[0]",
            "api error AccessDenied",
            "remove assume_role from the sigv4auth extension",
        ],
    ),
    (
        "eks-prometheus",
        "sigv4-assumes-own-role",
        "collector.config",
        true,
        &[
            "remote_write[0].sigv4.role_arn is arn:aws:iam::111122223333:role/amp-iamproxy-ingest-role, the role it already runs as",
        ],
        &[
            "Principal\":{\"AWS\":\"arn:aws:iam::111122223333:role/amp-iamproxy-ingest-role\"}",
            "role_arn: arn:aws:iam::111122223333:role/amp-iamproxy-ingest-role",
        ],
    ),
    (
        "eks-adot",
        "replicas-without-ha-labels",
        "collector.config",
        true,
        &[
            "2 replicas of Deployment adot-col/adot-collector write the same series without the cluster and __replica__ external label(s)",
            "400 out of order sample / duplicate sample for timestamp",
        ],
        &[
            "external labels (the prometheusremotewrite exporter's external_labels): (none)",
            "AMP 400: duplicate sample for timestamp",
            "__replica__: ${env:POD_NAME}",
        ],
    ),
    (
        "eks-prometheus",
        "replicas-without-ha-labels",
        "collector.config",
        true,
        &["2 replicas of Deployment prometheus/prometheus-for-amp-server write the same series"],
        &[
            "external labels (global.external_labels): (none)",
            "AMP 400: out of order sample",
            "set global.external_labels: {cluster: pipecheck, __replica__: ${POD_NAME}",
        ],
    ),
    (
        "eks-adot",
        "exporter-drops-on-failure",
        "collector.config",
        true,
        &[
            "dropped 1237 metric points after timeouts or 5xx instead of retrying (3",
            "retry_on_failure.enabled: false",
        ],
        &[
            "500 + 500 + 237 = 1237",
            "The error is not retryable. Dropping data.",
            "context deadline exceeded",
            "HTTP status 503",
            "remote_write_queue.enabled: false",
            "remote_write_queue: {enabled: true}",
        ],
    ),
    // A harness-side fault lands where it does in a direct run.
    (
        "eks-adot",
        "remote-write-denied",
        "amp.remote_write",
        true,
        &["aps:RemoteWrite"],
        &[],
    ),
    // F27-F29: the collector's identity without IRSA, and its network.
    (
        "eks-adot",
        "imds-hop-limit",
        "k8s.service_account",
        true,
        &[
            "the collector has no AWS identity",
            "no AWS_ROLE_ARN in the pods",
            "instance i-0abc1234def567890 requires IMDSv2 (HttpTokens required) with hop limit 1",
        ],
        &[
            "node ip-192-168-12-34.ec2.internal",
            "aws:///us-east-1a/i-0abc1234def567890",
            "HttpTokens required, HttpPutResponseHopLimit 1",
            "NoCredentialProviders",
            "/latest/api/token\": context deadline exceeded",
            "kubectl annotate serviceaccount -n adot-col adot-collector",
            "modify-instance-metadata-options --instance-id i-0abc1234def567890 --http-put-response-hop-limit 2",
        ],
    ),
    (
        "eks-prometheus",
        "imds-hop-limit",
        "k8s.service_account",
        true,
        &["the collector has no AWS identity", "hop limit 1"],
        &["HttpPutResponseHopLimit 1", "NoCredentialProviders"],
    ),
    (
        "eks-adot",
        "sts-unreachable",
        "network.egress",
        true,
        &[
            "the collector's STS endpoint http://127.0.0.1:",
            "is unreachable: connected to 127.0.0.1:",
            "no HTTP answer within 4.0s (answer deadline)",
        ],
        &[
            "read from: the pod's AWS_ENDPOINT_URL_STS",
            "aps-workspaces endpoint",
            "answered HTTP 405",
            "context deadline exceeded",
            "com.amazonaws.us-east-1.sts",
        ],
    ),
    (
        "eks-adot",
        "sts-refused",
        "network.egress",
        true,
        &[
            "the collector's STS endpoint",
            "refused: the address is reached, but nothing listens on that port",
        ],
        &[
            "connect: connection refused",
            "nothing listens at 127.0.0.1:",
            "answered HTTP 405",
        ],
    ),
    (
        "eks-adot",
        "sts-no-route",
        "network.egress",
        true,
        &[
            "subnets subnet-0a1b2c3d4e5f60001, subnet-0a1b2c3d4e5f60002 have no route out",
            "no com.amazonaws.us-east-1.sts endpoint",
        ],
        &[
            "rtb-0a1b2c3d4e5f60007 (associated): no 0.0.0.0/0 route",
            "com.amazonaws.us-east-1.aps-workspaces: vpce-",
            "private DNS on",
            "a NAT gateway route, or an interface VPC endpoint com.amazonaws.us-east-1.sts",
        ],
    ),
    (
        "eks-adot",
        "aps-unreachable",
        "network.egress",
        true,
        &[
            "the collector's aps-workspaces endpoint http://127.0.0.1:",
            "/api/v1/remote_write is unreachable",
            "no HTTP answer within 4.0s (answer deadline)",
        ],
        &[
            "read from: the collector's remote-write URL",
            "/api/v1/remote_write\": context deadline exceeded",
            "com.amazonaws.us-east-1.aps-workspaces",
        ],
    ),
    (
        "eks-adot",
        "aps-refused",
        "network.egress",
        true,
        &["aps-workspaces endpoint", "refused"],
        &["connect: connection refused"],
    ),
    (
        "eks-prometheus",
        "aps-refused",
        "network.egress",
        true,
        &["aps-workspaces endpoint", "refused"],
        &["read from: the collector's remote-write URL"],
    ),
    (
        "eks-adot",
        "aps-private-dns-off",
        "network.egress",
        true,
        &[
            "have no route out",
            "the com.amazonaws.us-east-1.aps-workspaces endpoint vpce-",
            "has private DNS off",
        ],
        &[
            "com.amazonaws.us-east-1.sts: vpce-",
            "private DNS off",
            "answered HTTP",
        ],
    ),
    // kube-prometheus-stack (a Prometheus resource, the operator's StatefulSet) and the
    // OpenTelemetry collector chart's DaemonSet: the cluster faults that apply to them,
    // then their own (F45-F47).
    (
        "eks-kube-prometheus-stack",
        "sa-unannotated",
        "k8s.service_account",
        true,
        &[
            "monitoring/amp-iamproxy-ingest-service-account",
            "has no eks.amazonaws.com/role-arn annotation",
        ],
        &[
            "annotations: (none)",
            "pod prometheus-kps-kube-prometheus-prometheus-0 runs as service account amp-iamproxy-ingest-service-account",
            "Prometheus monitoring/kps-kube-prometheus-prometheus",
            "prometheus.serviceAccount.annotations",
        ],
    ),
    (
        "eks-otel-daemonset",
        "sa-unannotated",
        "k8s.service_account",
        true,
        &[
            "otel/otel-opentelemetry-collector",
            "has no eks.amazonaws.com/role-arn annotation",
        ],
        &["DaemonSet otel/otel-opentelemetry-collector-agent"],
    ),
    (
        "eks-kube-prometheus-stack",
        "pods-predate-annotation",
        "k8s.service_account",
        true,
        &["were started before it was set"],
        &["AWS_ROLE_ARN not set"],
    ),
    (
        "eks-otel-daemonset",
        "trust-other-namespace",
        "iam.role_trust",
        true,
        &[
            "trusts system:serviceaccount:springboot:otel-opentelemetry-collector",
            "run as system:serviceaccount:otel:otel-opentelemetry-collector",
        ],
        &["refused: AccessDenied"],
    ),
    (
        "eks-kube-prometheus-stack",
        "collector-crash-loop",
        "collector.running",
        true,
        &[
            "collector pod prometheus-kps-kube-prometheus-prometheus-0 is CrashLoopBackOff after 6 restarts",
        ],
        &["container prometheus: ready false, 6 restarts"],
    ),
    (
        "eks-kube-prometheus-stack",
        "sigv4-assumes-own-role",
        "collector.config",
        true,
        &[
            "spec.remoteWrite[0].sigv4.roleArn is arn:aws:iam::111122223333:role/amp-iamproxy-ingest-role, the role it already runs as",
        ],
        &[
            "remove roleArn from the Prometheus resource's remoteWrite sigv4",
            "spec.remoteWrite[0].sigv4.roleArn: arn:aws:iam::111122223333:role/amp-iamproxy-ingest-role",
        ],
    ),
    (
        "eks-otel-daemonset",
        "sigv4-assumes-own-role",
        "collector.config",
        true,
        &["extensions.sigv4auth.assume_role.arn is arn:aws:iam::111122223333:role/"],
        &["ConfigMap otel/otel-opentelemetry-collector-agent key relay"],
    ),
    (
        "eks-kube-prometheus-stack",
        "replicas-without-ha-labels",
        "collector.config",
        true,
        &[
            "2 replicas of StatefulSet monitoring/prometheus-kps-kube-prometheus-prometheus write the same series without the cluster and __replica__ external label(s)",
        ],
        &[
            "set replicaExternalLabelName: __replica__",
            "prometheus: monitoring/kps-kube-prometheus-prometheus",
            "duplicate sample for timestamp",
        ],
    ),
    (
        "eks-otel-daemonset",
        "aps-refused",
        "network.egress",
        true,
        &["aps-workspaces endpoint", "refused"],
        &["read from: the collector's remote-write URL"],
    ),
    (
        "eks-otel-daemonset",
        "daemonset-duplicate-scrape",
        "collector.config",
        true,
        &[
            "DaemonSet otel/otel-opentelemetry-collector-agent runs a collector on each of its 2 nodes",
            "job(s) kubernetes-pods",
            "AMP refuses the copies with 400 duplicate sample for timestamp",
        ],
        &[
            "spec.nodeName=${env:K8S_NODE_NAME}",
            "per-node external labels (exporter)",
            "AMP 400: duplicate sample for timestamp",
        ],
    ),
    (
        "eks-kube-prometheus-stack",
        "prometheus-sigv4-no-region",
        "collector.config",
        true,
        &[
            "the Prometheus resource monitoring/kps-kube-prometheus-prometheus signs spec.remoteWrite[0] (sigv4) without a region",
            "region not configured in sigv4 or in default credentials chain",
        ],
        &[
            "set spec.remoteWrite[0].sigv4.region: us-east-1",
            "AWS_ROLE_ARN",
            "msg=\"Failed to apply configuration\"",
        ],
    ),
    (
        "eks-kube-prometheus-stack",
        "prometheus-replica-label-not-ha",
        "collector.config",
        false,
        &[
            "2 replicas of Prometheus monitoring/kps-kube-prometheus-prometheus write every series, each under its own prometheus_replica label",
        ],
        &[
            "replicaExternalLabelName: __replica__",
            "prometheus_replica: $(POD_NAME)",
        ],
    ),
    (
        "eks-kube-prometheus-stack",
        "irsa-sa-unused",
        "k8s.service_account",
        true,
        &[
            "has no eks.amazonaws.com/role-arn annotation",
            "monitoring/amp-iamproxy-ingest-service-account-irsa",
            "no pod runs as it",
        ],
        &["set spec.serviceAccountName of the Prometheus resource"],
    ),
    (
        "eks-kube-prometheus-stack",
        "sts-refused",
        "network.egress",
        true,
        &["the collector's STS endpoint", "refused"],
        &["connect: connection refused"],
    ),
    (
        "eks-kube-prometheus-stack",
        "aps-unreachable",
        "network.egress",
        true,
        &["/api/v1/remote_write is unreachable"],
        &["read from: the collector's remote-write URL"],
    ),
    (
        "eks-otel-daemonset",
        "collector-crash-loop",
        "collector.running",
        true,
        &["is CrashLoopBackOff after 6 restarts"],
        &["container opentelemetry-collector: ready false, 6 restarts"],
    ),
    (
        "eks-otel-daemonset",
        "pods-predate-annotation",
        "k8s.service_account",
        true,
        &["were started before it was set"],
        &["daemonset/otel-opentelemetry-collector-agent"],
    ),
    (
        "eks-otel-daemonset",
        "role-no-policies",
        "iam.role_permissions",
        true,
        &["has no permission policy"],
        &["no policies attached or inline"],
    ),
    (
        "eks-kube-prometheus-stack",
        "prometheus-not-reconciled",
        "collector.running",
        true,
        &[
            "no pod of Prometheus monitoring/kps-kube-prometheus-prometheus runs: the operator made no StatefulSet monitoring/prometheus-kps-kube-prometheus-prometheus",
            "no Prometheus operator reconciles it",
        ],
        &["prometheusOperator.namespaces", "(none)"],
    ),
    // EKS Pod Identity (F35-F39) on the cluster set up for it.
    (
        "eks-adot-pod-identity",
        "pod-identity-association-missing",
        "k8s.service_account",
        true,
        &[
            "adot-col/adot-collector",
            "has no EKS pod identity association",
        ],
        &[
            "aws eks create-pod-identity-association --cluster-name pipecheck --namespace adot-col --service-account adot-collector",
            "none in namespace adot-col",
            "AWS_CONTAINER_CREDENTIALS_FULL_URI not set",
        ],
    ),
    (
        "eks-adot-pod-identity",
        "pod-identity-agent-missing",
        "eks.addon",
        true,
        &[
            "the eks-pod-identity-agent add-on is not installed on cluster pipecheck",
            "http://169.254.170.23/v1/credentials",
        ],
        &[
            "aws eks create-addon --cluster-name pipecheck --addon-name eks-pod-identity-agent",
            "ResourceNotFoundException",
        ],
    ),
    (
        "eks-adot-pod-identity",
        "pod-identity-agent-not-ready",
        "eks.addon",
        true,
        &["the eks-pod-identity-agent DaemonSet has 0 of 1 pods ready"],
        &[
            "desired 1, current 1, ready 0",
            "IPv6",
            "eks-pod-identity-agent/",
            "v1.3.8-eksbuild.2 status ACTIVE",
        ],
    ),
    (
        "eks-adot-pod-identity",
        "pod-identity-trust-no-principal",
        "iam.role_trust",
        true,
        &[
            "does not admit the EKS Pod Identity service principal pods.eks.amazonaws.com",
            "adot-col/adot-collector",
        ],
        &[
            "\"sts:AssumeRoleWithWebIdentity\"",
            "\"Service\": \"pods.eks.amazonaws.com\"",
            "sts:TagSession",
        ],
    ),
    (
        "eks-adot-pod-identity",
        "pod-identity-trust-no-tag-session",
        "iam.role_trust",
        true,
        &[
            "does not let pods.eks.amazonaws.com sts:TagSession",
            "to pass the session tags",
        ],
        &[
            "aws:RequestTag/kubernetes-service-account=adot-collector",
            "sts:AssumeRole: allowed",
        ],
    ),
    (
        "eks-adot-pod-identity",
        "pods-predate-association",
        "k8s.service_account",
        true,
        &[
            "were created before pod identity association a-",
            "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        ],
        &["kubectl rollout restart -n adot-col deployment/adot-collector"],
    ),
    (
        "eks-adot-pod-identity",
        "irsa-and-pod-identity",
        "k8s.service_account",
        false,
        &[
            "also has pod identity association a-",
            "tries web identity before container credentials",
        ],
        &["remove the eks.amazonaws.com/role-arn annotation"],
    ),
];

/// The chain of a scenario: the Prometheus chart's is the ADOT chain without the ADOT
/// add-on and cert-manager.
fn chain(scenario: &str) -> Vec<Depends> {
    DEPENDS_EKS_ADOT
        .iter()
        .filter(|(child, _)| !WITHOUT_ADDON.contains(&scenario) || !ADOT_ONLY.contains(child))
        .copied()
        .collect()
}

/// The run fails on exactly `link` (see [`support::fails_on`]), and everything neither
/// failed nor blocked passed.
fn fails_on(
    scenario: &str,
    ran: &Ran,
    link: &str,
    verdict: &[&str],
    evidence: &[&str],
) -> Result<(), Failed> {
    let chain = chain(scenario);
    support::fails_on(ran, &chain, link, verdict, evidence)?;
    let dependents = dependents_in(&chain, link);
    for (n, c) in &ran.suite.cases {
        if n != link && !dependents.contains(&n.as_str()) {
            ensure(c.outcome == "pass", || {
                format!("{n} is {}: {c:?}", c.outcome)
            })?;
        }
    }
    Ok(())
}

fn fault_trial(row: &Row) -> Result<(), Failed> {
    let &(scenario, fault, link, fails, verdict, evidence) = row;
    let ran = run(scenario, &[fault])?;
    if fails {
        fails_on(scenario, &ran, link, verdict, evidence)
    } else {
        support::warns_on(&ran, link, &[verdict, evidence].concat())
    }
}

/// A healthy cluster scenario: every link passes, in the chain's order, the IRSA chain
/// proven with STS and a write signed as the role, and no canary-observation links.
fn scenario_passes(scenario: &'static str) -> Result<(), Failed> {
    let ran = run(scenario, &[])?;
    chain_passes(&ran, &chain(scenario))?;
    ensure(
        ran.stdout
            .contains("STS AssumeRoleWithWebIdentity with its token succeeds")
            && ran
                .stdout
                .contains("a write signed as the role is accepted"),
        || ran.stdout.clone(),
    )
}

/// ADOT's example manifests (`tests/fixtures/scenarios/eks-adot-manifests.yaml`): an
/// `otelcol` Deployment whose config is key `otel-agent-config` of ConfigMap
/// `otel-agent-conf`, found through its `--config` file; the chain passes.
fn adot_manifests_pass() -> Result<(), Failed> {
    let path = support::repo_root().join("tests/fixtures/scenarios/eks-adot-manifests.yaml");
    let (out, report) = support::run_with_report(&["run", "--scenario", path.to_str().unwrap()]);
    let ran = support::ran(&out, &report.path, "eks-adot-manifests")?;
    chain_passes(&ran, &chain("eks-adot-manifests"))?;
    ensure(
        ran.stdout
            .contains("the collector's pods run as aws-otel-eks/aws-otel-collector"),
        || ran.stdout.clone(),
    )
}

/// The Prometheus chart's server under EKS Pod Identity
/// (`tests/fixtures/scenarios/eks-prometheus-pod-identity.yaml`): every link passes, the
/// identity is the association (no F11), the trust the service principal's; with the
/// association removed (F35), `k8s.service_account` is the only root cause.
fn prometheus_pod_identity() -> Result<(), Failed> {
    const NAME: &str = "eks-prometheus-pod-identity";
    let path = support::repo_root().join(format!("tests/fixtures/scenarios/{NAME}.yaml"));
    let path = path.to_str().unwrap();
    let (out, report) = support::run_with_report(&["run", "--scenario", path]);
    let ran = support::ran(&out, &report.path, NAME)?;
    exits(&ran, 0)?;
    ensure(
        ran.suite.cases.iter().all(|(_, c)| c.outcome == "pass"),
        || format!("{:?}\n{}", ran.suite.cases, ran.stdout),
    )?;
    for w in [
        "which has EKS pod identity association a-",
        "trusts the EKS Pod Identity principal pods.eks.amazonaws.com",
        "may aps:RemoteWrite",
    ] {
        ensure(ran.stdout.contains(w), || {
            format!("stdout lacks {w:?}:\n{}", ran.stdout)
        })?;
    }
    ensure(
        !ran.stdout
            .contains("has no eks.amazonaws.com/role-arn annotation"),
        || ran.stdout.clone(),
    )?;
    let (out, report) = support::run_with_report(&[
        "run",
        "--scenario",
        path,
        "--fault",
        "pod-identity-association-missing",
    ]);
    let ran = support::ran(&out, &report.path, NAME)?;
    exits(&ran, 1)?;
    let root = ran.suite.root_cause();
    ensure(root == "k8s.service_account", || {
        format!("root cause {root:?}\n{}", ran.stdout)
    })?;
    ensure(
        ran.stdout.contains(
            "aws eks create-pod-identity-association --cluster-name pipecheck --namespace prometheus --service-account amp-iamproxy-ingest-service-account",
        ),
        || ran.stdout.clone(),
    )
}

/// A catalog id with several forms picks the scenario's: F15 is `collector-bad-flag` for
/// a local collector and `collector-crash-loop` in a cluster, so `--fault F15` on
/// eks-adot crash-loops the collector's pod (it used to be refused as not applying).
fn fault_id_takes_the_scenarios_form() -> Result<(), Failed> {
    let ran = run("eks-adot", &["F15"])?;
    exits(&ran, 1)?;
    ensure(ran.suite.root_cause() == "collector.running", || {
        format!("root cause {:?}\n{}", ran.suite.root_cause(), ran.stdout)
    })?;
    ran.suite
        .property_is("faults", |f| f.contains("F15:collector-crash-loop"))
}

/// F11 and F12 together, as in the workshop: the service account is unannotated and the
/// trust policy names another namespace. The run names the first to break
/// (k8s.service_account) with iam.role_trust blocked behind it; with F11 fixed the same
/// cluster shows F12 on iam.role_trust.
fn f11_and_f12() -> Result<(), Failed> {
    let ran = run("eks-adot", &["sa-unannotated", "trust-other-namespace"])?;
    fails_on(
        "eks-adot",
        &ran,
        "k8s.service_account",
        &["has no eks.amazonaws.com/role-arn annotation"],
        &[],
    )?;
    ran.suite.property_is("faults", |f| {
        f.contains("F11:sa-unannotated") && f.contains("F12:trust-other-namespace")
    })?;
    fails_on(
        "eks-adot",
        &run("eks-adot", &["trust-other-namespace"])?,
        "iam.role_trust",
        &[
            "trusts system:serviceaccount:springboot:adot-collector",
            "run as system:serviceaccount:adot-col:adot-collector",
        ],
        &["refused: AccessDenied"],
    )
}

/// Faults refused before anything runs: a cluster fault on a scenario without a cluster,
/// and an ADOT fault on the Prometheus scenario, which does not check the add-on.
fn fault_not_checked(args: &[&str], words: &str) -> Result<(), Failed> {
    let dir = tmp();
    let report = dir.path().join("r.xml");
    let mut full = args.to_vec();
    full.extend(["--junit", report.to_str().unwrap()]);
    let out = pipecheck(&full);
    refused_before_running(&out, &report, |stderr| stderr.contains(words))
}

/// `--target aws` for a cluster scenario: exit 2 with one clear line, before anything
/// runs, when there are no credentials; and when there are credentials but no kubeconfig.
fn aws_cluster_cannot_start(with_credentials: bool, words: &str) -> Result<(), Failed> {
    let dir = tmp();
    let report = dir.path().join("r.xml");
    let mut cmd = bare_aws_command(dir.path());
    cmd.args([
        "run",
        "--target",
        "aws",
        "--scenario",
        "eks-adot",
        "--junit",
    ])
    .arg(&report);
    if with_credentials {
        cmd.env("AWS_ACCESS_KEY_ID", "AKIAPIPECHECKEXAMPLE")
            .env("AWS_SECRET_ACCESS_KEY", "not-a-real-secret");
    }
    let out = cmd.output().map_err(|e| e.to_string())?;
    refused_before_running(&out, &report, |stderr| stderr.starts_with(words))
}

/// The read-only `--target aws` path against the mock's exports (endpoints, credentials,
/// KUBECONFIG, PIPECHECK_CLUSTER), exactly as a user would point it at an account: the
/// cluster scenario passes, requests no service account token (so STS is not asked and
/// no write is signed as the role), and says so in the evidence.
fn aws_cluster_read_only_against_the_mock() -> Result<(), Failed> {
    let mock = Mock::start(
        Stdio::piped(),
        &[
            "AWS_ENDPOINT_URL_EKS",
            "AWS_ENDPOINT_URL_IAM",
            "AWS_ENDPOINT_URL_EC2",
            "KUBECONFIG",
            "PIPECHECK_CLUSTER",
        ],
    )?;
    let result: Result<(), Failed> = (|| {
        let report = Report::new();
        let so = succeeded(&mock.run_aws(&["--scenario", "eks-adot"], &report.path, |_| {})?)?;
        let suites = read_junit(&report.path)?;
        let s = &suites[0];
        ensure(s.name == "eks-adot@aws", || s.name.clone())?;
        ensure(s.cases.iter().all(|(_, c)| c.outcome == "pass"), || {
            format!("{:?}", s.cases)
        })?;
        ensure(
            !so.contains("STS AssumeRoleWithWebIdentity")
                && !so.contains("a write signed as the role"),
            || format!("a read-only run asked STS or wrote as the role:\n{so}"),
        )?;
        let xml = std::fs::read_to_string(&report.path).map_err(|e| e.to_string())?;
        ensure(
            xml.contains("not attempted: a read-only run requests no service account tokens"),
            || "iam.role_trust does not say why STS was not asked".into(),
        )
    })();
    let _ = mock.stop();
    result
}

/// The healthy EKS Pod Identity cluster: every link passes, the collector's identity is
/// the association (not "unannotated", F11), the trust is the service principal's, and
/// no STS proof is claimed.
fn pod_identity_passes() -> Result<(), Failed> {
    let scenario = "eks-adot-pod-identity";
    let ran = run(scenario, &[])?;
    chain_passes(&ran, &chain(scenario))?;
    let out = &ran.stdout;
    for w in [
        "which has EKS pod identity association a-",
        "trusts the EKS Pod Identity principal pods.eks.amazonaws.com for sts:AssumeRole and sts:TagSession",
        "the eks-pod-identity-agent add-on v1.3.8-eksbuild.2 is ACTIVE and its DaemonSet has 1/1 pods ready",
        "may aps:RemoteWrite",
    ] {
        ensure(out.contains(w), || format!("stdout lacks {w:?}:\n{out}"))?;
    }
    ensure(
        !out.contains("has no eks.amazonaws.com/role-arn annotation")
            && !out.contains("STS AssumeRoleWithWebIdentity with its token succeeds"),
        || out.clone(),
    )
}

/// `pipecheck faults` lists F35-F39 on their links, `pipecheck scenarios` the Pod
/// Identity scenario.
fn pod_identity_listed() -> Result<(), Failed> {
    let s = text(&pipecheck(&["faults"]).stdout);
    for w in [
        "F35",
        "F36",
        "F37",
        "F38",
        "F39",
        "pod-identity-association-missing",
        "pod-identity-agent-not-ready",
        "pod-identity-trust-no-tag-session",
        "eks.addon (cluster)",
        "iam.role_trust (cluster)",
    ] {
        ensure(s.contains(w), || {
            format!("`pipecheck faults` lacks {w}:\n{s}")
        })?;
    }
    let s = text(&pipecheck(&["scenarios"]).stdout);
    ensure(s.contains("eks-adot-pod-identity"), || s.clone())
}

/// `pipecheck faults` and `pipecheck scenarios` list the cluster side.
fn listed() -> Result<(), Failed> {
    let out = pipecheck(&["faults"]);
    let s = text(&out.stdout);
    for id in [
        "F11", "F12", "F13", "F14", "F18", "F19", "F20", "F26", "F27", "F28", "F29",
    ] {
        ensure(s.contains(id), || {
            format!("`pipecheck faults` lacks {id}:\n{s}")
        })?;
    }
    ensure(s.contains("k8s.service_account (cluster)"), || s.clone())?;
    ensure(s.contains("network.egress (cluster)"), || s.clone())?;
    let out = pipecheck(&["scenarios"]);
    let s = text(&out.stdout);
    ensure(
        s.contains("eks-adot") && s.contains("eks-prometheus"),
        || s.clone(),
    )
}

pub fn trials() -> Vec<Trial> {
    let mut t = vec![
        Trial::test("scenario::eks-adot", || scenario_passes("eks-adot")),
        Trial::test("scenario::eks-prometheus", || {
            scenario_passes("eks-prometheus")
        }),
        Trial::test("scenario::eks-kube-prometheus-stack", || {
            scenario_passes("eks-kube-prometheus-stack")
        }),
        Trial::test("scenario::eks-otel-daemonset", || {
            scenario_passes("eks-otel-daemonset")
        }),
        Trial::test("scenario::eks-adot-manifests", adot_manifests_pass),
        Trial::test(
            "bad_input::daemonset_fault_on_eks_kube_prometheus_stack",
            || {
                fault_not_checked(
                    &[
                        "run",
                        "--scenario",
                        "eks-kube-prometheus-stack",
                        "--fault",
                        "F45",
                    ],
                    "does not apply to scenario eks-kube-prometheus-stack",
                )
            },
        ),
        Trial::test("bad_input::provision_eks_otel_daemonset", || {
            fault_not_checked(
                &["run", "--scenario", "eks-otel-daemonset", "--provision"],
                "which pipecheck checks but does not provision",
            )
        }),
        Trial::test("fault::eks-adot::F11+F12", f11_and_f12),
        Trial::test("cli::cluster_listed", listed),
        Trial::test("bad_input::cluster_fault_on_smoke", || {
            fault_not_checked(
                &["run", "--scenario", "smoke", "--fault", "sa-unannotated"],
                "does not apply to scenario smoke",
            )
        }),
        Trial::test("bad_input::adot_fault_on_eks_prometheus", || {
            fault_not_checked(
                &[
                    "run",
                    "--scenario",
                    "eks-prometheus",
                    "--fault",
                    "adot-addon-missing",
                ],
                "lands on eks.addon, which scenario eks-prometheus does not check",
            )
        }),
        Trial::test("bad_input::adot_exporter_fault_on_eks_prometheus", || {
            fault_not_checked(
                &["run", "--scenario", "eks-prometheus", "--fault", "F32"],
                "does not apply to scenario eks-prometheus",
            )
        }),
        Trial::test("bad_input::aws_cluster_without_credentials", || {
            aws_cluster_cannot_start(false, "pipecheck: no AWS credentials for --target aws")
        }),
        Trial::test("bad_input::aws_cluster_without_kubeconfig", || {
            aws_cluster_cannot_start(true, "pipecheck: no usable kubeconfig for --target aws")
        }),
        Trial::test(
            "cli::aws_cluster_read_only_against_the_mock",
            aws_cluster_read_only_against_the_mock,
        ),
    ];
    t.extend([
        Trial::test("scenario::eks-adot-pod-identity", pod_identity_passes),
        Trial::test(
            "cli::fault_id_takes_the_scenarios_form",
            fault_id_takes_the_scenarios_form,
        ),
        Trial::test(
            "scenario::eks-prometheus-pod-identity",
            prometheus_pod_identity,
        ),
        Trial::test("cli::pod_identity_listed", pod_identity_listed),
        Trial::test("bad_input::pod_identity_fault_on_eks_adot", || {
            fault_not_checked(
                &["run", "--scenario", "eks-adot", "--fault", "F35"],
                "does not apply to scenario eks-adot",
            )
        }),
        Trial::test("bad_input::irsa_fault_on_eks_adot_pod_identity", || {
            fault_not_checked(
                &[
                    "run",
                    "--scenario",
                    "eks-adot-pod-identity",
                    "--fault",
                    "F11",
                ],
                "does not apply to scenario eks-adot-pod-identity",
            )
        }),
    ]);
    for row in FAULTS {
        t.push(Trial::test(
            format!("fault::{}::{}", row.0, row.1),
            move || fault_trial(row),
        ));
    }
    t
}
