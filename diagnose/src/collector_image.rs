//! `--collector-image`: which OpenTelemetry collector components the image has (L6), and
//! with no image named, whether the current releases still have them (D21).
//!
//! The image reference is read as `[registry/]repository[:tag][@digest]`, or a bare tag
//! (`v0.17.0`, `0.17.0`), which is taken as ADOT's. ADOT images (`…/aws-otel-collector`)
//! are judged by [`ADOT_COMPONENTS`], the OpenTelemetry project's own distributions
//! (`otel/opentelemetry-collector[-contrib|-k8s]`, also on ghcr.io) by [`OTEL_COMPONENTS`];
//! any other image, or a component without a row, gives no finding. `latest` (or no tag
//! and no digest) is the current release: every component with a last release line is
//! gone from it. With no image at all (D21), the current release of either distribution
//! is assumed: the removals below happened in both.
//!
//! Sources of the rows (release notes):
//! - ADOT v0.21.0: `awsprometheusremotewriteexporter` removed (aws-otel-collector
//!   docs/releases/v0.21.0.md); v0.18.0 added `sigv4auth`.
//! - ADOT v0.42.0: the `logging` exporter and the `memory_ballast` extension removed
//!   (docs/releases/v0.42.0.md).
//! - OpenTelemetry v0.111.0: `logging` removed in favour of `debug`
//!   (open-telemetry/opentelemetry-collector#11337); v0.108.0: `memory_ballast` removed
//!   from the distributions (opentelemetry-collector-releases#607, #10995); v0.57.0:
//!   `awsprometheusremotewrite` removed from the distributions
//!   (opentelemetry-collector-releases#174).

use pipecheck_policy::path;

use super::context::Ctx;
use super::finding::{Finding, Severity};
use super::yaml::Node;

/// ADOT's image on ECR Public; the last path segment is what identifies ADOT.
pub(crate) const ADOT_REPOSITORY: &str = "public.ecr.aws/aws-observability/aws-otel-collector";
const ADOT_NAME: &str = "aws-otel-collector";
/// The OpenTelemetry project's distributions (last path segment).
const OTEL_NAMES: &[&str] = &[
    "opentelemetry-collector",
    "opentelemetry-collector-contrib",
    "opentelemetry-collector-k8s",
    "otelcol",
    "otelcol-contrib",
    "otelcol-k8s",
];

/// A release line, `major.minor`: the catalog's facts name lines, not patch releases.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Line(pub u32, pub u32);

impl std::fmt::Display for Line {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "v{}.{}", self.0, self.1)
    }
}

/// The section of a collector config a component is defined in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Section {
    Extensions,
    Exporters,
}

impl Section {
    fn key(self) -> &'static str {
        match self {
            Section::Extensions => "extensions",
            Section::Exporters => "exporters",
        }
    }

    fn kind(self) -> &'static str {
        match self {
            Section::Extensions => "extension",
            Section::Exporters => "exporter",
        }
    }
}

/// What to use instead of a component that left the image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Replacement {
    /// The `prometheusremotewrite` exporter signed by the `sigv4auth` extension.
    RemoteWriteWithSigv4,
    /// The `debug` exporter (same `verbosity`).
    Debug,
    /// The `GOMEMLIMIT` environment variable (and the `memory_limiter` processor).
    GoMemLimit,
}

/// A component whose presence depends on the version: in every release line from
/// `first` to `last` (inclusive; `None`: no bound known).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Component {
    pub section: Section,
    pub name: &'static str,
    pub first: Option<Line>,
    pub last: Option<Line>,
    pub instead: Option<Replacement>,
}

const fn row(
    section: Section,
    name: &'static str,
    first: Option<Line>,
    last: Option<Line>,
    instead: Option<Replacement>,
) -> Component {
    Component {
        section,
        name,
        first,
        last,
        instead,
    }
}

