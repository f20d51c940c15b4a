//! Cross-check of the mock EKS and IAM against an independent implementation: moto
//! (PyPI `moto[server]`, aws-wire.md G). `moto_server` is started on 127.0.0.1, the same
//! cluster, OIDC provider, role and policies are made there as the mock stack seeds, and
//! the EKS/IAM calls the cluster links make (DescribeCluster, GetRole,
//! ListAttachedRolePolicies, GetPolicy, GetPolicyVersion, ListRolePolicies,
//! GetRolePolicy, ListOpenIDConnectProviders, GetOpenIDConnectProvider) are sent to both
//! through the real SDK clients, built for the mock exactly as the harness builds them.
//! The trial fails when the answers differ in shape: a field one returns and the other
//! does not, or a field of another type. Values are not compared (moto makes its own ids
//! and issuers); known, explained differences are listed in `ALLOWED`.
//!
//! moto is found as `$PIPECHECK_MOTO_SERVER`, `target/moto-venv/bin/moto_server` (what
//! scripts/test installs) or `moto_server` on PATH. Without it the trial is ignored, with
//! the reason printed; in CI (`CI` set) it always runs, so a missing install fails.

use std::collections::{BTreeMap, BTreeSet};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region};
use aws_credential_types::Credentials;
use libtest_mimic::{Arguments, Failed, Trial};
use pipecheck::target::{IAM_REGION, MockAccess, Target};
use pipecheck_mocks::iam::{irsa_trust_policy, remote_write_policy};
use pipecheck_mocks::{ClusterSeed, MockConfig, MockStack};

#[path = "support/mod.rs"]
mod support;

const REGION: &str = "us-east-1";
const INLINE: &str = "pipecheck-inline";

/// Differences between the two answers that are known and explained: (call, field path,
/// why). Anything else fails the trial.
const ALLOWED: &[(&str, &str, &str)] = &[
    // Fields current EKS returns for every cluster that moto 5.2 does not model; the mock
    // answers them as EKS does.
    (
        "DescribeCluster",
        "cluster.access_config",
        "EKS access entries (authenticationMode); not in moto 5.2",
    ),
    (
        "DescribeCluster",
        "cluster.health",
        "cluster health issues; not in moto 5.2",
    ),
    (
        "DescribeCluster",
        "cluster.upgrade_policy",
        "extended support (supportType); not in moto 5.2",
    ),
    // moto echoes only the request's subnetIds in resourcesVpcConfig; EKS adds the VPC,
    // the security groups and the endpoint access settings, as the mock does.
    (
        "DescribeCluster",
        "cluster.resources_vpc_config.security_group_ids",
        "moto echoes only subnetIds",
    ),
    (
        "DescribeCluster",
        "cluster.resources_vpc_config.cluster_security_group_id",
        "moto echoes only subnetIds",
    ),
    (
        "DescribeCluster",
        "cluster.resources_vpc_config.vpc_id",
        "moto echoes only subnetIds",
    ),
    (
        "DescribeCluster",
        "cluster.resources_vpc_config.endpoint_public_access",
        "moto echoes only subnetIds",
    ),
    (
        "DescribeCluster",
        "cluster.resources_vpc_config.endpoint_private_access",
        "moto echoes only subnetIds",
    ),
    (
        "DescribeCluster",
        "cluster.resources_vpc_config.public_access_cidrs",
        "moto echoes only subnetIds",
    ),
    (
        "DescribeCluster",
        "cluster.kubernetes_network_config.ip_family",
        "not in moto 5.2",
    ),
    // moto answers `encryptionConfig: []` and a generated clientRequestToken for a cluster
    // created without either; EKS leaves both out then.
    (
        "DescribeCluster",
        "cluster.encryption_config",
        "moto answers an empty list",
    ),
    (
        "DescribeCluster",
        "cluster.client_request_token",
        "moto answers a generated token",
    ),
    // IAM's GetPolicy has PermissionsBoundaryUsageCount and leaves Tags out for an untagged
    // policy; moto leaves the count out and answers an empty Tags list.
    (
        "GetPolicy",
        "policy.permissions_boundary_usage_count",
        "not in moto 5.2's GetPolicy",
    ),
    (
        "GetPolicy",
        "policy.tags",
        "moto answers an empty list where IAM has no element",
    ),
];

