//! The model's world: a store, a queue, workers, the application, and the
//! workflows they run. Each action is one call to the store or the queue (or a
//! fault); what the engine decides between calls comes from the engine itself.

use super::{proposal, Budget};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;
use vow::engine::decide::{self, Climb, TimerCopy, Writer};
use vow::wire::{blob_key, BlobKind};
use vow::PromiseId;

/// Slots per join shard in the model: a join of three already climbs a level.
const FAN: u32 = 2;
/// Workers taking messages from the queue.
const WORKERS: usize = 2;
/// The most store and queue calls one message may cause.
const MAX_CALLS: u16 = 40;

/// A promise of the model, by number.
pub type Pid = u8;

/// A promise: a plain one, or member `index` of join `Pid`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Tgt {
    P(Pid),
    M { join: Pid, index: u8, n: u8 },
}

/// An outcome, as stored and sent.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Out {
    /// The value of the `run`-th run of task `tag`.
    Val(u8, u8),
    /// Resolved by the application.
    App,
    Cancelled,
    Crashed,
    /// A callback's deadline passed.
    Late,
    Joined(Pid, u8),
    Stored(String),
    /// A schedule tick's value (`schedule.rs` `Ticked`): whether it sent its
    /// firing's job (`fired`).
    Ticked(bool),
    /// What a reader gets when a stored value is gone.
    Missing,
}

/// What a task does when it runs.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Task {
    /// Returns a small value.
    Value(u8),
    /// Returns a value too large for a slot (stored out of line).
    Large(u8),
    /// Adopts `slow.then(after)`.
    Adopt { slow: Pid, after: Pid },
    /// Hands its resolver to the application and stays pending.
    Defer,
    /// Hands its resolver to a task `p<resolver>` and stays pending.
    DeferTo { resolver: Pid },
    /// Resolves `p<target>`, whose resolver carries `conts`.
    Resolve { target: Pid, conts: Vec<Cont> },
    /// The message a task's resolve becomes: settles its target with this.
    Resolution(Out),
    /// Fails retryably on the first run of all, then returns a value; this
    /// is its `attempt`-th attempt of two.
    Flaky { attempt: u8 },
    /// A timer ([`vow::wire::Envelope::timer`]) that settles its target with
    /// `out` after `hops` more trips through the queue.
    Timer { out: Out, hops: u8 },
    /// THE ENGINE BEFORE ITS FIX (scenario `schedule-old`): a schedule's tick
    /// that claims its firing under its own promise, and sends the job `p<job>`
    /// if it holds the claim.
    TickOld { job: Pid },
    /// A schedule's tick as `schedule.rs` runs it now: takes its firing's
    /// lease (a holder token of this one run), and the holder sends the job
    /// `p<job>` (a child of the tick); a tick that finds the lease young fails
    /// retryably, and at attempt [`proposal::HAND_OVER_AT`] hands the firing to
    /// a fresh tick after a pause (`pauses` counts those).
    Tick { job: Pid, attempt: u8, pauses: u8 },
    /// A schedule's job, for firing `firing` (whichever tick sent it).
    Job(Pid),
}

impl Task {
    /// Whether running it runs user code (what the `once` property counts):
    /// everything but the engine's own resolves and timers.
    fn user_code(&self) -> bool {
        !matches!(self, Task::Resolution(_) | Task::Timer { .. })
    }

    fn attempt(&self) -> u8 {
        match self {
            Task::Flaky { attempt } | Task::Tick { attempt, .. } => *attempt,
            _ => 1,
        }
    }

