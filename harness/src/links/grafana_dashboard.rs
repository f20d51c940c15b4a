//! `grafana.dashboard`: do the dashboards exist, and does every panel's query return data?
//! (F25) When the run provisions (`grafana.provision`, default on the mock), it saves a
//! canary dashboard for this run's canary first (removed at the end of the run,
//! `grafana_cleanup`); the scenario may name a dashboard of the user's too
//! (`grafana.dashboard`). Each panel's queries go through `/api/ds/query` over the hour
//! before the canary's query time; a query using dashboard variables Grafana cannot
//! expand server-side is listed as not checked. When a panel has no data, its PromQL's
//! metric names are compared with AMP's `__name__` values: a name AMP lacks is reported
//! with the renamed form AMP holds (`_total` or a unit added by the collector, F34).

use std::collections::BTreeSet;

use serde_json::{Value, json};

use super::grafana_cleanup::Created;
use super::grafana_context::{AMP_DATASOURCE_TYPES, DataSourceRef, GrafanaFaults, GrafanaRun};
use super::grafana_diagnosis::{diagnose_ds_query, diagnose_grafana, unreachable};
use super::grafana_frames::{DsAnswer, DsQuery, RefResult, ds_query};
use super::metric_names::{Renamed, metric_names, renamed_in};
use super::{BoxFuture, Check, Link, RunContext, Status};
use crate::amp_client::truncate;
use crate::canary::{COUNTER, Canary, GAUGE, HISTOGRAM, MEDIAN};
use crate::grafana_client::{GrafanaClient, json_of};
use crate::readback::query_time;

pub struct GrafanaDashboard;

/// The time range panel queries cover, ending at the canary's query time.
const RANGE_MS: i64 = 60 * 60 * 1000;

/// A label no pipeline adds: the F25 panel filters on it and so matches nothing.
const MISSING_LABEL: (&str, &str) = ("cluster", "pipecheck-no-such-cluster");

/// The canary dashboard of a run: one stat panel (instant query) per kind of canary
/// series, all on the run's data source. Faults: `panel_without_data` adds a panel whose
/// query filters on a label the pipeline never adds (F25); `dashboard_old_names` queries
/// the counter and histogram without the `_total` and `_seconds` the collector's
/// translation adds (F34), as a dashboard written before ADOT 0.35 does.
pub fn canary_dashboard(canary: &Canary, ds: &DataSourceRef, faults: &GrafanaFaults) -> Value {
    let m = canary.matchers();
    let (mut counter, mut histogram) = (COUNTER, HISTOGRAM);
    if faults.dashboard_old_names {
        counter = COUNTER.strip_suffix("_total").unwrap_or(COUNTER);
        histogram = HISTOGRAM.strip_suffix("_seconds").unwrap_or(HISTOGRAM);
    }
    let mut queries = vec![
        ("canary gauges", format!("{GAUGE}{{{m}}}")),
        ("canary requests", format!("{counter}{{{m}}}")),
        (
            "canary latency p50 (expect 0.5 s)",
            format!("histogram_quantile({MEDIAN}, sum by (le) ({histogram}_bucket{{{m}}}))"),
        ),
    ];
    if faults.panel_without_data {
        let (k, v) = MISSING_LABEL;
        queries.push((
            "canary gauges in the production cluster",
            format!("{GAUGE}{{{m}, {k}=\"{v}\"}}"),
        ));
    }
    let panels: Vec<Value> = queries
        .iter()
        .enumerate()
        .map(|(i, (title, expr))| {
            json!({
                "id": i + 1,
                "type": "stat",
                "title": title,
                "gridPos": { "h": 6, "w": 8, "x": (i % 3) * 8, "y": (i / 3) * 6 },
                "datasource": ds.json(),
                "targets": [{
                    "refId": "A",
                    "datasource": ds.json(),
                    "expr": expr,
                    "instant": true,
                    "range": false,
                }],
            })
        })
        .collect();
    json!({
        "uid": GrafanaRun::canary_dashboard_uid(&canary.run_id),
        "title": format!("pipecheck canary {}", canary.run_id),
        "tags": ["pipecheck", format!("pipecheck-run-{}", canary.run_id)],
        "timezone": "utc",
        "schemaVersion": 39,
        "time": { "from": "now-1h", "to": "now" },
        "panels": panels,
    })
}