fn moto_binary() -> Option<PathBuf> {
    let candidates = [
        std::env::var_os("PIPECHECK_MOTO_SERVER").map(PathBuf::from),
        Some(support::repo_root().join("target/moto-venv/bin/moto_server")),
        Some(PathBuf::from("moto_server")),
    ];
    candidates
        .into_iter()
        .flatten()
        .find(|p| support::have(p, &["--help"]))
}

/// moto_server on 127.0.0.1, stopped (by its pid) when dropped.
struct Moto {
    child: Child,
    url: String,
}

impl Moto {
    fn start(bin: &Path) -> Result<Self, String> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| e.to_string())?
            .port();
        let child = Command::new(bin)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("failed to start {}: {e}", bin.display()))?;
        let moto = Moto {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if Instant::now() > deadline {
                return Err(format!(
                    "moto_server did not listen on port {port} within 30s"
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(moto)
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------------------
// Shapes from the SDK outputs' Debug form

/// A value of Rust's `Debug` output.
#[derive(Debug)]
enum V {
    Struct(String, Vec<(String, V)>),
    Tuple(String, Vec<V>),
    Map(Vec<(V, V)>),
    List(Vec<V>),
    Str,
    Num,
    Time,
    Ident(String),
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn ws(&mut self) {
        while self.i < self.s.len() && self.s[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }

    fn peek(&mut self) -> u8 {
        self.ws();
        self.s.get(self.i).copied().unwrap_or(0)
    }

    fn expect(&mut self, c: u8) -> Result<(), String> {
        if self.peek() == c {
            self.i += 1;
            Ok(())
        } else {
            Err(format!("expected {:?} at {}", c as char, self.i))
        }
    }

    fn ident(&mut self) -> String {
        self.ws();
        let start = self.i;
        while self.i < self.s.len()
            && (self.s[self.i].is_ascii_alphanumeric() || self.s[self.i] == b'_')
        {
            self.i += 1;
        }
        String::from_utf8_lossy(&self.s[start..self.i]).into_owned()
    }

    /// `item (, item)* ,?` up to `close`.
    fn seq<T>(
        &mut self,
        close: u8,
        mut item: impl FnMut(&mut Self) -> Result<T, String>,
    ) -> Result<Vec<T>, String> {
        let mut out = Vec::new();
        loop {
            if self.peek() == close {
                self.i += 1;
                return Ok(out);
            }
            out.push(item(self)?);
            if self.peek() == b',' {
                self.i += 1;
            }
        }
    }

    fn value(&mut self) -> Result<V, String> {
        match self.peek() {
            b'"' => {
                self.i += 1;
                while self.i < self.s.len() {
                    match self.s[self.i] {
                        b'\\' => self.i += 2,
                        b'"' => {
                            self.i += 1;
                            return Ok(V::Str);
                        }
                        _ => self.i += 1,
                    }
                }
                Err("unterminated string".into())
            }
            b'[' => {
                self.i += 1;
                Ok(V::List(self.seq(b']', Self::value)?))
            }
            b'{' => {
                self.i += 1;
                Ok(V::Map(self.seq(b'}', |p| {
                    let k = p.value()?;
                    p.expect(b':')?;
                    Ok((k, p.value()?))
                })?))
            }
            // A number, or a timestamp (aws-smithy-types' DateTime prints as RFC 3339).
            c if c == b'-' || c.is_ascii_digit() => {
                let start = self.i;
                while self.i < self.s.len()
                    && (self.s[self.i].is_ascii_digit() || b".-+eE:TZ".contains(&self.s[self.i]))
                {
                    self.i += 1;
                }
                let text = &self.s[start..self.i];
                if text.contains(&b'T') && text.contains(&b':') {
                    Ok(V::Time)
                } else {
                    Ok(V::Num)
                }
            }
            c if c.is_ascii_alphabetic() || c == b'_' => {
                let id = self.ident();
                match self.peek() {
                    b'{' => {
                        self.i += 1;
                        let fields = self.seq(b'}', |p| {
                            if p.peek() == b'.' {
                                p.i += 2;
                                return Ok((String::from(".."), V::Ident("..".into())));
                            }
                            let f = p.ident();
                            p.expect(b':')?;
                            Ok((f, p.value()?))
                        })?;
                        Ok(V::Struct(id, fields))
                    }
                    b'(' => {
                        self.i += 1;
                        Ok(V::Tuple(id, self.seq(b')', Self::value)?))
                    }
                    _ => Ok(V::Ident(id)),
                }
            }
            c => Err(format!("unexpected {:?} at {}", c as char, self.i)),
        }
    }
}

/// Every field path present in a Debug string, with its kind.
fn shape_of(debug: &str) -> Result<BTreeMap<String, &'static str>, String> {
    let mut p = Parser {
        s: debug.as_bytes(),
        i: 0,
    };
    let v = p.value()?;
    let mut out = BTreeMap::new();
    flatten(&v, String::new(), &mut out);
    Ok(out)
}

fn flatten(v: &V, path: String, out: &mut BTreeMap<String, &'static str>) {
    let join = |f: &str| {
        if path.is_empty() {
            f.to_string()
        } else {
            format!("{path}.{f}")
        }
    };
    match v {
        V::Tuple(name, inner) if name == "Some" && inner.len() == 1 => {
            flatten(&inner[0], path, out)
        }
        V::Ident(name) if name == "None" => {}
        V::Ident(name) if name == "true" || name == "false" => {
            out.insert(path, "bool");
        }
        V::Ident(_) | V::Tuple(..) => {
            out.insert(path, "enum");
        }
        V::Str => {
            out.insert(path, "string");
        }
        V::Num => {
            out.insert(path, "number");
        }
        V::Time => {
            out.insert(path, "timestamp");
        }
        V::Struct(name, _) if name == "DateTime" => {
            out.insert(path, "timestamp");
        }
        V::Struct(_, fields) => {
            if !path.is_empty() {
                out.insert(path.clone(), "structure");
            }
            for (f, v) in fields {
                if !f.starts_with('_') && f != ".." {
                    flatten(v, join(f), out);
                }
            }
        }
        V::List(items) => {
            out.insert(path.clone(), "list");
            for it in items {
                flatten(it, format!("{path}[]"), out);
            }
        }
        V::Map(entries) => {
            out.insert(path.clone(), "map");
            for (_, v) in entries {
                flatten(v, format!("{path}{{}}"), out);
            }
        }
    }
}

/// True when `path` lies inside a list or map that `side` has but empty: element shapes
/// are only comparable when both sides have elements.
fn inside_empty_container(path: &str, side: &BTreeMap<String, &'static str>) -> bool {
    let mut idx = 0;
    while let Some(pos) = path[idx..].find(['[', '{']) {
        let container = &path[..idx + pos];
        let marker = &path[..idx + pos + 2];
        if side.contains_key(container) && !side.keys().any(|k| k.starts_with(marker)) {
            return true;
        }
        idx += pos + 2;
    }
    false
}

/// The differences between the mock's and moto's answers to one call, minus `ALLOWED`.
fn compare(call: &str, mock: &str, moto: &str) -> Result<Vec<String>, String> {
    let a = shape_of(mock).map_err(|e| format!("{call}: mock answer unparsable: {e}"))?;
    let b = shape_of(moto).map_err(|e| format!("{call}: moto answer unparsable: {e}"))?;
    let allowed = |p: &str| {
        ALLOWED.iter().any(|(c, path, _)| {
            *c == call
                && (p == *path
                    || p.starts_with(&format!("{path}."))
                    || p.starts_with(&format!("{path}[")))
        })
    };
    let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    let mut diffs = Vec::new();
    for k in keys {
        if allowed(k) {
            continue;
        }
        match (a.get(k), b.get(k)) {
            (Some(x), Some(y)) if x != y => {
                diffs.push(format!("{call}: {k} is a {x} in the mock, a {y} in moto"))
            }
            (Some(_), None) if !inside_empty_container(k, &b) => diffs.push(format!(
                "{call}: {k} is in the mock's answer, not in moto's"
            )),
            (None, Some(_)) if !inside_empty_container(k, &a) => diffs.push(format!(
                "{call}: {k} is in moto's answer, not in the mock's"
            )),
            _ => {}
        }
    }
    Ok(diffs)
}

// ---------------------------------------------------------------------------------------
// The calls

/// The EKS and IAM clients of one side.
struct Side {
    eks: aws_sdk_eks::Client,
    iam: aws_sdk_iam::Client,
}

/// The answers to the cluster links' calls, as Debug strings, by call name.
async fn answers(
    side: &Side,
    cluster: &str,
    role: &str,
    policy_arn: &str,
) -> Result<Vec<(&'static str, String)>, String> {
    let e = |what: &str, err: &dyn std::fmt::Debug| format!("{what}: {err:?}");
    let mut out = Vec::new();
    let c = side
        .eks
        .describe_cluster()
        .name(cluster)
        .send()
        .await
        .map_err(|x| e("DescribeCluster", &x))?;
    out.push(("DescribeCluster", format!("{c:?}")));
    let r = side
        .iam
        .get_role()
        .role_name(role)
        .send()
        .await
        .map_err(|x| e("GetRole", &x))?;
    out.push(("GetRole", format!("{r:?}")));
    let a = side
        .iam
        .list_attached_role_policies()
        .role_name(role)
        .send()
        .await
        .map_err(|x| e("ListAttachedRolePolicies", &x))?;
    out.push(("ListAttachedRolePolicies", format!("{a:?}")));
    let p = side
        .iam
        .get_policy()
        .policy_arn(policy_arn)
        .send()
        .await
        .map_err(|x| e("GetPolicy", &x))?;
    let version = p
        .policy()
        .and_then(|p| p.default_version_id())
        .unwrap_or("v1")
        .to_string();
    out.push(("GetPolicy", format!("{p:?}")));
    let v = side
        .iam
        .get_policy_version()
        .policy_arn(policy_arn)
        .version_id(version)
        .send()
        .await
        .map_err(|x| e("GetPolicyVersion", &x))?;
    out.push(("GetPolicyVersion", format!("{v:?}")));
    let l = side
        .iam
        .list_role_policies()
        .role_name(role)
        .send()
        .await
        .map_err(|x| e("ListRolePolicies", &x))?;
    out.push(("ListRolePolicies", format!("{l:?}")));
    let g = side
        .iam
        .get_role_policy()
        .role_name(role)
        .policy_name(INLINE)
        .send()
        .await
        .map_err(|x| e("GetRolePolicy", &x))?;
    out.push(("GetRolePolicy", format!("{g:?}")));
    let providers = side
        .iam
        .list_open_id_connect_providers()
        .send()
        .await
        .map_err(|x| e("ListOpenIDConnectProviders", &x))?;
    out.push(("ListOpenIDConnectProviders", format!("{providers:?}")));
    let issuer = c
        .cluster()
        .and_then(|c| c.identity())
        .and_then(|i| i.oidc())
        .and_then(|o| o.issuer())
        .unwrap_or_default()
        .trim_start_matches("https://")
        .to_string();
    let arn = providers
        .open_id_connect_provider_list()
        .iter()
        .filter_map(|p| p.arn())
        .find(|a| a.ends_with(&issuer))
        .ok_or("no OIDC provider for the cluster's issuer")?
        .to_string();
    let o = side
        .iam
        .get_open_id_connect_provider()
        .open_id_connect_provider_arn(arn)
        .send()
        .await
        .map_err(|x| e("GetOpenIDConnectProvider", &x))?;
    out.push(("GetOpenIDConnectProvider", format!("{o:?}")));
    Ok(out)
}

/// moto's clients, and the same objects made there as the mock seeds.
async fn moto_side(url: &str, seed: &ClusterSeed) -> Result<(Side, String), String> {
    let conf = |region: &str| {
        aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(region.to_string()))
            .endpoint_url(url)
            .credentials_provider(Credentials::new("testing", "testing", None, None, "moto"))
            .retry_config(RetryConfig::disabled())
            .load()
    };
    let side = Side {
        eks: aws_sdk_eks::Client::new(&conf(REGION).await),
        iam: aws_sdk_iam::Client::new(&conf(IAM_REGION).await),
    };
    let created = side
        .eks
        .create_cluster()
        .name(&seed.cluster_name)
        .role_arn("arn:aws:iam::123456789012:role/pipecheck-cluster-role")
        .resources_vpc_config(
            aws_sdk_eks::types::VpcConfigRequest::builder()
                .subnet_ids("subnet-0a1b2c3d4e5f60001")
                .subnet_ids("subnet-0a1b2c3d4e5f60002")
                .build(),
        )
        .send()
        .await
        .map_err(|e| format!("moto CreateCluster: {e:?}"))?;
    let issuer = created
        .cluster()
        .and_then(|c| c.identity())
        .and_then(|i| i.oidc())
        .and_then(|o| o.issuer())
        .ok_or("moto's cluster has no OIDC issuer")?
        .to_string();
    let provider = side
        .iam
        .create_open_id_connect_provider()
        .url(&issuer)
        .client_id_list("sts.amazonaws.com")
        .thumbprint_list("9e99a48a9960b14926bb7f3b02e22da2b0ab7280")
        .send()
        .await
        .map_err(|e| format!("moto CreateOpenIDConnectProvider: {e:?}"))?;
    let provider_arn = provider.open_id_connect_provider_arn().unwrap_or_default();
    // The seed's trust policy, naming moto's provider.
    let trust = irsa_trust_policy(seed, REGION)
        .replace(&seed.oidc_provider_arn(REGION), provider_arn)
        .replace(
            &seed.oidc_provider_url(REGION),
            issuer.trim_start_matches("https://"),
        );
    side.iam
        .create_role()
        .role_name(&seed.role_name)
        .assume_role_policy_document(trust)
        .description("pipecheck ADOT collector (IRSA)")
        .send()
        .await
        .map_err(|e| format!("moto CreateRole: {e:?}"))?;
    let policy = side
        .iam
        .create_policy()
        .policy_name(&seed.policy_name)
        .policy_document(remote_write_policy("*"))
        .send()
        .await
        .map_err(|e| format!("moto CreatePolicy: {e:?}"))?;
    let policy_arn = policy
        .policy()
        .and_then(|p| p.arn())
        .unwrap_or_default()
        .to_string();
    side.iam
        .attach_role_policy()
        .role_name(&seed.role_name)
        .policy_arn(&policy_arn)
        .send()
        .await
        .map_err(|e| format!("moto AttachRolePolicy: {e:?}"))?;
    side.iam
        .put_role_policy()
        .role_name(&seed.role_name)
        .policy_name(INLINE)
        .policy_document(remote_write_policy("*"))
        .send()
        .await
        .map_err(|e| format!("moto PutRolePolicy: {e:?}"))?;
    Ok((side, policy_arn))
}

fn cross_check(moto_bin: PathBuf) -> Result<(), Failed> {
    let rt = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    rt.block_on(async move {
        let moto = Moto::start(&moto_bin)?;
        let seed = ClusterSeed::default();
        let stack = MockStack::start(MockConfig::default())
            .await
            .map_err(|e| e.to_string())?;
        let ep = stack.endpoints();
        // The mock's clients exactly as the harness builds them.
        let target = Target::mock(MockAccess {
            endpoints: ep,
            access_key_id: ep.user.access_key_id.clone(),
            secret_access_key: ep.user.secret_access_key.clone(),
        })
        .await
        .map_err(|e| e.to_string())?;
        let mock = Side {
            eks: target.eks.clone(),
            iam: target.iam.clone(),
        };
        mock.iam
            .put_role_policy()
            .role_name(&seed.role_name)
            .policy_name(INLINE)
            .policy_document(remote_write_policy("*"))
            .send()
            .await
            .map_err(|e| format!("mock PutRolePolicy: {e:?}"))?;
        let (moto_side, moto_policy) = moto_side(&moto.url, &seed).await?;
        let ours = answers(
            &mock,
            &seed.cluster_name,
            &seed.role_name,
            &seed.policy_arn(),
        )
        .await?;
        let theirs = answers(
            &moto_side,
            &seed.cluster_name,
            &seed.role_name,
            &moto_policy,
        )
        .await?;
        let mut diffs = Vec::new();
        for ((call, a), (_, b)) in ours.iter().zip(&theirs) {
            diffs.extend(compare(call, a, b)?);
        }
        if diffs.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "the mock's answers differ in shape from moto's:\n  {}",
                diffs.join("\n  ")
            )
            .into())
        }
    })
}

