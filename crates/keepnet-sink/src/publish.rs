//! The all-or-nothing publication of every sink that was fed one export, written once, next
//! to the [`Sink`] contract it completes:
//!
//! 1. every sink but the `finish_last` ones is finished (the runner does this as each sink's
//!    input ends, on the sink's own thread);
//! 2. [`finish_last`]: then the sinks whose `finish` cannot be taken back (a plugin that
//!    publishes when its input ends), in order; if one fails, every sink is aborted;
//! 3. [`commit_all`]: every sink commits, in order; if one cannot, the ones not yet committed
//!    are aborted (those already committed stay published: a rename cannot be undone).
//!
//! Each failure says which sink (its index) failed, for the caller to name it.

use crate::{Artifact, Sink, SinkError};

/// A sink of the set failed; the set was aborted as the protocol says.
#[derive(Debug)]
pub struct Failed {
    /// Index of the sink that failed.
    pub index: usize,
    /// Its error.
    pub error: SinkError,
}

/// What a successful [`commit_all`] published.
#[derive(Debug, Default)]
pub struct Published {
    /// The files published, in sink order.
    pub artifacts: Vec<Artifact>,
    /// Each sink's warnings, with its index.
    pub warnings: Vec<(usize, String)>,
}

/// Step 2: finishes, in order, the sinks whose `finish` publishes (`finish_last`); on the
/// first failure every sink of the set is aborted.
pub fn finish_last(sinks: &mut [&mut dyn Sink]) -> Result<(), Failed> {
    for index in 0..sinks.len() {
        if !sinks[index].finish_last() {
            continue;
        }
        if let Err(error) = sinks[index].finish() {
            for sink in sinks.iter_mut() {
                sink.abort();
            }
            return Err(Failed { index, error });
        }
    }
    Ok(())
}

/// Step 3: commits every sink in order; if one cannot, the ones after it are aborted.
pub fn commit_all(sinks: &mut [&mut dyn Sink]) -> Result<Published, Failed> {
    let mut published = Published::default();
    for index in 0..sinks.len() {
        match sinks[index].commit() {
            Ok(mut artifacts) => {
                published.artifacts.append(&mut artifacts);
                published
                    .warnings
                    .extend(sinks[index].warnings().into_iter().map(|w| (index, w)));
            }
            Err(error) => {
                for rest in sinks.iter_mut().skip(index + 1) {
                    rest.abort();
                }
                return Err(Failed { index, error });
            }
        }
    }
    Ok(published)
}
