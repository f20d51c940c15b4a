//! Mock Amazon EC2: EC2's own dialect of the query protocol (`Action=…&Version=2016-11-15`,
//! XML answers `<{Action}Response><requestId>…` with `<item>` lists, errors as
//! `<Response><Errors><Error>`), SigV4 service `ec2`. Serves what the harness reads about
//! a cluster's nodes and network: DescribeInstances (with `metadataOptions`, the IMDS
//! settings), DescribeVpcEndpoints, DescribeRouteTables and DescribeSubnets.
//!
//! The state is a small network ([`Network`]): instances, subnets, route tables and VPC
//! endpoints, seeded for the default cluster by [`Ec2State::seed_healthy`] (a node whose
//! IMDS needs tokens with hop limit 2, private subnets routed through a NAT gateway).
//! Faults edit it through [`Ec2State::with_network`]. Lists are answered whole: the mock's
//! network is small, so no `NextToken` is ever returned.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::clock::Clock;
use crate::eks::ClusterSeed;
use crate::identity::{Identities, Identity, MOCK_ACCOUNT};
use crate::query_protocol::{
    AccessDenied, Incoming, Params, Protocol, Refusal, authorize, front_end, xml_escape,
};

const EC2: Protocol = Protocol {
    xmlns: "http://ec2.amazonaws.com/doc/2016-11-15/",
    version: "2016-11-15",
};

// ---------------------------------------------------------------------------------------
// State

/// An instance's IMDS settings (`metadataOptions`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MetadataOptions {
    /// `required` (IMDSv2 only) or `optional`.
    pub http_tokens: String,
    /// How many network hops the PUT for a token may take: 1 stops at the node, so a
    /// pod's request (one more hop through the pod network) never gets an answer.
    pub http_put_response_hop_limit: u32,
    /// `enabled` or `disabled`.
    pub http_endpoint: String,
    /// `pending` or `applied`.
    pub state: String,
}

