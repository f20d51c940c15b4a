//! `scraper.config`: the scraper's configuration (`scrapeConfiguration.configurationBlob`,
//! base64 of a Prometheus YAML), decoded: its jobs, how each finds its targets, and the
//! canary's job among them, looking in the canary's namespace. (F43)

use serde_json::Value;

use super::{BoxFuture, Check, Link, RunContext};
use crate::canary::SCRAPER_JOB;

pub struct ScraperConfig;

/// One job as evidence: `name: kubernetes_sd pod in [ns], static 1 target(s)`.
fn job_line(job: &Value) -> String {
    let name = job["job_name"].as_str().unwrap_or("(no job_name)");
    let mut how: Vec<String> = Vec::new();
    for sd in job["kubernetes_sd_configs"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let names: Vec<&str> = sd["namespaces"]["names"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        how.push(format!(
            "kubernetes_sd {}{}",
            sd["role"].as_str().unwrap_or("?"),
            if names.is_empty() {
                " in every namespace".to_string()
            } else {
                format!(" in [{}]", names.join(", "))
            }
        ));
    }
    let statics: Vec<&str> = job["static_configs"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|c| c["targets"].as_array().into_iter().flatten())
        .filter_map(Value::as_str)
        .collect();
    if !statics.is_empty() {
        how.push(format!("static [{}]", statics.join(", ")));
    }
    let relabels = job["relabel_configs"].as_array().map_or(0, Vec::len);
    if relabels > 0 {
        how.push(format!("{relabels} relabel rule(s)"));
    }
    format!(
        "{name}: {}",
        if how.is_empty() {
            "no targets".to_string()
        } else {
            how.join(", ")
        }
    )
}

/// The verdict on a decoded configuration for a canary in `namespace`.
pub(crate) fn judge(text: &str, namespace: &str) -> Check {
    let doc: Value = match serde_saphyr::from_str(text) {
        Ok(v) => v,
        Err(e) => {
            return Check::fail(
                format!(
                    "the scraper's configuration is not YAML: {}",
                    e.to_string().lines().next().unwrap_or_default()
                ),
                "update the scraper with a valid configuration (aws amp update-scraper --scrape-configuration configurationBlob=…)",
            );
        }
    };
    let jobs: Vec<&Value> = doc["scrape_configs"]
        .as_array()
        .into_iter()
        .flatten()
        .collect();
    let listing = if jobs.is_empty() {
        "(no scrape_configs)".to_string()
    } else {
        jobs.iter()
            .map(|j| job_line(j))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let interval = doc["global"]["scrape_interval"]
        .as_str()
        .unwrap_or("1m (default)");
    let evidence = format!("scrape_interval {interval}\n{listing}");
    let Some(canary) = jobs.iter().find(|j| j["job_name"] == SCRAPER_JOB) else {
        let names: Vec<&str> = jobs.iter().filter_map(|j| j["job_name"].as_str()).collect();
        return Check::fail(
            format!(
                "the scraper's configuration has no job {SCRAPER_JOB} (jobs: {})",
                if names.is_empty() {
                    "none".to_string()
                } else {
                    names.join(", ")
                }
            ),
            format!(
                "add a scrape job named {SCRAPER_JOB} for the canary's pods in namespace {namespace} (kubernetes_sd_configs: role pod, namespaces.names [{namespace}]) and update the scraper with the new configurationBlob"
            ),
        )
        .with("configuration", evidence);
    };
    let sds: Vec<&Value> = canary["kubernetes_sd_configs"]
        .as_array()
        .into_iter()
        .flatten()
        .collect();
    let statics = canary["static_configs"]
        .as_array()
        .is_some_and(|a| !a.is_empty());
    let looks_in_namespace = sds.iter().any(|sd| {
        let names = sd["namespaces"]["names"].as_array();
        names.is_none_or(|n| n.is_empty() || n.iter().any(|x| x == namespace))
    });
    if !statics && !looks_in_namespace {
        return Check::fail(
            format!("job {SCRAPER_JOB} does not look for targets in namespace {namespace}"),
            format!(
                "give the job a kubernetes_sd_configs entry whose namespaces.names lists {namespace} (or static targets by IP)"
            ),
        )
        .with("configuration", evidence);
    }
    Check::pass(format!(
        "the scraper's configuration has {} job(s), {SCRAPER_JOB} among them",
        jobs.len()
    ))
    .with("configuration", evidence)
}

impl Link for ScraperConfig {
    fn check<'a>(&'a self, ctx: &'a RunContext) -> BoxFuture<'a, Check> {
        Box::pin(async move {
            let namespace = ctx
                .cluster
                .as_ref()
                .map(|c| c.namespace.clone())
                .unwrap_or_default();
            let Some(text) = ctx.facts().scraper.configuration.clone() else {
                return Check::fail(
                    "AMP's DescribeScraper answer held no scrape configuration",
                    "describe the scraper with the AWS CLI to compare",
                );
            };
            judge(&text, &namespace)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::links::Status;

    #[test]
    fn the_canary_job_must_be_there_and_look_in_its_namespace() {
        let ok = "scrape_configs:\n- job_name: pipecheck-canary\n  kubernetes_sd_configs:\n  - role: pod\n    namespaces:\n      names: [canary]\n";
        assert_eq!(judge(ok, "canary").status, Status::Pass);
        let other_ns = judge(ok, "elsewhere");
        assert_eq!(other_ns.status, Status::Fail);
        assert!(
            other_ns.verdict.contains("namespace elsewhere"),
            "{}",
            other_ns.verdict
        );
        let none = judge("scrape_configs:\n- job_name: kubelet\n", "canary");
        assert_eq!(none.status, Status::Fail);
        assert!(none.verdict.contains("jobs: kubelet"), "{}", none.verdict);
        assert_eq!(judge("scrape_configs: [", "canary").status, Status::Fail);
    }
}
