//! Kill mode of the chaos run: the workers are separate processes
//! (`chaos_worker`) running the real worker code against the emulators, and one
//! of them is SIGKILLed at a random moment every 0.2-1.5 s and restarted, until
//! every workflow settles. Tasks in those processes append their observations
//! to a shared log file that the audit reads.

use crate::chaos::{chaos_keys_spec, ChaosReport, Rig, RigSpec, DLQ_KIND, REPLAY_KIND};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::process::{Child, Command};
use vow::fault::FaultConfig;

/// Worker processes run at a time.
pub const PROCESSES: usize = 4;

/// The `chaos_worker` binary: `VOW_CHAOS_WORKER`, else next to this executable.
pub fn worker_binary() -> PathBuf {
    if let Ok(p) = std::env::var("VOW_CHAOS_WORKER") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().unwrap_or_default();
    let dir = exe.parent().map(Path::to_path_buf).unwrap_or_default();
    // Integration tests live in target/<profile>/deps.
    let beside = dir.join("chaos_worker");
    if beside.exists() {
        return beside;
    }
    dir.parent()
        .map(|d| d.join("chaos_worker"))
        .unwrap_or(beside)
}

struct Workers {
    binary: PathBuf,
    env: Vec<(String, String)>,
    children: Vec<Child>,
}

impl Workers {
    fn spawn(&self) -> std::io::Result<Child> {
        let mut cmd = Command::new(&self.binary);
        cmd.envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true);
        cmd.spawn()
    }

    /// Restart the workers that died by themselves (a poison message takes
    /// its process down); returns how many.
    fn revive(&mut self) -> u64 {
        let mut revived = 0;
        for i in 0..self.children.len() {
            if matches!(self.children[i].try_wait(), Ok(Some(_))) {
                match self.spawn() {
                    Ok(c) => {
                        self.children[i] = c;
                        revived += 1;
                    }
                    Err(e) => eprintln!("chaos: could not restart a dead worker: {e}"),
                }
            }
        }
        revived
    }
}

/// Run `n` workflows of `kinds` with worker processes killed and restarted.
pub async fn run(
    n: usize,
    seed: u64,
    kinds: &[&'static str],
    within: Duration,
) -> Result<ChaosReport, Box<dyn std::error::Error>> {
    run_with(&worker_binary(), n, seed, kinds, within).await
}

/// [`run`] with an explicit worker binary.
pub async fn run_with(
    binary: &Path,
    n: usize,
    seed: u64,
    kinds: &[&'static str],
    within: Duration,
) -> Result<ChaosReport, Box<dyn std::error::Error>> {
    if !binary.exists() {
        return Err(format!(
            "worker binary {} is missing: cargo build -p vow-e2e --bins",
            binary.display()
        )
        .into());
    }
    let visibility = Duration::from_secs(3);
    let stack = crate::Stack::with_visibility("chaos-kill", 30, 3).await;
    let log = std::env::temp_dir().join(format!(
        "vow-chaos-kill-{}.log",
        &vow::PromiseId::random().as_str()[..8]
    ));
    let spec = RigSpec {
        faults: FaultConfig {
            seed,
            ..FaultConfig::default()
        },
        workers: 0,
        visibility,
        signed: true,
    };
    let store: Arc<dyn vow::store::Store> = Arc::new(vow::aws::DynamoStore::new(
        stack.dynamodb.clone(),
        &stack.names.table_name,
        stack.names.record_ttl,
    ));
    let queue: Arc<dyn vow::queue::Queue> = Arc::new(stack.queue());
    let dlq: Arc<dyn vow::queue::Queue> =
        Arc::new(vow::aws::SqsQueue::new(stack.sqs.clone(), &stack.dlq_url));
    let mut rig = Rig::new(&spec, store, queue, dlq);
    rig.log = Some(log.clone());
    let env: Vec<(String, String)> = [
        ("VOW_QUEUE_URL", stack.names.queue_url.clone()),
        ("VOW_TABLE_NAME", stack.names.table_name.clone()),
        ("VOW_DLQ_URL", stack.dlq_url.clone()),
        ("VOW_SIGNING_KEYS", chaos_keys_spec().to_owned()),
        (crate::record::LOG_ENV, log.display().to_string()),
        ("VOW_VISIBILITY_MS", visibility.as_millis().to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let mut workers = Workers {
        binary: binary.to_path_buf(),
        env,
        children: Vec::new(),
    };
    for _ in 0..PROCESSES {
        let child = workers.spawn()?;
        workers.children.push(child);
    }
    let kills = rig.kills.clone();
    let deaths = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let died = deaths.clone();
    let (stop, mut stopped) = tokio::sync::watch::channel(false);
    let mut rng = fastrand::Rng::with_seed(seed);
    let observed = log.clone();
    let killer = tokio::spawn(async move {
        // Kills follow the work, not the wall clock: after each one, the next
        // waits until some task ran again, so on a busy machine (where a
        // restarted worker takes seconds to take a message) the kills cannot
        // starve a message into the dead-letter queue by outpacing it.
        let logged = || std::fs::metadata(&observed).map_or(0, |m| m.len());
        let mut seen = logged();
        loop {
            let pause = Duration::from_millis(rng.u64(200..=1_500));
            tokio::select! {
                _ = tokio::time::sleep(pause) => {}
                _ = stopped.changed() => break,
            }
            died.fetch_add(workers.revive(), Ordering::Relaxed);
            while logged() <= seen {
                died.fetch_add(workers.revive(), Ordering::Relaxed);
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(50)) => {}
                    _ = stopped.changed() => break,
                }
            }
            if *stopped.borrow() {
                break;
            }
            seen = logged();
            let victim = rng.usize(0..workers.children.len());
            let child = &mut workers.children[victim];
            // Child::start_kill sends SIGKILL on Unix.
            if child.start_kill().is_ok() {
                let _ = child.wait().await;
                kills.fetch_add(1, Ordering::Relaxed);
            }
            match workers.spawn() {
                Ok(c) => workers.children[victim] = c,
                Err(e) => eprintln!("chaos: could not restart a worker: {e}"),
            }
        }
        for c in &mut workers.children {
            let _ = c.start_kill();
            let _ = c.wait().await;
        }
    });
    // The waits and replay rigs move their workers' clocks, which worker
    // processes do not share: their kinds run on the in-process backends only.
    // Poisons run here only.
    let main_kinds: Vec<&'static str> = kinds
        .iter()
        .copied()
        .filter(|k| {
            *k != DLQ_KIND && *k != REPLAY_KIND && !crate::chaos_waits::WAIT_KINDS.contains(k)
        })
        .collect();
    let report = rig.run(n, &main_kinds, within).await;
    let _ = stop.send(true);
    let _ = killer.await;
    eprintln!(
        "chaos: kill: {} worker processes died by themselves (poisons) and were restarted",
        deaths.load(Ordering::Relaxed)
    );
    let _ = std::fs::remove_file(&log);
    let mut report = report?;
    report.kills = rig.kills.load(Ordering::Relaxed);
    Ok(report)
}
