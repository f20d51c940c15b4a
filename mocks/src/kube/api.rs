//! The mock Kubernetes API's HTTP surface: authentication (bearer tokens), legacy
//! discovery, and list/get/create/update/patch/delete on every type in
//! [`resources::RESOURCES`], plus `pods/{name}/log` (aws-wire.md H). Answers are JSON:
//! a `Table` when kubectl asks for one (`table.rs`), plain objects otherwise (protobuf
//! requests get JSON too, which client-go accepts); errors are `Status` objects.
//!
//! Not served: watch (`?watch=true` gets 405), deletecollection, JSON patch and
//! server-side apply (415), aggregated discovery (kubectl falls back to the legacy
//! documents).

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::resources::{self, ResourceType, SUBRESOURCES, VERBS};
use super::selector::Selector;
use super::status::KubeError;
use super::store::KubeState;
use super::table;
use crate::sigv4::VerifyFailure;

/// Request bodies are small manifests; the apiserver's `MaxRequestBodyBytes` is 3 MiB.
pub const MAX_BODY: usize = 3 << 20;
const ANONYMOUS: &str = "system:anonymous";

pub fn router(state: Arc<KubeState>) -> Router {
    Router::new().fallback(handle).with_state(state)
}

async fn handle(State(st): State<Arc<KubeState>>, req: Request) -> Response {
    match serve(&st, req).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn serve(st: &KubeState, req: Request) -> Result<Response, KubeError> {
    let user = authenticate(st, req.headers())?;
    let (parts, body) = req.into_parts();
    let body = read_body(&parts, body).await?;
    let path = parts.uri.path().to_string();
    let query: Vec<(String, String)> = parts
        .uri
        .query()
        .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default();
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let host = parts
        .headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1")
        .to_string();

    // Non-resource paths anyone may read (system:public-info-viewer).
    match segs.as_slice() {
        ["version"] => return Ok(json_ok(version_json(st))),
        ["healthz"] | ["livez"] | ["readyz"] => return Ok((StatusCode::OK, "ok").into_response()),
        _ => {}
    }
    let is_resource_path = matches!(
        segs.as_slice(),
        ["api", "v1", _, ..] | ["apis", _, _, _, ..]
    );
    if user == ANONYMOUS && !is_resource_path {
        return Err(KubeError::ForbiddenPath {
            user,
            verb: "get",
            path,
        });
    }
    let req = Req {
        method: parts.method.clone(),
        headers: parts.headers,
        query,
        body,
        user,
    };
    match segs.as_slice() {
        ["api"] => get_only(&req, || api_versions(&host)),
        ["api", "v1"] => get_only(&req, || resource_list("", "v1")),
        ["apis"] => get_only(&req, api_groups),
        ["apis", group] => {
            let g = api_group(group).ok_or(KubeError::NoSuchPath)?;
            get_only(&req, || g)
        }
        ["apis", group, version] => {
            if !resources::group_versions().contains(&(*group, *version)) {
                return Err(KubeError::NoSuchPath);
            }
            get_only(&req, || resource_list(group, version))
        }
        ["api", "v1", rest @ ..] => resource(st, &req, "", "v1", rest),
        ["apis", group, version, rest @ ..] => resource(st, &req, group, version, rest),
        _ => Err(KubeError::NoSuchPath),
    }
}

/// Bearer token -> user. No token is the anonymous user; an unknown one is 401.
fn authenticate(st: &KubeState, headers: &HeaderMap) -> Result<String, KubeError> {
    let Some(auth) = headers.get(header::AUTHORIZATION) else {
        return Ok(ANONYMOUS.to_string());
    };
    let token = auth
        .to_str()
        .ok()
        .and_then(|a| a.strip_prefix("Bearer "))
        .map(str::trim)
        .ok_or(KubeError::Unauthorized)?;
    st.user_for_token(token).ok_or(KubeError::Unauthorized)
}

/// The request body, at most [`MAX_BODY`]: a `Content-Length` over it is refused before
/// anything is read, a body without one as soon as it passes the limit (the reading the
/// SigV4 services share, without the signature).
async fn read_body(
    parts: &http::request::Parts,
    body: axum::body::Body,
) -> Result<Bytes, KubeError> {
    crate::sigv4::read_body(parts, body, MAX_BODY)
        .await
        .map_err(|e| match e {
            VerifyFailure::BodyTooLarge { limit } => KubeError::RequestEntityTooLarge { limit },
            VerifyFailure::BodyUnreadable(e) => {
                KubeError::BadRequest(format!("failed to read the request body: {e}"))
            }
            // read_body checks no signature.
            VerifyFailure::Sig(e) => KubeError::BadRequest(e.to_string()),
        })
}

struct Req {
    method: Method,
    headers: HeaderMap,
    query: Vec<(String, String)>,
    body: Bytes,
    user: String,
}

impl Req {
    fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Whether the client asked for server-side printing (kubectl's human output).
    fn wants_table(&self) -> bool {
        self.headers
            .get(header::ACCEPT)
            .and_then(|a| a.to_str().ok())
            .is_some_and(table::wanted)
    }

    fn flag(&self, name: &str) -> bool {
        matches!(self.param(name), Some("true" | "1"))
    }

    fn json_body(&self) -> Result<Value, KubeError> {
        serde_json::from_slice(&self.body)
            .map_err(|e| KubeError::BadRequest(format!("the request body is not valid JSON: {e}")))
    }
}

fn get_only(req: &Req, f: impl FnOnce() -> Value) -> Result<Response, KubeError> {
    if req.method != Method::GET {
        return Err(KubeError::MethodNotAllowed);
    }
    Ok(json_ok(f()))
}

// ---------------------------------------------------------------------------------------
// Discovery

fn version_json(st: &KubeState) -> Value {
    let (major, minor) = st.version();
    json!({
        "major": major,
        "minor": minor,
        "gitVersion": format!("v{major}.{minor}.0"),
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2024-05-01T00:00:00Z",
        "goVersion": "go1.22.2",
        "compiler": "gc",
        "platform": "linux/amd64",
    })
}

fn api_versions(host: &str) -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{ "clientCIDR": "0.0.0.0/0", "serverAddress": host }],
    })
}

