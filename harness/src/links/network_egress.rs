//! `network.egress`: can the collector reach the endpoints it uses at all, as opposed to
//! getting an HTTP answer from them? (F28: STS, F29: aps-workspaces.) A collector that
//! cannot reach them logs `i/o timeout`, `no such host` or `context deadline exceeded` with
//! no HTTP status, and every later check would blame the wrong thing.
//!
//! Two readings, both on every target:
//! - the endpoints as the collector sees them (STS from its pods' env: an
//!   `AWS_ENDPOINT_URL_STS` override, else the regional or, with
//!   `AWS_STS_REGIONAL_ENDPOINTS=legacy`, the global endpoint; aps-workspaces from its
//!   remote-write URL), each probed from where pipecheck runs in three bounded steps that
//!   tell the failures apart: the name resolves (connect deadline), a TCP connection opens
//!   (connect deadline: a timeout is a dropped route, a refusal is a closed port), an HTTP
//!   answer comes (answer deadline; any status proves the path). STS is probed only when
//!   the pods use IRSA: without it the collector never calls STS.
//! - the cluster's VPC: for each of its subnets, a `0.0.0.0/0` route through a NAT or
//!   internet gateway (its explicit route table, else the VPC's main one), and otherwise an
//!   available interface endpoint `com.amazonaws.<region>.sts` / `…aps-workspaces` with
//!   private DNS on (off, the public name still resolves to addresses with no route).
//!
//! The probe runs from pipecheck's host, not from a pod: on real AWS the VPC reading is
//! what speaks for the pods, and the probe shows the endpoints themselves answer.

use std::time::{Duration, Instant};

use aws_sdk_ec2::types::{Filter, RouteTable, VpcEndpoint};
use k8s_openapi::api::core::v1::{EnvVar, PodSpec};

use super::{BoxFuture, Check, Link, RunContext};
use crate::cluster::{find_workload, sdk_error};

pub struct NetworkEgress;

/// How long a name may take to resolve and a TCP connection to open, and how long an
/// HTTP answer may take after that; each capped by the run's request deadline.
const CONNECT_DEADLINE: Duration = Duration::from_secs(3);
const ANSWER_DEADLINE: Duration = Duration::from_secs(4);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Service {
    Sts,
    Aps,
}

impl Service {
    fn label(self) -> &'static str {
        match self {
            Self::Sts => "STS",
            Self::Aps => "aps-workspaces",
        }
    }

    /// The VPC endpoint service name.
    fn endpoint_service(self, region: &str) -> String {
        match self {
            Self::Sts => format!("com.amazonaws.{region}.sts"),
            Self::Aps => format!("com.amazonaws.{region}.aps-workspaces"),
        }
    }

    fn public_host(self, region: &str) -> String {
        match self {
            Self::Sts => format!("sts.{region}.amazonaws.com"),
            Self::Aps => format!("aps-workspaces.{region}.amazonaws.com"),
        }
    }

    fn hint(self, region: &str) -> String {
        match self {
            Self::Sts => format!(
                "give the pods a way to STS: a NAT gateway route, or an interface VPC endpoint {} with private DNS on (and the regional endpoint: AWS_STS_REGIONAL_ENDPOINTS=regional, which the pod identity webhook sets); check security-group egress to 443",
                self.endpoint_service(region)
            ),
            Self::Aps => format!(
                "give the pods a way to {}: a NAT gateway route, or an interface VPC endpoint {} with private DNS on; check security-group egress to 443",
                self.public_host(region),
                self.endpoint_service(region)
            ),
        }
    }
}

/// What one probe of an endpoint found, in the order the steps run.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Reach {
    /// The URL cannot be probed (no host).
    BadUrl(String),
    NoSuchHost {
        host: String,
        error: String,
    },
    DnsTimeout {
        host: String,
        after: Duration,
    },
    ConnectTimeout {
        addr: String,
        after: Duration,
    },
    /// The network says there is no way there (EHOSTUNREACH, ENETUNREACH, …).
    NoRoute {
        addr: String,
        error: String,
    },
    Refused {
        addr: String,
    },
    NoAnswer {
        addr: String,
        after: Duration,
    },
    /// Connected, but the exchange failed before an HTTP status (TLS, a reset).
    Broken {
        addr: String,
        error: String,
    },
    Answered {
        status: u16,
        after: Duration,
    },
}

impl Reach {
    fn ok(&self) -> bool {
        matches!(self, Self::Answered { .. })
    }

