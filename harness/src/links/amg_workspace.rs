//! `amg.workspace`: does the Amazon Managed Grafana workspace exist, is it ACTIVE, and can
//! anyone log in to it? (F21) Someone can log in when SAML is CONFIGURED, or when IAM
//! Identity Center is a provider and at least one user or group has a role in the
//! workspace (ListPermissions); `providers` alone says nothing (amg-grafana-exact.md
//! §1.2). A workspace being created or updated is waited for, up to the workspace
//! deadline. Establishes the workspace's IAM role and the base URL of its Grafana API.

use std::time::Duration;

use aws_sdk_grafana::error::ProvideErrorMetadata;
use aws_sdk_grafana::types::{
    AuthenticationProviderTypes, SamlConfigurationStatus, WorkspaceStatus,
};

use super::grafana_diagnosis::diagnose_amg;
use super::{BoxFuture, Check, Link, RunContext, Status};
use crate::wait::{Probe, Waited, wait_for};

pub struct AmgWorkspace;

/// What DescribeWorkspace showed, reduced to what the check needs.
struct Seen {
    status: WorkspaceStatus,
    degraded_reason: Option<String>,
    endpoint: String,
    version: String,
    role_arn: Option<String>,
    providers: Vec<String>,
    saml: Option<String>,
}

enum Probed {
    Seen(Seen),
    Refused(Check),
}

fn transitional(s: &WorkspaceStatus) -> bool {
    matches!(
        s,
        WorkspaceStatus::Creating
            | WorkspaceStatus::Updating
            | WorkspaceStatus::Upgrading
            | WorkspaceStatus::VersionUpdating
    )
}

