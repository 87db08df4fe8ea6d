//! "Map over a data set, then count": a parallel, paged scan that counts the items
//! matching a predicate. Segments fan out and join with `all`; each segment reads
//! one page per task and chains the next page.

use serde::{Deserialize, Serialize};
use vow::prelude::*;

/// An item of the data set.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Item {
    /// Its id.
    pub id: u32,
    /// One of red, green, blue.
    pub color: String,
    /// 0 to 99.
    pub weight: u32,
}

/// Which items count.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Predicate {
    /// The color to match.
    pub color: String,
    /// The smallest matching weight.
    pub min_weight: u32,
}

impl Predicate {
    /// Whether `item` matches.
    pub fn matches(&self, item: &Item) -> bool {
        item.color == self.color && item.weight >= self.min_weight
    }
}

/// Where the items live.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Table {
    /// `items` generated items, the same on every machine.
    Synthetic {
        /// How many.
        items: u32,
    },
}

const COLORS: [&str; 3] = ["red", "green", "blue"];

/// The generated item with id `id`.
pub fn synthetic_item(id: u32) -> Item {
    let mixed = id.wrapping_mul(2_654_435_761);
    Item {
        id,
        color: COLORS[(mixed >> 16) as usize % 3].to_owned(),
        weight: (mixed >> 8) % 100,
    }
}

impl Table {
    /// How many items.
    pub async fn len(&self) -> Result<u64, Error> {
        match self {
            Table::Synthetic { items } => Ok(u64::from(*items)),
        }
    }

    /// One page of segment `segment` of `segments`, from `cursor`; and the next cursor.
    pub async fn page(
        &self,
        segment: u32,
        segments: u32,
        cursor: Option<String>,
        limit: u32,
    ) -> Result<(Vec<Item>, Option<String>), Error> {
        match self {
            Table::Synthetic { items } => {
                let start: u32 = match cursor {
                    Some(c) => c
                        .parse()
                        .map_err(|_| Error::permanent(format!("bad cursor `{c}`")))?,
                    None => segment,
                };
                let ids: Vec<u32> = (start..*items)
                    .step_by(segments.max(1) as usize)
                    .take(limit as usize + 1)
                    .collect();
                let next = ids.get(limit as usize).map(u32::to_string);
                let page = ids
                    .into_iter()
                    .take(limit as usize)
                    .map(synthetic_item)
                    .collect();
                Ok((page, next))
            }
        }
    }
}

/// Count matches with a plain loop, to check the distributed count against.
pub async fn expected_count(table: &Table, predicate: &Predicate) -> Result<u64, Error> {
    let mut n = 0;
    let mut cursor = None;
    loop {
        let (page, next) = table.page(0, 1, cursor, 1_000).await?;
        n += page.iter().filter(|i| predicate.matches(i)).count() as u64;
        match next {
            Some(c) => cursor = Some(c),
            None => return Ok(n),
        }
    }
}

/// The root task: fan out one [`CountSegment`] per segment, then sum.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MapCount {
    /// The data set.
    pub table: Table,
    /// Parallel segments.
    pub segments: u32,
    /// Items per page (one task per page).
    pub page_size: u32,
    /// What to count.
    pub predicate: Predicate,
}

#[vow::task("samples/map-count")]
impl Task for MapCount {
    type Input = ();
    type Output = u64;
    async fn run(self, _: (), cx: &Cx) -> Result<Resolution<u64>, Error> {
        let segments = (0..self.segments.max(1)).map(|segment| CountSegment {
            table: self.table.clone(),
            segment,
            segments: self.segments.max(1),
            cursor: None,
            page_size: self.page_size,
            predicate: self.predicate.clone(),
        });
        adopt(cx.fan_out(segments).then(crate::Sum))
    }
}

/// Counts one page of a segment, and adopts the count of the rest of the segment.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CountSegment {
    table: Table,
    segment: u32,
    segments: u32,
    cursor: Option<String>,
    page_size: u32,
    predicate: Predicate,
}

#[vow::task("samples/count-segment")]
impl Task for CountSegment {
    type Input = ();
    type Output = u64;
    async fn run(self, _: (), cx: &Cx) -> Result<Resolution<u64>, Error> {
        let (page, next) = self
            .table
            .page(
                self.segment,
                self.segments,
                self.cursor.clone(),
                self.page_size,
            )
            .await?;
        let here = page.iter().filter(|i| self.predicate.matches(i)).count() as u64;
        match next {
            None => done(here),
            Some(cursor) => {
                let rest = cx.when(CountSegment {
                    cursor: Some(cursor),
                    ..self
                });
                adopt(rest.then(AddCount(here)))
            }
        }
    }
}

/// Adds a page's count to the count of the rest.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AddCount(pub u64);

#[vow::task("samples/add-count")]
impl Task for AddCount {
    type Input = Result<u64, Failure>;
    type Output = u64;
    async fn run(self, rest: Self::Input, _cx: &Cx) -> Result<Resolution<u64>, Error> {
        done(rest? + self.0)
    }
}
