//! Hostile input for every mock endpoint that reads outside bytes: remote-write bodies
//! (snappy, protobuf), SigV4 `Authorization` and `X-Amz-*` headers, query parameters and
//! PromQL, the rest-json bodies of AMP, AMG and EKS, the query-protocol forms of STS and
//! IAM, Grafana's API bodies and the Kubernetes API's. Each request goes through the
//! service's full router (`oneshot`, no socket) on one shared mock stack.
//!
//! Every property asserts the same three things: no panic (a handler's panic fails the
//! case), no hang (each request runs on the stack's runtime and must answer within
//! `DEADLINE`), and an answer a client can act on: 2xx for a mutation that is still valid,
//! else a 4xx with a body. Never a 5xx.
//!
//! Case counts: `CASES` per property (the whole file runs in well under a minute in a
//! debug build); `PROPTEST_CASES=2000 cargo test -p pipecheck-mocks --test hostile` for a
//! deep run. Failures are not persisted: proptest prints the minimal failing input.
//!
//! The size-limit tests at the bottom send bodies that never end and count how many bytes
//! the service pulled before refusing them.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::body::{Body, Bytes};
use http::{HeaderValue, Request, StatusCode};
use http_body::Frame;
use pipecheck_mocks::amg::GrafanaRole;
use pipecheck_mocks::identity::Identity;
use pipecheck_mocks::sigv4::sign_as_client;
use pipecheck_mocks::{MockConfig, MockStack, amg, amp, eks, grafana, iam, kube, sts};
use pipecheck_prompb::{Label, Sample, TimeSeries, WriteRequest};
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::Config;
use tower::ServiceExt;

/// Cases per property unless `PROPTEST_CASES` says otherwise.
const CASES: u32 = 48;
/// How long one request may take before the case counts as a hang.
const DEADLINE: Duration = Duration::from_secs(10);
const HOST: &str = "127.0.0.1";

fn config() -> Config {
    mutate::config(CASES)
}

/// One mock stack for the whole file, its routers, and the credentials each service takes.
struct Env {
    rt: tokio::runtime::Runtime,
    /// Kept for its listeners (Grafana's data-source queries reach the AMP one).
    stack: MockStack,
    user: Identity,
    workspace: String,
    grafana_workspace: String,
    grafana_token: String,
    kube_token: String,
    amp: Router,
    sts: Router,
    amg: Router,
    grafana: Router,
    eks: Router,
    iam: Router,
    kube: Router,
}

fn env() -> &'static Env {
    static ENV: OnceLock<Env> = OnceLock::new();
    ENV.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a runtime");
        let stack = rt
            .block_on(MockStack::start(MockConfig::default()))
            .expect("the mock stack starts");
        let ep = stack.endpoints().clone();
        let grafana_workspace = ep
            .grafana_workspace_id
            .clone()
            .expect("a Grafana workspace");
        let grafana_token = stack
            .amg
            .issue_token(
                &grafana_workspace,
                GrafanaRole::Admin,
                Duration::from_secs(3600),
            )
            .expect("an admin token");
        let kube_token = stack.kube.issue_token(&ep.user.arn);
        Env {
            user: ep.user.clone(),
            workspace: ep.workspace_id.clone().expect("an AMP workspace"),
            amp: amp::router(stack.amp.clone()),
            sts: sts::router(stack.sts.clone()),
            amg: amg::router(stack.amg.clone()),
            grafana: grafana::router(stack.amg.clone(), grafana_workspace.clone()),
            eks: eks::router(stack.eks.clone()),
            iam: iam::router(stack.iam.clone()),
            kube: kube::router(stack.kube.clone()),
            grafana_workspace,
            grafana_token,
            kube_token,
            stack,
            rt,
        }
    })
}

/// A service's answer.
struct Answer {
    status: StatusCode,
    body: String,
}

/// Sends `req` through `router` on the stack's runtime; a panic in the handler or no
/// answer within [`DEADLINE`] fails the case.
fn call(router: &Router, req: Request<Body>) -> Answer {
    let e = env();
    let fut = router.clone().oneshot(req);
    let task = e.rt.spawn(async move {
        let resp = fut.await.expect("routers are infallible");
        let status = resp.status();
        let body = axum::body::to_bytes(resp.into_body(), 64 << 20)
            .await
            .expect("the answer's body");
        Answer {
            status,
            body: String::from_utf8_lossy(&body).into_owned(),
        }
    });
    match e
        .rt
        .block_on(async { tokio::time::timeout(DEADLINE, task).await })
    {
        Ok(Ok(answer)) => answer,
        Ok(Err(join)) => panic!("the handler panicked: {join}"),
        Err(_) => panic!("no answer within {DEADLINE:?}"),
    }
}

/// 2xx, or a 4xx that says why; never a 5xx or an empty refusal.
fn acceptable(a: &Answer) -> Result<(), TestCaseError> {
    prop_assert!(
        a.status.is_success() || a.status.is_client_error(),
        "status {} with body {:?}",
        a.status,
        truncated(&a.body)
    );
    if a.status.is_client_error() {
        prop_assert!(!a.body.trim().is_empty(), "{} with an empty body", a.status);
    }
    Ok(())
}

fn refused(a: &Answer) -> Result<(), TestCaseError> {
    acceptable(a)?;
    prop_assert!(
        a.status.is_client_error(),
        "accepted ({}): {:?}",
        a.status,
        truncated(&a.body)
    );
    Ok(())
}

