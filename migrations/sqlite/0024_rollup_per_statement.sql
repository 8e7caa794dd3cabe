-- Nothing changes on SQLite. PostgreSQL's 0024 moves the rollup's triggers for sessions and
-- requests from rows to statements; SQLite has only row triggers, and its in-process
-- statements make a row trigger cheap, so 0008_report_rollup.sql's stay as they are. The
-- file keeps the two directories' numbers in step.
SELECT 1;
