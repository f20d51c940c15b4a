//! Reading the user's files: each is read whole, checked to be UTF-8, and parsed with
//! positions. Anything unreadable or unparsable is a [`DiagnoseError`] (exit code 2) that
//! names the file, the line and the column.

use std::io;
use std::path::{Path, PathBuf};

use pipecheck_reports::JunitError;

use super::json::JsonDoc;
use super::yaml::{self, Node};

/// Why `pipecheck diagnose` could not look at the files at all (exit code 2).
#[derive(Debug, thiserror::Error)]
pub enum DiagnoseError {
    #[error("failed to read {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// A FIFO, a device, a directory: nothing diagnose can read whole, at once.
    #[error("failed to read {}: {what}, not a regular file", path.display())]
    NotAFile { path: PathBuf, what: &'static str },
    #[error("failed to read {}: it is {size} bytes, more than the {max} bytes a configuration file can be", path.display())]
    TooLarge { path: PathBuf, size: u64, max: u64 },
    #[error("failed to read {} as text: not UTF-8 at line {line}, column {column}", path.display())]
    NotUtf8 {
        path: PathBuf,
        line: usize,
        column: usize,
    },
    #[error("failed to parse {} as YAML at line {line}, column {column}", path.display())]
    Yaml {
        path: PathBuf,
        line: usize,
        column: usize,
        #[source]
        source: ParseMessage,
    },
    #[error("failed to parse {} as JSON at line {line}, column {column}", path.display())]
    Json {
        path: PathBuf,
        line: usize,
        column: usize,
        #[source]
        source: ParseMessage,
    },
    #[error("failed to read {} as the Prometheus CRD: {why}", path.display())]
    NotPrometheusCrd { path: PathBuf, why: String },
    #[error("failed to read --collector-image `{reference}`: {why}")]
    CollectorImage { reference: String, why: String },
    #[error(transparent)]
    Report(#[from] JunitError),
    #[error("failed to write the findings to stdout")]
    Stdout(#[source] io::Error),
}

/// A parser's own message, as the cause of a [`DiagnoseError`]. Redacted: a parser may
/// quote the text it stumbled on.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ParseMessage(pub String);

impl ParseMessage {
    fn new(message: &str) -> ParseMessage {
        ParseMessage(super::secrets::Secrets::default().redact(message))
    }
}

/// What the user said a file is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Role {
    HelmValues,
    TrustPolicy,
    PermissionPolicy,
    CollectorConfig,
    /// The installed Prometheus CRD.
    Crd,
    GrafanaDatasource,
    /// A positional file: what it is is read from its content ([`super::recognize`]).
    Auto,
}

impl Role {
    pub fn flag(self) -> &'static str {
        match self {
            Role::Auto => "auto-detected",
            Role::HelmValues => "--helm-values",
            Role::TrustPolicy => "--trust-policy",
            Role::PermissionPolicy => "--permission-policy",
            Role::CollectorConfig => "--collector-config",
            Role::Crd => "--crd",
            Role::GrafanaDatasource => "--grafana-datasource",
        }
    }
}

#[derive(Debug)]
pub(crate) enum Body {
    /// Every document of the stream (none for an empty file).
    Yaml(Vec<Node>),
    Json(JsonDoc),
}

/// One file given on the command line, parsed.
#[derive(Debug)]
pub(crate) struct Input {
    pub role: Role,
    /// As given on the command line; what findings name.
    pub name: String,
    pub body: Body,
    /// A JSON body as a [`Node`] tree (what recognition and the YAML-shaped checks read).
    pub json_node: Option<Node>,
    /// A YAML role's file that is JSON as well (a policy given as `--helm-values`): the
    /// JSON, so the policy checks can read it.
    pub also_json: Option<JsonDoc>,
    /// The `{{ … }}` template actions masked before parsing ([`amp::mask_templates`]):
    /// `ZTPL<n>` in a value is the `n`th.
    pub templates: Vec<String>,
}

impl Input {
    /// A parsed file with nothing masked.
    #[cfg(test)]
    pub fn new(role: Role, name: &str, body: Body) -> Input {
        let json_node = match &body {
            Body::Json(j) => Some(j.to_node()),
            Body::Yaml(_) => None,
        };
        Input {
            role,
            name: name.to_string(),
            body,
            json_node,
            also_json: None,
            templates: Vec::new(),
        }
    }