fn group_json(group: &str) -> Value {
    let versions: Vec<Value> = resources::group_versions()
        .into_iter()
        .filter(|(g, _)| *g == group)
        .map(|(g, v)| json!({ "groupVersion": format!("{g}/{v}"), "version": v }))
        .collect();
    let preferred = versions.first().cloned().unwrap_or(Value::Null);
    json!({ "name": group, "versions": versions, "preferredVersion": preferred })
}

fn api_groups() -> Value {
    let mut groups: Vec<&str> = Vec::new();
    for (g, _) in resources::group_versions() {
        if !g.is_empty() && !groups.contains(&g) {
            groups.push(g);
        }
    }
    let groups: Vec<Value> = groups.into_iter().map(group_json).collect();
    json!({ "kind": "APIGroupList", "apiVersion": "v1", "groups": groups })
}

fn api_group(group: &str) -> Option<Value> {
    let served = resources::group_versions().iter().any(|(g, _)| *g == group);
    served.then(|| {
        let mut g = group_json(group);
        g["kind"] = json!("APIGroup");
        g["apiVersion"] = json!("v1");
        g
    })
}

fn resource_list(group: &str, version: &str) -> Value {
    let mut list: Vec<Value> = Vec::new();
    for r in resources::RESOURCES
        .iter()
        .filter(|r| r.group == group && r.version == version)
    {
        let mut v = json!({
            "name": r.plural,
            "singularName": r.singular,
            "namespaced": r.namespaced,
            "kind": r.kind,
            "verbs": VERBS,
        });
        if !r.short_names.is_empty() {
            v["shortNames"] = json!(r.short_names);
        }
        if !r.categories.is_empty() {
            v["categories"] = json!(r.categories);
        }
        list.push(v);
        for (parent, sub, kind, verbs) in SUBRESOURCES {
            if *parent == r.plural {
                list.push(json!({
                    "name": format!("{parent}/{sub}"),
                    "singularName": "",
                    "namespaced": r.namespaced,
                    "kind": kind,
                    "verbs": verbs,
                }));
            }
        }
    }
    let gv = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    json!({ "kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": list })
}

// ---------------------------------------------------------------------------------------
// Resources

/// What a resource path names.
struct Addr<'a> {
    rt: &'static ResourceType,
    /// The request's namespace (namespaced paths only).
    ns: Option<&'a str>,
    name: Option<&'a str>,
    sub: Option<&'a str>,
}