fn truncated(s: &str) -> &str {
    let mut end = s.len().min(400);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// A request to the mock at `path_and_query`, signed as the stack's user for `service`
/// (in us-east-1) unless `service` is None.
fn request(
    method: &str,
    path_and_query: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
    service: Option<&str>,
) -> Request<Body> {
    let mut req = Request::builder()
        .method(method)
        .uri(format!("http://{HOST}{path_and_query}"))
        .header("host", HOST);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let mut req = req.body(body).expect("a well-formed request");
    if let Some(service) = service {
        sign_as_client(
            &mut req,
            &env().user,
            "us-east-1",
            service,
            SystemTime::now(),
        )
        .expect("signing");
    }
    req.map(Body::from)
}

#[path = "../../tests/support/mutate.rs"]
mod mutate;

use mutate::{deep_json, mutated, mutated_one_of};

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

// ---------------------------------------------------------------------------------------
// AMP: remote write.

const RW_HEADERS: &[(&str, &str)] = &[
    ("content-type", "application/x-protobuf"),
    ("content-encoding", "snappy"),
    ("x-prometheus-remote-write-version", "0.1.0"),
];

fn write_request() -> impl Strategy<Value = WriteRequest> {
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .expect("after 1970")
        .as_millis() as i64;
    let label = ("[a-z_]{1,6}", "[ -~]{0,8}").prop_map(|(k, v)| Label::new(k, v));
    let series = (
        "[a-z_:]{1,10}",
        prop::collection::vec(label, 0..4),
        prop::collection::vec((-60_000i64..0, any::<f64>()), 0..4),
    )
        .prop_map(move |(name, mut labels, samples)| {
            labels.insert(0, Label::new("__name__", name));
            TimeSeries {
                labels,
                samples: samples
                    .into_iter()
                    .map(|(dt, value)| Sample {
                        value,
                        timestamp: now + dt,
                    })
                    .collect(),
                ..Default::default()
            }
        });
    prop::collection::vec(series, 0..4).prop_map(|timeseries| WriteRequest {
        timeseries,
        metadata: vec![],
    })
}

fn remote_write(body: Vec<u8>) -> Answer {
    let e = env();
    let path = format!("/workspaces/{}/api/v1/remote_write", e.workspace);
    call(
        &e.amp,
        request("POST", &path, RW_HEADERS, body, Some("aps")),
    )
}

fn compress(raw: &[u8]) -> Vec<u8> {
    snap::raw::Encoder::new()
        .compress_vec(raw)
        .expect("snappy compresses anything")
}

proptest! {
    #![proptest_config(config())]

    /// The protobuf inside the snappy block is mutated: prost's errors or Cortex's
    /// validation answer, as 400.
    #[test]
    fn remote_write_answers_mutated_protobuf(
        raw in write_request().prop_flat_map(|w| mutated(prost::Message::encode_to_vec(&w)))
    ) {
        let a = remote_write(compress(&raw));
        acceptable(&a)?;
    }

    /// The snappy block itself is mutated (its length header, its copies and literals).
    #[test]
    fn remote_write_answers_mutated_snappy(
        body in write_request().prop_flat_map(|w| mutated(pipecheck_prompb::encode(&w)))
    ) {
        acceptable(&remote_write(body))?;
    }

    /// A snappy header that claims any decompressed length, followed by junk: refused
    /// without inflating (the mock would otherwise allocate what the header says).
    #[test]
    fn remote_write_refuses_lying_snappy_headers(
        claimed in any::<u64>(),
        junk in prop::collection::vec(any::<u8>(), 0..64),
    ) {
        let mut body = Vec::new();
        let mut n = claimed;
        loop {
            let byte = (n & 0x7f) as u8;
            n >>= 7;
            if n == 0 {
                body.push(byte);
                break;
            }
            body.push(byte | 0x80);
        }
        body.extend(junk);
        let a = remote_write(body);
        // A tiny claim with junk that happens to decode to an empty request is fine.
        acceptable(&a)?;
        if claimed > 1 << 20 {
            refused(&a)?;
        }
    }

    /// Arbitrary bytes as a remote-write body.
    #[test]
    fn remote_write_answers_random_bytes(body in prop::collection::vec(any::<u8>(), 0..512)) {
        acceptable(&remote_write(body))?;
    }
}

// ---------------------------------------------------------------------------------------
// SigV4 headers and presigned parameters.

/// A signed query request; the header named `name` is then replaced by a mutation of its
/// signed value.
fn with_mutated_header(name: &'static str) -> impl Strategy<Value = (Request<Body>, bool)> {
    let e = env();
    let path = format!("/workspaces/{}/api/v1/labels", e.workspace);
    let signed = request("GET", &path, &[], vec![], Some("aps"));
    let original = signed
        .headers()
        .get(name)
        .map(|v| v.as_bytes().to_vec())
        .unwrap_or_default();
    mutated(original.clone()).prop_filter_map("not a header value", move |bytes| {
        let value = HeaderValue::from_bytes(&bytes).ok()?;
        let mut req = request("GET", &path, &[], vec![], Some("aps"));
        // Signed again (a second later at most): the mutation is what differs.
        req.headers_mut().insert(name, value);
        Some((req, bytes != original))
    })
}

proptest! {
    #![proptest_config(config())]

    /// Any mutation of a signed `Authorization` header is answered (a repeated parameter
    /// is not refused: the last one counts, as the mock's parser documents).
    #[test]
    fn sigv4_answers_mutated_authorization((req, _) in with_mutated_header("authorization")) {
        acceptable(&call(&env().amp, req))?;
    }

    /// One character of the signature or the credential scope changed: always refused.
    #[test]
    fn sigv4_refuses_a_changed_signature_or_credential(
        in_signature in any::<bool>(),
        at in any::<Index>(),
        replacement in prop::char::range('!', '~'),
    ) {
        let e = env();
        let path = format!("/workspaces/{}/api/v1/labels", e.workspace);
        let mut req = request("GET", &path, &[], vec![], Some("aps"));
        let auth = req.headers()["authorization"].to_str().expect("ASCII").to_string();
        let key = if in_signature { "Signature=" } else { "Credential=" };
        let start = auth.find(key).expect("the parameter") + key.len();
        let end = auth[start..].find(',').map_or(auth.len(), |i| start + i);
        let i = start + at.index(end - start);
        prop_assume!(auth.as_bytes()[i] as char != replacement && replacement != ',');
        let mut changed = auth.clone();
        changed.replace_range(i..i + 1, &replacement.to_string());
        req.headers_mut().insert("authorization", HeaderValue::from_str(&changed).expect("ASCII"));
        refused(&call(&e.amp, req))?;
    }

    #[test]
    fn sigv4_answers_mutated_amz_date((req, _) in with_mutated_header("x-amz-date")) {
        acceptable(&call(&env().amp, req))?;
    }

    /// Headers the signer did not send, with hostile values: a security token, a content
    /// hash, a `Date`, an `X-Amz-Date` alongside it.
    #[test]
    fn sigv4_answers_hostile_amz_headers(
        name in prop::sample::select(vec![
            "x-amz-security-token", "x-amz-content-sha256", "date", "x-amz-date",
        ]),
        value in prop::collection::vec(32u8..127, 0..80)
            .boxed()
            .prop_union(mutated(b"20240101T000000Z".to_vec())),
    ) {
        let Ok(value) = HeaderValue::from_bytes(&value) else { return Ok(()) };
        let e = env();
        let path = format!("/workspaces/{}/api/v1/labels", e.workspace);
        let mut req = request("GET", &path, &[], vec![], Some("aps"));
        req.headers_mut().append(name, value);
        acceptable(&call(&e.amp, req))?;
    }

    /// A presigned request whose `X-Amz-*` query parameters are mutated.
    #[test]
    fn sigv4_answers_mutated_presigned_queries(query in mutated(
        b"X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAPIPECHECKMOCK001%2F20240101%2Fus-east-1%2Faps%2Faws4_request&X-Amz-Date=20240101T000000Z&X-Amz-Expires=300&X-Amz-SignedHeaders=host&X-Amz-Signature=0123456789abcdef".to_vec()
    )) {
        let e = env();
        let query = percent_encoding::percent_encode(&query, QUERY_UNSAFE).to_string();
        let path = format!("/workspaces/{}/api/v1/labels?{query}", e.workspace);
        refused(&call(&e.amp, request("GET", &path, &[], vec![], None)))?;
    }
}

/// What may not appear raw in a query string; `%`, `&` and `=` stay as they are, so the
/// mutations reach the parser as escapes and separators.
const QUERY_UNSAFE: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'<')
    .add(b'>')
    .add(b'`')
    .add(b'{')
    .add(b'}')
    .add(b'|')
    .add(b'\\')
    .add(b'^')
    .add(b'[')
    .add(b']');

