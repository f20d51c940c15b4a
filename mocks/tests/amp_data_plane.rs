//! The mock AMP's data plane answers as AMP does: every request here goes through the full
//! router (`oneshot`, no socket), signed with aws-sigv4 the way a client signs. Each
//! strictness case fails if the mock accepts what AMP refuses.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::body::Body;
use http::{Request, StatusCode};
use pipecheck_mocks::amp::{self, AmpFaults, AmpSettings, AmpState, Throttle, Workspace};
use pipecheck_mocks::clock::Clock;
use pipecheck_mocks::identity::{Identities, Identity};
use pipecheck_mocks::sigv4::sign_as_client;
use pipecheck_prompb::{Label, Sample, TimeSeries, WriteRequest};
use tower::ServiceExt;

const REGION: &str = "us-east-1";
const WS: &str = "ws-00000000-0000-4000-8000-000000000001";
const HOST: &str = "aps-workspaces.us-east-1.amazonaws.com";

struct Mock {
    state: Arc<AmpState>,
    user: Identity,
}

fn mock() -> Mock {
    mock_with(AmpSettings::default())
}

fn mock_with(settings: AmpSettings) -> Mock {
    let (ids, user) = Identities::with_default_user();
    let clock = Arc::new(Clock::default());
    let state = Arc::new(AmpState::new(
        REGION,
        settings,
        Arc::new(ids),
        clock.clone(),
    ));
    state.insert_workspace(Workspace::new(WS.to_string(), REGION, None, clock.now()));
    Mock { state, user }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// How a test client signs.
struct Signing<'a> {
    user: Option<&'a Identity>,
    region: &'a str,
    service: &'a str,
    time: SystemTime,
}

fn signing(user: &Identity) -> Signing<'_> {
    Signing {
        user: Some(user),
        region: REGION,
        service: "aps",
        time: SystemTime::now(),
    }
}

fn build(
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
    s: &Signing<'_>,
) -> Request<Body> {
    let uri = format!("https://{HOST}{path}");
    let mut req = Request::builder()
        .method(method)
        .uri(&uri)
        .header("host", HOST);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let mut req = req.body(body).unwrap();
    if let Some(user) = s.user {
        sign_as_client(&mut req, user, s.region, s.service, s.time).unwrap();
    }
    req.map(Body::from)
}

fn series(name: &str, extra: &[(&str, &str)], samples: &[(i64, f64)]) -> TimeSeries {
    let mut labels = vec![Label::new("__name__", name)];
    labels.extend(extra.iter().map(|(k, v)| Label::new(*k, *v)));
    TimeSeries {
        labels,
        samples: samples
            .iter()
            .map(|&(timestamp, value)| Sample { value, timestamp })
            .collect(),
        ..Default::default()
    }
}

const RW_HEADERS: &[(&str, &str)] = &[
    ("content-type", "application/x-protobuf"),
    ("content-encoding", "snappy"),
    ("x-prometheus-remote-write-version", "0.1.0"),
    ("user-agent", "test/1"),
];

async fn send(m: &Mock, req: Request<Body>) -> (StatusCode, String) {
    let resp = amp::router(m.state.clone()).oneshot(req).await.unwrap();
    let status = resp.status();
    let body = axum::body::to_bytes(resp.into_body(), 1 << 20)
        .await
        .unwrap();
    (status, String::from_utf8_lossy(&body).into_owned())
}

async fn write_with(m: &Mock, ts: Vec<TimeSeries>, s: &Signing<'_>) -> (StatusCode, String) {
    let body = pipecheck_prompb::encode(&WriteRequest {
        timeseries: ts,
        metadata: vec![],
    });
    send(
        m,
        build(
            "POST",
            &format!("/workspaces/{WS}/api/v1/remote_write"),
            RW_HEADERS,
            body,
            s,
        ),
    )
    .await
}

