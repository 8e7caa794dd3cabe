//! Zammad's rules for a trigger: whether one is taken (`POST /api/v1/triggers`) and whether
//! it fires on a ticket's change, read from zammad/zammad's source. The fake Zammad takes
//! and fires triggers by these rules, and the docs' trigger snippets are judged by them.
//!
//! - A condition is flat (`{"ticket.state_id": {"operator": "is", "value": […]}}`, an AND) or
//!   expert (`{"operator": "AND" | "OR" | "NOT", "conditions": [{name, operator, value}]}`);
//!   `Selector::Base.migrate_selector` (`lib/selector/base.rb`).
//! - `ticket.action` is compared with one value: `options[:ticket_action] ==
//!   block_condition[:value]`, `1 = check` for `is` and `0 = check` for anything else
//!   (`Selector::Sql#condition_sql`, `lib/selector/sql.rb`). A list never equals the
//!   action. The actions are `create`, `update`, `update.merged_into` and
//!   `update.received_merge`; a new article is an `update` (`TransactionDispatcher`).
//! - An `article.*` condition is false when the change has no article, unless it is
//!   `article.action` (`lib/selector/sql.rb`: `options[:article_id].blank?` → `1 = 0`).
//! - `is` is `IN (Array.wrap(value))`, `is not` its negation; `has changed` is whether the
//!   change touched the attribute (`Selector::Base#check_changes`).
//! - `execution_condition_mode` `selective` (the default) fires an `update` only when an
//!   attribute the conditions name changed or an article was added
//!   (`Selector::Sql#update_action_requires_changed_attributes?`,
//!   `Trigger#condition_changes_required?`); `always` whenever the conditions match.
//! - Only `activator: action` triggers see changes (`Transaction::Trigger`).
//! - Zammad refuses conditions with an operator `Selector::Sql` does not know, or `is` with
//!   an empty list (`ChecksConditionValidation`, `validate_pre_condition_blank!`), and takes
//!   anything else, a list for `ticket.action` included.

use serde_json::Value;

/// `Selector::Sql::VALID_OPERATORS`, as far as a trigger's condition may use them.
const VALID_OPERATORS: [&str; 24] = [
    "is",
    "is not",
    "is any of",
    "is none of",
    "contains",
    "contains not",
    "contains all",
    "contains one",
    "contains all not",
    "contains one not",
    "starts with",
    "ends with",
    "has changed",
    "has reached",
    "has reached warning",
    "before (absolute)",
    "after (absolute)",
    "before (relative)",
    "after (relative)",
    "within last (relative)",
    "within next (relative)",
    "matches regex",
    "is set",
    "not set",
];

/// A ticket's change, as a trigger sees it.
#[derive(Debug, Clone, Copy)]
pub struct Change<'a> {
    /// `create` or `update`.
    pub action: &'a str,
    /// The ticket's attributes after the change (ids as numbers).
    pub ticket: &'a Value,
    /// The article the change added, with its attributes.
    pub article: Option<&'a Value>,
    /// The ticket attributes the change touched, e.g. `state_id`.
    pub changes: &'a [&'a str],
}

/// Each condition of `condition`: `(name, operator, value)`.
fn leaves(condition: &Value) -> Vec<(String, String, Value)> {
    let mut out = Vec::new();
    match condition {
        Value::Object(o) if o.contains_key("conditions") => {
            for c in o["conditions"].as_array().into_iter().flatten() {
                if c.get("conditions").is_some() {
                    out.extend(leaves(c));
                } else {
                    out.push(leaf(c.get("name"), c));
                }
            }
        }
        Value::Object(o) => {
            for (name, c) in o {
                out.push(leaf(Some(&Value::from(name.as_str())), c));
            }
        }
        _ => {}
    }
    out
}