    /// What was found, naming the deadline that passed.
    fn text(&self) -> String {
        match self {
            Self::BadUrl(u) => format!("{u:?} is not a URL with a host"),
            Self::NoSuchHost { host, error } => format!("lookup {host}: no such host ({error})"),
            Self::DnsTimeout { host, after } => format!(
                "the name {host} did not resolve within {} (connect deadline)",
                secs(*after)
            ),
            Self::ConnectTimeout { addr, after } => format!(
                "no TCP connection to {addr} within {} (connect deadline): the packets are dropped (no route, or egress blocked)",
                secs(*after)
            ),
            Self::NoRoute { addr, error } => format!("no route to {addr}: {error}"),
            Self::Refused { addr } => format!(
                "connection to {addr} refused: the address is reached, but nothing listens on that port"
            ),
            Self::NoAnswer { addr, after } => format!(
                "connected to {addr}, but no HTTP answer within {} (answer deadline)",
                secs(*after)
            ),
            Self::Broken { addr, error } => {
                format!("connected to {addr}, but no HTTP answer: {error}")
            }
            Self::Answered { status, after } => format!(
                "answered HTTP {status} in {} ms (an unsigned probe: any HTTP answer proves the path)",
                after.as_millis()
            ),
        }
    }

    /// The line the collector's Go HTTP client logs for this outcome (what users search).
    fn collector_log(&self, url: &str) -> Option<String> {
        Some(match self {
            Self::NoSuchHost { host, .. } => format!("dial tcp: lookup {host}: no such host"),
            Self::DnsTimeout { host, .. } => format!("dial tcp: lookup {host}: i/o timeout"),
            Self::ConnectTimeout { addr, .. } => format!("dial tcp {addr}: i/o timeout"),
            Self::NoRoute { addr, .. } => format!("dial tcp {addr}: connect: no route to host"),
            Self::Refused { addr } => format!("dial tcp {addr}: connect: connection refused"),
            Self::NoAnswer { .. } | Self::Broken { .. } => {
                format!("Post \"{url}\": context deadline exceeded")
            }
            Self::BadUrl(_) | Self::Answered { .. } => return None,
        })
    }
}

fn secs(d: Duration) -> String {
    format!("{:.1}s", d.as_secs_f64())
}

/// Probes `url`: resolve and connect within `connect`, then an unsigned GET answered
/// within `answer`.
async fn probe(http: &reqwest::Client, url: &str, connect: Duration, answer: Duration) -> Reach {
    let parsed = match reqwest::Url::parse(url) {
        Ok(u) => u,
        Err(_) => return Reach::BadUrl(url.to_string()),
    };
    let (Some(host), Some(port)) = (parsed.host_str(), parsed.port_or_known_default()) else {
        return Reach::BadUrl(url.to_string());
    };
    let addr_text = format!("{host}:{port}");
    // IPv6 literals come bracketed: the resolver wants the bare address.
    let name = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let started = Instant::now();
    let lookup = tokio::time::timeout(connect, tokio::net::lookup_host((name.clone(), port))).await;
    let addrs: Vec<std::net::SocketAddr> = match lookup {
        Err(_) => {
            return Reach::DnsTimeout {
                host: name,
                after: connect,
            };
        }
        Ok(Err(e)) => {
            return Reach::NoSuchHost {
                host: name,
                error: e.to_string(),
            };
        }
        Ok(Ok(a)) => a.collect(),
    };
    let left = connect.saturating_sub(started.elapsed());
    let dial = async {
        let mut last = std::io::Error::new(std::io::ErrorKind::NotFound, "no address");
        for a in &addrs {
            match tokio::net::TcpStream::connect(a).await {
                Ok(s) => return Ok(s),
                Err(e) => last = e,
            }
        }
        Err(last)
    };
    match tokio::time::timeout(left, dial).await {
        Err(_) => {
            return Reach::ConnectTimeout {
                addr: addr_text,
                after: connect,
            };
        }
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
            return Reach::Refused { addr: addr_text };
        }
        Ok(Err(e)) => {
            return Reach::NoRoute {
                addr: addr_text,
                error: e.to_string(),
            };
        }
        Ok(Ok(stream)) => drop(stream),
    }
    let asked = Instant::now();
    match http.get(url).timeout(answer).send().await {
        Ok(r) => Reach::Answered {
            status: r.status().as_u16(),
            after: asked.elapsed(),
        },
        Err(e) if e.is_timeout() => Reach::NoAnswer {
            addr: addr_text,
            after: answer,
        },
        Err(e) => Reach::Broken {
            addr: addr_text,
            error: crate::error_chain(&e),
        },
    }
}

