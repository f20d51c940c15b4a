//! The `--html` report: one self-contained page (inline CSS, SVG and a few lines of
//! script; nothing is fetched) per invocation. Each scenario leads with its root cause
//! (verdict and hint), then draws its chain as a graph, nodes in columns by dependency
//! depth and edges for `depends_on`, coloured by outcome; below it every link's verdict,
//! hint and evidence fold open on click (`<details>`, and clicking a node opens its own).
//!
//! Every piece of text goes through [`text`]: ANSI sequences dropped, control characters
//! shown as `\u{..}`, then HTML-escaped. Redaction is the caller's job (see
//! `file::ReportFile::write`).

use crate::json::status_word;
use crate::junit::xml_text;
use crate::model::{LinkResult, Outcome, Property, RunInfo, RunReport, RunStatus, ScenarioReport};
use std::fmt::Write as _;

/// Node size and spacing of the graph, in SVG user units (CSS pixels).
const NODE_W: u32 = 172;
const NODE_H: u32 = 38;
const GAP_X: u32 = 44;
const GAP_Y: u32 = 14;
const MARGIN: u32 = 8;
/// A graph wider than the page shrinks to fit, but not below this share of its size (the
/// node text would be unreadable): past that, the page scrolls sideways.
const MIN_SCALE_PERCENT: u32 = 80;
/// Link names longer than this are cut in the node (the details below have them whole).
const NODE_NAME_CHARS: usize = 21;

/// The page for `run`.
pub fn render(run: &RunReport, info: &RunInfo) -> String {
    let mut page = String::with_capacity(16 * 1024);
    let status = match info.status {
        RunStatus::Pass => "PASS",
        RunStatus::Fail => "FAIL",
        RunStatus::Interrupted => "INTERRUPTED",
    };
    let _ = write!(
        page,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>pipecheck {status}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n"
    );
    let _ = write!(
        page,
        "<header><h1>pipecheck <span class=\"badge {cls}\">{status}</span></h1>\n\
         <p class=\"meta\">target <b>{target}</b> · started {started} · {duration:.2}s · exit code {code}</p></header>\n",
        cls = status.to_lowercase(),
        target = text(&info.target),
        started = text(&started(info.started)),
        duration = info.duration.as_secs_f64(),
        code = info.status.exit(),
    );
    if run.suites.is_empty() {
        page.push_str("<p>No scenario finished.</p>\n");
    }
    for (i, suite) in run.suites.iter().enumerate() {
        scenario(&mut page, i, suite);
    }
    let _ = write!(page, "<script>{SCRIPT}</script>\n</body>\n</html>\n");
    page
}

fn scenario(page: &mut String, index: usize, s: &ScenarioReport) {
    let verdict = if s.counts().interrupted > 0 {
        "INTERRUPTED"
    } else if s.passed() {
        "PASS"
    } else {
        "FAIL"
    };
    let _ = write!(
        page,
        "<section class=\"scenario\" id=\"s{index}\">\n<h2>{name}@{target} <span class=\"badge {cls}\">{verdict}</span></h2>\n\
         <p class=\"meta\">run id <code>{run_id}</code> · {duration:.2}s · {counts}</p>\n",
        name = text(&s.scenario),
        target = text(&s.target),
        cls = verdict.to_lowercase(),
        run_id = text(&s.run_id),
        duration = s.duration.as_secs_f64(),
        counts = text(&counts(s)),
    );
    for name in &s.root_cause {
        let Some(link) = s.link(name) else { continue };
        let _ = write!(
            page,
            "<div class=\"root-cause\"><p class=\"label\">root cause</p>\n\
             <p class=\"verdict\"><a href=\"#{id}\">{name}</a>: {verdict}</p>\n",
            id = link_id(index, &link.name),
            name = text(&link.name),
            verdict = text(&link.verdict),
        );
        if let Some(hint) = &link.hint {
            let _ = writeln!(page, "<p class=\"hint\">hint: {}</p>", text(hint));
        }
        page.push_str("</div>\n");
    }
    match s.arrival_latency() {
        Some(d) => {
            let _ = writeln!(
                page,
                "<p class=\"latency\">canary arrival latency: <b>{:.2}s</b></p>",
                d.as_secs_f64()
            );
        }
        None => page.push_str("<p class=\"latency\">canary arrival latency: not measured</p>\n"),
    }
    graph(page, index, s);
    page.push_str("<div class=\"links\">\n");
    for link in &s.links {
        details(page, index, link, s.root_cause.contains(&link.name));
    }
    if let Some((names, reason)) = s.left_out() {
        for name in names {
            let _ = writeln!(
                page,
                "<details class=\"link skipped\"><summary><span class=\"status\">skipped</span> \
                 <span class=\"name\">{}</span> <span class=\"verdict\">left out: {}</span></summary></details>",
                text(name),
                text(reason),
            );
        }
    }
    page.push_str("</div>\n");
    // Arrival and the links left out have their own places above.
    let extra: Vec<&Property> = s
        .properties
        .iter()
        .filter(|p| !matches!(p, Property::ArrivalLatency(_) | Property::LeftOut { .. }))
        .collect();
    if !extra.is_empty() {
        page.push_str("<dl class=\"properties\">\n");
        for p in extra {
            let _ = writeln!(
                page,
                "<dt>{}</dt><dd>{}</dd>",
                text(p.name()),
                text(&p.value())
            );
        }
        page.push_str("</dl>\n");
    }
    page.push_str("</section>\n");
}

