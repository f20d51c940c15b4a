//! What an AMP refusal means and what to do about it: one place that reads AMP's status
//! and body (amp-exact.md §2-§3) and turns it into a verdict and a hint, used by every
//! link that talks to AMP's data plane.

use crate::amp_client::{Exchange, error_message, truncate};
use crate::chain::Diagnosis;
use crate::signing::{ServiceCanonical, SignedDifference, SignedRequest};

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
        403 if lower.contains("signature") && lower.contains("does not match") => {
            signature_mismatch(what, &msg, ex.signed.as_ref())
        }
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

/// A signature mismatch, read from the Canonical String AMP computed from the request as
/// it arrived and, when the harness signed the request, compared with what it signed: a
/// header or body changed on the way (F31) is told apart from a wrong scope (F06) and a
/// wrong key.
fn signature_mismatch(what: &str, msg: &str, signed: Option<&SignedRequest>) -> Diagnosis {
    let generic_hint = "the request was signed with other inputs than AMP saw: check the signing region and service (aps), the secret key, and that nothing changes the request (headers, path) after it is signed";
    let Some(seen) = ServiceCanonical::parse(msg) else {
        return Diagnosis {
            verdict: format!("AMP refused the {what}: the request signature does not match"),
            hint: generic_hint.to_string(),
        };
    };
    let Some(signed) = signed else {
        return Diagnosis {
            verdict: format!(
                "AMP refused the {what}: the request signature does not match (AMP's canonical string signs {})",
                seen.signed_headers.join(";")
            ),
            hint: generic_hint.to_string(),
        };
    };
    let (scope, changed): (Vec<SignedDifference>, Vec<SignedDifference>) = seen
        .differences(signed)
        .into_iter()
        .partition(|d| matches!(d, SignedDifference::Scope { .. }));
    let join = |ds: &[SignedDifference]| {
        ds.iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; ")
    };
    if !changed.is_empty() {
        let headers: Vec<&str> = changed
            .iter()
            .filter_map(SignedDifference::header)
            .collect();
        let hint = if headers.is_empty() {
            "something between the signer and AMP rewrites the request's path or body after it is signed: sign last, after every rewrite".to_string()
        } else {
            format!(
                "something between the signer and AMP (a proxy, sidecar or agent) changes {} after the request is signed: have it set its headers before signing, or sign last; it may add headers nobody signed, never values to signed ones",
                headers.join(", ")
            )
        };
        return Diagnosis {
            verdict: format!(
                "AMP refused the {what}: the request was changed after it was signed ({}): not a region or clock problem",
                join(&changed)
            ),
            hint,
        };
    }
    if !scope.is_empty() {
        return Diagnosis {
            verdict: format!(
                "AMP refused the {what}: the signature's scope is not what AMP expects ({})",
                join(&scope)
            ),
            hint: "sign with the workspace's region (the one in the URL), service \"aps\", and a synchronised clock".to_string(),
        };
    }
    Diagnosis {
        verdict: format!(
            "AMP refused the {what}: the request reached AMP as it was signed, so the signing key is wrong"
        ),
        hint: "the secret access key does not belong to the access key id the writer sends: check the writer's credentials".to_string(),
    }
}

/// For a signature mismatch: AMP's canonical headers and the ones the writer signed, as
/// evidence a person can compare line by line. Empty for any other answer.
pub fn mismatch_evidence(ex: &Exchange) -> Vec<(String, String)> {
    let Some(seen) = ServiceCanonical::parse(&error_message(&ex.body)) else {
        return Vec::new();
    };
    let lines = |h: &[(String, String)]| {
        h.iter()
            .map(|(n, v)| format!("{n}:{v}"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let mut out = vec![(
        "canonical headers (AMP)".to_string(),
        format!(
            "{}\nSignedHeaders={}",
            lines(&seen.headers),
            seen.signed_headers.join(";")
        ),
    )];
    if let Some(signed) = &ex.signed {
        let names: Vec<&str> = signed.headers.iter().map(|(n, _)| n.as_str()).collect();
        out.push((
            "signed headers (writer)".to_string(),
            format!(
                "{}\nSignedHeaders={}",
                lines(&signed.headers),
                names.join(";")
            ),
        ));
    }
    out
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or("")
}

/// AMP's 400 bodies wrap the ingester's reason in rpc noise; keep the reason.
pub(crate) fn reason_400(msg: &str) -> String {
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
            signed: None,
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

    #[test]
    fn a_header_changed_after_signing_is_not_a_region_or_clock_problem() {
        use crate::signing::tests::{mismatch_message, signed};
        let body = serde_json::json!({ "message": mismatch_message() }).to_string();
        let mut e = ex(403, &body);
        e.signed = Some(signed());
        let d = diagnose_amp("remote write", &e);
        assert!(
            d.verdict.contains("header x-agent-id was signed as \"writer-1\" but reached AMP as \"writer-1,agent-7\"")
                && d.verdict.contains("not a region or clock problem"),
            "{}",
            d.verdict
        );
        assert!(
            d.hint
                .contains("changes x-agent-id after the request is signed"),
            "{}",
            d.hint
        );
        let ev = mismatch_evidence(&e);
        assert_eq!(ev.len(), 2);
        assert!(ev[0].1.contains("x-agent-id:writer-1,agent-7"), "{ev:?}");
        assert!(ev[1].1.contains("x-agent-id:writer-1\n"), "{ev:?}");
        // Signed as it arrived, but another region in the String-to-Sign: the scope.
        let mut s = signed();
        s.headers[3].1 = "writer-1,agent-7".into();
        s.region = "eu-west-1".into();
        e.signed = Some(s.clone());
        let v = diagnose_amp("remote write", &e).verdict;
        assert!(v.contains("scope") && !v.contains("not a region"), "{v}");
        // Signed as it arrived, same scope: the key.
        s.region = "us-east-1".into();
        e.signed = Some(s);
        let v = diagnose_amp("remote write", &e).verdict;
        assert!(v.contains("signing key is wrong"), "{v}");
        // Not signed by the harness (a collector's refusal): AMP's list, no guess.
        e.signed = None;
        let v = diagnose_amp("remote write", &e).verdict;
        assert!(
            v.contains("signs content-encoding;content-type;host;x-agent-id;x-amz-date"),
            "{v}"
        );
        assert!(mismatch_evidence(&ex(403, r#"{"message":"Signature expired: x"}"#)).is_empty());
    }
}
