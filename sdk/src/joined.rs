//! [`Joined`]: what the successor of a join receives, and [`JoinedExt`], the ways
//! to take it apart.

use crate::failure::Failure;

/// The input of a successor of [`crate::Flow::all`] or [`crate::Flow::fan_out`]:
/// every member's outcome in member order, or the join's own failure (it was
/// cancelled, say).
///
/// ```
/// # use serde::{Deserialize, Serialize};
/// # use vow::prelude::*;
/// # #[derive(Serialize, Deserialize)] struct Sum;
/// #[vow::task("doc-joined-sum")]
/// impl Task for Sum {
///     type Input = Joined<u64>;
///     type Output = u64;
///     async fn run(self, all: Joined<u64>, _: &Cx) -> Result<Resolution<u64>, Error> {
///         done(all.all_ok()?.into_iter().sum())   // the first failure fails the sum
///     }
/// }
/// ```
pub type Joined<T> = Result<Vec<Result<T, Failure>>, Failure>;

/// Combinators on a join's outcome ([`Joined`]). In the prelude.
///
/// ```
/// use vow::{Failure, Joined, JoinedExt, Partition};
/// let joined: Joined<u32> = Ok(vec![Ok(1), Err(Failure::timeout("slow")), Ok(3), Err(Failure::error("no"))]);
/// assert_eq!(joined.clone().all_ok(), Err(Failure::timeout("slow")));
/// assert_eq!(joined.clone().successes(), Ok(vec![1, 3]));
/// let Partition { values, failures } = joined.partition().unwrap();
/// assert_eq!(values, vec![1, 3]);
/// assert_eq!(failures, vec![(1, Failure::timeout("slow")), (3, Failure::error("no"))]);
///
/// let cancelled: Joined<u32> = Err(Failure::cancelled("stop"));
/// assert_eq!(cancelled.successes(), Err(Failure::cancelled("stop")));
/// ```
pub trait JoinedExt<T> {
    /// Every value in member order, or the first failure in member order (the
    /// join's own failure first). Use it with `?` in a successor: one failed
    /// member fails the successor with that member's failure, kind included.
    fn all_ok(self) -> Result<Vec<T>, Failure>;

    /// The values of the members that succeeded, in member order; failed members
    /// are skipped. Fails only if the join itself failed.
    fn successes(self) -> Result<Vec<T>, Failure>;

    /// The values of the members that succeeded, and the failures of the others
    /// with their member index, both in member order. Fails only if the join
    /// itself failed.
    fn partition(self) -> Result<Partition<T>, Failure>;
}

/// A join's outcome split by [`JoinedExt::partition`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Partition<T> {
    /// The values of the members that succeeded, in member order.
    pub values: Vec<T>,
    /// The failures of the others, with their member index, in member order.
    pub failures: Vec<(usize, Failure)>,
}

impl<T> JoinedExt<T> for Joined<T> {
    fn all_ok(self) -> Result<Vec<T>, Failure> {
        self?.into_iter().collect()
    }

    fn successes(self) -> Result<Vec<T>, Failure> {
        Ok(self?.into_iter().filter_map(Result::ok).collect())
    }

    fn partition(self) -> Result<Partition<T>, Failure> {
        let mut values = Vec::new();
        let mut failures = Vec::new();
        for (index, member) in self?.into_iter().enumerate() {
            match member {
                Ok(v) => values.push(v),
                Err(f) => failures.push((index, f)),
            }
        }
        Ok(Partition { values, failures })
    }
}