impl Default for MetadataOptions {
    /// What EKS managed node groups' launch templates set: IMDSv2, hop limit 2.
    fn default() -> Self {
        Self {
            http_tokens: "required".into(),
            http_put_response_hop_limit: 2,
            http_endpoint: "enabled".into(),
            state: "applied".into(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Instance {
    pub id: String,
    pub vpc_id: String,
    pub subnet_id: String,
    pub availability_zone: String,
    pub private_dns_name: String,
    pub private_ip: String,
    pub metadata: MetadataOptions,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subnet {
    pub id: String,
    pub vpc_id: String,
    pub cidr: String,
    pub availability_zone: String,
}

/// Where a route sends its traffic.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RouteTarget {
    /// `gatewayId`: `local`, an internet gateway `igw-…` or a VPC gateway endpoint.
    Gateway(String),
    /// `natGatewayId`: `nat-…`.
    NatGateway(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    pub destination: String,
    pub target: RouteTarget,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteTable {
    pub id: String,
    pub vpc_id: String,
    /// The VPC's main route table: it serves every subnet without an explicit association.
    pub main: bool,
    /// Subnets explicitly associated with it.
    pub subnet_ids: Vec<String>,
    pub routes: Vec<Route>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VpcEndpoint {
    pub id: String,
    pub vpc_id: String,
    /// `com.amazonaws.<region>.<service>`.
    pub service_name: String,
    /// `Interface` or `Gateway`.
    pub endpoint_type: String,
    pub private_dns_enabled: bool,
    /// `available`, `pending`, `failed`, …
    pub state: String,
    pub subnet_ids: Vec<String>,
}

/// The mock's EC2 world.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Network {
    pub instances: Vec<Instance>,
    pub subnets: Vec<Subnet>,
    pub route_tables: Vec<RouteTable>,
    pub vpc_endpoints: Vec<VpcEndpoint>,
}

#[derive(Debug)]
pub struct Ec2State {
    /// The region whose SigV4 scope this endpoint accepts.
    pub region: String,
    pub identities: Arc<Identities>,
    pub clock: Arc<Clock>,
    pub max_skew: Duration,
    network: RwLock<Network>,
}

/// The NAT gateway the healthy seed routes the private subnets through.
pub const SEED_NAT_GATEWAY: &str = "nat-0a1b2c3d4e5f60005";

impl Ec2State {
    pub fn new(
        region: &str,
        identities: Arc<Identities>,
        clock: Arc<Clock>,
        max_skew: Duration,
    ) -> Self {
        Self {
            region: region.to_string(),
            identities,
            clock,
            max_skew,
            network: RwLock::new(Network::default()),
        }
    }

    /// The default cluster's network: its node's instance (IMDSv2, hop limit 2) in the
    /// first of its private subnets, both subnets associated with a route table whose
    /// default route goes through a NAT gateway, and no VPC endpoints.
    pub fn seed_healthy(&self, seed: &ClusterSeed) {
        let region = self.region.as_str();
        let zone = seed.availability_zone(region);
        let subnets: Vec<Subnet> = seed
            .subnet_ids
            .iter()
            .enumerate()
            .map(|(i, id)| Subnet {
                id: id.clone(),
                vpc_id: seed.vpc_id.clone(),
                cidr: format!("192.168.{}.0/19", i * 32),
                availability_zone: format!("{region}{}", (b'a' + (i % 6) as u8) as char),
            })
            .collect();
        let first_subnet = seed.subnet_ids.first().cloned().unwrap_or_default();
        let instance = Instance {
            id: seed.node_instance_id.clone(),
            vpc_id: seed.vpc_id.clone(),
            subnet_id: first_subnet,
            availability_zone: zone,
            private_dns_name: seed.node_name.clone(),
            private_ip: "192.168.12.34".into(),
            metadata: MetadataOptions::default(),
        };
        let local = Route {
            destination: "192.168.0.0/16".into(),
            target: RouteTarget::Gateway("local".into()),
        };
        let main = RouteTable {
            id: "rtb-0a1b2c3d4e5f60006".into(),
            vpc_id: seed.vpc_id.clone(),
            main: true,
            subnet_ids: vec![],
            routes: vec![local.clone()],
        };
        let private = RouteTable {
            id: "rtb-0a1b2c3d4e5f60007".into(),
            vpc_id: seed.vpc_id.clone(),
            main: false,
            subnet_ids: seed.subnet_ids.clone(),
            routes: vec![
                local,
                Route {
                    destination: "0.0.0.0/0".into(),
                    target: RouteTarget::NatGateway(SEED_NAT_GATEWAY.into()),
                },
            ],
        };
        *self.network.write().unwrap() = Network {
            instances: vec![instance],
            subnets,
            route_tables: vec![main, private],
            vpc_endpoints: vec![],
        };
    }

    /// Applies `f` to the network (for faults: IMDS settings, routes, endpoints).
    pub fn with_network<T>(&self, f: impl FnOnce(&mut Network) -> T) -> T {
        f(&mut self.network.write().unwrap())
    }

    pub fn network(&self) -> Network {
        self.network.read().unwrap().clone()
    }
}

pub fn router(state: Arc<Ec2State>) -> Router {
    Router::new()
        .route("/", get(handle).post(handle))
        .with_state(state)
}

// ---------------------------------------------------------------------------------------
// Errors

#[derive(Debug, thiserror::Error)]
enum Ec2Error {
    #[error(transparent)]
    Refusal(#[from] Refusal),
    #[error(transparent)]
    Denied(#[from] AccessDenied),
    /// 400 `InvalidParameterValue` (an unknown filter, a malformed value).
    #[error("invalid parameter")]
    InvalidParameterValue(String),
    /// 400 with a `…NotFound` / `…Malformed` code naming the id.
    #[error("{code}")]
    Id { code: &'static str, message: String },
}

impl IntoResponse for Ec2Error {
    fn into_response(self) -> Response {
        let (status, code, message) = match &self {
            // The front end's refusals in EC2's own codes.
            Self::Refusal(Refusal::Sig(e)) => e.ec2_status_code_message(),
            Self::Refusal(r) => r.status_code_message(),
            Self::Denied(d) => (
                StatusCode::FORBIDDEN,
                "UnauthorizedOperation",
                format!(
                    "You are not authorized to perform this operation. User: {} is not authorized to perform: {} because no identity-based policy allows the {} action",
                    d.arn, d.action, d.action
                ),
            ),
            Self::InvalidParameterValue(m) => {
                (StatusCode::BAD_REQUEST, "InvalidParameterValue", m.clone())
            }
            Self::Id { code, message } => (StatusCode::BAD_REQUEST, *code, message.clone()),
        };
        EC2.ec2_error_response(status, code, &message)
    }
}

// ---------------------------------------------------------------------------------------
// Requests

/// Named as EC2 names its actions (all four are reads).
#[allow(clippy::enum_variant_names)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Action {
    DescribeInstances,
    DescribeVpcEndpoints,
    DescribeRouteTables,
    DescribeSubnets,
}

impl Action {
    fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "DescribeInstances" => Self::DescribeInstances,
            "DescribeVpcEndpoints" => Self::DescribeVpcEndpoints,
            "DescribeRouteTables" => Self::DescribeRouteTables,
            "DescribeSubnets" => Self::DescribeSubnets,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Self::DescribeInstances => "DescribeInstances",
            Self::DescribeVpcEndpoints => "DescribeVpcEndpoints",
            Self::DescribeRouteTables => "DescribeRouteTables",
            Self::DescribeSubnets => "DescribeSubnets",
        }
    }
}

async fn handle(State(st): State<Arc<Ec2State>>, req: Request) -> Response {
    match serve(&st, req).await {
        Ok(resp) => resp,
        Err(e) => e.into_response(),
    }
}

async fn serve(st: &Ec2State, req: Request) -> Result<Response, Ec2Error> {
    let fe = front_end("ec2", &st.region, &st.identities, &st.clock, st.max_skew);
    let req = Incoming::read(req, &fe).await?;
    let caller = req.verify(&fe)?;
    let action = req.params.action(&EC2, Action::parse)?;
    let body = dispatch(st, action, &caller, &req.params)?;
    Ok(EC2.ec2_ok_response(action.name(), &body))
}

fn dispatch(
    st: &Ec2State,
    action: Action,
    caller: &Identity,
    params: &Params,
) -> Result<String, Ec2Error> {
    authorize(caller, &format!("ec2:{}", action.name()), "*")?;
    let query = Query::of(params)?;
    let net = st.network.read().unwrap();
    match action {
        Action::DescribeInstances => describe_instances(&net, &query),
        Action::DescribeVpcEndpoints => describe_vpc_endpoints(&net, &query),
        Action::DescribeRouteTables => describe_route_tables(&net, &query),
        Action::DescribeSubnets => describe_subnets(&net, &query),
    }
}

/// A Describe call's selection: ids (`InstanceId.N`, …) and filters (`Filter.N.Name`,
/// `Filter.N.Value.M`), read from the request's parameters.
struct Query {
    ids: Vec<(String, String)>,
    filters: Vec<(String, Vec<String>)>,
}

impl Query {
    fn of(params: &Params) -> Result<Self, Ec2Error> {
        let mut ids = Vec::new();
        let mut filters: Vec<(u32, String, Vec<String>)> = Vec::new();
        for (k, v) in params.pairs() {
            let mut parts = k.split('.');
            match (parts.next(), parts.next(), parts.next(), parts.next()) {
                (Some(list), Some(n), None, None) if n.parse::<u32>().is_ok() => {
                    ids.push((list.to_string(), v.clone()));
                }
                (Some("Filter"), Some(n), Some(field), m) => {
                    let n: u32 = n.parse().map_err(|_| {
                        Ec2Error::InvalidParameterValue(format!(
                            "The parameter {k} is not recognized"
                        ))
                    })?;
                    let i = match filters.iter().position(|f| f.0 == n) {
                        Some(i) => i,
                        None => {
                            filters.push((n, String::new(), Vec::new()));
                            filters.len() - 1
                        }
                    };
                    match (field, m) {
                        ("Name", None) => filters[i].1 = v.clone(),
                        ("Value", Some(_)) => filters[i].2.push(v.clone()),
                        _ => {
                            return Err(Ec2Error::InvalidParameterValue(format!(
                                "The parameter {k} is not recognized"
                            )));
                        }
                    }
                }
                _ => {}
            }
        }
        Ok(Self {
            ids,
            filters: filters.into_iter().map(|(_, n, v)| (n, v)).collect(),
        })
    }

    /// The ids given as `<list>.N`.
    fn ids(&self, list: &str) -> Vec<&str> {
        self.ids
            .iter()
            .filter(|(l, _)| l == list)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// Whether an object passes every filter; `field` gives an object's values for a
    /// filter name (None: a filter this call does not know, refused like EC2 does).
    fn matches(&self, field: impl Fn(&str) -> Option<Vec<String>>) -> Result<bool, Ec2Error> {
        for (name, values) in &self.filters {
            let Some(have) = field(name) else {
                return Err(Ec2Error::InvalidParameterValue(format!(
                    "The filter '{name}' is invalid"
                )));
            };
            if !values.iter().any(|v| have.contains(v)) {
                return Ok(false);
            }
        }
        Ok(true)
    }
}

/// Ids asked for that do not exist: EC2 fails the whole call, naming them.
fn missing(
    asked: &[&str],
    exists: impl Fn(&str) -> bool,
    prefix: &str,
    code_malformed: &'static str,
    code_not_found: &'static str,
    what: &str,
) -> Result<(), Ec2Error> {
    if let Some(bad) = asked.iter().find(|id| !id.starts_with(prefix)) {
        return Err(Ec2Error::Id {
            code: code_malformed,
            message: format!("Invalid id: \"{bad}\""),
        });
    }
    let gone: Vec<&str> = asked.iter().copied().filter(|id| !exists(id)).collect();
    if gone.is_empty() {
        Ok(())
    } else {
        Err(Ec2Error::Id {
            code: code_not_found,
            message: format!("The {what} '{}' does not exist", gone.join("', '")),
        })
    }
}

fn item_list(name: &str, items: impl IntoIterator<Item = String>) -> String {
    let items: String = items
        .into_iter()
        .map(|i| format!("<item>{i}</item>"))
        .collect();
    if items.is_empty() {
        format!("<{name}/>")
    } else {
        format!("<{name}>{items}</{name}>")
    }
}

fn describe_instances(net: &Network, q: &Query) -> Result<String, Ec2Error> {
    let asked = q.ids("InstanceId");
    missing(
        &asked,
        |id| net.instances.iter().any(|i| i.id == id),
        "i-",
        "InvalidInstanceID.Malformed",
        "InvalidInstanceID.NotFound",
        "instance ID",
    )?;
    let mut reservations = Vec::new();
    for i in &net.instances {
        if !asked.is_empty() && !asked.contains(&i.id.as_str()) {
            continue;
        }
        let keep = q.matches(|name| {
            Some(match name {
                "instance-id" => vec![i.id.clone()],
                "vpc-id" => vec![i.vpc_id.clone()],
                "subnet-id" => vec![i.subnet_id.clone()],
                "private-dns-name" => vec![i.private_dns_name.clone()],
                "instance-state-name" => vec!["running".into()],
                "metadata-options.http-tokens" => vec![i.metadata.http_tokens.clone()],
                _ => return None,
            })
        })?;
        if !keep {
            continue;
        }
        let m = &i.metadata;
        let instance = format!(
            "<instanceId>{id}</instanceId><imageId>ami-0pipecheck0eks01</imageId>\
             <instanceState><code>16</code><name>running</name></instanceState>\
             <privateDnsName>{dns}</privateDnsName><instanceType>m5.large</instanceType>\
             <placement><availabilityZone>{az}</availabilityZone><tenancy>default</tenancy></placement>\
             <subnetId>{subnet}</subnetId><vpcId>{vpc}</vpcId><privateIpAddress>{ip}</privateIpAddress>\
             <metadataOptions><state>{state}</state><httpTokens>{tokens}</httpTokens>\
             <httpPutResponseHopLimit>{hops}</httpPutResponseHopLimit><httpEndpoint>{endpoint}</httpEndpoint>\
             <httpProtocolIpv6>disabled</httpProtocolIpv6><instanceMetadataTags>disabled</instanceMetadataTags>\
             </metadataOptions>",
            id = xml_escape(&i.id),
            dns = xml_escape(&i.private_dns_name),
            az = xml_escape(&i.availability_zone),
            subnet = xml_escape(&i.subnet_id),
            vpc = xml_escape(&i.vpc_id),
            ip = xml_escape(&i.private_ip),
            state = xml_escape(&m.state),
            tokens = xml_escape(&m.http_tokens),
            hops = m.http_put_response_hop_limit,
            endpoint = xml_escape(&m.http_endpoint),
        );
        // One reservation per instance, named after it (stable across calls).
        let reservation_id = format!("r-{}", i.id.trim_start_matches("i-"));
        reservations.push(format!(
            "<reservationId>{reservation_id}</reservationId><ownerId>{MOCK_ACCOUNT}</ownerId><groupSet/>{}",
            item_list("instancesSet", [instance])
        ));
    }
    Ok(item_list("reservationSet", reservations))
}

fn describe_vpc_endpoints(net: &Network, q: &Query) -> Result<String, Ec2Error> {
    let asked = q.ids("VpcEndpointId");
    missing(
        &asked,
        |id| net.vpc_endpoints.iter().any(|e| e.id == id),
        "vpce-",
        "InvalidVpcEndpointId.Malformed",
        "InvalidVpcEndpointId.NotFound",
        "VpcEndpoint Id",
    )?;
    let mut out = Vec::new();
    for e in &net.vpc_endpoints {
        if !asked.is_empty() && !asked.contains(&e.id.as_str()) {
            continue;
        }
        let keep = q.matches(|name| {
            Some(match name {
                "vpc-endpoint-id" => vec![e.id.clone()],
                "service-name" => vec![e.service_name.clone()],
                "vpc-id" => vec![e.vpc_id.clone()],
                "vpc-endpoint-type" => vec![e.endpoint_type.clone()],
                "vpc-endpoint-state" => vec![e.state.clone()],
                _ => return None,
            })
        })?;
        if !keep {
            continue;
        }
        out.push(format!(
            "<vpcEndpointId>{}</vpcEndpointId><vpcEndpointType>{}</vpcEndpointType><vpcId>{}</vpcId>\
             <serviceName>{}</serviceName><state>{}</state><routeTableIdSet/>{}\
             <privateDnsEnabled>{}</privateDnsEnabled><requesterManaged>false</requesterManaged>\
             <ownerId>{MOCK_ACCOUNT}</ownerId>",
            xml_escape(&e.id),
            xml_escape(&e.endpoint_type),
            xml_escape(&e.vpc_id),
            xml_escape(&e.service_name),
            xml_escape(&e.state),
            item_list("subnetIdSet", e.subnet_ids.iter().map(|s| xml_escape(s))),
            e.private_dns_enabled,
        ));
    }
    Ok(item_list("vpcEndpointSet", out))
}

fn describe_route_tables(net: &Network, q: &Query) -> Result<String, Ec2Error> {
    let asked = q.ids("RouteTableId");
    missing(
        &asked,
        |id| net.route_tables.iter().any(|t| t.id == id),
        "rtb-",
        "InvalidRouteTableId.Malformed",
        "InvalidRouteTableID.NotFound",
        "routeTable ID",
    )?;
    let mut out = Vec::new();
    for t in &net.route_tables {
        if !asked.is_empty() && !asked.contains(&t.id.as_str()) {
            continue;
        }
        let keep = q.matches(|name| {
            Some(match name {
                "route-table-id" => vec![t.id.clone()],
                "vpc-id" => vec![t.vpc_id.clone()],
                "association.subnet-id" => t.subnet_ids.clone(),
                "association.main" => vec![t.main.to_string()],
                _ => return None,
            })
        })?;
        if !keep {
            continue;
        }
        let routes = t.routes.iter().map(|r| {
            let target = match &r.target {
                RouteTarget::Gateway(g) => format!("<gatewayId>{}</gatewayId>", xml_escape(g)),
                RouteTarget::NatGateway(n) => {
                    format!("<natGatewayId>{}</natGatewayId>", xml_escape(n))
                }
            };
            format!(
                "<destinationCidrBlock>{}</destinationCidrBlock>{target}<state>active</state><origin>CreateRoute</origin>",
                xml_escape(&r.destination)
            )
        });
        let mut associations: Vec<String> = t
            .subnet_ids
            .iter()
            .enumerate()
            .map(|(i, s)| {
                format!(
                    "<routeTableAssociationId>rtbassoc-{}{i:02}</routeTableAssociationId><routeTableId>{}</routeTableId>\
                     <subnetId>{}</subnetId><main>false</main><associationState><state>associated</state></associationState>",
                    t.id.trim_start_matches("rtb-"),
                    xml_escape(&t.id),
                    xml_escape(s)
                )
            })
            .collect();
        if t.main {
            associations.push(format!(
                "<routeTableAssociationId>rtbassoc-{}main</routeTableAssociationId><routeTableId>{}</routeTableId>\
                 <main>true</main><associationState><state>associated</state></associationState>",
                t.id.trim_start_matches("rtb-"),
                xml_escape(&t.id)
            ));
        }
        out.push(format!(
            "<routeTableId>{}</routeTableId><vpcId>{}</vpcId><ownerId>{MOCK_ACCOUNT}</ownerId>{}{}<propagatingVgwSet/><tagSet/>",
            xml_escape(&t.id),
            xml_escape(&t.vpc_id),
            item_list("routeSet", routes),
            item_list("associationSet", associations),
        ));
    }
    Ok(item_list("routeTableSet", out))
}

fn describe_subnets(net: &Network, q: &Query) -> Result<String, Ec2Error> {
    let asked = q.ids("SubnetId");
    missing(
        &asked,
        |id| net.subnets.iter().any(|s| s.id == id),
        "subnet-",
        "InvalidSubnetID.Malformed",
        "InvalidSubnetID.NotFound",
        "subnet ID",
    )?;
    let mut out = Vec::new();
    for s in &net.subnets {
        if !asked.is_empty() && !asked.contains(&s.id.as_str()) {
            continue;
        }
        let keep = q.matches(|name| {
            Some(match name {
                "subnet-id" => vec![s.id.clone()],
                "vpc-id" => vec![s.vpc_id.clone()],
                "availability-zone" => vec![s.availability_zone.clone()],
                _ => return None,
            })
        })?;
        if !keep {
            continue;
        }
        out.push(format!(
            "<subnetId>{}</subnetId><subnetArn>arn:aws:ec2:{}:{MOCK_ACCOUNT}:subnet/{}</subnetArn>\
             <state>available</state><vpcId>{}</vpcId><cidrBlock>{}</cidrBlock>\
             <availableIpAddressCount>8000</availableIpAddressCount><availabilityZone>{}</availabilityZone>\
             <defaultForAz>false</defaultForAz><mapPublicIpOnLaunch>false</mapPublicIpOnLaunch>",
            xml_escape(&s.id),
            xml_escape(s.availability_zone.trim_end_matches(char::is_alphabetic)),
            xml_escape(&s.id),
            xml_escape(&s.vpc_id),
            xml_escape(&s.cidr),
            xml_escape(&s.availability_zone),
        ));
    }
    Ok(item_list("subnetSet", out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use tower::ServiceExt;

    fn state() -> (Arc<Ec2State>, Identity) {
        let (ids, user) = Identities::with_default_user();
        let st = Ec2State::new(
            "us-east-1",
            Arc::new(ids),
            Arc::new(Clock::default()),
            Duration::from_secs(300),
        );
        st.seed_healthy(&ClusterSeed::default());
        (Arc::new(st), user)
    }

    async fn call(st: Arc<Ec2State>, user: Option<&Identity>, body: &str) -> (StatusCode, String) {
        let mut req = http::Request::builder()
            .method("POST")
            .uri("http://ec2.local/")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body.as_bytes().to_vec())
            .unwrap();
        if let Some(u) = user {
            crate::sigv4::sign_as_client(
                &mut req,
                u,
                "us-east-1",
                "ec2",
                std::time::SystemTime::now(),
            )
            .unwrap();
        }
        let resp = router(st).oneshot(req.map(Body::from)).await.unwrap();
        let status = resp.status();
        let body = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .unwrap();
        (status, String::from_utf8(body.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn errors_are_ec2_documents() {
        let (st, user) = state();
        let (s, body) = call(
            st.clone(),
            None,
            "Action=DescribeInstances&Version=2016-11-15",
        )
        .await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
        assert!(
            body.contains("<Response><Errors><Error><Code>MissingAuthenticationToken</Code>"),
            "{body}"
        );
        let (s, body) = call(
            st.clone(),
            Some(&user),
            "Action=DescribeInstances&Version=2016-11-15&InstanceId.1=i-0000000000000dead",
        )
        .await;
        assert_eq!(s, StatusCode::BAD_REQUEST);
        assert!(
            body.contains("<Code>InvalidInstanceID.NotFound</Code>"),
            "{body}"
        );
        assert!(
            body.contains("i-0000000000000dead") && body.contains("<RequestID>"),
            "{body}"
        );
        let (s, body) = call(
            st,
            Some(&user),
            "Action=DescribeSubnets&Version=2016-11-15&Filter.1.Name=color&Filter.1.Value.1=red",
        )
        .await;
        assert_eq!(s, StatusCode::BAD_REQUEST);
        assert!(
            body.contains("The filter &apos;color&apos; is invalid"),
            "{body}"
        );
    }

    #[tokio::test]
    async fn filters_select_and_answers_use_ec2_lists() {
        let (st, user) = state();
        let (s, body) = call(
            st.clone(),
            Some(&user),
            "Action=DescribeRouteTables&Version=2016-11-15&Filter.1.Name=association.subnet-id&Filter.1.Value.1=subnet-0a1b2c3d4e5f60002",
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{body}");
        assert!(body.starts_with("<?xml") && body.contains("<DescribeRouteTablesResponse xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\"><requestId>"), "{body}");
        assert!(
            body.contains("<natGatewayId>nat-0a1b2c3d4e5f60005</natGatewayId>"),
            "{body}"
        );
        assert!(
            !body.contains("rtb-0a1b2c3d4e5f60006"),
            "the main table has no such association: {body}"
        );
        let (_, body) = call(
            st,
            Some(&user),
            "Action=DescribeVpcEndpoints&Version=2016-11-15",
        )
        .await;
        assert!(body.contains("<vpcEndpointSet/>"), "{body}");
    }
}
