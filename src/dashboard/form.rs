//! The settings forms of the lines and people pages: each setting under its API name
//! (`rating.delay_seconds`, `notify.email`), so a refusal's `field` puts its message next to
//! the field it is about, and a form that turns into a JSON Merge Patch over what is stored,
//! so a save goes through the same engine operation as the API's `PATCH`.
//!
//! An HTML form sends every field it shows, and an unchecked box not at all: a page's form
//! therefore shows every setting of its sections, and a box absent from the form is `false`.

use std::collections::{BTreeMap, HashMap};

use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use rateline_domain::Invalid;
use serde_json::{Value, json};
use tower_sessions::Session;

use super::layout::refused;
use super::visit::flash;
use crate::http::ApiError;

/// How a setting is entered.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Text,
    /// A text, or blank for `null`.
    OptionalText,
    LongText,
    Number,
    /// A number, or blank for `null`.
    OptionalNumber,
    Check,
    /// One of fixed (value, label) choices.
    Choice(&'static [(&'static str, &'static str)]),
    /// One of choices the page supplies ([`Choices`]), or blank for `null`.
    Pick,
    /// Any of choices the page supplies, as a list.
    PickMany,
    /// Write-only: shown blank, and a blank one is left out of the patch (kept).
    Secret,
    /// A list of texts, one per line.
    List,
    /// A list of numbers, separated by commas; blank for `null`.
    Numbers,
    /// A list of `{id, text}`, one `id: text` per line.
    Pairs,
    /// A map of texts by key, one `key: value` per line.
    Map,
}

/// One setting on a form: its API name, label, how it is entered and a hint.
pub struct Field {
    pub name: &'static str,
    pub label: &'static str,
    pub kind: Kind,
    pub hint: &'static str,
}

pub const fn f(name: &'static str, label: &'static str, kind: Kind, hint: &'static str) -> Field {
    Field {
        name,
        label,
        kind,
        hint,
    }
}

/// A form's sections: an id, a heading, and the settings in it.
pub type Sections = [(&'static str, &'static str, &'static [Field])];

/// What a form holds: each field's values as typed.
pub type Values = BTreeMap<String, Vec<String>>;

/// The choices of the page's [`Kind::Pick`] and [`Kind::PickMany`] fields, by field:
/// (value, label).
pub type Choices = HashMap<&'static str, Vec<(String, String)>>;

/// The form as posted: each field's values in order.
pub fn posted(form: Vec<(String, String)>) -> Values {
    let mut values = Values::new();
    for (k, v) in form {
        values.entry(k).or_default().push(v);
    }
    values
}

/// Field `name`'s first value; empty when absent.
pub fn one<'v>(values: &'v Values, name: &str) -> &'v str {
    values
        .get(name)
        .and_then(|v| v.first())
        .map_or("", String::as_str)
}

/// The element id of field `name`: `rating.delay_seconds` is `f-rating-delay_seconds`.
pub fn fid(name: &str) -> String {
    format!("f-{}", name.replace('.', "-"))
}

fn fields(sections: &Sections) -> impl Iterator<Item = &Field> {
    sections.iter().flat_map(|(_, _, fields)| fields.iter())
}

/// The form's values for `stored` (a line's or person's settings as JSON); secrets are
/// never shown.
pub fn values_of(stored: &Value, sections: &Sections) -> Values {
    let mut values = Values::new();
    for field in fields(sections) {
        let pointer = format!("/{}", field.name.replace('.', "/"));
        let v = stored.pointer(&pointer).unwrap_or(&Value::Null);
        let shown: Vec<String> = match (field.kind, v) {
            (Kind::Secret, _) | (_, Value::Null) | (Kind::Check, Value::Bool(false)) => continue,
            (Kind::Check, _) => vec!["on".to_owned()],
            (Kind::PickMany, Value::Array(items)) => items
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect(),
            (Kind::List, Value::Array(items)) => vec![
                items
                    .iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join("\n"),
            ],
            (Kind::Pairs, Value::Array(items)) => vec![
                items
                    .iter()
                    .map(|p| {
                        let part = |k: &str| p[k].as_str().unwrap_or_default().to_owned();
                        format!("{}: {}", part("id"), part("text"))
                    })
                    .collect::<Vec<_>>()
                    .join("\n"),
            ],
            (Kind::Map, Value::Object(entries)) => vec![
                entries
                    .iter()
                    .map(|(k, v)| format!("{k}: {}", v.as_str().unwrap_or_default()))
                    .collect::<Vec<_>>()
                    .join("\n"),
            ],
            (Kind::Numbers, Value::Array(items)) => vec![
                items
                    .iter()
                    .map(Value::to_string)
                    .collect::<Vec<_>>()
                    .join(", "),
            ],
            (_, Value::String(s)) => vec![s.clone()],
            (_, other) => vec![other.to_string()],
        };
        values.insert(field.name.to_owned(), shown);
    }
    values
}

