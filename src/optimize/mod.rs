//! Optimizer backends: the ShortPixel API client and the built-in local optimizer. Both end
//! in a [`Delivered`] result that the pipeline verifies (G6) and applies.

pub mod local;
pub mod shortpixel;

use crate::config::Convert;

/// What an optimizer produced for one content.
#[derive(Debug, Clone)]
pub struct Delivered {
    /// The optimized main file, already checked (G6); `None` when it could not be made
    /// smaller, which keeps the original.
    pub main: Option<Vec<u8>>,
    /// Extra formats, each already checked to decode.
    pub extras: Vec<(Convert, Vec<u8>)>,
}