/// One query of one panel, ready to send or explained away.
#[derive(Debug, PartialEq)]
enum PanelQuery {
    Run { ds: DataSourceRef, query: DsQuery },
    Skip(String),
}

#[derive(Debug)]
struct Panel {
    title: String,
    queries: Vec<PanelQuery>,
}

/// Every panel of a dashboard model, rows' nested panels included, with its queries.
fn panels_of(model: &Value, run_ds: &DataSourceRef) -> Vec<Panel> {
    let mut flat = Vec::new();
    for p in model
        .get("panels")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        flat.push(p);
        if let Some(inner) = p.get("panels").and_then(Value::as_array) {
            flat.extend(inner.iter());
        }
    }
    flat.into_iter()
        .filter(|p| p.get("type").and_then(Value::as_str) != Some("row"))
        .filter_map(|p| {
            let targets = p.get("targets").and_then(Value::as_array)?;
            let title = p
                .get("title")
                .and_then(Value::as_str)
                .filter(|t| !t.is_empty())
                .map(str::to_string)
                .unwrap_or_else(|| {
                    format!("(untitled, id {})", p.get("id").unwrap_or(&Value::Null))
                });
            let queries = targets
                .iter()
                .filter(|t| t.get("hide") != Some(&Value::Bool(true)))
                .map(|t| panel_query(p, t, run_ds))
                .collect::<Vec<_>>();
            (!queries.is_empty()).then_some(Panel { title, queries })
        })
        .collect()
}

/// A `$var` / `${var}` Grafana expands in the browser (the `$__…` macros it expands
/// server-side are fine).
fn uses_variables(expr: &str) -> bool {
    expr.match_indices('$').any(|(i, _)| {
        let rest = expr[i + 1..].trim_start_matches('{');
        !rest.starts_with("__") && rest.starts_with(|c: char| c.is_ascii_alphabetic())
    })
}

fn panel_query(panel: &Value, target: &Value, run_ds: &DataSourceRef) -> PanelQuery {
    let ref_id = target
        .get("refId")
        .and_then(Value::as_str)
        .unwrap_or("A")
        .to_string();
    let Some(expr) = target
        .get("expr")
        .and_then(Value::as_str)
        .filter(|e| !e.trim().is_empty())
    else {
        return PanelQuery::Skip(format!("{ref_id}: no PromQL expression"));
    };
    if uses_variables(expr) {
        return PanelQuery::Skip(format!(
            "{ref_id}: {expr} uses dashboard variables (not checked)"
        ));
    }
    // The target's data source, else the panel's; a variable or none means the default,
    // taken to be the run's.
    let ds = [target.get("datasource"), panel.get("datasource")]
        .into_iter()
        .flatten()
        .find(|d| !d.is_null() && d.get("uid").and_then(Value::as_str) != Some("-- Mixed --"));
    let ds = match ds {
        None => run_ds.clone(),
        Some(Value::String(name)) if name.starts_with('$') || *name == run_ds.name => {
            run_ds.clone()
        }
        Some(Value::String(name)) => {
            return PanelQuery::Skip(format!(
                "{ref_id}: data source {name:?} is not the run's (not checked)"
            ));
        }
        Some(d) => {
            let uid = d.get("uid").and_then(Value::as_str).unwrap_or_default();
            let kind = d.get("type").and_then(Value::as_str).unwrap_or_default();
            if uid.is_empty() || uid.starts_with('$') || uid == run_ds.uid {
                run_ds.clone()
            } else if AMP_DATASOURCE_TYPES.contains(&kind) || kind.is_empty() {
                DataSourceRef {
                    uid: uid.to_string(),
                    name: uid.to_string(),
                    kind: if kind.is_empty() {
                        run_ds.kind.clone()
                    } else {
                        kind.to_string()
                    },
                }
            } else {
                return PanelQuery::Skip(format!("{ref_id}: a {kind} data source (not checked)"));
            }
        }
    };
    let flag = |k: &str| target.get(k).and_then(Value::as_bool).unwrap_or(false);
    let (instant, mut range) = (flag("instant"), flag("range"));
    if !instant && !range {
        range = true;
    }
    PanelQuery::Run {
        ds,
        query: DsQuery {
            ref_id,
            expr: expr.to_string(),
            instant,
            range,
        },
    }
}