// ---------------------------------------------------------------------------------------
// AMP: the query API and PromQL.

fn time_value() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("now".to_string()),
        any::<f64>().prop_map(|f| f.to_string()),
        any::<i64>().prop_map(|i| i.to_string()),
        prop::sample::select(vec![
            "1e308",
            "-1e308",
            "NaN",
            "Inf",
            "-Inf",
            "9223372036854775807",
            "-9223372036854775808",
            "9223372036854775.807",
            "0.001",
            "",
            "1970-01-01T00:00:00Z",
            "9999-12-31T23:59:59.999999999Z",
            "0000-01-01T00:00:00Z",
            "2024-02-30T00:00:00Z",
            "1h",
            "1y",
            "0",
            "-1",
            "0.0000001",
            "1e-300",
        ])
        .prop_map(str::to_string),
        "[ -~]{0,16}",
    ]
}

fn duration() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "1ms", "1s", "30s", "5m", "1h", "1d", "1w", "1y", "100y", "0s", "1h30m", "1000000y", "-5m",
    ])
}

/// PromQL from a small grammar: selectors, numbers, calls, aggregations, binary
/// operators, offsets, range selectors and (nested) subqueries.
fn promql() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        Just("up".to_string()),
        Just("up{job=\"a\"}".to_string()),
        Just("{__name__=~\".+\"}".to_string()),
        Just("{job!~\"(a|b)*\"}".to_string()),
        Just("vector(1)".to_string()),
        Just("time()".to_string()),
        any::<f64>().prop_map(|f| format!("{f:?}")),
        "[a-z_:]{1,8}",
    ];
    leaf.prop_recursive(4, 24, 3, |inner| {
        prop_oneof![
            (
                inner.clone(),
                prop::sample::select(vec![
                    "+",
                    "-",
                    "*",
                    "/",
                    "%",
                    "^",
                    "==",
                    "!=",
                    ">",
                    "< bool",
                    "and",
                    "or",
                    "unless",
                    "atan2",
                    "* on(job) group_left",
                ]),
                inner.clone()
            )
                .prop_map(|(a, op, b)| format!("({a}) {op} ({b})")),
            (
                prop::sample::select(vec![
                    "abs",
                    "ceil",
                    "exp",
                    "ln",
                    "sqrt",
                    "sort",
                    "timestamp",
                    "scalar",
                    "absent",
                    "histogram_quantile(0.9,",
                    "clamp_max(1,",
                    "label_replace(",
                ]),
                inner.clone()
            )
                .prop_map(|(f, a)| if f.ends_with(',') {
                    format!("{f} {a})")
                } else if f.ends_with('(') {
                    format!("{f}{a}, \"x\", \"$1\", \"job\", \"(.*)\")")
                } else {
                    format!("{f}({a})")
                }),
            (
                prop::sample::select(vec![
                    "sum",
                    "avg",
                    "count",
                    "max",
                    "min",
                    "stddev",
                    "topk(3,",
                    "quantile(0.5,",
                    "count_values(\"v\",",
                ]),
                inner.clone()
            )
                .prop_map(|(agg, a)| if agg.ends_with(',') {
                    format!("{agg} {a})")
                } else {
                    format!("{agg} by (job) ({a})")
                }),
            (
                prop::sample::select(vec![
                    "rate",
                    "increase",
                    "delta",
                    "max_over_time",
                    "sum_over_time",
                    "quantile_over_time(0.5,",
                    "predict_linear",
                    "changes",
                ]),
                inner.clone(),
                duration(),
                duration()
            )
                .prop_map(|(f, a, range, step)| {
                    let arg = format!("({a})[{range}:{step}]");
                    if f.ends_with(',') {
                        format!("{f} {arg})")
                    } else if f == "predict_linear" {
                        format!("{f}({arg}, 60)")
                    } else {
                        format!("{f}({arg})")
                    }
                }),
            (inner.clone(), duration()).prop_map(|(a, d)| format!("rate(up[{d}]) + ({a})")),
            (inner.clone(), duration()).prop_map(|(a, d)| format!("({a}) offset {d}")),
            (inner, any::<i64>(), any::<bool>()).prop_map(|(a, t, small)| {
                let t = if small { t % 10_000_000_000 } else { t };
                format!("({a}) @ {t}")
            }),
        ]
    })
}