/// An endpoint the collector uses, and where that was read.
struct Endpoint {
    service: Service,
    url: String,
    source: String,
    /// STS: the global endpoint (`sts.amazonaws.com`), which STS VPC endpoints do not serve.
    global: bool,
}

fn env_of(spec: &PodSpec, container: &str) -> Vec<EnvVar> {
    spec.containers
        .iter()
        .find(|c| c.name == container)
        .or_else(|| spec.containers.first())
        .and_then(|c| c.env.clone())
        .unwrap_or_default()
}

fn env_value<'a>(env: &'a [EnvVar], name: &str) -> Option<&'a str> {
    env.iter()
        .find(|e| e.name == name)
        .and_then(|e| e.value.as_deref())
        .filter(|v| !v.trim().is_empty())
}

/// The STS endpoint an AWS SDK in a pod with `env` calls, and why.
fn sts_endpoint(env: &[EnvVar], default_region: &str) -> Endpoint {
    let region = env_value(env, "AWS_REGION")
        .or_else(|| env_value(env, "AWS_DEFAULT_REGION"))
        .unwrap_or(default_region);
    let (url, source, global) = if let Some(u) = env_value(env, "AWS_ENDPOINT_URL_STS") {
        (
            u.to_string(),
            "the pod's AWS_ENDPOINT_URL_STS".to_string(),
            false,
        )
    } else if let Some(u) = env_value(env, "AWS_ENDPOINT_URL") {
        (
            u.to_string(),
            "the pod's AWS_ENDPOINT_URL".to_string(),
            false,
        )
    } else if env_value(env, "AWS_STS_REGIONAL_ENDPOINTS") == Some("legacy") {
        (
            "https://sts.amazonaws.com".to_string(),
            "AWS_STS_REGIONAL_ENDPOINTS=legacy: the global endpoint".to_string(),
            true,
        )
    } else {
        (
            format!("https://sts.{region}.amazonaws.com"),
            format!("the regional endpoint of {region}"),
            false,
        )
    };
    Endpoint {
        service: Service::Sts,
        url,
        source,
        global,
    }
}

/// What the cluster's VPC gives each service.
#[derive(Default)]
struct VpcReading {
    lines: Vec<String>,
    problems: Vec<(Service, String)>,
    /// What is weaker than it should be, each with the hint for its own cause.
    warnings: Vec<(String, String)>,
}

/// The hint of an endpoint not in use.
const PRIVATE_DNS_HINT: &str = "turn private DNS on for the VPC endpoint (aws ec2 modify-vpc-endpoint --private-dns-enabled), or remove it";

/// The route table serving `subnet`: its explicit association, else the VPC's main one.
fn table_of<'a>(tables: &'a [RouteTable], subnet: &str) -> Option<(&'a RouteTable, bool)> {
    let explicit = tables.iter().find(|t| {
        t.associations()
            .iter()
            .any(|a| a.subnet_id() == Some(subnet))
    });
    explicit.map(|t| (t, true)).or_else(|| {
        tables
            .iter()
            .find(|t| t.associations().iter().any(|a| a.main() == Some(true)))
            .map(|t| (t, false))
    })
}

/// `0.0.0.0/0` through a NAT gateway or an internet gateway, if the table has it.
fn default_route(t: &RouteTable) -> Option<String> {
    t.routes().iter().find_map(|r| {
        if r.destination_cidr_block() != Some("0.0.0.0/0") {
            return None;
        }
        r.nat_gateway_id()
            .filter(|n| n.starts_with("nat-"))
            .or_else(|| r.gateway_id().filter(|g| g.starts_with("igw-")))
            .map(str::to_string)
    })
}