/// ADOT's facts, one row each: section, component type, first and last release line
/// with it, what replaces it (sources in the module docs).
#[rustfmt::skip]
pub(crate) const ADOT_COMPONENTS: &[Component] = &[
    row(Section::Extensions, "sigv4auth", Some(Line(0, 18)), None, None),
    row(Section::Exporters, "awsprometheusremotewrite", None, Some(Line(0, 20)), Some(Replacement::RemoteWriteWithSigv4)),
    row(Section::Exporters, "logging", None, Some(Line(0, 41)), Some(Replacement::Debug)),
    row(Section::Extensions, "memory_ballast", None, Some(Line(0, 41)), Some(Replacement::GoMemLimit)),
];

/// The OpenTelemetry distributions' facts (contrib, core, k8s; sources in the module docs).
#[rustfmt::skip]
pub(crate) const OTEL_COMPONENTS: &[Component] = &[
    row(Section::Exporters, "awsprometheusremotewrite", None, Some(Line(0, 56)), Some(Replacement::RemoteWriteWithSigv4)),
    row(Section::Exporters, "logging", None, Some(Line(0, 110)), Some(Replacement::Debug)),
    row(Section::Extensions, "memory_ballast", None, Some(Line(0, 107)), Some(Replacement::GoMemLimit)),
];

impl Component {
    fn has(&self, v: Line) -> bool {
        self.first.is_none_or(|f| v >= f) && self.last.is_none_or(|l| v <= l)
    }

    /// Whether the current release has it: only a last line removes it.
    fn in_current(&self) -> bool {
        self.last.is_none()
    }

    /// "ADOT has it since v0.18", "ADOT has it up to v0.20 and not after", …
    fn history(&self, who: &str) -> String {
        match (self.first, self.last) {
            (Some(f), Some(l)) => format!("{who} has it from {f} to {l}"),
            (Some(f), None) => format!("{who} has it since {f}"),
            (None, Some(l)) => format!("{who} has it up to {l} and not after"),
            (None, None) => format!("{who} has it"),
        }
    }
}

/// A container image reference, as given.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Image {
    pub reference: String,
    /// `None` for a bare tag.
    pub repository: Option<String>,
    pub tag: Option<String>,
    pub digest: Option<String>,
}

/// Which collector an image is, as far as L6 is concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Distribution {
    /// ADOT; `assumed` when only a tag was given.
    Adot {
        assumed: bool,
    },
    /// The OpenTelemetry project's own images (core, contrib, k8s).
    Otel,
    Other,
}

impl Distribution {
    fn table(self) -> &'static [Component] {
        match self {
            Distribution::Adot { .. } => ADOT_COMPONENTS,
            Distribution::Otel => OTEL_COMPONENTS,
            Distribution::Other => &[],
        }
    }

    fn who(self) -> &'static str {
        match self {
            Distribution::Adot { .. } => "ADOT",
            Distribution::Otel => "the OpenTelemetry collector",
            Distribution::Other => "the image",
        }
    }
}

impl Image {
    /// Reads `[registry/]repository[:tag][@digest]` or a bare version tag.
    pub fn parse(reference: &str) -> Result<Image, String> {
        let r = reference.trim();
        if r.is_empty() {
            return Err("an image reference is empty".into());
        }
        if r.chars().any(char::is_whitespace) {
            return Err("an image reference cannot contain spaces".into());
        }
        let (name, digest) = match r.split_once('@') {
            Some((n, d)) => {
                if !d.contains(':') || d.ends_with(':') {
                    return Err(format!("`@{d}` is not a digest (`@sha256:<hex>`)"));
                }
                (n, Some(d.to_string()))
            }
            None => (r, None),
        };
        let last_slash = name.rfind('/');
        let (repository, tag) = match name.rfind(':') {
            // A `:` before the last `/` is a registry port, not a tag.
            Some(i) if last_slash.is_none_or(|s| i > s) => (&name[..i], Some(&name[i + 1..])),
            _ => (name, None),
        };
        if tag == Some("") || (repository.is_empty() && tag.is_none() && digest.is_some()) {
            return Err("the tag or repository is missing".into());
        }
        let bare_tag = looks_like_version(repository) || repository == "latest";
        let (repository, tag) = if last_slash.is_none() && tag.is_none() && bare_tag {
            // `v0.17.0`, `latest`: a bare tag.
            (None, Some(repository))
        } else if repository.is_empty() {
            (None, tag)
        } else {
            (Some(repository), tag)
        };
        Ok(Image {
            reference: r.to_string(),
            repository: repository.map(str::to_string),
            tag: tag.map(str::to_string),
            digest,
        })
    }