    /// Whose runs the `once` property counts: a schedule's job is counted per
    /// firing, whichever tick sent it (each tick's job is its own promise).
    fn counted_as(&self, target: Tgt) -> Tgt {
        match self {
            Task::Job(firing) => Tgt::P(*firing),
            _ => target,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Cont {
    Then {
        id: Pid,
        task: Task,
        conts: Vec<Cont>,
    },
    Settle {
        target: Tgt,
        conts: Vec<Cont>,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Place {
    Visible,
    Held,
    Dead,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct Msg {
    token: String,
    target: Tgt,
    task: Task,
    /// The outcome it carries, and whose it is.
    input: Option<(Tgt, Out)>,
    repair: bool,
    conts: Vec<Cont>,
    receives: u8,
    at: Place,
    /// The queue's message id, for claims keyed on it: timers only (0 for
    /// other messages). A duplicate delivery keeps it; a redrive gets a new one.
    sqs: u8,
    /// A fault struck this message (a crash or an expiry while it was held, a
    /// duplicate, a redrive), or it was sent while handling one that was
    /// touched: a re-run it causes is explained (property `once`).
    touched: bool,
    /// Sent under a claim that exists so it is sent once (a schedule's
    /// firing): it inherits nothing from the message that sent it.
    fence: bool,
    /// A timer's look-again copy, sent with a delay of `FIRING_GRACE`: how
    /// many of the handlings that were under way when it was sent have not
    /// yet ended (finished, crashed, or stalled past the grace). It is
    /// received only once none has ([`Prog::blocks`]).
    waits: u8,
}

impl Msg {
    fn new(token: String, target: Tgt, task: Task, conts: Vec<Cont>) -> Msg {
        Msg {
            token,
            target,
            task,
            input: None,
            repair: false,
            conts,
            receives: 0,
            at: Place::Visible,
            sqs: 0,
            touched: false,
            fence: false,
            waits: 0,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Rec {
    Plain(Pid),
    Shard(Pid, u32, u32),
    /// A schedule firing's claim, named by the job it fires.
    Firing(Pid),
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct Record {
    slots: BTreeMap<u32, (String, Out)>,
    later: Vec<Cont>,
    kids: Vec<Pid>,
    /// A tick's note `sent` (`Store::note`, apart from the slot): its run
    /// held the firing's lease and sent the job.
    sent: bool,
    /// A sleep's or a callback's note `delivered_by` (`Store::note`, apart
    /// from the slot): the token of the timer whose handling sent everything
    /// its firing owed (`timer.rs` `note_delivered`).
    delivered: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Op {
    Check,
    Run,
    PutBlob(String, Out),
    Settle {
        target: Tgt,
        out: Out,
        carried: Vec<Cont>,
        repair: bool,
        /// Settle as this token instead of the actor's (a join settles as itself).
        by: Option<String>,
    },
    Climb {
        join: Pid,
        n: u8,
        level: u32,
        index: u32,
        count: u32,
        repair: bool,
    },
    Note(Pid, Vec<Pid>),
    /// The lease's holder notes `sent` on its tick promise's record: one
    /// unconditional write (`Store::note`), whoever settled the tick's slot.
    Sent(Pid),
    Flush,
    Delete,
    CancelNext,
    Finish,
    /// One conditional write of a claim (`store::claim`); then the `held` ops
    /// or the `lost` ones.
    Claim {
        rec: Rec,
        claimant: String,
        held: Vec<Op>,
        lost: Vec<Op>,
    },
    /// Buffer a message to send at the next flush.
    Send(Box<Msg>),
    /// One conditional write of generation `gen` of the firing's lease
    /// (`Tick::lease`'s `claim_or_holder`), as the tick being run.
    Lease {
        gen: u8,
    },
    /// A tick that lost lease `gen`: read the holder's tick promise (`fired_by`).
    ReadHolder {
        gen: u8,
    },
    /// `Vow::schedule` at a start-up: revive the chain if its firing is
    /// unclaimed or stalled ([`proposal::revive_at`]).
    Revive,
    /// A timer at its time settles its promise under its own token
    /// (`timer.rs` `fire_timer`): one conditional write. Losing it to its own
    /// token (`found_firing`) delivers nothing: it reads the slot again as
    /// `arrive` does (a first look looks again, a second look claims).
    Fire,
    /// `timer.rs` `claim_repair`: one conditional write of the claim on
    /// repairing the timer's own unnoted firing (the model has no clock: the
    /// engine's read of the previous window's claim is folded into it). The
    /// claimant delivers and notes; a loser looks again.
    ClaimRepair,
    /// `timer.rs` `timer_delivers`: read the mark again once the claim is
    /// held (one read), unless the variant `no-reread-after-claim`.
    Recheck,
    /// The claimant repairs its own firing (no call of its own).
    Repair,
    /// `timer.rs` `look_again`: send the held timer again as a repair, with
    /// a delay of `FIRING_GRACE` (one send).
    LookAgain,
    /// `timer.rs` `note_delivered`: note `delivered_by` beside the timer's
    /// slot, once its firing's deliveries are sent (one write).
    Delivered(Tgt),
}

/// A firing's lease (generation `gen` is a record of its own).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct Lease {
    /// The holder's token: one run of one tick message.
    holder: String,
    /// The holder's tick promise.
    tick: Pid,
    /// Older than `LEASE` (time passed since the claim).
    old: bool,
    /// A fault stopped the holder before its tick settled (it crashed): what
    /// a takeover of this lease sends is explained by that fault.
    explained: bool,
}

/// The claim on repairing a timer's firing (`timer.rs` `claim_repair`): one
/// per firing in the model, which has no clock. The engine claims per window
/// of `FIRING_GRACE`, and a claim of the previous window younger than the
/// grace also blocks, so a claim keeps every other look off for one grace
/// from its making: here, while its holder runs, and after its holder ended
/// until time passes (`Action::Grace`) or its holder stalls past the grace
/// (`Action::Slow`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct RepairClaim {
    /// The claim's number (the handling's own claimant token).
    holder: u8,
    /// Older than `FIRING_GRACE`: a later look may claim again.
    old: bool,
}

/// The firing of the `schedule` scenario: its job's runs are counted under it.
const FIRING: Pid = 111;
/// Ticks of the `schedule` scenario: the chain's, and the revived chain's.
const TICK: Pid = 110;
const REVIVED: Pid = 114;
/// Generations of the lease the model lets a firing have (the engine's
/// `MAX_TAKEOVERS` is 16; two takeovers need two crashes or stalls here).
const MAX_GEN: u8 = 2;

/// The fresh tick a tick hands its firing to: one per chain in the model
/// (110 to 112, 114 to 116). The engine makes a fresh tick at every hand-over;
/// the model's fresh tick stands for all of them (it hands over to itself).
fn handed_to(tick: Pid) -> Option<Pid> {
    match tick {
        TICK | REVIVED => Some(tick + 2),
        _ => None,
    }
}

/// One actor's work in progress: a message being processed, a dead letter
/// being settled, or an application call.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct Prog {
    msg: Option<u16>,
    /// The message as received (its id may be reused once it is deleted).
    held: Option<Msg>,
    token: String,
    ops: VecDeque<Op>,
    sends: Vec<Msg>,
    calls: u16,
    walk: VecDeque<Pid>,
    walked: BTreeSet<Pid>,
    /// Whether it settles a dead letter.
    dead: bool,
    /// The receive count when it took the message (its receipt).
    receipt: u8,
    /// Whether what it sends is touched by a fault (property `once`).
    touched: bool,
    /// The lease it holds, by its holder token (a tick's run).
    holder: Option<String>,
    /// The repair claim it holds, by its claim number ([`RepairClaim`]).
    claim: Option<u8>,
    /// It repairs its timer's own firing, and took for it the explanation a
    /// fault left ([`State::explained`]): what it sends is touched.
    excused: bool,
    /// It stalled past its message's visibility, or past `FIRING_GRACE`
    /// after a look-again copy was sent, while it ran (a fault).
    stalled: bool,
    /// The timer promise whose firing this handling delivers and has not
    /// yet noted delivered: a fault that stops it here explains a re-run
    /// of what the firing delivers ([`State::explained`]).
    firing: Option<Tgt>,
    /// The look-again copies of timers sent while it ran: none is received
    /// before it ends (`FIRING_GRACE` is far longer than a handling).
    blocks: Vec<u16>,
}

impl Prog {
    fn new(msg: Option<u16>, token: String, ops: Vec<Op>) -> Self {
        Prog {
            msg,
            held: None,
            token,
            ops: ops.into(),
            sends: Vec::new(),
            calls: 0,
            walk: VecDeque::new(),
            walked: BTreeSet::new(),
            dead: false,
            receipt: 0,
            touched: false,
            holder: None,
            claim: None,
            excused: false,
            stalled: false,
            firing: None,
            blocks: Vec::new(),
        }
    }
}

/// An application call that must eventually succeed (the application retries).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Call {
    Idle,
    Running,
    Done,
}

/// Who acts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Actor {
    Worker(usize),
    DeadLetters,
    App,
}

/// One transition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    Receive(Actor, u16, String),
    Step(Actor, String),
    StartCancel(Pid),
    StartResolve(Pid),
    Crash(Actor),
    Expire(Actor, u16),
    Duplicate(u16),
    Redrive(u16),
    /// Time passes: lease `gen` grows older than `LEASE`.
    Age(u8),
    /// The holder of lease `gen` stalls past it while it still runs.
    Stall(u8),
    /// A handling is still under way `FIRING_GRACE` after a timer's
    /// look-again copy was sent while it ran, or after it claimed a repair.
    Slow(Actor),
    /// Time passes: the repair claim on the firing of a timer is older than
    /// `FIRING_GRACE` (its holder is gone).
    Grace(Tgt),
    StartRevive,
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::Receive(a, id, what) => write!(f, "{a:?} receives message {id}: {what}"),
            Action::Step(a, what) => write!(f, "{a:?}: {what}"),
            Action::StartCancel(p) => write!(f, "App calls cancel(p{p})"),
            Action::StartResolve(p) => write!(f, "App calls resolve(p{p})"),
            Action::Crash(a) => write!(f, "FAULT {a:?} crashes"),
            Action::Expire(a, id) => {
                write!(
                    f,
                    "FAULT visibility of message {id} expires while {a:?} runs it"
                )
            }
            Action::Duplicate(id) => write!(f, "FAULT message {id} is delivered twice"),
            Action::Redrive(id) => write!(
                f,
                "FAULT dead letter {id} is redriven to the work queue (a new message id)"
            ),
            Action::Age(g) => write!(
                f,
                "time passes: lease {g} of the firing is older than LEASE (its holder is gone)"
            ),
            Action::Stall(g) => write!(
                f,
                "FAULT the holder of lease {g} stalls past LEASE while it runs"
            ),
            Action::Slow(a) => write!(
                f,
                "FAULT {a:?} stalls past FIRING_GRACE while it runs (a look-again copy may come, \
                 its repair claim grows old)"
            ),
            Action::Grace(t) => write!(
                f,
                "time passes: the repair claim on {t:?}'s firing is older than FIRING_GRACE \
                 (its holder is gone)"
            ),
            Action::StartRevive => write!(f, "App calls schedule() at a start-up (revive)"),
        }
    }
}

/// The workflows checked, one at a time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scenario {
    /// p0 → then p1 → then p2.
    Chain,
    /// A fan-out of three into join p10, whose stored successor is p11.
    Join,
    /// p20 adopts `p21.then(p22)` and carries `then p23`; cancelled at any moment.
    Adopter,
    /// p30 defers, carries `then p31`; the application resolves it.
    Deferred,
    /// p40 returns a value stored out of line; `then p41`.
    Large,
    /// p60 defers and hands its resolver to task p61; carries `then p62`.
    Resolver,
    /// p70 fails once and is retried; carries `then p71`.
    Retry,
    /// p50 carries `then p51` and an arrival into join p52 (successor p53);
    /// cancelled at any moment.
    Cancelled,
    /// Callback p80 stores `then p81`; its timer hops once before its
    /// deadline; the application resolves it, and cancels it, at any moment.
    Callback,
    /// Sleep p90 stores `then p91`; its timer hops once, and nothing else
    /// settles it.
    Sleep,
    /// Callback p100 (an approval) stores `then p101` (ship), which adopts
    /// `p102.then(p103)` (in the product: a sleep of 3 days, then a survey);
    /// the callback's timer hops once; the application resolves it at any
    /// moment.
    Approval,
    /// One tick p110 of a schedule, as the engine runs it now: it takes its
    /// firing's lease and the holder sends the job, notes `sent` on its tick
    /// and settles it; a tick that finds the lease young retries, hands over
    /// to a fresh tick p112, and takes over a lease whose holder died; the
    /// application calls `schedule()` at start-ups, which revives a dead chain
    /// at an unclaimed or stalled firing (tick p114).
    Schedule,
    /// THE ENGINE BEFORE ITS FIX: one tick p110 that claims its firing under
    /// its own promise and sends the job p111 (holes 2 and 4).
    ScheduleOld,
    /// Sleep p120 stores `then p121`; its timer hops once; a message is
    /// dead-lettered after one receive, and a dead letter may be redriven.
    Redrive,
    /// Sleep p130 stores `then p131`; its timer arrives at its time (no
    /// hop), so that the firing, its copies and their looks again are
    /// explored deeper than in `sleep`.
    Fired,
}

impl Scenario {
    pub fn all() -> [Scenario; 15] {
        [
            Scenario::Chain,
            Scenario::Retry,
            Scenario::Join,
            Scenario::Adopter,
            Scenario::Deferred,
            Scenario::Resolver,
            Scenario::Large,
            Scenario::Cancelled,
            Scenario::Callback,
            Scenario::Sleep,
            Scenario::Approval,
            Scenario::Schedule,
            Scenario::ScheduleOld,
            Scenario::Redrive,
            Scenario::Fired,
        ]
    }

    /// The holes (of issue 20, or found by this model) today's engine has in
    /// this scenario, each with the property it breaks and what its trace
    /// shows (so that the property broken another way is a violation): the
    /// check expects each of those properties broken, and checks every other
    /// one as usual. When the engine's fix for a hole lands, the check says the
    /// hole is no longer found: take it out of this list then.
    pub fn holes(&self) -> &'static [(u8, &'static str, &'static str)] {
        match self {
            // Holes 1 (an early resolve re-ran what follows) and 3 (a
            // redriven timer lost to its hop's claim) are fixed: the writer
            // alone delivers what is stored, and timers keep no hop claims.
            // Holes 2 and 4 are fixed in the engine (a lease on each firing,
            // ticks that retry without end, revived chains): `schedule`
            // models the tick as it is now. `schedule-old` is the tick before
            // the fix, kept to show the check finds both there: a second
            // delivery of the tick holds the firing's claim again (2); a tick
            // dead-lettered before its claim drops the firing (4).
            Scenario::ScheduleOld => &[(2, "once", "claims"), (4, "liveness", "dead-lettered")],
            // Holes 9 and 10, found by this model on the leased tick, are
            // fixed: the holder notes `sent` on its tick before it settles it,
            // and `fired_by` reads the note, which no other writer of the
            // tick's slot hides (9); a revive restarts a chain at a stalled
            // firing too, and the revived tick takes the old lease over (10).
            // `Variant::IgnoresSentNote` and `Variant::RevivesUnclaimedOnly`
            // take the fixes back. Found by this model in that fix: a
            // start-up that reads the firing while the lease of a holder that
            // died (and whose message was dead-lettered) is still young found
            // it live and started nothing; once the lease was old, nothing
            // took it over (11). Fixed: a revive restarts a live firing too,
            // and the revived tick waits out the lease
            // (`Variant::LeavesLiveAlone` takes the fix back).
            Scenario::Schedule => &[],
            _ => &[],
        }
    }

    /// The fault budget for this scenario: `base`, with redrives only where
    /// they are the point.
    pub fn budget(&self, base: Budget) -> Budget {
        match self {
            Scenario::Redrive => Budget {
                redrives: 1,
                receive_limit: 1,
                ..base
            },
            _ => Budget {
                redrives: 0,
                ..base
            },
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Scenario::Chain => "chain",
            Scenario::Join => "join",
            Scenario::Adopter => "adopter",
            Scenario::Deferred => "deferred",
            Scenario::Large => "large",
            Scenario::Resolver => "resolver",
            Scenario::Retry => "retry",
            Scenario::Cancelled => "cancel",
            Scenario::Callback => "callback",
            Scenario::Sleep => "sleep",
            Scenario::Approval => "approval",
            Scenario::Schedule => "schedule",
            Scenario::ScheduleOld => "schedule-old",
            Scenario::Redrive => "redrive",
            Scenario::Fired => "fired",
        }
    }

    /// Promises that must settle.
    fn roots(&self) -> Vec<Pid> {
        match self {
            Scenario::Chain => vec![2],
            Scenario::Join => vec![11],
            Scenario::Adopter => vec![20, 23],
            Scenario::Deferred => vec![31],
            Scenario::Large => vec![41],
            Scenario::Resolver => vec![60, 62],
            Scenario::Retry => vec![70, 71],
            Scenario::Cancelled => vec![51, 53],
            Scenario::Callback => vec![81],
            Scenario::Sleep => vec![91],
            Scenario::Approval => vec![101],
            Scenario::Schedule => vec![TICK],
            Scenario::ScheduleOld => vec![110, 111],
            Scenario::Redrive => vec![121],
            Scenario::Fired => vec![131],
        }
    }

    fn cancels(&self) -> Option<Pid> {
        match self {
            Scenario::Adopter => Some(20),
            Scenario::Cancelled => Some(50),
            Scenario::Callback => Some(80),
            _ => None,
        }
    }

    /// The first messages, and what the store holds before they are sent.
    fn start(&self) -> (Vec<Msg>, BTreeMap<Rec, Record>) {
        let then = |id: Pid, conts: Vec<Cont>| Cont::Then {
            id,
            task: Task::Value(id),
            conts,
        };
        let msg = |token: &str, target: Tgt, task: Task, conts: Vec<Cont>| {
            Msg::new(token.to_owned(), target, task, conts)
        };
        let timer = |p: Pid, out: Out| {
            let token = decide::timer_token(&promise_id(p));
            let mut m = Msg::new(token, Tgt::P(p), Task::Timer { out, hops: 1 }, vec![]);
            m.sqs = 1;
            m
        };
        let mut store = BTreeMap::new();
        let later = |store: &mut BTreeMap<Rec, Record>, join: Pid, cont: Cont| {
            store.insert(
                Rec::Plain(join),
                Record {
                    later: vec![cont],
                    ..Record::default()
                },
            );
        };
        let msgs = match self {
            Scenario::Chain => vec![msg(
                "s0",
                Tgt::P(0),
                Task::Value(0),
                vec![then(1, vec![then(2, vec![])])],
            )],
            Scenario::Join => {
                later(&mut store, 10, then(11, vec![]));
                (0..3)
                    .map(|i| {
                        let target = Tgt::M {
                            join: 10,
                            index: i,
                            n: 3,
                        };
                        msg(&format!("s{i}"), target, Task::Value(12 + i), vec![])
                    })
                    .collect()
            }
            Scenario::Adopter => vec![msg(
                "s0",
                Tgt::P(20),
                Task::Adopt {
                    slow: 21,
                    after: 22,
                },
                vec![then(23, vec![])],
            )],
            Scenario::Deferred => vec![msg("s0", Tgt::P(30), Task::Defer, vec![then(31, vec![])])],
            Scenario::Retry => vec![msg(
                "s0",
                Tgt::P(70),
                Task::Flaky { attempt: 1 },
                vec![then(71, vec![])],
            )],
            Scenario::Resolver => vec![msg(
                "s0",
                Tgt::P(60),
                Task::DeferTo { resolver: 61 },
                vec![then(62, vec![])],
            )],
            Scenario::Large => vec![msg(
                "s0",
                Tgt::P(40),
                Task::Large(40),
                vec![then(41, vec![])],
            )],
            Scenario::Cancelled => {
                later(&mut store, 52, then(53, vec![]));
                let arrival = Cont::Settle {
                    target: Tgt::M {
                        join: 52,
                        index: 0,
                        n: 1,
                    },
                    conts: vec![],
                };
                vec![msg(
                    "s0",
                    Tgt::P(50),
                    Task::Value(50),
                    vec![then(51, vec![]), arrival],
                )]
            }
            Scenario::Callback => {
                later(&mut store, 80, then(81, vec![]));
                vec![timer(80, Out::Late)]
            }
            Scenario::Sleep => {
                later(&mut store, 90, then(91, vec![]));
                vec![timer(90, Out::Val(90, 1))]
            }
            Scenario::Approval => {
                let ship = Cont::Then {
                    id: 101,
                    task: Task::Adopt {
                        slow: 102,
                        after: 103,
                    },
                    conts: vec![],
                };
                later(&mut store, 100, ship);
                vec![timer(100, Out::Late)]
            }
            Scenario::Schedule => vec![msg(
                "s0",
                Tgt::P(TICK),
                Task::Tick {
                    job: TICK + 1,
                    attempt: 1,
                    pauses: 0,
                },
                vec![],
            )],
            Scenario::ScheduleOld => {
                vec![msg("s0", Tgt::P(110), Task::TickOld { job: 111 }, vec![])]
            }
            Scenario::Redrive => {
                later(&mut store, 120, then(121, vec![]));
                vec![timer(120, Out::Val(120, 1))]
            }
            Scenario::Fired => {
                later(&mut store, 130, then(131, vec![]));
                let mut due = timer(130, Out::Val(130, 1));
                due.task = Task::Timer {
                    out: Out::Val(130, 1),
                    hops: 0,
                };
                vec![due]
            }
        };
        (msgs, store)
    }
}

/// Where a promise's outcome is written.
fn cell(target: Tgt) -> (Rec, u32) {
    match target {
        Tgt::P(p) => (Rec::Plain(p), 0),
        Tgt::M { join, index, .. } => {
            let index = u32::from(index);
            (Rec::Shard(join, 0, index / FAN), index % FAN)
        }
    }
}

/// The engine's promise id for a model promise (tokens are derived from ids).
fn promise_id(p: Pid) -> PromiseId {
    PromiseId::parse(&format!("{p:032x}")).unwrap_or_else(|_| PromiseId::random())
}

/// An engine that differs from today's on purpose (`--variant <name>`): a
/// fix taken back, to show that the check still finds the hole it closed, or
/// a fix proposed for a hole still open.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Variant {
    /// `fired_by` reads the holder's tick slot alone, not its `sent` note:
    /// hole 9 back.
    IgnoresSentNote,
    /// A revive starts a chain only at an unclaimed firing, as before the
    /// fix: hole 10 back.
    RevivesUnclaimedOnly,
    /// A revive leaves a live firing alone, as before the fix of hole 11:
    /// hole 11 back.
    LeavesLiveAlone,
    /// Timers as before 69556c0: a timer copy (a duplicate, a redelivery, a
    /// redrive, a dead letter) that finds its own firing written delivers
    /// what is stored with it at once, as repairs, and nothing notes a
    /// firing delivered.
    TimerCopiesRepair,
    /// The timer rule of 69556c0, with the look-again copy an ordinary
    /// message (no `FIRING_GRACE`: it may come while the firing it waits
    /// for is still being delivered), to show what the grace is for.
    LooksAgainAtOnce,
    /// The timer rule of c94cb45 and 3edee6a without the repair claim: a
    /// second look that still finds its firing unnoted repairs it at once
    /// (`TimerCopy::Repair` taken for `Deliver`), so two second looks may
    /// both repair it.
    RepairsWithoutClaim,
    /// The rule of c94cb45 to 3edee6a: a second look that wins the repair
    /// claim repairs from the read it made before the claim, which may be
    /// older than the first claimant's note (the deep check finds a step run
    /// twice in `fired`).
    NoRereadAfterClaim,
}

