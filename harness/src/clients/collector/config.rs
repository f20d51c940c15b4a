//! Collector configurations: rendered for a pipeline (Prometheus' `prometheus.yml`, and the
//! ADOT/OpenTelemetry collector config for the same pipeline), and read back so the
//! `collector.config` link checks what the collector was really given.

use std::time::Duration;

use serde_json::{Value, json};

use crate::canary::SCRAPE_JOB;

/// A `remote_write` entry as the checks need it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RemoteWrite {
    pub url: String,
    /// `sigv4.region`; `Some("")` when the block is there without a region.
    pub sigv4_region: Option<String>,
    /// The role the signer assumes first: Prometheus' `sigv4.role_arn`, ADOT's
    /// `sigv4auth.assume_role.arn`.
    pub sigv4_role_arn: Option<String>,
    /// The labels added to every series written: Prometheus' `global.external_labels`,
    /// the exporter's `external_labels` (ADOT).
    pub external_labels: Vec<(String, String)>,
}

/// The entries of a YAML mapping (`external_labels`), sorted by name.
fn string_map(v: &Value) -> Vec<(String, String)> {
    v.as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| {
            let v = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            (k.clone(), v)
        })
        .collect()
}

fn non_empty(v: &Value) -> Option<String> {
    v.as_str().filter(|s| !s.is_empty()).map(str::to_string)
}

#[derive(Clone, Debug, PartialEq)]
pub struct CollectorConfig {
    /// The YAML handed to the collector.
    pub text: String,
    pub scrape_targets: Vec<String>,
    pub remote_write: Vec<RemoteWrite>,
    /// Settings that make the remote-write exporter drop a failed batch instead of
    /// queueing and retrying it (F32), as `key.path: value`; Prometheus has none (it
    /// retries 5xx, and 429 with `retry_on_http_429`, on its own).
    pub drop_settings: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("the collector config is not valid YAML: {0}")]
    Yaml(String),
    #[error("failed to render the collector config")]
    Render(#[source] serde_saphyr::ser::Error),
}

fn secs(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis())
    }
}

impl CollectorConfig {
    /// A Prometheus config scraping `target` under the canary's scrape job and
    /// remote-writing to `rw` (with a `sigv4` block when `rw.sigv4_region` is set).
    /// Short queue deadlines keep the verdict quick; 429s are retried, as AMP advises.
    pub fn prometheus(
        target: &str,
        scrape_interval: Duration,
        rw: &RemoteWrite,
    ) -> Result<Self, ConfigError> {
        let mut remote = json!({
            "url": rw.url,
            "queue_config": {
                "batch_send_deadline": "1s",
                "min_backoff": "100ms",
                "max_backoff": "1s",
                "retry_on_http_429": true,
            },
        });
        if let Some(region) = &rw.sigv4_region {
            remote["sigv4"] = json!({ "region": region });
        }
        let doc = json!({
            "global": { "scrape_interval": secs(scrape_interval), "scrape_timeout": secs(scrape_interval) },
            "scrape_configs": [{
                "job_name": SCRAPE_JOB,
                "scrape_interval": secs(scrape_interval),
                "static_configs": [{ "targets": [target] }],
            }],
            "remote_write": [remote],
        });
        let text = serde_saphyr::to_string(&doc).map_err(ConfigError::Render)?;
        Self::parse_prometheus(&text)
    }

    /// Reads a Prometheus config: its scrape targets and remote-write entries.
    pub fn parse_prometheus(text: &str) -> Result<Self, ConfigError> {
        let doc: Value = serde_saphyr::from_str(text).map_err(|e| {
            ConfigError::Yaml(e.to_string().lines().next().unwrap_or("").to_string())
        })?;
        let scrape_targets = doc["scrape_configs"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|sc| sc["static_configs"].as_array().into_iter().flatten())
            .flat_map(|st| st["targets"].as_array().into_iter().flatten())
            .filter_map(|t| t.as_str().map(str::to_string))
            .collect();
        let remote_write = doc["remote_write"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|rw| RemoteWrite {
                url: rw["url"].as_str().unwrap_or_default().to_string(),
                sigv4_region: rw
                    .get("sigv4")
                    .map(|s| s["region"].as_str().unwrap_or_default().to_string()),
                sigv4_role_arn: non_empty(&rw["sigv4"]["role_arn"]),
                external_labels: string_map(&doc["global"]["external_labels"]),
            })
            .collect();
        Ok(Self {
            text: text.to_string(),
            scrape_targets,
            remote_write,
            drop_settings: Vec::new(),
        })
    }
}

impl CollectorConfig {
    /// The ADOT (OpenTelemetry collector) config for the same pipeline, read back like a
    /// user's: see [`render_otel_config`]. The collector's own metrics are served on
    /// 127.0.0.1:`metrics_port`.
    pub fn otel(
        target: &str,
        scrape_interval: Duration,
        rw: &RemoteWrite,
        metrics_port: u16,
    ) -> Result<Self, ConfigError> {
        let text =
            render_otel_config(target, scrape_interval, &rw.url, rw.sigv4_region.as_deref())?;
        let mut doc: Value =
            serde_saphyr::from_str(&text).map_err(|e| ConfigError::Yaml(e.to_string()))?;
        doc["service"]["telemetry"] =
            json!({ "metrics": { "address": format!("127.0.0.1:{metrics_port}") } });
        let text = serde_saphyr::to_string(&doc).map_err(ConfigError::Render)?;
        Self::parse_otel(&text)
    }

