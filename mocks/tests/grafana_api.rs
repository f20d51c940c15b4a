//! The mock Grafana HTTP API inside a whole `MockStack`: tokens come from the AMG control
//! plane (real SDK), queries go from the mock Grafana to the mock AMP over real HTTP,
//! SigV4-signed as the workspace role, and come back as Grafana data frames.

mod common;

use aws_sdk_grafana::types::Role;
use pipecheck_mocks::amg::{SEED_DATA_SOURCE_NAME, SEED_DATA_SOURCE_UID, WorkspaceStatus};
use pipecheck_mocks::grafana::AmpHttpErrors;
use pipecheck_mocks::{MockConfig, MockStack};
use serde_json::{Value, json};

struct Env {
    stack: MockStack,
    grafana: String,
    ws: String,
    amp_ws: String,
    http: reqwest::Client,
    sdk: aws_sdk_grafana::Client,
}

async fn env() -> Env {
    let stack = MockStack::start(MockConfig::default()).await.unwrap();
    let ep = stack.endpoints().clone();
    let conf = common::sdk_config(&ep.amg, &ep.region, &ep.user).await;
    Env {
        grafana: ep.grafana_url.clone().unwrap(),
        ws: ep.grafana_workspace_id.clone().unwrap(),
        amp_ws: ep.workspace_id.clone().unwrap(),
        stack,
        http: reqwest::Client::builder().no_proxy().build().unwrap(),
        sdk: aws_sdk_grafana::Client::new(&conf),
    }
}

impl Env {
    /// A service account with `role` and a token, through the control plane.
    async fn token(&self, role: Role, ttl: i32) -> String {
        let name = format!("sa-{}", role.as_str().to_lowercase());
        let sa = self
            .sdk
            .create_workspace_service_account()
            .workspace_id(&self.ws)
            .name(&name)
            .grafana_role(role)
            .send()
            .await
            .unwrap();
        self.sdk
            .create_workspace_service_account_token()
            .workspace_id(&self.ws)
            .service_account_id(sa.id())
            .name("run")
            .seconds_to_live(ttl)
            .send()
            .await
            .unwrap()
            .service_account_token()
            .unwrap()
            .key()
            .to_string()
    }

    async fn get(&self, path: &str, token: Option<&str>) -> (u16, String) {
        let mut rb = self.http.get(format!("{}{path}", self.grafana));
        if let Some(t) = token {
            rb = rb.bearer_auth(t);
        }
        let r = rb.send().await.unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    }

    async fn get_json(&self, path: &str, token: &str) -> (u16, Value) {
        let (s, b) = self.get(path, Some(token)).await;
        (s, serde_json::from_str(&b).unwrap())
    }

    async fn send(
        &self,
        method: &str,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut rb = self
            .http
            .request(method.parse().unwrap(), format!("{}{path}", self.grafana))
            .bearer_auth(token);
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        let r = rb.send().await.unwrap();
        let s = r.status().as_u16();
        (s, serde_json::from_str(&r.text().await.unwrap()).unwrap())
    }

    /// Appends one sample to the AMP workspace's store.
    fn sample(&self, name: &str, job: &str, t_ms: i64, v: f64) {
        let labels = vec![
            ("__name__".to_string(), name.to_string()),
            ("job".to_string(), job.to_string()),
        ];
        self.stack
            .amp
            .store(&self.amp_ws)
            .unwrap()
            .append(labels, &[(t_ms, v)], 0)
            .unwrap();
    }

    fn instant(&self, expr: &str, to_ms: i64) -> Value {
        json!({
            "from": (to_ms - 300_000).to_string(),
            "to": to_ms.to_string(),
            "queries": [{
                "refId": "A",
                "datasource": { "type": "prometheus", "uid": SEED_DATA_SOURCE_UID },
                "expr": expr,
                "instant": true,
                "range": false,
                "legendFormat": "__auto",
            }],
        })
    }
}

const INVALID: &str = r#"{"extra":null,"message":"Invalid API key","messageId":"api-key.invalid","statusCode":401,"traceID":""}"#;
const EXPIRED: &str = r#"{"extra":null,"message":"Expired API key","messageId":"api-key.expired","statusCode":401,"traceID":""}"#;

