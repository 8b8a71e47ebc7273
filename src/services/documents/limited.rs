//! Runs a helper program on untrusted input (the PDF reader, OCR) as a child process with a
//! memory, CPU and wall-clock limit, an empty environment and a cap on what it may answer:
//! whatever the input makes it do, it cannot take the server down with it, keep a thread for
//! ever, fill the server's memory, or read the server's secrets.

use std::io::{Read, Write};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// What one run of a helper may use.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Bytes of address space.
    pub memory: u64,
    pub cpu_seconds: u64,
    /// Killed when it runs longer than this, whatever it is doing (a child waiting on nothing
    /// uses no CPU).
    pub wall_clock: Duration,
    /// The most it may write on stdout: more, and it is killed.
    pub max_output: usize,
}

/// How much lower a helper's CPU priority is than the server's.
#[cfg(unix)]
const NICENESS: libc::c_int = 10;

/// How much of a helper's stderr is kept (its error message).
const MAX_STDERR: usize = 16 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum ChildError {
    #[error("could not be started: {0}")]
    Start(std::io::Error),
    #[error("{0}")]
    Run(std::io::Error),
    #[error("took longer than {0:?} and was stopped")]
    TimedOut(Duration),
    #[error("answered more than {0} bytes and was stopped")]
    OutputTooLarge(usize),
}

/// How a helper ended and what it wrote (stdout at most `max_output` bytes).
#[derive(Debug)]
pub struct Finished {
    pub status: ExitStatus,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

/// A command for `program` with an empty environment but `PATH` (to find it and what it runs):
/// the server's secrets (session key, database and SMTP URLs) never reach a helper. Callers add
/// the variables the helper needs.
pub fn command(program: impl AsRef<std::ffi::OsStr>) -> Command {
    let mut command = Command::new(program);
    command.env_clear();
    if let Some(path) = std::env::var_os("PATH") {
        command.env("PATH", path);
    }
    command
}

/// Runs `command` with `input` on its stdin within `limits`, and answers what it wrote and how
/// it ended.
pub fn run(mut command: Command, input: Vec<u8>, limits: Limits) -> Result<Finished, ChildError> {
    command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    #[cfg(unix)]
    {
        use nix::sys::resource::{Resource, setrlimit};
        use std::os::unix::process::CommandExt;
        let (memory, cpu_seconds) = (limits.memory, limits.cpu_seconds);
        // SAFETY: setrlimit and nice are async-signal-safe; nothing else runs between fork
        // and exec.
        unsafe {
            command.pre_exec(move || {
                setrlimit(Resource::RLIMIT_AS, memory, memory)?;
                setrlimit(Resource::RLIMIT_CPU, cpu_seconds, cpu_seconds)?;
                // Below the server's requests on a busy CPU: a reading may wait, a page not.
                libc::nice(NICENESS);
                Ok(())
            });
        }
    }
    let mut child = command.spawn().map_err(ChildError::Start)?;
    // Written and read from threads of their own, so that a child that stops reading, or
    // writes without end, blocks none of ours; the wait below stays in charge of the clock.
    let mut stdin = child.stdin.take().expect("piped stdin");
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let overflowed = Arc::new(AtomicBool::new(false));
    let stdout = child.stdout.take().expect("piped stdout");
    let stdout_reader = {
        let overflowed = overflowed.clone();
        let max = limits.max_output;
        std::thread::spawn(move || {
            let mut kept = Vec::new();
            let _ = stdout.take(max as u64 + 1).read_to_end(&mut kept);
            if kept.len() > max {
                overflowed.store(true, Ordering::Release);
                kept.truncate(max);
            }
            kept
        })
    };
    let stderr = child.stderr.take().expect("piped stderr");
    let stderr_reader = std::thread::spawn(move || {
        let mut kept = Vec::new();
        let mut stderr = stderr;
        let _ = (&mut stderr).take(MAX_STDERR as u64).read_to_end(&mut kept);
        // Drain the rest so that the child never blocks on a full pipe.
        let _ = std::io::copy(&mut stderr, &mut std::io::sink());
        kept
    });
    let ended = wait_within(&mut child, limits.wall_clock, &overflowed);
    let _ = writer.join();
    let stdout = stdout_reader.join().unwrap_or_default();
    let stderr = stderr_reader.join().unwrap_or_default();
    let status = ended?;
    if overflowed.load(Ordering::Acquire) {
        return Err(ChildError::OutputTooLarge(limits.max_output));
    }
    Ok(Finished {
        status,
        stdout,
        stderr,
    })
}

/// Waits for the child until `wall_clock` has passed or its answer overflowed; kills it then.
fn wait_within(
    child: &mut Child,
    wall_clock: Duration,
    overflowed: &AtomicBool,
) -> Result<ExitStatus, ChildError> {
    let started = Instant::now();
    let mut pause = Duration::from_millis(1);
    loop {
        if let Some(status) = child.try_wait().map_err(ChildError::Run)? {
            return Ok(status);
        }
        if overflowed.load(Ordering::Acquire) {
            // Said by the caller, which knows the limit.
            let _ = child.kill();
            return child.wait().map_err(ChildError::Run);
        }
        if started.elapsed() >= wall_clock {
            let _ = child.kill();
            let _ = child.wait();
            return Err(ChildError::TimedOut(wall_clock));
        }
        std::thread::sleep(pause);
        // Quick helpers answer within a few milliseconds; slow ones are looked at 20 times a
        // second.
        pause = (pause * 2).min(Duration::from_millis(50));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GENEROUS: Limits = Limits {
        memory: 512 * 1024 * 1024,
        cpu_seconds: 10,
        wall_clock: Duration::from_secs(10),
        max_output: 1024,
    };

    fn sh(script: &str) -> Command {
        let mut c = command("sh");
        c.args(["-c", script]);
        c
    }

    #[test]
    fn a_child_that_waits_on_nothing_is_stopped_by_the_clock() {
        let started = Instant::now();
        let limits = Limits {
            wall_clock: Duration::from_millis(300),
            ..GENEROUS
        };
        let ended = run(sh("exec sleep 30"), Vec::new(), limits);
        assert!(matches!(ended, Err(ChildError::TimedOut(_))), "{ended:?}");
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn a_child_that_answers_too_much_is_stopped_and_its_answer_not_kept() {
        let ended = run(sh("exec yes"), Vec::new(), GENEROUS);
        assert!(
            matches!(ended, Err(ChildError::OutputTooLarge(_))),
            "{ended:?}"
        );
        let fits = run(sh("printf hello"), Vec::new(), GENEROUS).unwrap();
        assert_eq!(fits.stdout, b"hello");
    }

    #[test]
    fn a_child_sees_none_of_the_servers_environment() {
        // SAFETY: this test's own variable, read by no other test.
        unsafe { std::env::set_var("IAP_LIMITED_TEST_SECRET", "s3cret") };
        let ended = run(
            sh("env"),
            Vec::new(),
            Limits {
                max_output: 1 << 20,
                ..GENEROUS
            },
        )
        .unwrap();
        let env = String::from_utf8_lossy(&ended.stdout);
        assert!(!env.contains("s3cret"), "{env}");
        assert!(env.contains("PATH="), "{env}");
    }
}