fn query_api(endpoint: &str, params: &[(&str, String)], post: bool) -> Answer {
    let e = env();
    let mut form = form_urlencoded::Serializer::new(String::new());
    for (k, v) in params {
        form.append_pair(k, v);
    }
    let form = form.finish();
    let path = format!("/workspaces/{}/api/v1/{endpoint}", e.workspace);
    let req = if post {
        request(
            "POST",
            &path,
            &[("content-type", "application/x-www-form-urlencoded")],
            form.into_bytes(),
            Some("aps"),
        )
    } else {
        request("GET", &format!("{path}?{form}"), &[], vec![], Some("aps"))
    };
    call(&e.amp, req)
}

const VALID_QUERIES: &[&str] = &[
    "up",
    "sum by (job) (rate(http_requests_total{job=~\"api|web\"}[5m]))",
    "histogram_quantile(0.99, sum by (le) (rate(x_bucket[5m])))",
    "max_over_time(deriv(up[1h:1m])[1d:5m]) offset 1h",
    "label_replace(up, \"a\", \"$1\", \"job\", \"(.*)\") > bool 0.5",
    "topk(3, count_values(\"v\", up)) or vector(time())",
];

proptest! {
    #![proptest_config(config())]

    #[test]
    fn promql_answers_generated_queries(q in promql(), range in any::<bool>()) {
        let a = if range {
            query_api(
                "query_range",
                &[("query", q), ("start", "-3600".into()), ("end", "now".into()), ("step", "60".into())],
                true,
            )
        } else {
            query_api("query", &[("query", q)], true)
        };
        acceptable(&a)?;
    }

    /// Nested expressions of every shape at every depth, up to far past the bounds: each
    /// is answered (200, or 400 once too deep, or 413 past the body limit) at once, never
    /// a stack overflow that takes the process down.
    #[test]
    fn promql_answers_nested_queries_at_every_depth(
        shape in 0usize..5,
        depth in prop_oneof![0usize..200, 200usize..1000, 1000usize..6000, 100_000usize..200_000],
        range in any::<bool>(),
    ) {
        let q = match shape {
            0 => format!("{}up", "-".repeat(depth)),
            1 => vec!["up"; depth + 1].join("+"),
            2 => format!("{}up{}", "abs(".repeat(depth), ")".repeat(depth)),
            3 => format!("{}up{}", "(".repeat(depth), ")".repeat(depth)),
            _ => format!("{}up{}", "sum(".repeat(depth), ")".repeat(depth)),
        };
        let a = if range {
            query_api(
                "query_range",
                &[("query", q), ("start", "-600".into()), ("end", "now".into()), ("step", "60".into())],
                true,
            )
        } else {
            query_api("query", &[("query", q)], true)
        };
        acceptable(&a)?;
        prop_assert!([200, 400, 413].contains(&a.status.as_u16()), "{}: {}", a.status, truncated(&a.body));
    }

    #[test]
    fn promql_answers_mutated_queries(
        q in mutated_one_of(VALID_QUERIES.iter().map(|q| q.as_bytes().to_vec()).collect())
    ) {
        acceptable(&query_api("query", &[("query", text(&q))], false))?;
    }

    /// Hostile times, steps, limits and matchers on every query endpoint.
    #[test]
    fn query_api_answers_hostile_parameters(
        endpoint in prop::sample::select(vec![
            "query", "query_range", "series", "labels", "label/job/values",
            "label/%ff%fe/values", "metadata",
        ]),
        time in time_value(),
        start in time_value(),
        end in time_value(),
        step in time_value(),
        limit in time_value(),
        matcher in mutated(b"up{job=\"a\"}".to_vec()),
        post in any::<bool>(),
    ) {
        let params = [
            ("query", "vector(1)".to_string()),
            ("time", time),
            ("start", start),
            ("end", end),
            ("step", step),
            ("limit", limit),
            ("match[]", text(&matcher)),
        ];
        // metadata and label values are GET-only.
        let post = post && !endpoint.contains('/') && endpoint != "metadata";
        acceptable(&query_api(endpoint, &params, post))?;
    }

    /// A form body that is not a form.
    #[test]
    fn query_api_answers_mutated_form_bodies(
        body in mutated(b"query=up&time=1700000000&timeout=10s".to_vec())
    ) {
        let e = env();
        let path = format!("/workspaces/{}/api/v1/query", e.workspace);
        let req = request(
            "POST",
            &path,
            &[("content-type", "application/x-www-form-urlencoded")],
            body,
            Some("aps"),
        );
        acceptable(&call(&e.amp, req))?;
    }
}

// ---------------------------------------------------------------------------------------
// rest-json control planes: AMP, AMG, EKS.