impl Variant {
    pub fn all() -> [Variant; 7] {
        [
            Variant::IgnoresSentNote,
            Variant::RevivesUnclaimedOnly,
            Variant::LeavesLiveAlone,
            Variant::TimerCopiesRepair,
            Variant::LooksAgainAtOnce,
            Variant::RepairsWithoutClaim,
            Variant::NoRereadAfterClaim,
        ]
    }

    pub fn name(&self) -> &'static str {
        match self {
            Variant::IgnoresSentNote => "ignores-sent-note",
            Variant::RevivesUnclaimedOnly => "revives-unclaimed-only",
            Variant::LeavesLiveAlone => "leaves-live-alone",
            Variant::TimerCopiesRepair => "timer-copies-repair",
            Variant::LooksAgainAtOnce => "looks-again-at-once",
            Variant::RepairsWithoutClaim => "repairs-without-claim",
            Variant::NoRereadAfterClaim => "no-reread-after-claim",
        }
    }
}

/// The whole world.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct State {
    scenario: Scenario,
    /// The engine, if it differs from today's on purpose (never in the check).
    variant: Option<Variant>,
    limit: u8,
    store: BTreeMap<Rec, Record>,
    blobs: BTreeMap<String, Out>,
    queue: BTreeMap<u16, Msg>,
    workers: [Option<Prog>; WORKERS],
    dead_letters: Option<Prog>,
    app: Option<Prog>,
    cancel: Call,
    resolve: Call,
    /// The resolver's continuations, once the deferred task handed it out.
    resolver: Option<Vec<Cont>>,
    runs: BTreeMap<u8, u8>,
    /// For each promise and attempt, how many times its task started: from
    /// messages no fault touched, and in all (property `once`).
    started: BTreeMap<(Tgt, u8), (u8, u8)>,
    /// The last queue message id given to a timer message.
    sqs: u8,
    /// Whether the application crashed (what it sends when it retries is
    /// touched by a fault).
    app_touched: bool,
    /// What each reader saw of each promise.
    seen: BTreeMap<Tgt, BTreeSet<Vec<Out>>>,
    crashes: u8,
    duplicates: u8,
    expiries: u8,
    redrives: u8,
    /// A property broken while acting (a message doing unbounded work).
    broken: Option<String>,
    /// The firing's lease, by generation (scenario `schedule`).
    leases: BTreeMap<u8, Lease>,
    /// Holder tokens handed out so far.
    holders: u8,
    /// `Vow::schedule` at a start-up (scenario `schedule`), after a tick was
    /// dead-lettered (the chain died). A start-up while the chain lives finds
    /// its firing done or live, or finds it stalled (a holder crashed, its
    /// message not yet back) and races the chain for the lease as a second
    /// chain would (not explored here: it multiplies the states).
    revive: Call,
    /// Whether the revived chain was started (its named start claimed).
    revived: bool,
    /// Whether a tick was dead-lettered since a start-up last looked.
    died: bool,
    /// Timer promises whose firing a fault stopped while a handling
    /// delivered it (a crash, an expiry or a stall past `FIRING_GRACE` after
    /// its settle or its decision to deliver, before its note): a re-run of
    /// what the firing delivers is explained (property `once`).
    explained: BTreeSet<Tgt>,
    /// The repair claim on each timer's firing ([`RepairClaim`]).
    claims: BTreeMap<Tgt, RepairClaim>,
    /// Repair claims made so far (claimant numbers).
    claimants: u8,
}

impl State {
    pub fn new(scenario: Scenario, limit: u8, variant: Option<Variant>) -> Self {
        let (msgs, store) = scenario.start();
        let mut state = State {
            scenario,
            variant,
            limit,
            store,
            blobs: BTreeMap::new(),
            queue: BTreeMap::new(),
            workers: Default::default(),
            dead_letters: None,
            app: None,
            cancel: if scenario.cancels().is_some() {
                Call::Idle
            } else {
                Call::Done
            },
            resolve: Call::Idle,
            resolver: None,
            runs: BTreeMap::new(),
            started: BTreeMap::new(),
            sqs: 1,
            app_touched: false,
            seen: BTreeMap::new(),
            crashes: 0,
            duplicates: 0,
            expiries: 0,
            redrives: 0,
            broken: None,
            leases: BTreeMap::new(),
            holders: 0,
            revive: if scenario == Scenario::Schedule {
                Call::Idle
            } else {
                Call::Done
            },
            revived: false,
            died: false,
            explained: BTreeSet::new(),
            claims: BTreeMap::new(),
            claimants: 0,
        };
        for m in msgs {
            state.enqueue(m);
        }
        state
    }

