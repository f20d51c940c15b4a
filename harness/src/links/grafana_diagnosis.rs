//! What a Grafana or AMG refusal means and what to do about it, in one place (as
//! `diagnosis.rs` is for AMP): the Grafana HTTP API's 401/403/404/5xx bodies
//! (amg-grafana-exact.md "Tokens", "Grafana HTTP API"), the AMG control plane's errors,
//! and AMP's answers as they surface inside a data-source query.

use std::time::Duration;

use aws_sdk_grafana::error::{DisplayErrorContext, ProvideErrorMetadata};

use super::Diagnosis;
use super::diagnosis::diagnose_amp;
use crate::amp_client::{Exchange, truncate};
use crate::grafana_client::message_of;

fn d(verdict: String, hint: impl Into<String>) -> Diagnosis {
    Diagnosis {
        verdict,
        hint: hint.into(),
    }
}

/// A non-2xx answer of the Grafana HTTP API to `what` ("the token check", "listing data
/// sources", …).
pub fn diagnose_grafana(what: &str, ex: &Exchange) -> Diagnosis {
    let status = ex.status.unwrap_or(0);
    let msg = message_of(&ex.body);
    let quoted = truncate(msg.lines().next().unwrap_or(""), 200);
    match status {
        401 => {
            let hint = match msg.as_str() {
                "Expired API key" => {
                    "the token has expired (AMG tokens live at most 30 days): create a new service-account token, or unset PIPECHECK_GRAFANA_TOKEN and let pipecheck create a short-lived one"
                }
                "Revoked API key" => {
                    "the token was revoked (for example by secret scanning after it leaked): create a new service-account token and keep it out of repositories and logs"
                }
                "Invalid API key" => {
                    "Grafana does not know this token: it was deleted with its service account, belongs to another workspace (check the Grafana URL), or was copied incompletely"
                }
                "Unauthorized" => {
                    "no token reached Grafana: check that the Authorization header is sent (a proxy may strip it)"
                }
                _ => "Grafana refused the credential: create a new service-account token",
            };
            d(
                format!("Grafana refused the token on {what}: 401 {quoted}"),
                hint,
            )
        }
        403 => {
            let needed = msg
                .split_once("Permissions needed:")
                .map(|(_, p)| p.trim().to_string());
            match needed {
                Some(p) => d(
                    format!("Grafana denied {what}: 403, the token's role lacks {p}"),
                    format!(
                        "give the service account a role that grants {p} (data sources need ADMIN, dashboards EDITOR)"
                    ),
                ),
                None => d(
                    format!("Grafana denied {what}: 403 {quoted}"),
                    "the token's role is too weak: use a service account with the ADMIN or EDITOR role",
                ),
            }
        }
        404 => d(
            format!("Grafana answered 404 to {what}: {quoted}"),
            "the object does not exist in this Grafana: check the uid, and that the Grafana URL is the workspace's",
        ),
        503 => d(
            format!("Grafana is unavailable on {what}: 503 {quoted}"),
            "the workspace's Grafana is not serving (being created, updated or deleted, or its database failing): check the workspace status in the AMG console",
        ),
        s if s >= 500 => d(
            format!("Grafana failed on {what}: {s} {quoted}"),
            "a server-side error: retry later; if it persists, check the workspace in the AMG console",
        ),
        s => d(
            format!("Grafana answered {s} to {what}: {quoted}"),
            "see the evidence for Grafana's answer",
        ),
    }
}

/// The Grafana HTTP API could not be reached at all.
pub fn unreachable(url: &str, error: &str) -> Diagnosis {
    d(
        format!("Grafana at {url} did not answer: {}", truncate(error, 200)),
        "check the Grafana URL (AMG's endpoint is the bare host g-….grafana-workspace.<region>.amazonaws.com; PIPECHECK_GRAFANA_URL overrides it), network access to it, and the workspace's network access control (VPC, IP allow list)",
    )
}

/// An AMG control-plane error on `operation` (e.g. `CreateWorkspaceServiceAccount`).
pub fn diagnose_amg<E>(operation: &str, workspace: &str, e: &E) -> Diagnosis
where
    E: ProvideErrorMetadata + std::error::Error,
{
    let msg = e.message().unwrap_or_default().to_string();
    let detail = if msg.is_empty() {
        DisplayErrorContext(e).to_string()
    } else {
        msg
    };
    let quoted = truncate(detail.lines().next().unwrap_or(""), 240);
    match e.code() {
        Some("AccessDeniedException") => d(
            format!("not allowed to call grafana:{operation} on workspace {workspace}"),
            format!(
                "allow grafana:{operation} on arn:aws:grafana:<region>:<account>:/workspaces/{workspace} for the harness's identity, or hand pipecheck a token (PIPECHECK_GRAFANA_TOKEN)"
            ),
        ),
        Some("ResourceNotFoundException") => d(
            format!("{operation}: {quoted}"),
            format!(
                "no Grafana workspace {workspace} in this region: check the id (g-…) and the region (AMG workspaces are regional)"
            ),
        ),
        Some("ServiceQuotaExceededException") => d(
            format!("{operation} refused: quota reached: {quoted}"),
            "delete unused service accounts or tokens of the workspace (expired tokens count until deleted)",
        ),
        Some("ConflictException") => d(
            format!("{operation} refused: {quoted}"),
            "the workspace is not in a state that allows it, or the name exists: see the message",
        ),
        Some("ValidationException") => d(
            format!("{operation} refused as invalid: {quoted}"),
            "see the message: a field AMG refused",
        ),
        Some(code @ ("ThrottlingException" | "InternalServerException")) => d(
            format!("{operation} failed: {code}: {quoted}"),
            "retry later",
        ),
        _ => d(
            format!("{operation} failed: {quoted}"),
            "see the evidence for AMG's answer; check network access to grafana.<region>.amazonaws.com",
        ),
    }
}