/// Judges the VPC for `services` from the route tables and endpoints of `vpc`.
fn judge_vpc(
    region: &str,
    subnets: &[String],
    tables: &[RouteTable],
    endpoints: &[VpcEndpoint],
    services: &[(Service, bool)],
) -> VpcReading {
    let mut r = VpcReading::default();
    let mut unrouted = Vec::new();
    for s in subnets {
        match table_of(tables, s) {
            None => {
                r.lines.push(format!("{s}: no route table"));
                unrouted.push(s.clone());
            }
            Some((t, explicit)) => {
                let id = t.route_table_id().unwrap_or("?");
                let how = if explicit {
                    "associated"
                } else {
                    "the VPC's main table"
                };
                match default_route(t) {
                    Some(via) => r
                        .lines
                        .push(format!("{s}: route table {id} ({how}): 0.0.0.0/0 → {via}")),
                    None => {
                        r.lines.push(format!(
                            "{s}: route table {id} ({how}): no 0.0.0.0/0 route through a NAT or internet gateway"
                        ));
                        unrouted.push(s.clone());
                    }
                }
            }
        }
    }
    for (service, global) in services {
        let name = service.endpoint_service(region);
        let host = service.public_host(region);
        let found = endpoints
            .iter()
            .find(|e| e.service_name() == Some(name.as_str()));
        match found {
            None => r.lines.push(format!("{name}: no VPC endpoint")),
            Some(e) => r.lines.push(format!(
                "{name}: {} ({}, {}), private DNS {}",
                e.vpc_endpoint_id().unwrap_or("?"),
                e.vpc_endpoint_type().map(|t| t.as_str()).unwrap_or("?"),
                e.state().map(|s| s.as_str()).unwrap_or("?"),
                if e.private_dns_enabled() == Some(true) {
                    "on"
                } else {
                    "off"
                }
            )),
        }
        let usable = found.filter(|e| {
            e.state()
                .map(|s| s.as_str().eq_ignore_ascii_case("available"))
                == Some(true)
        });
        let dns_on = usable.is_some_and(|e| e.private_dns_enabled() == Some(true));
        if unrouted.is_empty() {
            if let Some(e) = found.filter(|_| !dns_on) {
                r.warnings.push((
                    format!(
                        "the {name} endpoint {} is not in use (private DNS off or not available): {host} goes through the NAT gateway instead",
                        e.vpc_endpoint_id().unwrap_or("?")
                    ),
                    PRIVATE_DNS_HINT.to_string(),
                ));
            }
            continue;
        }
        let where_ = format!(
            "subnets {} have no route out (no 0.0.0.0/0 through a NAT or internet gateway)",
            unrouted.join(", ")
        );
        let problem = match (found, usable, dns_on) {
            (None, _, _) => Some(format!(
                "{where_} and the VPC has no {name} endpoint: {host} is unreachable from pods there"
            )),
            (Some(e), None, _) => Some(format!(
                "{where_} and the {name} endpoint {} is {}, not available",
                e.vpc_endpoint_id().unwrap_or("?"),
                e.state().map(|s| s.as_str()).unwrap_or("?")
            )),
            (Some(e), Some(_), false) => Some(format!(
                "{where_} and the {name} endpoint {} has private DNS off: {host} still resolves to public addresses, which have no route",
                e.vpc_endpoint_id().unwrap_or("?")
            )),
            (Some(e), Some(_), true) if *global => Some(format!(
                "{where_}, and the collector calls the global sts.amazonaws.com, which the {name} endpoint {} does not serve: set AWS_STS_REGIONAL_ENDPOINTS=regional",
                e.vpc_endpoint_id().unwrap_or("?")
            )),
            _ => None,
        };
        if let Some(p) = problem {
            r.problems.push((*service, p));
        }
    }
    r
}