    /// Reads an OpenTelemetry collector config: the prometheus receiver's static targets,
    /// and the prometheusremotewrite exporter, signed when its authenticator is a sigv4auth
    /// extension that the service enables (then with that extension's region).
    pub fn parse_otel(text: &str) -> Result<Self, ConfigError> {
        let doc: Value = serde_saphyr::from_str(text).map_err(|e| {
            ConfigError::Yaml(e.to_string().lines().next().unwrap_or("").to_string())
        })?;
        let scrape_targets = doc["receivers"]["prometheus"]["config"]["scrape_configs"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|sc| sc["static_configs"].as_array().into_iter().flatten())
            .flat_map(|st| st["targets"].as_array().into_iter().flatten())
            .filter_map(|t| t.as_str().map(str::to_string))
            .collect();
        let enabled: Vec<&str> = doc["service"]["extensions"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        let remote_write = doc["exporters"]
            .as_object()
            .into_iter()
            .flatten()
            .filter(|(name, _)| name.split('/').next() == Some("prometheusremotewrite"))
            .map(|(_, e)| {
                let auth = e["auth"]["authenticator"].as_str().unwrap_or_default();
                let signed = auth.split('/').next() == Some("sigv4auth") && enabled.contains(&auth);
                let ext = &doc["extensions"][auth];
                RemoteWrite {
                    url: e["endpoint"].as_str().unwrap_or_default().to_string(),
                    sigv4_region: signed
                        .then(|| ext["region"].as_str().unwrap_or_default().to_string()),
                    sigv4_role_arn: signed
                        .then(|| non_empty(&ext["assume_role"]["arn"]))
                        .flatten(),
                    external_labels: string_map(&e["external_labels"]),
                }
            })
            .collect();
        Ok(Self {
            text: text.to_string(),
            scrape_targets,
            remote_write,
            drop_settings: drop_settings(&doc),
        })
    }
}

/// The prometheusremotewrite exporters' `retry_on_failure` and queue switched off. Its
/// queue is `remote_write_queue`; `sending_queue` is the exporter helper's name for the
/// same thing in other exporters, and is read too. Both default to enabled.
fn drop_settings(doc: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for (name, e) in doc["exporters"].as_object().into_iter().flatten() {
        if name.split('/').next() != Some("prometheusremotewrite") {
            continue;
        }
        for key in ["retry_on_failure", "remote_write_queue", "sending_queue"] {
            if e[key]["enabled"] == Value::Bool(false) {
                out.push(format!("exporters.{name}.{key}.enabled: false"));
            }
        }
    }
    out
}

/// The ADOT (OpenTelemetry collector) config for the same pipeline: the prometheus
/// receiver scrapes the canary, the batch processor batches, and prometheusremotewrite
/// sends, with the sigv4auth extension when `region` is given (aws-wire.md D). There is no
/// otelcol binary on these machines: a user points the collector runtime at one.
pub fn render_otel_config(
    target: &str,
    scrape_interval: Duration,
    endpoint: &str,
    region: Option<&str>,
) -> Result<String, ConfigError> {
    let mut doc = json!({
        "receivers": { "prometheus": { "config": { "scrape_configs": [{
            "job_name": SCRAPE_JOB,
            "scrape_interval": secs(scrape_interval),
            "static_configs": [{ "targets": [target] }],
        }]}}},
        "processors": { "batch": { "timeout": "1s" } },
        "exporters": { "prometheusremotewrite": {
            "endpoint": endpoint,
            "retry_on_failure": { "enabled": true },
        }},
        "service": {
            "pipelines": { "metrics": {
                "receivers": ["prometheus"],
                "processors": ["batch"],
                "exporters": ["prometheusremotewrite"],
            }},
        },
    });
    if let Some(region) = region {
        doc["extensions"] = json!({ "sigv4auth": { "region": region, "service": "aps" } });
        doc["exporters"]["prometheusremotewrite"]["auth"] = json!({ "authenticator": "sigv4auth" });
        doc["service"]["extensions"] = json!(["sigv4auth"]);
    }
    serde_saphyr::to_string(&doc).map_err(ConfigError::Render)
}

#[cfg(test)]
mod tests {
    use super::*;

    const URL: &str =
        "https://aps-workspaces.us-east-1.amazonaws.com/workspaces/ws-1/api/v1/remote_write";