/// What one panel's queries gave.
struct PanelOutcome {
    title: String,
    /// Lines for the evidence.
    lines: Vec<String>,
    no_data: Vec<String>,
    failed: Option<Check>,
    checked: usize,
}

async fn check_panel(
    ctx: &RunContext,
    client: &GrafanaClient,
    panel: &Panel,
    role: Option<&str>,
) -> PanelOutcome {
    let at = query_time(&ctx.canary);
    let mut out = PanelOutcome {
        title: panel.title.clone(),
        lines: Vec::new(),
        no_data: Vec::new(),
        failed: None,
        checked: 0,
    };
    for q in &panel.queries {
        let (ds, query) = match q {
            PanelQuery::Skip(why) => {
                out.lines.push(format!("  {why}"));
                continue;
            }
            PanelQuery::Run { ds, query } => (ds, query),
        };
        out.checked += 1;
        let answer = tokio::time::timeout(
            ctx.deadlines.request,
            ds_query(client, ds, std::slice::from_ref(query), at - RANGE_MS, at),
        )
        .await;
        // A panel's PromQL can be any length; evidence shows its start.
        let head = format!("  {}: {}", query.ref_id, truncate(&query.expr, 200));
        match answer {
            Err(_) => {
                out.failed.get_or_insert(Check::fail(
                    format!(
                        "panel {:?}: Grafana did not answer its query within {}",
                        panel.title,
                        ctx.deadlines.request_named()
                    ),
                    "see the evidence",
                ));
            }
            Ok(DsAnswer::Failed(e)) => {
                out.failed.get_or_insert(Check::from_diagnosis(
                    Status::Fail,
                    unreachable(client.base(), &e),
                ));
            }
            Ok(DsAnswer::Refused(ex)) => {
                out.lines.push(format!("{head} -> {}", ex.summary()));
                out.failed.get_or_insert(Check::from_diagnosis(
                    Status::Fail,
                    diagnose_grafana(&format!("panel {:?}'s query", panel.title), &ex),
                ));
            }
            Ok(DsAnswer::Results { results, exchange }) => match results.get(&query.ref_id) {
                Some(RefResult::Data(series)) => {
                    let values: usize = series.iter().map(|s| s.points.len()).sum();
                    out.lines.push(format!(
                        "{head} -> {} series, {values} value(s)",
                        series.len()
                    ));
                }
                Some(RefResult::Failed { status, error }) => {
                    out.lines
                        .push(format!("{head} -> {}", truncate(&exchange.summary(), 400)));
                    let mut d = diagnose_ds_query(*status, error, role);
                    d.verdict = format!("panel {:?}: {}", panel.title, d.verdict);
                    out.failed
                        .get_or_insert(Check::from_diagnosis(Status::Fail, d));
                }
                Some(RefResult::Empty) | None => {
                    out.lines.push(format!("{head} -> no data"));
                    out.no_data.push(query.expr.clone());
                }
            },
        }
    }
    out
}

