//! The Rust blocks of the README and of the pages under `docs/`, compiled
//! (and, unless marked `no_run`, run) as doctests, so the documentation
//! cannot drift from the API: `cargo test -p vow-docs --doc`. A page's
//! blocks that are not Rust are tagged with their language (`sh`, `text`).
//! This crate is not published, so its `include_str!`s may leave it.

#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct Readme;

#[cfg(doctest)]
#[doc = include_str!("../../../docs/guide.md")]
pub struct Guide;

#[cfg(doctest)]
#[doc = include_str!("../../../docs/waits.md")]
pub struct Waits;

#[cfg(doctest)]
#[doc = include_str!("../../../docs/deploying.md")]
pub struct Deploying;

#[cfg(doctest)]
#[doc = include_str!("../../../docs/operating.md")]
pub struct Operating;

#[cfg(doctest)]
#[doc = include_str!("../../../docs/how-it-works.md")]
pub struct HowItWorks;

#[cfg(doctest)]
#[doc = include_str!("../../../docs/performance.md")]
pub struct Performance;

#[cfg(doctest)]
#[doc = include_str!("../../../docs/limits.md")]
pub struct Limits;