    pub fn distribution(&self) -> Distribution {
        match &self.repository {
            None => Distribution::Adot { assumed: true },
            Some(r) if r.rsplit('/').next() == Some(ADOT_NAME) => {
                Distribution::Adot { assumed: false }
            }
            Some(r)
                if r.rsplit('/')
                    .next()
                    .is_some_and(|n| OTEL_NAMES.contains(&n)) =>
            {
                Distribution::Otel
            }
            Some(_) => Distribution::Other,
        }
    }

    /// The release line the tag names (`v0.17.0`, `0.21.1-amd64` …); `None` for a digest
    /// only, `latest`, or any other tag that is not a version.
    pub fn line(&self) -> Option<Line> {
        version_line(self.tag.as_deref()?)
    }

    /// `latest`, or neither tag nor digest (which pulls `latest`): the current release.
    pub fn is_current(&self) -> bool {
        match (&self.tag, &self.digest) {
            (Some(t), None) => t == "latest",
            (None, None) => true,
            _ => false,
        }
    }

    /// How messages name the image.
    fn said(&self) -> String {
        match self.distribution() {
            Distribution::Adot { assumed: true } => {
                format!(
                    "`{}` (a bare tag, taken as ADOT's {ADOT_REPOSITORY})",
                    self.reference
                )
            }
            _ => format!("`{}`", self.reference),
        }
    }
}

fn looks_like_version(s: &str) -> bool {
    version_line(s).is_some()
}

/// `v?MAJOR.MINOR[.PATCH][-suffix|+suffix]` → `MAJOR.MINOR`.
fn version_line(tag: &str) -> Option<Line> {
    let t = tag.strip_prefix('v').unwrap_or(tag);
    let core = t.split(['-', '+']).next().unwrap_or(t);
    let mut parts = core.split('.');
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    match parts.next() {
        None => {}
        Some(p) if p.parse::<u32>().is_ok() => {}
        Some(_) => return None,
    }
    if parts.next().is_some() {
        return None;
    }
    Some(Line(major, minor))
}

/// L6 for one OpenTelemetry config `doc` at `base` (its key path in the file), against
/// the image; D21 when no image is known (the current release).
pub(crate) fn check(ctx: &mut Ctx, file: &str, doc: &Node, base: &str) {
    let Some(image) = ctx.settings.collector_image.clone() else {
        current_release(ctx, file, doc, base);
        return;
    };
    let dist = image.distribution();
    let line = image.line();
    let current = image.is_current();
    for (c, e) in used(doc, dist.table()) {
        let at = path::key(&path::key(base, c.section.key()), &e.key);
        let what = format!("`{}` ({})", e.key, c.section.kind());
        let history = c.history(dist.who());
        let has = match line {
            Some(v) => c.has(v),
            None if current => c.in_current(),
            None => {
                ctx.push(Finding::new(
                    "L6",
                    Severity::Info,
                    file,
                    e.key_pos,
                    at,
                    format!(
                        "the version of {} cannot be told ({}), so whether it has {what} cannot either: {history}",
                        image.said(),
                        match (&image.tag, &image.digest) {
                            (None, Some(_)) => "a digest names no version",
                            _ => "its tag is not a version",
                        },
                    ),
                    "pass the image's version tag (`--collector-image …:vX.Y.Z`) to check it",
                ));
                continue;
            }
        };
        if has {
            continue;
        }
        let (fix, snippet) = fix(c, dist, &e.value);
        let which = if line.is_none() {
            format!("the image {} (the current release)", image.said())
        } else {
            format!("the image {}", image.said())
        };
        let mut f = Finding::new(
            "L6",
            Severity::Error,
            file,
            e.key_pos,
            at,
            format!(
                "{what} is not in {which}: {history}. The collector refuses the config at start (unknown type `{}`) and exits",
                c.name
            ),
            fix,
        );
        if let Some(s) = snippet {
            f = f.snippet(s);
        }
        ctx.push(f);
    }
}