    pub fn yaml(&self) -> &[Node] {
        match &self.body {
            Body::Yaml(docs) => docs,
            Body::Json(_) => &[],
        }
    }

    /// Every document: the YAML stream's, or the JSON document's tree.
    pub fn docs(&self) -> &[Node] {
        match (&self.body, &self.json_node) {
            (Body::Yaml(docs), _) => docs,
            (Body::Json(_), Some(n)) => std::slice::from_ref(n),
            (Body::Json(_), None) => &[],
        }
    }

    pub fn json(&self) -> Option<&JsonDoc> {
        match &self.body {
            Body::Json(d) => Some(d),
            Body::Yaml(_) => self.also_json.as_ref(),
        }
    }

    /// The template action a masked token stands for (`ZTPL3___` → the 4th action).
    pub fn template(&self, token: &str) -> Option<&str> {
        let n: usize = token
            .strip_prefix("ZTPL")?
            .trim_end_matches('_')
            .parse()
            .ok()?;
        self.templates.get(n).map(String::as_str)
    }
}

/// Reads and parses one file: YAML for helm values, collector configs and the CRD
/// (`kubectl -o json` is YAML too), JSON for policies; a Grafana data source is JSON when
/// it starts with `{` or `[` (the HTTP API's), else YAML (provisioning). The CRD must be
/// the Prometheus CRD.
/// The largest file diagnose reads (stated in `--help`): configuration files are
/// kilobytes; a bigger one is a mistake, and reading it whole would cost its size many
/// times over in parsed nodes.
pub const MAX_FILE_BYTES: u64 = 4 << 20;

/// A file's bytes, if it is a regular file within [`MAX_FILE_BYTES`]: a FIFO would hang
/// the read, a device (`/dev/zero`) would never end, so both are refused from their
/// metadata, before opening; the size is checked from the metadata and again while
/// reading (a file that grows meanwhile).
pub(crate) fn read_file(path: &Path) -> Result<Vec<u8>, DiagnoseError> {
    use std::io::Read;
    let read_err = |source| DiagnoseError::Read {
        path: path.to_owned(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(read_err)?;
    let kind = meta.file_type();
    if !kind.is_file() {
        return Err(DiagnoseError::NotAFile {
            path: path.to_owned(),
            what: file_kind(&kind),
        });
    }
    let too_large = |size| DiagnoseError::TooLarge {
        path: path.to_owned(),
        size,
        max: MAX_FILE_BYTES,
    };
    if meta.len() > MAX_FILE_BYTES {
        return Err(too_large(meta.len()));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    std::fs::File::open(path)
        .map_err(read_err)?
        .take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(read_err)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(too_large(bytes.len() as u64));
    }
    Ok(bytes)
}

fn file_kind(kind: &std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if kind.is_fifo() {
            return "a FIFO";
        }
        if kind.is_char_device() || kind.is_block_device() {
            return "a device";
        }
        if kind.is_socket() {
            return "a socket";
        }
    }
    if kind.is_dir() {
        "a directory"
    } else {
        "not a regular file"
    }
}

pub(crate) fn load(role: Role, path: &Path) -> Result<Input, DiagnoseError> {
    let bytes = read_file(path)?;
    let text = String::from_utf8(bytes).map_err(|e| {
        let (line, column) = line_col(&e.as_bytes()[..e.utf8_error().valid_up_to()]);
        DiagnoseError::NotUtf8 {
            path: path.to_owned(),
            line,
            column,
        }
    })?;
    let name = path.display().to_string();
    // Helm and Go templates: `{{ … }}` masked so the file parses with its positions.
    let (text, templates) = super::amp::mask_templates(&text);
    let looks_json = {
        let start = text.trim_start_matches(|c: char| c == '\u{feff}' || c.is_whitespace());
        start.starts_with(['{', '['])
    };
    let as_yaml = |text: &str| {
        yaml::parse(text)
            .map(Body::Yaml)
            .map_err(|e| DiagnoseError::Yaml {
                path: path.to_owned(),
                line: e.pos.line,
                column: e.pos.column,
                source: ParseMessage::new(&e.message),
            })
    };
    let as_json = |text: &str| {
        // Editors on Windows write a byte-order mark that serde_json refuses.
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        JsonDoc::parse(text)
            .map(Body::Json)
            .map_err(|e| DiagnoseError::Json {
                path: path.to_owned(),
                line: e.pos.line,
                column: e.pos.column,
                source: ParseMessage::new(&e.message),
            })
    };
    let body = match role {
        Role::HelmValues | Role::CollectorConfig | Role::Crd => as_yaml(&text)?,
        Role::TrustPolicy | Role::PermissionPolicy => as_json(&text)?,
        Role::GrafanaDatasource | Role::Auto => {
            if looks_json {
                as_json(&text)?
            } else {
                as_yaml(&text)?
            }
        }
    };
    if role == Role::Crd
        && let Body::Yaml(docs) = &body
    {
        super::crd::read(docs).map_err(|why| DiagnoseError::NotPrometheusCrd {
            path: path.to_owned(),
            why,
        })?;
    }
    let json_node = match &body {
        Body::Json(j) => Some(j.to_node()),
        Body::Yaml(_) => None,
    };
    // A JSON file given with a YAML role is read as YAML (JSON is YAML); keep the JSON too,
    // in case it is a policy given under the wrong flag.
    let also_json = match (&body, looks_json) {
        (Body::Yaml(_), true) => {
            JsonDoc::parse(text.strip_prefix('\u{feff}').unwrap_or(&text)).ok()
        }
        _ => None,
    };
    Ok(Input {
        role,
        name,
        body,
        json_node,
        also_json,
        templates,
    })
}

/// 1-based line and column just after `prefix`.
fn line_col(prefix: &[u8]) -> (usize, usize) {
    let line = 1 + prefix.iter().filter(|&&b| b == b'\n').count();
    let last = prefix
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(prefix, |i| &prefix[i + 1..]);
    let column = 1 + last.iter().filter(|&&b| b & 0xC0 != 0x80).count();
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_of_invalid_utf8() {
        assert_eq!(line_col(b""), (1, 1));
        assert_eq!(line_col(b"ab\ncd"), (2, 3));
        assert_eq!(line_col("é".as_bytes()), (1, 2));
    }

    #[test]
    fn errors_read_as_one_line_with_position() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("v.yaml");
        std::fs::write(&p, "a: b: c\n").unwrap();
        let e = load(Role::HelmValues, &p).unwrap_err();
        assert!(
            e.to_string().ends_with("as YAML at line 1, column 5"),
            "{e}"
        );
        let p = dir.path().join("t.json");
        std::fs::write(&p, "{\"a\": }").unwrap();
        let e = load(Role::TrustPolicy, &p).unwrap_err();
        assert!(
            e.to_string().ends_with("as JSON at line 1, column 7"),
            "{e}"
        );
        let p = dir.path().join("b.yaml");
        std::fs::write(&p, b"a: \xff\n").unwrap();
        let e = load(Role::CollectorConfig, &p).unwrap_err();
        assert!(
            e.to_string().ends_with("not UTF-8 at line 1, column 4"),
            "{e}"
        );
        let e = load(Role::CollectorConfig, &dir.path().join("missing.yaml")).unwrap_err();
        assert!(matches!(e, DiagnoseError::Read { .. }));
        let p = dir.path().join("deploy.yaml");
        std::fs::write(&p, "kind: Deployment\nmetadata:\n  name: x\n").unwrap();
        let e = load(Role::Crd, &p).unwrap_err();
        assert!(
            e.to_string()
                .contains("as the Prometheus CRD: it holds a `Deployment` named `x`"),
            "{e}"
        );
        // A Grafana data source is JSON when it looks like JSON, else YAML.
        let p = dir.path().join("ds.txt");
        std::fs::write(&p, " [{\"type\": \"prometheus\"}]").unwrap();
        assert!(load(Role::GrafanaDatasource, &p).unwrap().json().is_some());
        std::fs::write(&p, "{\"type\": }").unwrap();
        let e = load(Role::GrafanaDatasource, &p).unwrap_err();
        assert!(
            e.to_string().ends_with("as JSON at line 1, column 10"),
            "{e}"
        );
        std::fs::write(&p, "apiVersion: 1\ndatasources: []\n").unwrap();
        assert_eq!(load(Role::GrafanaDatasource, &p).unwrap().yaml().len(), 1);
        let p = dir.path().join("bom.json");
        std::fs::write(&p, "\u{feff}{\"Statement\": []}").unwrap();
        assert!(load(Role::PermissionPolicy, &p).is_ok());
    }
}
