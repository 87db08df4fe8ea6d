//! Continuations stored in records, sealed.
//!
//! Rule 10: when the deployment signs, what the engine stores in a record to
//! fire later (a successor added after its predecessor started, a sleep's or a
//! callback's successors) carries a MAC over the record's key, the slot, the
//! continuation's name and its encoding, kept in the name it is stored under
//! (`<successor id>.<hex MAC>`: no extra attribute, and the stores count the
//! name in the item's size, so the size limits hold as before, rule 6). What is
//! read back and does not verify is not fired: it is logged
//! (`vow: stored continuation failed verification`) and counted as refused.
//! So write access to the table alone cannot add work. Unsealed names are
//! accepted only while the old message format is ([`crate::signing`]'s
//! rolling upgrade), or when the deployment does not sign.

use super::Engine;
use crate::stats::tally;
use crate::store::{cont_name, Cell};
use crate::wire::Cont;
use tracing::warn;

/// What a stored continuation's MAC covers.
fn parts<'a>(cell: &'a Cell, slot: &'a str, name: &'a str, encoded: &'a str) -> [&'a str; 5] {
    ["vow-later", &cell.key, slot, name, encoded]
}

impl Engine {
    /// The names `conts` are stored under in `cell`'s record: sealed when
    /// signing is on.
    pub(super) fn later_names(&self, cell: &Cell, conts: &[Cont]) -> Vec<(String, Cont)> {
        let slot = cell.slot.to_string();
        conts
            .iter()
            .map(|cont| {
                let name = cont_name(cont);
                let name = match &self.config.signing {
                    Some(keys) => {
                        let encoded = serde_json::to_string(cont).unwrap_or_default();
                        let tag = keys.seal_stored(&parts(cell, &slot, &name, &encoded));
                        format!("{name}.{tag}")
                    }
                    None => name,
                };
                (name, cont.clone())
            })
            .collect()
    }

    /// The continuations read back from `cell`'s record that the engine
    /// stored itself; the rest are logged and dropped.
    pub(super) fn verified_later(&self, cell: &Cell, named: Vec<(String, Cont)>) -> Vec<Cont> {
        let Some(keys) = &self.config.signing else {
            return named.into_iter().map(|(_, cont)| cont).collect();
        };
        let slot = cell.slot.to_string();
        let legacy = keys.accepts_legacy(self.now());
        named
            .into_iter()
            .filter_map(|(name, cont)| {
                let base = cont_name(&cont);
                let ok = match name.rsplit_once('.') {
                    Some((stored, tag)) if stored == base => {
                        let encoded = serde_json::to_string(&cont).unwrap_or_default();
                        keys.verify_stored(&parts(cell, &slot, &base, &encoded), tag)
                    }
                    None => legacy && name == base,
                    Some(_) => false,
                };
                if !ok {
                    tally(|t| &t.refused, 1);
                    warn!(
                        record = %cell.key,
                        slot = cell.slot,
                        name = %name.chars().take(80).collect::<String>(),
                        "vow: stored continuation failed verification"
                    );
                }
                ok.then_some(cont)
            })
            .collect()
    }
}