fn json_call(router: &Router, method: &str, path: &str, body: Vec<u8>, service: &str) -> Answer {
    let req = request(
        method,
        path,
        &[("content-type", "application/json")],
        body,
        Some(service),
    );
    call(router, req)
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn amp_control_answers_mutated_bodies(
        body in mutated_one_of(vec![
            br#"{"alias":"a","clientToken":"t-1","tags":{"k":"v"}}"#.to_vec(),
            br#"{"tags":{"team":"obs","env":"x"}}"#.to_vec(),
            br#"{"alias":"renamed","clientToken":"c"}"#.to_vec(),
            br#"{"alias":"s","source":{"eksConfiguration":{"clusterArn":"arn:aws:eks:us-east-1:111122223333:cluster/pipecheck","subnetIds":["subnet-1"]}},"destination":{"ampConfiguration":{"workspaceArn":"arn:aws:aps:us-east-1:111122223333:workspace/ws-1"}},"scrapeConfiguration":{"configurationBlob":"Z2xvYmFsOiB7fQo="}}"#.to_vec(),
        ]).prop_union(deep_json().boxed()),
        route in 0usize..4,
    ) {
        let e = env();
        let arn = format!(
            "arn%3Aaws%3Aaps%3Aus-east-1%3A{}%3Aworkspace%2F{}",
            e.user.account, e.workspace
        );
        let (method, path) = match route {
            0 => ("POST", "/workspaces".to_string()),
            1 => ("POST", format!("/tags/{arn}")),
            2 => ("POST", "/scrapers".to_string()),
            _ => ("POST", format!("/workspaces/{}/alias", e.workspace)),
        };
        acceptable(&json_call(&e.amp, method, &path, body, "aps"))?;
    }

    #[test]
    fn amp_control_answers_hostile_list_parameters(
        max_results in time_value(),
        next_token in time_value(),
        alias in "[ -~]{0,12}",
        scrapers in any::<bool>(),
    ) {
        let e = env();
        let q = form_urlencoded::Serializer::new(String::new())
            .append_pair("maxResults", &max_results)
            .append_pair("nextToken", &next_token)
            .append_pair("alias", &alias)
            .finish();
        let list = if scrapers { "scrapers" } else { "workspaces" };
        acceptable(&json_call(&e.amp, "GET", &format!("/{list}?{q}"), vec![], "aps"))?;
    }

    #[test]
    fn amg_control_answers_mutated_bodies(
        body in mutated_one_of(vec![
            br#"{"name":"sa-1","grafanaRole":"ADMIN"}"#.to_vec(),
            br#"{"name":"tok","secondsToLive":3600}"#.to_vec(),
            br#"{"keyName":"k","keyRole":"ADMIN","secondsToLive":60}"#.to_vec(),
        ]).prop_union(deep_json().boxed()),
        route in 0usize..3,
    ) {
        let e = env();
        let ws = &e.grafana_workspace;
        let path = match route {
            0 => format!("/workspaces/{ws}/serviceaccounts"),
            1 => format!("/workspaces/{ws}/serviceaccounts/1/tokens"),
            _ => format!("/workspaces/{ws}/apikeys"),
        };
        acceptable(&json_call(&e.amg, "POST", &path, body, "grafana"))?;
    }

    /// EKS takes no bodies: its paths and query parameters are what a client controls.
    #[test]
    fn eks_answers_hostile_paths_and_parameters(
        segment in "[ -~]{0,24}",
        max_results in time_value(),
        next_token in time_value(),
        route in 0usize..6,
    ) {
        let e = env();
        let seg = percent_encoding::utf8_percent_encode(&segment, percent_encoding::NON_ALPHANUMERIC);
        let q = form_urlencoded::Serializer::new(String::new())
            .append_pair("maxResults", &max_results)
            .append_pair("nextToken", &next_token)
            .append_pair("kubernetesVersion", &segment)
            .append_pair("addonName", &segment)
            .finish();
        let path = match route {
            0 => format!("/clusters?{q}"),
            1 => format!("/clusters/{seg}"),
            2 => format!("/clusters/{seg}/addons/{seg}?{q}"),
            3 => format!("/clusters/{seg}/access-entries?{q}"),
            4 => format!("/clusters/pipecheck/access-entries/{seg}/access-policies?{q}"),
            _ => format!("/addons/supported-versions?{q}"),
        };
        acceptable(&json_call(&e.eks, "GET", &path, vec![], "eks"))?;
    }
}

// ---------------------------------------------------------------------------------------
// Query protocol: STS and IAM.

fn form_call(router: &Router, body: Vec<u8>, service: &str) -> Answer {
    let req = request(
        "POST",
        "/",
        &[(
            "content-type",
            "application/x-www-form-urlencoded; charset=utf-8",
        )],
        body,
        Some(service),
    );
    call(router, req)
}

const TRUST: &str = "%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%7B%22Effect%22%3A%22Allow%22%2C%22Principal%22%3A%7B%22Federated%22%3A%22arn%3Aaws%3Aiam%3A%3A111122223333%3Aoidc-provider%2Fx%22%7D%2C%22Action%22%3A%22sts%3AAssumeRoleWithWebIdentity%22%7D%5D%7D";

proptest! {
    #![proptest_config(config())]

    #[test]
    fn sts_answers_mutated_forms(body in mutated_one_of(vec![
        b"Action=GetCallerIdentity&Version=2011-06-15".to_vec(),
        b"Action=AssumeRoleWithWebIdentity&Version=2011-06-15&RoleArn=arn%3Aaws%3Aiam%3A%3A111122223333%3Arole%2Fr&RoleSessionName=s&WebIdentityToken=eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln&DurationSeconds=3600".to_vec(),
    ])) {
        let e = env();
        // AssumeRoleWithWebIdentity is unsigned; signing it anyway is what a confused
        // client does.
        acceptable(&form_call(&e.sts, body, "sts"))?;
    }

    #[test]
    fn iam_answers_mutated_forms(body in mutated_one_of(vec![
        b"Action=GetRole&Version=2010-05-08&RoleName=pipecheck-adot".to_vec(),
        format!("Action=CreateRole&Version=2010-05-08&RoleName=hostile&AssumeRolePolicyDocument={TRUST}&Tags.member.1.Key=k&Tags.member.1.Value=v").into_bytes(),
        b"Action=ListRolePolicies&Version=2010-05-08&RoleName=r&MaxItems=2&Marker=abc".to_vec(),
        b"Action=GetPolicyVersion&Version=2010-05-08&PolicyArn=arn%3Aaws%3Aiam%3A%3A111122223333%3Apolicy%2Fp&VersionId=v1".to_vec(),
    ])) {
        acceptable(&form_call(&env().iam, body, "iam"))?;
    }
}

// ---------------------------------------------------------------------------------------
// Grafana's HTTP API.