async fn query(m: &Mock, q: &str) -> (StatusCode, serde_json::Value) {
    let body = form_urlencoded::Serializer::new(String::new())
        .append_pair("query", q)
        .append_pair("time", &format!("{}", now_ms() as f64 / 1000.0))
        .finish();
    let req = build(
        "POST",
        &format!("/workspaces/{WS}/api/v1/query"),
        &[("content-type", "application/x-www-form-urlencoded")],
        body.into_bytes(),
        &signing(&m.user),
    );
    let (status, body) = send(m, req).await;
    (
        status,
        serde_json::from_str(&body).unwrap_or(serde_json::Value::String(body)),
    )
}

#[tokio::test]
async fn a_signed_write_is_stored_and_queryable() {
    let m = mock();
    let t = now_ms();
    let (status, body) = write_with(
        &m,
        vec![series("up", &[("job", "a")], &[(t, 1.5)])],
        &signing(&m.user),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.is_empty());
    let (status, v) = query(&m, "up{job=\"a\"}").await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["status"], "success");
    assert_eq!(v["data"]["resultType"], "vector");
    assert_eq!(v["data"]["result"][0]["metric"]["job"], "a");
    assert_eq!(v["data"]["result"][0]["value"][1], "1.5");
}

#[tokio::test]
async fn unsigned_writes_are_refused() {
    let m = mock();
    let s = Signing {
        user: None,
        ..signing(&m.user)
    };
    let (status, body) = write_with(&m, vec![series("up", &[], &[(now_ms(), 1.0)])], &s).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body, r#"{"message":"Missing Authentication Token"}"#);
    assert_eq!(m.state.store(WS).unwrap().sample_count(), 0);
}

#[tokio::test]
async fn writes_signed_for_another_region_or_service_are_refused() {
    let m = mock();
    let s = Signing {
        region: "eu-west-1",
        ..signing(&m.user)
    };
    let (status, body) = write_with(&m, vec![series("up", &[], &[(now_ms(), 1.0)])], &s).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(body.contains("scoped to a valid region"), "{body}");
    let s = Signing {
        service: "execute-api",
        ..signing(&m.user)
    };
    let (status, body) = write_with(&m, vec![series("up", &[], &[(now_ms(), 1.0)])], &s).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(body.contains("scoped to correct service: 'aps'"), "{body}");
}

#[tokio::test]
async fn writes_from_a_skewed_clock_are_refused() {
    let m = mock();
    for skew in [-360i64, 360] {
        let time = if skew < 0 {
            SystemTime::now() - Duration::from_secs(360)
        } else {
            SystemTime::now() + Duration::from_secs(360)
        };
        let s = Signing {
            time,
            ..signing(&m.user)
        };
        let (status, body) = write_with(&m, vec![series("up", &[], &[(now_ms(), 1.0)])], &s).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "skew {skew}");
        assert!(
            body.contains("Signature expired") || body.contains("Signature not yet current"),
            "{body}"
        );
    }
}

#[tokio::test]
async fn a_tampered_body_is_refused() {
    let m = mock();
    let good = pipecheck_prompb::encode(&WriteRequest {
        timeseries: vec![series("up", &[], &[(now_ms(), 1.0)])],
        metadata: vec![],
    });
    let mut req = build(
        "POST",
        &format!("/workspaces/{WS}/api/v1/remote_write"),
        RW_HEADERS,
        good.clone(),
        &signing(&m.user),
    );
    let evil = pipecheck_prompb::encode(&WriteRequest {
        timeseries: vec![series("up", &[], &[(now_ms(), 666.0)])],
        metadata: vec![],
    });
    assert_eq!(evil.len(), good.len());
    *req.body_mut() = Body::from(evil);
    let (status, body) = send(&m, req).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(body.contains("does not match"), "{body}");
    assert!(
        body.contains("The Canonical String for this request should have been"),
        "{body}"
    );
    assert_eq!(m.state.store(WS).unwrap().sample_count(), 0);
}