/// F34: the metric names of the panels without data that AMP does not hold, each with
/// the renamed form AMP holds when there is one (`metric_names::renamed_in`). None when
/// AMP holds every name (then the panels' label filters select nothing, F25) or its names
/// cannot be read (`aps:GetLabels`).
async fn renamed_series(
    ctx: &RunContext,
    title: &str,
    uid: &str,
    no_data: &[(String, Vec<String>)],
) -> Option<Check> {
    /// A queried name AMP lacks, and what AMP holds instead.
    struct Missing<'a> {
        panel: &'a str,
        name: String,
        renamed: Option<Renamed>,
    }
    let client = ctx.data_client()?;
    let answer = tokio::time::timeout(ctx.deadlines.request, client.label_values("__name__"));
    let (values, exchange) = answer.await.ok()?.ok()?;
    let present: BTreeSet<String> = values?.into_iter().collect();
    let mut missing: Vec<Missing> = Vec::new();
    for (panel, exprs) in no_data {
        for name in exprs
            .iter()
            .flat_map(|e| metric_names(e).unwrap_or_default())
        {
            let known = missing.iter().any(|m| m.panel == panel && m.name == name);
            if !present.contains(&name) && !known {
                let renamed = renamed_in(&name, &present);
                missing.push(Missing {
                    panel,
                    name,
                    renamed,
                });
            }
        }
    }
    if missing.is_empty() {
        return None;
    }
    let each: Vec<String> = missing
        .iter()
        .map(|m| match &m.renamed {
            Some(r) => format!(
                "panel {:?} queries {}, which AMP does not have; AMP has {} ({})",
                m.panel, m.name, r.name, r.change
            ),
            None => format!(
                "panel {:?} queries {}, which AMP has under no name",
                m.panel, m.name
            ),
        })
        .collect();
    let mut hints = Vec::new();
    if missing.iter().any(|m| m.renamed.is_some()) {
        hints.push("change the panel's query to the name AMP holds, or have the collector keep the names the dashboard uses: `add_metric_suffixes: false` on the prometheusremotewrite exporter (since ADOT 0.35 it adds unit and `_total` suffixes by default)");
    }
    if missing.iter().any(|m| m.renamed.is_none()) {
        hints.push("a name AMP holds in no form never arrived: look in the collector's log for \"invalid temporality and type combination\" (the exporter drops delta sums: make them cumulative first, e.g. with the deltatocumulative processor), and check that the workload exports it");
    }
    let lines: Vec<String> = missing
        .iter()
        .map(|m| {
            let found = match &m.renamed {
                Some(r) => format!("AMP has {}", r.name),
                None => "no renamed form in AMP".to_string(),
            };
            format!("panel {:?}: {} -> not in AMP; {found}", m.panel, m.name)
        })
        .collect();
    Some(
        Check::fail(
            format!("dashboard {title:?} ({uid}): {}", each.join("; ")),
            hints.join("; "),
        )
        .with("metric names", lines.join("\n"))
        .with(
            "AMP metric names",
            format!(
                "{} {} -> {} names (rule: strip _bucket/_count/_sum, then _total, then one unit suffix such as _seconds or _bytes; equal stems are one metric renamed)",
                exchange.method,
                exchange.url,
                present.len()
            ),
        ),
    )
}

/// Saves the canary dashboard; registered for removal once saved.
async fn provision(
    ctx: &RunContext,
    client: &GrafanaClient,
    ds: &DataSourceRef,
) -> Result<String, Check> {
    let mut model = canary_dashboard(&ctx.canary, ds, &ctx.grafana.faults);
    let uid = GrafanaRun::canary_dashboard_uid(&ctx.run_id);
    // The dashboard is the run's, removed with it, whatever the canary's label (a watch's
    // canary carries the watch's, the same on every run).
    model["uid"] = json!(uid);
    model["title"] = json!(format!("pipecheck canary {}", ctx.run_id));
    let body = json!({
        "dashboard": model,
        "overwrite": false,
        "message": format!("pipecheck run {}: canary dashboard, removed at the end of the run", ctx.run_id),
    });
    match client.post_json("/api/dashboards/db", &body).await {
        Err(e) => Err(Check::from_diagnosis(
            Status::Fail,
            unreachable(client.base(), &crate::error_chain(&e)),
        )),
        Ok(ex) if ex.is_success() => {
            ctx.teardown.push(Created::Dashboard {
                client: client.clone(),
                uid: uid.clone(),
            });
            Ok(ex.summary())
        }
        Ok(ex) => {
            let mut d =
                diagnose_grafana("saving the canary dashboard (POST /api/dashboards/db)", &ex);
            d.verdict = format!("could not save the canary dashboard: {}", d.verdict);
            Err(Check::from_diagnosis(Status::Fail, d).with("/api/dashboards/db", ex.summary()))
        }
    }
}

