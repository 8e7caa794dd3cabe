//! The dashboard's pages, a file each: its markup and, for the settings and the
//! workbench, its handlers. The report's, a session's and an operator's handlers are in the
//! dashboard's router (`super`), beside the routes.

pub mod account;
pub mod appeals;
pub mod audit;
pub mod groups;
pub mod helpdesks;
pub mod inbox;
pub mod keys;
pub mod lines;
pub mod login;
pub mod operator;
pub mod people;
pub mod report;
pub mod session;
pub mod subscriptions;
