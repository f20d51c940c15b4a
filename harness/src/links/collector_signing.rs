//! `collector.signing`: are the collector's writes signed so that AMP authenticates them,
//! and by whom (the collector itself, or pipecheck's SigV4 proxy)? Judged from what AMP
//! answered the collector (its log, its metrics, the proxy's record): any answer past
//! authentication (accepted, 429, 4xx other than authentication) means the signature was
//! good; a 403 about the signature or a missing one means it was not. (F04 as users meet
//! it: a Prometheus build that accepts a `sigv4:` block but never signs.)

use std::time::Duration;

use super::{BoxFuture, Check, Link, RunContext, Status, diagnose_amp};
use crate::collector::{as_exchange, is_authentication_refusal, write_evidence};
use crate::scenario::Signing;
use crate::wait::{Probe, Waited, wait_for};

pub struct CollectorSigning;

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
