//! What an AMP refusal means and what to do about it: one place that reads AMP's status
//! and body (amp-exact.md §2-§3) and turns it into a verdict and a hint, used by every
//! link that talks to AMP's data plane.

use crate::amp_client::{Exchange, error_message, truncate};

#[derive(Clone, Debug, PartialEq)]
pub struct Diagnosis {
    pub verdict: String,
    pub hint: String,
}

/// Diagnoses a non-2xx answer from AMP's data plane to `what` ("remote write", "query").
pub fn diagnose_amp(what: &str, ex: &Exchange) -> Diagnosis {
    let status = ex.status.unwrap_or(0);
    let msg = error_message(&ex.body);
    let lower = msg.to_ascii_lowercase();
    let d = |verdict: String, hint: &str| Diagnosis {
        verdict,
        hint: hint.to_string(),
    };
    match status {
        403 if lower.contains("missing authentication token") => d(
            format!("AMP refused an unsigned {what}: 403 Missing Authentication Token"),
            "the writer sends no SigV4 signature: give its remote_write a sigv4 block (region of the workspace, service aps) on a build that really signs, or put a SigV4 signing proxy in front of it",
        ),
        403 if lower.contains("signature expired") || lower.contains("not yet current") => d(
            format!(
                "AMP refused the {what}: clock skew, the signature's time is more than 5 minutes off ({})",
                first_line(&msg)
            ),
            "the signer's clock is wrong: synchronise it (chrony/NTP) on the host that signs",
        ),
        403 if lower.contains("scoped to a valid region")
            || lower.contains("scoped to correct service") =>
        {
            d(
                format!(
                    "AMP refused the {what}: signature scoped to the wrong region or service ({})",
                    first_line(&msg).trim()
                ),
                "sign with the workspace's region (the one in the URL) and service \"aps\": check sigv4.region against the remote-write URL",
            )
        }
        403 if lower.contains("signature") && lower.contains("does not match") => d(
            format!("AMP refused the {what}: the request signature does not match"),
            "the request was signed with other inputs than AMP saw: check the signing region and service (aps), the secret key, and that nothing changes the request (headers, path) after it is signed",
        ),
        403 if lower.contains("security token") && lower.contains("expired") => d(
            format!("AMP refused the {what}: the credentials have expired"),
            "refresh the credentials (a new session token, or re-assume the role)",
        ),
        403 if lower.contains("security token") => d(
            format!("AMP refused the {what}: the access key is not recognised"),
            "the access key id is unknown to AWS: check which credentials the writer uses",
        ),
        403 if lower.contains("not authorized to perform") => {
            let action = if lower.contains("aps:remotewrite") {
                "aps:RemoteWrite"
            } else if lower.contains("aps:querymetrics") {
                "aps:QueryMetrics"
            } else {
                "the action"
            };
            Diagnosis {
                verdict: format!(
                    "AMP denied the {what}: the identity is not authorized to perform {action}"
                ),
                hint: format!(
                    "allow {action} on the workspace ARN for this identity (AmazonPrometheus{}Access, or a policy with that action)",
                    if action == "aps:QueryMetrics" {
                        "Query"
                    } else {
                        "RemoteWrite"
                    }
                ),
            }
        }
        404 => d(
            format!("AMP answered 404 to the {what}: {}", truncate(&msg, 120)),
            "the URL names a workspace that does not exist in this region: check the workspace id and the region in the URL",
        ),
        429 => d(
            format!(
                "AMP throttled the {what}: 429 {}",
                truncate(first_line(&msg), 160)
            ),
            "the request rate or ingestion rate is over the workspace's quota: lower the send rate (queue_config, batch size) or ask for a quota increase",
        ),
        400 => d(
            format!("AMP rejected samples of the {what}: {}", reason_400(&msg)),
            "the writer sent samples AMP refuses (see the reason): out-of-order or duplicate samples usually mean two writers send the same series (add distinct external labels), too many labels means relabel away unneeded ones",
        ),
        415 => d(
            format!("AMP refused the {what}'s format: {}", truncate(&msg, 160)),
            "remote write must be protobuf (application/x-protobuf) compressed with snappy block format",
        ),
        s if s >= 500 => d(
            format!(
                "AMP failed on the {what}: {s} {}",
                truncate(first_line(&msg), 160)
            ),
            "a server-side error: retry later; if it persists, check the AWS Health Dashboard",
        ),
        s => d(
            format!(
                "AMP answered {s} to the {what}: {}",
                truncate(first_line(&msg), 160)
            ),
            "see the evidence for AMP's answer",
        ),
    }
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or("")
}

/// AMP's 400 bodies wrap the ingester's reason in rpc noise; keep the reason.
fn reason_400(msg: &str) -> String {
    let reason = msg.rsplit_once(": err: ").map(|(_, r)| r).unwrap_or(msg);
    truncate(first_line(reason).trim(), 200)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn ex(status: u16, body: &str) -> Exchange {
        Exchange {
            method: "POST",
            url: "u".into(),
            status: Some(status),
            body: body.into(),
            elapsed: Duration::ZERO,
        }
    }

    #[test]
    fn names_each_refusal() {
        let v = |s, b| diagnose_amp("remote write", &ex(s, b)).verdict;
        assert!(v(403, r#"{"message":"Missing Authentication Token"}"#).contains("unsigned"));
        assert!(
            v(
                403,
                r#"{"message":"Signature expired: 20160117T015330Z is now earlier than x"}"#
            )
            .contains("clock skew")
        );
        assert!(
            v(
                403,
                r#"{"message":"Credential should be scoped to a valid region, not 'eu-west-1'. "}"#
            )
            .contains("wrong region")
        );
        assert!(v(403, r#"{"message":"The request signature we calculated does not match the signature you provided."}"#).contains("does not match"));
        assert!(v(403, r#"{"Message":"User: arn is not authorized to perform: aps:RemoteWrite on resource: ws"}"#).contains("aps:RemoteWrite"));
        assert!(v(429, r#"{"message":"Rate exceeded"}"#).contains("throttled"));
        let oo = v(
            400,
            "maxFailure (quorum) on a given error family, rpc error: code = Code(400) desc = user=1_ws: err: out of order sample. timestamp=x, series={}\n",
        );
        assert!(
            oo.contains("out of order sample") && !oo.contains("maxFailure"),
            "{oo}"
        );
    }
}
