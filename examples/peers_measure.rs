//! Runs a program and reports what it cost: user and system CPU time and peak resident memory
//! from `wait4`, and wall time. Used by the side-by-side benchmark (`benches/peers/run.sh`).
//!
//! ```sh
//! peers_measure [--cpu N] [--timeout SECONDS] --rusage-to PATH -- PROGRAM [ARGS…]
//! ```
//!
//! Why not `os.wait4` from the Python script that drives the benchmark: Linux keeps a process's
//! peak RSS across `exec`, so a program started by a 20 MB Python process reports at least
//! 20 MB however small it is. Started from this small process (spawned with `CLONE_VFORK`, so
//! sharing its memory until `exec`), the floor is this process's own peak RSS, about 1–2 MB,
//! which `--rusage-to` reports too (`launcherRssKiB`).
//!
//! `--cpu N` pins this process, and so the program, to core N. `--timeout` kills the program
//! (by its id) after that many seconds (default 600). The program's standard output and error
//! are this process's; the measurement goes to PATH as one line of JSON. Exits with the
//! program's exit code (128 + signal when it was killed).

use std::{
    process::Command,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut cpu: Option<usize> = None;
    let mut timeout = Duration::from_secs(600);
    let mut rusage_to: Option<String> = None;
    let mut args = std::env::args().skip(1);
    let mut program: Vec<String> = Vec::new();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--cpu" => cpu = Some(args.next().ok_or("--cpu needs a value")?.parse()?),
            "--timeout" => {
                timeout =
                    Duration::from_secs_f64(args.next().ok_or("--timeout needs a value")?.parse()?)
            }
            "--rusage-to" => rusage_to = Some(args.next().ok_or("--rusage-to needs a value")?),
            "--" => {
                program = args.by_ref().collect();
                break;
            }
            other => return Err(format!("unknown argument {other:?}").into()),
        }
    }
    let rusage_to = rusage_to.ok_or("--rusage-to PATH is required")?;
    let (name, rest) = program.split_first().ok_or("no program given after --")?;

    if let Some(cpu) = cpu {
        // SAFETY: a zeroed cpu_set_t is an empty set; CPU_SET and sched_setaffinity only read
        // and write the set they are given.
        unsafe {
            let mut set = std::mem::zeroed::<libc::cpu_set_t>();
            libc::CPU_SET(cpu, &mut set);
            if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
                return Err(format!(
                    "cannot pin to core {cpu}: {}",
                    std::io::Error::last_os_error()
                )
                .into());
            }
        }
    }

    let started = Instant::now();
    let child = Command::new(name).args(rest).spawn()?;
    let pid = child.id() as libc::pid_t;
    let done = Arc::new(AtomicBool::new(false));
    {
        let done = done.clone();
        std::thread::spawn(move || {
            std::thread::sleep(timeout);
            if !done.load(Ordering::SeqCst) {
                // SAFETY: kill only sends a signal, to the child this process started and has
                // not reaped yet (`done` is set before the reaping wait4 returns to us).
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        });
    }
    // SAFETY: wait4 only writes the status and the struct it is given.
    let (status, usage) = unsafe {
        let mut status = 0;
        let mut usage = std::mem::zeroed::<libc::rusage>();
        // Wait without reaping first, so that the timeout can never signal a reused pid.
        let mut info = std::mem::zeroed::<libc::siginfo_t>();
        libc::waitid(
            libc::P_PID,
            pid as libc::id_t,
            &mut info,
            libc::WEXITED | libc::WNOWAIT,
        );
        done.store(true, Ordering::SeqCst);
        if libc::wait4(pid, &mut status, 0, &mut usage) < 0 {
            return Err(std::io::Error::last_os_error().into());
        }
        (status, usage)
    };
    let wall = started.elapsed();
    std::mem::forget(child); // reaped above

    let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        128 + libc::WTERMSIG(status)
    };
    // This process's own peak (getrusage would say its parent's, kept across exec).
    let launcher_rss = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
            line.split_whitespace().nth(1)?.parse::<u64>().ok()
        })
        .map_or("null".to_string(), |kib| kib.to_string());
    std::fs::write(
        &rusage_to,
        format!(
            "{{\"exit\":{code},\"userSeconds\":{},\"systemSeconds\":{},\"maxRssKiB\":{},\"wallSeconds\":{},\"launcherRssKiB\":{launcher_rss}}}\n",
            seconds(usage.ru_utime),
            seconds(usage.ru_stime),
            usage.ru_maxrss,
            wall.as_secs_f64(),
        ),
    )?;
    std::process::exit(code);
}