/// The components of `doc` that `table` has a row for, with their entries.
fn used<'a>(
    doc: &'a Node,
    table: &'static [Component],
) -> Vec<(&'static Component, &'a super::yaml::Entry)> {
    let mut out = Vec::new();
    for c in table {
        let section = doc
            .get(c.section.key())
            .map(Node::entries)
            .unwrap_or_default();
        for e in section
            .iter()
            .filter(|e| e.key.split('/').next() == Some(c.name))
        {
            out.push((c, e));
        }
    }
    out.sort_by_key(|(_, e)| e.key_pos);
    out
}

/// D21: no image named, so the current release: components both ADOT and the
/// OpenTelemetry distributions removed.
fn current_release(ctx: &mut Ctx, file: &str, doc: &Node, base: &str) {
    for (c, e) in used(doc, ADOT_COMPONENTS) {
        if c.in_current() {
            continue;
        }
        let Some(otel) = OTEL_COMPONENTS
            .iter()
            .find(|o| o.name == c.name && o.section == c.section)
        else {
            continue;
        };
        if otel.in_current() {
            continue;
        }
        let at = path::key(&path::key(base, c.section.key()), &e.key);
        let (fix, snippet) = fix(c, Distribution::Adot { assumed: true }, &e.value);
        let mut f = Finding::new(
            "D21",
            Severity::Error,
            file,
            e.key_pos,
            at,
            format!(
                "`{}` ({}) is gone from the current collector releases: {}, {}. No image was named, so the current release is assumed: it refuses the config at start (unknown type `{}`) and exits",
                e.key,
                c.section.kind(),
                c.history("ADOT"),
                otel.history("the OpenTelemetry collector"),
                c.name
            ),
            format!(
                "{fix}; or name the image the collector runs (`--collector-image`) to judge against that version"
            ),
        );
        if let Some(s) = snippet {
            f = f.snippet(s);
        }
        ctx.push(f);
    }
}