    #[test]
    fn prometheus_config_round_trips() {
        let rw = RemoteWrite {
            url: URL.into(),
            sigv4_region: Some("us-east-1".into()),
            ..RemoteWrite::default()
        };
        let c = CollectorConfig::prometheus("127.0.0.1:9100", Duration::from_secs(1), &rw).unwrap();
        assert_eq!(c.scrape_targets, vec!["127.0.0.1:9100"]);
        assert_eq!(c.remote_write, vec![rw]);
        assert!(c.text.contains("retry_on_http_429: true"), "{}", c.text);
        let unsigned = RemoteWrite {
            url: URL.into(),
            sigv4_region: None,
            ..RemoteWrite::default()
        };
        let c =
            CollectorConfig::prometheus("127.0.0.1:9100", Duration::from_millis(500), &unsigned)
                .unwrap();
        assert!(!c.text.contains("sigv4"));
        assert!(c.text.contains("500ms"));
    }

    #[test]
    fn a_sigv4_block_without_region_reads_as_empty() {
        let c = CollectorConfig::parse_prometheus("remote_write:\n  - url: x\n    sigv4: {}\n")
            .unwrap();
        assert_eq!(c.remote_write[0].sigv4_region.as_deref(), Some(""));
        assert!(CollectorConfig::parse_prometheus("a: [").is_err());
    }

    #[test]
    fn retry_and_queue_switched_off_are_read() {
        let text = "exporters:\n  prometheusremotewrite/amp:\n    endpoint: x\n    retry_on_failure:\n      enabled: false\n    remote_write_queue:\n      enabled: false\n  otlp:\n    retry_on_failure: {enabled: false}\n";
        let c = CollectorConfig::parse_otel(text).unwrap();
        assert_eq!(
            c.drop_settings,
            vec![
                "exporters.prometheusremotewrite/amp.retry_on_failure.enabled: false",
                "exporters.prometheusremotewrite/amp.remote_write_queue.enabled: false",
            ]
        );
        let rendered =
            render_otel_config("127.0.0.1:1", Duration::from_secs(1), URL, None).unwrap();
        assert!(
            CollectorConfig::parse_otel(&rendered)
                .unwrap()
                .drop_settings
                .is_empty()
        );
    }

    /// The keys the ADOT documentation requires for AMP, checked on the parsed YAML.
    #[test]
    fn otel_config_has_the_keys_adot_needs() {
        let text = render_otel_config(
            "127.0.0.1:9100",
            Duration::from_secs(1),
            URL,
            Some("us-east-1"),
        )
        .unwrap();
        let v: Value = serde_saphyr::from_str(&text).unwrap();
        assert_eq!(v["extensions"]["sigv4auth"]["service"], "aps");
        assert_eq!(v["extensions"]["sigv4auth"]["region"], "us-east-1");
        assert_eq!(v["exporters"]["prometheusremotewrite"]["endpoint"], URL);
        assert_eq!(
            v["exporters"]["prometheusremotewrite"]["auth"]["authenticator"],
            "sigv4auth"
        );
        assert_eq!(v["service"]["extensions"], json!(["sigv4auth"]));
        let p = &v["service"]["pipelines"]["metrics"];
        assert_eq!(p["receivers"], json!(["prometheus"]));
        assert_eq!(p["processors"], json!(["batch"]));
        assert_eq!(p["exporters"], json!(["prometheusremotewrite"]));
        let targets = &v["receivers"]["prometheus"]["config"]["scrape_configs"][0]["static_configs"]
            [0]["targets"];
        assert_eq!(targets, &json!(["127.0.0.1:9100"]));
    }

    #[test]
    fn role_arn_and_external_labels_are_read_from_both_kinds() {
        let p = CollectorConfig::parse_prometheus(
            "global:\n  external_labels:\n    cluster: prod\n    __replica__: ${POD_NAME}\nremote_write:\n- url: x\n  sigv4:\n    region: us-east-1\n    role_arn: arn:aws:iam::1:role/r\n",
        )
        .unwrap();
        let rw = &p.remote_write[0];
        assert_eq!(rw.sigv4_role_arn.as_deref(), Some("arn:aws:iam::1:role/r"));
        assert_eq!(
            rw.external_labels,
            vec![
                ("__replica__".to_string(), "${POD_NAME}".to_string()),
                ("cluster".to_string(), "prod".to_string())
            ]
        );
        let o = CollectorConfig::parse_otel(
            "extensions:\n  sigv4auth:\n    region: us-east-1\n    assume_role:\n      arn: arn:aws:iam::1:role/r\n      sts_region: us-east-1\nexporters:\n  prometheusremotewrite:\n    endpoint: x\n    auth: {authenticator: sigv4auth}\n    external_labels: {cluster: prod}\nservice:\n  extensions: [sigv4auth]\n",
        )
        .unwrap();
        let rw = &o.remote_write[0];
        assert_eq!(rw.sigv4_role_arn.as_deref(), Some("arn:aws:iam::1:role/r"));
        assert_eq!(
            rw.external_labels,
            vec![("cluster".to_string(), "prod".to_string())]
        );
        // Neither: a plain config.
        let plain =
            CollectorConfig::parse_prometheus("remote_write:\n- url: x\n  sigv4: {region: r}\n")
                .unwrap();
        assert_eq!(plain.remote_write[0].sigv4_role_arn, None);
        assert!(plain.remote_write[0].external_labels.is_empty());
    }
}
