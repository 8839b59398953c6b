//! How shapes become types in a schema: the timestamp standard and the rule for integers.

use crate::infer::{Shape, TsStandard};
use crate::types::{FlinkType, Integers};

/// How shapes become types: the timestamp standard and the rule for integers.
#[derive(Clone, Copy)]
pub(super) struct Typing {
    pub(super) standard: TsStandard,
    pub(super) integers: Integers,
}

impl Typing {
    pub(super) fn of(&self, shape: &Shape) -> FlinkType {
        let t = shape.flink_type(self.standard);
        match self.integers {
            Integers::BigInt => t.promote_ints(),
            Integers::Narrowest => t,
        }
    }
}
