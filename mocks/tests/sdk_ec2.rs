//! The real `aws-sdk-ec2` client against the mock EC2 of a started `MockStack` (seeded
//! with the healthy default cluster): the node's IMDS settings, the cluster's subnets,
//! route tables and VPC endpoints as the harness reads them, EC2's typed errors, and
//! SigV4 strictness. Also the stack's black hole and refusing port.

mod common;

use aws_sdk_ec2::error::ProvideErrorMetadata;
use aws_sdk_ec2::types::{Filter, HttpTokensState};
use common::{REGION, sdk_config, stack};
use pipecheck_mocks::MockStack;
use pipecheck_mocks::ec2::{RouteTarget, SEED_NAT_GATEWAY, VpcEndpoint};
use pipecheck_mocks::eks::ClusterSeed;
use pipecheck_mocks::identity::Identity;

async fn ec2(s: &MockStack, id: &Identity) -> aws_sdk_ec2::Client {
    aws_sdk_ec2::Client::new(&sdk_config(&s.endpoints().ec2, REGION, id).await)
}

fn filter(name: &str, value: &str) -> Filter {
    Filter::builder().name(name).values(value).build()
}

#[tokio::test]
async fn describe_instances_gives_the_nodes_imds_settings() {
    let s = stack().await;
    let seed = ClusterSeed::default();
    let client = ec2(&s, &s.endpoints().user).await;
    let out = client
        .describe_instances()
        .instance_ids(&seed.node_instance_id)
        .send()
        .await
        .unwrap();
    let instances: Vec<_> = out
        .reservations()
        .iter()
        .flat_map(|r| r.instances())
        .collect();
    assert_eq!(instances.len(), 1);
    let i = instances[0];
    assert_eq!(i.instance_id(), Some(seed.node_instance_id.as_str()));
    assert_eq!(i.private_dns_name(), Some(seed.node_name.as_str()));
    assert_eq!(i.vpc_id(), Some(seed.vpc_id.as_str()));
    let m = i.metadata_options().unwrap();
    assert_eq!(m.http_tokens(), Some(&HttpTokensState::Required));
    assert_eq!(m.http_put_response_hop_limit(), Some(2));
    assert_eq!(m.http_endpoint().map(|e| e.as_str()), Some("enabled"));
    assert_eq!(m.state().map(|e| e.as_str()), Some("applied"));

    // A change to the state shows in the next answer.
    s.ec2
        .with_network(|n| n.instances[0].metadata.http_put_response_hop_limit = 1);
    let out = client
        .describe_instances()
        .filters(filter("instance-id", &seed.node_instance_id))
        .send()
        .await
        .unwrap();
    let hop = out.reservations()[0].instances()[0]
        .metadata_options()
        .and_then(|m| m.http_put_response_hop_limit());
    assert_eq!(hop, Some(1));
    let none = client
        .describe_instances()
        .filters(filter("vpc-id", "vpc-0000000000000000f"))
        .send()
        .await
        .unwrap();
    assert!(none.reservations().is_empty());

    let e = client
        .describe_instances()
        .instance_ids("i-0000000000000dead")
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("InvalidInstanceID.NotFound"));
    assert!(e.message().unwrap().contains("i-0000000000000dead"));
    let e = client
        .describe_instances()
        .instance_ids("node-1")
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("InvalidInstanceID.Malformed"));
}

