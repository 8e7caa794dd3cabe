//! The few words Rateline itself says to a client, in the line's language.
//!
//! A line sets its own question and thank-you text; everything else a client may read on a
//! rating card (the follow-up question, a refusal toast) comes from here. A language
//! without a table falls back to English, so a card is never half empty.

/// Every phrase a rating card may show besides the line's own texts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Phrases {
    /// Heads the answer on a rated card: "Your rating: 👍".
    pub your_rating: &'static str,
    /// The follow-up question of a line that asks it (`ask_resolved`).
    pub resolved_question: &'static str,
    /// The button that answers `resolved_question` with yes.
    pub yes: &'static str,
    /// The button that answers `resolved_question` with no.
    pub no: &'static str,
    /// Asks for a comment after a low rating, to be written as a reply in the chat.
    pub comment_prompt: &'static str,
    /// Thanks the client once their comment is stored.
    pub comment_thanks: &'static str,
    /// Asks for the reasons of a low rating; the choices follow it.
    pub reasons_prompt: &'static str,
    /// Where reasons are picked by typing their numbers.
    pub reasons_by_number: &'static str,
    /// The button that ends picking reasons.
    pub done: &'static str,
    /// Heads the reasons on a rated card.
    pub reasons: &'static str,
    /// Refuses a tap on another client's card: nothing is stored.
    pub not_yours: &'static str,
    /// Refuses a tap Rateline cannot use: a button it did not sign, or of a request it no longer
    /// knows.
    pub invalid_button: &'static str,
    /// Refuses an answer that came after the line's answer window.
    pub window_closed: &'static str,
    /// Refuses a change the line's `max_changes` or `change_window_days` no longer allows.
    pub change_refused: &'static str,
    /// Refuses any other answer the request does not take now (it ended unanswered, say).
    pub not_answerable: &'static str,
    /// The label of WhatsApp's list button (at most 20 characters).
    pub rate_button: &'static str,
    /// How to answer a 👍/👎 request by typing, where no buttons show.
    pub reply_binary: &'static str,
    /// How to answer a five-star request by typing, where no buttons show.
    pub reply_five_star: &'static str,
    /// What only the web chat widget shows.
    pub widget: WidgetPhrases,
}

/// The web chat card's own words: its comment form and the labels screen readers read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct WidgetPhrases {
    /// Heads the card's comment form after a low rating, and labels its text box.
    pub comment_prompt: &'static str,
    /// Stands in the empty comment box.
    pub comment_placeholder: &'static str,
    /// The button that sends the comment.
    pub send: &'static str,
    /// The link that shows the answer buttons again, while the line allows a change.
    pub change: &'static str,
    /// What screen readers say for 👍.
    pub good: &'static str,
    /// What screen readers say for 👎.
    pub bad: &'static str,
    /// `{n}` stands for the number of stars.
    pub star: &'static str,
    /// Shown when an answer could not be sent (a network failure or an unexpected refusal): the
    /// card stays as it was, to try again.
    pub error: &'static str,
}

const EN: Phrases = Phrases {
    your_rating: "Your rating",
    resolved_question: "Was your issue resolved?",
    yes: "Yes",
    no: "No",
    comment_prompt: "We are sorry. What went wrong? Reply with a message to tell us.",
    comment_thanks: "Thank you, your comment was passed on.",
    reasons_prompt: "We are sorry. What went wrong? Choose all that apply.",
    reasons_by_number: "Reply with their numbers, e.g. 1 3.",
    done: "Done",
    reasons: "Reasons",
    not_yours: "This rating request is not yours.",
    invalid_button: "This button is no longer valid.",
    window_closed: "The time to rate this conversation has passed.",
    change_refused: "Your rating can no longer be changed.",
    not_answerable: "This rating request is closed.",
    rate_button: "Rate",
    reply_binary: "Reply 1 for 👍 or 0 for 👎.",
    reply_five_star: "Reply with a number from 1 (bad) to 5 (excellent).",
    widget: WidgetPhrases {
        comment_prompt: "We are sorry. What went wrong?",
        comment_placeholder: "Tell us what happened",
        send: "Send",
        change: "Change my rating",
        good: "Good",
        bad: "Bad",
        star: "{n} of 5 stars",
        error: "Something went wrong. Please try again.",
    },
};

const RU: Phrases = Phrases {
    your_rating: "Ваша оценка",
    resolved_question: "Ваш вопрос решён?",
    yes: "Да",
    no: "Нет",
    comment_prompt: "Нам жаль. Что пошло не так? Напишите нам в ответ.",
    comment_thanks: "Спасибо, ваш комментарий передан.",
    reasons_prompt: "Нам жаль. Что пошло не так? Выберите всё, что подходит.",
    reasons_by_number: "Ответьте их номерами, например: 1 3.",
    done: "Готово",
    reasons: "Причины",
    not_yours: "Этот запрос оценки адресован не вам.",
    invalid_button: "Эта кнопка больше не действует.",
    window_closed: "Время для оценки этого обращения истекло.",
    change_refused: "Оценку больше нельзя изменить.",
    not_answerable: "Этот запрос оценки закрыт.",
    rate_button: "Оценить",
    reply_binary: "Ответьте 1, если 👍, или 0, если 👎.",
    reply_five_star: "Ответьте числом от 1 (плохо) до 5 (отлично).",
    widget: WidgetPhrases {
        comment_prompt: "Нам жаль. Что пошло не так?",
        comment_placeholder: "Расскажите, что случилось",
        send: "Отправить",
        change: "Изменить оценку",
        good: "Хорошо",
        bad: "Плохо",
        star: "{n} из 5 звёзд",
        error: "Что-то пошло не так. Попробуйте ещё раз.",
    },
};

impl Phrases {
    /// The phrases for a language tag such as `en`, `ru` or `ru-RU`; English otherwise.
    pub fn for_language(tag: &str) -> &'static Phrases {
        let primary = tag.split(['-', '_']).next().unwrap_or("");
        match primary.to_ascii_lowercase().as_str() {
            "ru" => &RU,
            _ => &EN,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn languages_fall_back_to_english() {
        assert_eq!(Phrases::for_language("ru-RU").yes, "Да");
        assert_eq!(Phrases::for_language("RU").yes, "Да");
        assert_eq!(Phrases::for_language("de").yes, "Yes");
        assert_eq!(Phrases::for_language("").yes, "Yes");
    }
}