fn details(page: &mut String, index: usize, link: &LinkResult, root: bool) {
    let status = status_word(&link.outcome);
    let verdict = match &link.outcome {
        Outcome::Blocked { by } if link.verdict.trim().is_empty() => format!("blocked by {by}"),
        _ => link.verdict.clone(),
    };
    let _ = writeln!(
        page,
        "<details class=\"link {status}{root}\" id=\"{id}\"><summary><span class=\"status\">{status}</span> \
         <span class=\"name\">{name}</span> <span class=\"time\">{secs:.2}s</span> \
         <span class=\"verdict\">{verdict}</span></summary>",
        root = if root { " root" } else { "" },
        id = link_id(index, &link.name),
        name = text(&link.name),
        secs = link.duration.as_secs_f64(),
        verdict = text(&verdict),
    );
    if !link.depends_on.is_empty() {
        let _ = writeln!(
            page,
            "<p class=\"deps\">depends on {}</p>",
            text(&link.depends_on.join(", "))
        );
    }
    if let Some(hint) = &link.hint {
        let _ = writeln!(page, "<p class=\"hint\">hint: {}</p>", text(hint));
    }
    for ev in &link.evidence {
        let _ = writeln!(
            page,
            "<div class=\"evidence\"><p class=\"label\">{}</p><pre>{}</pre></div>",
            text(&ev.label),
            text(ev.body.trim_end()),
        );
    }
    page.push_str("</details>\n");
}

/// Where each link sits: column by dependency depth, row by report order within it.
struct Layout {
    /// (column, row) per link, in report order.
    cells: Vec<(u32, u32)>,
    columns: u32,
    rows: u32,
}