fn grafana_call(method: &str, path: &str, auth: &str, body: Vec<u8>) -> Answer {
    let req = Request::builder()
        .method(method)
        .uri(format!("http://{HOST}{path}"))
        .header("content-type", "application/json")
        .header("authorization", auth)
        .body(Body::from(body))
        .expect("a well-formed request");
    call(&env().grafana, req)
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn grafana_answers_mutated_bodies(
        body in mutated_one_of(vec![
            br#"{"name":"ds","type":"prometheus","access":"proxy","url":"http://127.0.0.1:1/workspaces/ws-x/","jsonData":{"sigV4Auth":true,"sigV4Region":"us-east-1","sigV4AuthType":"ec2_iam_role","httpMethod":"POST"}}"#.to_vec(),
            br#"{"dashboard":{"title":"t","uid":"u1","panels":[{"type":"timeseries","targets":[{"expr":"up"}]}]},"overwrite":false,"message":"m"}"#.to_vec(),
            br#"{"from":"now-5m","to":"now","queries":[{"refId":"A","datasource":{"uid":"ds-uid"},"expr":"up","instant":true,"range":false,"intervalMs":15000,"maxDataPoints":100}]}"#.to_vec(),
        ]).prop_union(deep_json().boxed()),
        route in 0usize..3,
    ) {
        let e = env();
        let path = ["/api/datasources", "/api/dashboards/db", "/api/ds/query"][route];
        let auth = format!("Bearer {}", e.grafana_token);
        acceptable(&grafana_call("POST", path, &auth, body))?;
    }

    /// A `/api/ds/query` whose times and query fields are hostile values.
    #[test]
    fn grafana_answers_hostile_query_fields(
        from in time_value(),
        to in time_value(),
        expr in promql(),
        interval_ms in any::<i64>(),
        max_points in any::<i64>(),
    ) {
        let e = env();
        let ds = pipecheck_mocks::amg::SEED_DATA_SOURCE_UID;
        let body = serde_json::json!({
            "from": from, "to": to,
            "queries": [{"refId": "A", "datasource": {"uid": ds}, "expr": expr,
                         "instant": false, "range": true,
                         "intervalMs": interval_ms, "maxDataPoints": max_points}]
        });
        let auth = format!("Bearer {}", e.grafana_token);
        acceptable(&grafana_call("POST", "/api/ds/query", &auth, body.to_string().into_bytes()))?;
    }

    #[test]
    fn grafana_answers_hostile_credentials(
        auth in mutated_one_of(vec![
            b"Bearer glsa_0123456789abcdefghijklmnopqrstuv_0a1b2c3d".to_vec(),
            b"Basic YXBpX2tleTpleUpySWpvaWRHVnpkQ0lzSW00aU9pSjBaWE4wSW4wPQ==".to_vec(),
        ]),
    ) {
        let Ok(auth) = std::str::from_utf8(&auth) else { return Ok(()) };
        if HeaderValue::from_str(auth).is_err() {
            return Ok(());
        }
        refused(&grafana_call("GET", "/api/datasources", auth, vec![]))?;
    }
}

// ---------------------------------------------------------------------------------------
// The Kubernetes API.

fn kube_call(method: &str, path: &str, content_type: &str, body: Vec<u8>) -> Answer {
    let req = Request::builder()
        .method(method)
        .uri(format!("http://{HOST}{path}"))
        .header("content-type", content_type)
        .header("authorization", format!("Bearer {}", env().kube_token))
        .body(Body::from(body))
        .expect("a well-formed request");
    call(&env().kube, req)
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn kube_answers_mutated_bodies(
        body in mutated_one_of(vec![
            br#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"cm","namespace":"default","labels":{"a":"b"}},"data":{"k":"v"}}"#.to_vec(),
            br#"{"metadata":{"annotations":{"eks.amazonaws.com/role-arn":"arn:aws:iam::111122223333:role/r"}}}"#.to_vec(),
            br#"{"apiVersion":"v1","kind":"ServiceAccount","metadata":{"name":"sa"}}"#.to_vec(),
        ]).prop_union(deep_json().boxed()),
        route in 0usize..3,
    ) {
        let (method, path, ct) = match route {
            0 => ("POST", "/api/v1/namespaces/default/configmaps", "application/json"),
            1 => ("PATCH", "/api/v1/namespaces/default/configmaps/cm", "application/merge-patch+json"),
            _ => ("PUT", "/api/v1/namespaces/default/serviceaccounts/sa", "application/json"),
        };
        acceptable(&kube_call(method, path, ct, body))?;
    }

    #[test]
    fn kube_answers_hostile_selectors_and_parameters(
        label_selector in mutated(b"app.kubernetes.io/name in (a,b),!x,y!=z".to_vec()),
        field_selector in mutated(b"metadata.name=cm,status.phase!=Running".to_vec()),
        limit in time_value(),
        cont in time_value(),
        limit_bytes in time_value(),
        tail in time_value(),
        route in 0usize..3,
    ) {
        let q = form_urlencoded::Serializer::new(String::new())
            .append_pair("labelSelector", &text(&label_selector))
            .append_pair("fieldSelector", &text(&field_selector))
            .append_pair("limit", &limit)
            .append_pair("continue", &cont)
            .append_pair("limitBytes", &limit_bytes)
            .append_pair("tailLines", &tail)
            .finish();
        let path = match route {
            0 => format!("/api/v1/pods?{q}"),
            1 => format!("/apis/apps/v1/namespaces/default/deployments?{q}"),
            _ => format!("/api/v1/namespaces/default/pods/x/log?{q}"),
        };
        acceptable(&kube_call("GET", &path, "application/json", vec![]))?;
    }
}

// ---------------------------------------------------------------------------------------
// Bodies over the size limits: refused before they are read whole.

const CHUNK: usize = 64 << 10;
static CHUNK_BYTES: [u8; CHUNK] = [b'a'; CHUNK];

/// A request body of `total` bytes in 64 KiB chunks that counts what the server pulled.
struct Counting {
    pulled: Arc<AtomicUsize>,
    left: usize,
}

impl http_body::Body for Counting {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if self.left == 0 {
            return Poll::Ready(None);
        }
        let n = self.left.min(CHUNK);
        self.left -= n;
        self.pulled.fetch_add(n, Ordering::SeqCst);
        Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(&CHUNK_BYTES[..n])))))
    }
}

/// One endpoint that reads a body: where, how it authenticates, and its limit.
struct Reader {
    name: &'static str,
    router: fn(&Env) -> &Router,
    method: &'static str,
    path: fn(&Env) -> String,
    headers: fn(&Env) -> Vec<(String, String)>,
    /// The SigV4 service of an endpoint that verifies signatures: its head is signed
    /// (over an empty body), so the head passes and the body is what is judged.
    sigv4: Option<&'static str>,
    limit: usize,
}

fn no_headers(_: &Env) -> Vec<(String, String)> {
    vec![("content-type".into(), "application/json".into())]
}

