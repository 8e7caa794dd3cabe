//! Text replies as answers, for channels without buttons or clients who type instead of tap.
//!
//! Accepted forms: on a binary line "1"/"0", "👍"/"👎" (any skin tone); on a five-star line a
//! digit 1–5, optionally followed by stars ("5", "4★", "⭐⭐⭐"). Anything else is not an
//! answer and is left to the conversation.
//!
//! Reasons for a low rating are picked by their numbers in the list the client was shown:
//! "2", "1 3", "1, 3" or "13" (a line lists at most eight, so each digit is one reason).

use crate::phrases::Phrases;
use crate::{OutgoingRequest, Scale};

/// Reads a client's text as an answer on `scale`, or `None` when it is not one.
pub fn parse_text_answer(scale: Scale, text: &str) -> Option<i64> {
    let t = text.trim();
    match scale {
        Scale::Binary => {
            // Thumbs may carry a skin-tone modifier and a variation selector.
            let base: String = t
                .chars()
                .filter(|c| !matches!(*c as u32, 0x1F3FB..=0x1F3FF | 0xFE0F))
                .collect();
            match base.as_str() {
                "1" | "👍" => Some(1),
                "0" | "👎" => Some(0),
                _ => None,
            }
        }
        Scale::FiveStar => {
            let stars = t.chars().filter(|c| matches!(c, '★' | '⭐')).count();
            let rest: String = t
                .chars()
                .filter(|c| !matches!(c, '★' | '⭐' | '\u{FE0F}') && !c.is_whitespace())
                .collect();
            let value = match (rest.as_str(), stars) {
                ("", n) => n as i64,
                (digit, _) => digit.parse::<i64>().ok()?,
            };
            scale.allowed().contains(&value).then_some(value)
        }
    }
}

/// Reads a client's text as the numbers (1-based) of reasons from a list of `count`, as
/// 0-based indexes each once; `None` when it is anything else, so prose stays prose.
pub fn parse_reason_numbers(count: usize, text: &str) -> Option<Vec<usize>> {
    let tokens: Vec<&str> = text
        .split(|c: char| c.is_whitespace() || matches!(c, ',' | ';' | '.'))
        .filter(|t| !t.is_empty())
        .collect();
    if tokens.is_empty() {
        return None;
    }
    let mut picked = Vec::new();
    for token in tokens {
        if !token.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        // "13" is 1 and 3: no reason has a two-digit number.
        for n in token.bytes().map(|b| usize::from(b - b'0')) {
            if !(1..=count).contains(&n) {
                return None;
            }
            if !picked.contains(&(n - 1)) {
                picked.push(n - 1);
            }
        }
    }
    picked.sort_unstable();
    Some(picked)
}

/// The rating request as a typed message's text (a Zammad article, a Rocket.Chat message):
/// the question, and which digit to reply.
pub fn request_text(r: &OutgoingRequest) -> String {
    let p = Phrases::for_language(&r.language);
    let how = match r.scale {
        Scale::Binary => p.reply_binary,
        Scale::FiveStar => p.reply_five_star,
    };
    format!("{}\n{how}", r.text)
}

/// `text` with its choices written out to be typed back (unless it lists them already).
pub fn choices_text(text: &str, labels: &[&str]) -> String {
    if labels.iter().all(|l| text.contains(l)) {
        text.to_owned()
    } else {
        format!("{text}\n{}", labels.join(" / "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reason_numbers_are_read_and_prose_is_not() {
        for (text, want) in [
            ("2", Some(vec![1])),
            ("1 3", Some(vec![0, 2])),
            ("3, 1", Some(vec![0, 2])),
            ("13", Some(vec![0, 2])),
            ("1 1", Some(vec![0])),
            ("4", None),
            ("0", None),
            ("slow", None),
            ("2 days on hold", None),
            ("", None),
        ] {
            assert_eq!(parse_reason_numbers(3, text), want, "{text:?}");
        }
    }

    #[test]
    fn binary_replies_are_read() {
        for (text, want) in [
            ("1", Some(1)),
            (" 0 ", Some(0)),
            ("👍", Some(1)),
            ("👎🏽", Some(0)),
            ("👍️", Some(1)),
        ] {
            assert_eq!(parse_text_answer(Scale::Binary, text), want, "{text:?}");
        }
    }

    #[test]
    fn binary_does_not_take_other_numbers_or_words() {
        for text in ["2", "5", "yes", "", "10", "1 0"] {
            assert_eq!(parse_text_answer(Scale::Binary, text), None, "{text:?}");
        }
    }

    #[test]
    fn five_star_replies_are_read() {
        for (text, want) in [
            ("5", Some(5)),
            ("1", Some(1)),
            ("4★", Some(4)),
            ("⭐⭐⭐", Some(3)),
            ("★★★★★", Some(5)),
        ] {
            assert_eq!(parse_text_answer(Scale::FiveStar, text), want, "{text:?}");
        }
    }

    #[test]
    fn five_star_refuses_out_of_range_and_prose() {
        for text in ["0", "6", "55", "great", "", "⭐⭐⭐⭐⭐⭐", "👍"] {
            assert_eq!(parse_text_answer(Scale::FiveStar, text), None, "{text:?}");
        }
    }
}