fn layout(links: &[LinkResult]) -> Layout {
    let index_of = |name: &str| links.iter().position(|l| l.name == name);
    let mut depth = vec![0u32; links.len()];
    // Reports list dependencies first, so one pass settles most graphs; repeating up to
    // the link count settles any acyclic order, and bounds the loop should one be cyclic.
    for _ in 0..links.len().max(1) {
        let mut changed = false;
        for (i, link) in links.iter().enumerate() {
            let d = link
                .depends_on
                .iter()
                .filter_map(|dep| index_of(dep))
                .filter(|&j| j != i)
                .map(|j| depth[j] + 1)
                .max()
                .unwrap_or(0)
                .min(links.len() as u32);
            if d != depth[i] {
                depth[i] = d;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    let columns = depth.iter().max().map_or(0, |d| d + 1);
    let mut filled = vec![0u32; columns as usize];
    let cells: Vec<(u32, u32)> = depth
        .iter()
        .map(|&d| {
            let row = filled[d as usize];
            filled[d as usize] += 1;
            (d, row)
        })
        .collect();
    let rows = filled.into_iter().max().unwrap_or(0);
    Layout {
        cells,
        columns,
        rows,
    }
}

fn node_xy((col, row): (u32, u32)) -> (u32, u32) {
    (
        MARGIN + col * (NODE_W + GAP_X),
        MARGIN + row * (NODE_H + GAP_Y),
    )
}

fn graph(page: &mut String, index: usize, s: &ScenarioReport) {
    if s.links.is_empty() {
        return;
    }
    let l = layout(&s.links);
    let width = 2 * MARGIN + l.columns * NODE_W + l.columns.saturating_sub(1) * GAP_X;
    let height = 2 * MARGIN + l.rows * NODE_H + l.rows.saturating_sub(1) * GAP_Y;
    let _ = writeln!(
        page,
        "<div class=\"graph\"><svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chain\" width=\"{width}\" height=\"{height}\" style=\"min-width: {min_width}px\" \
         viewBox=\"0 0 {width} {height}\" role=\"img\" aria-label=\"the chain of {name}\">",
        name = text(&s.scenario),
        min_width = width * MIN_SCALE_PERCENT / 100,
    );
    for (i, link) in s.links.iter().enumerate() {
        let (x, y) = node_xy(l.cells[i]);
        for dep in &link.depends_on {
            let Some(j) = s.links.iter().position(|o| &o.name == dep) else {
                continue;
            };
            let (dx, dy) = node_xy(l.cells[j]);
            let (x1, y1) = (dx + NODE_W, dy + NODE_H / 2);
            let (x2, y2) = (x, y + NODE_H / 2);
            let mid = (x1 + x2) / 2;
            let _ = writeln!(
                page,
                "<path class=\"edge {cls}\" d=\"M{x1},{y1} C{mid},{y1} {mid},{y2} {x2},{y2}\"/>",
                cls = status_word(&s.links[j].outcome),
            );
        }
    }
    for (i, link) in s.links.iter().enumerate() {
        let (x, y) = node_xy(l.cells[i]);
        let status = status_word(&link.outcome);
        let root = if s.root_cause.contains(&link.name) {
            " root"
        } else {
            ""
        };
        let _ = writeln!(
            page,
            "<a href=\"#{id}\" class=\"node {status}{root}\" data-link=\"{name}\"><title>{name}: {verdict}</title>\
             <rect x=\"{x}\" y=\"{y}\" width=\"{NODE_W}\" height=\"{NODE_H}\" rx=\"6\"/>\
             <text x=\"{tx}\" y=\"{ty1}\" class=\"n\">{short}</text>\
             <text x=\"{tx}\" y=\"{ty2}\" class=\"o\">{status} · {secs:.2}s</text></a>",
            id = link_id(index, &link.name),
            name = text(&link.name),
            verdict = text(&link.verdict),
            tx = x + 8,
            ty1 = y + 16,
            ty2 = y + 31,
            short = text(&cut(&link.name, NODE_NAME_CHARS)),
            secs = link.duration.as_secs_f64(),
        );
    }
    page.push_str("</svg></div>\n<p class=\"legend\">");
    let mut keys = vec!["pass", "warn", "fail", "blocked", "skipped"];
    // Only a stopped run has interrupted links: no key for them otherwise.
    if s.counts().interrupted > 0 {
        keys.push("interrupted");
    }
    for status in keys {
        let _ = write!(page, "<span class=\"key {status}\">{status}</span> ");
    }
    page.push_str("</p>\n");
}

/// `2026-11-26 15:44:41 UTC`: the start time to the second, for people.
fn started(t: std::time::SystemTime) -> String {
    let format =
        time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second] UTC");
    time::OffsetDateTime::from(t)
        .format(&format)
        .unwrap_or_else(|_| "(unknown)".into())
}

fn counts(s: &ScenarioReport) -> String {
    let c = s.counts();
    let parts: Vec<String> = [
        (c.pass, "pass"),
        (c.warn, "warn"),
        (c.fail, "fail"),
        (c.blocked, "blocked"),
        (c.interrupted, "interrupted"),
    ]
    .into_iter()
    .filter(|(n, _)| *n > 0)
    .map(|(n, w)| format!("{n} {w}"))
    .collect();
    if parts.is_empty() {
        "no links".into()
    } else {
        parts.join(", ")
    }
}

/// The id of a link's `<details>`: scenario index and link name, restricted to
/// characters an id and a URL fragment take as they are.
fn link_id(scenario: usize, name: &str) -> String {
    let safe: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("s{scenario}-{safe}")
}

fn cut(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let head: String = s.chars().take(max - 1).collect();
        format!("{head}…")
    }
}

/// Text from outside made safe to show: printable (see `junit::xml_text`), then escaped.
fn text(s: &str) -> String {
    html_escape::encode_safe(&xml_text(s)).into_owned()
}

const STYLE: &str = r#"
:root { --pass:#2e7d32; --pass-bg:#e3f4e4; --warn:#a16207; --warn-bg:#fff3c4; --fail:#c62828; --fail-bg:#fde0e0; --blocked:#607d8b; --blocked-bg:#eceff1; --skipped:#9e9e9e; --skipped-bg:#ffffff; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 1.5em; color: #1f2328; }
h1 { font-size: 1.5em; margin: 0 0 .2em; } h2 { font-size: 1.2em; margin: 1.2em 0 .2em; }
.meta { color: #57606a; margin: 0 0 .8em; }
code, pre, .node text { font-family: ui-monospace, "DejaVu Sans Mono", monospace; }
.badge { font-size: .8em; padding: .1em .5em; border-radius: .6em; color: #fff; vertical-align: middle; }
.badge.pass { background: var(--pass); } .badge.fail { background: var(--fail); } .badge.interrupted { background: var(--blocked); }
.root-cause { border-left: 5px solid var(--fail); background: var(--fail-bg); padding: .5em 1em; margin: .6em 0; }
.root-cause .label { text-transform: uppercase; font-size: .75em; letter-spacing: .05em; color: var(--fail); margin: 0; }
.root-cause .verdict { font-weight: 600; margin: .2em 0; }
.hint { margin: .3em 0; white-space: pre-wrap; }
.graph { overflow-x: auto; margin: .6em 0; }
.graph svg { max-width: 100%; height: auto; }
.node rect { stroke-width: 1.5; }
.node .n { font-size: 12px; font-weight: 600; fill: #1f2328; } .node .o { font-size: 11px; fill: #57606a; }
.node.pass rect { fill: var(--pass-bg); stroke: var(--pass); }
.node.warn rect { fill: var(--warn-bg); stroke: var(--warn); }
.node.fail rect { fill: var(--fail-bg); stroke: var(--fail); }
.node.blocked rect { fill: var(--blocked-bg); stroke: var(--blocked); stroke-dasharray: 5 3; }
.node.interrupted rect { fill: var(--skipped-bg); stroke: var(--blocked); stroke-dasharray: 2 2; }
.node.root rect { stroke-width: 3.5; }
.edge { fill: none; stroke: #8c959f; stroke-width: 1.5; }
.edge.fail, .edge.blocked { stroke: var(--fail); stroke-dasharray: 4 3; }
.legend .key { display: inline-block; padding: 0 .5em; margin-right: .3em; border: 1.5px solid; border-radius: 4px; font-size: .85em; }
.key.pass { border-color: var(--pass); background: var(--pass-bg); } .key.warn { border-color: var(--warn); background: var(--warn-bg); }
.key.fail { border-color: var(--fail); background: var(--fail-bg); } .key.blocked { border-color: var(--blocked); background: var(--blocked-bg); border-style: dashed; }
.key.skipped { border-color: var(--skipped); background: var(--skipped-bg); border-style: dotted; }
.key.interrupted { border-color: var(--blocked); background: var(--skipped-bg); border-style: dotted; }
details.link { border: 1px solid #d0d7de; border-left-width: 5px; border-radius: 4px; margin: .3em 0; padding: .2em .6em; }
details.link.pass { border-left-color: var(--pass); } details.link.warn { border-left-color: var(--warn); }
details.link.fail { border-left-color: var(--fail); } details.link.blocked { border-left-color: var(--blocked); }
details.link.skipped { border-left-color: var(--skipped); border-style: dotted; }
details.link.interrupted { border-left-color: var(--blocked); border-left-style: dotted; }
details.link summary { cursor: pointer; }
details.link .status { display: inline-block; width: 4.5em; font-weight: 600; }
details.link.fail .status { color: var(--fail); } details.link.pass .status { color: var(--pass); } details.link.warn .status { color: var(--warn); }
details.link .name { font-family: ui-monospace, monospace; font-weight: 600; }
details.link .time { color: #57606a; font-size: .9em; }
.evidence .label { margin: .4em 0 0; font-weight: 600; font-size: .9em; }
.evidence pre { background: #f6f8fa; padding: .5em; overflow-x: auto; white-space: pre-wrap; word-break: break-word; margin: .2em 0; }
.deps { color: #57606a; margin: .3em 0; }
dl.properties { display: grid; grid-template-columns: max-content auto; gap: .1em 1em; color: #57606a; }
dl.properties dd { margin: 0; word-break: break-word; }
"#;

/// Clicking a node (or following a link to one) opens that link's details.
const SCRIPT: &str = r#"
function openLinkDetails() {
  var id = decodeURIComponent(location.hash.slice(1));
  var el = id && document.getElementById(id);
  if (el && el.tagName === 'DETAILS') { el.open = true; }
}
window.addEventListener('hashchange', openLinkDetails);
openLinkDetails();
"#;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Evidence, RunInfo, RunStatus};
    use crate::testdata;
    use std::time::{Duration, SystemTime};

    fn info() -> RunInfo {
        RunInfo {
            target: "mock".into(),
            started: SystemTime::UNIX_EPOCH + Duration::from_secs(1_764_170_000),
            duration: Duration::from_millis(1855),
            status: RunStatus::Fail,
        }
    }

    #[test]
    fn html_snapshot() {
        insta::assert_snapshot!("html_run", render(&testdata::run(), &info()));
    }

    #[test]
    fn columns_follow_dependency_depth() {
        let run = testdata::run();
        let adot = &run.suites[1];
        let l = layout(&adot.links);
        let cell = |name: &str| l.cells[adot.links.iter().position(|x| x.name == name).unwrap()];
        assert_eq!(cell("aws.identity"), (0, 0));
        assert_eq!(cell("grafana.api"), (0, 1));
        assert_eq!(cell("amp.workspace").0, 1);
        // depends on amp.workspace (1) and iam.role_permissions (not in this graph)
        assert_eq!(cell("amp.remote_write").0, 2);
        assert_eq!(cell("amp.query").0, 3);
        // grafana.query depends on amp.query (3) and grafana.datasource (1)
        assert_eq!(cell("grafana.query").0, 4);
        assert_eq!((l.columns, l.rows), (5, 2));
    }

    #[test]
    fn a_cycle_does_not_hang_the_layout() {
        let mut a = testdata::link("a", Outcome::Pass, "");
        let mut b = testdata::link("b", Outcome::Pass, "");
        a.depends_on = vec!["b".into()];
        b.depends_on = vec!["a".into()];
        let l = layout(&[a, b]);
        assert!(l.columns <= 3, "{}", l.columns);
    }

    #[test]
    fn root_cause_comes_before_the_graph_and_every_link_has_details() {
        let page = render(&testdata::run(), &info());
        let adot = page.find("id=\"s1\"").unwrap();
        let root = page[adot..].find("class=\"root-cause\"").unwrap();
        let graph = page[adot..].find("<svg").unwrap();
        assert!(root < graph);
        assert!(page.contains(
            "<a href=\"#s1-amp.remote_write\">amp.remote_write</a>: remote write rejected: 403 AccessDeniedException"
        ));
        assert_eq!(page.matches("<details class=\"link").count(), 11);
        assert!(page.contains("class=\"node fail root\""));
        assert!(page.contains("canary arrival latency: <b>1.20s</b>"));
    }

    #[test]
    fn text_is_escaped_and_nothing_is_fetched() {
        let mut link = testdata::link(
            "x.y",
            Outcome::Fail,
            "<script>alert(1)</script> & \"q\" \x1b[31mred\x1b[0m",
        );
        link.evidence = vec![Evidence::new(
            "<img src=x>",
            "</pre><iframe src=\"http://x\">",
        )];
        let run = RunReport {
            suites: vec![testdata::scenario("s\"><b>", vec![link], &["x.y"])],
        };
        let page = render(&run, &info());
        assert!(!page.contains("<script>alert"));
        assert!(!page.contains("<img"));
        assert!(!page.contains("<iframe"));
        assert!(!page.contains("s\"><b>"));
        assert!(page.contains("s&quot;&gt;&lt;b&gt;@mock"));
        assert!(!page.contains('\x1b'));
        assert!(
            page.contains("&lt;script&gt;alert(1)&lt;&#x2F;script&gt; &amp; &quot;q&quot; red")
        );
        // Self-contained: no external resource of any kind.
        for attr in ["src=\"", "href=\"http", "url(", "@import", "<link"] {
            assert!(!page.contains(attr), "{attr}");
        }
    }

    #[test]
    fn an_interrupted_run_without_scenarios_still_renders() {
        let mut i = info();
        i.status = RunStatus::Interrupted;
        let page = render(&RunReport::default(), &i);
        assert!(page.contains("INTERRUPTED"));
        assert!(page.contains("exit code 130"));
        assert!(page.contains("No scenario finished."));
    }
}
