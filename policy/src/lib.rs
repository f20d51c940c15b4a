//! IAM policy documents and an evaluator that says why.
//!
//! One evaluator for every place pipecheck reasons about IAM: `pipecheck diagnose` (a
//! trust policy against the service account a helm chart will use), the mock STS
//! (`AssumeRoleWithWebIdentity`), and the `iam.role_trust` / `iam.role_permissions` links.
//!
//! ```
//! use pipecheck_policy::{PolicyDocument, evaluate_web_identity, web_identity_claims};
//!
//! let trust = PolicyDocument::parse(r#"{
//!   "Version": "2012-10-17",
//!   "Statement": [{
//!     "Effect": "Allow",
//!     "Principal": {"Federated": "arn:aws:iam::111122223333:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/X"},
//!     "Action": "sts:AssumeRoleWithWebIdentity",
//!     "Condition": {"StringEquals": {
//!       "oidc.eks.us-east-1.amazonaws.com/id/X:sub": "system:serviceaccount:springboot:adot",
//!       "oidc.eks.us-east-1.amazonaws.com/id/X:aud": "sts.amazonaws.com"
//!     }}
//!   }]
//! }"#).unwrap();
//! let provider = "arn:aws:iam::111122223333:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/X";
//! let claims = web_identity_claims(provider, "system:serviceaccount:prometheus:adot", "sts.amazonaws.com");
//! let decision = evaluate_web_identity(&trust, provider, &claims);
//! assert!(!decision.allowed());
//! assert!(decision.to_string().contains(
//!     "`oidc.eks.us-east-1.amazonaws.com/id/X:sub` must equal `system:serviceaccount:springboot:adot` \
//!      but the token says `system:serviceaccount:prometheus:adot`"));
//! ```
//!
//! What is modelled (and what is not) is listed in `ARCHITECTURE.md` beside this crate.

mod document;
mod eval;
mod glob;
pub mod path;

pub use document::{
    Condition, ConditionOp, Effect, Match, PolicyDocument, PolicyError, Principals, SetQualifier,
    Statement, Test,
};
pub use eval::{
    Decision, DecisionKind, Mismatch, PrincipalRef, Request, StatementMiss, StatementRef,
    WEB_IDENTITY_ACTION, allows, evaluate, evaluate_web_identity, oidc_issuer, web_identity_claims,
};
pub use glob::glob_match;
