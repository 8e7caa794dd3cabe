-- The lines a person works on, as a JSON array of line ids. An operator's API key acts only
-- on sessions of these lines (see docs/security.md); a person without lines has '[]'.
ALTER TABLE people ADD COLUMN lines TEXT NOT NULL DEFAULT '[]';
