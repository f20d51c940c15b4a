//! `POST /workspaces/{id}/api/v1/remote_write`: AMP's ingestion endpoint.
//!
//! Order of checks, as AMP's layers apply them: SigV4 (front end) -> workspace exists ->
//! IAM `aps:RemoteWrite` -> request-rate throttling -> body format -> per-series
//! validation (distributor) -> append (ingester). Valid series of a request are ingested
//! even when others fail; the first error is returned (amp-exact.md §2).

use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::routing::post;

use pipecheck_prompb as prompb;
#[cfg(test)]
use pipecheck_prompb::TimeSeries;

use super::error::AmpError;
use super::store::{AppendError, Labels, SeriesRef};
use super::wire::{self, Census, View};
use super::{AmpState, Throttle};
use crate::sigv4::read_verified;

pub fn router() -> Router<Arc<AmpState>> {
    Router::new().route("/workspaces/{id}/api/v1/remote_write", post(remote_write))
}

/// Decoded bytes allowed per byte of the decompressed body. A small real series (one
/// short label, one sample) decodes to about 5×; bodies of empty messages reach 8× to 20×.
const MAX_DECODED_PER_BYTE: usize = 6;

async fn remote_write(
    State(st): State<Arc<AmpState>>,
    Path(id): Path<String>,
    req: Request,
) -> Result<StatusCode, AmpError> {
    // The compressed body can be at most as large as the decompressed limit.
    let (parts, body, caller) = read_verified(
        req,
        "aps",
        &st.region,
        &st.identities,
        &st.clock,
        st.settings.max_skew,
        st.settings.max_request_bytes,
    )
    .await
    .map_err(AmpError::from)?;
    let (store, ws_arn) = st
        .with_workspace(&id, |w| (w.store.clone(), w.arn.clone()))
        .ok_or(AmpError::WorkspaceNotFound)?;
    if !caller.allows("aps:RemoteWrite") {
        return Err(AmpError::NotAuthorized {
            arn: caller.arn.clone(),
            action: "aps:RemoteWrite".into(),
            resource: ws_arn,
        });
    }
    throttle(&st, &caller.access_key_id)?;
    check_headers(&parts.headers)?;
    let decode_error = |e: prompb::DecodeError| match e {
        prompb::DecodeError::TooLarge { actual, limit } => AmpError::BadRequest(format!(
            "received message larger than max ({actual} vs {limit})"
        )),
        other => AmpError::BadRequest(error_chain(&other)),
    };
    // Borrowed decoding; prost (through prompb's types) for anything unusual or invalid.
    let raw = wire::decompress(&body, st.settings.max_request_bytes).map_err(decode_error)?;
    // Neither decoder allocates more than a few times the body: a body of empty messages
    // (two bytes each on the wire, tens in memory) is refused from its count.
    if let Some(census) = Census::of(&raw)
        && census.decoded_bytes() > MAX_DECODED_PER_BYTE.saturating_mul(raw.len()) + (1 << 20)
    {
        return Err(AmpError::BadRequest(format!(
            "the request holds {} series, {} labels and {} samples in {} bytes: too many empty messages for its size (refused by the pipecheck mock before decoding)",
            census.series,
            census.labels,
            census.samples,
            raw.len()
        )));
    }
    let decoded;
    let write = match View::parse(&raw) {
        Some(v) => v,
        None => {
            decoded = wire::decode_prost(&raw).map_err(decode_error)?;
            View::of(&decoded)
        }
    };

    let drop_samples = st.faults().drop_accepted_samples;
    let now_ms = st.clock.now_ms();
    // The first error in series order, validation's or the ingester's.
    let mut first_error: Option<(usize, String)> = None;
    // Every valid series' sorted labels, back to back; then its index and ranges.
    let mut sorted: Vec<(&str, &str)> = Vec::with_capacity(write.labels.len());
    let mut valid: Vec<(usize, Range<usize>, Range<usize>)> = Vec::new();
    for (i, s) in write.series.iter().enumerate() {
        let start = sorted.len();
        let samples = write.samples_of(s);
        match validate_view(
            write.labels_of(s),
            samples,
            s.histograms,
            &st.settings,
            now_ms,
            &mut sorted,
        ) {
            Ok(()) => {
                if drop_samples || samples.is_empty() {
                    sorted.truncate(start);
                } else {
                    valid.push((i, start..sorted.len(), s.samples.clone()));
                }
            }
            Err(msg) => {
                sorted.truncate(start);
                if first_error.is_none() {
                    first_error = Some((i, msg));
                }
            }
        }
    }
    let batch: Vec<SeriesRef> = valid
        .iter()
        .map(|(_, l, s)| (&sorted[l.clone()], &write.samples[s.clone()]))
        .collect();
    let window = st.settings.out_of_order_window.as_millis() as i64;
    store.append_batch(&batch, window, |k, result| {
        if let Err(e) = result
            && first_error.as_ref().is_none_or(|(j, _)| valid[k].0 < *j)
        {
            let labels = owned(batch[k].0);
            first_error = Some((
                valid[k].0,
                ingester_error(&e, &labels, &caller.account, &id),
            ));
        }
    });
    match first_error {
        None => Ok(StatusCode::OK),
        Some((_, msg)) => Err(AmpError::BadRequest(msg)),
    }
}