fn leaf(name: Option<&Value>, c: &Value) -> (String, String, Value) {
    (
        name.and_then(Value::as_str).unwrap_or_default().to_owned(),
        c.get("operator")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        c.get("value").cloned().unwrap_or(Value::Null),
    )
}

/// Whether Zammad takes `condition`; why not.
pub fn check_condition(condition: &Value) -> Result<(), String> {
    for (name, operator, value) in leaves(condition) {
        if !VALID_OPERATORS.contains(&operator.as_str()) {
            return Err(format!("{name}: unknown operator '{operator}'"));
        }
        if operator == "is" && value.as_array().is_some_and(Vec::is_empty) {
            return Err(format!("{name}: 'is' with no value"));
        }
    }
    Ok(())
}

/// Whether a trigger's or webhook's perform sends webhook `id` (written as a string or a
/// number).
pub fn names_webhook(record: &Value, id: u64) -> bool {
    let named = record.pointer("/perform/notification.webhook/webhook_id");
    named.and_then(Value::as_u64) == Some(id)
        || named.and_then(Value::as_str) == Some(id.to_string().as_str())
}

/// Whether `trigger` fires on `change`.
pub fn fires(trigger: &Value, change: &Change<'_>) -> bool {
    if trigger.get("active").and_then(Value::as_bool) == Some(false) {
        return false;
    }
    if trigger
        .get("activator")
        .and_then(Value::as_str)
        .unwrap_or("action")
        != "action"
    {
        return false;
    }
    let condition = &trigger["condition"];
    let selective = trigger
        .get("execution_condition_mode")
        .and_then(Value::as_str)
        .unwrap_or("selective")
        == "selective";
    if selective && change.action == "update" {
        let named_changed = leaves(condition).iter().any(|(name, _, _)| {
            name.strip_prefix("ticket.")
                .is_some_and(|a| change.changes.contains(&a))
        });
        if !named_changed && change.article.is_none() {
            return false;
        }
    }
    matches(condition, change)
}

fn matches(condition: &Value, change: &Change<'_>) -> bool {
    match condition {
        Value::Object(o) if o.contains_key("conditions") => {
            let each = o["conditions"].as_array().into_iter().flatten().map(|c| {
                if c.get("conditions").is_some() {
                    matches(c, change)
                } else {
                    holds(&leaf(c.get("name"), c), change)
                }
            });
            match o.get("operator").and_then(Value::as_str) {
                Some("OR") => each.into_iter().any(|b| b),
                Some("NOT") => each.into_iter().all(|b| !b),
                _ => each.into_iter().all(|b| b),
            }
        }
        Value::Object(o) => o
            .iter()
            .all(|(name, c)| holds(&leaf(Some(&Value::from(name.as_str())), c), change)),
        _ => true,
    }
}

/// One condition, on the change.
fn holds((name, operator, value): &(String, String, Value), change: &Change<'_>) -> bool {
    let (table, attribute) = name.split_once('.').unwrap_or(("", name));
    if name == "ticket.action" {
        let check = value.as_str() == Some(change.action);
        return if operator == "is" { check } else { !check };
    }
    if name == "article.action" {
        let check = change.article.is_some() == (value.as_str() == Some("create"));
        return if operator == "is" { check } else { !check };
    }
    let record = match table {
        "ticket" => change.ticket,
        "article" => match change.article {
            Some(a) => a,
            None => return false,
        },
        other => panic!("the fake Zammad does not model conditions on {other}"),
    };
    let actual = match &record[attribute] {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        v => v.to_string(),
    };
    let wanted: Vec<String> = match value {
        Value::Array(a) => a.iter().map(as_text).collect(),
        v => vec![as_text(v)],
    };
    match operator.as_str() {
        "is" => wanted.contains(&actual),
        "is not" => !wanted.contains(&actual),
        "has changed" => table == "ticket" && change.changes.contains(&attribute),
        other => panic!("the fake Zammad does not model the operator '{other}'"),
    }
}

fn as_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        v => v.to_string(),
    }
}
