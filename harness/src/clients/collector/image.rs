//! Builds the collector image locally, since no registry is reachable: a root filesystem
//! holding the prometheus binary and the shared libraries `ldd` says it links, imported
//! with `docker import`. The tag names the binary's version and a hash of its bytes, so a
//! changed binary gets a new image and an existing image is reused.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use tokio::process::Command;

pub const IMAGE_NAME: &str = "pipecheck/prometheus";

#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("failed to read the collector binary {path}")]
    Binary {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("failed to run {tool}: is it installed? ({detail})")]
    Tool { tool: &'static str, detail: String },
    #[error("`{command}` failed: {stderr}")]
    Failed { command: String, stderr: String },
    #[error("failed to prepare the image's root filesystem")]
    Rootfs(#[source] std::io::Error),
}

async fn run(tool: &'static str, args: &[&str]) -> Result<std::process::Output, ImageError> {
    Command::new(tool)
        .args(args)
        .output()
        .await
        .map_err(|e| ImageError::Tool {
            tool,
            detail: e.to_string(),
        })
}

/// Finds `name` on PATH (or returns it if it is a path).
pub fn which(name: &str) -> Option<PathBuf> {
    if name.contains('/') {
        return Some(PathBuf::from(name)).filter(|p| p.is_file());
    }
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// The image for `binary`, built if it does not exist yet. Returns `name:tag`.
pub async fn ensure_prometheus_image(binary: &Path) -> Result<String, ImageError> {
    let bytes = tokio::fs::read(binary)
        .await
        .map_err(|source| ImageError::Binary {
            path: binary.to_path_buf(),
            source,
        })?;
    let hash = hex_prefix(&Sha256::digest(&bytes), 12);
    drop(bytes);
    let tag = format!("{IMAGE_NAME}:{hash}");
    if run("docker", &["image", "inspect", &tag])
        .await?
        .status
        .success()
    {
        return Ok(tag);
    }
    let root = tempfile::tempdir().map_err(ImageError::Rootfs)?;
    let libs = linked_libraries(binary).await?;
    let copy = |from: &Path, to: &Path| -> Result<(), ImageError> {
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent).map_err(ImageError::Rootfs)?;
        }
        std::fs::copy(from, to)
            .map(|_| ())
            .map_err(ImageError::Rootfs)
    };
    copy(binary, &root.path().join("bin/prometheus"))?;
    for lib in &libs {
        copy(lib, &root.path().join(lib.strip_prefix("/").unwrap_or(lib)))?;
    }
    for dir in ["etc", "tmp"] {
        std::fs::create_dir_all(root.path().join(dir)).map_err(ImageError::Rootfs)?;
    }
    std::fs::write(
        root.path().join("etc/passwd"),
        "root:x:0:0:root:/:/bin/false\nnobody:x:65534:65534:nobody:/:/bin/false\n",
    )
    .map_err(ImageError::Rootfs)?;
    // `tar | docker import`: the archive streams through a pipe, never a file.
    let script = format!(
        "tar -C {} -c . | docker import --change 'ENTRYPOINT [\"/bin/prometheus\"]' - {tag}",
        shell_quote(&root.path().to_string_lossy())
    );
    let out = run("sh", &["-c", &script]).await?;
    if !out.status.success() {
        return Err(ImageError::Failed {
            command: format!("docker import … {tag}"),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(tag)
}

/// The shared libraries `ldd` lists for `binary` (absolute paths), the loader included.
async fn linked_libraries(binary: &Path) -> Result<Vec<PathBuf>, ImageError> {
    let out = run("ldd", &[&binary.to_string_lossy()]).await?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        // A static binary: ldd says "not a dynamic executable" and there is nothing to copy.
        return Ok(Vec::new());
    }
    Ok(text
        .split_whitespace()
        .filter(|w| w.starts_with('/'))
        .map(PathBuf::from)
        .filter(|p| p.is_file())
        .collect())
}

fn hex_prefix(bytes: &[u8], n: usize) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()[..n].to_string()
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}