fn owned(labels: &[(&str, &str)]) -> Labels {
    labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn throttle(st: &AmpState, access_key_id: &str) -> Result<(), AmpError> {
    let mut faults = st.faults.lock().unwrap();
    if faults
        .throttle_only
        .as_deref()
        .is_some_and(|k| k != access_key_id)
    {
        return Ok(());
    }
    match faults.throttle_remote_write {
        Throttle::Off => Ok(()),
        Throttle::Always => Err(AmpError::Throttled),
        Throttle::Next(n) => {
            faults.throttle_remote_write = if n <= 1 {
                Throttle::Off
            } else {
                Throttle::Next(n - 1)
            };
            Err(AmpError::Throttled)
        }
    }
}

/// Current Cortex answers 415 for a body that is not snappy-compressed protobuf. A
/// missing User-Agent or version header is not refused: that AMP refuses them is
/// unconfirmed (amp-exact.md §2, "invent no error").
fn check_headers(h: &HeaderMap) -> Result<(), AmpError> {
    let get = |name: header::HeaderName| h.get(name).and_then(|v| v.to_str().ok()).unwrap_or("");
    let ct = get(header::CONTENT_TYPE);
    if !ct.starts_with("application/x-protobuf") {
        return Err(AmpError::UnsupportedMediaType(format!(
            "unsupported content type {ct:?}: remote write expects application/x-protobuf"
        )));
    }
    let enc = get(header::CONTENT_ENCODING);
    if !enc.eq_ignore_ascii_case("snappy") {
        return Err(AmpError::UnsupportedMediaType(format!(
            "unsupported content encoding {enc:?}: remote write expects snappy"
        )));
    }
    Ok(())
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

#[cfg(test)]
type Validated = (Labels, Vec<(i64, f64)>);

/// [`validate_view`] for one owned series (the unit tests' form).
#[cfg(test)]
fn validate(ts: &TimeSeries, s: &super::AmpSettings, now_ms: i64) -> Result<Validated, String> {
    let labels: Vec<(&str, &str)> = ts
        .labels
        .iter()
        .map(|l| (l.name.as_str(), l.value.as_str()))
        .collect();
    let samples: Vec<(i64, f64)> = ts.samples.iter().map(|x| (x.timestamp, x.value)).collect();
    let mut sorted = Vec::new();
    validate_view(
        &labels,
        &samples,
        !ts.histograms.is_empty(),
        s,
        now_ms,
        &mut sorted,
    )?;
    Ok((owned(&sorted), samples))
}

/// Cortex's distributor validation, in its order, with its messages
/// (util/validation/errors.go). Empty label values are dropped silently and unsorted
/// labels are sorted, as AMP does (amp-exact.md §1). The series' labels, so cleaned, are
/// pushed onto `sorted` (the caller truncates them away on an error).
pub(crate) fn validate_view<'a>(
    raw: &[(&'a str, &'a str)],
    samples: &[(i64, f64)],
    histograms: bool,
    s: &super::AmpSettings,
    now_ms: i64,
    sorted: &mut Vec<(&'a str, &'a str)>,
) -> Result<(), String> {
    let start = sorted.len();
    sorted.extend(raw.iter().filter(|(_, v)| !v.is_empty()));
    let labels = &mut sorted[start..];
    if !labels.is_sorted_by(|a, b| a.0 <= b.0) {
        labels.sort_by(|a, b| a.0.cmp(b.0));
    }
    let labels = &sorted[start..];
    // Messages quote the whole series; it is made only when one is written.
    let full = || owned(labels);
    let Some(name) = labels
        .iter()
        .find(|(k, _)| *k == "__name__")
        .map(|(_, v)| *v)
    else {
        return Err("sample missing metric name".to_string());
    };
    if !valid_metric_name(name) {
        return Err(format!(
            "sample invalid metric name: {}",
            go_quote(name, 200)
        ));
    }
    if labels.len() > s.max_labels_per_series {
        return Err(format!(
            "series has too many labels (actual: {}, limit: {}) series: '{}'",
            labels.len(),
            s.max_labels_per_series,
            format_series(name, &full())
        ));
    }
    for (i, &(k, v)) in labels.iter().enumerate() {
        if !valid_label_name(k) {
            return Err(format!(
                "sample invalid label: {} metric {}",
                go_quote(k, 200),
                go_quote(&format_series(name, &full()), 200)
            ));
        }
        if k.len() > s.max_label_name_len {
            return Err(format!(
                "label name too long for metric (actual: {}, limit: {}) metric: {} label name: {}",
                k.len(),
                s.max_label_name_len,
                go_quote(&format_series(name, &full()), 200),
                go_quote(k, 200)
            ));
        }
        if v.len() > s.max_label_value_len {
            return Err(format!(
                "label value too long for metric (actual: {}, limit: {}) metric: {} label name: {} label value: {}",
                v.len(),
                s.max_label_value_len,
                go_quote(&format_series(name, &full()), 200),
                go_quote(k, 200),
                go_quote(v, 200)
            ));
        }
        if i > 0 && labels[i - 1].0 == k {
            return Err(format!(
                "duplicate label name: {} metric {}",
                go_quote(k, 200),
                go_quote(&format_series(name, &full()), 200)
            ));
        }
    }
    let oldest = now_ms - s.max_sample_age.as_millis() as i64;
    let newest = now_ms + s.max_future.as_millis() as i64;
    for &(timestamp, _) in samples {
        if timestamp < oldest {
            return Err(format!(
                "timestamp too old: {} metric: {}",
                timestamp,
                go_quote(name, 200)
            ));
        }
        if timestamp > newest {
            return Err(format!(
                "timestamp too new: {} metric: {}",
                timestamp,
                go_quote(name, 200)
            ));
        }
    }
    if histograms {
        // AMP accepts native histograms (amp-exact.md §1.5); this mock stores float
        // samples only and says so instead of silently losing them.
        return Err(format!(
            "native histograms are not supported by the pipecheck mock: metric {}",
            go_quote(name, 200)
        ));
    }
    Ok(())
}

/// The ingester's message, as AMP (current Cortex) wraps it (amp-exact.md §2).
fn ingester_error(e: &AppendError, labels: &Labels, account: &str, ws: &str) -> String {
    let series = format_labels(labels);
    let inner = match e {
        AppendError::OutOfOrder { timestamp_ms, .. } => {
            format!(
                "err: out of order sample. timestamp={}, series={series}",
                rfc3339_nano(*timestamp_ms)
            )
        }
        AppendError::Duplicate { timestamp_ms, .. } => format!(
            "err: duplicate sample for timestamp. timestamp={}, series={series}",
            rfc3339_nano(*timestamp_ms)
        ),
    };
    format!(
        "maxFailure (quorum) on a given error family, rpc error: code = Code(400) desc = \
         addr=127.0.0.1:9095 state=ACTIVE zone=mock-1a, rpc error: code = Code(400) desc = \
         user={account}_{ws}: {inner}"
    )
}

fn rfc3339_nano(ms: i64) -> String {
    let t = time::OffsetDateTime::UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64);
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| ms.to_string())
}

