//! `pipecheck completions <shell>` and `pipecheck man`: shell completion scripts and man
//! pages generated from the clap definition itself (clap_complete, clap_mangen), so they
//! always list the subcommands and flags this build has. The CLI hands its own
//! `clap::Command` in, so this module knows nothing of it.

use std::io::Write;
use std::path::PathBuf;

use pipecheck_reports::Exit;

#[derive(clap::Args, Debug)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(clap::Args, Debug)]
pub struct ManArgs {
    /// Write `pipecheck.1` and one page per subcommand (`pipecheck-run.1`, ...) into this
    /// folder instead of printing `pipecheck.1`.
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum DocsError {
    #[error("failed to write the man pages into {0}")]
    ManDir(PathBuf, #[source] std::io::Error),
    #[error("failed to write the man page")]
    Write(#[source] std::io::Error),
}

/// Prints the completion script of `cmd` for `args.shell`.
pub fn completions(mut cmd: clap::Command, args: CompletionsArgs) -> Result<Exit, DocsError> {
    let mut out = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, "pipecheck", &mut out);
    write_stdout(&out)
}

/// Prints the man page of `cmd`, or writes every page into `args.out_dir`.
pub fn man(cmd: clap::Command, args: ManArgs) -> Result<Exit, DocsError> {
    match args.out_dir {
        Some(dir) => {
            std::fs::create_dir_all(&dir)
                .and_then(|_| clap_mangen::generate_to(cmd, &dir))
                .map_err(|e| DocsError::ManDir(dir.clone(), e))?;
            Ok(Exit::Success)
        }
        None => {
            let mut out = Vec::new();
            clap_mangen::Man::new(cmd)
                .render(&mut out)
                .map_err(DocsError::Write)?;
            write_stdout(&out)
        }
    }
}

/// One write; a reader that closed the pipe early (`| head`) is not an error.
fn write_stdout(bytes: &[u8]) -> Result<Exit, DocsError> {
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|_| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(DocsError::Write(e)),
        _ => Ok(Exit::Success),
    }
}