fn main() {
    let args = Arguments::from_args();
    let moto = moto_binary();
    let trial = match moto.clone() {
        Some(bin) => Trial::test("moto::eks_iam_shapes_match", move || cross_check(bin)),
        None => Trial::test("moto::eks_iam_shapes_match", || {
            Err("moto_server not found: install moto[server] (scripts/test does)".into())
        }),
    };
    let trial = support::needs(
        trial,
        moto.is_some(),
        "no moto_server (scripts/test installs moto[server] into target/moto-venv)",
    );
    let parser = Trial::test("moto::debug_shapes_parse", || {
        let s = shape_of(
            r#"Out { a: Some(X { b: Some("s"), c: None, d: Some([Y { e: 1 }]), f: Some({"k": true}), g: Some(Active), t: Some(2024-05-01T12:00:00.523Z), u: Some(DateTime { seconds: 1, subsecond_nanos: 0 }) }), _request_id: Some("r") }"#,
        )?;
        let want: BTreeMap<String, &str> = [
            ("a", "structure"),
            ("a.b", "string"),
            ("a.d", "list"),
            ("a.d[].e", "number"),
            ("a.d[]", "structure"),
            ("a.f", "map"),
            ("a.f{}", "bool"),
            ("a.g", "enum"),
            ("a.t", "timestamp"),
            ("a.u", "timestamp"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        if s == want {
            Ok(())
        } else {
            Err(format!("{s:?}").into())
        }
    });
    let differences = Trial::test("moto::differences_are_found", || {
        let d = compare(
            "X",
            r#"O { a: Some("s"), b: Some(1), l: Some([]) }"#,
            r#"O { a: Some(2), c: Some("x"), l: Some([E { f: 1 }]) }"#,
        )?;
        let want = [
            "X: a is a string in the mock, a number in moto",
            "X: b is in the mock's answer, not in moto's",
            "X: c is in moto's answer, not in the mock's",
        ];
        if d == want {
            Ok(())
        } else {
            Err(format!("{d:?}").into())
        }
    });
    libtest_mimic::run(&args, vec![parser, differences, trial]).exit();
}
