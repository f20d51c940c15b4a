//! `collector.signing`: are the collector's writes signed so that AMP authenticates them,
//! and by whom (the collector itself, or pipecheck's SigV4 proxy)? Judged from what AMP
//! answered the collector (its log, its metrics, the proxy's record): any answer past
//! authentication (accepted, 429, 4xx other than authentication) means the signature was
//! good; a 403 about the signature or a missing one means it was not. (F04 as users meet
//! it: a Prometheus build that accepts a `sigv4:` block but never signs.)

use std::time::Duration;

use super::{BoxFuture, Check, Link, RunContext, Status, diagnose_amp};
use crate::amp_client::Exchange;
use crate::collector::{WriteObservation, WriteRefusal};
use crate::scenario::Signing;
use crate::wait::{Probe, Waited, wait_for};

pub struct CollectorSigning;

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

impl Link for CollectorSigning {
    fn check<'a>(&'a self, ctx: &'a RunContext) -> BoxFuture<'a, Check> {
        Box::pin(async move {
            let col = match ctx.local_collector() {
                Ok(c) => c,
                Err(check) => return check,
            };
            let url = ctx.collector_remote_write_url();
            // Without the proxy, "accepted" comes from Prometheus' counters, which count a
            // batch as sent before AMP answers it: a refusal can still follow. Such an
            // acceptance counts once it holds on two polls in a row; a refusal at once.
            let accepted_polls = std::sync::atomic::AtomicU32::new(0);
            let probe = || async {
                let obs = col.observe(&ctx.target.http).await;
                let held = if obs.accepted() {
                    accepted_polls.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1
                } else {
                    accepted_polls.store(0, std::sync::atomic::Ordering::Relaxed);
                    0
                };
                let accepted = held >= 2 || (held >= 1 && obs.proxy.is_some());
                let answered = accepted || !obs.refusals.is_empty();
                if answered {
                    Probe::Done(obs)
                } else {
                    Probe::Pending(obs)
                }
            };
            let waited = wait_for(
                "AMP to answer the collector's remote writes",
                ctx.deadlines.arrival,
                Duration::from_millis(200),
                probe,
            )
            .await;
            let obs = match waited {
                Waited::Done { value, .. } | Waited::Aborted { value, .. } => value,
                Waited::TimedOut { last, .. } => {
                    // Through the proxy: what it saw of AMP (no answer within its deadline).
                    let proxy_error = last
                        .as_ref()
                        .and_then(|o| o.proxy.as_ref())
                        .and_then(|p| p.errors.last().cloned());
                    let check = match proxy_error {
                        Some(e) => Check::fail(
                            format!(
                                "the collector got no answer from AMP to any remote write within {}; pipecheck's SigV4 proxy: {e}",
                                ctx.deadlines.arrival_named()
                            ),
                            "AMP takes the requests but does not answer: check the network path to the workspace's endpoint (a proxy or firewall that holds connections); raise expect.request_timeout if AMP is only slow",
                        ),
                        None => Check::fail(
                            format!(
                                "the collector got no answer from AMP to any remote write within {}",
                                ctx.deadlines.arrival_named()
                            ),
                            "the collector does not send, or its writes do not arrive: check its remote_write config and its log",
                        ),
                    };
                    return match last {
                        Some(obs) => write_evidence(check, &obs),
                        None => check,
                    };
                }
            };
            let who = match col.spec.signing {
                Signing::Proxy => "pipecheck's SigV4 proxy",
                Signing::Collector => "the collector itself",
            };
            if let Some(r) = obs.refusals.iter().find(|r| is_authentication_refusal(r)) {
                let mut d = diagnose_amp("remote write", &as_exchange(&url, r));
                d.verdict = d.verdict.replacen(
                    "AMP refused an unsigned remote write",
                    "the collector sends unsigned remote writes; AMP refused them",
                    1,
                );
                d.verdict = d.verdict.replacen(
                    "AMP refused the remote write",
                    "AMP refused the collector's remote writes",
                    1,
                );
                if r.body.contains("Missing Authentication Token")
                    && col.spec.signing == Signing::Collector
                {
                    d.hint = "the collector's config has a sigv4 block, yet its requests carry no signature: this build does not sign (Debian's prometheus 2.42 is one). Use a build that signs (upstream Prometheus ≥ 2.26, ADOT), or write through a SigV4 signing proxy (scenario prometheus-proxy)".to_string();
                }
                let refused = obs
                    .refusals
                    .iter()
                    .filter(|r| is_authentication_refusal(r))
                    .count();
                let check = Check::from_diagnosis(Status::Fail, d)
                    .with("signed by", format!("{who} (per the config)"))
                    .with(
                        "refusals",
                        format!("{refused} write(s) refused at authentication"),
                    );
                return write_evidence(check, &obs);
            }
            // The verdict is the same whatever AMP answered past authentication (which
            // answer came first is timing: a 429 then a 200 under throttling); the
            // answer itself is evidence.
            let answer = if obs.accepted() {
                "accepted".to_string()
            } else {
                format!("answered {}", obs.refusals[0].status)
            };
            write_evidence(
                Check::pass(format!(
                    "the collector's writes are signed by {who}; AMP authenticated them"
                ))
                .with("AMP's answer", answer),
                &obs,
            )
        })
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
