//! Which tasks a build can run: every `#[vow::task]` and `closure!` registers its
//! tag, and a worker names the task crates it serves with [`tasks!`](crate::tasks)
//! so that none is silently left out of the binary.

use std::collections::BTreeMap;
use std::fmt;

/// A registered task: its tag, its Rust type and the crate that defines it.
/// Collected from every `#[vow::task]` and `closure!`.
#[derive(Debug)]
pub struct Registration {
    /// The stable tag that travels in messages.
    pub tag: &'static str,
    /// The Rust type registered under it.
    pub type_name: &'static str,
    /// The crate that defines it (`CARGO_CRATE_NAME`).
    pub krate: &'static str,
}

inventory::collect!(Registration);

/// Every task registered in this build, sorted by tag.
///
/// ```
/// assert!(vow::registered_tasks().iter().all(|r| !r.tag.is_empty()));
/// ```
pub fn registered_tasks() -> Vec<&'static Registration> {
    let mut all: Vec<_> = inventory::iter::<Registration>.into_iter().collect();
    all.sort_by_key(|r| r.tag);
    all
}

/// The tasks one crate defines. A task crate declares its set once, at its root,
/// with [`vow::tasks!()`](crate::tasks); a worker names the set of every task
/// crate it serves, which links the crate into the binary (a crate nothing
/// refers to is left out, tags and all) and lets [`check_tasks`] refuse to start
/// a worker that lacks them.
///
/// ```
/// vow::tasks!(); // in a task crate's lib.rs: `pub fn tasks() -> vow::TaskSet`
///
/// # #[derive(serde::Serialize, serde::Deserialize)] struct Hello;
/// # #[vow::task("doc-registry-hello")]
/// # impl vow::Task for Hello {
/// #     type Input = ();
/// #     type Output = ();
/// #     async fn run(self, _: (), _: &vow::Cx) -> Result<vow::Resolution<()>, vow::Error> { vow::done(()) }
/// # }
/// let served = vow::check_tasks(&[tasks()])?;
/// assert!(served.iter().any(|r| r.tag == "doc-registry-hello"));
/// # Ok::<(), vow::RegistryError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TaskSet {
    krate: &'static str,
}

impl TaskSet {
    /// The set of the crate named `krate`; written by [`vow::tasks!`](crate::tasks).
    #[doc(hidden)]
    pub const fn of_crate(krate: &'static str) -> Self {
        TaskSet { krate }
    }

    /// The crate whose tasks these are.
    pub fn crate_name(&self) -> &'static str {
        self.krate
    }

    /// The tasks of this crate linked into this build, sorted by tag.
    pub fn tasks(&self) -> Vec<&'static Registration> {
        registered_tasks()
            .into_iter()
            .filter(|r| r.krate == self.krate)
            .collect()
    }
}

/// Declare this crate's [`TaskSet`]: expands to `pub fn tasks() -> vow::TaskSet`,
/// listing every task the crate defines with `#[vow::task]` or `closure!`.
/// Write it once at the crate root, and pass `your_crate::tasks()` to the worker.
#[macro_export]
macro_rules! tasks {
    () => {
        /// Every task this crate defines, for the worker that serves them.
        pub fn tasks() -> $crate::TaskSet {
            $crate::TaskSet::of_crate(env!("CARGO_CRATE_NAME"))
        }
    };
}

/// Why a worker must not start with the tasks it was given.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RegistryError {
    /// A set was given but none of its crate's tasks is in the binary.
    NothingLinked {
        /// The crate.
        krate: &'static str,
    },
    /// Two types claim one tag: a message with it could run either.
    DuplicateTag {
        /// The tag.
        tag: &'static str,
        /// The types that claim it, as `crate::Type`.
        types: Vec<String>,
    },
    /// No task set was given at all.
    NoSets,
}

impl fmt::Display for RegistryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RegistryError::NothingLinked { krate } => write!(
                f,
                "no task of crate `{krate}` is linked into this binary: does `{krate}` \
                 define its tasks with #[vow::task] or closure!, and declare them with vow::tasks!()?"
            ),
            RegistryError::DuplicateTag { tag, types } => write!(
                f,
                "task tag `{tag}` is registered by {}: a tag names one task type",
                types.join(" and ")
            ),
            RegistryError::NoSets => f.write_str(
                "no task sets given: pass each task crate's `tasks()` (declared with vow::tasks!())",
            ),
        }
    }
}

impl std::error::Error for RegistryError {}

/// Check that this build can serve `sets`: each set's crate has tasks linked in,
/// and no tag is claimed by two types. Returns every task of the given sets,
/// sorted by tag. Workers call it before serving their first message.
pub fn check_tasks(sets: &[TaskSet]) -> Result<Vec<&'static Registration>, RegistryError> {
    if sets.is_empty() {
        return Err(RegistryError::NoSets);
    }
    let all = registered_tasks();
    let mut by_tag: BTreeMap<&str, Vec<&Registration>> = BTreeMap::new();
    for r in &all {
        by_tag.entry(r.tag).or_default().push(r);
    }
    if let Some((tag, claims)) = by_tag.into_iter().find(|(_, v)| v.len() > 1) {
        return Err(RegistryError::DuplicateTag {
            tag,
            types: claims
                .iter()
                .map(|r| format!("{}::{}", r.krate, r.type_name))
                .collect(),
        });
    }
    let mut served = Vec::new();
    for set in sets {
        let tasks = set.tasks();
        if tasks.is_empty() {
            return Err(RegistryError::NothingLinked { krate: set.krate });
        }
        served.extend(tasks);
    }
    served.sort_by_key(|r| r.tag);
    served.dedup_by_key(|r| r.tag);
    Ok(served)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_set_whose_crate_has_no_tasks_in_the_binary_is_refused() {
        let err = check_tasks(&[TaskSet::of_crate("not_linked_anywhere")]).expect_err("refused");
        assert_eq!(
            err,
            RegistryError::NothingLinked {
                krate: "not_linked_anywhere"
            }
        );
        assert!(err.to_string().contains("vow::tasks!()"));
        assert_eq!(check_tasks(&[]).err(), Some(RegistryError::NoSets));
    }
}