    fn enqueue(&mut self, msg: Msg) -> u16 {
        let id = (0..).find(|i| !self.queue.contains_key(i)).unwrap_or(0);
        self.queue.insert(id, msg);
        id
    }

    /// Whether the engine is today's timer rule (69556c0, c94cb45, 3edee6a)
    /// or a variant of it.
    fn notes_timers(&self) -> bool {
        self.variant != Some(Variant::TimerCopiesRepair)
    }

    /// A handling ended (finished or crashed) or stalled past
    /// `FIRING_GRACE`: the look-again copies it held back may come.
    fn release(&mut self, blocks: &[u16]) {
        for id in blocks {
            if let Some(m) = self.queue.get_mut(id) {
                m.waits = m.waits.saturating_sub(1);
            }
        }
    }

    fn prog(&mut self, actor: Actor) -> &mut Option<Prog> {
        match actor {
            Actor::Worker(w) => &mut self.workers[w],
            Actor::DeadLetters => &mut self.dead_letters,
            Actor::App => &mut self.app,
        }
    }

    fn busy(&self) -> Vec<Actor> {
        let mut busy: Vec<Actor> = (0..WORKERS)
            .filter(|w| self.workers[*w].is_some())
            .map(Actor::Worker)
            .collect();
        if self.dead_letters.is_some() {
            busy.push(Actor::DeadLetters);
        }
        if self.app.is_some() {
            busy.push(Actor::App);
        }
        busy
    }

    /// A hash of the state with its interchangeable workers in a fixed order:
    /// states that differ only in which worker holds what share it, and are
    /// explored once. (Hashed field by field, without a copy of the state.)
    pub fn fingerprint(&self) -> u64 {
        use std::hash::{Hash, Hasher};
        let State {
            scenario,
            variant,
            limit,
            store,
            blobs,
            queue,
            workers,
            dead_letters,
            app,
            cancel,
            resolve,
            resolver,
            runs,
            started,
            sqs,
            app_touched,
            seen,
            crashes,
            duplicates,
            expiries,
            redrives,
            broken,
            leases,
            holders,
            revive,
            revived,
            died,
            explained,
            claims,
            claimants,
        } = self;
        let mut workers: Vec<&Option<Prog>> = workers.iter().collect();
        workers.sort();
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (scenario, variant, limit, store, blobs, queue, workers).hash(&mut h);
        (dead_letters, app, cancel, resolve, resolver, runs, started).hash(&mut h);
        (sqs, app_touched, seen, crashes, duplicates, expiries).hash(&mut h);
        (redrives, broken, leases, holders, revive, revived, died).hash(&mut h);
        (explained, claims, claimants).hash(&mut h);
        h.finish()
    }

    /// Every transition without faults.
    pub fn progress(&self) -> Vec<(Action, State)> {
        let mut out = Vec::new();
        for actor in self.busy() {
            let mut next = self.clone();
            let what = next.step(actor);
            out.push((Action::Step(actor, what), next));
        }
        // Idle workers are interchangeable: the first one receives.
        if let Some(w) = (0..WORKERS).find(|w| self.workers[*w].is_none()) {
            for (id, m) in &self.queue {
                if m.at == Place::Visible && m.waits == 0 {
                    let mut next = self.clone();
                    let what = next.receive(w, *id);
                    out.push((Action::Receive(Actor::Worker(w), *id, what), next));
                }
            }
        }
        if self.dead_letters.is_none() {
            for (id, m) in &self.queue {
                if m.at == Place::Dead {
                    let mut next = self.clone();
                    let mut prog = Prog::new(
                        Some(*id),
                        m.token.clone(),
                        vec![
                            Op::Settle {
                                target: m.target,
                                // A resolve settles with its outcome even when dead.
                                out: match &m.task {
                                    Task::Resolution(v) => v.clone(),
                                    Task::Timer { out, .. } => out.clone(),
                                    _ => Out::Crashed,
                                },
                                carried: m.conts.clone(),
                                repair: false,
                                by: None,
                            },
                            Op::Flush,
                            Op::Delete,
                        ],
                    );
                    if let Task::Timer { hops, .. } = &m.task {
                        if timer_wake(*hops) != decide::Wake::Now {
                            // Before its time, a dead timer goes back to wait
                            // (`dead.rs` calls `due`).
                            prog.ops = hop_on(m).into();
                        } else if self.notes_timers() {
                            // At its time, `bury_timer`: it checks its
                            // promise first as a redelivery (`arrive`), and
                            // fires it if it is open (`fire_timer`).
                            prog.ops = vec![Op::Check].into();
                        }
                    }
                    prog.dead = true;
                    prog.receipt = m.receives;
                    prog.touched = m.touched;
                    if timer(m) {
                        prog.held = Some(m.clone());
                    }
                    next.dead_letters = Some(prog);
                    if matches!(m.task, Task::Tick { .. }) {
                        // The chain died: a start-up after this calls
                        // `schedule()` again.
                        next.died = true;
                    }
                    let what = format!("dead letter for {:?}", m.target);
                    out.push((Action::Receive(Actor::DeadLetters, *id, what), next));
                }
            }
        }
        if self.app.is_none() {
            if let (Call::Idle, Some(p)) = (self.cancel, self.scenario.cancels()) {
                let mut next = self.clone();
                let token = decide::cancel_token(&promise_id(p));
                let mut prog = Prog::new(None, token, vec![Op::CancelNext, Op::Finish]);
                prog.walk.push_back(p);
                prog.touched = self.app_touched;
                next.app = Some(prog);
                next.cancel = Call::Running;
                out.push((Action::StartCancel(p), next));
            }
            if let (Call::Idle, Some((p, conts))) = (self.resolve, self.resolvable()) {
                let mut next = self.clone();
                let ops = vec![
                    Op::Settle {
                        target: Tgt::P(p),
                        out: Out::App,
                        carried: conts.clone(),
                        repair: false,
                        by: None,
                    },
                    Op::Flush,
                    Op::Finish,
                ];
                // The call and the guard it sends are one writer: a retried call
                // resolves under the same token (`Vow::resolve`'s guard).
                let token = decide::resolve_token(&promise_id(p), "app");
                let mut prog = Prog::new(None, token, ops);
                prog.touched = self.app_touched;
                next.app = Some(prog);
                next.resolve = Call::Running;
                out.push((Action::StartResolve(p), next));
            }
            if self.revive != Call::Running && self.died {
                let mut next = self.clone();
                let mut prog = Prog::new(None, "app".into(), vec![Op::Revive, Op::Finish]);
                prog.touched = self.app_touched;
                next.app = Some(prog);
                next.revive = Call::Running;
                out.push((Action::StartRevive, next));
            }
        }
        // Time passes: a lease whose holder is gone (it finished, or crashed)
        // grows older than `LEASE`. Only where it matters: the holder's tick
        // did not fire (`fired_by`).
        for (g, lease) in &self.leases {
            if !lease.old && !self.holder_live(&lease.holder) && !self.fired(lease.tick) {
                let mut next = self.clone();
                if let Some(l) = next.leases.get_mut(g) {
                    l.old = true;
                }
                out.push((Action::Age(*g), next));
            }
        }
        // Time passes: a repair claim whose holder is gone grows older than
        // `FIRING_GRACE`. Only where it matters: the firing is unnoted.
        for (target, claim) in &self.claims {
            if !claim.old && !self.claim_live(claim.holder) && !self.noted(*target) {
                let mut next = self.clone();
                if let Some(c) = next.claims.get_mut(target) {
                    c.old = true;
                }
                out.push((Action::Grace(*target), next));
            }
        }
        out
    }

    /// Whether the handling holding repair claim `holder` still runs.
    fn claim_live(&self, holder: u8) -> bool {
        self.workers
            .iter()
            .chain(std::iter::once(&self.dead_letters))
            .flatten()
            .any(|p| p.claim == Some(holder))
    }

    /// Whether the firing of the timer promise `target` is noted delivered.
    fn noted(&self, target: Tgt) -> bool {
        let (rec, _) = cell(target);
        self.store.get(&rec).is_some_and(|r| r.delivered.is_some())
    }

    /// Whether what `prog` sends is touched by a fault (property `once`):
    /// what a timer's handling delivers, only if a fault stopped a handling
    /// while it delivered the same firing ([`State::explained`]), or if it
    /// took that explanation for its repair ([`Prog::excused`]); a fault
    /// that struck a handling before it delivered anything of the firing (a
    /// crash of an earlier hop's handling, of a copy's before its look), a
    /// duplicate, a redrive or a copy sent by a touched message explains
    /// nothing there. Anything else's, if its message was touched.
    fn sends_touched(&self, prog: &Prog) -> bool {
        match &prog.held {
            Some(m) if timer(m) => self.explained.contains(&m.target) || prog.excused,
            _ => prog.touched,
        }
    }

    /// `prog` delivers the firing of the timer promise `target`: until its
    /// note, a fault that stops it explains a re-run of what the firing
    /// delivers, and so does a stall it suffered before it began.
    fn begin_firing(&mut self, prog: &mut Prog, target: Tgt) {
        prog.firing = Some(target);
        if prog.stalled {
            self.explained.insert(target);
        }
    }

    /// Whether the run holding `holder` is still running.
    fn holder_live(&self, holder: &str) -> bool {
        self.workers
            .iter()
            .flatten()
            .any(|p| p.holder.as_deref() == Some(holder))
    }

    /// Whether tick `tick` sent its firing's job (`fired_by`): its slot
    /// settled with `fired`, or its record has the note `sent` (which no
    /// other writer of the slot can hide).
    fn fired(&self, tick: Pid) -> bool {
        let sent = self.store.get(&Rec::Plain(tick)).is_some_and(|r| r.sent);
        matches!(self.slot_of(Tgt::P(tick)), Some(Out::Ticked(true)))
            || (sent && self.variant != Some(Variant::IgnoresSentNote))
    }

    /// What a start-up's revive reads of the firing ([`proposal::Firing`]).
    fn firing(&self) -> proposal::Firing {
        let newest = self.leases.values().next_back();
        proposal::firing(
            newest.is_some(),
            self.leases.values().any(|l| self.fired(l.tick)),
            newest.is_some_and(|l| l.old),
        )
    }

