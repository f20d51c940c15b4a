//! The kubeconfig of the mock cluster: what `aws eks update-kubeconfig` writes, with a
//! static bearer token in place of the `aws eks get-token` exec plugin. kubectl and the
//! `kube` crate read it like any other.

use std::path::{Path, PathBuf};

use base64::Engine as _;

/// What the kubeconfig names.
#[derive(Clone, Debug)]
pub struct Kubeconfig {
    /// Cluster, user and context name (`aws eks update-kubeconfig` uses the cluster ARN).
    pub name: String,
    /// `https://127.0.0.1:<port>`.
    pub server: String,
    /// PEM of the CA that signed the server certificate.
    pub ca_pem: String,
    pub token: String,
    /// Default namespace of the context, if any.
    pub namespace: Option<String>,
}

impl Kubeconfig {
    /// The kubeconfig as YAML.
    pub fn to_yaml(&self) -> String {
        let ca = base64::engine::general_purpose::STANDARD.encode(&self.ca_pem);
        let name = quote(&self.name);
        let namespace = self
            .namespace
            .as_ref()
            .map(|n| format!("    namespace: {}\n", quote(n)))
            .unwrap_or_default();
        format!(
            "apiVersion: v1\n\
             kind: Config\n\
             clusters:\n\
             - name: {name}\n  \
               cluster:\n    \
                 server: {}\n    \
                 certificate-authority-data: {ca}\n\
             contexts:\n\
             - name: {name}\n  \
               context:\n    \
                 cluster: {name}\n    \
                 user: {name}\n\
             {namespace}\
             current-context: {name}\n\
             preferences: {{}}\n\
             users:\n\
             - name: {name}\n  \
               user:\n    \
                 token: {}\n",
            quote(&self.server),
            quote(&self.token),
        )
    }

    /// Writes `kubeconfig` into `dir` (mode 0600 on Unix, as kubectl expects of a file
    /// holding a credential) and returns its path.
    pub fn write_to(&self, dir: &Path) -> std::io::Result<PathBuf> {
        let path = dir.join("kubeconfig");
        std::fs::write(&path, self.to_yaml())?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
        }
        Ok(path)
    }
}

/// A double-quoted YAML scalar (the names hold `:` and `/`).
fn quote(s: &str) -> String {
    serde_json::to_string(s).expect("a string serializes")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_names_the_cluster_and_token() {
        let k = Kubeconfig {
            name: "arn:aws:eks:us-east-1:111122223333:cluster/pipecheck".into(),
            server: "https://127.0.0.1:6443".into(),
            ca_pem: "PEM".into(),
            token: "tok".into(),
            namespace: Some("adot-col".into()),
        };
        let y = k.to_yaml();
        assert!(y.contains("  cluster:\n    server: \"https://127.0.0.1:6443\"\n    certificate-authority-data: UEVN\n"), "{y}");
        assert!(y.contains(
            "current-context: \"arn:aws:eks:us-east-1:111122223333:cluster/pipecheck\"\n"
        ));
        assert!(y.contains("    namespace: \"adot-col\"\n"), "{y}");
        assert!(y.ends_with("    token: \"tok\"\n"), "{y}");
    }
}
