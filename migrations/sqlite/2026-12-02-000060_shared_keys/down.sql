-- An older Berth reads its signing key from the data folder's files again, which the import
-- left in place; keys made since are lost.
DROP TABLE signing_keys;
DROP TABLE key_check;