// Bytes, not chars: every allowed character is ASCII, and no byte of a multi-byte
// character is, so the answers are the same without decoding UTF-8.
pub(crate) fn valid_metric_name(s: &str) -> bool {
    let mut bytes = s.bytes();
    matches!(bytes.next(), Some(c) if c.is_ascii_alphabetic() || c == b'_' || c == b':')
        && bytes.all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b':')
}

pub(crate) fn valid_label_name(s: &str) -> bool {
    let mut bytes = s.bytes();
    matches!(bytes.next(), Some(c) if c.is_ascii_alphabetic() || c == b'_')
        && bytes.all(|c| c.is_ascii_alphanumeric() || c == b'_')
}

/// `name{k="v", …}` without `__name__` (Cortex's formatLabelSet).
fn format_series(name: &str, labels: &Labels) -> String {
    let inner: Vec<String> = labels
        .iter()
        .filter(|(k, _)| k != "__name__")
        .map(|(k, v)| format!("{k}={}", go_quote(v, usize::MAX)))
        .collect();
    format!("{name}{{{}}}", inner.join(", "))
}

/// `{__name__="x", k="v"}` (Prometheus labels.String()).
fn format_labels(labels: &Labels) -> String {
    let inner: Vec<String> = labels
        .iter()
        .map(|(k, v)| format!("{k}={}", go_quote(v, usize::MAX)))
        .collect();
    format!("{{{}}}", inner.join(", "))
}