fn readers() -> Vec<Reader> {
    vec![
        Reader {
            name: "AMP remote write",
            router: |e| &e.amp,
            method: "POST",
            path: |e| format!("/workspaces/{}/api/v1/remote_write", e.workspace),
            headers: |_| {
                RW_HEADERS
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect()
            },
            limit: amp::AmpSettings::default().max_request_bytes,
            sigv4: Some("aps"),
        },
        Reader {
            name: "AMP query",
            router: |e| &e.amp,
            method: "POST",
            path: |e| format!("/workspaces/{}/api/v1/query", e.workspace),
            headers: |_| {
                vec![(
                    "content-type".into(),
                    "application/x-www-form-urlencoded".into(),
                )]
            },
            limit: 1 << 20,
            sigv4: Some("aps"),
        },
        Reader {
            name: "AMP control plane",
            router: |e| &e.amp,
            method: "POST",
            path: |_| "/workspaces".into(),
            headers: no_headers,
            limit: 1 << 20,
            sigv4: Some("aps"),
        },
        Reader {
            name: "AMG control plane",
            router: |e| &e.amg,
            method: "POST",
            path: |e| format!("/workspaces/{}/serviceaccounts", e.grafana_workspace),
            headers: no_headers,
            limit: 1 << 20,
            sigv4: Some("grafana"),
        },
        Reader {
            name: "EKS",
            router: |e| &e.eks,
            method: "GET",
            path: |_| "/clusters".into(),
            headers: no_headers,
            limit: 1 << 16,
            sigv4: Some("eks"),
        },
        Reader {
            name: "STS",
            router: |e| &e.sts,
            method: "POST",
            path: |_| "/".into(),
            headers: |_| {
                vec![(
                    "content-type".into(),
                    "application/x-www-form-urlencoded".into(),
                )]
            },
            limit: pipecheck_mocks::query_protocol::MAX_BODY,
            sigv4: None,
        },
        Reader {
            name: "IAM",
            router: |e| &e.iam,
            method: "POST",
            path: |_| "/".into(),
            headers: |_| {
                vec![(
                    "content-type".into(),
                    "application/x-www-form-urlencoded".into(),
                )]
            },
            limit: pipecheck_mocks::query_protocol::MAX_BODY,
            sigv4: None,
        },
        Reader {
            name: "Grafana data sources",
            router: |e| &e.grafana,
            method: "POST",
            path: |_| "/api/datasources".into(),
            headers: |e| grafana_headers(e),
            limit: grafana::MAX_BODY,
            sigv4: None,
        },
        Reader {
            name: "Grafana dashboards",
            router: |e| &e.grafana,
            method: "POST",
            path: |_| "/api/dashboards/db".into(),
            headers: |e| grafana_headers(e),
            limit: grafana::MAX_BODY,
            sigv4: None,
        },
        Reader {
            name: "Grafana ds query",
            router: |e| &e.grafana,
            method: "POST",
            path: |_| "/api/ds/query".into(),
            headers: |e| grafana_headers(e),
            limit: grafana::MAX_BODY,
            sigv4: None,
        },
        Reader {
            name: "Kubernetes API",
            router: |e| &e.kube,
            method: "POST",
            path: |_| "/api/v1/namespaces/default/configmaps".into(),
            headers: |e| {
                vec![
                    ("content-type".into(), "application/json".into()),
                    ("authorization".into(), format!("Bearer {}", e.kube_token)),
                ]
            },
            limit: kube::MAX_BODY,
            sigv4: None,
        },
    ]
}

fn grafana_headers(e: &Env) -> Vec<(String, String)> {
    vec![
        ("content-type".into(), "application/json".into()),
        (
            "authorization".into(),
            format!("Bearer {}", e.grafana_token),
        ),
    ]
}

/// Sends `total` bytes to `r`, declaring them in `Content-Length` or not (chunked);
/// the answer and how many bytes the service pulled.
fn send_oversized(r: &Reader, total: usize, declare: bool) -> (Answer, usize) {
    let e = env();
    let pulled = Arc::new(AtomicUsize::new(0));
    let mut req = Request::builder()
        .method(r.method)
        .uri(format!("http://{HOST}{}", (r.path)(e)))
        .header("host", HOST);
    for (k, v) in (r.headers)(e) {
        req = req.header(k, v);
    }
    let mut req = req.body(Vec::new()).expect("a request");
    if let Some(service) = r.sigv4 {
        sign_as_client(&mut req, &e.user, "us-east-1", service, SystemTime::now())
            .expect("signing");
    }
    if declare {
        req.headers_mut().insert(
            "content-length",
            total.to_string().parse().expect("a header value"),
        );
    }
    let body = Body::new(Counting {
        pulled: pulled.clone(),
        left: total,
    });
    let answer = call((r.router)(e), req.map(|_| body));
    (answer, pulled.load(Ordering::SeqCst))
}

/// A `Content-Length` over the limit is refused before a byte is read.
#[test]
fn declared_oversized_bodies_are_refused_before_reading() {
    for r in readers() {
        // Declared far past the limit; the stream holds only a little more than it, so a
        // service that reads anyway is seen (and the test stays fast).
        let (a, pulled) = send_oversized(&r, r.limit + 2 * CHUNK, true);
        assert_eq!(
            a.status,
            StatusCode::PAYLOAD_TOO_LARGE,
            "{}: {} {}",
            r.name,
            a.status,
            truncated(&a.body)
        );
        assert_eq!(
            pulled, 0,
            "{}: read {pulled} bytes of a body declared too large",
            r.name
        );
    }
}

/// A chunked body (no `Content-Length`) that goes on past the limit is refused once it
/// passes it, not read to its end (a SigV4 endpoint's head is signed, so the body is read).
#[test]
fn chunked_bodies_past_the_limit_are_refused_at_the_limit() {
    for r in readers() {
        let total = r.limit + 64 * CHUNK;
        let (a, pulled) = send_oversized(&r, total, false);
        assert_eq!(
            a.status,
            StatusCode::PAYLOAD_TOO_LARGE,
            "{}: {} {}",
            r.name,
            a.status,
            truncated(&a.body)
        );
        assert!(
            pulled <= r.limit + CHUNK,
            "{}: pulled {pulled} bytes, limit {}",
            r.name,
            r.limit
        );
    }
}