/// Reads the VPC of the cluster (from `eks.cluster`) and judges it for `services`.
async fn read_vpc(ctx: &RunContext, services: &[(Service, bool)]) -> VpcReading {
    let (vpc, subnets) = {
        let f = ctx.facts();
        (f.cluster.vpc_id.clone(), f.cluster.subnet_ids.clone())
    };
    let Some(vpc) = vpc.filter(|_| !subnets.is_empty()) else {
        return VpcReading {
            lines: vec!["EKS gave no VPC and subnets for the cluster: not read".into()],
            ..VpcReading::default()
        };
    };
    let by_vpc = Filter::builder().name("vpc-id").values(vpc.clone()).build();
    let deadline = ctx.deadlines.request;
    let tables = ctx
        .target
        .ec2
        .describe_route_tables()
        .filters(by_vpc.clone())
        .send();
    let endpoints = ctx
        .target
        .ec2
        .describe_vpc_endpoints()
        .filters(by_vpc)
        .send();
    let (tables, endpoints) = tokio::join!(
        tokio::time::timeout(deadline, tables),
        tokio::time::timeout(deadline, endpoints)
    );
    // The hint names the cause seen: EC2 refused the call (a permission), or EC2 was not
    // reached at all (its endpoint, the network).
    let unread = |what: &str, action: &str, why: String, refused: bool| VpcReading {
        lines: vec![format!("VPC {vpc}: {what} not read: {why}")],
        warnings: vec![(
            format!("could not read the VPC's {what} ({why})"),
            if refused {
                format!("allow {action} to have the routes checked")
            } else {
                "EC2 was not reached: check the way to its endpoint (AWS_ENDPOINT_URL_EC2 where EC2 is not the public one, a proxy, the network) to have the routes checked".to_string()
            },
        )],
        ..VpcReading::default()
    };
    let tables = match tables {
        Err(_) => {
            return unread(
                "route tables",
                "ec2:DescribeRouteTables",
                format!("no answer within {deadline:?}"),
                false,
            );
        }
        Ok(Err(e)) => {
            let (code, why) = sdk_error(&e);
            return unread(
                "route tables",
                "ec2:DescribeRouteTables",
                why,
                code.is_some(),
            );
        }
        Ok(Ok(o)) => o.route_tables().to_vec(),
    };
    let endpoints = match endpoints {
        Err(_) => {
            return unread(
                "VPC endpoints",
                "ec2:DescribeVpcEndpoints",
                format!("no answer within {deadline:?}"),
                false,
            );
        }
        Ok(Err(e)) => {
            let (code, why) = sdk_error(&e);
            return unread(
                "VPC endpoints",
                "ec2:DescribeVpcEndpoints",
                why,
                code.is_some(),
            );
        }
        Ok(Ok(o)) => o.vpc_endpoints().to_vec(),
    };
    let mut r = judge_vpc(&ctx.target.region, &subnets, &tables, &endpoints, services);
    r.lines.insert(
        0,
        format!("VPC {vpc}, cluster subnets {}", subnets.join(", ")),
    );
    r
}