fn whole_number(name: &str, typed: &str) -> Result<Value, Invalid> {
    typed
        .trim()
        .parse::<i64>()
        .map(Value::from)
        .map_err(|_| Invalid::new(name, format!("must be a whole number, got '{typed}'")))
}

/// Sets `value` at the dotted `name` in `doc`, making the objects on the way.
pub fn set(doc: &mut Value, name: &str, value: Value) {
    let mut at = doc;
    let mut parts = name.split('.').peekable();
    while let Some(part) = parts.next() {
        let object = at.as_object_mut().expect("the patch is made of objects");
        if parts.peek().is_none() {
            object.insert(part.to_owned(), value);
            return;
        }
        at = object.entry(part).or_insert_with(|| json!({}));
    }
}

/// The JSON Merge Patch the form says: every setting of its sections, a blank secret left
/// out (kept); a value that is not what its field takes is refused, naming the field.
pub fn patch_of(values: &Values, sections: &Sections) -> Result<Value, Invalid> {
    let mut patch = json!({});
    for field in fields(sections) {
        let typed = one(values, field.name);
        let blank = typed.trim().is_empty();
        let value = match field.kind {
            Kind::Text | Kind::LongText | Kind::Choice(_) => Value::from(typed),
            Kind::OptionalText | Kind::Pick if blank => Value::Null,
            Kind::OptionalText | Kind::Pick => Value::from(typed.trim()),
            Kind::Number => whole_number(field.name, typed)?,
            Kind::OptionalNumber | Kind::Numbers if blank => Value::Null,
            Kind::OptionalNumber => whole_number(field.name, typed)?,
            Kind::Check => Value::Bool(values.contains_key(field.name)),
            Kind::Secret if typed.is_empty() => continue,
            Kind::Secret => Value::from(typed),
            Kind::PickMany => values
                .get(field.name)
                .into_iter()
                .flatten()
                .map(|v| Value::from(v.as_str()))
                .collect(),
            Kind::List => typed
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(Value::from)
                .collect(),
            Kind::Numbers => typed
                .split(',')
                .map(|n| whole_number(field.name, n.trim()))
                .collect::<Result<_, _>>()?,
            Kind::Pairs => typed
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(|l| match l.split_once(':') {
                    Some((id, text)) => Ok(serde_json::json!({"id": id.trim(), "text": text.trim()})),
                    None => Err(Invalid::new(
                        field.name,
                        format!("'{l}' has no ':': write one per line as id: text, e.g. slow: Waited too long"),
                    )),
                })
                .collect::<Result<_, _>>()?,
            Kind::Map => typed
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(|l| match l.split_once(':') {
                    Some((k, v)) => Ok((k.trim().to_owned(), Value::from(v.trim()))),
                    None => Err(Invalid::new(
                        field.name,
                        format!("'{l}' has no ':': write one per line as id: value, e.g. 3: support"),
                    )),
                })
                .collect::<Result<serde_json::Map<_, _>, _>>()?
                .into(),
        };
        set(&mut patch, field.name, value);
    }
    Ok(patch)
}

/// A refusal to show: the form's field it is about (`None`: the whole form) and its
/// message, in the API's words.
pub struct Refusal {
    pub field: Option<String>,
    pub message: String,
}

impl From<ApiError> for Refusal {
    fn from(e: ApiError) -> Self {
        // `notify_low[2].id` is the recipients' field, `lines[0]` the lines'.
        let field = e
            .field
            .as_deref()
            .map(|f| f.split('[').next().unwrap_or(f).to_owned());
        Self {
            field,
            message: e.message,
        }
    }
}

impl From<Invalid> for Refusal {
    fn from(e: Invalid) -> Self {
        ApiError::from(e).into()
    }
}

impl Refusal {
    /// The message for field `name`, if it is about that field.
    pub fn about(refusal: Option<&Refusal>, name: &str) -> Option<String> {
        refusal
            .filter(|r| r.field.as_deref() == Some(name))
            .map(|r| r.message.clone())
    }

