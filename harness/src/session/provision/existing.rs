//! `--plan` with `--target aws`: what the run would use rather than create, read (never
//! changed) beside the plan: the workspace given, the cluster and its OIDC provider in
//! IAM, the Grafana workspace. Each read is bounded by the request deadline; one that
//! fails says why on its line instead.

use std::time::Duration;

use crate::scenario::Scenario;
use crate::target::Target;

/// The lines `uses <kind> <name> (<what was found>)` for `scenario` on `target`.
pub async fn existing(target: &Target, scenario: &Scenario, within: Duration) -> String {
    let mut out = String::new();
    if let Some(ws) = &target.workspace_id {
        let call = target.amp.describe_workspace().workspace_id(ws).send();
        let found = match tokio::time::timeout(within, call).await {
            Err(_) => "no answer in time".to_string(),
            Ok(Err(e)) => crate::cluster::sdk_error(&e).1,
            Ok(Ok(o)) => o
                .workspace()
                .map(|w| {
                    format!(
                        "exists, {}",
                        w.status().map(|s| s.status_code().as_str()).unwrap_or("?")
                    )
                })
                .unwrap_or_else(|| "no workspace in the answer".into()),
        };
        out.push_str(&format!("uses   amp-workspace    {ws:<40} ({found})\n"));
    }
    if let Some(spec) = &scenario.cluster {
        let call = target.eks.describe_cluster().name(&spec.name).send();
        let issuer = match tokio::time::timeout(within, call).await {
            Err(_) => {
                out.push_str(&format!(
                    "uses   eks-cluster      {:<40} (no answer in time)\n",
                    spec.name
                ));
                None
            }
            Ok(Err(e)) => {
                let why = crate::cluster::sdk_error(&e).1;
                out.push_str(&format!(
                    "uses   eks-cluster      {:<40} ({why})\n",
                    spec.name
                ));
                None
            }
            Ok(Ok(o)) => {
                let c = o.cluster();
                let status = c
                    .and_then(|c| c.status())
                    .map(|s| s.as_str())
                    .unwrap_or("?");
                out.push_str(&format!(
                    "uses   eks-cluster      {:<40} (exists, {status})\n",
                    spec.name
                ));
                c.and_then(|c| c.identity())
                    .and_then(|i| i.oidc())
                    .and_then(|o| o.issuer())
                    .map(str::to_string)
            }
        };
        if let Some(issuer) = issuer {
            let host = issuer.trim_start_matches("https://").to_string();
            let call = target.iam.list_open_id_connect_providers().send();
            let found = match tokio::time::timeout(within, call).await {
                Err(_) => "no answer in time".to_string(),
                Ok(Err(e)) => crate::cluster::sdk_error(&e).1,
                Ok(Ok(o))
                    if o.open_id_connect_provider_list()
                        .iter()
                        .any(|p| p.arn().is_some_and(|a| a.ends_with(&host))) =>
                {
                    "registered".into()
                }
                Ok(Ok(_)) => {
                    "missing: IRSA cannot work; `eksctl utils associate-iam-oidc-provider`".into()
                }
            };
            out.push_str(&format!("uses   iam-oidc-provider {host:<39} ({found})\n"));
        }
    }
    if let Some(g) = &target.grafana.workspace_id {
        let call = target.amg.describe_workspace().workspace_id(g).send();
        let found = match tokio::time::timeout(within, call).await {
            Err(_) => "no answer in time".to_string(),
            Ok(Err(e)) => crate::cluster::sdk_error(&e).1,
            Ok(Ok(o)) => o
                .workspace()
                .map(|w| format!("exists, {}", w.status().as_str()))
                .unwrap_or_else(|| "no workspace in the answer".into()),
        };
        out.push_str(&format!("uses   grafana-workspace {g:<39} ({found})\n"));
    }
    out
}