/// Go's `%.Nq`: a double-quoted string of at most `max` characters with Go escapes.
fn go_quote(s: &str, max: usize) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars().take(max) {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use pipecheck_prompb::{Label, Sample};

    fn series(labels: &[(&str, &str)], samples: &[(i64, f64)]) -> TimeSeries {
        TimeSeries {
            labels: labels.iter().map(|(k, v)| Label::new(*k, *v)).collect(),
            samples: samples
                .iter()
                .map(|&(timestamp, value)| Sample { value, timestamp })
                .collect(),
            ..Default::default()
        }
    }

    fn check(ts: TimeSeries) -> Result<Validated, String> {
        validate(
            &ts,
            &super::super::AmpSettings::default(),
            1_700_000_000_000,
        )
    }

    #[test]
    fn sorts_labels_and_drops_empty_values() {
        let (labels, _) = check(series(
            &[("job", "a"), ("__name__", "up"), ("empty", "")],
            &[],
        ))
        .unwrap();
        assert_eq!(
            labels,
            vec![("__name__".into(), "up".into()), ("job".into(), "a".into())]
        );
    }

    #[test]
    fn rejects_with_cortex_messages() {
        assert_eq!(
            check(series(&[("job", "a")], &[])).unwrap_err(),
            "sample missing metric name"
        );
        assert_eq!(
            check(series(&[("__name__", "1bad")], &[])).unwrap_err(),
            r#"sample invalid metric name: "1bad""#
        );
        assert_eq!(
            check(series(&[("__name__", "up"), ("1x", "a")], &[])).unwrap_err(),
            r#"sample invalid label: "1x" metric "up{1x=\"a\"}""#
        );
        assert_eq!(
            check(series(
                &[("__name__", "up"), ("job", "a"), ("job", "b")],
                &[]
            ))
            .unwrap_err(),
            r#"duplicate label name: "job" metric "up{job=\"a\", job=\"b\"}""#
        );
        let many: Vec<(String, String)> = (0..70)
            .map(|i| (format!("l{i:02}"), "v".to_string()))
            .collect();
        let mut labels: Vec<(&str, &str)> =
            many.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        labels.push(("__name__", "up"));
        let err = check(series(&labels, &[])).unwrap_err();
        assert!(
            err.starts_with("series has too many labels (actual: 71, limit: 70) series: 'up{"),
            "{err}"
        );
        let err = check(series(&[("__name__", "up")], &[(1, 1.0)])).unwrap_err();
        assert_eq!(err, r#"timestamp too old: 1 metric: "up""#);
    }

    #[test]
    fn names_are_checked_like_prometheus() {
        assert!(valid_metric_name("a:b_c1"));
        assert!(!valid_metric_name("1a"));
        assert!(!valid_metric_name(""));
        assert!(valid_label_name("_a1"));
        assert!(!valid_label_name("a:b"));
    }
}