impl Link for GrafanaDashboard {
    fn check<'a>(&'a self, ctx: &'a RunContext) -> BoxFuture<'a, Check> {
        Box::pin(async move {
            let inputs = ctx.facts().grafana.query_inputs();
            let Some((client, ds, role)) = inputs else {
                return Check::fail(
                    "no Grafana client or data source",
                    "grafana.api and grafana.datasource did not provide them",
                );
            };
            let plan = &ctx.grafana;
            let mut evidence = Vec::new();
            let mut uids = Vec::new();
            if plan.provision {
                let uid = GrafanaRun::canary_dashboard_uid(&ctx.run_id);
                if plan.faults.skip_dashboard {
                    evidence.push((
                        "provisioned".to_string(),
                        format!("{uid}: not saved (fault)"),
                    ));
                } else {
                    match provision(ctx, &client, &ds).await {
                        Ok(summary) => evidence.push(("provisioned".to_string(), summary)),
                        Err(c) => return c,
                    }
                }
                uids.push((uid, true));
            }
            if let Some(u) = &plan.dashboard {
                uids.push((u.clone(), false));
            }
            if uids.is_empty() {
                return Check::warn(
                    "no dashboard to check",
                    "name a dashboard (its uid, the part after /d/ in its URL) with grafana.dashboard in the scenario, or let the run make a canary dashboard with grafana.provision: true",
                );
            }
            let mut passed = Vec::new();
            for (uid, ours) in &uids {
                let path = format!("/api/dashboards/uid/{uid}");
                let model = match client.get(&path).await {
                    Err(e) => {
                        return Check::from_diagnosis(
                            Status::Fail,
                            unreachable(client.base(), &crate::error_chain(&e)),
                        );
                    }
                    Ok(ex) if ex.status == Some(404) => {
                        let hint = if *ours {
                            "the run's canary dashboard was never saved: the run saves it before checking (POST /api/dashboards/db); check that the token may create dashboards and that nothing removes them"
                        } else {
                            "check the dashboard's uid in the scenario (the part after /d/ in its URL) and that it lives in this workspace's Grafana"
                        };
                        return Check::fail(format!("dashboard {uid} not found in Grafana"), hint)
                            .with(path, ex.summary());
                    }
                    Ok(ex) if !ex.is_success() => {
                        return Check::from_diagnosis(
                            Status::Fail,
                            diagnose_grafana(&format!("reading dashboard {uid}"), &ex),
                        )
                        .with(path, ex.summary());
                    }
                    Ok(ex) => json_of(&ex)
                        .and_then(|v| v.get("dashboard").cloned())
                        .unwrap_or(Value::Null),
                };
                let title = model
                    .get("title")
                    .and_then(Value::as_str)
                    .unwrap_or(uid)
                    .to_string();
                let panels = panels_of(&model, &ds);
                let mut lines = Vec::new();
                let mut no_data = Vec::new();
                let mut checked = 0;
                for p in &panels {
                    let o = check_panel(ctx, &client, p, role.as_deref()).await;
                    lines.push(format!("panel {:?}", o.title));
                    lines.extend(o.lines);
                    if let Some(c) = o.failed {
                        return c
                            .with(format!("dashboard {uid}"), lines.join("\n"))
                            .with("data source", format!("{:?} uid {}", ds.name, ds.uid));
                    }
                    if !o.no_data.is_empty() {
                        no_data.push((o.title.clone(), o.no_data));
                    }
                    checked += usize::from(o.checked > 0);
                }
                if !no_data.is_empty() {
                    if let Some(c) = renamed_series(ctx, &title, uid, &no_data).await {
                        return c.with(format!("dashboard {uid}"), lines.join("\n"));
                    }
                    let names: Vec<String> =
                        no_data.iter().map(|(t, _)| format!("{t:?}")).collect();
                    let verdict = if no_data.len() == 1 {
                        format!(
                            "dashboard {title:?} ({uid}): panel {} returns no data: {}",
                            names[0],
                            no_data[0].1.join(", ")
                        )
                    } else {
                        format!(
                            "dashboard {title:?} ({uid}): {} of {checked} panels return no data: {}",
                            no_data.len(),
                            names.join(", ")
                        )
                    };
                    let mut c = Check::fail(
                        verdict,
                        "the panel's query selects series the pipeline does not deliver: compare its label matchers and metric names with the series in AMP (the canary's reached Grafana, see grafana.query); a filter on a label no collector adds (cluster, env) is the usual cause",
                    )
                    .with(format!("dashboard {uid}"), lines.join("\n"));
                    for (k, v) in evidence {
                        c = c.with(k, v);
                    }
                    return c;
                }
                if checked == 0 {
                    return Check::warn(
                        format!("dashboard {title:?} ({uid}) has no panel query pipecheck can check"),
                        "its panels use dashboard variables or other data sources: see the evidence",
                    )
                    .with(format!("dashboard {uid}"), lines.join("\n"));
                }
                passed.push((uid.clone(), title, checked, lines));
            }
            let verdict = passed
                .iter()
                .map(|(uid, title, n, _)| {
                    format!("dashboard {title:?} ({uid}): all {n} panels return data")
                })
                .collect::<Vec<_>>()
                .join("; ");
            let mut c = Check::pass(verdict);
            for (k, v) in evidence {
                c = c.with(k, v);
            }
            for (uid, _, _, lines) in passed {
                c = c.with(format!("dashboard {uid}"), lines.join("\n"));
            }
            c
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::canary::Origin;
    use crate::scenario::CanarySpec;

    fn ds() -> DataSourceRef {
        DataSourceRef {
            uid: "amp".into(),
            name: "AMP".into(),
            kind: "prometheus".into(),
        }
    }

    #[test]
    fn canary_dashboard_panels_are_checkable() {
        let canary = Canary::new("pc-1", &CanarySpec::default(), 0, Origin::Direct);
        let faults = GrafanaFaults {
            panel_without_data: true,
            ..Default::default()
        };
        let model = canary_dashboard(&canary, &ds(), &faults);
        assert_eq!(model["uid"], "pipecheck-pc-1");
        let panels = panels_of(&model, &ds());
        assert_eq!(panels.len(), 4);
        assert!(panels.iter().all(|p| matches!(
            &p.queries[0],
            PanelQuery::Run { ds: d, query } if *d == ds() && query.instant && query.expr.contains("pc-1")
        )));
        let PanelQuery::Run { query, .. } = &panels[3].queries[0] else {
            panic!()
        };
        assert!(query.expr.contains("cluster="));
        let old = GrafanaFaults {
            dashboard_old_names: true,
            ..Default::default()
        };
        let exprs: Vec<String> = panels_of(&canary_dashboard(&canary, &ds(), &old), &ds())
            .iter()
            .filter_map(|p| match &p.queries[0] {
                PanelQuery::Run { query, .. } => Some(query.expr.clone()),
                PanelQuery::Skip(_) => None,
            })
            .collect();
        assert!(
            exprs[1].starts_with("pipecheck_canary_requests{"),
            "{exprs:?}"
        );
        assert!(
            exprs[2].contains("(pipecheck_canary_latency_bucket{"),
            "{exprs:?}"
        );
    }

    #[test]
    fn rows_variables_and_foreign_data_sources() {
        let model = json!({"panels":[
            {"type":"row","panels":[{"id":2,"title":"inner","targets":[{"refId":"A","expr":"up"}]}]},
            {"id":3,"title":"vars","datasource":"${DS_PROMETHEUS}","targets":[{"refId":"A","expr":"rate(x{job=\"$job\"}[$__rate_interval])"}]},
            {"id":4,"title":"macro","datasource":{"type":"prometheus","uid":"$ds"},"targets":[{"refId":"B","expr":"rate(x[$__rate_interval])","hide":false}]},
            {"id":5,"title":"loki","datasource":{"type":"loki","uid":"l"},"targets":[{"refId":"A","expr":"{app=\"x\"}"}]},
            {"id":6,"title":"text","type":"text"}
        ]});
        let panels = panels_of(&model, &ds());
        let titles: Vec<&str> = panels.iter().map(|p| p.title.as_str()).collect();
        assert_eq!(titles, ["inner", "vars", "macro", "loki"]);
        assert!(
            matches!(&panels[0].queries[0], PanelQuery::Run { query, .. } if query.range && !query.instant)
        );
        assert!(matches!(&panels[1].queries[0], PanelQuery::Skip(w) if w.contains("variables")));
        assert!(matches!(&panels[2].queries[0], PanelQuery::Run { ds: d, .. } if d.uid == "amp"));
        assert!(matches!(&panels[3].queries[0], PanelQuery::Skip(w) if w.contains("loki")));
    }
}
