ALTER TABLE repositories DROP COLUMN full_description;
ALTER TABLE repositories DROP COLUMN description;