fn parse_addr<'a>(group: &str, version: &str, rest: &[&'a str]) -> Result<Addr<'a>, KubeError> {
    let find = |plural: &str| resources::find(group, version, plural).ok_or(KubeError::NoSuchPath);
    let addr = match rest {
        // `namespaces/{ns}/{plural}…` is a namespaced path when `plural` is a namespaced
        // type of this group version; otherwise `namespaces/{name}/{sub}` of a namespace.
        ["namespaces", ns, plural, tail @ ..]
            if resources::find(group, version, plural).is_some_and(|r| r.namespaced) =>
        {
            let rt = find(plural)?;
            match tail {
                [] => Addr {
                    rt,
                    ns: Some(ns),
                    name: None,
                    sub: None,
                },
                [name] => Addr {
                    rt,
                    ns: Some(ns),
                    name: Some(name),
                    sub: None,
                },
                [name, sub] => Addr {
                    rt,
                    ns: Some(ns),
                    name: Some(name),
                    sub: Some(sub),
                },
                _ => return Err(KubeError::NoSuchPath),
            }
        }
        [plural] => Addr {
            rt: find(plural)?,
            ns: None,
            name: None,
            sub: None,
        },
        [plural, name] => {
            let rt = find(plural)?;
            if rt.namespaced {
                return Err(KubeError::NoSuchPath);
            }
            Addr {
                rt,
                ns: None,
                name: Some(name),
                sub: None,
            }
        }
        [plural, name, sub] => {
            let rt = find(plural)?;
            if rt.namespaced {
                return Err(KubeError::NoSuchPath);
            }
            Addr {
                rt,
                ns: None,
                name: Some(name),
                sub: Some(sub),
            }
        }
        _ => return Err(KubeError::NoSuchPath),
    };
    if addr.name.is_some_and(str::is_empty) {
        return Err(KubeError::NoSuchPath);
    }
    Ok(addr)
}

fn resource(
    st: &KubeState,
    req: &Req,
    group: &str,
    version: &str,
    rest: &[&str],
) -> Result<Response, KubeError> {
    let a = parse_addr(group, version, rest)?;
    let rt = a.rt;
    let ns_key = a.ns.unwrap_or("");
    match (&req.method, a.name, a.sub) {
        (&Method::GET, None, None) => {
            if req.flag("watch") {
                return Err(KubeError::MethodNotAllowed);
            }
            allow(st, req, "list", rt, a.ns, None)?;
            list(st, req, rt, a.ns)
        }
        (&Method::GET, Some(name), None) => {
            allow(st, req, "get", rt, a.ns, Some(name))?;
            let obj = st
                .get(rt.plural, ns_key, name)
                .ok_or_else(|| KubeError::not_found(rt, a.ns, name))?;
            if req.wants_table() {
                let meta = json!({ "resourceVersion": obj.pointer("/metadata/resourceVersion") });
                return Ok(table_response(st, req, rt, &[obj], meta));
            }
            Ok(json_ok(obj))
        }
        (&Method::GET, Some(name), Some("log")) if rt.plural == "pods" => {
            allow_sub(st, req, "get", rt, Some("log"), a.ns, Some(name))?;
            pod_log(st, req, rt, ns_key, name)
        }
        (&Method::POST, Some(name), Some("token")) if rt.plural == "serviceaccounts" => {
            allow_sub(st, req, "create", rt, Some("token"), a.ns, Some(name))?;
            let tr = super::token::token_request(st, ns_key, name, &req.json_body()?)?;
            Ok(json_response(StatusCode::CREATED, tr))
        }
        // `status` subresources read and write the whole object on the mock.
        (&Method::GET, Some(name), Some("status")) => {
            allow(st, req, "get", rt, a.ns, Some(name))?;
            let obj = st
                .get(rt.plural, ns_key, name)
                .ok_or_else(|| KubeError::not_found(rt, a.ns, name))?;
            Ok(json_ok(obj))
        }
        (&Method::POST, None, None) => {
            if rt.namespaced && a.ns.is_none() {
                return Err(KubeError::MethodNotAllowed);
            }
            allow(st, req, "create", rt, a.ns, None)?;
            let obj = st.create(rt, a.ns, req.json_body()?)?;
            st.reconcile_created(rt.plural, &obj)?;
            Ok(json_response(StatusCode::CREATED, obj))
        }
        (&Method::PUT, Some(name), None | Some("status")) => {
            allow(st, req, "update", rt, a.ns, Some(name))?;
            let obj = st.replace(rt, a.ns, name, req.json_body()?)?;
            Ok(json_ok(obj))
        }
        (&Method::PATCH, Some(name), None | Some("status")) => {
            allow(st, req, "patch", rt, a.ns, Some(name))?;
            let ct = req
                .headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_string();
            match ct.as_str() {
                "application/merge-patch+json" | "application/strategic-merge-patch+json" => {}
                other => return Err(KubeError::UnsupportedMediaType(other.to_string())),
            }
            if st.get(rt.plural, ns_key, name).is_none() {
                return Err(KubeError::not_found(rt, a.ns, name));
            }
            let obj = st.patch(rt.plural, ns_key, name, &req.json_body()?)?;
            Ok(json_ok(obj))
        }
        (&Method::DELETE, Some(name), None) => {
            allow(st, req, "delete", rt, a.ns, Some(name))?;
            let removed = st
                .delete(rt.plural, ns_key, name)
                .ok_or_else(|| KubeError::not_found(rt, a.ns, name))?;
            let mut details =
                json!({ "name": name, "kind": rt.plural, "uid": removed.pointer("/metadata/uid") });
            if !rt.group.is_empty() {
                details["group"] = json!(rt.group);
            }
            Ok(json_ok(json!({
                "kind": "Status",
                "apiVersion": "v1",
                "metadata": {},
                "status": "Success",
                "details": details,
            })))
        }
        (_, Some(_), Some(_)) => Err(KubeError::NoSuchPath),
        _ => Err(KubeError::MethodNotAllowed),
    }
}