/// An error inside one result of `/api/ds/query`: `status` is `results.X.status`,
/// `error` its `error` (empty in the "No data" form, grafana/grafana#76835). `role` is
/// the workspace's IAM role, which signs Grafana's queries to AMP.
pub fn diagnose_ds_query(status: Option<u16>, error: &str, role: Option<&str>) -> Diagnosis {
    let role_name = role.unwrap_or("the workspace's IAM role");
    // The "No data" form: Grafana kept AMP's status and dropped its body.
    let no_data = match status {
        Some(s) if s != 200 && s != 500 && error.is_empty() => Some((s, "")),
        _ => None,
    };
    // Current promlib: "unexpected response with status code 403: <AMP's body>".
    let amp = error
        .split_once("unexpected response with status code ")
        .and_then(|(_, rest)| rest.split_once(": "))
        .and_then(|(code, body)| code.trim().parse::<u16>().ok().map(|c| (c, body)))
        .or(no_data);
    if let Some((code, body)) = amp {
        let lower = body.to_ascii_lowercase();
        if code == 403 && (body.is_empty() || lower.contains("not authorized to perform")) {
            let action = if body.is_empty() || lower.contains("aps:querymetrics") {
                "aps:QueryMetrics"
            } else {
                "the query action"
            };
            let how = if body.is_empty() {
                " (Grafana shows it as \"No data\": the answer carried status 403 and no error)"
            } else {
                ""
            };
            return d(
                format!(
                    "AMP refused Grafana's query with 403: the workspace role {role_name} is not authorized to perform {action}{how}"
                ),
                format!(
                    "allow aps:QueryMetrics (and aps:GetSeries, aps:GetLabels, aps:GetMetricMetadata) on the AMP workspace for {role_name}: attach AmazonPrometheusQueryAccess, or with a service-managed role turn on the Amazon Managed Service for Prometheus data source in the AMG workspace's settings"
                ),
            );
        }
        let ex = Exchange {
            method: "POST",
            url: String::new(),
            status: Some(code),
            body: body.to_string(),
            elapsed: Duration::ZERO,
            signed: None,
        };
        let amp = diagnose_amp("data source query", &ex);
        return d(
            format!("through Grafana: {} (signed by {role_name})", amp.verdict),
            amp.hint,
        );
    }
    let quoted = truncate(error.lines().next().unwrap_or(""), 240);
    match status {
        Some(502) => d(
            format!("Grafana could not reach AMP: {quoted}"),
            "Grafana's data source cannot connect to its URL: check the URL, and the workspace's outbound network (VPC configuration) towards aps-workspaces.<region>.amazonaws.com",
        ),
        Some(s) => d(
            format!("Grafana's data source query failed ({s}): {quoted}"),
            "see the evidence: the error is AMP's or the data source's",
        ),
        None => d(
            format!("Grafana's data source query failed: {quoted}"),
            "see the evidence: the error is AMP's or the data source's",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ex(status: u16, body: &str) -> Exchange {
        Exchange {
            method: "GET",
            url: "http://g/api/search".into(),
            status: Some(status),
            body: body.into(),
            elapsed: Duration::ZERO,
            signed: None,
        }
    }

    #[test]
    fn grafana_refusals() {
        let v = diagnose_grafana(
            "the token check",
            &ex(
                401,
                r#"{"extra":null,"message":"Expired API key","messageId":"api-key.expired","statusCode":401,"traceID":""}"#,
            ),
        );
        assert!(v.verdict.contains("401 Expired API key"), "{v:?}");
        assert!(v.hint.contains("30 days"));
        let v = diagnose_grafana(
            "saving the dashboard",
            &ex(
                403,
                r#"{"accessErrorId":"ACE1","message":"You'll need additional permissions to perform this action. Permissions needed: dashboards:create","title":"Access denied"}"#,
            ),
        );
        assert!(v.verdict.contains("lacks dashboards:create"), "{v:?}");
        let v = diagnose_grafana("x", &ex(503, r#"{"message":"Service Unavailable"}"#));
        assert!(v.verdict.contains("unavailable"));
    }

    #[test]
    fn amp_errors_inside_the_query_name_the_role() {
        let role = "arn:aws:iam::111122223333:role/service-role/AmazonGrafanaServiceRole-x";
        let current = r#"unexpected response with status code 403: {"message":"User: arn:aws:sts::111122223333:assumed-role/AmazonGrafanaServiceRole-x/g-1 is not authorized to perform: aps:QueryMetrics on resource: arn:aws:aps:us-east-1:111122223333:workspace/ws-1"}"#;
        let v = diagnose_ds_query(Some(500), current, Some(role));
        assert!(
            v.verdict.contains(role) && v.verdict.contains("aps:QueryMetrics"),
            "{v:?}"
        );
        let v = diagnose_ds_query(Some(403), "", Some(role));
        assert!(v.verdict.contains("No data") && v.verdict.contains(role));
        let v = diagnose_ds_query(
            Some(500),
            r#"unexpected response with status code 403: {"message":"Missing Authentication Token"}"#,
            Some(role),
        );
        assert!(v.verdict.contains("unsigned"), "{v:?}");
        let v = diagnose_ds_query(Some(502), "Post \"http://x\": connection refused", None);
        assert!(v.verdict.contains("could not reach AMP"));
    }
}