impl Link for AmgWorkspace {
    fn check<'a>(&'a self, ctx: &'a RunContext) -> BoxFuture<'a, Check> {
        Box::pin(async move {
            let region = ctx.target.region.clone();
            let Some(id) = ctx.target.grafana.workspace_id.clone() else {
                return Check::fail(
                    "no Amazon Managed Grafana workspace id given",
                    "name the workspace: --grafana-workspace g-…, PIPECHECK_GRAFANA_WORKSPACE_ID, or target.grafana_workspace_id in the scenario",
                );
            };
            let probe = || async {
                let call = ctx.target.amg.describe_workspace().workspace_id(&id).send();
                match tokio::time::timeout(ctx.deadlines.request, call).await {
                    Err(_) => Probe::Pending(Probed::Refused(Check::fail(
                        format!(
                            "DescribeWorkspace of {id} did not answer within {}",
                            ctx.deadlines.request_named()
                        ),
                        "check network access to grafana.<region>.amazonaws.com",
                    ))),
                    Ok(Err(e)) => {
                        let retry = matches!(
                            e.code(),
                            Some("ThrottlingException" | "InternalServerException")
                        );
                        let c = Check::from_diagnosis(
                            Status::Fail,
                            diagnose_amg("DescribeWorkspace", &id, &e),
                        )
                        .with("grafana:DescribeWorkspace", crate::error_chain(&e));
                        if retry {
                            Probe::Pending(Probed::Refused(c))
                        } else {
                            Probe::Abort(Probed::Refused(c))
                        }
                    }
                    Ok(Ok(out)) => {
                        let Some(ws) = out.workspace() else {
                            return Probe::Abort(Probed::Refused(Check::fail(
                                "DescribeWorkspace answered without a workspace",
                                "see AMG's answer with `aws grafana describe-workspace`",
                            )));
                        };
                        let auth = ws.authentication();
                        let seen = Seen {
                            status: ws.status().clone(),
                            degraded_reason: ws.degraded_workspace_reason().map(str::to_string),
                            endpoint: ws.endpoint().to_string(),
                            version: ws.grafana_version().to_string(),
                            role_arn: ws.workspace_role_arn().map(str::to_string),
                            providers: auth
                                .map(|a| {
                                    a.providers()
                                        .iter()
                                        .map(|p| p.as_str().to_string())
                                        .collect()
                                })
                                .unwrap_or_default(),
                            saml: auth
                                .and_then(|a| a.saml_configuration_status())
                                .map(|s| s.as_str().to_string()),
                        };
                        if transitional(&seen.status) {
                            Probe::Pending(Probed::Seen(seen))
                        } else {
                            Probe::Done(Probed::Seen(seen))
                        }
                    }
                }
            };
            let waited = wait_for(
                "the Grafana workspace to become ACTIVE",
                ctx.deadlines.workspace,
                Duration::from_millis(50),
                probe,
            )
            .await;
            let (seen, after) = match waited {
                Waited::Done {
                    value: Probed::Seen(s),
                    after,
                    ..
                } => (s, after),
                Waited::Done {
                    value: Probed::Refused(c),
                    ..
                }
                | Waited::Aborted {
                    value: Probed::Refused(c),
                    ..
                }
                | Waited::TimedOut {
                    last: Some(Probed::Refused(c)),
                    ..
                } => return c,
                Waited::Aborted {
                    value: Probed::Seen(s),
                    after,
                    ..
                } => (s, after),
                Waited::TimedOut {
                    last: Some(Probed::Seen(s)),
                    after,
                    ..
                } => {
                    return Check::fail(
                        format!(
                            "Grafana workspace {id} is still {} after {:.1}s",
                            s.status.as_str(),
                            after.as_secs_f64()
                        ),
                        "the workspace never became ACTIVE: check it in the AMG console",
                    )
                    .with("workspace", describe(&id, &s));
                }
                Waited::TimedOut {
                    last: None, after, ..
                } => {
                    return Check::fail(
                        format!(
                            "could not describe Grafana workspace {id} within {:.1}s",
                            after.as_secs_f64()
                        ),
                        "AMG's control plane did not answer in time: check network access to grafana.<region>.amazonaws.com",
                    );
                }
            };
            if seen.status != WorkspaceStatus::Active {
                let reason = seen
                    .degraded_reason
                    .as_deref()
                    .map(|r| format!(": {r}"))
                    .unwrap_or_default();
                return Check::fail(
                    format!("Grafana workspace {id} is {}, not ACTIVE{reason}", seen.status.as_str()),
                    match seen.status {
                        WorkspaceStatus::CreationFailed | WorkspaceStatus::Failed => {
                            "the workspace failed: see its status in the AMG console; delete it and create it again"
                        }
                        WorkspaceStatus::Deleting | WorkspaceStatus::DeletionFailed => {
                            "the workspace is being deleted: use another workspace"
                        }
                        _ => "the workspace must be ACTIVE for Grafana to serve dashboards: see its status in the AMG console",
                    },
                )
                .with("workspace", describe(&id, &seen));
            }
            let Some(url) = ctx.target.grafana_url(&seen.endpoint) else {
                return Check::fail(
                    format!("Grafana workspace {id} is ACTIVE but shows no endpoint"),
                    "AMG returned no endpoint: set the Grafana URL with --grafana-url or PIPECHECK_GRAFANA_URL",
                )
                .with("workspace", describe(&id, &seen));
            };
            let login = match who_can_log_in(ctx, &id, &seen).await {
                Ok(l) => l,
                Err(c) => return c.with("workspace", describe(&id, &seen)),
            };
            {
                let mut f = ctx.facts();
                f.grafana.workspace_id = Some(id.clone());
                f.grafana.role_arn = seen.role_arn.clone();
                f.grafana.version = Some(seen.version.clone());
                f.grafana.url = Some(url.clone());
            }
            let waited = if after > Duration::from_millis(200) {
                format!(" (waited {:.1}s for it)", after.as_secs_f64())
            } else {
                String::new()
            };
            let evidence = format!(
                "{}\nGrafana API {url}\nworkspace role {}",
                describe(&id, &seen),
                seen.role_arn.as_deref().unwrap_or(
                    "(none: the workspace has no IAM role, so its data sources cannot sign for AMP)"
                )
            );
            match login {
                Login::Yes(who) => Check::pass(format!(
                    "Grafana workspace {id} is ACTIVE in {region} (Grafana {}), {who}{waited}",
                    seen.version
                ))
                .with("workspace", evidence),
                Login::Unknown(why) => Check::warn(
                    format!(
                        "Grafana workspace {id} is ACTIVE in {region} (Grafana {}), but who can log in is unknown: {why}",
                        seen.version
                    ),
                    "allow grafana:ListPermissions for the harness's identity to check that someone can log in",
                )
                .with("workspace", evidence),
            }
        })
    }
}