/// RBAC: the anonymous user may read no resource; the mock's denials apply to the rest.
fn allow(
    st: &KubeState,
    req: &Req,
    verb: &'static str,
    rt: &ResourceType,
    ns: Option<&str>,
    name: Option<&str>,
) -> Result<(), KubeError> {
    allow_sub(st, req, verb, rt, None, ns, name)
}

/// [`allow`] for a subresource (`pods/log`, `serviceaccounts/token`); every request is
/// recorded with its subresource, as RBAC rules name it.
fn allow_sub(
    st: &KubeState,
    req: &Req,
    verb: &'static str,
    rt: &ResourceType,
    sub: Option<&str>,
    ns: Option<&str>,
    name: Option<&str>,
) -> Result<(), KubeError> {
    let resource = match sub {
        Some(sub) => format!("{}/{sub}", rt.plural),
        None => rt.plural.to_string(),
    };
    st.record_access(verb, rt.group, &resource);
    if req.user == ANONYMOUS {
        return Err(KubeError::Forbidden {
            user: ANONYMOUS.to_string(),
            verb,
            target: super::status::Target::new(rt, ns, name),
        });
    }
    st.check_access(&req.user, verb, rt, ns, name)
}

fn list(
    st: &KubeState,
    req: &Req,
    rt: &ResourceType,
    ns: Option<&str>,
) -> Result<Response, KubeError> {
    let labels = Selector::labels(req.param("labelSelector").unwrap_or(""))
        .map_err(KubeError::BadRequest)?;
    let fields = Selector::fields(req.param("fieldSelector").unwrap_or(""))
        .map_err(KubeError::BadRequest)?;
    let items: Vec<Value> = st
        .list(rt.plural, ns)
        .into_iter()
        .filter(|o| labels.matches_labels(o) && fields.matches_fields(o))
        .collect();
    let rv = st.resource_version().to_string();
    // `limit`/`continue`: the continue token is the offset of the next item.
    let offset = match req.param("continue") {
        None | Some("") => 0,
        Some(t) => hex::decode(t)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|s| s.parse::<usize>().ok())
            .ok_or_else(|| {
                KubeError::BadRequest("continue key is not valid: illegal base64 data".to_string())
            })?,
    };
    let limit = req
        .param("limit")
        .and_then(|l| l.parse::<usize>().ok())
        .filter(|l| *l > 0);
    let total = items.len();
    let page: Vec<Value> = items
        .into_iter()
        .skip(offset)
        .take(limit.unwrap_or(usize::MAX))
        .collect();
    let end = offset + page.len();
    let mut meta = json!({ "resourceVersion": rv });
    if end < total {
        meta["continue"] = json!(hex::encode(end.to_string()));
        meta["remainingItemCount"] = json!(total - end);
    }
    if req.wants_table() {
        return Ok(table_response(st, req, rt, &page, meta));
    }
    Ok(json_ok(json!({
        "kind": rt.list_kind(),
        "apiVersion": rt.api_version(),
        "metadata": meta,
        "items": page,
    })))
}

