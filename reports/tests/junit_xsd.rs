//! pipecheck's JUnit output validates against the project's XSD (`tests/schema/junit.xsd`),
//! checked with `xmllint`; and the XSD rejects broken reports, so the check is not vacuous.
//!
//! Needs `xmllint` (Debian: libxml2-utils). Without it these tests fail rather than skip:
//! CI installs it, and a silently skipped schema check would hide broken reports.

use pipecheck_reports::{Evidence, LinkResult, Outcome, RunReport, ScenarioReport, junit};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

fn schema() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/schema/junit.xsd")
}

fn xmllint(file: &Path) -> Output {
    let out = Command::new("xmllint")
        .arg("--noout")
        .arg("--schema")
        .arg(schema())
        .arg(file)
        .output();
    match out {
        Ok(out) => out,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
            "xmllint not found: install libxml2-utils (apt-get install -y libxml2-utils) \
             to validate JUnit reports; CI installs it"
        ),
        Err(e) => panic!("failed to run xmllint: {e}"),
    }
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn link(name: &str, outcome: Outcome, verdict: &str, millis: u64) -> LinkResult {
    LinkResult {
        name: name.into(),
        outcome,
        verdict: verdict.into(),
        hint: None,
        evidence: vec![],
        duration: Duration::from_millis(millis),
        depends_on: vec![],
    }
}

fn report() -> RunReport {
    let mut fail = link(
        "amp.remote_write",
        Outcome::Fail,
        "rejected <403> & \"denied\"\nsecond line \u{0}\u{1b}[31mred\u{1b}[0m",
        61,
    );
    fail.hint = Some("grant aps:RemoteWrite\nthen retry ]]> <![CDATA[ x ]]>".into());
    fail.evidence = vec![
        Evidence::new(
            "request",
            "POST /workspaces/ws-1/api/v1/remote_write -> 403",
        ),
        Evidence::new(
            "response",
            "{\"message\":\"not authorized\"}\r\nbell\u{7} nul\u{0} del\u{7f} c1\u{9b} \u{fffe}\u{ffff} tab\tend",
        ),
        Evidence::new("log\u{1b}]0;title\u{7}", "ünïcødé 🦀 &amp; 'single'"),
    ];
    let mut warn = link(
        "grafana.datasource",
        Outcome::Warn,
        "region \u{b}differs",
        5,
    );
    warn.hint = Some("set sigV4Region".into());
    warn.evidence = vec![Evidence::new("data source", "uid amp-1")];

    RunReport {
        suites: vec![
            ScenarioReport {
                scenario: "adot-eks".into(),
                target: "mock".into(),
                run_id: "run-\u{1}42".into(),
                links: vec![
                    link("aws.identity", Outcome::Pass, "caller ok", 100),
                    fail,
                    link(
                        "amp.query",
                        Outcome::Blocked {
                            by: "amp.remote_write".into(),
                        },
                        "",
                        0,
                    ),
                    warn,
                    link(
                        "grafana.query",
                        Outcome::Blocked {
                            by: "amp.remote_write".into(),
                        },
                        "not run",
                        0,
                    ),
                ],
                root_cause: vec!["amp.remote_write".into()],
                duration: Duration::from_millis(166),
                // A value that needs escaping in XML.
                properties: vec![pipecheck_reports::Property::Interrupted(
                    "the \"--timeout\" of 1.5s <ok>".into(),
                )],
            },
            ScenarioReport {
                scenario: "empty".into(),
                target: "aws".into(),
                run_id: "r2".into(),
                links: vec![],
                root_cause: vec![],
                duration: Duration::ZERO,
                properties: vec![],
            },
        ],
    }
}

#[test]
fn pipecheck_junit_validates_against_the_schema() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pipecheck-report.xml");
    junit::write(&report(), &path).unwrap();
    let out = xmllint(&path);
    assert!(
        out.status.success(),
        "xmllint rejected pipecheck's JUnit report:\n{}\n{}",
        stderr(&out),
        std::fs::read_to_string(&path).unwrap()
    );
    assert!(stderr(&out).contains("validates"), "{}", stderr(&out));

    let xml = std::fs::read_to_string(&path).unwrap();
    for expected in [
        r#"<testsuite name="adot-eks@mock""#,
        r#"<testcase name="amp.remote_write" classname="pipecheck.adot-eks" time="0.061">"#,
        r#"<failure message="rejected &lt;403&gt; &amp; &quot;denied&quot; second line \u{0}red" type="amp.remote_write">hint:"#,
        r#"<skipped message="blocked by amp.remote_write"/>"#,
        "<system-out>warning: region \\u{b}differs",
        "tab    end",
        r#"<property name="root_cause" value="amp.remote_write"/>"#,
        r#"<property name="root_cause" value=""/>"#,
    ] {
        assert!(xml.contains(expected), "missing {expected}\n{xml}");
    }
}

/// A known-good document must pass, so that the rejections below come from the schema's
/// rules and not from a schema that fails to load.
const GOOD: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<testsuites name="x" tests="2" failures="1" errors="0" skipped="0" time="0.5" timestamp="2024-01-01T00:00:00Z">
  <testsuite name="s@mock" tests="2" failures="1" errors="0" skipped="0" time="0.5" hostname="h" id="0" package="p">
    <properties><property name="run_id" value="r"/></properties>
    <testcase name="a" classname="pipecheck.s" time="0.1" assertions="1" status="run"><system-out>ok</system-out></testcase>
    <testcase name="b" classname="pipecheck.s" time="0.4"><failure message="m" type="b">text</failure><system-err>e</system-err></testcase>
  </testsuite>
</testsuites>
"#;

#[test]
fn the_schema_rejects_broken_reports() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.xml");
    std::fs::write(&good, GOOD).unwrap();
    let out = xmllint(&good);
    assert!(
        out.status.success(),
        "known-good document rejected: {}",
        stderr(&out)
    );

    let cases = [
        (
            "testcase without name",
            GOOD.replace(r#"<testcase name="a" "#, "<testcase "),
        ),
        (
            "testsuite without name",
            GOOD.replace(r#"<testsuite name="s@mock" "#, "<testsuite "),
        ),
        ("property without value", GOOD.replace(r#" value="r""#, "")),
        (
            "negative time",
            GOOD.replace(r#"time="0.4""#, r#"time="-1""#),
        ),
        (
            "failure and skipped together",
            GOOD.replace("text</failure>", "text</failure><skipped/>"),
        ),
        (
            "unknown element",
            GOOD.replace("<system-out>ok", "<stdout/><system-out>ok"),
        ),
        (
            "unknown attribute",
            GOOD.replace(r#"type="b""#, r#"type="b" severity="high""#),
        ),
        ("testsuite as root", {
            let start = GOOD.find("<testsuite ").unwrap();
            let end = GOOD.find("</testsuites>").unwrap();
            format!("<?xml version=\"1.0\"?>\n{}", &GOOD[start..end])
        }),
    ];
    for (what, xml) in cases {
        assert_ne!(xml, GOOD, "{what}: the mutation did not apply");
        let path = dir.path().join("broken.xml");
        std::fs::write(&path, &xml).unwrap();
        let out = xmllint(&path);
        assert!(
            !out.status.success(),
            "{what}: accepted by the schema:\n{xml}"
        );
        assert!(
            stderr(&out).contains("fails to validate"),
            "{what}: {}",
            stderr(&out)
        );
    }
}