impl Link for NetworkEgress {
    fn check<'a>(&'a self, ctx: &'a RunContext) -> BoxFuture<'a, Check> {
        Box::pin(async move {
            let (Some(spec), Some(kube)) = (ctx.cluster.as_ref(), ctx.target.kube.as_ref()) else {
                return Check::fail(
                    "this scenario has no cluster",
                    "use a scenario with `shape: cluster`",
                );
            };
            let workload = match find_workload(&kube.client, spec).await {
                Ok(w) => w,
                Err(check) => return check,
            };
            // What the collector's pods run with (the template's when none runs yet).
            let env = workload
                .pods
                .first()
                .and_then(|p| p.spec.as_ref())
                .or(workload.template.as_ref())
                .map(|s| env_of(s, &workload.container))
                .unwrap_or_default();
            let uses_irsa = env_value(&env, "AWS_ROLE_ARN").is_some()
                || env_value(&env, "AWS_WEB_IDENTITY_TOKEN_FILE").is_some();
            let mut endpoints = Vec::new();
            if uses_irsa {
                endpoints.push(sts_endpoint(&env, &ctx.target.region));
            }
            let (config, _, _) = match super::collector_config_cluster::read_in_cluster(ctx).await {
                Ok(c) => c,
                Err(check) => return check,
            };
            match config.remote_write.first() {
                Some(rw) => endpoints.push(Endpoint {
                    service: Service::Aps,
                    url: rw.url.clone(),
                    source: "the collector's remote-write URL".to_string(),
                    global: false,
                }),
                None => {
                    return Check::fail(
                        "the collector's config has no remote-write endpoint to reach",
                        "give the collector a remote-write exporter (collector.config judges the rest)",
                    );
                }
            }

            let connect = CONNECT_DEADLINE.min(ctx.deadlines.request);
            let answer = ANSWER_DEADLINE.min(ctx.deadlines.request);
            let services: Vec<(Service, bool)> =
                endpoints.iter().map(|e| (e.service, e.global)).collect();
            // At most two endpoints (STS, aps-workspaces): probed at once, with the VPC read.
            let http = &ctx.target.http;
            let first = probe(http, &endpoints[0].url, connect, answer);
            let second = async {
                match endpoints.get(1) {
                    Some(e) => Some(probe(http, &e.url, connect, answer).await),
                    None => None,
                }
            };
            let (first, second, vpc) = tokio::join!(first, second, read_vpc(ctx, &services));
            let reaches: Vec<Reach> = std::iter::once(first).chain(second).collect();

            let region = ctx.target.region.as_str();
            let mut problems: Vec<String> = Vec::new();
            let mut hints: Vec<String> = Vec::new();
            let mut logs: Vec<String> = Vec::new();
            let mut evidence: Vec<(String, String)> = Vec::new();
            for (e, reach) in endpoints.iter().zip(&reaches) {
                evidence.push((
                    format!("{} endpoint", e.service.label()),
                    format!(
                        "{}\nread from: {}\nprobe from pipecheck's host: {}",
                        e.url,
                        e.source,
                        reach.text()
                    ),
                ));
                if reach.ok() {
                    continue;
                }
                problems.push(format!(
                    "the collector's {} endpoint {} is unreachable: {}",
                    e.service.label(),
                    e.url,
                    reach.text()
                ));
                hints.push(match reach {
                    Reach::Refused { addr } => format!(
                        "nothing listens at {addr}: check the {} URL's host and port ({}), or the proxy the pods go through",
                        e.service.label(),
                        e.source
                    ),
                    Reach::NoSuchHost { host, .. } => format!(
                        "{host} does not resolve: check the name{} and the VPC's DNS (enableDnsSupport; a VPC endpoint's private DNS)",
                        if e.service == Service::Sts { "" } else { " in the remote-write URL" }
                    ),
                    _ => e.service.hint(region),
                });
                logs.extend(reach.collector_log(&e.url));
            }
            if !uses_irsa {
                evidence.push((
                    "STS endpoint".into(),
                    "not probed: the collector's pods carry no AWS_ROLE_ARN / AWS_WEB_IDENTITY_TOKEN_FILE, so the collector does not call STS".into(),
                ));
            }
            for (service, p) in &vpc.problems {
                problems.push(p.clone());
                let h = service.hint(region);
                if !hints.contains(&h) {
                    hints.push(h);
                }
            }
            evidence.push(("VPC".into(), vpc.lines.join("\n")));
            if !logs.is_empty() {
                evidence.push((
                    "what the collector logs in this case".into(),
                    logs.join("\n"),
                ));
            }

            let check = if !problems.is_empty() {
                Check::fail(problems.join("; "), hints.join("; "))
            } else {
                let summary = endpoints
                    .iter()
                    .map(|e| format!("{} ({})", e.service.label(), e.url))
                    .collect::<Vec<_>>()
                    .join(" and ");
                let pass = format!("the collector's endpoints answer: {summary}");
                if vpc.warnings.is_empty() {
                    Check::pass(pass)
                } else {
                    let texts: Vec<&str> = vpc.warnings.iter().map(|(w, _)| w.as_str()).collect();
                    let mut hints: Vec<&str> = Vec::new();
                    for (_, h) in &vpc.warnings {
                        if !hints.contains(&h.as_str()) {
                            hints.push(h);
                        }
                    }
                    Check::warn(
                        format!("{pass}; but {}", texts.join("; ")),
                        hints.join("; "),
                    )
                }
            };
            evidence
                .into_iter()
                .fold(check, |c, (label, body)| c.with(label, body))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_ec2::types::{Route, RouteTableAssociation, State};

    fn env(pairs: &[(&str, &str)]) -> Vec<EnvVar> {
        pairs
            .iter()
            .map(|(k, v)| EnvVar {
                name: k.to_string(),
                value: Some(v.to_string()),
                value_from: None,
            })
            .collect()
    }

    #[test]
    fn sts_endpoint_follows_the_sdk() {
        let e = sts_endpoint(&env(&[("AWS_REGION", "eu-west-1")]), "us-east-1");
        assert_eq!(e.url, "https://sts.eu-west-1.amazonaws.com");
        let e = sts_endpoint(
            &env(&[("AWS_STS_REGIONAL_ENDPOINTS", "legacy")]),
            "us-east-1",
        );
        assert!(e.global && e.url == "https://sts.amazonaws.com");
        let e = sts_endpoint(
            &env(&[
                ("AWS_ENDPOINT_URL", "http://a:1"),
                ("AWS_ENDPOINT_URL_STS", "http://b:2"),
            ]),
            "us-east-1",
        );
        assert_eq!(e.url, "http://b:2");
    }

    fn table(id: &str, main: bool, subnets: &[&str], nat: bool) -> RouteTable {
        let mut b = RouteTable::builder().route_table_id(id).routes(
            Route::builder()
                .destination_cidr_block("10.0.0.0/16")
                .gateway_id("local")
                .build(),
        );
        if nat {
            b = b.routes(
                Route::builder()
                    .destination_cidr_block("0.0.0.0/0")
                    .nat_gateway_id("nat-1")
                    .build(),
            );
        }
        for s in subnets {
            b = b.associations(
                RouteTableAssociation::builder()
                    .subnet_id(*s)
                    .main(false)
                    .build(),
            );
        }
        if main {
            b = b.associations(RouteTableAssociation::builder().main(true).build());
        }
        b.build()
    }

    fn endpoint(service: &str, dns: bool) -> VpcEndpoint {
        VpcEndpoint::builder()
            .vpc_endpoint_id("vpce-1")
            .service_name(service)
            .state(State::Available)
            .private_dns_enabled(dns)
            .build()
    }

    #[test]
    fn subnets_use_their_table_else_the_main_one() {
        let subnets = vec!["subnet-a".to_string(), "subnet-b".to_string()];
        let tables = [
            table("rtb-main", true, &[], false),
            table("rtb-priv", false, &["subnet-a"], true),
        ];
        let r = judge_vpc(
            "us-east-1",
            &subnets,
            &tables,
            &[],
            &[(Service::Aps, false)],
        );
        assert_eq!(r.problems.len(), 1, "{:?}", r.lines);
        let p = &r.problems[0].1;
        assert!(
            p.contains("subnet-b")
                && !p.contains("subnet-a,")
                && p.contains("com.amazonaws.us-east-1.aps-workspaces"),
            "{p}"
        );
    }

    #[test]
    fn an_endpoint_with_private_dns_serves_a_subnet_without_a_route() {
        let subnets = vec!["subnet-a".to_string()];
        let tables = [table("rtb-main", true, &[], false)];
        let sts = endpoint("com.amazonaws.us-east-1.sts", true);
        let aps = endpoint("com.amazonaws.us-east-1.aps-workspaces", false);
        let r = judge_vpc(
            "us-east-1",
            &subnets,
            &tables,
            &[sts, aps],
            &[(Service::Sts, false), (Service::Aps, false)],
        );
        assert_eq!(r.problems.len(), 1);
        assert_eq!(r.problems[0].0, Service::Aps);
        assert!(r.problems[0].1.contains("private DNS off"));
        // The global STS endpoint is not served by the regional VPC endpoint.
        let sts = endpoint("com.amazonaws.us-east-1.sts", true);
        let r = judge_vpc(
            "us-east-1",
            &subnets,
            &tables,
            &[sts],
            &[(Service::Sts, true)],
        );
        assert!(
            r.problems[0]
                .1
                .contains("AWS_STS_REGIONAL_ENDPOINTS=regional")
        );
        // With a NAT route, a DNS-off endpoint is only unused.
        let tables = [table("rtb-main", true, &[], true)];
        let aps = endpoint("com.amazonaws.us-east-1.aps-workspaces", false);
        let r = judge_vpc(
            "us-east-1",
            &subnets,
            &tables,
            &[aps],
            &[(Service::Aps, false)],
        );
        assert!(r.problems.is_empty() && r.warnings.len() == 1);
    }

    #[tokio::test]
    async fn probes_tell_refused_from_silent_from_answered() {
        let http = reqwest::Client::new();
        let d = Duration::from_millis(300);
        // Bound, never listening: refused.
        let closed = tokio::net::TcpSocket::new_v4().unwrap();
        closed.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let url = format!("http://{}/", closed.local_addr().unwrap());
        assert!(matches!(
            probe(&http, &url, d, d).await,
            Reach::Refused { .. }
        ));
        // Listening, never answering (the kernel completes the handshake).
        let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", silent.local_addr().unwrap());
        let r = probe(&http, &url, d, d).await;
        assert!(matches!(r, Reach::NoAnswer { .. }), "{r:?}");
        assert!(r.text().contains("answer deadline"));
        // An HTTP answer, whatever its status.
        let app = axum::Router::new().route(
            "/",
            axum::routing::get(|| async { (axum::http::StatusCode::FORBIDDEN, "no") }),
        );
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", l.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
        assert!(matches!(
            probe(&http, &url, d, Duration::from_secs(5)).await,
            Reach::Answered { status: 403, .. }
        ));
        assert!(matches!(
            probe(&http, "not a url", d, d).await,
            Reach::BadUrl(_)
        ));
    }
}
