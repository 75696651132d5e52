//! What the bulk commands (`import`, `export`) share: the progress output of a phase,
//! `--stall-timeout` and `--user-id-type` as they are checked.

use std::{
    io::{self, IsTerminal},
    time::{Duration, Instant},
};

use authing_otp::{UserIdType, bulk::BulkEvent};
use indicatif::{ProgressBar, ProgressStyle};

/// How often a progress line is printed when stderr is not a terminal.
const PLAIN_PROGRESS_EVERY: Duration = Duration::from_secs(5);
/// How long a throttling notice stays in the progress output.
const STATUS_SHOWN_FOR: Duration = Duration::from_secs(10);
/// The longest `--stall-timeout`: a week.
const MAX_STALL_TIMEOUT: Duration = Duration::from_secs(7 * 24 * 3600);

/// `--user-id-type`, parsed.
pub(crate) fn parse_user_id_type(text: &str) -> Result<UserIdType, String> {
    text.parse::<UserIdType>().map_err(|e| e.to_string())
}

/// `--stall-timeout`, checked.
pub(crate) fn stall_timeout(seconds: f64) -> Result<Duration, String> {
    Duration::try_from_secs_f64(seconds)
        .ok()
        .filter(|t| *t >= Duration::from_secs(1) && *t <= MAX_STALL_TIMEOUT)
        .ok_or_else(|| {
            format!(
                "--stall-timeout must be at least 1 and at most {} seconds",
                MAX_STALL_TIMEOUT.as_secs()
            )
        })
}

/// What a phase calls its records' outcomes, for the progress output.
pub(crate) struct Words {
    /// The command, which starts every line: `import`, `export`.
    pub command: &'static str,
    /// Before the counts: "" for the import, "verify: " for the read-back.
    pub phase: &'static str,
    pub unit: &'static str,
    pub good: &'static str,
    pub bad: &'static str,
}

pub(crate) const IMPORT_WORDS: Words = Words {
    command: "import",
    phase: "",
    unit: "records",
    good: "imported",
    bad: "refused",
};

pub(crate) const LOOKUP_WORDS: Words = Words {
    command: "import",
    phase: "look-up: ",
    unit: "users",
    good: "found",
    bad: "refused",
};

pub(crate) const EXPORT_WORDS: Words = Words {
    command: "export",
    phase: "",
    unit: "users",
    good: "written",
    bad: "without OTP",
};

pub(crate) const VERIFY_WORDS: Words = Words {
    command: "import",
    phase: "verify: ",
    unit: "read back",
    good: "match",
    bad: "differ",
};

/// Shows how far a phase is: a bar on a terminal, a line every few seconds otherwise, and
/// what the server is doing (throttling, outages) as it happens.
pub(crate) struct Display {
    words: &'static Words,
    bar: Option<ProgressBar>,
    plain: bool,
    last_line: Instant,
    started: Instant,
    total: u64,
    done: u64,
    good: u64,
    bad: u64,
    /// The last throttling notice, and when it came.
    status: Option<(String, Instant)>,
    /// When an outage line was last printed (plain output prints at most one per interval).
    last_outage_line: Option<Instant>,
}

impl Display {
    pub(crate) fn new(quiet: bool, total: u64, words: &'static Words) -> Self {
        let terminal = io::stderr().is_terminal();
        let bar = (!quiet && terminal).then(|| {
            let bar = ProgressBar::new(total);
            bar.set_style(
                ProgressStyle::with_template(
                    "{prefix}{bar:30} {pos}/{len} {unit}  {rate}  ETA {eta}  {msg}",
                )
                .expect("a valid template")
                .with_key(
                    "rate",
                    |state: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                        let _ = write!(w, "{:.0}/s", state.per_sec());
                    },
                )
                .with_key(
                    "unit",
                    move |_: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                        let _ = w.write_str(words.unit);
                    },
                ),
            );
            bar.set_prefix(words.phase);
            bar
        });
        Display {
            words,
            bar,
            plain: !quiet && !terminal,
            last_line: Instant::now(),
            started: Instant::now(),
            total,
            done: 0,
            good: 0,
            bad: 0,
            status: None,
            last_outage_line: None,
        }
    }

    /// The counts, and the server's state if it is recent.
    fn message(&self) -> String {
        let mut message = format!(
            "{} {}, {} {}",
            self.good, self.words.good, self.bad, self.words.bad
        );
        if let Some((status, at)) = &self.status
            && at.elapsed() < STATUS_SHOWN_FOR
        {
            message.push_str("; ");
            message.push_str(status);
        }
        message
    }

    pub(crate) fn batch(&mut self, good: u64, bad: u64, settled: u64) {
        self.good += good;
        self.bad += bad;
        self.done += settled;
        if let Some(bar) = &self.bar {
            bar.set_position(self.done);
            bar.set_message(self.message());
        } else if self.plain && self.last_line.elapsed() >= PLAIN_PROGRESS_EVERY {
            self.last_line = Instant::now();
            let rate = self.done as f64 / self.started.elapsed().as_secs_f64().max(1e-3);
            errln!(
                "authing-otp {}: {}{}/{} {} ({:.0}/s): {}",
                self.words.command,
                self.words.phase,
                self.done,
                self.total,
                self.words.unit,
                rate,
                self.message()
            );
        }
    }

    /// Throttling, an outage, a recovery.
    pub(crate) fn event<D>(&mut self, event: &BulkEvent<D>) {
        let text = event.to_string();
        match event {
            BulkEvent::Throttled { .. } => {
                self.status = Some((text, Instant::now()));
                if let Some(bar) = &self.bar {
                    bar.set_message(self.message());
                }
            }
            BulkEvent::Unavailable { .. } | BulkEvent::Recovered { .. } => {
                let recovered = matches!(event, BulkEvent::Recovered { .. });
                if !recovered {
                    self.status = Some((text.clone(), Instant::now()));
                } else {
                    self.status = None;
                }
                if let Some(bar) = &self.bar {
                    bar.println(format!(
                        "authing-otp {}: {}{text}",
                        self.words.command, self.words.phase
                    ));
                    bar.set_message(self.message());
                } else if self.plain
                    && (recovered
                        || self
                            .last_outage_line
                            .is_none_or(|at| at.elapsed() >= PLAIN_PROGRESS_EVERY))
                {
                    self.last_outage_line = Some(Instant::now());
                    errln!(
                        "authing-otp {}: {}{text}",
                        self.words.command,
                        self.words.phase
                    );
                }
            }
            _ => {}
        }
    }

    pub(crate) fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