fn pod_log(
    st: &KubeState,
    req: &Req,
    rt: &ResourceType,
    ns: &str,
    name: &str,
) -> Result<Response, KubeError> {
    let pod = st
        .get("pods", ns, name)
        .ok_or_else(|| KubeError::not_found(rt, Some(ns), name))?;
    let names = |key: &str| -> Vec<String> {
        pod.pointer(&format!("/spec/{key}"))
            .and_then(Value::as_array)
            .map(|cs| {
                cs.iter()
                    .filter_map(|c| c.get("name").and_then(Value::as_str).map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    let containers = names("containers");
    let init = names("initContainers");
    let container = match req.param("container") {
        Some(c) => {
            if !containers.iter().chain(&init).any(|n| n == c) {
                return Err(KubeError::BadRequest(format!(
                    "container {c} is not valid for pod {name}"
                )));
            }
            c.to_string()
        }
        None => {
            let default = pod
                .pointer("/metadata/annotations/kubectl.kubernetes.io~1default-container")
                .and_then(Value::as_str);
            match (default, containers.as_slice()) {
                (Some(d), _) => d.to_string(),
                (None, [only]) => only.clone(),
                _ => {
                    return Err(KubeError::BadRequest(format!(
                        "a container name must be specified for pod {name}, choose one of: [{}]",
                        containers.join(" ")
                    )));
                }
            }
        }
    };
    let (current, previous) = st.pod_log(ns, name, &container);
    let text = if req.flag("previous") {
        previous.ok_or_else(|| {
            KubeError::BadRequest(format!(
                "previous terminated container \"{container}\" in pod \"{name}\" not found"
            ))
        })?
    } else {
        current
    };
    let mut text = match req.param("tailLines").map(|t| t.parse::<usize>()) {
        None => text,
        Some(Ok(n)) => {
            let lines: Vec<&str> = text.lines().collect();
            let start = lines.len().saturating_sub(n);
            let mut out = lines[start..].join("\n");
            if !out.is_empty() {
                out.push('\n');
            }
            out
        }
        Some(Err(_)) => {
            return Err(KubeError::BadRequest(
                "tailLines: Invalid value: must be a non-negative integer".to_string(),
            ));
        }
    };
    if let Some(Ok(limit)) = req.param("limitBytes").map(|l| l.parse::<usize>()) {
        let mut cut = limit.min(text.len());
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
    }
    let mut resp = (StatusCode::OK, text).into_response();
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    Ok(resp)
}

fn table_response(
    st: &KubeState,
    req: &Req,
    rt: &ResourceType,
    items: &[Value],
    meta: Value,
) -> Response {
    let t = table::table(rt, items, meta, req.param("includeObject"), st.clock.now());
    let mut resp = json_ok(t);
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(table::CONTENT_TYPE),
    );
    resp
}

fn json_ok(v: Value) -> Response {
    json_response(StatusCode::OK, v)
}

fn json_response(status: StatusCode, v: Value) -> Response {
    let mut resp = (status, v.to_string()).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Ok(id) = HeaderValue::from_str(&uuid::Uuid::new_v4().to_string()) {
        h.insert("audit-id", id);
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::Clock;
    use axum::body::Body;
    use tower::ServiceExt;

    const TOKEN: &str = "t0k3n";

    fn state() -> Arc<KubeState> {
        let st = KubeState::new(Arc::new(Clock::default()));
        st.add_token(TOKEN, "admin");
        st.put("namespaces", json!({ "metadata": { "name": "n" } }))
            .unwrap();
        st.put(
            "pods",
            json!({
                "metadata": { "name": "p", "namespace": "n", "labels": { "app": "x" } },
                "spec": { "containers": [{ "name": "c" }] },
                "status": { "phase": "Running" }
            }),
        )
        .unwrap();
        st.set_pod_log("n", "p", "c", "one\ntwo\nthree\n");
        Arc::new(st)
    }

    async fn call(
        st: &Arc<KubeState>,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<(&str, Value)>,
    ) -> (StatusCode, String) {
        let mut b = http::Request::builder().method(method).uri(path);
        if let Some(t) = token {
            b = b.header("authorization", format!("Bearer {t}"));
        }
        let body = match body {
            Some((ct, v)) => {
                b = b.header("content-type", ct);
                Body::from(v.to_string())
            }
            None => Body::empty(),
        };
        let resp = router(st.clone())
            .oneshot(b.body(body).unwrap())
            .await
            .unwrap();
        let status = resp.status();
        let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .unwrap();
        (status, String::from_utf8(bytes.to_vec()).unwrap())
    }

    fn v(s: &str) -> Value {
        serde_json::from_str(s).unwrap()
    }

    #[tokio::test]
    async fn tokens_decide_who_may_call() {
        let st = state();
        let (s, body) = call(&st, "GET", "/api/v1/pods", Some("wrong"), None).await;
        assert_eq!(s, 401);
        assert_eq!(v(&body)["reason"], "Unauthorized");
        let (s, _) = call(&st, "GET", "/version", None, None).await;
        assert_eq!(s, 200);
        let (s, body) = call(&st, "GET", "/api", None, None).await;
        assert_eq!(s, 403);
        assert_eq!(
            v(&body)["message"],
            "forbidden: User \"system:anonymous\" cannot get path \"/api\""
        );
    }

    #[tokio::test]
    async fn lists_filter_and_carry_resource_versions() {
        let st = state();
        let (s, body) = call(
            &st,
            "GET",
            "/api/v1/pods?labelSelector=app%3Dx",
            Some(TOKEN),
            None,
        )
        .await;
        assert_eq!(s, 200);
        let l = v(&body);
        assert_eq!(l["kind"], "PodList");
        assert_eq!(l["items"][0]["metadata"]["name"], "p");
        assert_eq!(
            l["metadata"]["resourceVersion"],
            st.resource_version().to_string()
        );
        let (_, body) = call(
            &st,
            "GET",
            "/api/v1/namespaces/n/pods?fieldSelector=status.phase%3DPending",
            Some(TOKEN),
            None,
        )
        .await;
        assert_eq!(v(&body)["items"], json!([]));
        let (s, body) = call(
            &st,
            "GET",
            "/api/v1/namespaces/n/pods?labelSelector=a+in+b",
            Some(TOKEN),
            None,
        )
        .await;
        assert_eq!(s, 400, "{body}");
    }

    #[tokio::test]
    async fn limit_and_continue_page_through() {
        let st = state();
        for i in 0..3 {
            st.put(
                "configmaps",
                json!({ "metadata": { "name": format!("c{i}"), "namespace": "n" } }),
            )
            .unwrap();
        }
        let (_, body) = call(
            &st,
            "GET",
            "/api/v1/namespaces/n/configmaps?limit=2",
            Some(TOKEN),
            None,
        )
        .await;
        let l = v(&body);
        assert_eq!(l["items"].as_array().unwrap().len(), 2);
        let cont = l["metadata"]["continue"].as_str().unwrap().to_string();
        let (_, body) = call(
            &st,
            "GET",
            &format!("/api/v1/namespaces/n/configmaps?limit=2&continue={cont}"),
            Some(TOKEN),
            None,
        )
        .await;
        let l = v(&body);
        assert_eq!(l["items"][0]["metadata"]["name"], "c2");
        assert!(l["metadata"].get("continue").is_none());
    }

    #[tokio::test]
    async fn crud_with_status_errors() {
        let st = state();
        let cm = json!({ "metadata": { "name": "c" }, "data": { "k": "v" } });
        let (s, _) = call(
            &st,
            "POST",
            "/api/v1/namespaces/n/configmaps",
            Some(TOKEN),
            Some(("application/json", cm.clone())),
        )
        .await;
        assert_eq!(s, 201);
        let (s, body) = call(
            &st,
            "POST",
            "/api/v1/namespaces/n/configmaps",
            Some(TOKEN),
            Some(("application/json", cm)),
        )
        .await;
        assert_eq!(s, 409);
        assert_eq!(v(&body)["reason"], "AlreadyExists");
        let (s, body) = call(
            &st,
            "PATCH",
            "/api/v1/namespaces/n/configmaps/c",
            Some(TOKEN),
            Some((
                "application/merge-patch+json",
                json!({ "data": { "k": null, "j": "w" } }),
            )),
        )
        .await;
        assert_eq!(s, 200);
        assert_eq!(v(&body)["data"], json!({ "j": "w" }));
        let (s, _) = call(
            &st,
            "PATCH",
            "/api/v1/namespaces/n/configmaps/c",
            Some(TOKEN),
            Some(("application/json-patch+json", json!([]))),
        )
        .await;
        assert_eq!(s, 415);
        let (s, body) = call(
            &st,
            "DELETE",
            "/api/v1/namespaces/n/configmaps/c",
            Some(TOKEN),
            None,
        )
        .await;
        assert_eq!(s, 200);
        assert_eq!(v(&body)["status"], "Success");
        let (s, body) = call(
            &st,
            "GET",
            "/api/v1/namespaces/n/configmaps/c",
            Some(TOKEN),
            None,
        )
        .await;
        assert_eq!(s, 404);
        assert_eq!(v(&body)["message"], "configmaps \"c\" not found");
        let (s, body) = call(
            &st,
            "GET",
            "/apis/apps/v1/namespaces/n/deployments/d",
            Some(TOKEN),
            None,
        )
        .await;
        assert_eq!(s, 404);
        assert_eq!(v(&body)["message"], "deployments.apps \"d\" not found");
    }

    #[tokio::test]
    async fn denials_are_forbidden() {
        let st = state();
        st.deny(Some("list"), "pods", Some("n"));
        let (s, body) = call(&st, "GET", "/api/v1/namespaces/n/pods", Some(TOKEN), None).await;
        assert_eq!(s, 403);
        assert_eq!(
            v(&body)["message"],
            "pods is forbidden: User \"admin\" cannot list resource \"pods\" in API group \"\" in the namespace \"n\""
        );
        let (s, _) = call(&st, "GET", "/api/v1/namespaces/n/pods/p", Some(TOKEN), None).await;
        assert_eq!(s, 200);
    }

    #[tokio::test]
    async fn logs_tail_and_previous() {
        let st = state();
        let (s, body) = call(
            &st,
            "GET",
            "/api/v1/namespaces/n/pods/p/log?tailLines=2",
            Some(TOKEN),
            None,
        )
        .await;
        assert_eq!(s, 200);
        assert_eq!(body, "two\nthree\n");
        let (s, body) = call(
            &st,
            "GET",
            "/api/v1/namespaces/n/pods/p/log?previous=true",
            Some(TOKEN),
            None,
        )
        .await;
        assert_eq!(s, 400);
        assert_eq!(
            v(&body)["message"],
            "previous terminated container \"c\" in pod \"p\" not found"
        );
        let (s, _) = call(
            &st,
            "GET",
            "/api/v1/namespaces/n/pods/p/log?container=z",
            Some(TOKEN),
            None,
        )
        .await;
        assert_eq!(s, 400);
        let (s, _) = call(
            &st,
            "GET",
            "/api/v1/namespaces/n/pods/q/log",
            Some(TOKEN),
            None,
        )
        .await;
        assert_eq!(s, 404);
    }

    #[tokio::test]
    async fn discovery_lists_types_and_short_names() {
        let st = state();
        let (_, body) = call(&st, "GET", "/api/v1", Some(TOKEN), None).await;
        let l = v(&body);
        let sa = l["resources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == "serviceaccounts")
            .unwrap();
        assert_eq!(sa["shortNames"], json!(["sa"]));
        assert!(
            l["resources"]
                .as_array()
                .unwrap()
                .iter()
                .any(|r| r["name"] == "pods/log")
        );
        let (_, body) = call(&st, "GET", "/apis", Some(TOKEN), None).await;
        let names: Vec<String> = v(&body)["groups"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g["name"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(
            names,
            [
                "apps",
                "opentelemetry.io",
                "monitoring.coreos.com",
                "apiextensions.k8s.io",
                "rbac.authorization.k8s.io"
            ]
        );
        let (_, body) = call(
            &st,
            "GET",
            "/apis/opentelemetry.io/v1beta1",
            Some(TOKEN),
            None,
        )
        .await;
        assert_eq!(
            v(&body)["resources"][0]["shortNames"],
            json!(["otelcol", "otelcols"])
        );
        let (s, _) = call(&st, "GET", "/apis/nope/v1", Some(TOKEN), None).await;
        assert_eq!(s, 404);
    }
}