    /// The promise the application may resolve now, and the continuations
    /// its resolver carries: the deferred task's, once it handed its resolver
    /// out; a callback's, whose continuations are stored with it, at any time.
    fn resolvable(&self) -> Option<(Pid, Vec<Cont>)> {
        match self.scenario {
            Scenario::Callback => Some((80, Vec::new())),
            Scenario::Approval => Some((100, Vec::new())),
            _ => self.resolver.clone().map(|conts| (30, conts)),
        }
    }

    /// Every fault that can strike now, within `budget`.
    pub fn faults(&self, budget: Budget) -> Vec<(Action, State)> {
        let mut out = Vec::new();
        if self.faults_injected() >= budget.total {
            return out;
        }
        if self.crashes < budget.crashes {
            for actor in self.busy() {
                let mut next = self.clone();
                next.crashes += 1;
                next.crash(actor);
                out.push((Action::Crash(actor), next));
            }
        }
        if self.expiries < budget.expiries {
            for w in 0..WORKERS {
                let Some(id) = self.workers[w].as_ref().and_then(|p| p.msg) else {
                    continue;
                };
                if self.queue.get(&id).is_some_and(|m| m.at == Place::Held) {
                    let mut next = self.clone();
                    next.expiries += 1;
                    if let Some(m) = next.queue.get_mut(&id) {
                        m.at = Place::Visible;
                        m.touched = true;
                    }
                    let held_timer = |p: &&mut Prog| p.held.as_ref().is_some_and(timer);
                    if let Some(p) = next.workers[w].as_mut().filter(held_timer) {
                        // The handling stalled past its visibility: what it
                        // repairs from now on is explained too.
                        p.stalled = true;
                        if let Some(firing) = p.firing {
                            next.explained.insert(firing);
                        }
                    }
                    out.push((Action::Expire(Actor::Worker(w), id), next));
                }
            }
        }
        if self.expiries < budget.expiries {
            // A holder that takes longer than its lease from its claim to its
            // settle (a stall, like a visibility timeout): a takeover is then
            // explained by it.
            for (g, lease) in &self.leases {
                if !lease.old && self.holder_live(&lease.holder) {
                    let mut next = self.clone();
                    next.expiries += 1;
                    if let Some(l) = next.leases.get_mut(g) {
                        l.old = true;
                        l.explained = true;
                    }
                    out.push((Action::Stall(*g), next));
                }
            }
            // A handling still under way `FIRING_GRACE` after a timer copy
            // that found its firing unnoted looked again (a stall, like a
            // visibility timeout): the look-again copy may come while it
            // runs. If it was delivering a firing, that firing's re-runs are
            // explained by it.
            for actor in self.busy() {
                let Some(prog) = self.prog_of(actor) else {
                    continue;
                };
                let young = |c: &RepairClaim| !c.old && Some(c.holder) == prog.claim;
                let claims = self.claims.values().any(young);
                if prog.blocks.is_empty() && !claims {
                    continue;
                }
                let mut next = self.clone();
                next.expiries += 1;
                let blocks = prog.blocks.clone();
                next.release(&blocks);
                if let Some(p) = next.prog(actor).as_mut() {
                    p.blocks.clear();
                    p.stalled = true;
                }
                for c in next.claims.values_mut() {
                    if young(c) {
                        c.old = true;
                    }
                }
                if let Some(firing) = prog.firing {
                    next.explained.insert(firing);
                }
                out.push((Action::Slow(actor), next));
            }
        }
        if self.duplicates < budget.duplicates {
            for (id, m) in &self.queue {
                if m.at == Place::Visible {
                    let mut next = self.clone();
                    next.duplicates += 1;
                    // SQS delivers the same message (its id too) twice.
                    let mut copy = m.clone();
                    copy.receives = 0;
                    copy.touched = true;
                    if let Some(m) = next.queue.get_mut(id) {
                        m.touched = true;
                    }
                    let dup = next.enqueue(copy);
                    if m.waits > 0 {
                        // A copy of a look-again copy comes no earlier: the
                        // same handlings hold it back.
                        for actor in next.busy() {
                            if let Some(p) = next.prog(actor).as_mut() {
                                if p.blocks.contains(id) {
                                    p.blocks.push(dup);
                                }
                            }
                        }
                    }
                    out.push((Action::Duplicate(*id), next));
                }
            }
        }
        if self.redrives < budget.redrives {
            let burying = self.dead_letters.as_ref().and_then(|p| p.msg);
            for (id, m) in &self.queue {
                if m.at == Place::Dead && burying != Some(*id) {
                    // `vow dlq redrive`: the dead letter is sent to the work
                    // queue again, as a new message with a new id.
                    let mut next = self.clone();
                    next.redrives += 1;
                    let mut again = m.clone();
                    next.queue.remove(id);
                    again.receives = 0;
                    again.at = Place::Visible;
                    again.touched = true;
                    next.number(&mut again);
                    next.enqueue(again);
                    out.push((Action::Redrive(*id), next));
                }
            }
        }
        out
    }

    /// How many faults struck so far.
    fn faults_injected(&self) -> u8 {
        self.crashes + self.duplicates + self.expiries + self.redrives
    }

    /// Give a new timer message its queue message id.
    fn number(&mut self, m: &mut Msg) {
        if matches!(m.task, Task::Timer { .. }) {
            self.sqs = self.sqs.wrapping_add(1);
            m.sqs = self.sqs;
        }
    }

    fn prog_of(&self, actor: Actor) -> Option<&Prog> {
        match actor {
            Actor::Worker(w) => self.workers[w].as_ref(),
            Actor::DeadLetters => self.dead_letters.as_ref(),
            Actor::App => self.app.as_ref(),
        }
    }

    fn crash(&mut self, actor: Actor) {
        let Some(prog) = self.prog(actor).take() else {
            return;
        };
        self.release(&prog.blocks);
        if let Some(firing) = prog.firing {
            // It died while it delivered a timer's firing, before its note:
            // whoever delivers the firing again repairs what it left.
            self.explained.insert(firing);
        }
        if let Some(holder) = &prog.holder {
            // The holder of a lease died before its tick settled: a takeover
            // is explained by this crash.
            for lease in self.leases.values_mut() {
                if lease.holder == *holder {
                    lease.explained = true;
                }
            }
        }
        match actor {
            Actor::Worker(_) => {
                if let Some(m) = prog.msg.and_then(|id| self.queue.get_mut(&id)) {
                    if m.at == Place::Held {
                        m.at = Place::Visible;
                        m.touched = true;
                    }
                }
            }
            // The dead letter stays in its queue; the application retries.
            Actor::DeadLetters => {}
            Actor::App => {
                self.app_touched = true;
                if self.cancel == Call::Running {
                    self.cancel = Call::Idle;
                }
                if self.resolve == Call::Running {
                    self.resolve = Call::Idle;
                }
                if self.revive == Call::Running {
                    self.revive = Call::Idle;
                }
            }
        }
    }

    fn receive(&mut self, w: usize, id: u16) -> String {
        let limit = self.limit;
        let Some(m) = self.queue.get_mut(&id) else {
            return "gone".into();
        };
        m.receives += 1;
        if m.receives > limit {
            m.at = Place::Dead;
            return format!("{:?}: over the receive limit, dead-lettered", m.target);
        }
        m.at = Place::Held;
        let timer = matches!(m.task, Task::Timer { .. });
        let first = if decide::checks_first(m.repair, m.receives > 1, timer, false) {
            Op::Check
        } else {
            Op::Run
        };
        let what = format!(
            "{:?} token {} receive {}{}",
            m.target,
            m.token,
            m.receives,
            if m.repair { " (repair)" } else { "" }
        );
        let mut prog = Prog::new(Some(id), m.token.clone(), vec![first]);
        prog.receipt = m.receives;
        prog.touched = m.touched;
        prog.held = Some(m.clone());
        self.workers[w] = Some(prog);
        what
    }

    /// Carry out `actor`'s next call (and the decisions before it).
    fn step(&mut self, actor: Actor) -> String {
        let Some(mut prog) = self.prog(actor).take() else {
            return "idle".into();
        };
        let mut said = Vec::new();
        while let Some(op) = prog.ops.pop_front() {
            let call = self.apply(&mut prog, op, &mut said);
            if call {
                prog.calls += 1;
                break;
            }
        }
        if prog.calls > MAX_CALLS {
            self.broken = Some(format!("bounded: {actor:?} made over {MAX_CALLS} calls"));
        }
        if prog.ops.is_empty() {
            self.release(&prog.blocks);
        } else {
            *self.prog(actor) = Some(prog);
        }
        said.join("; ")
    }