/// The fix for a component the image lacks: an image version that has it, or its
/// replacement.
fn fix(c: &Component, dist: Distribution, component: &Node) -> (String, Option<String>) {
    let who = match dist {
        Distribution::Otel => "OpenTelemetry collector",
        _ => "ADOT",
    };
    let versions = match (c.first, c.last) {
        (Some(f), None) => format!("{who} {f}.0 or later"),
        (None, Some(l)) => format!("{who} {l} or earlier"),
        (Some(f), Some(l)) => format!("{who} {f}.0 to {l}"),
        (None, None) => format!("another {who} version"),
    };
    match c.instead {
        None => (
            format!("use an image that has it: {versions} (`{ADOT_REPOSITORY}:<version>`)"),
            None,
        ),
        Some(Replacement::RemoteWriteWithSigv4) => {
            // Keep the user's endpoint and region where the old exporter names them.
            let endpoint = component.get("endpoint").and_then(Node::str);
            let ep = endpoint.map(super::amp::endpoint).unwrap_or_default();
            let region = ep
                .region
                .clone()
                .or_else(|| {
                    component
                        .at(&["aws_auth", "region"])
                        .and_then(Node::str)
                        .map(str::to_string)
                })
                .unwrap_or_else(|| "<region>".into());
            let ws = ep.workspace.unwrap_or_else(|| "<ws-id>".into());
            (
                format!(
                    "replace `{}` with the `prometheusremotewrite` exporter signed by the `sigv4auth` extension (and list `prometheusremotewrite` in the pipeline's exporters), or stay on {versions}",
                    c.name
                ),
                Some(super::collector::otel_example(&region, &ws)),
            )
        }
        Some(Replacement::Debug) => (
            format!(
                "use the `debug` exporter instead (same `verbosity`; `loglevel` is gone) and name it in the pipelines' exporters, or stay on {versions}"
            ),
            Some("exporters:\n  debug:\n    verbosity: basic".to_string()),
        ),
        Some(Replacement::GoMemLimit) => (
            format!(
                "remove `memory_ballast` from `extensions` and `service.extensions` and set the GOMEMLIMIT environment variable instead (with the memory_limiter processor if needed), or stay on {versions}"
            ),
            Some("env:\n  - name: GOMEMLIMIT\n    value: 1600MiB".to_string()),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::Settings;
    use crate::yaml;

    fn image(s: &str) -> Image {
        Image::parse(s).unwrap()
    }

    #[test]
    fn image_references_and_their_versions() {
        let i = image("v0.17.0");
        assert_eq!(
            (i.repository.as_deref(), i.tag.as_deref()),
            (None, Some("v0.17.0"))
        );
        assert_eq!(i.distribution(), Distribution::Adot { assumed: true });
        assert_eq!(i.line(), Some(Line(0, 17)));
        assert_eq!(image("0.17.0").line(), Some(Line(0, 17)));
        let i = image("public.ecr.aws/aws-observability/aws-otel-collector:v0.21.0");
        assert_eq!(i.repository.as_deref(), Some(ADOT_REPOSITORY));
        assert_eq!(i.distribution(), Distribution::Adot { assumed: false });
        assert_eq!(i.line(), Some(Line(0, 21)));
        assert_eq!(
            image("amazon/aws-otel-collector:v0.20.1-amd64").line(),
            Some(Line(0, 20))
        );
        let i = image("public.ecr.aws/aws-observability/aws-otel-collector@sha256:0123abcd");
        assert_eq!((i.tag.as_deref(), i.line()), (None, None));
        assert_eq!(i.digest.as_deref(), Some("sha256:0123abcd"));
        let i = image("registry.local:5000/aws-otel-collector");
        assert_eq!(
            i.repository.as_deref(),
            Some("registry.local:5000/aws-otel-collector")
        );
        assert_eq!(
            (i.tag.as_deref(), i.distribution()),
            (None, Distribution::Adot { assumed: false })
        );
        assert_eq!(image("aws-otel-collector:latest").line(), None);
        let i = image("latest");
        assert_eq!((i.repository, i.tag.as_deref()), (None, Some("latest")));
        assert_eq!(
            image("otel/opentelemetry-collector-contrib:0.90.0").distribution(),
            Distribution::Otel
        );
        assert_eq!(
            image("grafana/alloy:v1.0.0").distribution(),
            Distribution::Other
        );
        for bad in ["", "  ", "a b", "x:", "x@sha256:", "@sha256:ab"] {
            assert!(Image::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn version_lines() {
        assert_eq!(version_line("v0.18"), Some(Line(0, 18)));
        assert_eq!(version_line("1.2.3+build"), Some(Line(1, 2)));
        assert_eq!(version_line("latest"), None);
        assert_eq!(version_line("v0"), None);
        assert_eq!(version_line("0.1.2.3"), None);
        assert!(Line(0, 9) < Line(0, 18) && Line(0, 18) < Line(1, 0));
    }

    #[test]
    fn the_table_bounds_are_inclusive() {
        let sigv4 = &ADOT_COMPONENTS[0];
        assert!(!sigv4.has(Line(0, 17)) && sigv4.has(Line(0, 18)) && sigv4.has(Line(0, 40)));
        let aws_prw = &ADOT_COMPONENTS[1];
        assert!(aws_prw.has(Line(0, 12)) && aws_prw.has(Line(0, 20)) && !aws_prw.has(Line(0, 21)));
    }

    fn run(image: Option<&str>, text: &str) -> Ctx {
        let mut ctx = Ctx::new(Settings {
            namespace: None,
            release: None,
            collector_image: image.map(|i| Image::parse(i).unwrap()),
        });
        let docs = yaml::parse(text).unwrap();
        check(&mut ctx, "otel.yaml", &docs[0], "");
        ctx
    }

    const CONFIG: &str = "extensions:\n  sigv4auth/amp:\n    region: us-east-1\nexporters:\n  awsprometheusremotewrite:\n    endpoint: https://aps-workspaces.eu-west-1.amazonaws.com/workspaces/ws-1/api/v1/remote_write\n";

    #[test]
    fn components_judged_against_the_image() {
        let ctx = run(Some("v0.17.0"), CONFIG);
        let got: Vec<_> = ctx
            .findings
            .iter()
            .map(|f| (f.line, f.key_path.as_str()))
            .collect();
        assert_eq!(got, [(2, "extensions.\"sigv4auth/amp\"")]);
        assert!(
            ctx.findings[0].fix.contains("ADOT v0.18.0 or later"),
            "{}",
            ctx.findings[0].fix
        );
        let ctx = run(
            Some("public.ecr.aws/aws-observability/aws-otel-collector:v0.21.0"),
            CONFIG,
        );
        assert_eq!(ctx.findings.len(), 1);
        let f = &ctx.findings[0];
        assert_eq!(
            (f.line, f.key_path.as_str()),
            (5, "exporters.awsprometheusremotewrite")
        );
        let snippet = f.snippet.as_deref().unwrap();
        assert!(
            snippet.contains("aps-workspaces.eu-west-1.amazonaws.com/workspaces/ws-1/"),
            "{snippet}"
        );
        assert!(run(Some("v0.20.0"), CONFIG).findings.is_empty());
        // Not ADOT, or no image: nothing is known.
        assert!(
            run(Some("otel/opentelemetry-collector-contrib:0.17.0"), CONFIG)
                .findings
                .is_empty()
        );
        // No image: the current release, which lost the old exporter (D21).
        let ctx = run(None, CONFIG);
        let got: Vec<_> = ctx
            .findings
            .iter()
            .map(|f| (f.id, f.severity, f.line))
            .collect();
        assert_eq!(got, [("D21", Severity::Error, 5)]);
        assert!(
            ctx.findings[0]
                .snippet
                .as_deref()
                .unwrap()
                .contains("sigv4auth")
        );
        // A digest only: the version cannot be told (info, per component with a bound).
        let ctx = run(
            Some("public.ecr.aws/aws-observability/aws-otel-collector@sha256:ab12"),
            CONFIG,
        );
        assert!(
            ctx.findings
                .iter()
                .all(|f| f.severity == Severity::Info && f.message.contains("cannot be told"))
        );
        assert_eq!(ctx.findings.len(), 2);
    }

    #[test]
    fn latest_is_the_current_release_and_otel_images_have_their_own_rows() {
        let cfg = "extensions:\n  memory_ballast:\n    size_mib: 512\nexporters:\n  logging:\n    loglevel: debug\n  debug: {}\n";
        for latest in [
            "public.ecr.aws/aws-observability/aws-otel-collector:latest",
            "public.ecr.aws/aws-observability/aws-otel-collector",
            "latest",
        ] {
            let ctx = run(Some(latest), cfg);
            let got: Vec<_> = ctx
                .findings
                .iter()
                .map(|f| (f.id, f.severity, f.line))
                .collect();
            assert_eq!(
                got,
                [("L6", Severity::Error, 2), ("L6", Severity::Error, 5)],
                "{latest}"
            );
            assert!(
                ctx.findings[1].fix.contains("`debug` exporter"),
                "{}",
                ctx.findings[1].fix
            );
        }
        // ADOT v0.41 still has both; v0.42 has neither.
        assert!(run(Some("v0.41.1"), cfg).findings.is_empty());
        assert_eq!(run(Some("v0.42.0"), cfg).findings.len(), 2);
        // The OpenTelemetry distributions: memory_ballast left in 0.108, logging in 0.111.
        let otel = |v: &str| {
            run(
                Some(&format!("otel/opentelemetry-collector-contrib:{v}")),
                cfg,
            )
            .findings
            .iter()
            .map(|f| f.line)
            .collect::<Vec<_>>()
        };
        assert_eq!(otel("0.107.0"), Vec::<usize>::new());
        assert_eq!(otel("0.108.0"), [2]);
        assert_eq!(otel("0.111.0"), [2, 5]);
        assert_eq!(
            image("ghcr.io/open-telemetry/opentelemetry-collector-releases/opentelemetry-collector-k8s:0.120.0").distribution(),
            Distribution::Otel
        );
        // Components not in the table are never judged.
        assert!(run(None, "exporters:\n  debug: {}\n").findings.is_empty());
    }
}
