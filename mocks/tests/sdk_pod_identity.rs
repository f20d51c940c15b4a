//! The real `aws-sdk-eks` client against the mock EKS's pod identity associations, and the
//! mock cluster's Pod Identity webhook fed from them: an association made through the SDK
//! gives the next pod of its service account the container-credentials env.

mod common;

use aws_sdk_eks::operation::create_pod_identity_association::CreatePodIdentityAssociationError;
use aws_sdk_eks::operation::describe_pod_identity_association::DescribePodIdentityAssociationError;
use common::{REGION, sdk_config, stack};
use pipecheck_mocks::MockStack;
use pipecheck_mocks::eks::ClusterSeed;
use pipecheck_mocks::identity::Identity;
use pipecheck_mocks::kube::POD_IDENTITY_CREDENTIALS_URI;

async fn eks(s: &MockStack, id: &Identity) -> aws_sdk_eks::Client {
    aws_sdk_eks::Client::new(&sdk_config(&s.endpoints().eks, REGION, id).await)
}

#[tokio::test]
async fn associations_through_the_sdk_and_the_webhook_on_recreated_pods() {
    let s = stack().await;
    let e = s.endpoints();
    let seed = ClusterSeed::default();
    let client = eks(&s, &e.user).await;
    let created = client
        .create_pod_identity_association()
        .cluster_name("pipecheck")
        .namespace(&seed.namespace)
        .service_account(&seed.service_account)
        .role_arn(seed.role_arn())
        .send()
        .await
        .unwrap();
    let a = created.association().unwrap();
    let id = a.association_id().unwrap().to_string();
    assert_eq!(a.role_arn(), Some(seed.role_arn().as_str()));
    assert!(a.created_at().is_some());

    let again = client
        .create_pod_identity_association()
        .cluster_name("pipecheck")
        .namespace(&seed.namespace)
        .service_account(&seed.service_account)
        .role_arn(seed.role_arn())
        .send()
        .await
        .unwrap_err();
    assert!(matches!(
        again.as_service_error(),
        Some(CreatePodIdentityAssociationError::ResourceInUseException(_))
    ));

    let listed = client
        .list_pod_identity_associations()
        .cluster_name("pipecheck")
        .namespace(&seed.namespace)
        .send()
        .await
        .unwrap();
    assert_eq!(listed.associations().len(), 1);
    assert_eq!(
        listed.associations()[0].service_account(),
        Some(seed.service_account.as_str())
    );
    let described = client
        .describe_pod_identity_association()
        .cluster_name("pipecheck")
        .association_id(&id)
        .send()
        .await
        .unwrap();
    assert_eq!(
        described.association().unwrap().role_arn(),
        Some(seed.role_arn().as_str())
    );

    // The seeded pod predates the association; a recreated one gets the env.
    let pod = s.adot.clone().unwrap().pod;
    let before = s.kube.get("pods", &seed.namespace, &pod).unwrap();
    assert!(!before.to_string().contains(POD_IDENTITY_CREDENTIALS_URI));
    let after = s.kube.recreate_pod(&seed.namespace, &pod).unwrap();
    assert!(after.to_string().contains(POD_IDENTITY_CREDENTIALS_URI));

    client
        .delete_pod_identity_association()
        .cluster_name("pipecheck")
        .association_id(&id)
        .send()
        .await
        .unwrap();
    let gone = client
        .describe_pod_identity_association()
        .cluster_name("pipecheck")
        .association_id(&id)
        .send()
        .await
        .unwrap_err();
    assert!(matches!(
        gone.as_service_error(),
        Some(DescribePodIdentityAssociationError::ResourceNotFoundException(_))
    ));
}