    /// Apply one operation; returns whether it was a call to the store or queue.
    fn apply(&mut self, prog: &mut Prog, op: Op, said: &mut Vec<String>) -> bool {
        match op {
            Op::Check => {
                let Some(m) = prog.held.clone() else {
                    return false;
                };
                let (rec, slot) = cell(m.target);
                let record = self.store.get(&rec).cloned().unwrap_or_default();
                match record.slots.get(&slot) {
                    None => {
                        said.push(format!("reads {:?}: pending, runs", m.target));
                        prog.ops.push_front(Op::Run);
                    }
                    Some((by, out)) if timer(&m) && self.notes_timers() => {
                        // `deliver.rs` `arrive` for a timer: what
                        // `decide::timer_copy` says.
                        let writer = decide::writer(Some(by), &m.token);
                        let delivered = record.delivered.as_deref() == Some(m.token.as_str());
                        let copy = decide::timer_copy(writer, delivered, m.repair);
                        said.push(format!(
                            "reads {:?}: settled by {by}{}: {copy:?}",
                            m.target,
                            if delivered { ", noted delivered" } else { "" }
                        ));
                        let ops = match copy {
                            TimerCopy::Nothing => vec![Op::Delete],
                            TimerCopy::LookAgain => vec![Op::LookAgain, Op::Delete],
                            TimerCopy::Repair
                                if self.variant != Some(Variant::RepairsWithoutClaim) =>
                            {
                                vec![Op::ClaimRepair]
                            }
                            TimerCopy::Deliver | TimerCopy::Repair => {
                                if copy == TimerCopy::Repair {
                                    // The variant: it repairs at once, with
                                    // what explanation a fault left.
                                    prog.excused = self.explained.remove(&m.target);
                                }
                                self.begin_firing(prog, m.target);
                                let owed = decide::owed(writer, m.repair);
                                let firing = decide::firing_token(Some(by), &m.token).to_owned();
                                let count = record.slots.len() as u32;
                                let mut ops = self.deliver(
                                    prog,
                                    &firing,
                                    owed,
                                    m.target,
                                    m.conts,
                                    record.later,
                                    out.clone(),
                                    count,
                                );
                                // Its successors are sent, never run inline,
                                // and only then noted.
                                ops.extend([Op::Flush, Op::Delivered(m.target), Op::Delete]);
                                ops
                            }
                        };
                        push_front(prog, ops);
                    }
                    Some((by, out)) => {
                        let writer = decide::writer(Some(by), &m.token);
                        let owed = decide::owed(writer, m.repair);
                        said.push(format!(
                            "reads {:?}: settled by {by}, owes {owed:?}",
                            m.target
                        ));
                        if timer(&m) {
                            // The engine before 69556c0: a timer copy
                            // delivers its own firing at once, unnoted.
                            self.begin_firing(prog, m.target);
                        }
                        let count = record.slots.len() as u32;
                        let mut ops = self.deliver(
                            prog,
                            &m.token,
                            owed,
                            m.target,
                            m.conts,
                            record.later,
                            out.clone(),
                            count,
                        );
                        ops.extend([Op::Flush, Op::Delete]);
                        push_front(prog, ops);
                    }
                }
                true
            }
            Op::Run => {
                let Some(m) = prog.held.clone() else {
                    return false;
                };
                if let Some((from, out)) = &m.input {
                    let value = self.read(out);
                    self.seen.entry(*from).or_default().insert(value);
                }
                if m.task.user_code() {
                    let runs = self
                        .started
                        .entry((m.task.counted_as(m.target), m.task.attempt()))
                        .or_default();
                    runs.0 += u8::from(!prog.touched);
                    runs.1 += 1;
                }
                let mut run = |tag: u8| {
                    let n = self.runs.entry(tag).or_default();
                    *n += 1;
                    *n
                };
                let settle = |out: Out| Op::Settle {
                    target: m.target,
                    out,
                    carried: m.conts.clone(),
                    repair: false,
                    by: None,
                };
                let ops = match &m.task {
                    Task::Value(tag) => {
                        let v = Out::Val(*tag, run(*tag));
                        said.push(format!("runs {:?} -> {v:?}", m.target));
                        vec![settle(v), Op::Flush, Op::Delete]
                    }
                    Task::Large(tag) => {
                        let v = Out::Val(*tag, run(*tag));
                        let text = format!("{v:?}");
                        let key = blob_key(BlobKind::Value, &text);
                        said.push(format!("runs {:?} -> large {v:?}", m.target));
                        vec![
                            Op::PutBlob(key.clone(), v),
                            settle(Out::Stored(key)),
                            Op::Flush,
                            Op::Delete,
                        ]
                    }
                    Task::Adopt { slow, after } => {
                        said.push(format!(
                            "runs {:?}: adopts p{slow}.then(p{after})",
                            m.target
                        ));
                        prog.sends.push(Msg::new(
                            decide::task_token(&promise_id(*slow)),
                            Tgt::P(*slow),
                            Task::Value(*slow),
                            vec![Cont::Then {
                                id: *after,
                                task: Task::Value(*after),
                                conts: vec![Cont::Settle {
                                    target: m.target,
                                    conts: m.conts.clone(),
                                }],
                            }],
                        ));
                        let Tgt::P(me) = m.target else {
                            return false;
                        };
                        vec![Op::Note(me, vec![*slow, *after]), Op::Flush, Op::Delete]
                    }
                    Task::Defer => {
                        said.push(format!("runs {:?}: deferred", m.target));
                        self.resolver = Some(m.conts.clone());
                        vec![Op::Delete]
                    }
                    Task::DeferTo { resolver } => {
                        let Tgt::P(me) = m.target else {
                            return false;
                        };
                        said.push(format!("runs {:?}: deferred to p{resolver}", m.target));
                        prog.sends.push(Msg::new(
                            decide::task_token(&promise_id(*resolver)),
                            Tgt::P(*resolver),
                            Task::Resolve {
                                target: me,
                                conts: m.conts.clone(),
                            },
                            vec![],
                        ));
                        vec![Op::Note(me, vec![*resolver]), Op::Flush, Op::Delete]
                    }
                    Task::Resolve { target, conts } => {
                        // What `Envelope::resolve` sends.
                        let v = Out::Val(*target, run(*target));
                        said.push(format!(
                            "runs {:?}: resolves p{target} with {v:?}",
                            m.target
                        ));
                        prog.sends.push(Msg::new(
                            decide::resolve_token(&promise_id(*target), &m.token),
                            Tgt::P(*target),
                            Task::Resolution(v),
                            conts.clone(),
                        ));
                        vec![Op::Flush, settle(Out::App), Op::Flush, Op::Delete]
                    }
                    Task::Flaky { attempt } => {
                        let n = run(70);
                        if n > 1 {
                            let v = Out::Val(70, n);
                            said.push(format!("runs {:?} -> {v:?}", m.target));
                            vec![settle(v), Op::Flush, Op::Delete]
                        } else if *attempt < 2 {
                            said.push(format!("runs {:?}: fails, retries", m.target));
                            // The engine's retry: the same token, the next attempt.
                            let mut retry = m.clone();
                            retry.task = Task::Flaky {
                                attempt: attempt + 1,
                            };
                            retry.receives = 0;
                            retry.at = Place::Visible;
                            prog.sends.push(retry);
                            vec![Op::Flush, Op::Delete]
                        } else {
                            said.push(format!("runs {:?}: fails, gives up", m.target));
                            vec![settle(Out::Crashed), Op::Flush, Op::Delete]
                        }
                    }
                    Task::Resolution(v) => {
                        said.push(format!("settles the resolve of {:?}", m.target));
                        vec![settle(v.clone()), Op::Flush, Op::Delete]
                    }
                    Task::Timer { out, hops } => match timer_wake(*hops) {
                        decide::Wake::Now if self.notes_timers() => {
                            said.push(format!("timer of {:?} fires", m.target));
                            vec![Op::Fire]
                        }
                        decide::Wake::Now => {
                            said.push(format!("timer of {:?} fires", m.target));
                            vec![settle(out.clone()), Op::Flush, Op::Delete]
                        }
                        _ => {
                            said.push(format!("timer of {:?} is early", m.target));
                            hop_on(&m)
                        }
                    },
                    Task::Job(firing) => {
                        let v = Out::Val(*firing, run(*firing));
                        said.push(format!("runs job {:?} -> {v:?}", m.target));
                        vec![settle(v), Op::Flush, Op::Delete]
                    }
                    Task::Tick { .. } => {
                        said.push(format!("runs tick {:?}", m.target));
                        vec![Op::Lease { gen: 0 }]
                    }
                    Task::TickOld { job } => {
                        let Tgt::P(me) = m.target else {
                            return false;
                        };
                        let v = Out::Val(me, run(me));
                        said.push(format!("runs tick {:?}: claims its firing", m.target));
                        // What the claim's holder sends: the job, a child of
                        // the tick (its first message's token derives from its id).
                        let mut send = Msg::new(
                            decide::task_token(&promise_id(*job)),
                            Tgt::P(*job),
                            Task::Value(*job),
                            vec![],
                        );
                        send.fence = true;
                        let claim = Op::Claim {
                            rec: Rec::Firing(*job),
                            claimant: proposal::firing_claimant(&promise_id(me)),
                            held: vec![
                                Op::Send(Box::new(send)),
                                Op::Flush,
                                settle(v.clone()),
                                Op::Flush,
                                Op::Delete,
                            ],
                            lost: vec![settle(v), Op::Flush, Op::Delete],
                        };
                        vec![claim]
                    }
                };
                push_front(prog, ops);
                false
            }
            Op::Fire => {
                // `fire_timer`: settle the promise under the timer's token,
                // deliver what that owes, send it, then note it.
                let Some(m) = prog.held.clone() else {
                    return false;
                };
                let Task::Timer { out, .. } = &m.task else {
                    return false;
                };
                let token = prog.token.clone();
                let (rec, slot) = cell(m.target);
                let record = self.store.entry(rec).or_default();
                let (by, found) = match record.slots.get(&slot) {
                    None => {
                        record.slots.insert(slot, (token.clone(), out.clone()));
                        (None, out.clone())
                    }
                    Some((by, found)) => (Some(by.clone()), found.clone()),
                };
                let count = record.slots.len() as u32;
                let later = record.later.clone();
                let writer = decide::writer(by.as_deref(), &token);
                if writer == Writer::This {
                    // Lost to a copy of itself (`found_firing`): it delivers
                    // nothing, and reads the now-written slot again as
                    // `arrive` does (`fire_timer`).
                    said.push(format!(
                        "settles {:?} with {found:?}: This, its firing is written: reads it again",
                        m.target
                    ));
                    push_front(prog, vec![Op::Check]);
                    return true;
                }
                let owed = decide::owed(writer, m.repair);
                said.push(format!("settles {:?} with {found:?}: {writer:?}", m.target));
                self.begin_firing(prog, m.target);
                let firing = decide::firing_token(by.as_deref(), &token).to_owned();
                let mut ops =
                    self.deliver(prog, &firing, owed, m.target, m.conts, later, found, count);
                ops.extend([Op::Flush, Op::Delivered(m.target), Op::Delete]);
                push_front(prog, ops);
                true
            }
            Op::LookAgain => {
                let Some(m) = prog.held.clone() else {
                    return false;
                };
                let mut again = next_hop(&m);
                again.repair = true;
                again.touched |= prog.touched;
                self.number(&mut again);
                let id = self.enqueue(again);
                if self.variant != Some(Variant::LooksAgainAtOnce) {
                    // 60 s later: after every handling under way now ends,
                    // this one too (or a fault stalls it past the grace).
                    let mut waits = 1;
                    prog.blocks.push(id);
                    for actor in self.busy() {
                        if let Some(p) = self.prog(actor).as_mut() {
                            p.blocks.push(id);
                            waits += 1;
                        }
                    }
                    if let Some(m) = self.queue.get_mut(&id) {
                        m.waits = waits;
                    }
                }
                said.push(format!(
                    "sends message {id}: itself again as a repair, after FIRING_GRACE"
                ));
                true
            }
            Op::ClaimRepair => {
                let Some(m) = prog.held.clone() else {
                    return false;
                };
                let free = self.claims.get(&m.target).is_none_or(|c| c.old);
                if !free {
                    said.push(format!(
                        "claims the repair of {:?}'s firing: lost, looks again",
                        m.target
                    ));
                    push_front(prog, vec![Op::LookAgain, Op::Delete]);
                    return true;
                }
                self.claimants += 1;
                let holder = self.claimants;
                self.claims
                    .insert(m.target, RepairClaim { holder, old: false });
                prog.claim = Some(holder);
                said.push(format!(
                    "claims the repair of {:?}'s firing as r{holder}: held",
                    m.target
                ));
                if self.variant != Some(Variant::NoRereadAfterClaim) {
                    push_front(prog, vec![Op::Recheck]);
                    return true;
                }
                push_front(prog, vec![Op::Repair]);
                true
            }
            Op::Recheck => {
                let Some(m) = prog.held.clone() else {
                    return false;
                };
                let (rec, _) = cell(m.target);
                let noted = self.store.get(&rec).and_then(|r| r.delivered.as_deref())
                    == Some(m.token.as_str());
                said.push(format!(
                    "reads {:?} again: {}",
                    m.target,
                    if noted {
                        "noted delivered, nothing to do"
                    } else {
                        "unnoted, repairs it"
                    }
                ));
                push_front(prog, vec![if noted { Op::Delete } else { Op::Repair }]);
                true
            }
            Op::Repair => {
                let Some(m) = prog.held.clone() else {
                    return false;
                };
                // It repairs its own firing, with the explanation a fault
                // left: one fault explains one repair.
                prog.excused = self.explained.remove(&m.target);
                self.begin_firing(prog, m.target);
                let (rec, slot) = cell(m.target);
                let record = self.store.get(&rec).cloned().unwrap_or_default();
                let Some((by, out)) = record.slots.get(&slot).cloned() else {
                    return true;
                };
                let writer = decide::writer(Some(&by), &m.token);
                let owed = decide::owed(writer, m.repair);
                let firing = decide::firing_token(Some(&by), &m.token).to_owned();
                let count = record.slots.len() as u32;
                let mut ops = self.deliver(
                    prog,
                    &firing,
                    owed,
                    m.target,
                    m.conts,
                    record.later,
                    out,
                    count,
                );
                ops.extend([Op::Flush, Op::Delivered(m.target), Op::Delete]);
                push_front(prog, ops);
                false
            }
            Op::Delivered(target) => {
                let (rec, _) = cell(target);
                self.store.entry(rec).or_default().delivered = Some(prog.token.clone());
                prog.firing = None;
                said.push(format!("notes {target:?} delivered by {}", prog.token));
                true
            }
            Op::PutBlob(key, value) => {
                said.push(format!("puts blob {}", &key[..16.min(key.len())]));
                self.blobs.insert(key, value);
                true
            }
            Op::Settle {
                target,
                out,
                carried,
                repair,
                by: as_token,
            } => {
                let token = as_token.unwrap_or_else(|| prog.token.clone());
                let (rec, slot) = cell(target);
                let record = self.store.entry(rec).or_default();
                let (by, found) = match record.slots.get(&slot) {
                    None => {
                        record.slots.insert(slot, (token.clone(), out.clone()));
                        (None, out)
                    }
                    Some((by, found)) => (Some(by.clone()), found.clone()),
                };
                let count = record.slots.len() as u32;
                let later = record.later.clone();
                let writer = decide::writer(by.as_deref(), &token);
                let owed = decide::owed(writer, repair);
                said.push(format!("settles {target:?} with {found:?}: {writer:?}"));
                if prog
                    .held
                    .as_ref()
                    .is_some_and(|m| timer(m) && m.target == target && m.token == token)
                {
                    // A timer's own settle (the engine before 69556c0, and
                    // the dead-letter settle then).
                    self.begin_firing(prog, target);
                }
                let firing = decide::firing_token(by.as_deref(), &token).to_owned();
                let ops = self.deliver(prog, &firing, owed, target, carried, later, found, count);
                push_front(prog, ops);
                true
            }
            Op::Climb {
                join,
                n,
                level,
                index,
                count,
                repair,
            } => match decide::climb_with(FAN, u32::from(n), level, index, count) {
                Climb::Wait => false,
                Climb::Complete => {
                    prog.ops.push_front(Op::Settle {
                        target: Tgt::P(join),
                        out: Out::Joined(join, n),
                        carried: vec![],
                        repair,
                        by: Some(decide::join_token(&promise_id(join))),
                    });
                    false
                }
                Climb::Mark { level, shard, slot } => {
                    let token = decide::join_token(&promise_id(join));
                    let record = self
                        .store
                        .entry(Rec::Shard(join, level, shard))
                        .or_default();
                    let mine = match record.slots.get(&slot) {
                        None => {
                            record.slots.insert(slot, (token.clone(), Out::App));
                            true
                        }
                        Some((by, _)) => decide::writer(Some(by), &token) != decide::Writer::Other,
                    };
                    said.push(format!("marks level {level} shard {shard} slot {slot}"));
                    if mine {
                        let count = record.slots.len() as u32;
                        prog.ops.push_front(Op::Climb {
                            join,
                            n,
                            level,
                            index: shard * FAN + slot,
                            count,
                            repair,
                        });
                    }
                    true
                }
            },
            Op::Note(p, kids) => {
                self.store.entry(Rec::Plain(p)).or_default().kids = kids;
                said.push(format!("notes children of p{p}"));
                true
            }
            Op::Sent(p) => {
                self.store.entry(Rec::Plain(p)).or_default().sent = true;
                said.push(format!("notes `sent` on p{p}"));
                true
            }
            Op::Flush => {
                if prog.sends.is_empty() {
                    return false;
                }
                said.push(format!("sends {} message(s)", prog.sends.len()));
                let touched = self.sends_touched(prog);
                for mut m in std::mem::take(&mut prog.sends) {
                    if !m.fence {
                        m.touched |= touched;
                    }
                    self.number(&mut m);
                    self.enqueue(m);
                }
                true
            }
            Op::Send(m) => {
                prog.sends.push(*m);
                false
            }
            Op::Claim {
                rec,
                claimant,
                held,
                lost,
            } => {
                let record = self.store.entry(rec.clone()).or_default();
                let by = record.slots.get(&0).map(|(by, _)| by.clone());
                if by.is_none() {
                    record.slots.insert(0, (claimant.clone(), Out::App));
                }
                let holds = proposal::holds(by.as_deref(), &claimant);
                said.push(format!(
                    "claims {rec:?} as {claimant}: {}",
                    if holds { "held" } else { "lost, ends" }
                ));
                push_front(prog, if holds { held } else { lost });
                true
            }
            Op::Lease { gen } => {
                let Some(m) = prog.held.clone() else {
                    return false;
                };
                let (Tgt::P(me), Task::Tick { job, .. }) = (m.target, &m.task) else {
                    return false;
                };
                if let Some(lease) = self.leases.get(&gen) {
                    said.push(format!(
                        "claims lease {gen} of the firing: held by {} of p{}",
                        lease.holder, lease.tick
                    ));
                    prog.ops.push_front(Op::ReadHolder { gen });
                    return true;
                }
                self.holders += 1;
                let holder = format!("h{}", self.holders);
                // A takeover sends what the dead holder may have sent: a fault
                // explains it only if one stopped that holder.
                let explained = gen
                    .checked_sub(1)
                    .and_then(|g| self.leases.get(&g))
                    .is_some_and(|l| l.explained);
                self.leases.insert(
                    gen,
                    Lease {
                        holder: holder.clone(),
                        tick: me,
                        old: false,
                        explained: false,
                    },
                );
                prog.holder = Some(holder.clone());
                said.push(format!(
                    "claims lease {gen} of the firing as {holder}: held, sends the job p{job}"
                ));
                // The job: a child of this tick (its first message's token
                // derives from its id). What the holder sends is sent once,
                // whatever touched the tick: it starts untouched (property
                // `once`), unless a fault explains the takeover.
                let mut send = Msg::new(
                    decide::task_token(&promise_id(*job)),
                    Tgt::P(*job),
                    Task::Job(FIRING),
                    vec![],
                );
                if explained {
                    send.touched = true;
                } else {
                    send.fence = true;
                }
                // The engine sends the plan, notes `sent` on the tick, then
                // settles the tick (`fired`).
                push_front(
                    prog,
                    vec![
                        Op::Send(Box::new(send)),
                        Op::Flush,
                        Op::Sent(me),
                        tick_settle(&m, true),
                        Op::Flush,
                        Op::Delete,
                    ],
                );
                true
            }
            Op::ReadHolder { gen } => {
                let Some(m) = prog.held.clone() else {
                    return false;
                };
                let Some(lease) = self.leases.get(&gen).cloned() else {
                    return false;
                };
                let fired = self.fired(lease.tick);
                let lost = proposal::lost(fired, lease.old);
                said.push(format!("reads p{}: {lost:?}", lease.tick));
                let ops = match lost {
                    proposal::Lost::Done => {
                        vec![tick_settle(&m, false), Op::Flush, Op::Delete]
                    }
                    proposal::Lost::Young => tick_fails(&m),
                    proposal::Lost::TakeOver if gen < MAX_GEN => vec![Op::Lease { gen: gen + 1 }],
                    // Taken over too often: the firing is skipped.
                    proposal::Lost::TakeOver => {
                        vec![tick_settle(&m, false), Op::Flush, Op::Delete]
                    }
                };
                push_front(prog, ops);
                true
            }
            Op::Revive => {
                // `Vow::schedule` on a name that is scheduled: classify the
                // latest firing due (the model's one firing) and revive the
                // chain at it if it is unclaimed or stalled, under a named
                // start (one tick p114, however many start-ups revive).
                let firing = self.firing();
                let at = match (self.variant, firing) {
                    // As before the fix: a claimed firing is left alone.
                    (Some(Variant::RevivesUnclaimedOnly), _) => {
                        (firing == proposal::Firing::Unclaimed).then_some(0)
                    }
                    (Some(Variant::LeavesLiveAlone), proposal::Firing::Live) => None,
                    _ => proposal::revive_at(&[firing]),
                };
                // This start-up looked after the chain died (a crash before
                // this read leaves the call to be retried).
                self.died = false;
                said.push(format!(
                    "reads the firing's leases: {firing:?}, {}",
                    match (at, self.variant) {
                        (Some(_), _) if self.revived => {
                            "revives the chain at it: its named start is taken, nothing starts"
                        }
                        (Some(_), _) => "revives the chain at it",
                        (None, Some(Variant::RevivesUnclaimedOnly)) => "claimed, nothing to do",
                        (None, _) => "nothing to do",
                    }
                ));
                if at.is_some() && !self.revived {
                    self.revived = true;
                    let mut tick = Msg::new(
                        decide::task_token(&promise_id(REVIVED)),
                        Tgt::P(REVIVED),
                        Task::Tick {
                            job: REVIVED + 1,
                            attempt: 1,
                            pauses: 0,
                        },
                        vec![],
                    );
                    tick.touched = prog.touched;
                    self.enqueue(tick);
                }
                true
            }
            Op::Delete => {
                if let Some(id) = prog.msg {
                    // A receipt deletes the message it was given for, even after
                    // the message was received again (SQS may honour an old
                    // receipt), but not once it moved to the dead-letter queue:
                    // that copy is the dead-letter worker's to delete.
                    let same = self.queue.get(&id).is_some_and(|m| {
                        m.token == prog.token
                            && m.receives >= prog.receipt
                            && (m.at == Place::Dead) == prog.dead
                    });
                    if same {
                        self.queue.remove(&id);
                    }
                }
                said.push("deletes its message".into());
                true
            }
            Op::CancelNext => {
                let Some(p) = prog.walk.pop_front() else {
                    return false;
                };
                if !prog.walked.insert(p) {
                    prog.ops.push_front(Op::CancelNext);
                    return false;
                }
                let record = self.store.get(&Rec::Plain(p)).cloned().unwrap_or_default();
                prog.walk.extend(record.kids.iter().copied());
                let mut ops = Vec::new();
                match record.slots.get(&0) {
                    None => ops.extend([
                        Op::Settle {
                            target: Tgt::P(p),
                            out: Out::Cancelled,
                            carried: vec![],
                            repair: false,
                            by: None,
                        },
                        Op::Flush,
                    ]),
                    Some((by, out)) if *by == prog.token => {
                        let owed = decide::Owed {
                            carried: false,
                            stored: true,
                            climb: false,
                            repair: true,
                        };
                        let token = prog.token.clone();
                        ops.extend(self.deliver(
                            prog,
                            &token,
                            owed,
                            Tgt::P(p),
                            vec![],
                            record.later.clone(),
                            out.clone(),
                            1,
                        ));
                        ops.push(Op::Flush);
                    }
                    Some(_) => {}
                }
                said.push(format!("cancel reads p{p}"));
                ops.push(Op::CancelNext);
                push_front(prog, ops);
                true
            }
            Op::Finish => {
                if self.cancel == Call::Running {
                    self.cancel = Call::Done;
                }
                if self.resolve == Call::Running {
                    self.resolve = Call::Done;
                }
                if self.revive == Call::Running {
                    self.revive = Call::Done;
                }
                said.push("returns Ok".into());
                false
            }
        }
    }