#[tokio::test]
async fn endpoint_health_and_authentication() {
    let e = env().await;
    // The AMG endpoint is the bare host of the Grafana URL.
    let w = e
        .sdk
        .describe_workspace()
        .workspace_id(&e.ws)
        .send()
        .await
        .unwrap();
    assert_eq!(
        format!("http://{}", w.workspace().unwrap().endpoint()),
        e.grafana
    );

    let (s, b) = e.get("/api/health", None).await;
    assert_eq!(s, 200);
    assert_eq!(
        serde_json::from_str::<Value>(&b).unwrap(),
        json!({"commit":"pipecheck-mock","database":"ok","version":"10.4.0"})
    );

    let (s, b) = e.get("/api/datasources", None).await;
    assert_eq!((s, b.as_str()), (401, r#"{"message":"Unauthorized"}"#));
    let bogus = "glsa_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA_00000000";
    let (s, b) = e.get("/api/datasources", Some(bogus)).await;
    assert_eq!((s, b.as_str()), (401, INVALID));
    let (s, b) = e.get("/api/datasources", Some("not-a-key")).await;
    assert_eq!((s, b.as_str()), (401, INVALID));

    let token = e.token(Role::Viewer, 60).await;
    let (s, _) = e.get("/api/datasources", Some(&token)).await;
    assert_eq!(s, 200);
    // The token is used: lastUsedAt shows on the control plane.
    let sa_id = e
        .stack
        .amg
        .with_workspace(&e.ws, |w| w.service_accounts[0].id.clone())
        .unwrap();
    let toks = e
        .sdk
        .list_workspace_service_account_tokens()
        .workspace_id(&e.ws)
        .service_account_id(&sa_id)
        .send()
        .await
        .unwrap();
    assert!(toks.service_account_tokens()[0].last_used_at().is_some());

    // Expired by the clock, then revoked, then deleted.
    e.stack.clock.set_offset_ms(120_000);
    let (s, b) = e.get("/api/datasources", Some(&token)).await;
    assert_eq!((s, b.as_str()), (401, EXPIRED));
    e.stack.clock.set_offset_ms(0);
    e.stack.amg.revoke_tokens(&e.ws);
    let (s, b) = e.get("/api/datasources", Some(&token)).await;
    assert_eq!(s, 401);
    assert!(b.contains(r#""message":"Revoked API key""#), "{b}");
    e.stack.amg.delete_credentials(&e.ws);
    let (s, b) = e.get("/api/datasources", Some(&token)).await;
    assert_eq!((s, b.as_str()), (401, INVALID));

    // A legacy API key works as a bearer token on 10.4.
    let key = e
        .sdk
        .create_workspace_api_key()
        .workspace_id(&e.ws)
        .key_name("legacy")
        .key_role("ADMIN")
        .seconds_to_live(60)
        .send()
        .await
        .unwrap()
        .key()
        .to_string();
    let (s, _) = e.get("/api/datasources", Some(&key)).await;
    assert_eq!(s, 200);
}

#[tokio::test]
async fn data_source_list_get_create_delete() {
    let e = env().await;
    let admin = e.token(Role::Admin, 600).await;
    let (s, v) = e.get_json("/api/datasources", &admin).await;
    assert_eq!(s, 200);
    let ds = &v[0];
    assert_eq!(ds["name"], SEED_DATA_SOURCE_NAME);
    assert_eq!(ds["type"], "prometheus");
    assert_eq!(ds["typeName"], "Prometheus");
    assert_eq!(
        ds["url"],
        format!("{}/workspaces/{}/", e.stack.endpoints().amp, e.amp_ws)
    );
    assert_eq!(
        ds["jsonData"],
        json!({"httpMethod":"POST","sigV4Auth":true,"sigV4AuthType":"ec2_iam_role","sigV4Region":"us-east-1"})
    );
    let (s, v) = e
        .get_json(
            &format!("/api/datasources/uid/{SEED_DATA_SOURCE_UID}"),
            &admin,
        )
        .await;
    assert_eq!((s, v["uid"].as_str()), (200, Some(SEED_DATA_SOURCE_UID)));
    assert_eq!(v["secureJsonFields"], json!({}));
    let (s, v) = e.get_json("/api/datasources/uid/nope", &admin).await;
    assert_eq!((s, v), (404, json!({"message":"Data source not found"})));

    let new = json!({"name": SEED_DATA_SOURCE_NAME, "type": "prometheus", "url": "http://127.0.0.1:1/", "access": "proxy"});
    let (s, v) = e
        .send("POST", "/api/datasources", &admin, Some(new.clone()))
        .await;
    assert_eq!(
        (s, v),
        (
            409,
            json!({"message":"data source with the same name already exists"})
        )
    );

    let viewer = e.token(Role::Viewer, 600).await;
    let mut other = new.clone();
    other["name"] = json!("other");
    let (s, v) = e
        .send("POST", "/api/datasources", &viewer, Some(other.clone()))
        .await;
    assert_eq!(s, 403);
    assert_eq!(v["title"], "Access denied");
    assert_eq!(
        v["message"],
        "You'll need additional permissions to perform this action. Permissions needed: datasources:create"
    );

    other["secureJsonData"] = json!({"sigV4SecretKey": "s3cr3t"});
    let (s, v) = e
        .send("POST", "/api/datasources", &admin, Some(other))
        .await;
    assert_eq!((s, v["message"].as_str()), (200, Some("Datasource added")));
    assert_eq!(
        v["datasource"]["secureJsonFields"],
        json!({"sigV4SecretKey": true})
    );
    assert!(!v.to_string().contains("s3cr3t"));
    let uid = v["datasource"]["uid"].as_str().unwrap().to_string();
    let (s, v) = e
        .send(
            "DELETE",
            &format!("/api/datasources/uid/{uid}"),
            &admin,
            None,
        )
        .await;
    assert_eq!(
        (s, v["message"].as_str()),
        (200, Some("Data source deleted"))
    );
    let (s, _) = e
        .send(
            "DELETE",
            &format!("/api/datasources/uid/{uid}"),
            &admin,
            None,
        )
        .await;
    assert_eq!(s, 404);
}

#[tokio::test]
async fn ds_query_returns_the_exact_values_seen_in_amp() {
    let e = env().await;
    let token = e.token(Role::Viewer, 600).await;
    let now = e.stack.clock.now_ms();
    let to = now - now % 1000;
    // 30 s back, so the range query's end (aligned down to the 15 s step) still sees it.
    e.sample("pipecheck_canary", "adot", to - 30_000, 42.5);

    let (s, v) = e
        .send(
            "POST",
            "/api/ds/query",
            &token,
            Some(e.instant("pipecheck_canary", to)),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        v,
        json!({"results":{"A":{"status":200,"frames":[{"schema":{"refId":"A","meta":{
            "type":"numeric-multi","typeVersion":[0,1],"custom":{"resultType":"vector"},
            "executedQueryString":"Expr: pipecheck_canary\nStep: 15s"},
            "fields":[{"name":"Time","type":"time","typeInfo":{"frame":"time.Time"},"config":{"interval":15000}},
            {"name":"pipecheck_canary","type":"number","typeInfo":{"frame":"float64"},
             "labels":{"__name__":"pipecheck_canary","job":"adot"}}]},
            "data":{"values":[[to],[42.5]]}}]}}})
    );

    // A range query (neither flag set) is timeseries-multi over the aligned range.
    let body = json!({
        "from": (to - 60_000).to_string(),
        "to": to.to_string(),
        "queries": [{"refId":"R","datasource":{"uid":SEED_DATA_SOURCE_UID},"expr":"pipecheck_canary","interval":"15s"}],
    });
    let (s, v) = e.send("POST", "/api/ds/query", &token, Some(body)).await;
    assert_eq!(s, 200, "{v}");
    let f = &v["results"]["R"]["frames"][0];
    assert_eq!(f["schema"]["meta"]["type"], "timeseries-multi");
    let values = f["data"]["values"][1].as_array().unwrap();
    assert!(
        !values.is_empty() && values.iter().all(|x| x == &json!(42.5)),
        "{f}"
    );

    // NaN comes back as null with an entity.
    e.sample("pipecheck_nan", "adot", to - 10_000, f64::NAN);
    let (_, v) = e
        .send(
            "POST",
            "/api/ds/query",
            &token,
            Some(e.instant("pipecheck_nan", to)),
        )
        .await;
    let d = &v["results"]["A"]["frames"][0]["data"];
    assert_eq!(d["values"][1], json!([null]));
    assert_eq!(d["entities"], json!([null, {"NaN":[0]}]));

    // Nothing there: one empty frame, status 200 ("No data").
    let (s, v) = e
        .send(
            "POST",
            "/api/ds/query",
            &token,
            Some(e.instant("absent_metric", to)),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(
        v["results"]["A"]["frames"][0]["schema"]["fields"],
        json!([])
    );

    // Unknown data source uid: 404.
    let mut body = e.instant("up", to);
    body["queries"][0]["datasource"]["uid"] = json!("nope");
    let (s, v) = e.send("POST", "/api/ds/query", &token, Some(body)).await;
    assert_eq!((s, v), (404, json!({"message":"Data source not found"})));

    // A PromQL error comes back parsed from Prometheus' envelope.
    let (s, v) = e
        .send("POST", "/api/ds/query", &token, Some(e.instant("sum(", to)))
        .await;
    assert_eq!(s, 400);
    let r = &v["results"]["A"];
    assert!(
        r["error"].as_str().unwrap().starts_with("bad_data: "),
        "{r}"
    );
    assert_eq!(
        (r["status"].as_u64(), r["errorSource"].as_str()),
        (Some(400), Some("downstream"))
    );
}

#[tokio::test]
async fn data_source_health() {
    let e = env().await;
    let token = e.token(Role::Viewer, 600).await;
    let path = format!("/api/datasources/uid/{SEED_DATA_SOURCE_UID}/health");
    let (s, v) = e.get_json(&path, &token).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["status"], "OK");
    assert_eq!(v["message"], "Successfully queried the Prometheus API.");

    // F23: sigV4Auth off, the query goes unsigned and AMP refuses it.
    e.stack
        .amg
        .update_data_source(&e.ws, SEED_DATA_SOURCE_UID, |d| {
            d.json_data["sigV4Auth"] = json!(false);
        });
    let (s, v) = e.get_json(&path, &token).await;
    assert_eq!(
        (s, v),
        (
            400,
            json!({"message":"403 Forbidden - There was an error returned querying the Prometheus API.","status":"ERROR"})
        )
    );
    let (s, v) = e.get_json("/api/datasources/uid/nope/health", &token).await;
    assert_eq!((s, v), (404, json!({"message":"Data source not found"})));
}

#[tokio::test]
async fn unsigned_data_source_surfaces_amps_403_in_the_result() {
    let e = env().await;
    let token = e.token(Role::Viewer, 600).await;
    e.stack
        .amg
        .update_data_source(&e.ws, SEED_DATA_SOURCE_UID, |d| {
            d.json_data["sigV4Auth"] = json!(false);
        });
    let to = e.stack.clock.now_ms();
    let (s, v) = e
        .send("POST", "/api/ds/query", &token, Some(e.instant("up", to)))
        .await;
    assert_eq!(s, 400);
    assert_eq!(
        v,
        json!({"results":{"A":{
            "error":"unexpected response with status code 403: {\"message\":\"Missing Authentication Token\"}",
            "errorSource":"downstream","status":500}}})
    );
}

#[tokio::test]
async fn role_without_query_metrics_gets_403_inside_the_result() {
    let e = env().await;
    let token = e.token(Role::Viewer, 600).await;
    let role = e.stack.endpoints().grafana_role.clone().unwrap();
    // F24, exactly as the harness would inject it.
    e.stack.identities.update(&role.access_key_id, |i| {
        i.allowed_actions.remove("aps:QueryMetrics");
    });
    let to = e.stack.clock.now_ms();
    let (s, v) = e
        .send("POST", "/api/ds/query", &token, Some(e.instant("up", to)))
        .await;
    assert_eq!(s, 400);
    let r = &v["results"]["A"];
    let amp_arn = format!("arn:aws:aps:us-east-1:111122223333:workspace/{}", e.amp_ws);
    assert_eq!(
        r["error"],
        format!(
            "unexpected response with status code 403: {{\"Message\":\"User: {} is not authorized to perform: aps:QueryMetrics on resource: {amp_arn}\"}}",
            role.arn
        )
    );
    assert!(role.arn.contains("AmazonGrafanaServiceRole-pipecheck"));
    assert_eq!(r["status"], 500);

    // Grafana 9.4-10.x's "No data" behaviour: HTTP 200, an empty frame, status 403.
    e.stack.amg.with_workspace(&e.ws, |w| {
        w.grafana.behaviour.amp_http_errors = AmpHttpErrors::NoDataBug;
    });
    let (s, v) = e
        .send("POST", "/api/ds/query", &token, Some(e.instant("up", to)))
        .await;
    assert_eq!(s, 200);
    let r = &v["results"]["A"];
    assert_eq!(r["status"], 403);
    assert!(r.get("error").is_none());
    assert_eq!(r["frames"][0]["schema"]["fields"], json!([]));
}

#[tokio::test]
async fn data_source_pointing_elsewhere() {
    let e = env().await;
    let token = e.token(Role::Viewer, 600).await;
    let to = e.stack.clock.now_ms();
    let amp = e.stack.endpoints().amp.clone();
    e.stack
        .amg
        .update_data_source(&e.ws, SEED_DATA_SOURCE_UID, |d| {
            d.url = format!("{amp}/workspaces/ws-00000000-0000-4000-8000-000000000000/");
        });
    let (s, v) = e
        .send("POST", "/api/ds/query", &token, Some(e.instant("up", to)))
        .await;
    assert_eq!(s, 400);
    assert_eq!(
        v["results"]["A"]["error"],
        r#"unexpected response with status code 404: {"Message":"Workspace not found"}"#
    );
    let amp_ws = e.amp_ws.clone();
    e.stack
        .amg
        .update_data_source(&e.ws, SEED_DATA_SOURCE_UID, |d| {
            d.url = format!("{amp}/workspaces/{amp_ws}/");
            d.json_data["sigV4Region"] = json!("eu-west-1");
        });
    let (s, v) = e
        .send("POST", "/api/ds/query", &token, Some(e.instant("up", to)))
        .await;
    assert_eq!(s, 400);
    assert_eq!(
        v["results"]["A"]["error"],
        r#"unexpected response with status code 403: {"message":"Credential should be scoped to a valid region, not 'eu-west-1'. "}"#
    );
}

#[tokio::test]
async fn dashboards_create_search_get_delete() {
    let e = env().await;
    let editor = e.token(Role::Editor, 600).await;
    let viewer = e.token(Role::Viewer, 600).await;
    let dash = json!({
        "dashboard": {"uid": null, "title": "Pipecheck Canary", "tags": ["pipecheck"], "panels": [
            {"type":"timeseries","title":"canary","targets":[{"refId":"A","expr":"pipecheck_canary",
             "datasource":{"type":"prometheus","uid":SEED_DATA_SOURCE_UID}}]}]},
        "overwrite": false,
        "message": "pipecheck",
    });
    let (s, v) = e
        .send("POST", "/api/dashboards/db", &viewer, Some(dash.clone()))
        .await;
    assert_eq!(s, 403);
    assert_eq!(
        v["message"],
        "You'll need additional permissions to perform this action. Permissions needed: any of dashboards:create, dashboards:write"
    );

    let (s, v) = e
        .send("POST", "/api/dashboards/db", &editor, Some(dash.clone()))
        .await;
    assert_eq!(s, 200, "{v}");
    let uid = v["uid"].as_str().unwrap().to_string();
    assert_eq!(
        v,
        json!({"id":1,"uid":uid,"url":format!("/d/{uid}/pipecheck-canary"),"status":"success","version":1,"slug":"pipecheck-canary"})
    );
    // Same title again without overwrite: 412 name-exists.
    let (s, v) = e
        .send("POST", "/api/dashboards/db", &editor, Some(dash.clone()))
        .await;
    assert_eq!((s, v["status"].as_str()), (412, Some("name-exists")));
    // Same uid with a stale version: 412 version-mismatch; with overwrite: version 2.
    let mut stale = dash.clone();
    stale["dashboard"]["uid"] = json!(uid);
    stale["dashboard"]["version"] = json!(0);
    let (s, v) = e
        .send("POST", "/api/dashboards/db", &editor, Some(stale.clone()))
        .await;
    assert_eq!((s, v["status"].as_str()), (412, Some("version-mismatch")));
    stale["overwrite"] = json!(true);
    let (s, v) = e
        .send("POST", "/api/dashboards/db", &editor, Some(stale))
        .await;
    assert_eq!(
        (s, v["version"].as_i64(), v["uid"].as_str()),
        (200, Some(2), Some(uid.as_str()))
    );
    let mut untitled = dash.clone();
    untitled["dashboard"]["title"] = json!(" ");
    let (s, v) = e
        .send("POST", "/api/dashboards/db", &editor, Some(untitled))
        .await;
    assert_eq!(
        (s, v),
        (
            400,
            json!({"status":"empty-name","message":"Dashboard title cannot be empty"})
        )
    );

    let (s, v) = e
        .get_json("/api/search?type=dash-db&query=canary", &viewer)
        .await;
    assert_eq!(s, 200);
    assert_eq!(
        v,
        json!([{"id":1,"uid":uid,"title":"Pipecheck Canary","uri":"db/pipecheck-canary",
            "url":format!("/d/{uid}/pipecheck-canary"),"slug":"pipecheck-canary","type":"dash-db",
            "tags":["pipecheck"],"isStarred":false,"sortMeta":0}])
    );
    let (_, v) = e
        .get_json("/api/search?type=dash-db&query=nothing-like-it", &viewer)
        .await;
    assert_eq!(v, json!([]));

    let (s, v) = e
        .get_json(&format!("/api/dashboards/uid/{uid}"), &viewer)
        .await;
    assert_eq!(s, 200);
    assert_eq!(
        v["dashboard"]["panels"][0]["targets"][0]["expr"],
        "pipecheck_canary"
    );
    assert_eq!(
        (
            v["dashboard"]["uid"].as_str(),
            v["dashboard"]["version"].as_i64()
        ),
        (Some(uid.as_str()), Some(2))
    );
    assert_eq!(v["meta"]["slug"], "pipecheck-canary");
    assert_eq!(v["meta"]["canSave"], false);

    let (s, v) = e
        .send(
            "DELETE",
            &format!("/api/dashboards/uid/{uid}"),
            &editor,
            None,
        )
        .await;
    assert_eq!(
        (s, v),
        (
            200,
            json!({"title":"Pipecheck Canary","message":"Dashboard Pipecheck Canary deleted","id":1})
        )
    );
    let (s, v) = e
        .get_json(&format!("/api/dashboards/uid/{uid}"), &viewer)
        .await;
    assert_eq!((s, v), (404, json!({"message":"Dashboard not found"})));
}

#[tokio::test]
async fn workspace_not_active_has_no_grafana() {
    let e = env().await;
    let token = e.token(Role::Admin, 600).await;
    e.stack.amg.set_status(&e.ws, WorkspaceStatus::Creating);
    let (s, _) = e.get("/api/health", None).await;
    assert_eq!(s, 503);
    let (s, _) = e.get("/api/datasources", Some(&token)).await;
    assert_eq!(s, 503);
    e.stack.amg.set_status(&e.ws, WorkspaceStatus::Active);
    e.stack
        .amg
        .with_workspace(&e.ws, |w| w.grafana.behaviour.database_ok = false);
    let (s, b) = e.get("/api/health", None).await;
    assert_eq!((s, b.as_str()), (503, r#"{"database":"failing"}"#));
    // Missing dashboards (F25) are just an empty search.
    e.stack.amg.remove_dashboards(&e.ws);
    e.stack.amg.remove_data_sources(&e.ws);
    let (s, v) = e.get_json("/api/datasources", &token).await;
    assert_eq!((s, v), (200, json!([])));
}