enum Login {
    Yes(String),
    Unknown(String),
}

/// Whether anyone can log in: SAML configured, or Identity Center users or groups with a
/// role. Err: nobody can (the verdict says why).
async fn who_can_log_in(ctx: &RunContext, id: &str, seen: &Seen) -> Result<Login, Check> {
    let sso = seen
        .providers
        .iter()
        .any(|p| *p == AuthenticationProviderTypes::AwsSso.as_str());
    let saml = seen
        .providers
        .iter()
        .any(|p| *p == AuthenticationProviderTypes::Saml.as_str());
    let saml_ok =
        saml && seen.saml.as_deref() == Some(SamlConfigurationStatus::Configured.as_str());
    if seen.providers.is_empty() {
        return Err(Check::fail(
            format!("Grafana workspace {id} has no authentication provider: nobody can log in"),
            "choose IAM Identity Center (AWS_SSO) or SAML as the workspace's authentication (aws grafana update-workspace-authentication), then give a user the Admin role",
        ));
    }
    if saml_ok {
        return Ok(Login::Yes("SAML is configured for logins".into()));
    }
    let saml_note = if saml {
        format!(
            "SAML is {}",
            seen.saml.as_deref().unwrap_or("not configured")
        )
    } else {
        String::new()
    };
    if !sso {
        return Err(Check::fail(
            format!(
                "nobody can log in to Grafana workspace {id}: {saml_note} and IAM Identity Center is not a provider"
            ),
            "finish the SAML configuration (identity provider metadata, assertion attributes, admin role values) in the AMG console, or add IAM Identity Center as a provider and assign a user",
        ));
    }
    let call = ctx
        .target
        .amg
        .list_permissions()
        .workspace_id(id)
        .max_results(100)
        .send();
    let out = match tokio::time::timeout(ctx.deadlines.request, call).await {
        Err(_) => {
            return Ok(Login::Unknown(format!(
                "ListPermissions did not answer within {}",
                ctx.deadlines.request_named()
            )));
        }
        Ok(Err(e)) if e.code() == Some("AccessDeniedException") => {
            return Ok(Login::Unknown(
                "grafana:ListPermissions was denied".to_string(),
            ));
        }
        Ok(Err(e)) => {
            return Ok(Login::Unknown(format!(
                "ListPermissions failed: {}",
                crate::error_chain(&e).replace('\n', " ")
            )));
        }
        Ok(Ok(out)) => out,
    };
    let n = out.permissions().len();
    let more = out.next_token().is_some_and(|t| !t.is_empty());
    if n == 0 {
        let also = if saml {
            format!(" ({saml_note})")
        } else {
            String::new()
        };
        return Err(Check::fail(
            format!("nobody can log in to Grafana workspace {id}: no IAM Identity Center user or group has a role in it{also}"),
            "assign an IAM Identity Center user or group to the workspace and make one an Admin (AMG console → Authentication → Assign new user or group, or aws grafana update-permissions)",
        )
        .with("grafana:ListPermissions", "permissions: [] (no user or group assigned)"));
    }
    let admins = out
        .permissions()
        .iter()
        .filter(|p| p.role().as_str() == "ADMIN")
        .count();
    Ok(Login::Yes(format!(
        "{n}{} IAM Identity Center user(s)/group(s) can log in ({admins} as Admin)",
        if more { "+" } else { "" }
    )))
}

fn describe(id: &str, s: &Seen) -> String {
    let mut out = format!(
        "{id} status {} grafanaVersion {} endpoint {:?}\nauthentication providers [{}]",
        s.status.as_str(),
        s.version,
        s.endpoint,
        s.providers.join(", ")
    );
    if let Some(saml) = &s.saml {
        out.push_str(&format!(" samlConfigurationStatus {saml}"));
    }
    out
}