    /// What the engine's `Step::deliver` does: buffer `then` successors, settle
    /// carried arrivals, climb. Returns the calls to make, in order.
    #[allow(clippy::too_many_arguments)]
    fn deliver(
        &mut self,
        prog: &mut Prog,
        token: &str,
        owed: decide::Owed,
        target: Tgt,
        carried: Vec<Cont>,
        stored: Vec<Cont>,
        out: Out,
        count: u32,
    ) -> Vec<Op> {
        let mut conts = Vec::new();
        if owed.carried {
            conts.extend(carried);
        }
        if owed.stored {
            conts.extend(stored);
        }
        let mut ops = Vec::new();
        for cont in conts {
            match cont {
                Cont::Then { id, task, conts } => prog.sends.push(Msg {
                    input: Some((target, out.clone())),
                    repair: owed.repair,
                    ..Msg::new(
                        decide::successor_token(token, &promise_id(id)),
                        Tgt::P(id),
                        task,
                        conts,
                    )
                }),
                Cont::Settle { target, conts } => ops.push(Op::Settle {
                    target,
                    out: out.clone(),
                    carried: conts,
                    repair: owed.repair,
                    by: Some(token.to_owned()),
                }),
            }
        }
        if let (true, Tgt::M { join, index, n }) = (owed.climb, target) {
            ops.push(Op::Climb {
                join,
                n,
                level: 0,
                index: u32::from(index),
                count,
                repair: owed.repair,
            });
        }
        ops
    }

