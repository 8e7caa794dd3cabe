//! The scales a line rates on: 👍/👎 or 1–5 stars, and what counts as positive or low.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The scale a line rates on.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    Default,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Scale {
    /// 1 = 👍, 0 = 👎.
    #[default]
    Binary,
    /// 1..=5 stars.
    FiveStar,
}

impl Scale {
    /// Every scale a line may rate on.
    pub const ALL: [Scale; 2] = [Scale::Binary, Scale::FiveStar];

    /// Its name in the API, the store and the config file (`binary`, `five_star`).
    pub fn as_str(self) -> &'static str {
        match self {
            Scale::Binary => "binary",
            Scale::FiveStar => "five_star",
        }
    }

    /// The values a client may answer with on this scale.
    pub fn allowed(self) -> std::ops::RangeInclusive<i64> {
        match self {
            Scale::Binary => 0..=1,
            Scale::FiveStar => 1..=5,
        }
    }

    /// The answers a rating card offers, in the order its buttons show them: 👍 👎, or
    /// 1 … 5 stars.
    pub fn buttons(self) -> Vec<i64> {
        match self {
            Scale::Binary => vec![1, 0],
            Scale::FiveStar => (1..=5).collect(),
        }
    }

    /// Whether `value` counts towards CSAT: 👍, or 4–5 stars.
    pub fn is_positive(self, value: i64) -> bool {
        match self {
            Scale::Binary => value == 1,
            Scale::FiveStar => value >= 4,
        }
    }

    /// Whether `value` is a low rating: 👎, or stars at or below the line's threshold.
    pub fn is_low(self, value: i64, low_threshold: i64) -> bool {
        match self {
            Scale::Binary => value == 0,
            Scale::FiveStar => value <= low_threshold,
        }
    }
}

impl fmt::Display for Scale {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Scale {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "binary" => Ok(Scale::Binary),
            "five_star" => Ok(Scale::FiveStar),
            other => Err(format!(
                "unknown scale '{other}': use \"binary\" or \"five_star\""
            )),
        }
    }
}
