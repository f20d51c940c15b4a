//! `grafana.datasource`: does Grafana hold an AMP data source for this run's workspace,
//! set up so AMP accepts its queries? (F23) Its URL must be the workspace's
//! `prometheusEndpoint` (workspace id and region), `jsonData.sigV4Auth` true, and
//! `jsonData.sigV4Region` the workspace's region. The verdict names what differs. The
//! data source's health check is evidence; when it fails on a data source set up right,
//! the link warns and `grafana.query` says why.
//!
//! With `grafana.provision_datasource`, when no AMP data source names the run's workspace,
//! the link first creates one for the run (`pipecheck-<run id>`, through the run's token,
//! registered with `grafana_cleanup` the moment it exists) and then checks it as usual.

use serde_json::{Value, json};

use super::grafana_cleanup::Created;
use super::grafana_context::{AMP_DATASOURCE_TYPES, DataSourceRef, GrafanaRun};
use super::grafana_diagnosis::{diagnose_grafana, unreachable};
use super::{BoxFuture, Check, Link, RunContext, Status};
use crate::amp_client::truncate;
use crate::grafana_client::{GrafanaClient, json_of, message_of};

pub struct GrafanaDatasource;

/// What the run expects of the data source.
struct Expected<'a> {
    endpoint: &'a str,
    workspace_id: &'a str,
    region: &'a str,
}

/// One AMP data source and what is wrong with it.
struct Candidate {
    ds: DataSourceRef,
    url: String,
    json_data: Value,
    default: bool,
    /// Its URL is the workspace's endpoint.
    names_workspace: bool,
    problems: Vec<String>,
}

fn normalize(url: &str) -> String {
    url.trim().trim_end_matches('/').to_ascii_lowercase()
}