/// F31: a value added to a signed header after signing (an agent adding its
/// `x-agent-id`) gives AMP's 403 with the canonical string computed from the request as it
/// arrived, listing both values; a header nobody signed may be added freely.
#[tokio::test]
async fn a_header_added_after_signing_is_shown_in_the_canonical_string() {
    let m = mock();
    let body = pipecheck_prompb::encode(&WriteRequest {
        timeseries: vec![series("up", &[], &[(now_ms(), 1.0)])],
        metadata: vec![],
    });
    let path = format!("/workspaces/{WS}/api/v1/remote_write");
    let headers = [RW_HEADERS, &[("x-agent-id", "writer-1")]].concat();
    let mut req = build("POST", &path, &headers, body.clone(), &signing(&m.user));
    req.headers_mut()
        .append("x-agent-id", "agent-7".parse().unwrap());
    let (status, text) = send(&m, req).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let msg = v["message"].as_str().unwrap();
    assert!(msg.starts_with("The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.\n\nThe Canonical String for this request should have been\n'POST\n/workspaces/"), "{msg}");
    assert!(msg.contains("\nx-agent-id:writer-1,agent-7\n"), "{msg}");
    let signed_line = msg.lines().find(|l| l.contains(";x-amz-date")).unwrap();
    assert!(signed_line.split(';').any(|h| h == "x-agent-id"), "{msg}");
    assert!(
        msg.contains("'\n\nThe String-to-Sign should have been\n'AWS4-HMAC-SHA256\n"),
        "{msg}"
    );
    assert!(msg.ends_with("'\n"), "{msg}");

    let mut req = build("POST", &path, &headers, body, &signing(&m.user));
    req.headers_mut()
        .append("x-forwarded-for", "10.0.0.1".parse().unwrap());
    assert_eq!(send(&m, req).await.0, StatusCode::OK);
}

