//! Amazon Resource Names: one parser for every ARN the harness reads (roles, workspaces,
//! clusters, callers), instead of splitting on `:` where each is used.
//! Format: `arn:partition:service:region:account-id:resource` (the resource may hold `:`).

/// A parsed ARN, borrowing its text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Arn<'a> {
    pub partition: &'a str,
    pub service: &'a str,
    pub region: &'a str,
    pub account: &'a str,
    /// `role/path/name`, `workspace/ws-…`, `cluster/name`, `assumed-role/name/session` …
    pub resource: &'a str,
}

impl<'a> Arn<'a> {
    /// `s` as an ARN: six `:`-separated fields starting `arn:aws…`, else None.
    pub fn parse(s: &'a str) -> Option<Self> {
        let mut parts = s.splitn(6, ':');
        let (
            Some("arn"),
            Some(partition),
            Some(service),
            Some(region),
            Some(account),
            Some(resource),
        ) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        )
        else {
            return None;
        };
        partition.starts_with("aws").then_some(Arn {
            partition,
            service,
            region,
            account,
            resource,
        })
    }

    /// The resource's id after `kind/` (`workspace/ws-1` with kind `workspace`: `ws-1`).
    pub fn resource_id(&self, kind: &str) -> Option<&'a str> {
        self.resource
            .strip_prefix(kind)
            .and_then(|r| r.strip_prefix('/'))
            .filter(|r| !r.is_empty())
    }

    /// An IAM role's name (`role/path/name` → `name`), when this is a role's ARN.
    pub fn role_name(&self) -> Option<&'a str> {
        (self.service == "iam")
            .then(|| self.resource_id("role"))
            .flatten()
            .and_then(|r| r.rsplit('/').next())
    }

    /// Whether this is an IAM role's ARN with a 12-digit account.
    pub fn is_role(&self) -> bool {
        self.role_name().is_some_and(|n| !n.is_empty())
            && self.account.len() == 12
            && self.account.bytes().all(|b| b.is_ascii_digit())
    }
}

/// The role's name from its ARN (`arn:aws:iam::1:role/path/name` → `name`); anything
/// else is given back whole (IAM then says it does not know it).
pub fn role_name(arn: &str) -> &str {
    Arn::parse(arn).and_then(|a| a.role_name()).unwrap_or(arn)
}

/// `arn:aws:iam::<account>:role/<path>/<name>` without its path: how `aws-auth` must name
/// a role (AMP user guide: the scraper's role in the ConfigMap).
pub fn role_without_path(role_arn: &str) -> String {
    match Arn::parse(role_arn) {
        Some(a) if a.role_name().is_some() => format!(
            "arn:{}:iam::{}:role/{}",
            a.partition,
            a.account,
            a.role_name().unwrap_or_default()
        ),
        _ => role_arn.to_string(),
    }
}

/// The account of an ARN (the 5th field), if it is an ARN with one.
pub fn account(arn: &str) -> Option<&str> {
    Arn::parse(arn).map(|a| a.account).filter(|a| !a.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_arns_pipecheck_reads() {
        let a = Arn::parse("arn:aws:aps:us-west-2:111122223333:workspace/ws-1").unwrap();
        assert_eq!(
            (a.service, a.region, a.account, a.resource_id("workspace")),
            ("aps", "us-west-2", "111122223333", Some("ws-1"))
        );
        let c = Arn::parse("arn:aws-cn:eks:cn-north-1:1:cluster/my:odd").unwrap();
        assert_eq!(c.resource_id("cluster"), Some("my:odd"));
        assert_eq!(c.resource_id("workspace"), None);
        assert_eq!(
            Arn::parse("arn:aws:eks:r:1:cluster/")
                .unwrap()
                .resource_id("cluster"),
            None
        );
        for bad in [
            "",
            "arn",
            "arn:aws:iam",
            "urn:aws:iam::1:role/r",
            "arn:gcp:iam::1:role/r",
        ] {
            assert_eq!(Arn::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn roles() {
        let path = "arn:aws:iam::111122223333:role/aws-service-role/scraper.aps.amazonaws.com/AWSServiceRoleForAmazonPrometheusScraper_1";
        assert_eq!(
            role_name(path),
            "AWSServiceRoleForAmazonPrometheusScraper_1"
        );
        assert_eq!(
            role_without_path(path),
            "arn:aws:iam::111122223333:role/AWSServiceRoleForAmazonPrometheusScraper_1"
        );
        assert_eq!(role_name("arn:aws:iam::1:role/path/r"), "r");
        assert_eq!(role_name("not-an-arn"), "not-an-arn");
        assert!(
            Arn::parse("arn:aws:iam::111122223333:role/r")
                .unwrap()
                .is_role()
        );
        assert!(!Arn::parse("arn:aws:iam::1111:role/r").unwrap().is_role());
        assert!(
            !Arn::parse("arn:aws:iam::111122223333:role/")
                .unwrap()
                .is_role()
        );
        assert!(
            !Arn::parse("arn:aws:iam::111122223333:user/u")
                .unwrap()
                .is_role()
        );
        assert_eq!(
            account("arn:aws:sts::111122223333:assumed-role/r/s"),
            Some("111122223333")
        );
        assert_eq!(account("arn:aws:s3:::bucket"), None);
    }
}