    /// What a reader gets for an outcome: stored values and join members read
    /// from the store.
    fn read(&self, out: &Out) -> Vec<Out> {
        match out {
            Out::Stored(key) => vec![self.blobs.get(key).cloned().unwrap_or(Out::Missing)],
            Out::Joined(join, n) => (0..*n)
                .map(|i| {
                    let (rec, slot) = cell(Tgt::M {
                        join: *join,
                        index: i,
                        n: *n,
                    });
                    self.store
                        .get(&rec)
                        .and_then(|r| r.slots.get(&slot))
                        .map_or(Out::Missing, |(_, o)| self.read(o).remove(0))
                })
                .collect(),
            other => vec![other.clone()],
        }
    }

    fn slot_of(&self, target: Tgt) -> Option<&Out> {
        let (rec, slot) = cell(target);
        self.store.get(&rec)?.slots.get(&slot).map(|(_, o)| o)
    }

    /// The first property this state breaks, if any, leaving out `skip`;
    /// `terminal` says that nothing more happens without faults.
    pub fn violation(&self, terminal: bool, skip: &[&str]) -> Option<String> {
        let check = |property: &str| !skip.contains(&property);
        if let Some(why) = &self.broken {
            return Some(why.clone());
        }
        if check("once") {
            // Every task (every attempt of it) starts at most once from
            // messages no fault touched: with no fault injected, at most once.
            for ((who, attempt), (clean, all)) in &self.started {
                if *clean > 1 {
                    let why = if self.faults_injected() == 0 {
                        "with no fault injected".to_owned()
                    } else {
                        format!("{clean} of them from messages no fault touched")
                    };
                    return Some(format!(
                        "once: {who:?} (attempt {attempt}) ran {all} times, {why}"
                    ));
                }
            }
        }
        if !check("agreement") {
            return None;
        }
        for (who, values) in &self.seen {
            let mut all = values.clone();
            if let Some(out) = self.slot_of(*who) {
                all.insert(self.read(out));
            }
            if all.len() > 1 || all.iter().flatten().any(|o| *o == Out::Missing) {
                return Some(format!("agreement: {who:?} was read as {all:?}"));
            }
        }
        if !terminal || !check("liveness") {
            return None;
        }
        // Nothing more happens without faults: everything must be done. A
        // deferred promise waits for its resolver: if the resolving task ran
        // (rather than being dead-lettered), the promise and its successor end.
        let mut roots = self.scenario.roots();
        if self.scenario == Scenario::Resolver && self.runs.contains_key(&61) {
            roots.push(61);
        }
        if self.scenario == Scenario::Resolver
            && matches!(self.slot_of(Tgt::P(61)), Some(Out::Crashed))
            && self.slot_of(Tgt::P(60)).is_none()
        {
            // Its resolver died before resolving it: it waits, as it should.
            roots.retain(|r| *r == 61);
        }
        if self.scenario == Scenario::Schedule {
            // Every tick that ran settles, and the firing's job runs (whichever
            // tick sent it), unless the firing was taken over too often.
            roots.extend(self.started.keys().filter_map(|(t, _)| match t {
                Tgt::P(p) if *p != FIRING => Some(*p),
                _ => None,
            }));
            let jobs = [TICK + 1, TICK + 3, REVIVED + 1, REVIVED + 3];
            let abandoned = self.leases.len() > usize::from(MAX_GEN);
            if !abandoned && jobs.iter().all(|j| self.slot_of(Tgt::P(*j)).is_none()) {
                return Some(format!("liveness: the firing's job (p{FIRING}) never runs"));
            }
        }
        for root in roots {
            if self.slot_of(Tgt::P(root)).is_none() {
                return Some(format!("liveness: p{root} never settles"));
            }
        }
        if !self.queue.is_empty() {
            return Some(format!("drained: {} message(s) left", self.queue.len()));
        }
        None
    }
}

/// A tick settling its own promise (`Ticked`, `fired` or not).
fn tick_settle(m: &Msg, fired: bool) -> Op {
    Op::Settle {
        target: m.target,
        out: Out::Ticked(fired),
        carried: m.conts.clone(),
        repair: false,
        by: None,
    }
}

/// What `Tick::run` does when its tick fails retryably (the lease is young):
/// the engine retries it (the same token, the next attempt), or, at
/// `HAND_OVER_AT`, the tick hands its firing to a fresh tick (sent before the
/// tick settles with `fired: None`).
fn tick_fails(m: &Msg) -> Vec<Op> {
    let (
        Tgt::P(me),
        Task::Tick {
            attempt, pauses, ..
        },
    ) = (m.target, &m.task)
    else {
        return vec![];
    };
    let again = |target: Pid, attempt: u8, pauses: u8, token: String| Msg {
        touched: m.touched,
        ..Msg::new(
            token,
            Tgt::P(target),
            Task::Tick {
                job: target + 1,
                attempt,
                pauses,
            },
            vec![],
        )
    };
    if !proposal::hands_over(*attempt) {
        let retry = again(me, attempt + 1, *pauses, m.token.clone());
        return vec![Op::Send(Box::new(retry)), Op::Flush, Op::Delete];
    }
    match handed_to(me) {
        Some(fresh) => {
            let next = again(fresh, 1, pauses + 1, decide::task_token(&promise_id(fresh)));
            vec![
                Op::Send(Box::new(next)),
                Op::Flush,
                tick_settle(m, false),
                Op::Flush,
                Op::Delete,
            ]
        }
        None => {
            // The model's fresh tick stands for every later one: it hands
            // over to itself. Its next run is not a re-run of one attempt (in
            // the engine it is another promise), so `once` does not count it.
            let mut next = again(me, 1, *pauses, m.token.clone());
            next.touched = true;
            vec![Op::Send(Box::new(next)), Op::Flush, Op::Delete]
        }
    }
}

/// What the engine's `decide::wake` says of a timer `hops` trips from its time.
fn timer_wake(hops: u8) -> decide::Wake {
    let hop = std::time::Duration::from_millis(1);
    decide::wake(u64::from(hops), 0, hop, false)
}

/// What `timer.rs` `due` does with a timer before its time: send it on (or
/// index it: the model's hops stand for both) and only then delete it. No
/// claim is kept per hop, so a copy or a redrive of a timer is one more
/// message that reaches the same settle.
fn hop_on(m: &Msg) -> Vec<Op> {
    vec![Op::Send(Box::new(next_hop(m))), Op::Flush, Op::Delete]
}

/// A timer message sent on for its next hop: the same token, one hop closer.
fn next_hop(m: &Msg) -> Msg {
    let mut next = m.clone();
    if let Task::Timer { hops, .. } = &mut next.task {
        *hops = hops.saturating_sub(1);
    }
    next.receives = 0;
    next.at = Place::Visible;
    next.waits = 0;
    next
}

/// Whether `m` is a timer.
fn timer(m: &Msg) -> bool {
    matches!(m.task, Task::Timer { .. })
}

fn push_front(prog: &mut Prog, ops: Vec<Op>) {
    for op in ops.into_iter().rev() {
        prog.ops.push_front(op);
    }
}