/// An unsigned request, or one signed with a key the mock does not know, is refused from
/// its head: not a byte of its body is read, so 20 clients holding back their last byte
/// hold nothing.
#[test]
fn sigv4_endpoints_refuse_an_unsigned_head_before_reading_the_body() {
    for r in readers().into_iter().filter(|r| r.sigv4.is_some()) {
        for unknown_key in [false, true] {
            let e = env();
            let pulled = Arc::new(AtomicUsize::new(0));
            let mut req = Request::builder()
                .method(r.method)
                .uri(format!("http://{HOST}{}", (r.path)(e)))
                .header("host", HOST);
            for (k, v) in (r.headers)(e) {
                req = req.header(k, v);
            }
            let mut req = req.body(Vec::new()).expect("a request");
            if unknown_key {
                let stranger = Identity {
                    access_key_id: "AKIAUNKNOWNKEY000000".into(),
                    ..e.user.clone()
                };
                sign_as_client(
                    &mut req,
                    &stranger,
                    "us-east-1",
                    r.sigv4.unwrap(),
                    SystemTime::now(),
                )
                .expect("signing");
            }
            let body = Body::new(Counting {
                pulled: pulled.clone(),
                left: CHUNK * 4,
            });
            let a = call((r.router)(e), req.map(|_| body));
            assert_eq!(
                a.status,
                StatusCode::FORBIDDEN,
                "{}: {}",
                r.name,
                truncated(&a.body)
            );
            assert_eq!(
                pulled.load(Ordering::SeqCst),
                0,
                "{}: the body was read",
                r.name
            );
        }
    }
}

/// A second `X-Amz-Date` added after signing makes the request ambiguous: refused.
#[test]
fn a_second_amz_date_header_is_refused() {
    let e = env();
    let mut req = request(
        "GET",
        &format!("/workspaces/{}/api/v1/labels", e.workspace),
        &[],
        vec![],
        Some("aps"),
    );
    assert_eq!(
        call(
            &e.amp,
            request(
                "GET",
                &format!("/workspaces/{}/api/v1/labels", e.workspace),
                &[],
                vec![],
                Some("aps")
            )
        )
        .status,
        StatusCode::OK
    );
    let first = req.headers().get("x-amz-date").expect("signed").clone();
    req.headers_mut().append("x-amz-date", first);
    let a = call(&e.amp, req);
    assert!(
        a.status.is_client_error(),
        "{} {}",
        a.status,
        truncated(&a.body)
    );
    assert!(a.body.contains("Date must be in ISO-8601"), "{}", a.body);
}

// ---------------------------------------------------------------------------------------
// What the properties found, kept as plain cases.

/// Times at the ends of i64 once overflowed the range arithmetic (a panic in the handler).
#[test]
fn extreme_times_are_answered() {
    let range = |start: &str, end: &str, step: &str| {
        query_api(
            "query_range",
            &[
                ("query", "vector(1)".into()),
                ("start", start.into()),
                ("end", end.into()),
                ("step", step.into()),
            ],
            true,
        )
    };
    for a in [
        range("-9223372036854775", "0", "1310970720960898400000000"),
        range("-9223372036854775", "9223372036854775", "1e300"),
        query_api(
            "query",
            &[("query", "up".into()), ("time", "-9223372036854775".into())],
            false,
        ),
        query_api(
            "query",
            &[
                ("query", "rate(up[5m])".into()),
                ("time", "9223372036854775".into()),
            ],
            false,
        ),
    ] {
        acceptable(&a).unwrap();
    }
    let e = env();
    let ds = pipecheck_mocks::amg::SEED_DATA_SOURCE_UID;
    let auth = format!("Bearer {}", e.grafana_token);
    for (from, to) in [
        ("now", "-9223372036854775808"),
        ("now-9223372036854775807y", "now"),
    ] {
        let body = serde_json::json!({"from": from, "to": to, "queries": [
            {"refId": "A", "datasource": {"uid": ds}, "expr": "up", "range": true}]});
        let a = grafana_call(
            "POST",
            "/api/ds/query",
            &auth,
            body.to_string().into_bytes(),
        );
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{}", a.body);
    }
}

/// Paths no operation serves answer AWS's `UnknownOperationException`, not an empty 404.
#[test]
fn unknown_operations_are_named() {
    let e = env();
    for (router, service, path) in [
        (&e.amp, "aps", format!("/workspaces/{}/alias", e.workspace)),
        (&e.eks, "eks", "/clusters/".to_string()),
    ] {
        let a = json_call(router, "POST", &path, b"{}".to_vec(), service);
        assert_eq!(a.status, StatusCode::NOT_FOUND);
        assert!(
            a.body.contains("not served by the pipecheck mock"),
            "{}",
            a.body
        );
    }
}

/// Over a real socket: a request that declares a huge body and sends none of it is
/// answered 413 at once, not after waiting for (or reading) the body.
#[test]
fn loopback_listeners_refuse_declared_huge_bodies_without_waiting() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let e = env();
    let ep = e.stack.endpoints();
    let grafana = ep.grafana_url.clone().expect("a Grafana URL");
    let targets = [
        (
            ep.amp.clone(),
            format!("/workspaces/{}/api/v1/remote_write", e.workspace),
            String::new(),
        ),
        (
            grafana,
            "/api/dashboards/db".to_string(),
            format!("Authorization: Bearer {}\r\n", e.grafana_token),
        ),
    ];
    for (base, path, auth) in targets {
        let addr = base.trim_start_matches("http://").to_string();
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/x-protobuf\r\n\
             Content-Encoding: snappy\r\n{auth}Content-Length: 10000000000\r\n\r\n"
        );
        let answer = e.rt.block_on(async {
            let mut sock = tokio::net::TcpStream::connect(&addr)
                .await
                .expect("connect");
            sock.write_all(head.as_bytes())
                .await
                .expect("send the head");
            let mut buf = vec![0u8; 4096];
            let n = tokio::time::timeout(Duration::from_secs(5), sock.read(&mut buf))
                .await
                .expect("an answer within 5 s, without the body")
                .expect("read");
            String::from_utf8_lossy(&buf[..n]).into_owned()
        });
        assert!(
            answer.starts_with("HTTP/1.1 413"),
            "{base}{path}: {}",
            truncated(&answer)
        );
    }
}