/// `ws-…` in a URL's path.
fn workspace_in(url: &str) -> Option<String> {
    let i = url.find("/workspaces/")? + "/workspaces/".len();
    let id: String = url[i..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
        .collect();
    (!id.is_empty()).then_some(id)
}

/// The region of an `aps-workspaces.<region>.amazonaws.com` URL.
fn region_in(url: &str) -> Option<String> {
    let i = url.find("aps-workspaces.")? + "aps-workspaces.".len();
    let rest = &url[i..];
    let end = rest.find('.')?;
    Some(rest[..end].to_string())
}

fn assess(item: &Value, want: &Expected<'_>) -> Candidate {
    let s = |k: &str| item.get(k).and_then(Value::as_str).unwrap_or_default();
    let url = s("url").to_string();
    let json_data = item.get("jsonData").cloned().unwrap_or(Value::Null);
    let ds = DataSourceRef {
        uid: s("uid").to_string(),
        name: s("name").to_string(),
        kind: s("type").to_string(),
    };
    let mut problems = Vec::new();
    let names_workspace = normalize(&url) == normalize(want.endpoint);
    if !names_workspace {
        let ws = workspace_in(&url);
        let region = region_in(&url);
        let want_region = region_in(want.endpoint).unwrap_or_else(|| want.region.to_string());
        match (&ws, &region) {
            (Some(w), _) if w != want.workspace_id => problems.push(format!(
                "its URL names workspace {w}, not {}",
                want.workspace_id
            )),
            (_, Some(r)) if *r != want_region => problems.push(format!(
                "its URL names region {r}, the workspace is in {want_region}"
            )),
            _ => problems.push(format!(
                "its URL {url:?} is not the workspace's endpoint {:?}",
                want.endpoint
            )),
        }
    }
    if json_data.get("sigV4Auth") != Some(&Value::Bool(true)) {
        problems.push(format!(
            "SigV4 signing is off (jsonData.sigV4Auth = {}): AMP refuses unsigned queries with 403",
            json_data
                .get("sigV4Auth")
                .map_or("unset".to_string(), Value::to_string)
        ));
    }
    match json_data.get("sigV4Region").and_then(Value::as_str) {
        Some(r) if r == want.region => {}
        Some(r) => problems.push(format!(
            "it signs for region {r} (jsonData.sigV4Region), the workspace is in {}",
            want.region
        )),
        None => problems.push(format!(
            "jsonData.sigV4Region is not set (the workspace is in {})",
            want.region
        )),
    }
    Candidate {
        ds,
        url,
        default: item.get("isDefault") == Some(&Value::Bool(true)),
        json_data,
        names_workspace,
        problems,
    }
}

fn is_amp(item: &Value) -> bool {
    let t = item.get("type").and_then(Value::as_str).unwrap_or_default();
    AMP_DATASOURCE_TYPES.contains(&t)
}

/// `GET /api/datasources`, or the check that says why Grafana did not list them.
async fn list(client: &GrafanaClient) -> Result<Vec<Value>, Check> {
    match client.get("/api/datasources").await {
        Err(e) => Err(Check::from_diagnosis(
            Status::Fail,
            unreachable(client.base(), &crate::error_chain(&e).replace('\n', ": ")),
        )),
        Ok(ex) if !ex.is_success() => Err(Check::from_diagnosis(
            Status::Fail,
            diagnose_grafana("listing data sources", &ex),
        )
        .with("/api/datasources", ex.summary())),
        Ok(ex) => Ok(json_of(&ex)
            .and_then(|v| v.as_array().cloned())
            .unwrap_or_default()),
    }
}

/// The data source a run provisions: Grafana's Prometheus plugin on the workspace's
/// endpoint, signing with the workspace IAM role in the workspace's region (as AMG's own
/// AWS data source configuration makes it). Not the default: the user's stays so.
fn provisioned(uid: &str, want: &Expected<'_>) -> Value {
    json!({
        "uid": uid,
        "name": uid,
        "type": "prometheus",
        "access": "proxy",
        "url": want.endpoint,
        "isDefault": false,
        "jsonData": {
            "httpMethod": "POST",
            "sigV4Auth": true,
            "sigV4AuthType": "ec2_iam_role",
            "sigV4Region": want.region,
        },
    })
}

/// Creates the run's data source (`POST /api/datasources`, ADMIN); registered for removal
/// once created. Returns Grafana's answer, for the evidence.
async fn provision(
    ctx: &RunContext,
    client: &GrafanaClient,
    want: &Expected<'_>,
) -> Result<String, Check> {
    let uid = GrafanaRun::run_datasource_uid(&ctx.run_id);
    match client
        .post_json("/api/datasources", &provisioned(&uid, want))
        .await
    {
        Err(e) => Err(Check::from_diagnosis(
            Status::Fail,
            unreachable(client.base(), &crate::error_chain(&e).replace('\n', ": ")),
        )),
        Ok(ex) if ex.is_success() => {
            let uid = json_of(&ex)
                .and_then(|v| v["datasource"]["uid"].as_str().map(str::to_string))
                .unwrap_or(uid);
            ctx.teardown.push(Created::DataSource {
                client: client.clone(),
                name: GrafanaRun::run_datasource_uid(&ctx.run_id),
                uid,
            });
            Ok(ex.summary())
        }
        Ok(ex) => {
            let mut d = diagnose_grafana(
                "creating the run's data source (POST /api/datasources)",
                &ex,
            );
            d.verdict = format!(
                "Grafana has no AMP data source for workspace {}, and the run could not create one: {}",
                want.workspace_id, d.verdict
            );
            Err(Check::from_diagnosis(Status::Fail, d).with("/api/datasources", ex.summary()))
        }
    }
}

fn summary(c: &Candidate) -> String {
    format!(
        "{:?} uid {} type {} url {} jsonData {}",
        c.ds.name,
        c.ds.uid,
        c.ds.kind,
        c.url,
        truncate(&c.json_data.to_string(), 300)
    )
}

impl Link for GrafanaDatasource {
    fn check<'a>(&'a self, ctx: &'a RunContext) -> BoxFuture<'a, Check> {
        Box::pin(async move {
            let (client, data, workspace_id) = {
                let f = ctx.facts();
                (
                    f.grafana.client.clone(),
                    f.data.clone(),
                    f.workspace_id.clone(),
                )
            };
            let (Some(client), Some(data), Some(workspace_id)) = (client, data, workspace_id)
            else {
                return Check::fail(
                    "no Grafana client or AMP workspace to compare with",
                    "grafana.api and amp.workspace did not provide them",
                );
            };
            let want = Expected {
                endpoint: data.endpoint(),
                workspace_id: &workspace_id,
                region: &ctx.target.region,
            };
            let mut items = match list(&client).await {
                Ok(items) => items,
                Err(c) => return c,
            };
            let named = ctx.grafana.datasource.as_deref();
            // The run's own data source, when asked for and none names the workspace.
            let mut made = None;
            if ctx.grafana.provision_datasource
                && named.is_none()
                && !items
                    .iter()
                    .any(|i| is_amp(i) && assess(i, &want).names_workspace)
            {
                let answer = match provision(ctx, &client, &want).await {
                    Ok(answer) => answer,
                    Err(c) => return c,
                };
                items = match list(&client).await {
                    Ok(items) => items,
                    Err(c) => return c.with("provisioned", answer),
                };
                made = Some((GrafanaRun::run_datasource_uid(&ctx.run_id), answer));
            }
            let mut candidates: Vec<Candidate> = items
                .iter()
                .filter(|i| is_amp(i))
                .map(|i| assess(i, &want))
                .filter(|c| named.is_none_or(|n| c.ds.uid == n || c.ds.name == n))
                .collect();
            let listing = items
                .iter()
                .map(|i| {
                    format!(
                        "{:?} type {} url {}",
                        i.get("name").and_then(Value::as_str).unwrap_or_default(),
                        i.get("type").and_then(Value::as_str).unwrap_or_default(),
                        i.get("url").and_then(Value::as_str).unwrap_or_default()
                    )
                })
                .collect::<Vec<_>>()
                .join("\n");
            let expected = format!(
                "url {} (workspace {workspace_id}), jsonData.sigV4Auth true, jsonData.sigV4Region {}",
                want.endpoint, want.region
            );
            if candidates.is_empty() {
                let (verdict, hint) = match named {
                    Some(n) => (
                        format!("Grafana has no AMP data source {n:?} (the scenario's grafana.datasource)"),
                        "check the data source's uid or name in the scenario, or remove grafana.datasource to check the one that names the workspace".to_string(),
                    ),
                    None => (
                        format!(
                            "Grafana has no AMP data source: none of its {} data source(s) is of type prometheus or grafana-amazonprometheus-datasource",
                            items.len()
                        ),
                        format!(
                            "add an Amazon Managed Service for Prometheus data source for workspace {workspace_id} (AMG console → Data sources, or AWS data sources → Amazon Managed Service for Prometheus), with SigV4 auth in region {}",
                            want.region
                        ),
                    ),
                };
                let mut c = Check::fail(verdict, hint).with("expected", expected).with(
                    "/api/datasources",
                    if listing.is_empty() {
                        "[]".to_string()
                    } else {
                        listing
                    },
                );
                if let Some((_, answer)) = made {
                    c = c.with("provisioned", answer);
                }
                return c;
            }
            // The best: names the workspace and has nothing wrong; then names it; then any.
            candidates.sort_by_key(|c| (!c.names_workspace, !c.problems.is_empty(), !c.default));
            let best = &candidates[0];
            let ours = made.as_ref().filter(|(uid, _)| *uid == best.ds.uid);
            if !best.problems.is_empty() {
                let verdict = if best.names_workspace || candidates.len() == 1 {
                    format!(
                        "data source {:?} is not set up for workspace {workspace_id}: {}",
                        best.ds.name,
                        best.problems.join("; ")
                    )
                } else {
                    format!(
                        "no AMP data source names workspace {workspace_id}: {}",
                        candidates
                            .iter()
                            .map(|c| format!("{:?}: {}", c.ds.name, c.problems.join("; ")))
                            .collect::<Vec<_>>()
                            .join(" | ")
                    )
                };
                let c = Check::fail(
                    verdict,
                    format!(
                        "edit the data source (Grafana → Connections → Data sources): URL {}, SigV4 auth on with the workspace IAM role, default region {}; panels using it show \"No data\" until then",
                        want.endpoint, want.region
                    ),
                )
                .with("expected", expected)
                .with(
                    "AMP data sources",
                    candidates.iter().map(summary).collect::<Vec<_>>().join("\n"),
                );
                return match &made {
                    Some((_, answer)) => c.with("provisioned", answer.clone()),
                    None => c,
                };
            }
            let ds = best.ds.clone();
            let found = summary(best);
            ctx.facts().grafana.datasource = Some(ds.clone());
            let health_path = format!("/api/datasources/uid/{}/health", ds.uid);
            let health = client.get(&health_path).await;
            let pass_verdict = format!(
                "data source {:?} ({}{}) queries workspace {workspace_id} in {} with SigV4",
                ds.name,
                ds.kind,
                if ours.is_some() {
                    ", provisioned by this run and removed at its end"
                } else {
                    ""
                },
                want.region
            );
            let found = match ours {
                Some((_, answer)) => format!("{found}\nprovisioned: {answer}"),
                None => found,
            };
            match health {
                Ok(ex) if ex.is_success() => Check::pass(pass_verdict)
                    .with("data source", found)
                    .with("health", ex.summary()),
                Ok(ex) => Check::warn(
                    format!(
                        "{pass_verdict}, but its health check fails: {}",
                        truncate(&message_of(&ex.body), 200)
                    ),
                    "the data source is set up for the workspace, yet AMP refuses or fails its test query: grafana.query shows AMP's answer",
                )
                .with("data source", found)
                .with("health", ex.summary()),
                Err(e) => Check::warn(
                    format!("{pass_verdict}, but its health check did not answer"),
                    "see the evidence",
                )
                .with("data source", found)
                .with("health", crate::error_chain(&e)),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn want() -> Expected<'static> {
        Expected {
            endpoint: "https://aps-workspaces.us-east-1.amazonaws.com/workspaces/ws-1/",
            workspace_id: "ws-1",
            region: "us-east-1",
        }
    }

    fn ds(url: &str, json_data: Value) -> Value {
        json!({"uid":"u","name":"AMP","type":"prometheus","url":url,"jsonData":json_data})
    }

    #[test]
    fn the_provisioned_data_source_passes_its_own_check() {
        let body = provisioned("pipecheck-pc-1", &want());
        assert!(is_amp(&body));
        assert_eq!(body["name"], "pipecheck-pc-1");
        assert_eq!(body["jsonData"]["sigV4AuthType"], "ec2_iam_role");
        assert_eq!(body["jsonData"]["httpMethod"], "POST");
        let c = assess(&body, &want());
        assert!(
            c.names_workspace && c.problems.is_empty(),
            "{:?}",
            c.problems
        );
    }

    #[test]
    fn names_what_differs() {
        let good = json!({"sigV4Auth":true,"sigV4Region":"us-east-1"});
        let c = assess(
            &ds(
                "https://aps-workspaces.us-east-1.amazonaws.com/workspaces/ws-1",
                good.clone(),
            ),
            &want(),
        );
        assert!(c.names_workspace && c.problems.is_empty());
        let c = assess(
            &ds(
                "https://aps-workspaces.us-east-1.amazonaws.com/workspaces/ws-2/",
                good.clone(),
            ),
            &want(),
        );
        assert_eq!(c.problems, vec!["its URL names workspace ws-2, not ws-1"]);
        let c = assess(
            &ds(
                "https://aps-workspaces.eu-west-1.amazonaws.com/workspaces/ws-1/",
                good,
            ),
            &want(),
        );
        assert!(
            c.problems[0].contains("region eu-west-1"),
            "{:?}",
            c.problems
        );
        let c = assess(
            &ds(
                "https://aps-workspaces.us-east-1.amazonaws.com/workspaces/ws-1/",
                json!({"sigV4Auth":false,"sigV4Region":"eu-west-1"}),
            ),
            &want(),
        );
        assert!(c.problems[0].contains("sigV4Auth = false"));
        assert!(c.problems[1].contains("signs for region eu-west-1"));
    }
}
