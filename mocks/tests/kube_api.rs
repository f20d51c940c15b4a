//! The real `kube` client and kubectl against the mock Kubernetes API of a started
//! `MockStack`, through the kubeconfig the stack writes: TLS with the generated CA, bearer
//! token, discovery, lists, a custom resource, logs, and `Status` errors.

mod common;

use std::path::Path;
use std::process::Command;

use common::{kube_client, stack};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Pod, ServiceAccount};
use kube::api::{Api, DynamicObject, ListParams, LogParams, Patch, PatchParams};
use kube::core::{ApiResource, GroupVersionKind};
use pipecheck_mocks::ClusterSeed;
use pipecheck_mocks::kube::{COLLECTOR_CONTAINER, ROLE_ARN_ANNOTATION};
use serde_json::json;

fn otel_resource() -> ApiResource {
    ApiResource::from_gvk(&GroupVersionKind::gvk(
        "opentelemetry.io",
        "v1beta1",
        "OpenTelemetryCollector",
    ))
}

#[tokio::test]
async fn kube_client_reads_the_seeded_cluster() {
    let s = stack().await;
    let seed = ClusterSeed::default();
    let adot = s.adot.clone().unwrap();
    let client = kube_client(&s.endpoints().kubeconfig).await;

    let version = client.apiserver_version().await.unwrap();
    assert_eq!(
        (version.major.as_str(), version.minor.as_str()),
        ("1", "30")
    );

    // All namespaces, then one, with a label selector.
    let pods = Api::<Pod>::all(client.clone())
        .list(&ListParams::default())
        .await
        .unwrap();
    let names: Vec<String> = pods
        .items
        .iter()
        .filter_map(|p| p.metadata.name.clone())
        .collect();
    assert!(names.contains(&adot.pod), "{names:?}");
    assert!(pods.metadata.resource_version.is_some());
    let collector_pods = Api::<Pod>::namespaced(client.clone(), &seed.namespace)
        .list(&ListParams::default().labels("app.kubernetes.io/component=opentelemetry-collector"))
        .await
        .unwrap();
    assert_eq!(collector_pods.items.len(), 1);
    let pod = &collector_pods.items[0];
    let spec = pod.spec.as_ref().unwrap();
    assert_eq!(
        spec.service_account_name.as_deref(),
        Some(seed.service_account.as_str())
    );
    let env: Vec<&str> = spec.containers[0]
        .env
        .iter()
        .flatten()
        .map(|e| e.name.as_str())
        .collect();
    assert!(
        env.contains(&"AWS_ROLE_ARN") && env.contains(&"AWS_WEB_IDENTITY_TOKEN_FILE"),
        "{env:?}"
    );
    let status = pod.status.as_ref().unwrap();
    assert_eq!(status.phase.as_deref(), Some("Running"));
    assert!(status.container_statuses.as_ref().unwrap()[0].ready);

    // The service account and its IRSA annotation.
    let sas = Api::<ServiceAccount>::namespaced(client.clone(), &seed.namespace)
        .list(&ListParams::default())
        .await
        .unwrap();
    let sa = sas
        .items
        .iter()
        .find(|sa| sa.metadata.name.as_deref() == Some(seed.service_account.as_str()))
        .unwrap();
    assert_eq!(
        sa.metadata.annotations.as_ref().unwrap()[ROLE_ARN_ANNOTATION],
        seed.role_arn()
    );
    let fs = Api::<ServiceAccount>::all(client.clone())
        .list(&ListParams::default().fields("metadata.name=default"))
        .await
        .unwrap();
    assert!(fs.items.len() >= 3);

    // The collector custom resource, dynamically.
    let otel =
        Api::<DynamicObject>::namespaced_with(client.clone(), &seed.namespace, &otel_resource());
    let cr = otel.get(&seed.collector_name).await.unwrap();
    assert_eq!(
        cr.data["spec"]["config"]["exporters"]["prometheusremotewrite"]["endpoint"],
        adot.remote_write_url
    );
    assert_eq!(
        cr.data["spec"]["config"]["extensions"]["sigv4auth"]["service"],
        "aps"
    );

    // cert-manager, ready.
    let cm = Api::<Deployment>::namespaced(client.clone(), "cert-manager")
        .list(&ListParams::default())
        .await
        .unwrap();
    assert_eq!(cm.items.len(), 3);
    assert!(
        cm.items
            .iter()
            .all(|d| d.status.as_ref().unwrap().ready_replicas == Some(1))
    );

    // Logs, tailed.
    let logs = Api::<Pod>::namespaced(client.clone(), &seed.namespace)
        .logs(
            &adot.pod,
            &LogParams {
                container: Some(COLLECTOR_CONTAINER.to_string()),
                tail_lines: Some(1),
                ..LogParams::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(logs.lines().count(), 1);
    assert!(logs.contains("Everything is ready"), "{logs}");
}

#[tokio::test]
async fn errors_are_status_objects_through_the_kube_client() {
    let s = stack().await;
    let seed = ClusterSeed::default();
    let client = kube_client(&s.endpoints().kubeconfig).await;
    let sas = Api::<ServiceAccount>::namespaced(client.clone(), &seed.namespace);
    match sas.get("nope").await.unwrap_err() {
        kube::Error::Api(status) => {
            assert_eq!(status.code, 404);
            assert_eq!(status.reason, "NotFound");
            assert_eq!(status.message, "serviceaccounts \"nope\" not found");
        }
        other => panic!("expected Error::Api, got {other:?}"),
    }

    // A fault edits the stored object; the client sees it, with a new resourceVersion.
    let before = sas.get(&seed.service_account).await.unwrap();
    s.kube
        .remove_annotation(
            "serviceaccounts",
            &seed.namespace,
            &seed.service_account,
            ROLE_ARN_ANNOTATION,
        )
        .unwrap();
    let after = sas.get(&seed.service_account).await.unwrap();
    assert!(after.metadata.annotations.unwrap_or_default().is_empty());
    assert_ne!(
        before.metadata.resource_version,
        after.metadata.resource_version
    );

    // Merge patch through the client puts it back.
    let patch = json!({ "metadata": { "annotations": { ROLE_ARN_ANNOTATION: seed.role_arn() } } });
    let patched = sas
        .patch(
            &seed.service_account,
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await
        .unwrap();
    assert_eq!(
        patched.metadata.annotations.unwrap()[ROLE_ARN_ANNOTATION],
        seed.role_arn()
    );

    // RBAC denial.
    s.kube.deny(Some("list"), "pods", Some(&seed.namespace));
    match Api::<Pod>::namespaced(client.clone(), &seed.namespace)
        .list(&ListParams::default())
        .await
        .unwrap_err()
    {
        kube::Error::Api(status) => {
            assert_eq!(status.code, 403);
            assert_eq!(status.reason, "Forbidden");
        }
        other => panic!("expected Error::Api, got {other:?}"),
    }

    // A crash-looping collector: previous logs hold the reason.
    let adot = s.adot.clone().unwrap();
    s.kube
        .set_pod_crash_looping(
            &adot.namespace,
            &adot.pod,
            &adot.container,
            5,
            1,
            "Error: failed to get config: could not get SigV4 credentials: AccessDenied: Not authorized to perform sts:AssumeRoleWithWebIdentity\n",
        )
        .unwrap();
    let pod = Api::<Pod>::namespaced(client.clone(), &adot.namespace)
        .get(&adot.pod)
        .await
        .unwrap();
    let cs = &pod.status.unwrap().container_statuses.unwrap()[0];
    assert_eq!(cs.restart_count, 5);
    assert_eq!(
        cs.state
            .as_ref()
            .unwrap()
            .waiting
            .as_ref()
            .unwrap()
            .reason
            .as_deref(),
        Some("CrashLoopBackOff")
    );
    let previous = Api::<Pod>::namespaced(client, &adot.namespace)
        .logs(
            &adot.pod,
            &LogParams {
                previous: true,
                ..LogParams::default()
            },
        )
        .await
        .unwrap();
    assert!(previous.contains("AssumeRoleWithWebIdentity"), "{previous}");
}

#[tokio::test]
async fn unknown_token_is_unauthorized() {
    let s = stack().await;
    let text = std::fs::read_to_string(&s.endpoints().kubeconfig).unwrap();
    let token_line = text
        .lines()
        .find(|l| l.trim_start().starts_with("token:"))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kubeconfig");
    std::fs::write(
        &path,
        text.replace(token_line, "    token: \"not-a-token\""),
    )
    .unwrap();
    let client = kube_client(&path).await;
    match Api::<Pod>::all(client)
        .list(&ListParams::default())
        .await
        .unwrap_err()
    {
        kube::Error::Api(status) => {
            assert_eq!(status.code, 401);
            assert_eq!(status.reason, "Unauthorized");
        }
        other => panic!("expected Error::Api, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------
// kubectl

/// kubectl with the stack's kubeconfig and a private discovery cache; panics (so the test
/// fails, saying why) when kubectl is not installed.
fn kubectl(kubeconfig: &Path, cache: &Path, args: &[&str]) -> String {
    let out = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .arg("--cache-dir")
        .arg(cache)
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "kubectl is needed for this test (aws-wire.md H) but could not be run: {e}; \
                 install kubectl or put it on PATH"
            )
        });
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    // Shown with `--nocapture`: what a person debugging would see.
    eprintln!("$ kubectl {}\n{stdout}{stderr}", args.join(" "));
    assert!(
        out.status.success(),
        "kubectl {args:?} failed ({}):\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status
    );
    stdout
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_works_against_the_mock_cluster() {
    let s = stack().await;
    let seed = ClusterSeed::default();
    let adot = s.adot.clone().unwrap();
    let kubeconfig = s.endpoints().kubeconfig.clone();
    let cache = tempfile::tempdir().unwrap();
    let (kc, cd) = (kubeconfig.as_path(), cache.path());

    // kubectl blocks; run it off the runtime's worker that serves the mock.
    let out = tokio::task::block_in_place(|| kubectl(kc, cd, &["get", "sa,pods", "-A"]));
    assert!(out.contains(&seed.service_account), "{out}");
    assert!(out.contains(&adot.pod), "{out}");
    assert!(out.contains(&seed.namespace), "{out}");

    let out = tokio::task::block_in_place(|| {
        kubectl(
            kc,
            cd,
            &[
                "describe",
                "sa",
                "-n",
                &seed.namespace,
                &seed.service_account,
            ],
        )
    });
    assert!(out.contains(&seed.service_account), "{out}");
    assert!(out.contains(&seed.role_arn()), "{out}");

    let out = tokio::task::block_in_place(|| {
        kubectl(kc, cd, &["logs", "-n", &seed.namespace, &adot.pod])
    });
    assert!(out.contains("Everything is ready"), "{out}");

    let out =
        tokio::task::block_in_place(|| kubectl(kc, cd, &["get", "opentelemetrycollectors", "-A"]));
    assert!(out.contains(&seed.collector_name), "{out}");
    let out = tokio::task::block_in_place(|| {
        kubectl(
            kc,
            cd,
            &["get", "otelcol", "-n", &seed.namespace, "-o", "json"],
        )
    });
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        v["metadata"]["name"]
            .as_str()
            .or(v["items"][0]["metadata"]["name"].as_str()),
        Some(seed.collector_name.as_str())
    );

    let out = tokio::task::block_in_place(|| {
        kubectl(kc, cd, &["get", "deployments", "-n", "cert-manager"])
    });
    assert!(out.contains("cert-manager-webhook"), "{out}");

    // A crash-looping collector reads as it would on a real cluster.
    s.kube
        .set_pod_crash_looping(
            &adot.namespace,
            &adot.pod,
            &adot.container,
            4,
            1,
            "Error: could not get SigV4 credentials\n",
        )
        .unwrap();
    let out = tokio::task::block_in_place(|| {
        kubectl(kc, cd, &["get", "pod", "-n", &seed.namespace, &adot.pod])
    });
    let row = out.lines().nth(1).unwrap_or_default();
    let cols: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(
        cols[..4],
        [adot.pod.as_str(), "0/1", "CrashLoopBackOff", "4"],
        "{out}"
    );
    let out = tokio::task::block_in_place(|| {
        kubectl(
            kc,
            cd,
            &["logs", "--previous", "-n", &seed.namespace, &adot.pod],
        )
    });
    assert_eq!(out, "Error: could not get SigV4 credentials\n");
    let out =
        tokio::task::block_in_place(|| kubectl(kc, cd, &["get", "events", "-n", &seed.namespace]));
    assert!(out.contains("BackOff"), "{out}");
}

/// A `Prometheus` created through the API, as `helm install kube-prometheus-stack` does:
/// the mock's operator renders its Secret and runs its StatefulSet, whose pods carry
/// IRSA from the annotated service account, all read back with the `kube` client.
#[tokio::test]
async fn a_prometheus_resource_created_through_the_api_gets_the_operators_objects() {
    use k8s_openapi::api::apps::v1::StatefulSet;
    use k8s_openapi::api::core::v1::Secret;
    let s = stack().await;
    let seed = ClusterSeed::default();
    let client = kube_client(&s.endpoints().kubeconfig).await;
    let ns = seed.namespace.as_str();
    let gvk = GroupVersionKind::gvk("monitoring.coreos.com", "v1", "Prometheus");
    let api: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), ns, &ApiResource::from_gvk(&gvk));
    let obj: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "monitoring.coreos.com/v1", "kind": "Prometheus",
        "metadata": { "name": "kps", "namespace": ns },
        "spec": { "replicas": 2, "serviceAccountName": seed.service_account,
                  "remoteWrite": [{ "url": "https://aps-workspaces.us-east-1.amazonaws.com/workspaces/ws-1/api/v1/remote_write",
                                    "sigv4": { "region": "us-east-1" } }] },
    }))
    .unwrap();
    api.create(&Default::default(), &obj).await.unwrap();
    let got = api.get("kps").await.unwrap();
    assert_eq!(got.data["status"]["availableReplicas"], 2);
    let secret = Api::<Secret>::namespaced(client.clone(), ns)
        .get("prometheus-kps")
        .await
        .unwrap();
    let gz = &secret.data.unwrap()["prometheus.yaml.gz"].0;
    assert_eq!(gz[..2], [0x1f, 0x8b], "gzip");
    let set = Api::<StatefulSet>::namespaced(client.clone(), ns)
        .get("prometheus-kps")
        .await
        .unwrap();
    assert_eq!(set.status.unwrap().ready_replicas, Some(2));
    let pods = Api::<Pod>::namespaced(client.clone(), ns)
        .list(&ListParams::default().labels("operator.prometheus.io/name=kps"))
        .await
        .unwrap();
    let names: Vec<String> = pods
        .items
        .iter()
        .filter_map(|p| p.metadata.name.clone())
        .collect();
    assert_eq!(names, ["prometheus-kps-0", "prometheus-kps-1"]);
    let env =
        serde_json::to_string(&pods.items[0].spec.as_ref().unwrap().containers[0].env).unwrap();
    assert!(env.contains(&seed.role_arn()), "{env}");
}
