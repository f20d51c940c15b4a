//! How an invocation of pipecheck ends: one exit-code type every command returns, so a
//! code is spelled once. What each means per command is in the README.

/// An invocation's end, as its process exit code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// 0: every check passed (warnings allowed), every account ready, a collector found,
    /// no error-level finding; or a command that only prints.
    Success,
    /// 1: a check failed, an account is not ready, no collector found, an error-level
    /// finding, a removal that failed.
    Failure,
    /// 2: the command could not start or could not read what it needs (bad flags, an
    /// unreadable file, no credentials, an unwritable report path).
    Unusable,
    /// 130: stopped by Ctrl-C or SIGTERM (128 + SIGINT, as shells report it), after
    /// removing what it started.
    Interrupted,
}

impl Exit {
    pub const fn code(self) -> u8 {
        match self {
            Exit::Success => 0,
            Exit::Failure => 1,
            Exit::Unusable => 2,
            Exit::Interrupted => 130,
        }
    }

    /// `Failure` when `failed`, else `Success`.
    pub const fn failure_if(failed: bool) -> Self {
        if failed { Exit::Failure } else { Exit::Success }
    }
}

impl From<Exit> for std::process::ExitCode {
    fn from(e: Exit) -> Self {
        std::process::ExitCode::from(e.code())
    }
}

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.code())
    }
}