    /// Whether the refusal is about a field of `sections` (or one of `more`), so it shows
    /// next to that field rather than above the form.
    pub fn on_the_form(&self, sections: &Sections, more: &[&str]) -> bool {
        self.field
            .as_deref()
            .is_some_and(|f| fields(sections).any(|field| field.name == f) || more.contains(&f))
    }
}

/// The version a settings form was opened at (its hidden `version`), which the save
/// expects as `If-Match` would; a form without one is refused as a stale one is.
pub fn version(typed: &str) -> Result<i64, ApiError> {
    typed.trim().parse().map_err(|_| {
        ApiError::new(
            rateline_domain::ErrorCode::PreconditionFailed,
            "the form does not say which version it changes: open the page again and make \
             the change there",
        )
    })
}

/// The version to carry in a settings form: the one it was opened at when it is shown again
/// after a refusal (so a change made since is still caught), else the stored one.
pub fn version_shown(values: &Values, stored: i64) -> String {
    values
        .get("version")
        .and_then(|v| v.first())
        .cloned()
        .unwrap_or_else(|| stored.to_string())
}

/// What was typed into a small form, to show it again.
pub fn typed(fields: &[(&str, &str)]) -> Values {
    fields
        .iter()
        .map(|(k, v)| ((*k).to_owned(), vec![(*v).to_owned()]))
        .collect()
}

/// The refusal of a new item whose id is taken (`what` is `line`, `person`, `group`).
pub fn taken(what: &str, id: &str) -> ApiError {
    ApiError::from(Invalid::new(
        "id",
        format!("{what} '{id}' exists already: open it from the list to change it"),
    ))
}

/// What a "new …" form comes to: made, the new item's page (`{base}/{id}`) saying `said`;
/// refused for what was typed, `again` (the list, with the problem next to its field);
/// anything else, a page titled `title` that says why.
pub async fn made(
    session: &Session,
    result: Result<impl std::fmt::Display, ApiError>,
    base: &str,
    said: &str,
    title: &'static str,
    again: impl AsyncFnOnce(ApiError) -> Response,
) -> Response {
    match result {
        Ok(id) => {
            flash(session, said).await;
            Redirect::to(&format!("{base}/{id}")).into_response()
        }
        Err(e) if e.status.is_client_error() && e.status != StatusCode::FORBIDDEN => again(e).await,
        Err(e) => refused(title, e),
    }
}

/// `response` with `status`.
pub fn with_status(status: StatusCode, mut response: Response) -> Response {
    *response.status_mut() = status;
    response
}

/// A labelled text input outside the sections (a new item's id), with its hint and, when
/// refused, the message next to it.
pub fn input(name: &str, label: &str, hint: &str, value: &str, error: Option<&str>) -> Markup {
    let id = fid(name);
    html! {
        div.field {
            label for=(id) { (label) }
            input type="text" id=(id) name=(name) value=(value)
                aria-invalid=[error.map(|_| "true")]
                aria-describedby={ (id) "-hint" @if error.is_some() { " " (id) "-error" } };
            @if let Some(message) = error { p.problem id={ (id) "-error" } role="alert" { (message) } }
            @if !hint.is_empty() { span.muted id={ (id) "-hint" } { (hint) } }
        }
    }
}

