//! `vow wait`: walk the workflow until its root settles, showing how many of the
//! promises found so far have settled: a bar on a terminal, periodic lines otherwise.

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

/// Progress of a workflow: settled of found promises, after `elapsed`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Progress {
    pub settled: usize,
    pub found: usize,
    pub elapsed: Duration,
}

impl Progress {
    /// `[#####-----] 5/10 settled  3s`
    pub fn bar(&self, width: usize) -> String {
        let filled = (self.settled * width)
            .checked_div(self.found)
            .unwrap_or(0)
            .min(width);
        format!(
            "[{}{}] {}  {}",
            "#".repeat(filled),
            "-".repeat(width - filled),
            self.counts(),
            humantime::format_duration(Duration::from_secs(self.elapsed.as_secs()))
        )
    }

    /// `waiting: 5/10 settled after 3s`
    pub fn line(&self) -> String {
        format!(
            "waiting: {} after {}",
            self.counts(),
            humantime::format_duration(Duration::from_secs(self.elapsed.as_secs()))
        )
    }

    fn counts(&self) -> String {
        format!("{}/{} settled", self.settled, self.found)
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
        let progress = Progress {
            settled: tree.settled(),
            found: tree.nodes.len() + tree.omitted,
            elapsed: start.elapsed(),
        };
        let settled = tree.nodes.first().is_some_and(|n| n.outcome.is_some());
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
        Status::Pending => {
            return Err(CliError::Backend(format!(
                "{id} settled, then read back as pending"
            )))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_reads_at_a_glance() {
        let p = Progress {
            settled: 3,
            found: 12,
            elapsed: Duration::from_millis(65_400),
        };
        assert_eq!(p.bar(8), "[##------] 3/12 settled  1m 5s");
        assert_eq!(p.line(), "waiting: 3/12 settled after 1m 5s");
        let empty = Progress {
            found: 0,
            settled: 0,
            ..p
        };
        assert_eq!(empty.bar(4), "[----] 0/0 settled  1m 5s");
    }
}