#[tokio::test]
async fn route_tables_subnets_and_endpoints_of_the_cluster_vpc() {
    let s = stack().await;
    let seed = ClusterSeed::default();
    let client = ec2(&s, &s.endpoints().user).await;

    let subnets = client
        .describe_subnets()
        .filters(filter("vpc-id", &seed.vpc_id))
        .send()
        .await
        .unwrap();
    let ids: Vec<&str> = subnets
        .subnets()
        .iter()
        .filter_map(|s| s.subnet_id())
        .collect();
    assert_eq!(
        ids,
        seed.subnet_ids
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
    );
    assert!(
        subnets
            .subnets()
            .iter()
            .all(|s| s.map_public_ip_on_launch() == Some(false))
    );

    let tables = client
        .describe_route_tables()
        .filters(filter("association.subnet-id", &seed.subnet_ids[1]))
        .send()
        .await
        .unwrap();
    assert_eq!(tables.route_tables().len(), 1);
    let t = &tables.route_tables()[0];
    let default = t
        .routes()
        .iter()
        .find(|r| r.destination_cidr_block() == Some("0.0.0.0/0"))
        .unwrap();
    assert_eq!(default.nat_gateway_id(), Some(SEED_NAT_GATEWAY));
    assert!(
        t.associations()
            .iter()
            .any(|a| a.subnet_id() == Some(seed.subnet_ids[1].as_str()) && a.main() == Some(false))
    );
    let all = client
        .describe_route_tables()
        .filters(filter("vpc-id", &seed.vpc_id))
        .send()
        .await
        .unwrap();
    let main: Vec<_> = all
        .route_tables()
        .iter()
        .filter(|t| t.associations().iter().any(|a| a.main() == Some(true)))
        .collect();
    assert_eq!(main.len(), 1);
    assert_eq!(main[0].routes()[0].gateway_id(), Some("local"));

    // No endpoints by default; one added with private DNS off reads back as such.
    let none = client.describe_vpc_endpoints().send().await.unwrap();
    assert!(none.vpc_endpoints().is_empty());
    s.ec2.with_network(|n| {
        n.vpc_endpoints.push(VpcEndpoint {
            id: "vpce-0123456789abcdef0".into(),
            vpc_id: seed.vpc_id.clone(),
            service_name: format!("com.amazonaws.{REGION}.aps-workspaces"),
            endpoint_type: "Interface".into(),
            private_dns_enabled: false,
            state: "available".into(),
            subnet_ids: seed.subnet_ids.clone(),
        });
        for t in &mut n.route_tables {
            t.routes
                .retain(|r| matches!(&r.target, RouteTarget::Gateway(_)));
        }
    });
    let eps = client
        .describe_vpc_endpoints()
        .filters(filter(
            "service-name",
            &format!("com.amazonaws.{REGION}.aps-workspaces"),
        ))
        .filters(filter("vpc-id", &seed.vpc_id))
        .send()
        .await
        .unwrap();
    let ep = &eps.vpc_endpoints()[0];
    assert_eq!(ep.private_dns_enabled(), Some(false));
    assert_eq!(
        ep.vpc_endpoint_type().map(|t| t.as_str()),
        Some("Interface")
    );
    assert_eq!(ep.state().map(|t| t.as_str()), Some("available"));
    assert_eq!(ep.subnet_ids(), seed.subnet_ids.as_slice());
    let sts = client
        .describe_vpc_endpoints()
        .filters(filter(
            "service-name",
            &format!("com.amazonaws.{REGION}.sts"),
        ))
        .send()
        .await
        .unwrap();
    assert!(sts.vpc_endpoints().is_empty());
    let t = client
        .describe_route_tables()
        .filters(filter("association.subnet-id", &seed.subnet_ids[0]))
        .send()
        .await
        .unwrap();
    assert!(
        t.route_tables()[0]
            .routes()
            .iter()
            .all(|r| r.destination_cidr_block() != Some("0.0.0.0/0"))
    );
}

#[tokio::test]
async fn ec2_refuses_like_ec2() {
    let s = stack().await;
    let reader = common::user("reader", "AKIAEC2READER0000001", &["ec2:DescribeSubnets"]);
    s.identities.insert(reader.clone());
    let client = ec2(&s, &reader).await;
    assert!(client.describe_subnets().send().await.is_ok());
    let e = client.describe_route_tables().send().await.unwrap_err();
    assert_eq!(e.code(), Some("UnauthorizedOperation"));
    assert!(e.message().unwrap().contains("ec2:DescribeRouteTables"));

    let stranger = common::user("stranger", "AKIAEC2STRANGER00001", &["*"]);
    let e = ec2(&s, &stranger)
        .await
        .describe_subnets()
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("AuthFailure"));

    // Signed for another service: the scope is checked like everywhere else.
    let cfg = sdk_config(&s.endpoints().ec2, REGION, &s.endpoints().user).await;
    let wrong = aws_sdk_ec2::Client::from_conf(
        aws_sdk_ec2::config::Builder::from(&cfg)
            .region(aws_sdk_ec2::config::Region::new("eu-west-1"))
            .build(),
    );
    let e = wrong.describe_subnets().send().await.unwrap_err();
    assert_eq!(e.code(), Some("SignatureDoesNotMatch"));
}

#[tokio::test]
async fn the_black_hole_holds_and_the_refusing_port_refuses() {
    use std::time::Duration;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let s = stack().await;
    let e = s.endpoints();
    let refused = e.refused.trim_start_matches("http://");
    let err = tokio::net::TcpStream::connect(refused).await.unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused);
    let hole = e.black_hole.trim_start_matches("http://");
    let mut conn = tokio::net::TcpStream::connect(hole).await.unwrap();
    conn.write_all(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 16];
    let read = tokio::time::timeout(Duration::from_millis(300), conn.read(&mut buf)).await;
    assert!(read.is_err(), "the black hole answered: {read:?}");
}