/// One setting's control, label, hint and, when refused, the message next to it.
/// `secret` is what a [`Kind::Secret`] shows while blank: whether one is stored.
pub fn setting(
    field: &Field,
    values: &Values,
    error: Option<&str>,
    choices: &Choices,
    secret: &str,
) -> Markup {
    let id = fid(field.name);
    let value = one(values, field.name);
    let described = html! { (id) "-hint" @if error.is_some() { " " (id) "-error" } };
    let invalid = error.map(|_| "true");
    // A value set but not among the choices (a manager or line not known yet) is offered
    // too, so a save does not drop it unseen.
    let mut offered = choices.get(field.name).cloned().unwrap_or_default();
    if matches!(field.kind, Kind::Pick | Kind::PickMany) {
        for v in values.get(field.name).into_iter().flatten() {
            if !v.is_empty() && !offered.iter().any(|(o, _)| o == v) {
                offered.push((v.clone(), format!("{v} (not known to Rateline)")));
            }
        }
    }
    let retype = field.kind == Kind::Secret && !value.is_empty();
    html! {
        div.field.check[field.kind == Kind::Check] {
            @match field.kind {
                Kind::Check => {
                    input type="checkbox" id=(id) name=(field.name) checked[values.contains_key(field.name)]
                        aria-invalid=[invalid] aria-describedby=(described);
                    label for=(id) { (field.label) }
                },
                Kind::LongText | Kind::List | Kind::Pairs | Kind::Map => {
                    label for=(id) { (field.label) }
                    textarea id=(id) name=(field.name) rows=(if field.kind == Kind::LongText { "2" } else { "3" })
                        aria-invalid=[invalid] aria-describedby=(described) { (value) }
                },
                Kind::Choice(options) => {
                    label for=(id) { (field.label) }
                    select id=(id) name=(field.name) aria-invalid=[invalid] aria-describedby=(described) {
                        @for (v, label) in options {
                            option value=(v) selected[value == *v] { (label) }
                        }
                    }
                },
                Kind::Pick => {
                    label for=(id) { (field.label) }
                    select id=(id) name=(field.name) aria-invalid=[invalid] aria-describedby=(described) {
                        option value="" selected[value.is_empty()] { "none" }
                        @for (v, label) in &offered {
                            option value=(v) selected[value == v] { (label) }
                        }
                    }
                },
                Kind::PickMany => {
                    fieldset id=(id) aria-describedby=(described) {
                        legend { (field.label) }
                        @for (v, label) in &offered {
                            @let box_id = format!("{id}-{v}");
                            div.check {
                                input type="checkbox" name=(field.name) id=(box_id) value=(v)
                                    checked[values.get(field.name).is_some_and(|c| c.contains(v))];
                                label for=(box_id) { (label) }
                            }
                        }
                        @if offered.is_empty() { span.muted { "none to choose from" } }
                    }
                },
                Kind::Secret => {
                    label for=(id) { (field.label) }
                    input type="password" id=(id) name=(field.name) autocomplete="new-password"
                        placeholder=(secret)
                        aria-invalid=[invalid] aria-describedby=(described);
                },
                Kind::Number | Kind::OptionalNumber => {
                    label for=(id) { (field.label) }
                    input type="text" inputmode="numeric" id=(id) name=(field.name) value=(value) size="8"
                        aria-invalid=[invalid] aria-describedby=(described);
                },
                Kind::Text | Kind::OptionalText | Kind::Numbers => {
                    label for=(id) { (field.label) }
                    input type="text" id=(id) name=(field.name) value=(value)
                        aria-invalid=[invalid] aria-describedby=(described);
                },
            }
            @if let Some(message) = error { p.problem id={ (id) "-error" } role="alert" { (message) } }
            @if retype { p.problem id={ (id) "-retype" } { "A secret is never shown again: type it once more to save it." } }
            span.muted id={ (id) "-hint" } { (field.hint) }
        }
    }
}

/// The fields of `sections`, each in its fieldset (disabled when `locked`); `extra` adds
/// what a section needs besides its fields, after them.
pub fn sections(
    sections: &Sections,
    values: &Values,
    refusal: Option<&Refusal>,
    choices: &Choices,
    secret: &str,
    locked: bool,
    extra: impl Fn(&str) -> Markup,
) -> Markup {
    html! {
        @for (section, heading, fields) in sections {
            fieldset #{ "s-" (section) } disabled[locked] {
                legend { (heading) }
                @for field in *fields {
                    (setting(field, values, Refusal::about(refusal, field.name).as_deref(), choices, secret))
                }
                (extra(section))
            }
        }
    }
}

/// A refusal's message under the field it names (for fields drawn without [`input`]).
pub fn field_error(name: &str, message: Option<String>) -> Markup {
    html! {
        @if let Some(m) = message { p.problem id={ (fid(name)) "-error" } role="alert" { (m) } }
    }
}

/// A box to tick per choice, `(value, label)`, named `name` (several may be ticked), with
/// those `typed` holds ticked and a refusal's message under them.
pub fn checkboxes(
    name: &str,
    legend: &str,
    choices: &[(String, String)],
    typed: &Values,
    error: Option<String>,
) -> Markup {
    let ticked = typed.get(name);
    html! {
        fieldset id=(fid(name)) {
            legend { (legend) }
            @for (value, label) in choices {
                @let id = format!("{}-{}", fid(name), value.replace('.', "-"));
                div.check {
                    input type="checkbox" name=(name) id=(id) value=(value)
                        checked[ticked.is_some_and(|t| t.contains(value))];
                    label for=(id) { (label) }
                }
            }
            (field_error(name, error))
        }
    }
}
