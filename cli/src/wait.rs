//! `vow wait`: walk the workflow until its root settles, showing its rolled-up
//! progress (units of work, steps settled): a bar on a terminal, periodic lines otherwise.

use crate::args::WaitArgs;
use crate::walk::walk;
use crate::CliError;
use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Duration;
use tokio::time::Instant;
use vow::{PromiseId, Status, Vow};

/// Time between lines when stdout is not a terminal.
const LINE_EVERY: Duration = Duration::from_secs(5);
/// Longest pause between walks.
const MAX_PAUSE: Duration = Duration::from_secs(2);

/// What `vow wait` shows: the workflow's rolled-up units of work and steps
/// ([`vow::Progress`]), after `elapsed`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shown {
    pub progress: vow::Progress,
    pub elapsed: Duration,
}

impl Shown {
    /// `[#####-----] 50/100 units  5/10 steps  3s`
    pub fn bar(&self, width: usize) -> String {
        let p = &self.progress;
        let filled = if p.total == 0 {
            0
        } else {
            usize::try_from(u128::from(p.done) * width as u128 / u128::from(p.total))
                .unwrap_or(width)
                .min(width)
        };
        format!(
            "[{}{}] {}/{} units  {}/{} steps  {}",
            "#".repeat(filled),
            "-".repeat(width - filled),
            p.done,
            p.total,
            p.settled,
            p.steps,
            self.elapsed()
        )
    }

    /// `waiting: 50/100 units, 5/10 steps settled after 3s`
    pub fn line(&self) -> String {
        let p = &self.progress;
        format!(
            "waiting: {}/{} units, {}/{} steps settled after {}",
            p.done,
            p.total,
            p.settled,
            p.steps,
            self.elapsed()
        )
    }

    fn elapsed(&self) -> humantime::FormattedDuration {
        humantime::format_duration(Duration::from_secs(self.elapsed.as_secs()))
    }
}

/// Wait for `id`: exit 0 if it settled with a value, 1 with a failure, 2 on timeout.
pub async fn wait(vow: &Vow, id: &PromiseId, args: &WaitArgs) -> Result<ExitCode, CliError> {
    let start = Instant::now();
    let deadline = start + args.timeout;
    let tty = std::io::stdout().is_terminal();
    let mut pause = Duration::from_millis(250);
    let mut last_line: Option<Instant> = None;
    loop {
        let tree = walk(vow, id, args.walk.max_nodes).await?;
        let progress = Shown {
            progress: tree.progress(),
            elapsed: start.elapsed(),
        };
        let settled = progress.progress.complete;
        let now = Instant::now();
        if tty {
            let end = if settled || now >= deadline { "\n" } else { "" };
            crate::emit(&format!("\r{}\x1b[K{end}", progress.bar(30)));
        } else if settled || last_line.is_none_or(|t| now - t >= LINE_EVERY) {
            crate::emit(&format!("{}\n", progress.line()));
            last_line = Some(now);
        }
        if settled {
            break;
        }
        if now >= deadline {
            eprintln!(
                "vow: timed out after {}: {} is still pending",
                humantime::format_duration(args.timeout),
                id
            );
            return Ok(ExitCode::from(2));
        }
        tokio::time::sleep(pause.min(deadline - now)).await;
        pause = (pause * 2).min(MAX_PAUSE);
    }
    Ok(match vow.status(id).await? {
        Status::Done(value) => {
            crate::emit(&format!("done: {value}\n"));
            ExitCode::SUCCESS
        }
        Status::Failed(failure) => {
            crate::emit(&format!("failed: {failure}\n"));
            ExitCode::from(1)
        }
        // Settled a moment ago, so not pending; a store that forgot is an error.
        other => {
            return Err(CliError::Backend(format!(
                "{id} settled, then read back as {other:?}"
            )))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_reads_at_a_glance() {
        let p = Shown {
            progress: vow::Progress {
                done: 250,
                total: 1000,
                settled: 3,
                steps: 12,
                complete: false,
            },
            elapsed: Duration::from_millis(65_400),
        };
        assert_eq!(p.bar(8), "[##------] 250/1000 units  3/12 steps  1m 5s");
        assert_eq!(
            p.line(),
            "waiting: 250/1000 units, 3/12 steps settled after 1m 5s"
        );
        let empty = Shown {
            progress: vow::Progress::default(),
            ..p
        };
        assert_eq!(empty.bar(4), "[----] 0/0 units  0/0 steps  1m 5s");
    }
}
