//! What a collector's remote writes show, as a link says it: the evidence every
//! collector-write link attaches, a refusal read as AMP's answer, and whether a refusal
//! was about the signature.

use std::time::Duration;

use super::observe::{WriteObservation, WriteRefusal};
use crate::amp_client::Exchange;
use crate::chain::Check;

/// A 403 that says the request was not (properly) signed, as opposed to an IAM denial.
pub fn is_authentication_refusal(r: &WriteRefusal) -> bool {
    let b = r.body.to_ascii_lowercase();
    r.status == 403
        && !b.contains("not authorized to perform")
        && (b.contains("authentication token")
            || b.contains("signature")
            || b.contains("security token")
            || b.contains("credential should be scoped"))
}

/// Evidence every collector-write link shows: counts, proxy record, log lines.
pub fn write_evidence(mut check: Check, obs: &WriteObservation) -> Check {
    check = check.with("collector metrics", obs.counts());
    if let Some(e) = &obs.metrics_error {
        check = check.with("collector metrics unreadable", e.clone());
    }
    if let Some(p) = &obs.proxy {
        check = check.with(
            "signing proxy",
            format!(
                "pipecheck's proxy forwarded {} request(s), signed with SigV4 for service aps; AMP accepted {}, refused {}{}",
                p.requests,
                p.accepted,
                p.refusals.len(),
                if p.arrived_signed > 0 { format!("; {} arrived already signed (re-signed)", p.arrived_signed) } else { String::new() }
            ),
        );
    }
    if !obs.log_lines.is_empty() {
        let tail: Vec<&String> = obs
            .log_lines
            .iter()
            .rev()
            .take(6)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        check = check.with(
            "collector log",
            tail.iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join("\n"),
        );
    }
    check
}

/// An `Exchange` standing for a refusal the collector got, so the one AMP diagnosis
/// applies to collector writes too.
pub fn as_exchange(url: &str, r: &WriteRefusal) -> Exchange {
    Exchange {
        method: "POST",
        url: url.to_string(),
        status: Some(r.status),
        body: r.body.clone(),
        elapsed: Duration::ZERO,
        signed: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(status: u16, body: &str) -> WriteRefusal {
        WriteRefusal {
            status,
            body: body.into(),
            retried: false,
        }
    }

    #[test]
    fn tells_authentication_from_authorization_and_other_refusals() {
        assert!(is_authentication_refusal(&r(
            403,
            r#"{"message":"Missing Authentication Token"}"#
        )));
        assert!(is_authentication_refusal(&r(
            403,
            r#"{"message":"The request signature we calculated does not match"}"#
        )));
        assert!(is_authentication_refusal(&r(
            403,
            r#"{"message":"Credential should be scoped to a valid region, not 'x'. "}"#
        )));
        assert!(!is_authentication_refusal(&r(
            403,
            r#"{"Message":"User: a is not authorized to perform: aps:RemoteWrite on resource: b"}"#
        )));
        assert!(!is_authentication_refusal(&r(
            429,
            r#"{"message":"Rate exceeded"}"#
        )));
        assert!(!is_authentication_refusal(&r(
            404,
            r#"{"Message":"Workspace not found"}"#
        )));
    }
}
