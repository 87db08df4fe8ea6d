//! A worker's start-up check over the tasks linked into its binary.

use serde::{Deserialize, Serialize};
use vow::prelude::*;
use vow::{check_tasks, RegistryError};

vow::tasks!();

#[derive(Serialize, Deserialize)]
struct First;

#[vow::task("registry-test/same-tag")]
impl Task for First {
    type Input = ();
    type Output = ();
    async fn run(self, _: (), _: &Cx) -> Result<Resolution<()>, Error> {
        done(())
    }
}

#[derive(Serialize, Deserialize)]
struct Second;

#[vow::task("registry-test/same-tag")]
impl Task for Second {
    type Input = ();
    type Output = ();
    async fn run(self, _: (), _: &Cx) -> Result<Resolution<()>, Error> {
        done(())
    }
}

#[test]
fn a_tag_claimed_by_two_types_stops_the_worker() {
    let set = tasks();
    assert_eq!(set.crate_name(), "registry");
    assert_eq!(set.tasks().len(), 2, "both types are this crate's");
    match check_tasks(&[set]) {
        Err(RegistryError::DuplicateTag { tag, types }) => {
            assert_eq!(tag, "registry-test/same-tag");
            assert_eq!(types.len(), 2);
            assert!(types.iter().any(|t| t.ends_with("First")), "{types:?}");
        }
        other => panic!("two types under one tag must be refused: {other:?}"),
    }
}