#[tokio::test]
async fn a_wrong_secret_and_an_unknown_key_are_refused() {
    let m = mock();
    let mut wrong = m.user.clone();
    wrong.secret_access_key = "not-the-secret".into();
    let (status, body) = write_with(
        &m,
        vec![series("up", &[], &[(now_ms(), 1.0)])],
        &signing(&wrong),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(body.contains("does not match"), "{body}");
    let mut unknown = m.user.clone();
    unknown.access_key_id = "AKIAUNKNOWN000000000".into();
    let (status, body) = write_with(
        &m,
        vec![series("up", &[], &[(now_ms(), 1.0)])],
        &signing(&unknown),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(
        body.contains("security token included in the request is invalid"),
        "{body}"
    );
}

#[tokio::test]
async fn an_identity_without_remote_write_is_denied() {
    let m = mock();
    m.state.identities.update(&m.user.access_key_id, |id| {
        id.allowed_actions = ["aps:QueryMetrics".to_string()].into()
    });
    let (status, body) = write_with(
        &m,
        vec![series("up", &[], &[(now_ms(), 1.0)])],
        &signing(&m.user),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(body.starts_with(r#"{"Message":"User: arn:aws:iam::111122223333:user/pipecheck is not authorized to perform: aps:RemoteWrite on resource: arn:aws:aps:us-east-1:111122223333:workspace/"#), "{body}");
}

#[tokio::test]
async fn an_unknown_workspace_is_404() {
    let m = mock();
    let body = pipecheck_prompb::encode(&WriteRequest::default());
    let req = build(
        "POST",
        "/workspaces/ws-nope/api/v1/remote_write",
        RW_HEADERS,
        body,
        &signing(&m.user),
    );
    let (status, body) = send(&m, req).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body, r#"{"Message":"Workspace not found"}"#);
}

#[tokio::test]
async fn bad_formats_are_refused() {
    let m = mock();
    let raw = prost::Message::encode_to_vec(&WriteRequest {
        timeseries: vec![series("up", &[], &[(now_ms(), 1.0)])],
        metadata: vec![],
    });
    // Uncompressed protobuf labelled as snappy.
    let req = build(
        "POST",
        &format!("/workspaces/{WS}/api/v1/remote_write"),
        RW_HEADERS,
        raw.clone(),
        &signing(&m.user),
    );
    let (status, body) = send(&m, req).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body.ends_with('\n'),
        "Cortex's plain-text bodies end in a newline: {body:?}"
    );
    // Wrong content type.
    let mut headers = RW_HEADERS.to_vec();
    headers[0] = ("content-type", "application/json");
    let req = build(
        "POST",
        &format!("/workspaces/{WS}/api/v1/remote_write"),
        &headers,
        raw,
        &signing(&m.user),
    );
    let (status, _) = send(&m, req).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    // GET is not a remote write.
    let req = build(
        "GET",
        &format!("/workspaces/{WS}/api/v1/remote_write"),
        &[],
        vec![],
        &signing(&m.user),
    );
    let (status, _) = send(&m, req).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn invalid_series_are_refused_but_valid_ones_in_the_same_request_are_kept() {
    let m = mock();
    let t = now_ms();
    let (status, body) = write_with(
        &m,
        vec![
            series("good", &[], &[(t, 1.0)]),
            series("1bad", &[], &[(t, 1.0)]),
        ],
        &signing(&m.user),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body, "sample invalid metric name: \"1bad\"\n");
    let (_, v) = query(&m, "good").await;
    assert_eq!(v["data"]["result"][0]["value"][1], "1");
}

/// Validation runs over the whole request before the store appends it (in batches), so
/// the answer must still be the error of the first failing series, whichever kind.
#[tokio::test]
async fn the_first_failing_series_names_the_error_and_every_valid_one_is_kept() {
    let m = mock();
    // In the past, so that every sample written here is visible to a query at now.
    let t = now_ms() - 10_000;
    let bulk = |i: usize, s: &[(i64, f64)]| series("bulk", &[("i", &i.to_string())], s);
    let first: Vec<TimeSeries> = (0..3000).map(|i| bulk(i, &[(t, 1.0)])).collect();
    let (status, _) = write_with(&m, first, &signing(&m.user)).await;
    assert_eq!(status, StatusCode::OK);
    let mut second: Vec<TimeSeries> = (0..3000).map(|i| bulk(i, &[(t + 1000, 2.0)])).collect();
    second[2500] = series("1bad", &[], &[(t, 1.0)]);
    second[1500] = bulk(1500, &[(t, 5.0)]);
    let (status, body) = write_with(&m, second.clone(), &signing(&m.user)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body.contains("duplicate sample for timestamp") && body.contains(r#"i="1500""#),
        "{body}"
    );
    // Swapped: the validation error comes first now.
    let mut third = second;
    third.swap(1500, 2500);
    for s in third.iter_mut().filter(|s| s.labels[0].value == "bulk") {
        s.samples[0].timestamp += 1000;
    }
    let (status, body) = write_with(&m, third, &signing(&m.user)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body, "sample invalid metric name: \"1bad\"\n");
    let (_, v) = query(&m, "count(bulk)").await;
    assert_eq!(v["data"]["result"][0]["value"][1], "3000");
    let (_, v) = query(&m, r#"bulk{i="2999"}"#).await;
    assert_eq!(v["data"]["result"][0]["value"][1], "2");
}

#[tokio::test]
async fn out_of_order_and_duplicate_samples_get_the_ingester_errors() {
    let m = mock();
    let t = now_ms();
    let (status, body) = write_with(
        &m,
        vec![series("c", &[], &[(t, 2.0), (t - 1000, 1.0)])],
        &signing(&m.user),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body.contains("user=111122223333_ws-")
            && body.contains("err: out of order sample. timestamp="),
        "{body}"
    );
    let (status, body) =
        write_with(&m, vec![series("c", &[], &[(t, 3.0)])], &signing(&m.user)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body.contains("err: duplicate sample for timestamp"),
        "{body}"
    );
    // The same value again is not an error.
    let (status, _) = write_with(&m, vec![series("c", &[], &[(t, 2.0)])], &signing(&m.user)).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn throttling_and_dropping_faults_behave_as_injected() {
    let m = mock();
    m.state.set_faults(AmpFaults {
        throttle_remote_write: Throttle::Next(1),
        ..Default::default()
    });
    let s = vec![series("up", &[], &[(now_ms(), 1.0)])];
    let (status, body) = write_with(&m, s.clone(), &signing(&m.user)).await;
    assert_eq!(
        (status, body.as_str()),
        (
            StatusCode::TOO_MANY_REQUESTS,
            r#"{"message":"Rate exceeded"}"#
        )
    );
    let (status, _) = write_with(&m, s.clone(), &signing(&m.user)).await;
    assert_eq!(status, StatusCode::OK);
    // Aimed at another writer's key: this one's writes pass, the budget stays.
    m.state.set_faults(AmpFaults {
        throttle_remote_write: Throttle::Next(1),
        throttle_only: Some("AKIAOTHERWRITER00000".into()),
        ..Default::default()
    });
    let (status, _) = write_with(&m, s.clone(), &signing(&m.user)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(m.state.faults().throttle_remote_write, Throttle::Next(1));
    m.state.set_faults(AmpFaults {
        drop_accepted_samples: true,
        ..Default::default()
    });
    let (status, _) = write_with(
        &m,
        vec![series("dropped", &[], &[(now_ms(), 1.0)])],
        &signing(&m.user),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (_, v) = query(&m, "dropped").await;
    assert_eq!(v["data"]["result"].as_array().unwrap().len(), 0);
}

#[tokio::test]
async fn the_query_api_speaks_the_prometheus_envelope() {
    let m = mock();
    let t = now_ms();
    write_with(
        &m,
        vec![
            series("up", &[("job", "a")], &[(t, 1.0)]),
            series("up", &[("job", "b")], &[(t, 2.0)]),
        ],
        &signing(&m.user),
    )
    .await;
    let (status, v) = query(&m, "sum(up)").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(v["data"]["result"][0]["value"][1], "3");
    // Unsupported constructs are refused, never answered with a wrong number.
    let (status, v) = query(&m, "predict_linear(up[5m], 60)").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
    assert_eq!(v["errorType"], "bad_data");
    let (status, v) = query(&m, "sum(").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(v["status"], "error");
    // GET works too, and series/labels answer.
    let req = build(
        "GET",
        &format!("/workspaces/{WS}/api/v1/series?match%5B%5D=up"),
        &[],
        vec![],
        &signing(&m.user),
    );
    let (status, body) = send(&m, req).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["data"].as_array().unwrap().len(), 2);
    let req = build(
        "GET",
        &format!("/workspaces/{WS}/api/v1/label/job/values"),
        &[],
        vec![],
        &signing(&m.user),
    );
    let (_, body) = send(&m, req).await;
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["data"], serde_json::json!(["a", "b"]));
    // Metric names, as dashboards' queries are checked against them: sorted, each once.
    let req = build(
        "GET",
        &format!("/workspaces/{WS}/api/v1/label/__name__/values"),
        &[],
        vec![],
        &signing(&m.user),
    );
    let (status, body) = send(&m, req).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["status"], "success");
    assert_eq!(v["data"], serde_json::json!(["up"]));
}

/// The shapes that overflowed the mock's stack and took every service down with it: each
/// is AMP's 400 `bad_data`, and the mock answers the next query.
#[tokio::test]
async fn queries_too_deep_or_too_long_are_bad_data_and_the_mock_stays_up() {
    let m = mock();
    let t = now_ms();
    write_with(&m, vec![series("up", &[], &[(t, 1.0)])], &signing(&m.user)).await;
    for (what, q) in [
        ("5,000 unary minuses", format!("{}up", "-".repeat(5000))),
        ("a 5,000-term sum", vec!["up"; 5000].join("+")),
        (
            "3,000 nested calls",
            format!("{}up{}", "abs(".repeat(3000), ")".repeat(3000)),
        ),
        ("200 kB", format!("up{{a=\"{}\"}}", "x".repeat(200_000))),
    ] {
        let (status, v) = query(&m, &q).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{what}: {v}");
        assert_eq!(v["errorType"], "bad_data", "{what}");
        assert!(
            v["error"].as_str().unwrap().contains("at most"),
            "{what}: {v}"
        );
    }
    // The deepest tree the bounds let through is evaluated (on the evaluation thread's
    // stack), and gives the right answer.
    let deepest = format!(
        "{}{}{}",
        "abs(".repeat(120),
        vec!["up"; 500].join(" - "),
        ")".repeat(120)
    );
    let (status, v) = query(&m, &deepest).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["data"]["result"][0]["value"][1], "498");
}

/// The process's peak resident memory (`VmHWM`), in bytes.
fn peak_rss() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<usize>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// A signed body of empty series: 64 MiB decompressed from about 3 MiB of snappy, which
/// decoded to more than a gigabyte of series. Refused from its count, before decoding;
/// the process's peak memory stays near the body's size.
#[tokio::test]
async fn a_body_of_empty_messages_is_refused_before_it_is_decoded() {
    let m = mock();
    let raw = [0x0a_u8, 0x00].repeat(32 << 20);
    let body = snap::raw::Encoder::new().compress_vec(&raw).unwrap();
    drop(raw);
    let before = peak_rss();
    let (status, text) = send(
        &m,
        build(
            "POST",
            &format!("/workspaces/{WS}/api/v1/remote_write"),
            RW_HEADERS,
            body,
            &signing(&m.user),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{text}");
    assert!(text.contains("33554432 series"), "{text}");
    let grown = peak_rss().saturating_sub(before);
    assert!(grown < 400 << 20, "peak memory grew by {} MiB", grown >> 20);
}

/// Past the query timeout, AMP's answer: 422 `execution`, "query timed out".
#[tokio::test]
async fn a_query_past_its_timeout_gets_amps_answer() {
    let m = mock_with(AmpSettings {
        query_timeout: std::time::Duration::ZERO,
        ..AmpSettings::default()
    });
    let t = now_ms();
    write_with(&m, vec![series("up", &[], &[(t, 1.0)])], &signing(&m.user)).await;
    let (status, v) = query(&m, "sum(up)").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_eq!(v["errorType"], "execution");
    assert_eq!(
        v["error"],
        "query timed out - consider simplifying your query"
    );
}

/// `topk` with a k above the number of series sorts them all: n log n, in order.
#[tokio::test]
async fn topk_with_a_huge_k_orders_every_series() {
    let m = mock();
    let t = now_ms();
    let all: Vec<TimeSeries> = (0..2000)
        .map(|i| {
            series(
                "many",
                &[("i", &i.to_string())],
                &[(t, f64::from((i * 7919) % 2000))],
            )
        })
        .collect();
    write_with(&m, all, &signing(&m.user)).await;
    let (status, v) = query(&m, "topk(1e18, many)").await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let values: Vec<f64> = v["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["value"][1].as_str().unwrap().parse().unwrap())
        .collect();
    assert_eq!(values.len(), 2000);
    assert!(values.windows(2).all(|w| w[0] >= w[1]), "not descending");
    assert_eq!(values[0], 1999.0);
}

#[tokio::test]
async fn queries_need_query_metrics_and_a_signature() {
    let m = mock();
    m.state.identities.update(&m.user.access_key_id, |id| {
        id.allowed_actions = ["aps:RemoteWrite".to_string()].into()
    });
    let (status, v) = query(&m, "up").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(
        v["Message"].as_str().unwrap().contains("aps:QueryMetrics"),
        "{v}"
    );
    let req = build(
        "GET",
        &format!("/workspaces/{WS}/api/v1/query?query=up"),
        &[],
        vec![],
        &Signing {
            user: None,
            ..signing(&m.user)
        },
    );
    let (status, body) = send(&m, req).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body, r#"{"message":"Missing Authentication Token"}"#);
}
