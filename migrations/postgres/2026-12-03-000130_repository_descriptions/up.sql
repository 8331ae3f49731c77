-- A repository's short description and its README (Markdown), as on Docker Hub: shown on its
-- page and in the Hub API.
ALTER TABLE repositories ADD COLUMN description TEXT NOT NULL DEFAULT '';
ALTER TABLE repositories ADD COLUMN full_description TEXT NOT NULL DEFAULT '';
