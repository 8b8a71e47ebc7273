//! Runs a helper program on untrusted input (the PDF reader, OCR) as a child process with a
//! memory and CPU limit: whatever the input makes it do, it cannot take the server down with it.

use std::io::Write;
use std::process::{Command, Output, Stdio};

#[derive(Debug, thiserror::Error)]
pub enum ChildError {
    #[error("could not be started: {0}")]
    Start(std::io::Error),
    #[error("{0}")]
    Run(std::io::Error),
}

/// Runs `command` with `input` on its stdin, at most `memory` bytes of address space and
/// `cpu_seconds` of CPU, and answers what it wrote and how it ended.
pub fn run(
    mut command: Command,
    input: Vec<u8>,
    memory: u64,
    cpu_seconds: u64,
) -> Result<Output, ChildError> {
    command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    #[cfg(unix)]
    {
        use nix::sys::resource::{Resource, setrlimit};
        use std::os::unix::process::CommandExt;
        // SAFETY: setrlimit is async-signal-safe; nothing else runs between fork and exec.
        unsafe {
            command.pre_exec(move || {
                setrlimit(Resource::RLIMIT_AS, memory, memory)?;
                setrlimit(Resource::RLIMIT_CPU, cpu_seconds, cpu_seconds)?;
                Ok(())
            });
        }
    }
    let mut child = command.spawn().map_err(ChildError::Start)?;
    // Written from a thread, so that a child that stops reading cannot block us; a child that
    // stops early shows in its exit status, not in this write.
    let mut stdin = child.stdin.take().expect("piped stdin");
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let output = child.wait_with_output().map_err(ChildError::Run)?;
    let _ = writer.join();
    Ok(output)
}
